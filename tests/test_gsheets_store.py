"""GSheetsStore on the Sheets API emulator: the same CRM on a Google Sheet as in the file (every job, the same
tables and report), reads and writes in a constant number of calls, records found again by ID after people
sort, a colleague's edit never overwritten, faults retried or kept pending, values never turned into formulas."""
from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest
import requests

pytest.importorskip("gspread")

from crm_sheets.errors import SheetsUnavailable, UsageError, WorkbookChanged  # noqa: E402
from crm_sheets.model.changeset import ChangeSet, RowAppend  # noqa: E402
from crm_sheets.runner import run_jobs  # noqa: E402
from crm_sheets.store import open_store  # noqa: E402
from crm_sheets.store.gsheets import GSheetsStore, parse_spec  # noqa: E402
from crm_sheets.store.gsheets.client import Pacer, RetryPolicy, connect  # noqa: E402
from crm_sheets.store.gsheets.pull import pull  # noqa: E402
from crm_sheets.store.gsheets.push import push  # noqa: E402
from crm_sheets.store.xlsx import XlsxStore  # noqa: E402
from backends import pushed_copy  # noqa: E402

NOW = dt.datetime(2026, 3, 2, 9, 0)
JOBS = ["check", "dedupe", "automate", "report"]


@pytest.fixture
def conn(gsheets_emulator, tmp_path, monkeypatch):
    """A client of the emulator with its own pacer (the emulator's quota is reset for every test) and quick retries."""
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "state"))
    return connect(endpoint=gsheets_emulator.url, pacer=Pacer(60),
                   policy=RetryPolicy(attempts=5, base=0.05, cap=0.2, total_seconds=30))


@pytest.fixture
def pushed(conn, built_book, gsheets_emulator):
    """pushed(sample_data=50) -> (store, the workbook file it was pushed from). The file is pushed once per session
    and copied inside the emulator after (backends.pushed_copy); ``fresh=True`` pushes it through the API again."""
    def make(sample_data=50, fresh=False):
        path = built_book(sample_data=sample_data, now=NOW)
        spec = pushed_copy(path, gsheets_emulator.url, None if fresh else gsheets_emulator, conn=conn)
        return GSheetsStore(spec, connection=conn), path
    return make


def requests_logged(emulator, since=0):
    """The API calls answered since ``since`` (attempts refused for quota and retried are left out)."""
    return [e for e in emulator.log[since:] if e.get("methodId") and e.get("status") == 200]


def cycle(store, jobs=JOBS):
    tables = store.read()
    _results, changes = run_jobs(tables, jobs, now=NOW)
    store.apply(changes, tables)
    return changes


def frames_equal(a, b, skip=()):
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        drop = [f for t, f in skip if t == name]
        pd.testing.assert_frame_equal(a[name].df.drop(columns=drop, errors="ignore"),
                                      b[name].df.drop(columns=drop, errors="ignore"), obj=name)


def test_open_store_takes_a_gsheets_url_or_id():
    assert parse_spec("gsheets://1AbC-d_E") == "1AbC-d_E"
    assert parse_spec("gsheets://https://docs.google.com/spreadsheets/d/1AbC/edit#gid=0") == "1AbC"
    assert isinstance(open_store("gsheets://1AbC"), GSheetsStore)
    with pytest.raises(UsageError, match="not a spreadsheet ID"):
        parse_spec("gsheets://a b")


def test_a_pushed_workbook_reads_as_the_same_tables_in_two_calls(pushed, gsheets_emulator):
    store, path = pushed()
    since = len(gsheets_emulator.log)
    tables = store.read()
    calls = requests_logged(gsheets_emulator, since)
    assert [c["methodId"] for c in calls] == ["sheets.spreadsheets.get", "sheets.spreadsheets.values.batchGet"]
    assert calls[1]["query"]["valueRenderOption"] == ["UNFORMATTED_VALUE"]
    assert calls[1]["query"]["dateTimeRenderOption"] == ["SERIAL_NUMBER"]
    frames_equal(XlsxStore(path).read(), tables)
    assert tables.settings == XlsxStore(path).read().settings


def test_every_job_gives_the_same_tables_and_report_on_the_sheet_as_on_the_file(pushed, tmp_path):
    store, path = pushed()
    copy = shutil.copy(path, tmp_path / "crm.xlsx")
    on_sheet, on_file = cycle(store), cycle(XlsxStore(copy, backups=0))
    assert on_sheet.summary() == on_file.summary() and on_sheet.summary()["updated_cells"] > 0
    sheet_tables, file_tables = store.read(), XlsxStore(copy).read()
    # The archived rows' Original row keeps each backend's own cell details; everything else is equal.
    frames_equal(file_tables, sheet_tables, skip=[("merged", "data")])
    assert sheet_tables.lists == file_tables.lists and sheet_tables.meta == file_tables.meta
    _r1, second_sheet = run_jobs(sheet_tables, ["report"], now=NOW)
    _r2, second_file = run_jobs(file_tables, ["report"], now=NOW)
    assert [(s.name, s.rows) for s in second_sheet.sheets] == [(s.name, s.rows) for s in second_file.sheets]


def test_a_run_writes_in_two_calls_every_request_valid_for_the_real_api(pushed, gsheets_emulator):
    from crm_sheets.gsheets_emulator import validate_against_discovery

    store, _ = pushed(fresh=True)  # the push's own requests are validated below too
    tables = store.read()
    _results, changes = run_jobs(tables, JOBS, now=NOW)
    since = len(gsheets_emulator.log)
    store.apply(changes, tables)
    calls = requests_logged(gsheets_emulator, since)
    assert [c["methodId"] for c in calls] == ["sheets.spreadsheets.values.batchGet", "sheets.spreadsheets.batchUpdate"]
    assert all(c["status"] == 200 for c in gsheets_emulator.log)
    for c in gsheets_emulator.log:  # everything the store sent, push included
        if c.get("methodId", "").startswith("sheets."):
            validate_against_discovery(c["methodId"], c["body"], {k: v for k, v in c["query"].items()})


def test_a_colleagues_edit_between_read_and_write_is_kept_and_the_run_stops(pushed, gsheets_client):
    store, _ = pushed()
    tables = store.read()
    leads = tables["leads"]
    rid = leads.df.index[3]
    changes = ChangeSet()
    changes.update("leads", rid, "city", "Lisbon")
    cell = leads.cell(rid, "notes").split("!")[1]
    gsheets_client.open_by_key(store.spreadsheet_id).worksheet(leads.sheet).update_acell(cell, "call back Tuesday")
    with pytest.raises(WorkbookChanged, match=f"record {rid}.*the edit is kept"):
        store.apply(changes, tables)
    again = store.read()
    assert again["leads"].df.at[rid, "notes"] == "call back Tuesday"
    assert again["leads"].df.at[rid, "city"] == tables["leads"].df.at[rid, "city"]


def test_records_are_updated_by_id_after_a_colleague_sorts_the_sheet(pushed, gsheets_client):
    store, _ = pushed()
    tables = store.read()
    leads = tables["leads"]
    ids = list(leads.df.index[:3])
    changes = ChangeSet()
    for i, rid in enumerate(ids):
        changes.update("leads", rid, "city", f"City {i}")
    ws = gsheets_client.open_by_key(store.spreadsheet_id).worksheet(leads.sheet)
    # A colleague sorts the records newest first, then inserts two rows at the top.
    rows = ws.get(f"A2:AZ{len(leads.df) + 1}", value_render_option="UNFORMATTED_VALUE",
                  date_time_render_option="SERIAL_NUMBER", pad_values=True)
    ws.update(rows[::-1], "A2", value_input_option="RAW")
    ws.insert_rows([["", ""], ["", ""]], row=2)
    store.apply(changes, tables)
    after = store.read()["leads"]
    assert [after.df.at[rid, "city"] for rid in ids] == ["City 0", "City 1", "City 2"]
    assert after.rows[ids[0]] != leads.rows[ids[0]]  # they did move


def test_text_from_data_is_never_a_formula_and_keeps_its_leading_zeros(pushed):
    store, _ = pushed()
    tables = store.read()
    rid = tables["leads"].allocate_id()
    changes = ChangeSet(appends=[RowAppend("leads", rid, {"company": "=1+1", "phone": "0049 30 1234", "notes": "+SUM(A1)"})])
    changes.sequences["leads"] = tables["leads"].next_id
    store.apply(changes, tables)
    again = store.read()["leads"]
    assert again.df.at[rid, "company"] == "=1+1"
    assert again.df.at[rid, "phone"] == "0049 30 1234"
    assert again.df.at[rid, "notes"] == "+SUM(A1)"


def test_quota_and_server_errors_are_retried_and_counted(pushed, gsheets_emulator):
    store, _ = pushed()
    tables = store.read()
    _results, changes = run_jobs(tables, ["check"], now=NOW)
    url = gsheets_emulator.url + "/_emulator/faults"
    requests.post(url, json={"match": ":batchUpdate", "status": 429, "count": 1}).raise_for_status()
    requests.post(url, json={"match": ":batchUpdate", "status": 503, "count": 1}).raise_for_status()
    requests.post(url, json={"match": "values:batchGet", "drop": 1}).raise_for_status()
    retries = store.stats.retries
    assert store.apply(changes, tables).written
    assert store.stats.retries - retries >= 3
    assert store.read()["leads"].df.equals(tables["leads"].df)


def test_a_write_whose_answer_was_lost_is_applied_once(pushed, gsheets_emulator):
    store, _ = pushed()
    tables = store.read()
    rid = tables["leads"].allocate_id()
    changes = ChangeSet(appends=[RowAppend("leads", rid, {"last_name": "Once"})])
    changes.sequences["leads"] = tables["leads"].next_id
    requests.post(gsheets_emulator.url + "/_emulator/faults",
                  json={"match": ":batchUpdate", "drop": 1, "when": "after"}).raise_for_status()
    assert store.apply(changes, tables).written
    again = store.read()["leads"].df
    assert (again["last_name"] == "Once").sum() == 1


def test_a_write_that_keeps_failing_is_kept_pending_and_written_by_the_next_run(pushed, gsheets_emulator):
    store, _ = pushed()
    tables = store.read()
    rid = tables["leads"].df.index[0]
    changes = ChangeSet()
    changes.update("leads", rid, "city", "Porto")
    requests.post(gsheets_emulator.url + "/_emulator/faults",
                  json={"match": ":batchUpdate", "status": 503, "count": 20}).raise_for_status()
    with pytest.raises(SheetsUnavailable, match="kept and will be written by the next run"):
        store.apply(changes, tables)
    requests.delete(gsheets_emulator.url + "/_emulator/faults").raise_for_status()
    assert store.read()["leads"].df.at[rid, "city"] != "Porto"  # batchUpdate is all or nothing
    pending = store.pending()
    assert pending is not None and pending.updates[0].value == "Porto"
    tables = store.read()
    store.apply(ChangeSet().extend(store.pending()), tables)
    assert store.read()["leads"].df.at[rid, "city"] == "Porto"
    assert store.pending() is None



def test_a_failed_write_whose_changes_cannot_be_kept_says_so(pushed, gsheets_emulator, caplog):
    store, _ = pushed()
    tables = store.read()
    rid = tables["leads"].df.index[0]
    changes = ChangeSet()
    changes.update("leads", rid, "city", "Porto")
    store.state.pending.mkdir(parents=True)  # a folder where the pending file goes: the changes cannot be kept
    requests.post(gsheets_emulator.url + "/_emulator/faults",
                  json={"match": ":batchUpdate", "status": 503, "count": 20}).raise_for_status()
    with caplog.at_level("WARNING", logger="crm_sheets.store"), \
            pytest.raises(SheetsUnavailable, match="nothing was written, the changes could not be kept for the next run either"):
        store.apply(changes, tables)
    assert "could not be kept for the next run" in caplog.text and store.identity in caplog.text

def test_pull_gives_a_workbook_with_the_same_tables(pushed, conn, tmp_path):
    store, path = pushed()
    cycle(store)
    result = pull(conn, store.spreadsheet_id, tmp_path / "pulled.xlsx")
    assert result.calls == 4  # sheets and marks, values, values as entered, formats (a big sheet: first rows)
    frames_equal(store.read(), XlsxStore(tmp_path / "pulled.xlsx").read())


def test_push_refuses_a_spreadsheet_that_holds_values(pushed, conn):
    store, path = pushed()
    with pytest.raises(UsageError, match="is not empty"):
        push(path, conn, store.spreadsheet_id)


def _calls_of_a_run(conn, built_book, gsheets_emulator, gsheets_client, sample_data):
    """The API calls of a `run` on a CRM that ran once already, after a colleague typed one email badly."""
    from crm_sheets.api import run

    path = built_book(sample_data=sample_data, now=NOW)
    sid = conn.create("CRM")
    push(path, conn, sid)
    spec = f"gsheets://{sid}"
    run(spec, now=NOW)
    lead = GSheetsStore(spec, connection=conn).read()["leads"]
    rid = lead.df.index[7]
    cell = lead.cell(rid, "email").split("!")[1]
    gsheets_client.open_by_key(sid).worksheet(lead.sheet).update_acell(cell, " Ana.Lopez@Example.COM ")
    since = len(gsheets_emulator.log)
    report = run(spec, now=NOW)
    calls = [c["methodId"] for c in requests_logged(gsheets_emulator, since)]
    assert report.written
    assert GSheetsStore(spec, connection=conn).read()["leads"].df.at[rid, "email"] == "ana.lopez@example.com"
    return calls


def test_api_calls_per_run_do_not_grow_with_the_number_of_rows(conn, built_book, gsheets_emulator, gsheets_client):
    small = _calls_of_a_run(conn, built_book, gsheets_emulator, gsheets_client, 1_000)
    large = _calls_of_a_run(conn, built_book, gsheets_emulator, gsheets_client, 10_000)
    assert small == large == ["sheets.spreadsheets.get", "sheets.spreadsheets.values.batchGet",
                              "sheets.spreadsheets.values.batchGet", "sheets.spreadsheets.batchUpdate"]


def test_a_second_run_with_nothing_changed_writes_nothing(pushed, gsheets_emulator):
    from crm_sheets.api import run

    store, _ = pushed()
    run(store.name, now=NOW)
    since = len(gsheets_emulator.log)
    report = run(store.name, now=NOW)
    assert not report.written
    # the read alone: the jobs remember what they showed, so no sheet is laid out again and nothing re-read to compare
    assert [c["methodId"] for c in requests_logged(gsheets_emulator, since)] == [
        "sheets.spreadsheets.get", "sheets.spreadsheets.values.batchGet"]


def test_an_unmerge_and_the_report_figures_are_the_same_on_the_sheet_as_on_the_file(pushed, tmp_path):
    from crm_sheets.api import report, run, unmerge

    store, path = pushed()
    copy = shutil.copy(path, tmp_path / "crm.xlsx")
    for target in (store.name, copy):
        run(target, ["check", "dedupe"], now=NOW)
    merged = XlsxStore(copy).read()["merged"].df
    assert len(merged) and len(store.read()["merged"].df) == len(merged)
    rid = str(merged["record"].iloc[0])
    for target in (store.name, copy):
        unmerge(target, rid, now=NOW)
    on_sheet, on_file = store.read(), XlsxStore(copy).read()
    assert rid in on_sheet["leads"].df.index or rid in on_sheet["contacts"].df.index or rid in on_sheet["accounts"].df.index
    frames_equal(on_file, on_sheet, skip=[("merged", "data")])
    assert report(store.name, now=NOW).figures == report(copy, now=NOW).figures


def test_two_runs_never_write_the_same_spreadsheet_at_once(tmp_path, monkeypatch):
    from crm_sheets.errors import WorkbookBusy

    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path))
    first = GSheetsStore("gsheets://1AbC", lock_timeout=0.2)
    second = GSheetsStore("gsheets://1AbC", lock_timeout=0.2)
    with first.lock():
        with pytest.raises(WorkbookBusy, match="another crm-sheets run"):
            with second.lock():
                pass
    with second.lock():  # released with the first
        pass


def test_a_write_whose_landing_cannot_be_checked_is_kept_but_never_applied_twice(pushed, gsheets_emulator):
    store, _ = pushed()
    tables = store.read()
    rid = tables["leads"].allocate_id()
    changes = ChangeSet(appends=[RowAppend("leads", rid, {"last_name": "Once"})])
    changes.sequences["leads"] = tables["leads"].next_id
    faults = gsheets_emulator.url + "/_emulator/faults"
    requests.post(faults, json={"match": ":batchUpdate", "drop": 1, "when": "after"}).raise_for_status()
    requests.post(faults, json={"match": "fields=developerMetadata", "status": 500, "count": 50}).raise_for_status()
    with pytest.raises(SheetsUnavailable, match="kept"):
        store.apply(changes, tables)
    requests.delete(faults).raise_for_status()
    assert store.pending() is not None  # as far as this run knows, it may not have landed
    again = store.read()
    assert store.pending() is None  # its mark is in the spreadsheet: it did land, so it is not applied again
    assert (again["leads"].df["last_name"] == "Once").sum() == 1
