"""push/new on the Sheets API emulator: a table's validation, highlights and number formats come from the schema
as native Sheets rules; report charts are native charts replaced (not piled up) on each report and come back
as the file's charts on pull; a colleague's own rules and charts on their own sheets are kept."""
from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

pytest.importorskip("gspread")

from crm_sheets.gsheets_emulator import validate_against_discovery  # noqa: E402
from crm_sheets.runner import run, run_jobs  # noqa: E402
from crm_sheets.store.gsheets import GSheetsStore  # noqa: E402
from crm_sheets.store.gsheets.client import Pacer, RetryPolicy, connect  # noqa: E402
from crm_sheets.store.gsheets.pull import pull  # noqa: E402
from crm_sheets.store.gsheets.push import push  # noqa: E402
from crm_sheets.store.gsheets.transfer import new_spreadsheet  # noqa: E402
from helpers import fresh_copy  # noqa: E402

NOW = dt.datetime(2026, 3, 2, 9, 0)
DASHBOARD = ["Open pipeline by stage", "Won revenue by month", "Forecast, next 6 months", "Leads by source"]


@pytest.fixture
def conn(gsheets_emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "state"))
    return connect(endpoint=gsheets_emulator.url, pacer=Pacer(600),
                   policy=RetryPolicy(attempts=5, base=0.05, cap=0.2, total_seconds=30))


def all_requests_valid(emulator) -> int:
    n = 0
    for entry in emulator.log:
        if entry["methodId"].startswith("sheets."):
            validate_against_discovery(entry["methodId"], entry["body"], entry["query"])
            n += 1
    return n


def sheet_of(conn, sid, title, fields):
    got = conn.get(sid, fields=f"sheets(properties(title,gridProperties(rowCount)),{fields})")
    return next(s for s in got["sheets"] if s["properties"]["title"] == title)


def row_cells(conn, sid, title, row):
    """The cells of one row with their validation and number format (row 1-based)."""
    got = conn.get(sid, fields="sheets(data(rowData(values(dataValidation,userEnteredFormat(numberFormat)))))",
                   grid_data=True, ranges=[f"'{title}'!{row}:{row}"])
    return got["sheets"][0]["data"][0]["rowData"][0]["values"]


def headers(conn, sid, title):
    return conn.batch_get(sid, [f"'{title}'!1:1"])[0]["values"][0]


def charts_by_sheet(conn, sid):
    got = conn.get(sid, fields="sheets(properties(title),charts(chartId,spec(title)))")
    return {s["properties"]["title"]: [c["spec"]["title"] for c in s.get("charts") or []]
            for s in got["sheets"] if s.get("charts")}


def test_a_tables_rules_follow_its_header_row_and_read_named_ranges_as_sheets_can():
    from crm_sheets.builder.structure import table_rules
    from crm_sheets.model.schema import load_schema
    from crm_sheets.model.tables import column_letter
    from crm_sheets.store.gsheets import rules

    schema = load_schema("sales")
    cols = {f.name: column_letter(i) for i, f in enumerate(schema.tables["leads"].fields)}
    got = table_rules(schema, "en", "leads", cols, header_row=3, last_row=500,
                      names=["setting_hot_lead_score", "list_lead_status"], currency="EUR")
    by_field = {c.field: c for c in got.columns}
    assert got.first_row == 4
    assert by_field["id"].validation["value"] == "=COUNTIF($A$4:$A$500,A4)<=1"  # rows of the data, not row 2
    assert by_field["owner"].validation is None  # the workbook has no team_names: no dropdown, as the builder does
    hot = next(f for kind, f, _ in got.highlights if kind == "hot")
    assert "$Z4" in hot and rules.with_names(hot, {"setting_hot_lead_score": "x"}).count('INDIRECT("setting_hot_lead_score")') == 2
    assert rules.with_names('=A1="setting_x"', {"setting_x": "x"}) == '=A1="setting_x"'  # quoted text is text
    status = rules.validation(7, 3, None, 13, by_field["status"].validation, {"list_lead_status": "'Lists'!$B$2:$B$9"}.get, {})
    assert status["setDataValidation"]["rule"]["condition"] == {
        "type": "ONE_OF_RANGE", "values": [{"userEnteredValue": "='Lists'!$B$2:$B$9"}]}
    assert status["setDataValidation"]["range"] == {"sheetId": 7, "startRowIndex": 3, "startColumnIndex": 13, "endColumnIndex": 14}


def test_push_gives_table_sheets_the_schemas_validation_highlights_and_number_formats(conn, built_book, gsheets_emulator):
    path = built_book(sample_data=50, now=NOW)
    sid = conn.create("CRM")
    result = push(path, conn, sid)
    assert "validations" not in result.message and "conditional formats" not in result.message
    assert result.rules > 100

    leads = headers(conn, sid, "Leads")
    col = {h: i for i, h in enumerate(leads)}
    first = row_cells(conn, sid, "Leads", 2)
    rules = {h: first[i].get("dataValidation", {}) for h, i in col.items() if i < len(first)}
    assert rules["Status"]["condition"]["type"] == "ONE_OF_RANGE"
    assert rules["Status"]["condition"]["values"][0]["userEnteredValue"].startswith("='Lists'!")
    assert rules["Status"]["strict"] is False  # warning only: a team's new value is kept, check reports it
    assert rules["Email consent"]["condition"] == {"type": "BOOLEAN"}
    assert rules["Created"]["condition"] == {"type": "DATE_IS_VALID"}
    assert rules["Email"]["condition"]["type"] == "CUSTOM_FORMULA"
    assert rules["Score"]["condition"]["type"] == "NUMBER_BETWEEN"
    assert first[col["Created"]]["userEnteredFormat"]["numberFormat"] == {"type": "DATE", "pattern": "yyyy-mm-dd"}

    # The rules reach the spare rows below the data, where people type new records.
    last = sheet_of(conn, sid, "Leads", "conditionalFormats")["properties"]["gridProperties"]["rowCount"]
    spare = row_cells(conn, sid, "Leads", last)
    assert spare[col["Status"]]["dataValidation"]["condition"]["type"] == "ONE_OF_RANGE"

    deals = headers(conn, sid, "Deals")
    amount = row_cells(conn, sid, "Deals", 2)[deals.index("Amount")]["userEnteredFormat"]["numberFormat"]
    assert amount["type"] == "CURRENCY" and "$" in amount["pattern"]  # the Settings currency (USD)

    highlights = [r["booleanRule"]["condition"]["values"][0]["userEnteredValue"]
                  for r in sheet_of(conn, sid, "Leads", "conditionalFormats")["conditionalFormats"]]
    assert any('INDIRECT("setting_hot_lead_score")' in f for f in highlights)  # a named range, read as Sheets can
    tasks = sheet_of(conn, sid, "Tasks", "conditionalFormats")["conditionalFormats"]
    assert len(tasks) == 1 and "TODAY()" in tasks[0]["booleanRule"]["condition"]["values"][0]["userEnteredValue"]
    assert all_requests_valid(gsheets_emulator) >= 3


def test_new_gsheets_builds_the_same_rules_as_push(conn, gsheets_emulator):
    result = new_spreadsheet(f"gsheets://{conn.create('CRM')}", connection=conn, now=NOW)
    assert result.rules > 100 and "validations" not in result.message
    assert all_requests_valid(gsheets_emulator) >= 3


def test_report_charts_are_native_charts_replaced_on_each_run_and_a_colleagues_own_are_kept(conn, built_book, tmp_path,
                                                                                            gsheets_emulator):
    path = built_book(sample_data=50, now=NOW)
    sid = conn.create("CRM")
    push(path, conn, sid)
    # A colleague's own sheet with their own chart, highlight and dropdown.
    conn.batch_update(sid, [{"addSheet": {"properties": {"sheetId": 900, "title": "My Numbers",
                                                         "gridProperties": {"rowCount": 20, "columnCount": 5}}}}])
    own = {"ranges": [{"sheetId": 900, "startRowIndex": 1, "endRowIndex": 10, "startColumnIndex": 1, "endColumnIndex": 2}],
           "booleanRule": {"condition": {"type": "NUMBER_GREATER", "values": [{"userEnteredValue": "100"}]},
                           "format": {"textFormat": {"bold": True}}}}
    conn.batch_update(sid, [
        {"updateCells": {"rows": [{"values": [{"userEnteredValue": {"stringValue": "Month"}},
                                              {"userEnteredValue": {"stringValue": "Calls"}}]},
                                  {"values": [{"userEnteredValue": {"stringValue": "Jan"}}, {"userEnteredValue": {"numberValue": 120}}]}],
                         "fields": "userEnteredValue", "start": {"sheetId": 900, "rowIndex": 0, "columnIndex": 0}}},
        {"addConditionalFormatRule": {"rule": own, "index": 0}},
        {"setDataValidation": {"range": {"sheetId": 900, "startRowIndex": 1, "endRowIndex": 10, "startColumnIndex": 2,
                                         "endColumnIndex": 3},
                               "rule": {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "yes"}]}}}},
        {"addChart": {"chart": {"spec": {"title": "My calls", "basicChart": {
            "chartType": "LINE", "domains": [{"domain": {"sourceRange": {"sources": [
                {"sheetId": 900, "startRowIndex": 1, "endRowIndex": 2, "startColumnIndex": 0, "endColumnIndex": 1}]}}}],
            "series": [{"series": {"sourceRange": {"sources": [
                {"sheetId": 900, "startRowIndex": 1, "endRowIndex": 2, "startColumnIndex": 1, "endColumnIndex": 2}]}}}]}},
            "position": {"overlayPosition": {"anchorCell": {"sheetId": 900, "rowIndex": 3, "columnIndex": 3}}}}}},
    ])
    store = GSheetsStore(f"gsheets://{sid}", connection=conn)
    for day in range(2):  # two reports on different days: both replace the report sheets
        tables = store.read()
        _results, changes = run_jobs(tables, ["report"], now=NOW + dt.timedelta(days=day))
        assert store.apply(changes, tables).written
        charts = charts_by_sheet(conn, sid)
        assert charts["Dashboard"] == DASHBOARD
        assert len(charts["Pipeline"]) == 2 and len(charts["Leads Report"]) == 4
        assert charts["My Numbers"] == ["My calls"]
    mine = sheet_of(conn, sid, "My Numbers", "conditionalFormats,charts(spec(basicChart(chartType)))")
    assert mine["conditionalFormats"] == [own]
    assert row_cells(conn, sid, "My Numbers", 2)[2]["dataValidation"]["condition"]["type"] == "ONE_OF_LIST"
    # A report chart names its series (its range starts on the header above the values).
    dash = sheet_of(conn, sid, "Dashboard", "charts(spec)")["charts"][0]["spec"]["basicChart"]
    assert dash["headerCount"] == 1 and len(dash["series"]) == 2

    result = pull(conn, sid, tmp_path / "copy.xlsx")
    assert result.charts == 18
    wb = openpyxl.load_workbook(tmp_path / "copy.xlsx")
    dashboard = wb["Dashboard"]._charts
    assert len(dashboard) == 4 and type(dashboard[0]).__name__ == "BarChart"
    assert dashboard[0].series[0].tx.strRef.f.startswith("'Dashboard'!$B$")
    assert type(wb["Satisfaction"]._charts[0]).__name__ == "PieChart"
    assert len(wb["My Numbers"]._charts) == 1
    # The rules come back as the file's: highlights with the defined names again, dates, numbers, formulas.
    highlights = [r.formula[0] for cf in wb["Leads"].conditional_formatting for r in cf.rules]
    assert any("setting_hot_lead_score" in f and "INDIRECT" not in f for f in highlights)
    kinds = {dv.type for dv in wb["Leads"].data_validations.dataValidation}
    assert {"list", "date", "decimal", "custom"} <= kinds
    assert [r.formula for cf in wb["My Numbers"].conditional_formatting for r in cf.rules] == [["100"]]
    assert all_requests_valid(gsheets_emulator) > 5


def test_push_copies_a_files_report_charts_and_a_teams_own_rules(conn, built_book, tmp_path, gsheets_emulator):
    path = fresh_copy(built_book(sample_data=50, now=NOW), tmp_path)
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet("Targets")
    ws.append(["Rep", "Target"])
    ws.append(["Ana", 5000])
    ws.conditional_formatting.add("B2:B20", FormulaRule(formula=["$B2>1000"], fill=PatternFill(bgColor="FFC6EFCE")))
    dv = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0")
    dv.add("B2:B20")
    ws.add_data_validation(dv)
    wb.save(path)
    run(path, ["report"], now=NOW)  # the file's report, with its charts

    sid = conn.create("CRM")
    result = push(path, conn, sid)
    assert result.charts == 17 and "charts" not in result.message.split("; not copied:")[-1]
    charts = charts_by_sheet(conn, sid)
    assert charts["Dashboard"] == DASHBOARD and len(charts["Satisfaction"]) == 2
    targets = sheet_of(conn, sid, "Targets", "conditionalFormats")["conditionalFormats"]
    assert targets[0]["booleanRule"]["condition"]["values"] == [{"userEnteredValue": "=$B2>1000"}]
    assert targets[0]["booleanRule"]["format"]["backgroundColorStyle"]["rgbColor"]["green"] == pytest.approx(0xEF / 255)
    assert row_cells(conn, sid, "Targets", 2)[1]["dataValidation"]["condition"] == {
        "type": "NUMBER_GREATER_THAN_EQ", "values": [{"userEnteredValue": "0"}]}
    assert all_requests_valid(gsheets_emulator) >= 3


def test_a_colleagues_stricter_rule_on_a_schema_column_is_kept_over_the_schemas_and_named(conn, built_book, tmp_path,
                                                                                          gsheets_emulator):
    path = fresh_copy(built_book(sample_data=50, now=NOW), tmp_path)
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    head = [c.value for c in ws[1]]
    status, email = head.index("Status") + 1, head.index("Email") + 1
    status_letter = openpyxl.utils.get_column_letter(status)
    theirs = DataValidation(type="list", formula1='"New,Qualified"', showErrorMessage=True, errorStyle="stop")
    theirs.add(f"{status_letter}2:{status_letter}40")  # stricter than the schema's statuses, on part of the column
    ws.add_data_validation(theirs)
    wb.save(path)
    sid = conn.create("CRM")
    result = push(path, conn, sid)
    assert result.kept == [f"Leads!{status_letter}2:{status_letter}40 (status)"]
    assert "kept your own validation instead of the schema's on Leads!" in result.message
    inside, below = row_cells(conn, sid, "Leads", 3), row_cells(conn, sid, "Leads", 45)
    rule = inside[status - 1]["dataValidation"]
    assert rule["condition"] == {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "New"},
                                                                   {"userEnteredValue": "Qualified"}]}
    assert rule["strict"] is True  # theirs rejects other values, as it did in the file
    assert below[status - 1]["dataValidation"]["condition"]["type"] == "ONE_OF_RANGE"  # the schema's, below theirs
    assert inside[email - 1]["dataValidation"] == below[email - 1]["dataValidation"]  # other columns: the schema's
    assert all_requests_valid(gsheets_emulator)


def test_the_sample_crms_own_rules_are_never_taken_for_a_colleagues(built_book):
    from crm_sheets.store.gsheets.push import plan_push

    _structure, _content, result = plan_push(built_book(sample_data=50, now=NOW))
    assert result.kept == [] and result.rules > 100


def test_a_rule_a_colleague_set_on_a_schema_column_in_the_sheet_survives_a_run(conn, built_book, gsheets_emulator,
                                                                               monkeypatch):
    monkeypatch.setenv("CRM_SHEETS_GSHEETS_ENDPOINT", gsheets_emulator.url)
    sid = conn.create("CRM")
    push(built_book(sample_data=50, now=NOW), conn, sid)
    store = GSheetsStore(f"gsheets://{sid}", connection=conn)
    snap_ids = {s["properties"]["title"]: s["properties"]["sheetId"]
                for s in conn.get(sid, fields="sheets.properties(sheetId,title)")["sheets"]}
    status = headers(conn, sid, "Leads").index("Status")
    mine = {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "New"}]}, "strict": True}
    conn.batch_update(sid, [{"setDataValidation": {"range": {"sheetId": snap_ids["Leads"], "startRowIndex": 1,
                                                             "endRowIndex": 30, "startColumnIndex": status,
                                                             "endColumnIndex": status + 1}, "rule": mine}}])
    tables = store.read()
    _results, changes = run_jobs(tables, ["check", "dedupe", "automate", "report"], now=NOW)
    store.apply(changes, tables)
    assert row_cells(conn, sid, "Leads", 5)[status]["dataValidation"] == mine
