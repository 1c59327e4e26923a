"""The Google Sheets API emulator, driven through gspread's real client: what it stores, what it returns,
what it refuses with the real API's error shape, quota, injected faults and the request log."""
from __future__ import annotations

import gspread
import pytest
import requests

from crm_sheets.gsheets_emulator import ApiError, validate_against_discovery


def api_error(exc_info) -> dict:
    return exc_info.value.response.json()["error"]


def test_a_new_spreadsheet_has_one_sheet_of_1000_rows_by_26_columns(gsheets_client):
    sh = gsheets_client.create("CRM")
    meta = sh.fetch_sheet_metadata()
    assert meta["properties"]["title"] == "CRM"
    (sheet,) = meta["sheets"]
    assert sheet["properties"]["title"] == "Sheet1"
    assert sheet["properties"]["sheetId"] == 0
    assert sheet["properties"]["gridProperties"] == {"rowCount": 1000, "columnCount": 26}


def test_spreadsheets_create_takes_sheets_and_returns_them_with_ids(gsheets_emulator):
    body = {"properties": {"title": "Made"}, "sheets": [{"properties": {"title": "Leads"}},
                                                         {"properties": {"title": "CRM Dashboard"}}]}
    made = requests.post(gsheets_emulator.url + "/v4/spreadsheets", json=body).json()
    assert [s["properties"]["title"] for s in made["sheets"]] == ["Leads", "CRM Dashboard"]
    assert [s["properties"]["index"] for s in made["sheets"]] == [0, 1]
    assert len({s["properties"]["sheetId"] for s in made["sheets"]}) == 2
    assert made["spreadsheetId"] in gsheets_emulator.spreadsheets


def test_add_sheet_replies_with_its_properties_and_refuses_a_duplicate_title(gsheets_client):
    sh = gsheets_client.create("CRM")
    reply = sh.batch_update({"requests": [{"addSheet": {"properties": {
        "title": "Leads", "gridProperties": {"rowCount": 50, "columnCount": 8, "frozenRowCount": 1}}}}]})
    props = reply["replies"][0]["addSheet"]["properties"]
    assert props["title"] == "Leads" and props["index"] == 1 and isinstance(props["sheetId"], int)
    assert props["gridProperties"] == {"rowCount": 50, "columnCount": 8, "frozenRowCount": 1}
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.batch_update({"requests": [{"addSheet": {"properties": {"title": "leads"}}}]})
    assert api_error(exc) == {"code": 400, "status": "INVALID_ARGUMENT", "message":
                              'Invalid requests[0].addSheet: A sheet with the name "leads" already exists. '
                              "Please enter another name."}


def test_raw_keeps_text_and_user_entered_parses_numbers_dates_and_formulas(gsheets_client):
    ws = gsheets_client.create("CRM").sheet1
    row = ["0123", "2024-01-15", "=A1", "1,234.5", "TRUE", "'007"]
    ws.update([row], "A1", value_input_option="RAW")
    ws.update([row], "A2", value_input_option="USER_ENTERED")
    unformatted = ws.get("A1:F2", value_render_option="UNFORMATTED_VALUE", date_time_render_option="SERIAL_NUMBER")
    assert unformatted == [["0123", "2024-01-15", "=A1", "1,234.5", "TRUE", "'007"],
                           [123, 45306, "", 1234.5, True, "007"]]
    formulas = ws.get("A2:F2", value_render_option="FORMULA")
    assert formulas == [[123, 45306, "=A1", 1234.5, True, "007"]]
    shown = ws.get("A2:F2")  # FORMATTED_VALUE
    assert shown == [["123", "2024-01-15", "", "1,234.50", "TRUE", "007"]]


def test_batch_get_gives_serial_dates_and_keeps_leading_zero_text(gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.add_worksheet("CRM Leads", rows=20, cols=5)
    ws.update([["ID", "Phone", "Since"], ["L-1", "0612", "2024-03-01"]], "A1", value_input_option="USER_ENTERED")
    ws.update([["0612"]], "B2", value_input_option="RAW")
    got = sh.values_batch_get(["'CRM Leads'!A1:C", "'CRM Leads'!B:B"],
                              params={"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"})
    first, second = got["valueRanges"]
    assert first == {"range": "'CRM Leads'!A1:C20", "majorDimension": "ROWS",
                     "values": [["ID", "Phone", "Since"], ["L-1", "0612", 45352]]}
    assert second["values"] == [["Phone"], ["0612"]]
    as_text = sh.values_batch_get(["'CRM Leads'!C2"], params={"valueRenderOption": "UNFORMATTED_VALUE",
                                                             "dateTimeRenderOption": "FORMATTED_STRING"})
    assert as_text["valueRanges"][0]["values"] == [["2024-03-01"]]


def test_value_responses_trim_trailing_empty_cells_and_rows_so_rows_are_ragged(gsheets_client):
    ws = gsheets_client.create("CRM").sheet1
    ws.update([["a", "b", "c"], ["d"], [], ["", "e"], ["", ""]], "A1", value_input_option="RAW")
    got = ws.spreadsheet.values_get("Sheet1")
    assert got["range"] == "Sheet1!A1:Z1000"
    assert got["values"] == [["a", "b", "c"], ["d"], [], ["", "e"]]
    columns = ws.spreadsheet.values_get("Sheet1!A1:C4", params={"majorDimension": "COLUMNS"})
    assert columns["values"] == [["a", "d"], ["b", "", "", "e"], ["c"]]
    assert "values" not in ws.spreadsheet.values_get("Sheet1!H1:H9")


def test_update_cells_writes_typed_values_that_are_never_parsed(gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.sheet1
    sh.batch_update({"requests": [{"updateCells": {
        "start": {"sheetId": 0, "rowIndex": 1, "columnIndex": 1},
        "rows": [{"values": [{"userEnteredValue": {"stringValue": "=HYPERLINK(\"x\")"}},
                             {"userEnteredValue": {"numberValue": 45352},
                              "userEnteredFormat": {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}}},
                             {"userEnteredValue": {"formulaValue": "=B2"}},
                             {"userEnteredValue": {"boolValue": False}}]}],
        "fields": "userEnteredValue,userEnteredFormat.numberFormat"}}]})
    assert ws.get("B2:E2", value_render_option="FORMULA") == [['=HYPERLINK("x")', 45352, "=B2", False]]
    assert ws.get("B2:E2") == [['=HYPERLINK("x")', "2024-03-01", "", "FALSE"]]


def test_update_cells_fields_mask_leaves_other_parts_of_the_cell_alone(gsheets_client):
    sh = gsheets_client.create("CRM")
    fmt = {"numberFormat": {"type": "NUMBER", "pattern": "#,##0.00"}}
    sh.batch_update({"requests": [
        {"repeatCell": {"range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 3, "startColumnIndex": 0,
                                  "endColumnIndex": 1}, "cell": {"userEnteredFormat": fmt}, "fields": "userEnteredFormat"}},
        {"updateCells": {"range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 2, "startColumnIndex": 0,
                                   "endColumnIndex": 1},
                         "rows": [{"values": [{"userEnteredValue": {"numberValue": 1234.5}}]}],
                         "fields": "userEnteredValue"}}]})
    assert sh.sheet1.get("A1:A3") == [["1,234.50"]]
    data = sh.fetch_sheet_metadata(params={"includeGridData": "true", "ranges": "Sheet1!A1:A3"})
    cells = [row.get("values", [{}])[0] for row in data["sheets"][0]["data"][0]["rowData"]]
    assert cells[0]["userEnteredValue"] == {"numberValue": 1234.5}
    assert all(c["userEnteredFormat"] == fmt for c in cells)


def test_append_cells_and_values_append_go_after_the_last_row_and_grow_the_grid(gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.add_worksheet("Leads", rows=2, cols=3)
    ws.update([["ID", "Name"], ["L-1", "Ana"]], "A1", value_input_option="RAW")
    sh.batch_update({"requests": [{"appendCells": {"sheetId": ws.id, "fields": "userEnteredValue", "rows": [
        {"values": [{"userEnteredValue": {"stringValue": "L-2"}}, {"userEnteredValue": {"stringValue": "Bo"}}]}]}}]})
    reply = ws.append_rows([["L-3", "Cy"]], value_input_option="RAW")
    assert reply["updates"]["updatedRange"] == "Leads!A4:B4"
    assert ws.get_values("A1:B") == [["ID", "Name"], ["L-1", "Ana"], ["L-2", "Bo"], ["L-3", "Cy"]]
    assert sh.fetch_sheet_metadata()["sheets"][1]["properties"]["gridProperties"]["rowCount"] == 4


def test_get_with_a_fields_mask_returns_only_the_masked_parts(gsheets_client):
    sh = gsheets_client.create("CRM")
    sh.add_worksheet("Leads", rows=10, cols=4)
    meta = sh.fetch_sheet_metadata(params={
        "fields": "spreadsheetId,properties.title,sheets(properties(title,gridProperties.rowCount),protectedRanges,"
                  "developerMetadata,merges,conditionalFormats,dataValidation)"})
    assert meta == {"spreadsheetId": sh.id, "properties": {"title": "CRM"}, "sheets": [
        {"properties": {"title": "Sheet1", "gridProperties": {"rowCount": 1000}}},
        {"properties": {"title": "Leads", "gridProperties": {"rowCount": 10}}}]}
