"""More of what a team does by hand in a shared Google Sheet between two runs (beyond test_gsheets_edits.py):
columns dragged into another order, a header renamed to one of its aliases, blank rows between records,
checkboxes ticked as TRUE/FALSE, numbers typed as text with thousands separators, percentages and currency
formats, a tab renamed and renamed back, a row copied with its ID, frozen rows and columns, the owner's own
protected range, a filter view, a tab of their own. Each edit goes through the real API on the emulator, then
``crm-sheets run gsheets://ID``: nothing anyone typed is lost, and the results are those of the same workbook
downloaded as a file and run there (test_gsheets_edits.same_as_file).
"""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

pytest.importorskip("gspread")

from click.testing import CliRunner  # noqa: E402

from crm_sheets.cli import cli  # noqa: E402
from crm_sheets.api import report  # noqa: E402
from crm_sheets.store import open_store  # noqa: E402
from helpers import as_file, worksheet  # noqa: E402
from test_gsheets_edits import NOW, a1, frames_equal, header_col, lead_ids, leads_of  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["gsheets"], indirect=True)]


@pytest.fixture
def sheet(built_book, on_backend):
    """gsheets://ID of a 50-lead sample CRM pushed to the emulator, not run yet."""
    return on_backend(built_book(sample_data=50, now=NOW))


def cli_run(spec) -> None:
    """``crm-sheets run gsheets://ID``, as a person runs it: exit 0 (fine) or 1 (data problems reported)."""
    got = CliRunner().invoke(cli, ["run", str(spec), "--now", NOW.isoformat(timespec="minutes")])
    assert got.exit_code in (0, 1), got.output


def same_as_file(spec, tmp_path) -> None:
    """``crm-sheets run`` on the edited Sheet and on the same Sheet downloaded as a workbook file: the same tables
    (the archived rows' Original row keeps each backend's cell details) and the same report figures."""
    twin = shutil.copy(as_file(spec), tmp_path / "twin.xlsx")
    cli_run(spec)
    cli_run(twin)
    frames_equal(open_store(twin).read(), open_store(spec).read(), skip=[("merged", "data")])
    assert report(spec, now=NOW).figures == report(twin, now=NOW).figures


def batch(ws, *requests):
    ws.spreadsheet.batch_update({"requests": list(requests)})


def fixable_email(ws, row: int) -> str:
    """Type an e-mail a run fixes (spaces, capitals) in ``row``: the run must write into the right cell."""
    cell = a1(row, header_col(ws, "Email"))
    ws.update([[" Ana.Lopez@Example.COM "]], cell, value_input_option="RAW")
    return cell


def test_columns_dragged_into_another_order_keep_their_values_and_our_fixes_land_in_the_moved_column(sheet, tmp_path):
    before = leads_of(sheet)
    ws = worksheet(sheet, "Leads")
    email, width = header_col(ws, "Email"), len(ws.row_values(1))
    batch(ws, {"moveDimension": {"source": {"sheetId": ws.id, "dimension": "COLUMNS", "startIndex": email - 1,
                                            "endIndex": email}, "destinationIndex": width}})
    company = header_col(ws, "Company")
    batch(ws, {"moveDimension": {"source": {"sheetId": ws.id, "dimension": "COLUMNS", "startIndex": company - 1,
                                            "endIndex": company}, "destinationIndex": 1}})
    order = ws.row_values(1)
    assert order[-1] == "Email" and order[1] == "Company"
    cell = fixable_email(ws, 4)
    rid = ws.cell(4, 1).value
    same_as_file(sheet, tmp_path)
    assert ws.row_values(1) == order  # their order kept
    assert ws.acell(cell).value == "ana.lopez@example.com"
    after = leads_of(sheet)
    assert after.at[rid, "email"] == "ana.lopez@example.com"
    assert lead_ids(sheet) == set(before.index)
    pd.testing.assert_series_equal(after["company"], before.loc[after.index, "company"])


def test_a_header_renamed_to_an_alias_is_the_same_column_and_no_second_one_is_added(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    before = leads_of(sheet)
    col = header_col(ws, "Email")
    ws.update([["E-mail address"]], a1(1, col), value_input_option="RAW")
    header = ws.row_values(1)
    cell = fixable_email(ws, 5) if False else a1(5, col)
    ws.update([[" Ana.Lopez@Example.COM "]], cell, value_input_option="RAW")
    rid = ws.cell(5, 1).value
    same_as_file(sheet, tmp_path)
    assert ws.row_values(1) == header  # their title kept, no "Email" column added
    assert ws.acell(cell).value == "ana.lopez@example.com"
    after = leads_of(sheet)
    assert after.at[rid, "email"] == "ana.lopez@example.com"
    others = after.index.difference([rid])
    pd.testing.assert_series_equal(after.loc[others, "email"].fillna(""),
                                   before.loc[others, "email"].fillna(""), check_names=False)


def test_blank_rows_between_records_make_no_records_and_lose_none(sheet, tmp_path):
    before = leads_of(sheet)
    ws = worksheet(sheet, "Leads")
    ws.insert_rows([[""]] * 3, row=8, value_input_option="RAW")
    ws.insert_rows([[""]] * 2, row=20, value_input_option="RAW")
    cell = fixable_email(ws, 25)
    rid = ws.cell(25, 1).value
    same_as_file(sheet, tmp_path)
    assert lead_ids(sheet) == set(before.index)
    assert ws.acell(cell).value == "ana.lopez@example.com" and ws.cell(25, 1).value == rid
    assert ws.row_values(9) == [] and ws.row_values(21) == []  # the blank rows stay blank: no IDs written there


def test_checkboxes_ticked_as_true_and_false_read_as_booleans(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    consent, opted = header_col(ws, "Email consent"), header_col(ws, "Opted out")
    batch(ws, {"setDataValidation": {"range": {"sheetId": ws.id, "startRowIndex": 1, "endRowIndex": 51,
                                               "startColumnIndex": consent - 1, "endColumnIndex": consent},
                                     "rule": {"condition": {"type": "BOOLEAN"}}}})
    ws.update([[True], [False], [True]], f"{a1(2, consent)}:{a1(4, consent)}", value_input_option="RAW")
    ws.update([["TRUE"]], a1(5, opted), value_input_option="USER_ENTERED")
    ids = [ws.cell(r, 1).value for r in (2, 3, 4, 5)]
    same_as_file(sheet, tmp_path)
    leads = leads_of(sheet)
    assert [bool(leads.at[i, "consent"]) for i in ids[:3]] == [True, False, True]
    assert bool(leads.at[ids[3], "opted_out"]) is True
    assert ws.get(f"{a1(2, consent)}:{a1(4, consent)}", value_render_option="UNFORMATTED_VALUE") == [[True], [False], [True]]


def test_amounts_typed_with_thousands_separators_percentages_and_currencies_read_as_numbers(sheet, tmp_path):
    deals = worksheet(sheet, "Deals")
    amount, probability = header_col(deals, "Amount"), header_col(deals, "Probability")
    ids = [deals.cell(r, 1).value for r in (2, 3, 4, 5, 6)]
    deals.update([["12,500"]], a1(2, amount), value_input_option="RAW")  # text, as pasted from an e-mail
    deals.update([["$1,200.00"]], a1(3, amount), value_input_option="USER_ENTERED")  # a currency format
    deals.update([["2,750.50"]], a1(4, amount), value_input_option="USER_ENTERED")
    deals.update([["25%"]], a1(5, probability), value_input_option="USER_ENTERED")  # 0.25, shown as a percentage
    deals.update([["40%"]], a1(6, probability), value_input_option="RAW")  # text
    same_as_file(sheet, tmp_path)
    got = open_store(sheet).read()["deals"].df
    assert got.at[ids[0], "amount"] == 12500
    assert got.at[ids[1], "amount"] == 1200
    assert got.at[ids[2], "amount"] == 2750.5
    assert got.at[ids[3], "probability"] == pytest.approx(0.25)
    assert got.at[ids[4], "probability"] == pytest.approx(0.40)
    assert deals.acell(a1(3, amount)).value == "$1,200.00"  # the look they gave it stays


def test_a_tab_renamed_and_renamed_back_is_the_same_table_each_time(sheet, tmp_path):
    before = leads_of(sheet)
    ws = worksheet(sheet, "Leads")
    ws.update_title("Prospects")
    same_as_file(sheet, tmp_path)
    assert open_store(sheet).read()["leads"].sheet == "Prospects"
    ws.update_title("Leads")
    cell = fixable_email(ws, 3)
    cli_run(sheet)
    assert open_store(sheet).read()["leads"].sheet == "Leads"
    titles = [w.title for w in ws.spreadsheet.worksheets()]
    assert titles.count("Leads") == 1 and "Prospects" not in titles
    assert ws.acell(cell).value == "ana.lopez@example.com"
    assert lead_ids(sheet) == set(before.index)


def test_a_row_copied_with_its_id_becomes_a_new_record_and_both_keep_their_values(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    before = leads_of(sheet)
    row = ws.row_values(6)
    first = header_col(ws, "First name") - 1
    last = len(ws.col_values(1))
    copy = list(row)
    copy[first] = "Copied"
    ws.update([copy], f"A{last + 1}", value_input_option="RAW")  # pasted below, its ID with it
    same_as_file(sheet, tmp_path)
    values = ws.get_values()[1:]
    assert [r[first] for r in values if r[0] == row[0]] == [row[first]]  # the original keeps its ID, once
    [new_id] = [r[0] for r in values if r[first] == "Copied"]
    assert new_id != row[0] and new_id not in before.index  # the copy is a record of its own
    assert lead_ids(sheet) == set(before.index) | {new_id}


def test_frozen_rows_and_columns_a_filter_view_and_the_owners_protected_range_stay(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    notes = header_col(ws, "Notes")
    batch(ws, {"updateSheetProperties": {"properties": {"sheetId": ws.id, "gridProperties": {
                  "frozenRowCount": 1, "frozenColumnCount": 3}}, "fields": "gridProperties(frozenRowCount,frozenColumnCount)"}},
          {"addFilterView": {"filter": {"title": "My open leads", "range": {"sheetId": ws.id, "startRowIndex": 0,
                                                                          "endRowIndex": 51}}}},
          {"addProtectedRange": {"protectedRange": {"description": "Owner only", "range": {
              "sheetId": ws.id, "startRowIndex": 1, "startColumnIndex": notes - 1, "endColumnIndex": notes},
              "editors": {"users": ["owner@example.com"]}}}})
    cell = fixable_email(ws, 4)
    same_as_file(sheet, tmp_path)
    assert ws.acell(cell).value == "ana.lopez@example.com"
    got = ws.spreadsheet.fetch_sheet_metadata(params={
        "fields": "sheets(properties(title,gridProperties(frozenRowCount,frozenColumnCount)),filterViews(title),"
                  "protectedRanges(description,warningOnly,editors))"})
    leads = next(s for s in got["sheets"] if s["properties"]["title"] == "Leads")
    grid = leads["properties"]["gridProperties"]
    assert (grid.get("frozenRowCount"), grid.get("frozenColumnCount")) == (1, 3)
    assert [v["title"] for v in leads.get("filterViews", [])] == ["My open leads"]
    owners = [p for p in leads.get("protectedRanges", []) if p.get("description") == "Owner only"]
    assert owners and not owners[0].get("warningOnly") and owners[0]["editors"]["users"] == ["owner@example.com"]


def test_a_tab_of_their_own_is_left_as_it_is(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    mine = ws.spreadsheet.add_worksheet("Team notes", rows=20, cols=4)
    mine.update([["Who", "Note", "When"], ["Ana", "=UPPER(\"call back\")", "3/15/2026"], ["Bo", "00123", "1,200"]],
                "A1", value_input_option="USER_ENTERED")
    before = mine.get_values(value_render_option="FORMULA")
    fixable_email(ws, 3)
    same_as_file(sheet, tmp_path)
    assert mine.get_values(value_render_option="FORMULA") == before
    assert "Team notes" in [w.title for w in ws.spreadsheet.worksheets()]
    assert set(open_store(sheet).read().tables) == set(open_store(sheet).read().tables)  # read twice, same tables



def test_the_id_column_dragged_away_from_column_a_still_finds_every_record(sheet, tmp_path):
    before = leads_of(sheet)
    ws = worksheet(sheet, "Leads")
    width = len(ws.row_values(1))
    batch(ws, {"moveDimension": {"source": {"sheetId": ws.id, "dimension": "COLUMNS", "startIndex": 0, "endIndex": 1},
                                 "destinationIndex": width}})
    header = ws.row_values(1)
    assert header[-1] == "ID"
    cell = fixable_email(ws, 4)
    rid = ws.cell(4, width).value
    new_row = len(ws.col_values(width)) + 1  # a person typed below the last record, no ID
    for title, value in (("First name", "Grace"), ("Last name", "Hopper"), ("Email", "grace@hopper.example")):
        ws.update([[value]], a1(new_row, header_col(ws, title)), value_input_option="RAW")
    same_as_file(sheet, tmp_path)
    assert ws.row_values(1) == header
    [grace] = [r for r in ws.get_values() if "grace@hopper.example" in r]  # rows above may have been archived
    new_id = grace[width - 1]  # its ID written in the ID column where it now is
    assert new_id and new_id not in before.index and leads_of(sheet).at[new_id, "last_name"] == "Hopper"
    assert ws.acell(cell).value == "ana.lopez@example.com"
    after = leads_of(sheet)
    assert after.at[rid, "email"] == "ana.lopez@example.com"
    assert set(before.index) <= lead_ids(sheet)
