"""The emulator refuses validation rules, conditional formats and charts the real API refuses beyond the
discovery schema: a condition type the feature does not support, a wrong number of values, a formula without
"=", a dropdown's range on no sheet, chart data or anchors outside any grid. Refused batches change nothing."""
from __future__ import annotations

import pytest
import requests

pytest.importorskip("gspread")

from crm_sheets.gsheets_emulator import create_spreadsheet  # noqa: E402

COLUMN = {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 10, "startColumnIndex": 0, "endColumnIndex": 1}


def batch(emulator, sid, *reqs):
    return requests.post(f"{emulator.url}/v4/spreadsheets/{sid}:batchUpdate", json={"requests": list(reqs)}, timeout=10)


def validation(condition):
    return {"setDataValidation": {"range": COLUMN, "rule": {"condition": condition}}}


def highlight(condition):
    return {"addConditionalFormatRule": {"index": 0, "rule": {"ranges": [COLUMN], "booleanRule": {
        "condition": condition, "format": {"textFormat": {"bold": True}}}}}}


def chart(source, anchor_row=0):
    data = {"sourceRange": {"sources": [source]}}
    return {"addChart": {"chart": {"spec": {"title": "t", "basicChart": {
        "chartType": "COLUMN", "domains": [{"domain": data}], "series": [{"series": data}]}},
        "position": {"overlayPosition": {"anchorCell": {"sheetId": 0, "rowIndex": anchor_row, "columnIndex": 0}}}}}}


@pytest.fixture
def sid(gsheets_emulator, gsheets_client):
    sh = create_spreadsheet(gsheets_client, "CRM", sheets=["Leads", "Lists"])
    return sh.id


@pytest.mark.parametrize("request_body, message", [
    (validation({"type": "ONE_OF_RANGE", "values": [{"userEnteredValue": "='Nowhere'!A1:A5"}]}), "Unable to parse range"),
    (validation({"type": "ONE_OF_RANGE", "values": [{"userEnteredValue": "Lists!A1:A5"}]}), "must start with '='"),
    (validation({"type": "NUMBER_BETWEEN", "values": [{"userEnteredValue": "1"}]}), "number of condition values"),
    (validation({"type": "DATE_IS_VALID", "values": [{"userEnteredValue": "1"}]}), "number of condition values"),
    (validation({"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": "A2>1"}]}), "must start with '='"),
    (validation({"type": "BLANK"}), "for data validation"),
    (validation({"type": "ONE_OF_LIST"}), "number of condition values"),
    (highlight({"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "a"}]}), "for conditional formatting"),
    (highlight({"type": "BOOLEAN"}), "for conditional formatting"),
    (chart({"sheetId": 0, "startRowIndex": 0, "endRowIndex": 5000, "startColumnIndex": 0, "endColumnIndex": 1}), "exceeds grid limits"),
    (chart({"sheetId": 77, "startRowIndex": 0, "endRowIndex": 5, "startColumnIndex": 0, "endColumnIndex": 1}), "No grid with id: 77"),
    (chart({"sheetId": 0, "startRowIndex": 0, "endRowIndex": 5, "startColumnIndex": 0, "endColumnIndex": 1}, anchor_row=5000),
     "anchor cell is outside the grid"),
])
def test_rules_and_charts_the_api_refuses_are_refused_and_change_nothing(gsheets_emulator, sid, request_body, message):
    answer = batch(gsheets_emulator, sid, {"updateCells": {"rows": [{"values": [{"userEnteredValue": {"stringValue": "x"}}]}],
                                                         "fields": "userEnteredValue",
                                                         "start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 0}}},
                   request_body)
    assert answer.status_code == 400 and message in answer.json()["error"]["message"]
    assert "requests[1]" in answer.json()["error"]["message"]
    got = requests.get(f"{gsheets_emulator.url}/v4/spreadsheets/{sid}/values/Leads!A1", timeout=10).json()
    assert "values" not in got  # the first request of the refused batch did not land either


def test_the_rules_a_push_makes_are_accepted(gsheets_emulator, sid):
    answer = batch(gsheets_emulator, sid,
                   validation({"type": "ONE_OF_RANGE", "values": [{"userEnteredValue": "='Lists'!$A$2:$A$9"}]}),
                   validation({"type": "DATE_IS_VALID"}),
                   validation({"type": "BOOLEAN"}),
                   validation({"type": "NUMBER_BETWEEN", "values": [{"userEnteredValue": "0"}, {"userEnteredValue": "10"}]}),
                   highlight({"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": '=$A2>INDIRECT("limit")'}]}),
                   chart({"sheetId": 0, "startRowIndex": 0, "endRowIndex": 5, "startColumnIndex": 0, "endColumnIndex": 1}))
    assert answer.status_code == 200, answer.text
