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


def test_create_spreadsheet_uses_the_sheets_api_and_opens_the_result(gsheets_emulator, gsheets_client):
    from crm_sheets.gsheets_emulator import create_spreadsheet

    sh = create_spreadsheet(gsheets_client, "CRM", sheets=["Leads", "CRM Dashboard"])
    assert [w.title for w in sh.worksheets()] == ["Leads", "CRM Dashboard"]
    assert [e["methodId"] for e in gsheets_emulator.log] == ["sheets.spreadsheets.create", "sheets.spreadsheets.get",
                                                             "sheets.spreadsheets.get"]


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
                  "developerMetadata,merges,conditionalFormats)"})
    assert meta == {"spreadsheetId": sh.id, "properties": {"title": "CRM"}, "sheets": [
        {"properties": {"title": "Sheet1", "gridProperties": {"rowCount": 1000}}},
        {"properties": {"title": "Leads", "gridProperties": {"rowCount": 10}}}]}


def test_a_fields_mask_naming_no_field_is_refused_as_the_api_does(gsheets_client):
    sh = gsheets_client.create("CRM")
    for mask, path in (("sheets(properties,dataValidation)", "sheets.dataValidation"),
                       ("properties, sheets.properties", " sheets.properties")):
        with pytest.raises(gspread.exceptions.APIError) as exc:
            sh.fetch_sheet_metadata(params={"fields": mask})
        assert api_error(exc) == {"code": 400, "status": "INVALID_ARGUMENT", "message":
                                  f"Error expanding 'fields' parameter. Cannot find matching fields for path '{path}'."}


def test_grid_data_comes_only_for_the_ranges_asked(gsheets_client):
    sh = gsheets_client.create("CRM")
    sh.add_worksheet("CRM Dashboard", rows=5, cols=3).update([["x", 1]], "A2", value_input_option="RAW")
    meta = sh.fetch_sheet_metadata(params={"includeGridData": "true", "ranges": "'CRM Dashboard'!A1:B3"})
    (sheet,) = meta["sheets"]
    assert sheet["properties"]["title"] == "CRM Dashboard"
    (grid,) = sheet["data"]
    assert grid["rowData"] == [{}, {"values": [
        {"userEnteredValue": {"stringValue": "x"}, "effectiveValue": {"stringValue": "x"}, "formattedValue": "x"},
        {"userEnteredValue": {"numberValue": 1}, "effectiveValue": {"numberValue": 1}, "formattedValue": "1"}]}]
    assert len(grid["rowMetadata"]) == 3 and len(grid["columnMetadata"]) == 2
    masked = sh.fetch_sheet_metadata(params={"fields": "sheets.data.rowData.values.userEnteredValue"})
    assert masked["sheets"][1]["data"][0]["rowData"][1] == {"values": [{"userEnteredValue": {"stringValue": "x"}},
                                                                        {"userEnteredValue": {"numberValue": 1}}]}


def test_sheet_properties_update_only_the_masked_fields(gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.add_worksheet("Leads", rows=10, cols=4)
    sh.batch_update({"requests": [{"updateSheetProperties": {
        "properties": {"sheetId": ws.id, "title": "Old leads", "hidden": True, "tabColor": {"red": 1},
                       "gridProperties": {"frozenRowCount": 1, "rowCount": 3}},
        "fields": "title,hidden,tabColor,gridProperties.frozenRowCount"}}]})
    props = sh.fetch_sheet_metadata()["sheets"][1]["properties"]
    assert props["title"] == "Old leads" and props["hidden"] is True and props["tabColor"] == {"red": 1}
    assert props["gridProperties"] == {"rowCount": 10, "columnCount": 4, "frozenRowCount": 1}
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.batch_update({"requests": [{"updateSheetProperties": {"properties": {"sheetId": ws.id, "title": "X"}}}]})
    assert "At least one field must be updated" in api_error(exc)["message"]


def test_protected_ranges_round_trip_warning_only(gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.add_worksheet("Leads", rows=10, cols=4)
    reply = sh.batch_update({"requests": [
        {"addProtectedRange": {"protectedRange": {"range": {"sheetId": ws.id}, "description": "owned by dedupe",
                                                  "warningOnly": True}}},
        {"addProtectedRange": {"protectedRange": {"range": {"sheetId": ws.id, "startColumnIndex": 2,
                                                            "endColumnIndex": 3}, "warningOnly": True}}}]})
    first = reply["replies"][0]["addProtectedRange"]["protectedRange"]
    assert first["description"] == "owned by dedupe" and first["warningOnly"] is True
    assert isinstance(first["protectedRangeId"], int)
    stored = sh.fetch_sheet_metadata(params={"fields": "sheets(properties.sheetId,protectedRanges)"})["sheets"][1]
    assert [p["range"] for p in stored["protectedRanges"]] == [
        {"sheetId": ws.id}, {"sheetId": ws.id, "startColumnIndex": 2, "endColumnIndex": 3}]
    sh.batch_update({"requests": [{"deleteProtectedRange": {"protectedRangeId": first["protectedRangeId"]}}]})
    stored = sh.fetch_sheet_metadata(params={"fields": "sheets.protectedRanges"})["sheets"][1]
    assert [p["range"].get("startColumnIndex") for p in stored["protectedRanges"]] == [2]


def test_developer_metadata_round_trips_and_row_marks_move_with_inserted_rows(gsheets_client, gsheets_endpoint):
    sh = gsheets_client.create("CRM")
    ws = sh.add_worksheet("Leads", rows=10, cols=4)
    reply = sh.batch_update({"requests": [
        {"createDeveloperMetadata": {"developerMetadata": {
            "metadataKey": "crm-sheets.table", "metadataValue": "leads", "visibility": "DOCUMENT",
            "location": {"sheetId": ws.id}}}},
        {"createDeveloperMetadata": {"developerMetadata": {
            "metadataKey": "crm-sheets.row", "metadataValue": "L-7", "visibility": "DOCUMENT",
            "location": {"dimensionRange": {"sheetId": ws.id, "dimension": "ROWS", "startIndex": 4, "endIndex": 5}}}}},
        {"insertDimension": {"range": {"sheetId": ws.id, "dimension": "ROWS", "startIndex": 1, "endIndex": 3}}}]})
    sheet_mark = reply["replies"][0]["createDeveloperMetadata"]["developerMetadata"]
    assert sheet_mark["location"] == {"locationType": "SHEET", "sheetId": ws.id}
    meta = sh.fetch_sheet_metadata(params={"fields": "sheets(properties(sheetId,gridProperties),developerMetadata)"})
    leads = meta["sheets"][1]
    assert leads["properties"]["gridProperties"]["rowCount"] == 12
    assert [(m["metadataKey"], m["metadataValue"]) for m in leads["developerMetadata"]] == [("crm-sheets.table", "leads")]
    found = requests.post(f"{gsheets_endpoint}/v4/spreadsheets/{sh.id}/developerMetadata:search",
                          json={"dataFilters": [{"developerMetadataLookup": {"metadataKey": "crm-sheets.row"}}]}).json()
    (match,) = found["matchedDeveloperMetadata"]
    assert match["developerMetadata"]["location"]["dimensionRange"] == {
        "sheetId": ws.id, "dimension": "ROWS", "startIndex": 6, "endIndex": 7}
    reply = sh.batch_update({"requests": [{"deleteDeveloperMetadata": {"dataFilter": {
        "developerMetadataLookup": {"metadataId": sheet_mark["metadataId"]}}}}]})
    assert reply["replies"][0]["deleteDeveloperMetadata"]["deletedDeveloperMetadata"][0]["metadataValue"] == "leads"
    assert "developerMetadata" not in sh.fetch_sheet_metadata()["sheets"][1]


def test_inserting_and_deleting_rows_moves_cells_merges_and_protected_ranges(gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.sheet1
    ws.update([["h"], ["a"], ["b"], ["c"]], "A1", value_input_option="RAW")
    sh.batch_update({"requests": [
        {"mergeCells": {"range": {"sheetId": 0, "startRowIndex": 3, "endRowIndex": 4, "startColumnIndex": 0,
                                  "endColumnIndex": 2}, "mergeType": "MERGE_ALL"}},
        {"addProtectedRange": {"protectedRange": {"range": {"sheetId": 0, "startRowIndex": 2, "endRowIndex": 4},
                                                  "warningOnly": True}}},
        {"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}},
        {"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 2, "endIndex": 3}}}]})
    assert ws.get_values("A1:A") == [["h"], [""], ["b"], ["c"]]
    sheet = sh.fetch_sheet_metadata()["sheets"][0]
    assert sheet["properties"]["gridProperties"]["rowCount"] == 1000
    assert sheet["merges"] == [{"sheetId": 0, "startRowIndex": 3, "endRowIndex": 4, "startColumnIndex": 0,
                                "endColumnIndex": 2}]
    assert sheet["protectedRanges"][0]["range"] == {"sheetId": 0, "startRowIndex": 2, "endRowIndex": 4}


# -- what the real API refuses -----------------------------------------------------------------------------

def test_unknown_fields_wrong_types_and_enums_are_refused_with_the_real_error_shape(gsheets_client):
    sh = gsheets_client.create("CRM")
    cases = [
        ({"requests": [{"updateCells": {"x": 1}}]},
         'Invalid JSON payload received. Unknown name "x" at \'requests[0].update_cells\': Cannot find field.'),
        ({"requests": [{"addSheet": {"properties": {"gridProperties": {"rowCount": "many"}}}}]},
         "Invalid value at 'requests[0].add_sheet.properties.grid_properties.row_count' (TYPE_INT32), \"many\""),
        ({"requests": [{"insertDimension": {"range": {"sheetId": 0, "dimension": "ROW", "startIndex": 0,
                                                      "endIndex": 1}}}]},
         "Invalid value at 'requests[0].insert_dimension.range.dimension' (TYPE_ENUM), \"ROW\""),
        ({"requests": [{"addSheet": {}, "deleteSheet": {"sheetId": 0}}]},
         "Invalid value at 'requests[0]' (oneof), oneof field 'kind' is already set. Cannot set 'deleteSheet'"),
        ({"requests": [{"updateCells": {"start": {"sheetId": 0}, "fields": "userEnteredValue", "rows": [
            {"values": [{"userEnteredValue": {"stringValue": "a", "numberValue": 1}}]}]}}]},
         "Invalid value at 'requests[0].update_cells.rows[0].values[0].user_entered_value' (oneof), oneof field "
         "'value' is already set. Cannot set 'numberValue'"),
        ({"requests": [{"deleteSheet": {"sheetId": 42}}]}, "Invalid requests[0].deleteSheet: No grid with id: 42"),
        ({"requests": [{"updateCells": {"start": {"sheetId": 0}, "fields": "userEnteredValu", "rows": []}}]},
         "Invalid requests[0].updateCells: Invalid field mask: Cannot find matching fields for path 'userEnteredValu'."),
    ]
    for body, message in cases:
        with pytest.raises(gspread.exceptions.APIError) as exc:
            sh.batch_update(body)
        error = api_error(exc)
        assert (error["code"], error["status"], error["message"]) == (400, "INVALID_ARGUMENT", message)


def test_writes_past_the_grid_are_refused_like_the_api(gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.sheet1
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.batch_update({"requests": [{"updateCells": {"start": {"sheetId": 0, "rowIndex": 1000}, "fields": "userEnteredValue",
                                                       "rows": [{"values": [{"userEnteredValue": {"stringValue": "x"}}]}]}}]})
    assert api_error(exc)["message"] == ("Invalid requests[0].updateCells: Range ('Sheet1'!A1001) exceeds grid limits. "
                                         "Max rows: 1000, max columns: 26")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([["x"]], "AA1", value_input_option="RAW")
    assert api_error(exc)["message"] == "Range ('Sheet1'!AA1) exceeds grid limits. Max rows: 1000, max columns: 26"
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([["a"], ["b"], ["c"]], "A1:A2", value_input_option="RAW")
    assert api_error(exc)["message"] == "Requested writing within range ['Sheet1'!A1:A2], but tried writing to row [3]"


def test_values_writes_without_value_input_option_are_refused(gsheets_client):
    sh = gsheets_client.create("CRM")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.values_update("Sheet1!A1", body={"values": [["x"]]})
    assert api_error(exc) == {"code": 400, "status": "INVALID_ARGUMENT",
                              "message": "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED"}
    with pytest.raises(gspread.exceptions.APIError):
        sh.values_batch_update(body={"data": [{"range": "Sheet1!A1", "values": [["x"]]}]})
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.values_update("Sheet1!A1", params={"valueInputOption": "PARSED"}, body={"values": [["x"]]})
    assert api_error(exc)["message"] == "Invalid value at 'value_input_option' (TYPE_ENUM), \"PARSED\""
    assert "values" not in sh.values_get("Sheet1")


def test_a_batch_with_one_bad_request_changes_nothing(gsheets_client):
    sh = gsheets_client.create("CRM")
    with pytest.raises(gspread.exceptions.APIError):
        sh.batch_update({"requests": [
            {"addSheet": {"properties": {"title": "Leads"}}},
            {"updateCells": {"start": {"sheetId": 0}, "fields": "userEnteredValue",
                             "rows": [{"values": [{"userEnteredValue": {"stringValue": "x"}}]}]}},
            {"deleteSheet": {"sheetId": 12345}}]})
    assert [w.title for w in sh.worksheets()] == ["Sheet1"]
    assert "values" not in sh.values_get("Sheet1")


def test_ranges_with_quoted_titles_apostrophes_whole_columns_and_sheet_only(gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.add_worksheet("Ana's leads", rows=5, cols=3)
    ws.update([["a", "b"], ["c", "d"]], "A1", value_input_option="RAW")
    got = sh.values_batch_get(["'Ana''s leads'!B:B", "'Ana''s leads'", "'Ana''s leads'!A2:B"])["valueRanges"]
    assert [g["range"] for g in got] == ["'Ana''s leads'!B1:B5", "'Ana''s leads'!A1:C5", "'Ana''s leads'!A2:B5"]
    assert [g["values"] for g in got] == [[["b"], ["d"]], [["a", "b"], ["c", "d"]], [["c", "d"]]]
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.values_get("'No such'!A1")
    assert api_error(exc)["message"] == "Unable to parse range: 'No such'!A1"


# -- quota, faults, the log -------------------------------------------------------------------------------------

def test_the_61st_read_in_a_minute_gets_429_resource_exhausted(gsheets_emulator, gsheets_client):
    sh = gsheets_client.create("CRM")
    for _ in range(59):  # opening the spreadsheet was the first read
        sh.values_get("Sheet1!A1")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.values_get("Sheet1!A1")
    error = api_error(exc)
    assert exc.value.response.status_code == 429
    assert error["status"] == "RESOURCE_EXHAUSTED" and error["code"] == 429
    assert error["message"].startswith("Quota exceeded for quota metric 'Read requests' and limit "
                                       "'Read requests per minute per user' of service 'sheets.googleapis.com'")
    assert error["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    sh.values_update("Sheet1!A1", params={"valueInputOption": "RAW"}, body={"values": [["writes count apart"]]})
    from crm_sheets.gsheets_emulator import emulator_client
    other = emulator_client(gsheets_emulator.url, token="another-user")
    assert other.open_by_key(sh.id).sheet1.acell("A1").value == "writes count apart"


def test_the_quota_window_can_be_shortened_so_tests_see_it_refill(gsheets_emulator, gsheets_client):
    requests.post(gsheets_emulator.url + "/_emulator/quota", json={"perMinute": 2, "windowSeconds": 0.3})
    sh = gsheets_client.create("CRM")  # a Drive create (not counted) and a read (open)
    sh.values_get("Sheet1!A1")
    with pytest.raises(gspread.exceptions.APIError):
        sh.values_get("Sheet1!A1")
    import time
    time.sleep(0.35)
    sh.values_get("Sheet1!A1")


def test_injected_503s_hit_the_matching_requests_then_stop(gsheets_emulator, gsheets_client):
    sh = gsheets_client.create("CRM")
    requests.post(gsheets_emulator.url + "/_emulator/faults", json={"status": 503, "count": 2, "match": ":batchUpdate"})
    body = {"requests": [{"addSheet": {"properties": {"title": "Leads"}}}]}
    for _ in range(2):
        with pytest.raises(gspread.exceptions.APIError) as exc:
            sh.batch_update(body)
        assert exc.value.response.status_code == 503
        assert api_error(exc) == {"code": 503, "status": "UNAVAILABLE", "message": "The service is currently unavailable."}
    sh.values_get("Sheet1!A1")  # not matched: unaffected
    sh.batch_update(body)
    assert [w.title for w in sh.worksheets()] == ["Sheet1", "Leads"]


def test_a_dropped_connection_gets_no_answer_and_after_drops_still_apply_the_change(gsheets_emulator, gsheets_client):
    sh = gsheets_client.create("CRM")
    requests.post(gsheets_emulator.url + "/_emulator/faults", json={"drop": 1, "match": ":batchUpdate"})
    body = {"requests": [{"addSheet": {"properties": {"title": "Leads"}}}]}
    with pytest.raises(requests.exceptions.ConnectionError):
        sh.batch_update(body)
    assert [w.title for w in sh.worksheets()] == ["Sheet1"]
    requests.post(gsheets_emulator.url + "/_emulator/faults", json={"drop": 1, "match": ":batchUpdate", "when": "after"})
    with pytest.raises(requests.exceptions.ConnectionError):
        sh.batch_update(body)
    assert [w.title for w in sh.worksheets()] == ["Sheet1", "Leads"]  # done, but the client never heard


def test_the_request_log_has_every_call_and_every_body_fits_the_discovery_document(gsheets_emulator, gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.add_worksheet("Leads", rows=10, cols=3)
    ws.update([["ID"], ["L-1"]], "A1", value_input_option="RAW")
    ws.append_rows([["L-2"]], value_input_option="USER_ENTERED")
    sh.values_batch_get(["Leads!A:A"], params={"valueRenderOption": "UNFORMATTED_VALUE"})
    log = requests.get(gsheets_emulator.url + "/_emulator/requests").json()
    assert [(e["method"], e["methodId"], e["status"]) for e in log] == [
        ("POST", "drive.files.create", 200), ("GET", "sheets.spreadsheets.get", 200),
        ("POST", "sheets.spreadsheets.batchUpdate", 200), ("PUT", "sheets.spreadsheets.values.update", 200),
        ("POST", "sheets.spreadsheets.values.append", 200), ("GET", "sheets.spreadsheets.values.batchGet", 200)]
    assert log[3]["path"] == f"/v4/spreadsheets/{sh.id}/values/'Leads'!A1"
    assert log[3]["query"] == {"valueInputOption": ["RAW"]}
    assert all(e["bytesIn"] >= 0 and e["bytesOut"] > 0 and "time" in e for e in log)
    for e in log:
        if e["methodId"].startswith("sheets."):
            validate_against_discovery(e["methodId"], e["body"], e["query"])
    assert requests.delete(gsheets_emulator.url + "/_emulator/requests").ok
    assert requests.get(gsheets_emulator.url + "/_emulator/requests").json() == []


def test_the_request_log_gives_a_large_body_back_whole(gsheets_emulator, gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.add_worksheet("Leads", rows=3000, cols=3)
    rows = [{"values": [{"userEnteredValue": {"stringValue": f"note {i} " + "x" * 40}}]} for i in range(2500)]
    body = {"requests": [{"updateCells": {"start": {"sheetId": ws.id, "rowIndex": 0, "columnIndex": 0},
                                          "rows": rows, "fields": "userEnteredValue"}}]}
    sh.batch_update(body)
    logged = requests.get(gsheets_emulator.url + "/_emulator/requests").json()[-1]
    assert logged["bytesIn"] > 64 * 1024  # kept compressed in the emulator, given back as sent
    assert logged["body"] == body
    validate_against_discovery(logged["methodId"], logged["body"], logged["query"])


def test_validate_against_discovery_names_what_the_api_would_refuse():
    validate_against_discovery("sheets.spreadsheets.batchUpdate", {"requests": [{"updateCells": {
        "rows": [{"values": [{"userEnteredValue": {"formulaValue": "=1"}}]}], "fields": "*",
        "start": {"sheetId": 1, "rowIndex": 2}}}]})
    with pytest.raises(ApiError) as exc:
        validate_against_discovery("sheets.spreadsheets.batchUpdate",
                                   {"requests": [{"updateSheetProperties": {"properties": {"gridProperties": {
                                       "frozenRows": 1}}, "fields": "gridProperties.frozenRows"}}]})
    assert exc.value.message == ('Invalid JSON payload received. Unknown name "frozenRows" at '
                                 "'requests[0].update_sheet_properties.properties.grid_properties': Cannot find field.")
    with pytest.raises(ApiError):
        validate_against_discovery("sheets.spreadsheets.values.batchGet", None, {"valueRenderOption": "RAW"})


# -- the other request kinds the store sends -----------------------------------------------------------------------

def test_validation_conditional_formats_filter_named_range_and_chart_are_stored_and_returned(gsheets_client):
    sh = gsheets_client.create("CRM")
    column = {"sheetId": 0, "startRowIndex": 1, "startColumnIndex": 2, "endColumnIndex": 3}
    rule = {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "new"}, {"userEnteredValue": "won"}]},
            "strict": False, "showCustomUi": True}
    cf = {"ranges": [column], "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": "won"}]},
                                              "format": {"backgroundColor": {"green": 1}}}}
    chart = {"spec": {"title": "Pipeline", "basicChart": {"chartType": "COLUMN"}},
             "position": {"overlayPosition": {"anchorCell": {"sheetId": 0, "rowIndex": 1, "columnIndex": 5}}}}
    reply = sh.batch_update({"requests": [
        {"setDataValidation": {"range": {**column, "endRowIndex": 4}, "rule": rule}},
        {"addConditionalFormatRule": {"rule": cf, "index": 0}},
        {"setBasicFilter": {"filter": {"range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 10}}}},
        {"addNamedRange": {"namedRange": {"name": "Stages", "range": column}}},
        {"addChart": {"chart": chart}},
        {"updateDimensionProperties": {"range": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 2, "endIndex": 3},
                                       "properties": {"pixelSize": 180}, "fields": "pixelSize"}}]})
    assert [list(r) for r in reply["replies"]] == [[], [], [], ["addNamedRange"], ["addChart"], []]
    chart_id = reply["replies"][4]["addChart"]["chart"]["chartId"]
    meta = sh.fetch_sheet_metadata(params={"includeGridData": "true", "ranges": "Sheet1!C1:C5"})
    sheet = meta["sheets"][0]
    assert sheet["conditionalFormats"] == [cf]
    assert sheet["basicFilter"]["range"] == {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 10}
    assert sheet["charts"][0]["spec"]["title"] == "Pipeline" and sheet["charts"][0]["chartId"] == chart_id
    assert meta["namedRanges"][0]["name"] == "Stages"
    grid = sheet["data"][0]
    assert [row.get("values", [{}])[0].get("dataValidation") for row in grid["rowData"]] == [None, rule, rule, rule]
    assert grid["columnMetadata"] == [{"pixelSize": 180}]
    assert sh.values_get("Stages").get("values") is None  # a named range is a range too
    reply = sh.batch_update({"requests": [{"deleteConditionalFormatRule": {"sheetId": 0, "index": 0}},
                                          {"deleteEmbeddedObject": {"objectId": chart_id}},
                                          {"clearBasicFilter": {"sheetId": 0}}]})
    assert reply["replies"][0] == {"deleteConditionalFormatRule": {"rule": cf}}
    assert set(sh.fetch_sheet_metadata()["sheets"][0]) == {"properties"}


def test_a_named_range_grows_with_update_named_range_and_a_taken_name_is_refused(gsheets_client):
    sh = gsheets_client.create("CRM")
    sh.batch_update({"requests": [{"addNamedRange": {"namedRange": {"namedRangeId": "nr1", "name": "list_stage", "range": {
        "sheetId": 0, "startRowIndex": 1, "endRowIndex": 4, "startColumnIndex": 0, "endColumnIndex": 1}}}},
        {"addNamedRange": {"namedRange": {"name": "other", "range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 1}}}}]})
    grown = {"namedRangeId": "nr1", "name": "list_stage",
             "range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 6, "startColumnIndex": 0, "endColumnIndex": 1}}
    assert sh.batch_update({"requests": [{"updateNamedRange": {"namedRange": grown, "fields": "range"}}]})["replies"] == [{}]
    assert sh.fetch_sheet_metadata()["namedRanges"][0] == grown
    with pytest.raises(gspread.exceptions.APIError, match="already used"):
        sh.batch_update({"requests": [{"updateNamedRange": {"namedRange": {"namedRangeId": "nr1", "name": "Other"},
                                                             "fields": "name"}}]})
    with pytest.raises(gspread.exceptions.APIError, match="No named range with id"):
        sh.batch_update({"requests": [{"updateNamedRange": {"namedRange": {"namedRangeId": "nope", "name": "x"},
                                                             "fields": "name"}}]})


def test_delete_range_shifts_cells_up_and_values_clear_keeps_formats(gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.sheet1
    ws.update([["a", "x"], ["b", "y"], ["c", "z"]], "A1", value_input_option="RAW")
    sh.batch_update({"requests": [{"deleteRange": {"range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 1,
                                                             "startColumnIndex": 0, "endColumnIndex": 1},
                                                   "shiftDimension": "ROWS"}},
                                  {"repeatCell": {"range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 1},
                                                  "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                                                  "fields": "userEnteredFormat.textFormat.bold"}}]})
    assert ws.get_values("A1:B3") == [["b", "x"], ["c", "y"], ["", "z"]]
    ws.batch_clear(["A1:B1"])
    assert ws.get_values("A1:B3") == [["", ""], ["c", "y"], ["", "z"]]
    grid = sh.fetch_sheet_metadata(params={"includeGridData": "true", "ranges": "Sheet1!A1"})["sheets"][0]["data"][0]
    assert grid["rowData"] == [{"values": [{"userEnteredFormat": {"textFormat": {"bold": True}},
                                            "effectiveFormat": {"textFormat": {"bold": True}}}]}]


def test_formulas_are_not_computed_a_cached_result_is_returned_when_written(gsheets_client):
    sh = gsheets_client.create("CRM")
    sh.batch_update({"requests": [{"updateCells": {"start": {"sheetId": 0}, "fields": "userEnteredValue,effectiveValue",
                                                   "rows": [{"values": [
                                                       {"userEnteredValue": {"formulaValue": "=1+1"}},
                                                       {"userEnteredValue": {"formulaValue": "=2+2"},
                                                        "effectiveValue": {"numberValue": 4}}]}]}}]})
    assert sh.sheet1.get("A1:B1", value_render_option="UNFORMATTED_VALUE") == [["", 4]]
    assert sh.sheet1.get("A1:B1", value_render_option="FORMULA") == [["=1+1", "=2+2"]]


@pytest.mark.slow
def test_the_emulator_runs_as_a_command_on_the_port_given(tmp_path):
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "crm_sheets.gsheets_emulator", "--port", str(port),
                             "--quota-per-minute", "5"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip().endswith(f"CRM_SHEETS_GSHEETS_ENDPOINT=http://127.0.0.1:{port})")
        url = f"http://127.0.0.1:{port}"
        made = requests.post(url + "/v4/spreadsheets", json={"properties": {"title": "CLI"}}, timeout=5).json()
        assert made["properties"]["title"] == "CLI"
        statuses = [requests.get(f"{url}/v4/spreadsheets/{made['spreadsheetId']}", timeout=5).status_code
                    for _ in range(6)]
        assert statuses == [200] * 5 + [429]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sort_range_reorders_rows_blanks_last(gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.sheet1
    ws.update([["ID", "Score"], ["L-1", 5], ["L-2", ""], ["L-3", 9], ["L-4", 1]], "A1", value_input_option="RAW")
    sh.batch_update({"requests": [{"sortRange": {"range": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 5},
                                                 "sortSpecs": [{"dimensionIndex": 1, "sortOrder": "DESCENDING"}]}}]})
    assert ws.get_values("A1:B5") == [["ID", "Score"], ["L-3", "9"], ["L-1", "5"], ["L-4", "1"], ["L-2", ""]]


def test_limits_of_the_api_cells_per_spreadsheet_characters_per_cell_and_request_size(gsheets_emulator, gsheets_client):
    sh = gsheets_client.create("CRM")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.batch_update({"requests": [{"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 400_000}}]})
    assert api_error(exc)["message"] == ("Invalid requests[0].appendDimension: This action would increase the number "
                                         "of cells in the workbook above the limit of 10000000 cells.")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.sheet1.update([["x" * 50_001]], "A1", value_input_option="RAW")
    assert api_error(exc)["message"] == "Your input contains more than the maximum of 50000 characters in a single cell."
    requests.post(gsheets_emulator.url + "/_emulator/quota", json={"maxRequestBytes": 1000})
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.sheet1.update([["x" * 600, "y" * 600]], "A1", value_input_option="RAW")
    assert api_error(exc) == {"code": 400, "status": "INVALID_ARGUMENT",
                              "message": "Request payload size exceeds the limit: 1000 bytes."}


def test_a_delayed_answer_times_the_client_out_after_the_change_was_made(gsheets_emulator, gsheets_client):
    sh = gsheets_client.create("CRM")
    requests.post(gsheets_emulator.url + "/_emulator/faults", json={"delay": 0.5, "match": ":batchUpdate"})
    gsheets_client.set_timeout(0.2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        sh.batch_update({"requests": [{"addSheet": {"properties": {"title": "Leads"}}}]})
    gsheets_client.set_timeout(None)
    assert [w.title for w in sh.worksheets()] == ["Sheet1", "Leads"]


def test_duplicate_sheet_copies_cells_and_the_drive_times_follow_writes(gsheets_client):
    sh = gsheets_client.create("CRM")
    sh.sheet1.update([["a", 1]], "A1", value_input_option="RAW")
    created = sh.get_lastUpdateTime()
    copy = sh.duplicate_sheet(0, new_sheet_name="Archive")
    assert copy.title == "Archive" and copy.get_values() == [["a", "1"]]
    assert sh.get_lastUpdateTime() > created
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.batch_update({"requests": [{"updateCells": {
            "range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 1}, "fields": "userEnteredValue",
            "rows": [{"values": [{"userEnteredValue": {"stringValue": "x"}}]}] * 2}}]})
    assert "do not fit in the range" in api_error(exc)["message"]


# -- the pieces, without a server (the quick loop) ---------------------------------------------------------------

@pytest.mark.parametrize("typed, unformatted, shown", [
    ("0612", 612, "612"), ("'0612", "0612", "0612"), ("+49 30 1234", "+49 30 1234", "+49 30 1234"),
    ("1,234.5", 1234.5, "1,234.50"), ("12%", 0.12, "12%"), ("$1,000", 1000, "$1,000.00"),
    ("2024-01-15", 45306, "2024-01-15"), ("1/15/2024", 45306, "1/15/2024"), ("Jan 15, 2024", 45306, "Jan 15, 2024"),
    ("2024-01-15 10:30", 45306.4375, "2024-01-15 10:30:00"), ("3:30 PM", 0.6458333333333334, "3:30 PM"),
    ("true", True, "TRUE"), ("=SUM(A1:A3)", "", ""), ("31/12/2024", "31/12/2024", "31/12/2024"),
])
def test_user_entered_text_is_read_as_sheets_reads_what_people_type(typed, unformatted, shown):
    from crm_sheets.gsheets_emulator.cellvalues import parse_user_entered, render

    entry = parse_user_entered(typed)
    assert render(entry, "UNFORMATTED_VALUE", "SERIAL_NUMBER") == unformatted
    assert render(entry, "FORMATTED_VALUE", "SERIAL_NUMBER") == shown


@pytest.mark.parametrize("text, parsed", [
    ("'CRM Dashboard'!A1:Z", ("CRM Dashboard", 0, None, 0, 26)),
    ("'Ana''s'!B2", ("Ana's", 1, 2, 1, 2)),
    ("Leads!A:C", ("Leads", 0, None, 0, 3)),
    ("Leads!2:4", ("Leads", 1, 4, 0, None)),
    ("A2:B", (None, 1, None, 0, 2)),
])
def test_a1_ranges_parse_to_grid_indices(text, parsed):
    from crm_sheets.gsheets_emulator import a1

    r = a1.parse(text)
    assert (r.sheet, r.start_row, r.end_row, r.start_col, r.end_col) == parsed
    assert a1.format_range("CRM Dashboard", 0, 5, 0, 3) == "'CRM Dashboard'!A1:C5"
    assert a1.format_range("Leads", 0, 1, 27, 28) == "Leads!AB1"


def test_field_masks_select_nested_parts_of_lists_and_objects():
    from crm_sheets.gsheets_emulator.fields import apply_mask, parse_mask

    value = {"spreadsheetId": "x", "properties": {"title": "CRM", "locale": "en_US"},
             "sheets": [{"properties": {"title": "A", "index": 0}, "merges": [1]}, {"properties": {"title": "B"}}]}
    assert apply_mask(value, parse_mask("sheets(properties/title,protectedRanges),properties.title")) == {
        "sheets": [{"properties": {"title": "A"}}, {"properties": {"title": "B"}}], "properties": {"title": "CRM"}}
    assert apply_mask(value, parse_mask("*")) == value


def test_data_filters_read_and_write_the_rows_developer_metadata_marks(gsheets_emulator, gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.add_worksheet("Leads", rows=10, cols=3)
    ws.update([["ID", "Name"], ["L-1", "Ana"], ["L-2", "Bo"]], "A1", value_input_option="RAW")
    sh.batch_update({"requests": [{"createDeveloperMetadata": {"developerMetadata": {
        "metadataKey": "crm-sheets.record", "metadataValue": "L-2", "visibility": "DOCUMENT",
        "location": {"dimensionRange": {"sheetId": ws.id, "dimension": "ROWS", "startIndex": 2, "endIndex": 3}}}}},
        {"insertDimension": {"range": {"sheetId": ws.id, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}}]})
    lookup = {"developerMetadataLookup": {"metadataKey": "crm-sheets.record", "metadataValue": "L-2"}}
    url = f"{gsheets_emulator.url}/v4/spreadsheets/{sh.id}/values"
    got = requests.post(url + ":batchGetByDataFilter", json={"dataFilters": [lookup]}).json()
    assert got["valueRanges"] == [{"valueRange": {"range": "Leads!A4:C4", "majorDimension": "ROWS",
                                                  "values": [["L-2", "Bo"]]}, "dataFilters": [lookup]}]
    put = requests.post(url + ":batchUpdateByDataFilter", json={
        "valueInputOption": "RAW", "data": [{"dataFilter": lookup, "values": [["L-2", "Bea"]]}]}).json()
    assert put["responses"][0]["updatedRange"] == "Leads!A4:B4"
    assert ws.get_values("A1:B4") == [["ID", "Name"], ["", ""], ["L-1", "Ana"], ["L-2", "Bea"]]
    missing = requests.post(url + ":batchUpdateByDataFilter", json={"data": []})
    assert missing.status_code == 400


def test_a_discovery_document_given_by_path_is_the_one_requests_are_checked_against(tmp_path):
    import json

    from crm_sheets.gsheets_emulator.discovery import default_path
    from crm_sheets.gsheets_emulator.server import Emulator

    document = json.loads(default_path().read_text(encoding="utf-8"))
    del document["schemas"]["GridProperties"]["properties"]["frozenRowCount"]  # as if the API dropped a field
    path = tmp_path / "sheets.v4.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    emulator = Emulator(discovery=str(path))
    status, made, _, _ = emulator.handle("POST", "/v4/spreadsheets", {}, b"{}", "test")
    body = json.dumps({"requests": [{"updateSheetProperties": {
        "properties": {"sheetId": 0, "gridProperties": {"frozenRowCount": 1}}, "fields": "gridProperties"}}]})
    status, answer, _, _ = emulator.handle("POST", f"/v4/spreadsheets/{made['spreadsheetId']}:batchUpdate", {},
                                           body.encode(), "test")
    assert status == 400 and 'Unknown name "frozenRowCount"' in answer["error"]["message"]


def test_a_colleagues_edit_can_be_made_to_land_between_a_read_and_a_write(gsheets_emulator, gsheets_client):
    sh = gsheets_client.create("CRM")
    ws = sh.sheet1
    ws.update([["ID", "Stage"], ["L-1", "new"], ["L-2", "new"]], "A1", value_input_option="RAW")
    before = ws.get_values("A1:B3")
    colleague = {"requests": [{"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1,
                                                             "endIndex": 2}}}]}
    requests.post(gsheets_emulator.url + "/_emulator/faults",
                  json={"match": ":batchUpdate", "apply": colleague,
                        "applyValues": {"valueInputOption": "USER_ENTERED", "data": [{"range": "Sheet1!A2:B2",
                                                                                       "values": [["L-3", "won"]]}]}})
    sh.batch_update({"requests": [{"updateCells": {"start": {"sheetId": 0, "rowIndex": 1, "columnIndex": 1},
                                                   "fields": "userEnteredValue",
                                                   "rows": [{"values": [{"userEnteredValue": {"stringValue": "lost"}}]}]}}]})
    assert before == [["ID", "Stage"], ["L-1", "new"], ["L-2", "new"]]
    # the write meant for L-1's row landed on the row the colleague inserted: what a store must detect
    assert ws.get_values("A1:B4") == [["ID", "Stage"], ["L-3", "lost"], ["L-1", "new"], ["L-2", "new"]]
    assert gsheets_emulator.log[-2]["editedBefore"] is True
    refused = requests.post(gsheets_emulator.url + "/_emulator/faults", json={"apply": {"requests": [{"x": {}}]}})
    assert refused.status_code == 400


def test_the_emulator_moves_a_column_with_its_values_formats_and_ranges(gsheets_client):
    """What the tests above rely on: moveDimension as the API does it (the destination counted before the move)."""
    sh = gsheets_client.create("moves")
    ws = sh.sheet1
    ws.update([["a", "b", "c", "d"], [1, 2, 3, 4]], "A1", value_input_option="RAW")
    sh.batch_update({"requests": [{"moveDimension": {"source": {"sheetId": ws.id, "dimension": "COLUMNS",
                                                                "startIndex": 0, "endIndex": 1}, "destinationIndex": 3}}]})
    assert ws.get_values("A1:D2") == [["b", "c", "a", "d"], ["2", "3", "1", "4"]]
    sh.batch_update({"requests": [{"moveDimension": {"source": {"sheetId": ws.id, "dimension": "ROWS",
                                                                "startIndex": 1, "endIndex": 2}, "destinationIndex": 0}}]})
    assert ws.get_values("A1:D2") == [["2", "3", "1", "4"], ["b", "c", "a", "d"]]
