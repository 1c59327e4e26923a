"""What people do to a shared Google Sheet between two runs, and what a run makes of it: sorting, inserting and
deleting rows, dates and numbers typed as a person types them (USER_ENTERED), cleared cells, their own columns
(between ours, with formulas), a renamed tab, very long text, phones with a leading zero, merged cells, a filter,
hidden rows. Each edit is made through the real API on the emulator, then a full run; nothing a person typed is
lost, and the run gives the same tables and figures as the same workbook downloaded as a file and run there.
"""
from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest

pytest.importorskip("gspread")

from crm_sheets.api import report, run  # noqa: E402
from crm_sheets.errors import CrmSheetsError  # noqa: E402
from crm_sheets.model.tables import column_letter  # noqa: E402
from crm_sheets.store import open_store  # noqa: E402
from helpers import as_file, worksheet  # noqa: E402

NOW = dt.datetime(2026, 3, 2, 9, 0)


@pytest.fixture
def sheet(built_book, on_backend):
    """gsheets://ID of a 50-lead sample CRM pushed to the emulator. It has not run yet, so that the file it is
    compared with (the Sheet downloaded after the edit) starts from the same job states: none."""
    return on_backend(built_book(sample_data=50, now=NOW))


pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["gsheets"], indirect=True)]  # on_backend: a Sheet


def header_col(ws, header: str) -> int:
    """The 1-based column of a header in row 1."""
    return ws.row_values(1).index(header) + 1


def row_of(ws, record_id: str) -> int:
    """The 1-based sheet row holding a record (column A holds IDs)."""
    return ws.col_values(1).index(record_id) + 1


def a1(row: int, col: int) -> str:
    return f"{column_letter(col - 1)}{row}"


def frames_equal(a, b, skip=()):
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        drop = [f for t, f in skip if t == name]
        pd.testing.assert_frame_equal(a[name].df.drop(columns=drop, errors="ignore"),
                                      b[name].df.drop(columns=drop, errors="ignore"), obj=name)


def same_as_file(spec, tmp_path):
    """Run every job on the edited Sheet and on the same Sheet downloaded as a workbook file: the same tables
    (the archived rows' Original row keeps each backend's cell details) and the same report figures."""
    twin = shutil.copy(as_file(spec), tmp_path / "twin.xlsx")
    on_sheet, on_file = run(spec, now=NOW), run(twin, now=NOW)
    assert on_sheet.findings == on_file.findings
    frames_equal(open_store(twin).read(), open_store(spec).read(), skip=[("merged", "data")])
    assert report(spec, now=NOW).figures == report(twin, now=NOW).figures
    return on_sheet


def leads_of(spec):
    return open_store(spec).read()["leads"].df


def lead_ids(spec) -> set[str]:
    """Every lead's ID, in Leads or archived in Merged by dedupe (the sample holds a few duplicates)."""
    tables = open_store(spec).read()
    merged = tables["merged"].df
    return set(tables["leads"].df.index) | set(merged.loc[merged["table"].astype(str).str.lower() == "leads", "record"])


def test_a_sorted_table_keeps_every_record_with_its_own_values(sheet, tmp_path):
    before = leads_of(sheet)
    ws = worksheet(sheet, "Leads")
    ws.sort((header_col(ws, "Last name"), "des"), range=f"A2:{a1(len(before) + 1, ws.col_count)}")
    assert ws.col_values(1)[1:] != list(before.index)  # it did move
    same_as_file(sheet, tmp_path)
    after = leads_of(sheet)
    assert lead_ids(sheet) == set(before.index)
    pd.testing.assert_frame_equal(after[["first_name", "notes", "created"]],
                                  before.loc[after.index, ["first_name", "notes", "created"]])


def test_a_row_inserted_in_the_middle_becomes_a_new_record_and_nothing_moves_into_it(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    before = leads_of(sheet)
    new = [""] * ws.col_count
    for header, value in {"First name": "Ada", "Last name": "Byron", "Email": "ada@byron.example",
                          "Company": "Analytical Engines"}.items():
        new[header_col(ws, header) - 1] = value
    ws.insert_rows([new], row=10, value_input_option="RAW")
    same_as_file(sheet, tmp_path)
    after = leads_of(sheet)
    [ada] = after.index[after["email"] == "ada@byron.example"]
    assert ada not in before.index and after.at[ada, "company"] == "Analytical Engines"
    assert worksheet(sheet, "Leads").cell(10, 1).value == ada  # its ID written in its row, not elsewhere
    assert lead_ids(sheet) == set(before.index) | {ada}


def test_a_deleted_row_is_a_record_gone_and_every_other_is_untouched(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    before = leads_of(sheet)
    gone = ws.cell(6, 1).value
    ws.delete_rows(6)
    same_as_file(sheet, tmp_path)
    assert lead_ids(sheet) == set(before.index) - {gone}


def test_dates_and_numbers_typed_as_a_person_types_them_read_as_dates_and_numbers(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    rid = ws.cell(4, 1).value
    ws.update([["12/03/2026"]], a1(4, header_col(ws, "Last contacted")), value_input_option="USER_ENTERED")
    deals = worksheet(sheet, "Deals")
    deal = deals.cell(3, 1).value
    deals.update([["1,200"]], a1(3, header_col(deals, "Amount")), value_input_option="USER_ENTERED")
    deals.update([["1 200"]], a1(4, header_col(deals, "Amount")), value_input_option="USER_ENTERED")
    other = deals.cell(4, 1).value
    same_as_file(sheet, tmp_path)
    tables = open_store(sheet).read()
    assert tables["leads"].df.at[rid, "last_contacted"] == pd.Timestamp(2026, 12, 3)  # en_US: December 3rd
    assert tables["deals"].df.at[deal, "amount"] == 1200
    assert tables["deals"].df.at[other, "amount"] == 1200  # "1 200": text the check reads as the number it shows


def test_a_cleared_cell_is_empty_and_a_required_one_is_reported_at_its_cell(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    rid = ws.cell(5, 1).value
    col = header_col(ws, "Last name")
    ws.batch_clear([a1(5, col)])
    done = same_as_file(sheet, tmp_path)
    assert pd.isna(leads_of(sheet).at[rid, "last_name"])
    assert any(f.record_id == rid and f.field == "last_name" and f.type == "required" for f in done.findings)


def test_a_column_of_their_own_between_ours_keeps_its_values_and_ours_are_written_beside_it(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    ids = ws.col_values(1)[1:]
    col = header_col(ws, "Company")
    ws.insert_cols([["Met at"] + [f"fair {rid}" for rid in ids]], col=col, value_input_option="RAW")
    email = a1(3, header_col(ws, "Email"))
    ws.update([[" Ana.Lopez@Example.COM "]], email, value_input_option="RAW")
    same_as_file(sheet, tmp_path)
    rows = ws.get_values()[1:]
    assert [r[col - 1] for r in rows] == [f"fair {r[0]}" for r in rows]  # theirs, as typed, on their records' rows
    assert ws.acell(email).value == "ana.lopez@example.com"  # ours, fixed in its column
    assert ws.row_values(1)[col - 1:col + 1] == ["Met at", "Company"]


def test_a_renamed_tab_is_still_the_table_and_no_second_one_is_made(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    rid = ws.cell(3, 1).value
    ws.update_title("Prospects")
    ws.update([[" Ana.Lopez@Example.COM "]], a1(3, header_col(ws, "Email")), value_input_option="RAW")
    same_as_file(sheet, tmp_path)
    tables = open_store(sheet).read()
    assert tables["leads"].sheet == "Prospects" and tables["leads"].df.at[rid, "email"] == "ana.lopez@example.com"
    titles = [w.title for w in ws.spreadsheet.worksheets()]
    assert "Leads" not in titles and "Prospects" in titles


def test_a_formula_in_their_own_column_stays_a_formula(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    ws.add_cols(1)
    col = ws.col_count
    ws.update([["Name length"], ["=LEN(B2)"]], a1(1, col), value_input_option="USER_ENTERED")
    ws.update([[" Ana.Lopez@Example.COM "]], a1(2, header_col(ws, "Email")), value_input_option="RAW")
    run(sheet, now=NOW)
    assert ws.acell(a1(2, col), value_render_option="FORMULA").value == "=LEN(B2)"
    assert ws.acell(a1(2, header_col(ws, "Email"))).value == "ana.lopez@example.com"


def test_very_long_text_and_a_phone_with_a_leading_zero_are_kept_as_typed(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    rid = ws.cell(3, 1).value
    long = "call notes " * 4_000  # 44,000 characters (a cell holds 50,000)
    ws.update([[long]], a1(3, header_col(ws, "Notes")), value_input_option="RAW")
    country = header_col(ws, "Country")
    ws.update([["0612345678"]], a1(3, header_col(ws, "Phone")), value_input_option="RAW")
    ws.update([[""]], a1(3, country), value_input_option="RAW")  # no country: the number cannot be rewritten
    done = run(sheet, now=NOW)
    leads = leads_of(sheet)
    assert leads.at[rid, "notes"] == long and leads.at[rid, "phone"] == "0612345678"
    # More than an .xlsx cell holds: said at its cell (a download would cut it), never rewritten
    [too_long] = [f for f in done.findings if f.type == "cell-too-long"]
    assert too_long.cell == a1(3, header_col(ws, "Notes")).join(["Leads!", ""]) and not too_long.fixable


def test_merged_cells_lose_nothing_and_a_run_goes_through_or_says_where(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    notes = header_col(ws, "Notes")
    kept = ws.acell(a1(3, notes)).value
    ws.merge_cells(f"{a1(3, notes)}:{a1(4, notes)}")
    try:
        run(sheet, now=NOW)
    except CrmSheetsError as e:  # a clear line naming the sheet, never a traceback
        assert "Leads" in str(e), str(e)
    assert ws.acell(a1(3, notes)).value == kept


def test_a_filter_and_hidden_rows_stay_and_hidden_records_are_still_checked(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    ws.set_basic_filter()
    rid = ws.cell(4, 1).value
    email = a1(4, header_col(ws, "Email"))
    ws.update([[" Ana.Lopez@Example.COM "]], email, value_input_option="RAW")
    ws.hide_rows(3, 4)  # 0-based, end excluded: sheet row 4
    same_as_file(sheet, tmp_path)
    assert ws.acell(email).value == "ana.lopez@example.com"
    got = ws.spreadsheet.fetch_sheet_metadata(params={"fields": "sheets(properties.title,basicFilter,data.rowMetadata.hiddenByUser)",
                                                      "ranges": "Leads!A1:A6", "includeGridData": "true"})
    leads = next(s for s in got["sheets"] if s["properties"]["title"] == "Leads")
    assert "basicFilter" in leads
    assert [m.get("hiddenByUser", False) for m in leads["data"][0]["rowMetadata"]][:5] == [False, False, False, True, False]
    assert rid in leads_of(sheet).index


def test_a_date_in_their_own_column_is_archived_and_restored_as_a_date_as_in_a_file(sheet, gsheets_emulator):
    """A file's date-formatted cell reads as a date wherever it is; on a Sheet the values come as serial numbers,
    so the cell formats of the numbers in people's own columns of the rows archived are read (one call)."""
    import json

    from crm_sheets.api import unmerge

    would = run(sheet, ["dedupe"], now=NOW, dry_run=True).results[0]
    merged = sorted(f.record_id for f in would.findings if f.type == "duplicate-merged" and f.table == "leads")
    assert merged, "the sample has duplicate leads"
    ws = worksheet(sheet, "Leads")
    ws.add_cols(1)
    col = ws.col_count
    ids = ws.col_values(1)
    ws.update([["Met on"]], a1(1, col), value_input_option="RAW")
    for rid in merged:  # typed as a person types a date: the cell gets a date format
        ws.update([["3/15/2026"]], a1(ids.index(rid) + 1, col), value_input_option="USER_ENTERED")
    ws.update([[1200]], a1(ids.index(merged[-1]) + 1, col - 1), value_input_option="RAW")  # a plain number stays one
    since = len(gsheets_emulator.log)
    run(sheet, ["dedupe"], now=NOW)
    calls = [e["methodId"] for e in gsheets_emulator.log[since:] if e.get("methodId", "").startswith("sheets.")]
    assert calls.count("sheets.spreadsheets.getByDataFilter") == 1  # the formats of those cells, in one call
    archived = {json.loads(d)["ID"]: json.loads(d) for d in open_store(sheet).read()["merged"].df["data"]}
    for rid in merged:
        assert archived[rid]["Met on"] == "2026-03-15" and archived[rid]["_cells"]["Met on"]["t"] == "date"
    unmerge(sheet, merged[0], now=NOW)
    ws = worksheet(sheet, "Leads")
    row = ws.col_values(1).index(merged[0]) + 1
    assert ws.acell(a1(row, col), value_render_option="UNFORMATTED_VALUE").value == 46096  # a date again (its serial),
    assert ws.acell(a1(row, col)).value == "2026-03-15"  # shown as one


def test_a_spreadsheet_full_to_googles_ten_million_cells_is_said_so_not_called_a_bug(sheet):
    from crm_sheets.store.gsheets import batch, parse_spec
    from crm_sheets.store.gsheets.client import connect

    conn = connect()
    with pytest.raises(CrmSheetsError) as e:  # what a write that grows a big CRM past the cap meets
        conn.batch_update(parse_spec(sheet), [batch.add_sheet("Big", sheet_id=999, index=0, rows=400_000, cols=26)])
    assert "at most 10,000,000 cells" in e.value.message and "bug" not in str(e.value.hint)
