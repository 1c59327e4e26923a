"""The typed-table cache is an optimisation only: a read through it gives the Tables a read from scratch gives,
after every kind of edit (a whole-package save, a sorted sheet, inserted rows, a changed setting or list, our
own write), and a cache that is corrupt, cut short, stale, someone else's or made by other code is ignored."""
import hashlib
import os
import shutil
from datetime import datetime

import numpy as np
import openpyxl
import pandas as pd
import pytest

import crm_sheets.runner as runner
from crm_sheets.model.lazy import is_unread
from crm_sheets.store.core import cache as cache_mod
from crm_sheets.store.core.cache import CACHE_ENV, TableCache
from crm_sheets.store.state import STATE_DIR_ENV
from crm_sheets.store.xlsx.store import XlsxStore
from helpers import fresh_copy
from test_incremental import edit, row_of, same_outcome

SAMPLE = 300


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path_factory, monkeypatch):
    """The user's cache key in a folder of the test's own."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path_factory.mktemp("user-state")))
    monkeypatch.delenv(CACHE_ENV, raising=False)


def read(path, cached: bool = True):
    """Tables as XlsxStore reads them, and the store's cache (None when turned off)."""
    if not cached:
        os.environ[CACHE_ENV] = "off"
    try:
        store = XlsxStore(path)
        seen = {}
        real = store._table_cache

        def spy():
            seen["cache"] = real()
            return seen["cache"]

        store._table_cache = spy
        return store.read(), seen.get("cache")
    finally:
        os.environ.pop(CACHE_ENV, None)


def _cells(df: pd.DataFrame) -> list:
    """Every cell with its type: a cached frame must hold the same values as the same kinds of objects."""
    out = []
    for col in df.columns:
        values = df[col].tolist()
        out.append((col, str(df[col].dtype), [(type(v).__name__, "<na>" if pd.isna(v) is True else v) for v in values]))
    return out


def assert_same_tables(a, b, *, runs: bool = False) -> None:
    """Equal tables; ``runs``: of two runs' workbooks, whose _crm_meta differ by the random generation ID."""
    assert list(a.tables) == list(b.tables)
    for name in a.tables:
        ta, tb = a.tables[name], b.tables[name]
        pd.testing.assert_frame_equal(ta.df, tb.df, check_exact=True)
        assert list(ta.df.index) == list(tb.df.index), name
        assert _cells(ta.df) == _cells(tb.df), name
        for attr in ("sheet", "rows", "columns", "invalid", "typed_text", "extra_columns", "header_row",
                     "assigned_ids", "next_id"):
            assert getattr(ta, attr) == getattr(tb, attr), f"{name}.{attr}"
        assert ta.schema == tb.schema
    for attr in ("schema", "lang", "settings", "lists", "source", "notes", "date1904", "sheet_names", "adopted"):
        assert getattr(a, attr) == getattr(b, attr), attr
    meta_a, meta_b = dict(a.meta), dict(b.meta)
    if runs:
        meta_a.pop("generation", None), meta_b.pop("generation", None)
    assert meta_a == meta_b
    assert [f.as_dict() for f in a.read_findings] == [f.as_dict() for f in b.read_findings]


@pytest.fixture
def book(built_book, tmp_path):
    return fresh_copy(built_book(sample_data=SAMPLE), tmp_path)


def test_a_second_read_of_the_same_file_comes_whole_from_the_cache_and_equals_a_fresh_read(book):
    first, cache = read(book)
    assert cache.hits == {} and cache.path.exists()  # nothing to find the first time; kept for next time
    again, cache = read(book)
    assert set(cache.hits.values()) == {"whole"} and set(cache.hits) == set(again.tables)
    fresh, _ = read(book, cached=False)
    assert_same_tables(again, fresh)
    assert_same_tables(first, fresh)


def test_a_table_from_the_cache_shares_each_repeated_text_as_a_fresh_read_does(book):
    read(book)
    cached, cache = read(book)
    assert set(cache.hits.values()) == {"whole"}
    fresh, _ = read(book, cached=False)
    for name in ("leads", "contacts"):
        for col in ("city", "owner", "status"):
            if col not in fresh[name].df:
                continue
            got, want = cached[name].df[col].tolist(), fresh[name].df[col].tolist()
            assert got == want
            # one object per distinct text (memory at 100,000s of rows), in the cached table as in the fresh one
            assert len({id(v) for v in got}) == len({id(v) for v in want}) <= len(set(want)) + 1, (name, col)


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_after_a_whole_package_save_only_the_edited_column_is_typed_again(book):
    read(book)
    edit(book, [("Leads", row_of("L-00005"), "City", "Graz")])  # openpyxl rewrites every part, renumbers strings
    got, cache = read(book)
    assert cache.hits.pop("leads") == "columns"  # its City column typed again, the others taken from the cache
    assert cache.hits and set(cache.hits.values()) == {"content"}
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)
    assert got["leads"].df.loc["L-00005", "city"] == "Graz"


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_columns_typed_again_give_the_unreadable_cells_and_typed_text_of_a_fresh_read_in_its_order(book):
    read(book)
    edit(book, [("Leads", row_of("L-00005"), "Created", "not a date"),  # unreadable now
                ("Leads", row_of("L-00007"), "Created", "2026-03-14"),  # a date typed as text
                ("Leads", row_of("L-00009"), "Engagement", "lots"),
                ("Leads", row_of("L-00011"), "Source", "Trade fair")])  # not an option
    got, cache = read(book)
    assert cache.hits["leads"] == "columns"
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)
    for attr in ("invalid", "typed_text"):  # what check reports, in the order a fresh read gives it
        assert list(getattr(got["leads"], attr).items()) == list(getattr(fresh["leads"], attr).items())
    assert ("L-00005", "created") in got["leads"].invalid and ("L-00007", "created") in got["leads"].typed_text


def test_after_our_own_write_the_sheets_it_left_alone_come_back_by_their_part(book):
    from crm_sheets.model.changeset import ChangeSet

    store = XlsxStore(book)
    tables = store.read()
    changes = ChangeSet()
    changes.update("leads", "L-00005", "city", "Graz", reason="a person's wish")
    assert store.apply(changes, tables).written  # our writer rewrites only the Leads sheet's part
    got, cache = read(book)
    assert cache.hits.pop("leads") == "columns"  # parsed, only its City column typed again
    # the Audit Log is left unread until something asks for it (model/lazy.py), as it was by the first read
    assert is_unread(got["audit_log"]) and "audit_log" not in cache.hits
    assert set(cache.hits.values()) == {"part"} and len(cache.hits) == len(got.tables) - 2
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)
    assert got["leads"].df.loc["L-00005", "city"] == "Graz"


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_a_run_that_wrote_leaves_the_cache_holding_the_file_it_wrote(book):
    report = runner.run(book, now=datetime(2026, 11, 2, 9, 0), options={"check": {"fix": True}})
    assert report.written
    got, cache = read(book)  # the next run, nobody having edited the workbook: nothing parsed
    assert set(cache.hits.values()) == {"whole"} and set(cache.hits) == set(got.tables)
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)


@pytest.mark.slow  # a whole run
def test_after_a_run_that_wrote_and_a_whole_package_save_the_tables_it_wrote_are_typed_only_where_changed(book):
    report = runner.run(book, now=datetime(2026, 11, 2, 9, 0), options={"check": {"fix": True}})
    assert report.written
    edit(book, [("Leads", row_of("L-00005"), "City", "Graz")])  # openpyxl rewrites every part, renumbers strings
    got, cache = read(book)
    # every table the write changed without moving its rows kept the digests of the columns it did not change:
    # taken from the cache with only those columns typed again (Leads, which lost merged rows, is typed again)
    written = {u.table for u in report.changes.updates} - {a.table for a in report.changes.appends}
    written -= {a.table for a in report.changes.archives}
    assert {"accounts", "contacts", "deals"} <= written
    assert all(cache.hits.get(name) in ("columns", "content") for name in written), cache.hits
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)
    assert got["leads"].df.loc["L-00005", "city"] == "Graz"


@pytest.mark.slow  # a whole run
def test_after_a_run_that_moved_rows_and_a_whole_package_save_only_the_edited_columns_are_typed_again(book):
    report = runner.run(book, now=datetime(2026, 11, 2, 9, 0), options={"check": {"fix": True}})
    # merged leads archived (the rows below moved up), tasks and activities appended
    assert report.written and {a.table for a in report.changes.archives} >= {"leads"}
    assert {a.table for a in report.changes.appends} >= {"tasks"}
    edit(book, [("Leads", row_of("L-00005"), "City", "Graz"), ("Leads", row_of("L-00007"), "Notes", "Called back")])
    got, cache = read(book)
    # no table the run wrote is typed whole: Leads only where the person edited it, the others not at all
    assert cache.typed.get("leads") == ["city", "notes"], cache.typed
    assert cache.hits["leads"] == "columns"
    moved = {a.table for a in report.changes.archives} | {a.table for a in report.changes.appends}
    assert all(cache.typed.get(name) == [] or cache.hits.get(name) == "content" for name in moved - {"leads", "audit_log"}
               if name in cache.hits or name in cache.typed), (cache.hits, cache.typed)
    assert None not in cache.typed.values(), cache.typed  # nothing typed whole
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)
    assert got["leads"].df.loc["L-00005", "city"] == "Graz"


@pytest.mark.slow  # a whole run
def test_after_a_run_and_a_whole_package_save_the_audit_log_holds_every_entry_the_run_wrote(book):
    report = runner.run(book, now=datetime(2026, 11, 2, 9, 0), options={"check": {"fix": True}})
    logged = [a for a in report.changes.appends if a.table == "audit_log"]
    assert report.written and logged
    edit(book, [("Leads", row_of("L-00005"), "City", "Graz")])  # every part rewritten: the Audit Log's too
    got, cache = read(book)
    assert is_unread(got.tables["audit_log"])  # parsed from the file when a run appends to it, as without the cache
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)
    audit = got["audit_log"].df
    assert len(audit) >= len(logged)
    assert audit["reason"].tail(len(logged)).tolist() == [a.values["reason"] for a in logged]


def _hits_of_the_fill(monkeypatch) -> dict:
    """How the last cache a run saved found each table (the fill after its write), by table name."""
    seen: dict = {}
    real = TableCache.save

    def save(self, *args, **kwargs):
        seen.clear()
        seen.update(self.hits)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TableCache, "save", save)
    return seen


@pytest.mark.slow  # a whole run
@pytest.mark.parametrize("fix", [True, False])
def test_the_cache_a_run_fills_from_its_own_tables_equals_a_cold_read_of_the_file_it_wrote(book, monkeypatch, fix):
    hits = _hits_of_the_fill(monkeypatch)
    reads = []
    real_read = XlsxStore.read
    monkeypatch.setattr(XlsxStore, "read", lambda self: reads.append(1) or real_read(self))
    report = runner.run(book, now=datetime(2026, 11, 2, 9, 0), options={"check": {"fix": fix}})
    assert report.written and report.changes.archives and report.changes.appends  # merges, tasks, the audit log
    # the tables the run wrote to came from its own, the Audit Log with the rows it appended, not from parsing the
    # file it wrote; the archive of merged rows was parsed; the confirming pass ran on them without reading the
    # workbook again
    assert hits["leads"] == hits["audit_log"] == "given" and "merged" not in hits
    assert len(reads) == 1
    assert (book.parent / f".{book.name}.crm-settled").exists()
    got, cache = read(book)
    assert set(cache.hits.values()) == {"whole"}
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)


@pytest.mark.slow  # a whole run
def test_the_audit_log_a_large_run_fills_the_cache_with_once_its_changes_wait_in_a_file_equals_a_cold_read(
        book, monkeypatch):
    from crm_sheets import spill

    monkeypatch.setattr(spill, "WORTH_IT", 0)  # set aside as a large run's are: the log is made after, from its rows
    hits = _hits_of_the_fill(monkeypatch)
    report = runner.run(book, now=datetime(2026, 11, 2, 9, 0))
    logged = [a for a in report.changes.appends if a.table == "audit_log"]
    assert report.written and logged
    assert hits["leads"] == hits["audit_log"] == "given"
    got, cache = read(book)
    assert set(cache.hits.values()) == {"whole"}
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)
    assert got["audit_log"].df["reason"].tail(len(logged)).tolist() == [a.values["reason"] for a in logged]


@pytest.mark.slow  # a whole run
def test_the_cache_a_run_fills_after_adding_a_teams_values_to_a_list_equals_a_cold_read(book, monkeypatch):
    # the team's own lead source on a few leads (one spelt in capitals): check adds it to the list, and a read of
    # the written file types those cells as the option, no longer unreadable
    edit(book, [("Leads", row_of(f"L-{i:05d}"), "Source", "Trade fair") for i in range(3, 9)]
         + [("Leads", row_of("L-00011"), "Source", "TRADE FAIR")])
    hits = _hits_of_the_fill(monkeypatch)
    report = runner.run(book, now=datetime(2026, 11, 2, 9, 0), options={"check": {"fix": True}})
    assert report.written and any(o.list == "lead_source" for o in report.changes.options)
    assert hits["leads"] == "given"
    got, _ = read(book)
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)
    assert fresh["leads"].df.loc["L-00011", "source"] == "Trade fair"
    assert ("L-00011", "source") not in fresh["leads"].invalid


@pytest.mark.slow  # a whole run
def test_a_save_slipping_in_after_our_write_fills_the_cache_from_the_file_not_from_the_run(book, monkeypatch):
    hits = _hits_of_the_fill(monkeypatch)
    real = XlsxStore.remember_tables

    def colleague_first(self, given=None):
        edit(self.path, [("Leads", row_of("L-00005"), "City", "Graz")])  # between our write and the fill
        return real(self, given)

    monkeypatch.setattr(XlsxStore, "remember_tables", colleague_first)
    report = runner.run(book, now=datetime(2026, 11, 2, 9, 0), options={"check": {"fix": True}})
    assert report.written
    assert "given" not in hits.values()
    got, _ = read(book)
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)
    assert got["leads"].df.loc["L-00005", "city"] == "Graz"


def _sort_leads_by_city(path) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2, max_row=ws.max_row)]
    rows.sort(key=lambda r: (str(r[header["City"] - 1] or ""), str(r[0])))
    for i, values in enumerate(rows, 2):
        for j, v in enumerate(values, 1):
            ws.cell(i, j).value = v
    wb.save(path)


def _insert_leads(path) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    ws.insert_rows(5, 2)
    ws.cell(5, header["First name"]).value = "Ines"
    ws.cell(5, header["Last name"]).value = "Moreau"
    ws.cell(5, header["Email"]).value = "ines.moreau@example.org"
    ws.cell(6, header["First name"]).value = "Tom"
    ws.cell(6, header["Company"]).value = "Moreau SARL"
    wb.save(path)


def _add_list_option(path) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb["Lists"]
    for r in range(1, 6):  # the first list column's header within the first rows
        for c in range(1, ws.max_column + 1):
            if ws.cell(r, c).value:
                col, last = c, r
                while ws.cell(last + 1, col).value not in (None, ""):
                    last += 1
                ws.cell(last + 1, col).value = "Trade fair 2026"
                wb.save(path)
                return
    raise AssertionError("no list on the Lists sheet")


@pytest.mark.slow
def test_cached_and_uncached_runs_give_the_same_tables_findings_data_issues_and_reports_after_every_edit(
        built_book, tmp_path, monkeypatch):
    cached = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    (tmp_path / "plain").mkdir()
    plain = tmp_path / "plain" / cached.name
    shutil.copy(cached, plain)
    day = datetime(2026, 11, 2, 9, 0)
    steps = [
        ("first run", day, None),
        ("nothing edited", day.replace(minute=15), None),
        ("leads edited and saved whole", day.replace(hour=10), lambda p: edit(p, [
            ("Leads", row_of("L-00003"), "City", "  Lyon"),
            ("Leads", row_of("L-00007"), "Email", "ana@gmial.com"),
            ("Leads", row_of("L-00019"), "Created", "31/31/2026"),
        ])),
        ("the leads sorted", day.replace(hour=11), _sort_leads_by_city),
        ("rows inserted", day.replace(hour=12), _insert_leads),
        ("the next day", day.replace(day=3), None),
        ("a setting changed", day.replace(day=3, hour=10),
         lambda p: edit(p, [("Settings", row_of("locale"), "Value", "en-GB")])),
        ("a list changed", day.replace(day=3, hour=11), _add_list_option),
        ("nothing edited again", day.replace(day=3, hour=12), None),
    ]
    for label, at, change in steps:
        if change is not None:
            change(cached)
            change(plain)
        a = runner.run(cached, now=at, options={"check": {"fix": True}}, settled_answer=False)  # read, jobs run
        with monkeypatch.context() as m:
            m.setenv(CACHE_ENV, "off")
            b = runner.run(plain, now=at, options={"check": {"fix": True}}, settled_answer=False)
        same_outcome(a, b, cached, plain)
        assert_same_tables(a.tables, _with_source(b.tables, a.tables.source), runs=True), label
        if label.startswith("nothing edited"):
            assert not a.written and not b.written, label
        got, _ = read(cached)
        fresh, _ = read(cached, cached=False)
        assert_same_tables(got, fresh)
    assert (cached.parent / f".{cached.name}.crm-tables.cache").exists()
    assert not (plain.parent / f".{plain.name}.crm-tables.cache").exists()


def _with_source(tables, source):
    tables.source = source
    return tables


# -- a cache that cannot be trusted is ignored ---------------------------------------------------------


def _cache_file(book):
    return book.parent / f".{book.name}.crm-tables.cache"


@pytest.mark.parametrize("damage", ["flipped byte", "cut short", "empty", "garbage"])
def test_a_damaged_cache_is_ignored_and_the_read_is_the_same(book, damage):
    read(book)
    path = _cache_file(book)
    data = bytearray(path.read_bytes())
    if damage == "flipped byte":
        data[len(data) // 2] ^= 0xFF
    elif damage == "cut short":
        data = data[: len(data) // 3]
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(os.urandom(4096))
    path.write_bytes(bytes(data))
    got, cache = read(book)
    assert cache.hits == {}
    assert damage == "empty" or cache.problem
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)
    _, cache = read(book)  # the read wrote a good one again
    assert set(cache.hits.values()) == {"whole"}


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="file modes and owners of POSIX systems")
def test_the_cache_file_is_the_users_alone_and_one_others_may_write_is_checked_whole_before_use(book):
    """A cache only its user may write is sealed a slice at a time and its tables' bytes read from it as asked for;
    one that others may write is read whole before its seal is checked (they could change it after the check), and
    gives the same tables either way; damaged, it is ignored either way."""
    read(book)
    path = _cache_file(book)
    assert path.stat().st_mode & 0o077 == 0
    for mode in (0o600, 0o666):
        path.chmod(mode)
        got, cache = read(book)
        assert set(cache.hits.values()) == {"whole"}, mode
        fresh, _ = read(book, cached=False)
        assert_same_tables(got, fresh)
    good = path.read_bytes()
    for mode in (0o600, 0o666):
        data = bytearray(good)
        data[len(data) - 100] ^= 0xFF  # among the tables' bytes, which a load of a user's own file reads from it
        path.write_bytes(bytes(data))
        path.chmod(mode)
        got, cache = read(book)
        assert cache.hits == {} and "sealed" in cache.problem, mode
        assert_same_tables(got, fresh)


def test_a_cache_on_a_file_system_that_maps_no_files_is_read_whole(book, monkeypatch):
    read(book)

    def no_mapping(*args, **kwargs):
        raise OSError("no mapping of files here")

    monkeypatch.setattr(cache_mod.mmap, "mmap", no_mapping)
    got, cache = read(book)
    assert set(cache.hits.values()) == {"whole"}, cache.problem
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_a_cache_sealed_by_another_users_key_is_never_loaded(book, monkeypatch, tmp_path):
    read(book)
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "someone-else"))
    got, cache = read(book)
    assert cache.hits == {} and "key" in cache.problem
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)


def test_a_cache_made_by_other_reading_code_is_ignored(book, monkeypatch):
    read(book)
    monkeypatch.setattr(cache_mod, "_code", "another version of the reader")
    got, cache = read(book)
    assert cache.hits == {} and "other reading code" in cache.problem


def test_a_stale_cache_of_another_workbook_content_gives_nothing_back(book, tmp_path, built_book):
    (tmp_path / "other").mkdir()
    other = fresh_copy(built_book(sample_data=60), tmp_path / "other")
    read(other)
    shutil.copy(_cache_file(other), _cache_file(book))  # a cache beside the wrong workbook
    got, cache = read(book)
    assert "leads" not in cache.hits  # tables whose cells are the same in both (a rule sheet) may come back
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_a_changed_setting_types_the_tables_again(book):
    read(book)
    edit(book, [("Settings", row_of("locale"), "Value", "en-GB")])  # dates typed as text read day first now
    got, cache = read(book)
    assert "leads" not in cache.hits
    fresh, _ = read(book, cached=False)
    assert_same_tables(got, fresh)


def test_a_schema_given_to_the_store_is_another_cache(book):
    from crm_sheets.model.schema import load_schema

    read(book)
    store = XlsxStore(book, schema=load_schema("sales"))
    cache = TableCache.for_state(store.state)
    store._table_cache = lambda: cache
    store.read()
    assert "whole" not in set(cache.hits.values())


def test_turned_off_the_cache_is_neither_read_nor_written(book, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "off")
    XlsxStore(book).read()
    assert not _cache_file(book).exists()


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_a_dry_run_writes_no_cache_beside_the_workbook(book):
    runner.run(book, now=datetime(2026, 11, 2, 9, 0), dry_run=True)
    assert not _cache_file(book).exists()


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_deleting_the_cache_changes_nothing(book):
    read(book)
    with_cache, _ = read(book)
    _cache_file(book).unlink()
    without, cache = read(book)
    assert cache.hits == {}
    assert_same_tables(with_cache, without)


def test_the_cache_is_written_one_table_at_a_time_and_reads_back_the_same(book):
    """A cache's tables are pickled into the file as it is written, not all first (at 100k leads ~100 MB of them
    held at once beside the run's tables): the saving holds less than all their bytes together, and the file
    holds each table's bytes as pickling it alone gives them, so it reads back the same tables."""
    import tracemalloc

    tables, _ = read(book)
    rng = np.random.default_rng(16)
    big = [name for name, t in tables.tables.items() if not is_unread(t) and len(t.df) >= 100]
    assert len(big) >= 3
    for name in big:  # a few MB per table, so that what the save holds shows above Python's own allocations
        t = tables[name]
        t.df = t.df.assign(_notes=[rng.bytes(3000).hex() for _ in range(len(t.df))])
    blobs = {name: cache_mod._dump_table(t) for name, t in tables.tables.items() if not is_unread(t)}
    cache = TableCache(_cache_file(book))
    for name, t in tables.tables.items():
        if is_unread(t):
            cache.keep_lazy(name, t.sheet, "context", part=None, hint=None)
        else:
            cache.keep(name, t.sheet, "context", part=None, content=None, note=None, strays=False)
    tracemalloc.start()
    try:
        cache.save(("a file", 1), tables, "a schema")
        held = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert cache.problem is None
    assert held < sum(len(b) for b in blobs.values()) * 0.75, (held, [len(b) for b in blobs.values()])

    again = TableCache(_cache_file(book))
    got = again.whole(("a file", 1), "a schema", str(book), lazy=lambda *a: "unread")
    assert got is not None and list(got.tables) == list(tables.tables)
    for name, blob in blobs.items():
        assert again._old["entries"][name].blob == blob, name
        want, have = tables[name], got[name]
        pd.testing.assert_frame_equal(have.df, want.df, check_exact=True)
        assert _cells(have.df) == _cells(want.df), name
        for attr in ("sheet", "rows", "columns", "invalid", "typed_text", "header_row", "next_id"):
            assert getattr(have, attr) == getattr(want, attr), f"{name}.{attr}"


def test_column_digests_tell_apart_columns_that_differ_in_any_cell_or_kind():
    from datetime import date

    from crm_sheets.store.core.cache import column_digest

    from datetime import timedelta, timezone

    day, moment = date(2026, 3, 14), datetime(2026, 3, 14)
    columns = [[], [""], ["", ""], ["a", "b"], ["ab"], ["a\x00", "b"], ["a", "\x00b"], ["1"], [1.0], [1], [True],
               ["2026-03-14"], [day], ["a", 1.0], ["a", "1.0"],
               # date columns (dates, and '' for empty cells): where each date is, its kind, its day and time
               [day, ""], ["", day], [moment, ""], [day, "x"], [day, "", ""], [day, day], [day, moment],
               [date(2026, 3, 15), ""], [datetime(2026, 3, 14, 0, 0, 1), ""], [datetime(2026, 3, 14, 0, 0, 0, 1), ""],
               [datetime(2026, 3, 14, tzinfo=timezone.utc), ""], [day, "\x00"], [day, "a\x00"], ["\x00", day],
               [pd.Timestamp("2026-03-14"), ""], [day, 1.0], [moment.replace(fold=1), ""],
               # the first and last days and moments a cell can hold, a microsecond apart; time zones, mixed or not
               [date(1, 1, 1), ""], [datetime(1, 1, 1), ""], [date(9999, 12, 31), ""],
               [datetime(9999, 12, 31, 23, 59, 59, 999999), ""], [datetime(9999, 12, 31, 23, 59, 59, 999998), ""],
               [datetime(2026, 3, 14, tzinfo=timezone(timedelta(hours=1))), ""],
               [datetime(2026, 3, 14, tzinfo=timezone.utc), moment], [moment, datetime(2026, 3, 14, 1)]]
    digests = [column_digest(c) for c in columns]
    assert len(set(digests)) == len(columns)
    assert column_digest(np.array(["a", "b"], dtype=object)) == column_digest(["a", "b"])
    assert column_digest(np.array([day, ""], dtype=object)) == column_digest([date(2026, 3, 14), ""])


def _written_and_read_content(path, change=None):
    """Per table with IDs: the content key _written_content makes of the table a cold read gives (after
    ``change(tables)``), and the content key the read makes of the sheet's cells."""
    from dataclasses import replace

    from crm_sheets.model.values import read_context
    from crm_sheets.store.core import read as core_read
    from crm_sheets.store.xlsx.grid import XlsxGrids

    tables, _ = read(path, cached=False)
    if change is not None:
        change(tables)
    ctx = replace(read_context(tables.settings), date1904=tables.date1904)
    grids = XlsxGrids.open(path, workers=0)
    try:
        out = {}
        for name, t in tables.tables.items():
            if not t.schema.id_prefix:
                continue
            layout = core_read._layout(grids, t.sheet, t.schema, tables.lang, None, None)
            made = core_read._written_content(t, t.schema, tables.lang, ctx, tables.lists, tables.meta, None)
            out[name] = (made, core_read._content(layout))
        return out
    finally:
        grids.close()


def test_the_digests_made_from_a_tables_values_are_those_of_its_cells_as_read(book):
    # what the cache keeps after our write for a table whose rows moved: every column's digest made from the
    # table (text, options as labels, numbers, dates, checkboxes, unreadable cells, typed text) is the digest of
    # the cells a read finds, so the next read after a person's save takes those columns from the cache
    for name, (made, as_read) in _written_and_read_content(book).items():
        assert made is not None and made[0] == as_read[0], name
        assert made[1] == as_read[1], (name, {f for f in as_read[1] if made[1].get(f) != as_read[1][f]})


def test_a_column_whose_values_would_not_read_back_as_they_are_gets_no_digest(book):
    def pad(tables):
        leads = tables["leads"]
        df = leads.df.copy()
        df.loc["L-00003", "last_contacted"] = pd.Timestamp("2026-01-05 10:30")  # a date column reads no time
        df.loc["L-00004", "city"] = ""  # a read gives None for an empty cell, never ''
        leads.df = df

    made, as_read = _written_and_read_content(book, pad)["leads"]
    assert "last_contacted" not in made[1] and "city" not in made[1]
    assert "email" in made[1] and "created" in made[1]
    assert {f: d for f, d in made[1].items()} == {f: as_read[1][f] for f in made[1]}
