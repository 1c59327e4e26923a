"""upgrade on a Google Sheet (the Sheets API emulator): custom fields' columns and the template's new tables
added through the store protocol, looking and validated as push makes them, every cell and a colleague's own
columns, rules and charts kept; a run writing to a table the Sheet lacks makes it."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("gspread")

from crm_sheets.builder import build_workbook  # noqa: E402
from crm_sheets.cli import cli  # noqa: E402
from crm_sheets.errors import WorkbookChanged  # noqa: E402
from crm_sheets.gsheets_emulator import validate_against_discovery  # noqa: E402
from crm_sheets.model.changeset import ChangeSet, RowAppend  # noqa: E402
from crm_sheets.model.schema import load_schema  # noqa: E402
from crm_sheets.model.tables import column_letter  # noqa: E402
from crm_sheets.builder.layout import column_index  # noqa: E402
from crm_sheets.store.gsheets import GSheetsStore  # noqa: E402
from crm_sheets.store.gsheets.client import Pacer, RetryPolicy, connect  # noqa: E402
from crm_sheets.store.gsheets.push import push  # noqa: E402
from crm_sheets.upgrade import AddedColumn, AddedTable, plan_upgrade, upgrade  # noqa: E402

NOW = dt.datetime(2026, 3, 2, 9, 0)


@pytest.fixture
def conn(gsheets_emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "state"))
    return connect(endpoint=gsheets_emulator.url, pacer=Pacer(600),
                   policy=RetryPolicy(attempts=5, base=0.05, cap=0.2, total_seconds=30))


@pytest.fixture
def older_sheet(conn, tmp_path):
    """A spreadsheet pushed from a workbook made before Duplicate Decisions and Email Templates joined the
    template, with a custom field typed into its Fields sheet: (spreadsheet ID, store)."""
    schema = load_schema("sales")
    older = replace(schema, tables={k: v for k, v in schema.tables.items() if k not in ("dedupe_decisions", "email_templates")},
                    lists={k: v for k, v in schema.lists.items() if k != "dedupe_decision"})
    path = tmp_path / "old.xlsx"
    leads = pd.DataFrame({"first_name": ["Ana", "Bob", "Chloé"], "last_name": ["Lopez", "Martin", "Durand"],
                          "email": ["ana@acme.io", "bob@globex.com", "chloe@initech.fr"]},
                         index=pd.Index(["L-00001", "L-00002", "L-00003"], name="id"))
    build_workbook(path, older, "en", data={"leads": leads}, now=NOW)
    sid = conn.create("CRM")
    push(path, conn, sid)
    store = GSheetsStore(f"gsheets://{sid}", connection=conn)
    tables = store.read()
    changes = ChangeSet()
    changes.appends.append(RowAppend("fields", "new0", {"table": "Leads", "name": "budget", "title": "Budget", "type": "money",
                                                        "required": False, "description": "Their budget"}))
    store.apply(changes, tables)
    return sid, store


def grids(conn, sid):
    got = conn.get(sid, fields="sheets(properties(title))")
    titles = [s["properties"]["title"] for s in got["sheets"]]
    return {t: vr.get("values") or [] for t, vr in zip(titles, conn.batch_get(sid, ["'" + t + "'" for t in titles]))}


def sheet_id(conn, sid, title):
    got = conn.get(sid, fields="sheets(properties(sheetId,title))")
    return next(s["properties"]["sheetId"] for s in got["sheets"] if s["properties"]["title"] == title)


def writes(emulator, since):
    return [e for e in emulator.log[since:] if e["methodId"] == "sheets.spreadsheets.batchUpdate"]


def test_upgrade_on_a_sheet_adds_custom_fields_and_new_tables_keeping_every_cell(conn, older_sheet, gsheets_emulator):
    sid, _store = older_sheet
    # A colleague's own column right of the Leads table (under its own header), with data.
    leads_width = len(conn.batch_get(sid, ["'Leads'!1:1"])[0]["values"][0])
    leads = sheet_id(conn, sid, "Leads")
    conn.batch_update(sid, [{"appendDimension": {"sheetId": leads, "dimension": "COLUMNS", "length": 3}}, {"updateCells": {
        "rows": [{"values": [{"userEnteredValue": {"stringValue": "My notes"}}]},
                 {"values": [{"userEnteredValue": {"stringValue": "call back"}}]}],
        "fields": "userEnteredValue", "start": {"sheetId": leads, "rowIndex": 0, "columnIndex": leads_width}}}])
    before = grids(conn, sid)
    since = len(gsheets_emulator.log)
    dry = upgrade(f"gsheets://{sid}", dry_run=True)
    assert dry.added_columns and not writes(gsheets_emulator, since)

    report = upgrade(f"gsheets://{sid}")
    assert report.written and report.path == f"gsheets://{sid}"
    assert report.added_tables == [AddedTable("email_templates", "Email Templates"),
                                   AddedTable("dedupe_decisions", "Duplicate Decisions")]
    # The new column goes past the colleague's column, never onto it.
    assert report.added_columns == [AddedColumn("leads", "budget", "Leads", column_letter(leads_width + 1))]
    assert len(writes(gsheets_emulator, since)) == 1  # one atomic batch

    after = grids(conn, sid)
    for title, rows in before.items():  # every cell kept where it was
        assert [row[: len(r)] for row, r in zip(after[title], rows)] == rows, title
    tables = GSheetsStore(f"gsheets://{sid}", connection=conn).read()
    assert tables["leads"].columns["budget"] == column_letter(leads_width + 1)
    assert "My notes" in tables["leads"].extra_columns
    assert tables["dedupe_decisions"].sheet == "Duplicate Decisions" and len(tables["dedupe_decisions"]) == 0
    assert tables["email_templates"].df["key"].tolist() == [r["key"] for r in load_schema("sales").tables["email_templates"].rows]
    assert tables.meta["seq.dedupe_decisions"] == 1

    # The new column and table look and are validated as push makes them.
    got = conn.get(sid, fields="sheets(properties(title),data(rowData(values(dataValidation,userEnteredFormat(numberFormat)))))",
                   grid_data=True, ranges=[f"'Leads'!{column_letter(leads_width + 1)}2", "'Duplicate Decisions'!A2:J2"])  # its 10 columns, no more
    budget = got["sheets"][0]["data"][0]["rowData"][0]["values"][0]
    assert budget["userEnteredFormat"]["numberFormat"]["type"] == "CURRENCY"
    assert budget["dataValidation"]["condition"]["type"] == "NUMBER_BETWEEN"
    decisions = got["sheets"][1]["data"][0]["rowData"][0]["values"]
    kinds = [(c.get("dataValidation") or {}).get("condition", {}).get("type") for c in decisions]
    assert "ONE_OF_LIST" in kinds or "ONE_OF_RANGE" in kinds
    names = {n["name"] for n in conn.get(sid, fields="namedRanges(name)")["namedRanges"]}
    assert "ids_dedupe_decisions" in names

    # The new table takes rows like any other, and a second upgrade does nothing.
    store = GSheetsStore(f"gsheets://{sid}", connection=conn)
    tables = store.read()
    changes = ChangeSet()
    rid = tables["dedupe_decisions"].allocate_id()
    changes.appends.append(RowAppend("dedupe_decisions", rid, {"record_a": "L-00001", "record_b": "L-00002", "decision": "merge"}))
    store.apply(changes, tables)
    df = GSheetsStore(f"gsheets://{sid}", connection=conn).read().df("dedupe_decisions")
    assert df.loc["DUP-00001", ["record_a", "decision"]].tolist() == ["L-00001", "merge"]
    assert upgrade(f"gsheets://{sid}").changed is False
    for entry in gsheets_emulator.log:
        if entry["methodId"].startswith("sheets."):
            validate_against_discovery(entry["methodId"], entry["body"], entry["query"])


def test_a_value_typed_where_upgrade_adds_a_column_stops_it(conn, older_sheet):
    sid, store = older_sheet
    tables = store.read()
    lacking = [n for n, t in tables.tables.items() if any(f.name not in t.columns for f in t.schema.fields)]
    changes, report = plan_upgrade(tables, store.layout(tables, only=lacking))
    letter = report.added_columns[0].column
    leads = sheet_id(conn, sid, "Leads")
    conn.batch_update(sid, [{"appendDimension": {"sheetId": leads, "dimension": "COLUMNS", "length": 2}},
                            {"updateCells": {"rows": [{"values": [{"userEnteredValue": {"stringValue": "mine"}}]}],
                                             "fields": "userEnteredValue",
                                             "start": {"sheetId": leads, "rowIndex": 30,
                                                       "columnIndex": column_index(letter)}}}])
    with pytest.raises(WorkbookChanged, match="holds a value now"):
        store.apply(changes, tables)
    assert "Duplicate Decisions" not in grids(conn, sid)  # nothing written: the batch is all or nothing


def test_the_cli_upgrades_a_sheet(conn, older_sheet):
    sid, _store = older_sheet
    result = CliRunner().invoke(cli, ["upgrade", f"gsheets://{sid}", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["written"] is True and out["added_columns"][0]["field"] == "budget"
    again = CliRunner().invoke(cli, ["upgrade", f"gsheets://{sid}"])
    assert again.exit_code == 0 and "Nothing to upgrade" in again.output


def test_a_run_writing_to_a_table_the_sheet_lacks_makes_its_sheet(conn, tmp_path):
    from crm_sheets.runner import run
    from crm_sheets.sample import generate

    schema = load_schema("sales")
    older = replace(schema, tables={k: v for k, v in schema.tables.items() if k not in ("merged", "audit_log")})
    data = {k: v for k, v in generate(schema, leads=50, seed=7, now=NOW).tables.items() if k in older.tables}
    path = tmp_path / "old.xlsx"
    build_workbook(path, older, "en", data=data, now=NOW)
    sid = conn.create("CRM")
    push(path, conn, sid)
    run(f"gsheets://{sid}", ["check", "dedupe"], now=NOW)
    tables = GSheetsStore(f"gsheets://{sid}", connection=conn).read()
    assert tables["merged"].sheet == "Merged" and len(tables["merged"]) > 0  # dedupe archived its merges there
    assert "audit_log" in tables.tables
