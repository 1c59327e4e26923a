"""The live Excel store (excel://): the open book read and written through xlwings, with the same tables as the
file store after the same run, a few range writes per sheet whatever the number of rows, screen updating and
calculation given back even when a write fails, and a person's edit made while the jobs ran never overwritten.

Excel runs here as tests/xlwings_fake.py (xlwings' COM semantics, in memory); the calls it answers are checked
against the installed xlwings, and the read and write paths also run on xlwings' own remote engine."""
from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import shutil

import pandas as pd
import pytest

from crm_sheets.errors import UsageError, WorkbookBusy, WorkbookChanged
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.runner import run_jobs
from crm_sheets.store import open_store
from crm_sheets.store.core.archive import loads
from crm_sheets.store.excel import ExcelLiveStore, attached
from crm_sheets.store.xlsx import XlsxStore
from xlwings_fake import FakeBook, FakeRange, FakeSheet

NOW = dt.datetime(2026, 3, 2, 9, 0)
JOBS = ["check", "dedupe", "automate", "report"]


@pytest.fixture
def opened(built_book, tmp_path):
    """opened(sample_data=50) -> (the fake Excel book holding the workbook, a copy of its file for the file store)."""
    def make(sample_data=50):
        src = built_book(sample_data=sample_data, now=NOW)
        live = shutil.copy(src, tmp_path / f"live{sample_data}.xlsx")
        copy = shutil.copy(src, tmp_path / f"file{sample_data}.xlsx")
        return FakeBook.from_xlsx(live, str(live)), copy
    return make


def cycle(store, jobs=JOBS):
    tables = store.read()
    _results, changes = run_jobs(tables, jobs, now=NOW)
    store.apply(changes, tables)
    return changes


def same_tables(a, b):
    """Every table equal; archived rows (Merged's Original row) equal in their values: the file store also
    records each cell's number format, which the live store does not read."""
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        left, right = a[name].df, b[name].df
        if "data" in left.columns and name in ("merged", "audit_log"):
            assert [loads(x).values if isinstance(x, str) and x.startswith("{") else x for x in left["data"]] == \
                   [loads(x).values if isinstance(x, str) and x.startswith("{") else x for x in right["data"]], name
            left, right = left.drop(columns="data"), right.drop(columns="data")
        pd.testing.assert_frame_equal(left, right, obj=name)


@pytest.mark.slow
def test_the_open_book_reads_as_the_same_tables_as_its_file_in_one_call_per_sheet(opened):
    book, copy = opened()
    store = ExcelLiveStore(book)
    tables = store.read()
    same_tables(tables, XlsxStore(copy).read())
    assert tables.settings == XlsxStore(copy).read().settings
    assert store.read_calls <= len(book.sheets)  # one value read per sheet read, never per cell
    assert book.app.reads == store.read_calls


@pytest.mark.slow
def test_every_job_gives_the_same_tables_and_reports_in_the_open_book_as_in_the_file(opened):
    book, copy = opened()
    on_file = hashlib.sha256(open(book.fullname, "rb").read()).hexdigest()
    live = ExcelLiveStore(book)
    in_book, in_file = cycle(live), cycle(XlsxStore(copy, backups=0))
    assert in_book.summary() == in_file.summary() and in_book.summary()["updated_cells"] > 0
    assert in_book.summary()["archived_rows"] > 0 and in_book.summary()["appended_rows"] > 0
    book_tables, file_tables = ExcelLiveStore(book).read(), XlsxStore(copy).read()
    same_tables(book_tables, file_tables)
    assert book_tables.sheet_names == file_tables.sheet_names
    _r1, again_book = run_jobs(book_tables, ["report"], now=NOW)
    _r2, again_file = run_jobs(file_tables, ["report"], now=NOW)
    assert [(s.name, s.rows) for s in again_book.sheets] == [(s.name, s.rows) for s in again_file.sheets]
    assert hashlib.sha256(open(book.fullname, "rb").read()).hexdigest() == on_file  # the file underneath: untouched


@pytest.mark.slow
def test_owned_sheets_are_replaced_with_number_formats_looks_and_charts(opened):
    book, _copy = opened()
    cycle(ExcelLiveStore(book))
    dashboard = book.sheets["Dashboard"]
    assert dashboard.cells  # written in one block
    formats = {look.get("number_format") for look in dashboard.looks.values()}
    assert "#,##0" in formats
    assert any(look.get("font.bold") for look in dashboard.looks.values())
    charts = [c for s in book.sheets for c in s.charts]
    assert charts and all(c.source for c in charts)
    pipeline = book.sheets["Pipeline"].charts
    assert any("," in c.source for c in pipeline)  # categories and values apart: a source of two areas
    assert dashboard.writes == 1


@pytest.mark.slow
def test_a_report_sheet_is_replaced_in_place_keeping_its_buttons(opened):
    book, _ = opened()
    cycle(ExcelLiveStore(book))
    dashboard = book.sheets["Dashboard"]
    dashboard.buttons = ["Refresh", "Check", "Dedupe"]
    position = [s.name for s in book.sheets].index("Dashboard")
    dashboard.cells[(0, 0)] = "typed over the title"
    charts = len(dashboard.charts)
    store = ExcelLiveStore(book)
    tables = store.read()
    _r, changes = run_jobs(tables, ["report"], now=NOW + dt.timedelta(days=1))
    store.apply(changes, tables)
    assert book.sheets["Dashboard"] is dashboard and dashboard.buttons == ["Refresh", "Check", "Dedupe"]
    assert [s.name for s in book.sheets].index("Dashboard") == position
    assert dashboard.cells[(0, 0)] != "typed over the title" and len(dashboard.charts) == charts


def _writes_per_sheet(book):
    store = ExcelLiveStore(book)
    cycle(store)
    return store.last_write["calls"], store.last_write["reads"]


@pytest.mark.slow
def test_range_writes_per_sheet_do_not_grow_with_the_number_of_rows(opened):
    small_book, _ = opened(100)
    large_book, _ = opened(1000)
    small, _small_reads = _writes_per_sheet(small_book)
    large, large_reads = _writes_per_sheet(large_book)
    # Every write is a column span, an appended block, a resize, rows deleted in ranges of many areas or an
    # owned sheet: bounded by the columns a job writes, not by the rows (49 merges at 1,000 leads, 2 at 100).
    assert max(large.values()) <= 12, large
    assert max(large.values()) <= max(small.values()) + 3, (small, large)
    merged = [a for kind, a in large_book.sheets["Leads"].log if kind == "delete"]
    assert len(merged) <= 3 and sum(a.count(",") + 1 for a in merged) > 20
    touched = [name for name in large if large_book.sheets[name].tables or name == "_crm_meta"]
    assert large_reads <= 2 * len(touched) + 2  # one fresh read of values and one of formulas per touched sheet


@pytest.mark.slow
def test_screen_updating_and_calculation_are_paused_during_the_write_and_restored_after_it_fails(opened, monkeypatch):
    book, _ = opened()
    seen = []
    setter = FakeRange.value.fset

    def watching(self, data):
        seen.append((book.app.screen_updating, book.app.calculation))
        setter(self, data)

    monkeypatch.setattr(FakeRange, "value", property(FakeRange.value.fget, watching))
    store = ExcelLiveStore(book)
    tables = store.read()
    _r, changes = run_jobs(tables, JOBS, now=NOW)
    book.app.break_after = 3  # Excel refuses the fourth write (a protected sheet, a cell in edit mode)
    with pytest.raises(WorkbookBusy, match="Excel refused a write part-way .*; what was written stays"):
        store.apply(changes, tables)
    assert seen and all(s == (False, "manual") for s in seen)
    assert (book.app.screen_updating, book.app.calculation) == (True, "automatic")
    book.app.break_after = None
    book.app.calculation = "semiautomatic"
    store.apply(ChangeSet(meta={"note": "x"}), store.read())
    assert (book.app.screen_updating, book.app.calculation) == (True, "semiautomatic")


@pytest.mark.slow
def test_a_persons_edit_between_read_and_write_stops_the_write_and_is_kept(opened):
    book, _ = opened()
    store = ExcelLiveStore(book)
    tables = store.read()
    _r, changes = run_jobs(tables, JOBS, now=NOW)
    u = next(u for u in changes.updates if u.table == "leads")
    leads = tables["leads"]
    row = leads.rows[u.record_id] - 1
    col = next(c for f, letter in leads.columns.items() if f == "notes" for c in [ord(letter) - 65])
    sheet = book.sheets[leads.sheet]
    sheet.cells[(row, col)] = "called back, wants a quote"  # typed in Excel while the jobs ran
    with pytest.raises(WorkbookChanged, match=r"Leads!.*was changed since it was read; nothing was written, the edit is kept"):
        store.apply(changes, tables)
    assert sheet.cells[(row, col)] == "called back, wants a quote"
    assert all(s.writes == 0 for s in book.sheets)
    assert cycle(ExcelLiveStore(book)).summary()["updated_cells"] > 0  # the next run works on the fresh data


@pytest.mark.slow
def test_a_formula_excel_recomputes_while_the_jobs_run_does_not_stop_the_write(opened):
    book, _ = opened()
    sheet = book.sheets["Leads"]
    store = ExcelLiveStore(book)
    tables = store.read()
    _r, changes = run_jobs(tables, JOBS, now=NOW)
    u = next(u for u in changes.updates if u.table == "leads")
    row = tables["leads"].rows[u.record_id] - 1
    width = max(c for _r2, c in sheet.cells) + 3
    sheet.formulas[(row, width)] = "=NOW()"  # a person's column: Excel gives it a new value on each recalculation
    sheet.cells[(row, width)] = 46000.5
    store = ExcelLiveStore(book)
    tables = store.read()
    _r, changes = run_jobs(tables, JOBS, now=NOW)
    sheet.cells[(row, width)] = 46000.6  # recalculated since the read
    assert store.apply(changes, tables).written
    assert "=NOW()" in sheet.formulas.values()


@pytest.mark.slow
def test_records_are_found_by_id_after_a_person_inserts_rows_above_them(opened):
    book, copy = opened()
    store = ExcelLiveStore(book)
    tables = store.read()
    _r, changes = run_jobs(tables, JOBS, now=NOW)
    header = tables["leads"].header_row
    book.sheets["Leads"].range(f"{header + 1}:{header + 2}").insert(shift="down")  # two blank rows under the headers
    book.sheets["Leads"].writes = 0
    store.apply(changes, tables)
    cycle(XlsxStore(copy, backups=0))
    same_tables(ExcelLiveStore(book).read(), XlsxStore(copy).read())


@pytest.mark.slow
def test_text_from_data_is_never_a_formula_or_a_number_in_the_book(opened):
    book, _ = opened()
    store = ExcelLiveStore(book)
    tables = store.read()
    rid = tables["leads"].df.index[0]
    changes = ChangeSet()
    changes.update("leads", rid, "notes", "=HYPERLINK(\"http://evil.example\")")
    changes.update("leads", rid, "city", "007")
    changes.update("leads", rid, "job_title", "2025-03-14")
    changes.update("leads", rid, "company", "TRUE")
    store.apply(changes, tables)
    after = ExcelLiveStore(book).read()
    assert after["leads"].df.loc[rid, "job_title"] == "2025-03-14" and after["leads"].df.loc[rid, "company"] == "TRUE"
    assert after["leads"].df.loc[rid, "notes"] == "=HYPERLINK(\"http://evil.example\")"
    assert after["leads"].df.loc[rid, "city"] == "007"
    assert not any(f.startswith("=HYPERLINK") for f in book.sheets["Leads"].formulas.values())


def test_excel_values_come_back_in_the_cores_conventions():
    from crm_sheets.store.excel.grids import plain

    assert plain(None) == "" and plain(3.0) == 3.0 and plain("007") == "007"
    assert plain(dt.datetime(2025, 3, 14)) == dt.date(2025, 3, 14)
    assert plain(dt.datetime(2025, 3, 14, 9, 30)) == dt.datetime(2025, 3, 14, 9, 30)
    assert plain(dt.datetime(1899, 12, 30, 8, 30)) == dt.time(8, 30)  # a time of day, as Excel gives it


@pytest.mark.slow
def test_the_button_runs_the_jobs_on_the_open_book_and_shows_the_result(opened):
    from crm_sheets.excel import refresh

    book, _ = opened()
    on_file = hashlib.sha256(open(book.fullname, "rb").read()).hexdigest()
    report = refresh("run", book=book)
    assert report.written
    title, text = book.app.alerts[-1]
    assert title == "crm-sheets" and "Written into this workbook; save it to keep them." in text
    start = book.grid("Start")
    assert [r[4] for r in start[:5]] == ["Last run", "Result", "Jobs", "Changes", "First error"]
    assert start[2][5] == "check, dedupe, automate, report"
    assert "Runs" in [s.name for s in book.sheets]
    assert hashlib.sha256(open(book.fullname, "rb").read()).hexdigest() == on_file
    writes = sum(s.writes for s in book.sheets)
    again = refresh("check", book=book)
    assert not again.written  # nothing new: nothing written, as a file run writes nothing
    assert sum(s.writes for s in book.sheets) == writes + 1  # only the Start sheet's status


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_open_store_takes_an_excel_url_and_the_path_of_a_book_a_button_attached(opened):
    book, copy = opened()
    with attached(book) as spec:
        assert spec == "excel://" + book.fullname
        assert isinstance(open_store(spec), ExcelLiveStore)
        assert isinstance(open_store(book.fullname), ExcelLiveStore)
        assert open_store(book.fullname).identity == "excel:" + book.fullname
    assert isinstance(open_store(book.fullname), XlsxStore)  # the file again once the button's run is over
    with pytest.raises(UsageError, match="no open Excel workbook"):
        open_store("excel://" + str(copy))


@pytest.mark.slow
def test_one_writer_at_a_time_per_book(opened):
    book, _ = opened()
    first, second = ExcelLiveStore(book, lock_timeout=0.2), ExcelLiveStore(book, lock_timeout=0.2)
    with first.lock():
        with pytest.raises(WorkbookBusy):
            with second.lock():
                pass
    with second.lock():
        pass


# -- the fake answers exactly what xlwings offers -------------------------------------------------------

# (xlwings.main class, attribute, how the store uses it): "call" methods are called with these keywords,
# "get"/"set" properties are read or assigned.
USED = [
    ("App", "alert", "call", ("prompt", "title")),
    ("App", "screen_updating", "set", ()),
    ("App", "calculation", "set", ()),
    ("Book", "caller", "call", ()),
    ("Book", "sheets", "get", ()),
    ("Book", "names", "get", ()),
    ("Book", "fullname", "get", ()),
    ("Book", "name", "get", ()),
    ("Book", "app", "get", ()),
    ("Sheets", "add", "call", ("name", "before", "after")),
    ("Sheet", "range", "call", ("cell1", "cell2")),
    ("Sheet", "used_range", "get", ()),
    ("Sheet", "tables", "get", ()),
    ("Sheet", "charts", "get", ()),
    ("Sheet", "clear", "call", ()),
    ("Sheet", "visible", "set", ()),
    ("Sheet", "name", "get", ()),
    ("Range", "options", "call", ("convert",)),
    ("Range", "value", "set", ()),
    ("Range", "formula", "get", ()),
    ("Range", "number_format", "set", ()),
    ("Range", "font", "get", ()),
    ("Range", "color", "set", ()),
    ("Range", "wrap_text", "set", ()),
    ("Range", "column_width", "set", ()),
    ("Range", "row_height", "set", ()),
    ("Range", "merge", "call", ("across",)),
    ("Range", "delete", "call", ("shift",)),
    ("Range", "insert", "call", ("shift", "copy_origin")),
    ("Range", "row", "get", ()),
    ("Range", "column", "get", ()),
    ("Range", "shape", "get", ()),
    ("Range", "left", "get", ()),
    ("Range", "top", "get", ()),
    ("Range", "address", "get", ()),
    ("Table", "resize", "call", ("range",)),
    ("Tables", "add", "call", ("source", "name", "table_style_name")),
    ("Names", "add", "call", ("name", "refers_to")),
    ("Table", "name", "get", ()),
    ("Table", "range", "get", ()),
    ("Charts", "add", "call", ("left", "top", "width", "height")),
    ("Chart", "chart_type", "set", ()),
    ("Chart", "set_source_data", "call", ("source",)),
    ("Chart", "delete", "call", ()),
    ("Name", "refers_to", "set", ()),
    ("Font", "bold", "set", ()),
    ("Font", "italic", "set", ()),
    ("Font", "size", "set", ()),
    ("Font", "color", "set", ()),
]


@pytest.mark.parametrize("cls, attr, use, keywords", USED, ids=[f"{c}.{a}" for c, a, _u, _k in USED])
def test_every_xlwings_call_of_the_store_exists_with_the_same_signature(cls, attr, use, keywords):
    main = pytest.importorskip("xlwings.main")
    member = inspect.getattr_static(getattr(main, cls), attr)
    if use == "call":
        fn = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        params = list(inspect.signature(fn).parameters)
        assert all(k in params for k in keywords), (cls, attr, params)
    else:
        assert isinstance(member, property), (cls, attr)
        if use == "set":
            assert member.fset is not None, (cls, attr)


def test_the_fake_answers_the_calls_the_store_makes_with_xlwings_keywords():
    main = pytest.importorskip("xlwings.main")
    pairs = {"Range": FakeRange, "Sheet": FakeSheet}
    for cls, attr, use, keywords in USED:
        fake = pairs.get(cls)
        if fake is None or use != "call":
            continue
        ours = list(inspect.signature(getattr(fake, attr)).parameters)
        theirs = list(inspect.signature(getattr(getattr(main, cls), attr)).parameters)
        assert [p for p in ours if p in keywords] == [p for p in theirs if p in keywords], (cls, attr)


# -- xlwings' own object model: the remote engine ------------------------------------------------------

@pytest.mark.slow
def test_xlwings_own_engine_reads_the_book_as_the_file_and_takes_every_write_call(built_book, monkeypatch):
    pytest.importorskip("xlwings")
    from xlwings_remote import remote_book

    path = built_book(sample_data=50, now=NOW)
    _xw, book = remote_book(path, monkeypatch)
    store = ExcelLiveStore(book)
    tables = store.read()
    same_tables(tables, XlsxStore(path).read())
    _r, changes = run_jobs(tables, JOBS, now=NOW)
    result = store.apply(changes, tables)
    assert result.written
    actions = [a["func"] for a in book.json()["actions"]]
    assert actions[0] == "setScreenUpdating" and "setCalculation" in actions
    assert actions[-2:] == ["setCalculation", "setScreenUpdating"]  # given back after the writes
    assert {"setValues", "rangeDelete", "addSheet", "setNumberFormat", "resizeTable", "addChart"} <= set(actions)
    for a in book.json()["actions"]:
        if a["func"] == "setValues":
            assert not any(isinstance(v, str) and v.startswith("=") for row in a["values"] for v in row)


@pytest.mark.slow
def test_crm_sheets_run_excel_url_runs_on_the_open_book_and_keeps_state_beside_its_file(opened):
    from click.testing import CliRunner

    from crm_sheets.cli import cli

    book, _ = opened()
    with attached(book):
        result = CliRunner().invoke(cli, ["run", "excel://" + book.fullname, "--job", "check"])
    assert result.exit_code in (0, 1), result.output  # 1: the sample holds data problems
    assert "Data Issues" in [s.name for s in book.sheets]
    from pathlib import Path

    folder = Path(book.fullname).parent
    assert (folder / f".{Path(book.fullname).name}.outbox.sqlite").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith("excel")]


@pytest.mark.slow
def test_an_unmerged_record_comes_back_from_the_open_books_merged_sheet_as_from_the_file(opened):
    from crm_sheets.jobs.dedupe.job import unmerge

    book, copy = opened()
    live, file = ExcelLiveStore(book), XlsxStore(copy, backups=0)
    cycle(live), cycle(file)
    merged = live.read()
    rid = str(merged["merged"].df["record"].iloc[0])
    for store in (live, file):
        tables = store.read()
        store.apply(unmerge(tables, rid, now=NOW).changes, tables)
    book_tables, file_tables = ExcelLiveStore(book).read(), XlsxStore(copy).read()
    same_tables(book_tables, file_tables)
    table = str(merged["merged"].df["table"].iloc[0])
    assert rid in book_tables[table].df.index and rid not in set(book_tables["merged"].df["record"].astype(str))


@pytest.mark.slow
def test_a_label_a_job_adds_to_a_dropdown_goes_under_its_list_as_in_the_file(opened):
    from crm_sheets.model.changeset import OptionAdd

    book, copy = opened()
    for store in (ExcelLiveStore(book), XlsxStore(copy, backups=0)):
        tables = store.read()
        name = next(n for n, lst in tables.lists.items() if lst.options)
        changes = ChangeSet()
        changes.options.append(OptionAdd(name, "Trade fair 2026"))
        store.apply(changes, tables)
    book_tables, file_tables = ExcelLiveStore(book).read(), XlsxStore(copy).read()
    assert [o.label("en") for o in book_tables.lists[name].options] == [o.label("en") for o in file_tables.lists[name].options]
    assert "Trade fair 2026" in [o.label("en") for o in book_tables.lists[name].options]
    count = len(book_tables.lists[name].options)
    assert book.names[f"list_{name}"].refers_to.endswith(f"$2:$A${count + 1}")  # the dropdowns offer it too


@pytest.mark.slow
def test_a_run_that_needs_a_table_the_book_lacks_adds_its_sheet_as_the_file_run_does(built_book, tmp_path):
    import openpyxl

    from crm_sheets.excel import refresh
    from crm_sheets.runlog import run_logged

    src = built_book(sample_data=50, now=NOW)
    wb = openpyxl.load_workbook(src)
    del wb["Audit Log"]  # a workbook made before the Audit Log existed
    wb.save(tmp_path / "old.xlsx")
    live_path = shutil.copy(tmp_path / "old.xlsx", tmp_path / "live.xlsx")
    file_path = shutil.copy(tmp_path / "old.xlsx", tmp_path / "file.xlsx")
    book = FakeBook.from_xlsx(live_path, str(live_path))
    assert "audit_log" not in ExcelLiveStore(book).read().tables
    refresh("run", book=book)
    run_logged(file_path, None, trigger="button", now=NOW)
    book_tables, file_tables = ExcelLiveStore(book).read(), XlsxStore(file_path).read()
    assert "audit_log" in book_tables.tables and len(book_tables["audit_log"]) > 0
    assert len(book_tables["audit_log"]) == len(file_tables["audit_log"])
    assert book.sheets["Audit Log"].tables  # an Excel table over it


@pytest.mark.slow
def test_the_live_store_is_a_store_keyed_by_its_book_with_its_state_beside_the_file(opened, tmp_path, monkeypatch):
    from crm_sheets.store.base import Store

    book, copy = opened()
    live, file = ExcelLiveStore(book), XlsxStore(book.fullname)
    assert isinstance(live, Store)
    assert live.identity == "excel:" + book.fullname and live.describe() == f"{book.name} (open in Excel)"
    assert live.state.lock == file.state.lock and live.state.outbox == file.state.outbox  # one writer: button or schedule
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "state"))
    unsaved = FakeBook.from_xlsx(copy, "Book1")  # never saved: no folder of its own
    store = ExcelLiveStore(unsaved)
    assert store.state.dir.parent == tmp_path / "state"
    with store.lock():
        assert store.state.lock.exists()
