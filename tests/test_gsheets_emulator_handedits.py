"""The emulator takes the requests behind what people do from a Sheet's menus (copy/cut and paste, find and
replace, insert cells, trim whitespace, remove duplicates, randomize, group rows), as the API takes them, so a
test can replay a team's edits; each was a 501 before."""
from __future__ import annotations

import pytest

pytest.importorskip("gspread")

from crm_sheets.gsheets_emulator import create_spreadsheet, validate_against_discovery  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def ws(gsheets_emulator, gsheets_client):
    sh = create_spreadsheet(gsheets_client, "Team", sheets=["S"])
    ws = sh.worksheet("S")
    ws.update([["Name", "City", "Amount"], ["Ann", " Paris  ", 10], ["Bob", "Lyon", 20], ["Ann", " Paris  ", 10],
               ["Cy", "Paris", 30]], "A1", value_input_option="RAW")
    return ws


def _batch(ws, request: dict) -> dict:
    return ws.spreadsheet.batch_update({"requests": [request]})["replies"][0]


def _range(ws, r0, r1, c0, c1) -> dict:
    return {"sheetId": ws.id, "startRowIndex": r0, "endRowIndex": r1, "startColumnIndex": c0, "endColumnIndex": c1}


def test_copy_and_cut_paste_move_cells_as_gspread_sends_them(ws):
    ws.copy_range("A2:C2", "A10")
    assert ws.row_values(10) == ["Ann", " Paris  ", "10"]
    ws.cut_range("A3:C3", "A11")
    assert ws.row_values(11) == ["Bob", "Lyon", "20"] and ws.row_values(3) == []
    _batch(ws, {"copyPaste": {"source": _range(ws, 1, 2, 2, 3), "destination": _range(ws, 11, 14, 2, 3),
                              "pasteType": "PASTE_VALUES"}})
    assert ws.col_values(3)[11:14] == ["10", "10", "10"]  # a larger destination repeats the source


def test_find_and_replace_counts_what_it_changed(ws):
    reply = _batch(ws, {"findReplace": {"find": "paris", "replacement": "Paris (FR)", "allSheets": True}})
    assert reply["findReplace"]["occurrencesChanged"] == 3 and reply["findReplace"]["rowsChanged"] == 3
    assert ws.col_values(2)[1:] == [" Paris (FR)  ", "Lyon", " Paris (FR)  ", "Paris (FR)"]


def test_trim_whitespace_and_remove_duplicates_clean_the_range(ws):
    assert _batch(ws, {"trimWhitespace": {"range": _range(ws, 1, 5, 0, 3)}})["trimWhitespace"]["cellsChangedCount"] == 2
    reply = _batch(ws, {"deleteDuplicates": {"range": _range(ws, 1, 5, 0, 3)}})
    assert reply["deleteDuplicates"]["duplicatesRemovedCount"] == 1
    assert ws.get_all_values()[1:] == [["Ann", "Paris", "10"], ["Bob", "Lyon", "20"], ["Cy", "Paris", "30"]]


def test_insert_cells_shifts_the_cells_below_down(ws):
    _batch(ws, {"insertRange": {"range": _range(ws, 1, 2, 0, 3), "shiftDimension": "ROWS"}})
    assert ws.row_values(2) == [] and ws.row_values(3) == ["Ann", " Paris  ", "10"]


def test_randomize_keeps_every_row_and_groups_are_accepted(ws, gsheets_emulator):
    before = sorted(map(tuple, ws.get_all_values()[1:]))
    _batch(ws, {"randomizeRange": {"range": _range(ws, 1, 5, 0, 3)}})
    assert sorted(map(tuple, ws.get_all_values()[1:])) == before
    ws.add_dimension_group_rows(1, 3)
    for entry in gsheets_emulator.log:
        if entry["methodId"].startswith("sheets."):
            validate_against_discovery(entry["methodId"], entry["body"], entry["query"])
