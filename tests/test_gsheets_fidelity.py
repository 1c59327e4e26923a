"""What a team's own Sheet holds that we did not write, read and copied as it is: a workbook of their own adopted
and pushed (its Mapping sheet is theirs to correct and is read on every run), a column of their own whose
numbers go on with dates, and formulas of their own (pull copies them as formulas); the emulator's values writes
change values only, as Sheets does; text from outside that looks like a formula stays text when a person edits
its cell in the Sheet."""
from __future__ import annotations

import datetime as dt
import shutil

import openpyxl
import pytest

pytest.importorskip("gspread")

from click.testing import CliRunner  # noqa: E402

from crm_sheets.cli import cli  # noqa: E402
from crm_sheets.model.tables import column_letter  # noqa: E402
from crm_sheets.store import open_store  # noqa: E402
from crm_sheets.store.gsheets import parse_spec  # noqa: E402
from crm_sheets.store.gsheets.client import connect  # noqa: E402
from crm_sheets.store.gsheets.pull import WHOLE_SHEET_ROWS, pull  # noqa: E402
from helpers import worksheet  # noqa: E402

NOW = dt.datetime(2026, 3, 15, 9, 0)
pytestmark = pytest.mark.slow


def _a1(row: int, col: int) -> str:
    return f"{column_letter(col - 1)}{row}"


def _cli(*args) -> str:
    got = CliRunner().invoke(cli, [str(a) for a in args])
    assert got.exit_code in (0, 1), got.output
    assert got.exception is None or isinstance(got.exception, SystemExit), got.exception
    return got.output


@pytest.fixture
def sheet_of(gsheets_emulator, monkeypatch, tmp_path):
    """sheet_of(path) -> gsheets://ID of a new spreadsheet the workbook file was pushed to by ``crm-sheets push``."""
    monkeypatch.setenv("CRM_SHEETS_GSHEETS_RPM", "100000")
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "gsheets-state"))
    gsheets_emulator.quota_per_minute = 100_000

    def make(path):
        spec = f"gsheets://{connect().create('CRM')}"
        _cli("push", path, spec)
        return spec
    return make


def _team_workbook(path):
    """A workbook a team made without us: their own headers, a column of numbers that goes on with dates, a
    formula column of theirs."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Prospects"
    ws.append(["Name", "Surname", "E-mail", "Firm", "Signed up", "Value", "Mixed", "Doubled"])
    for i in range(30):
        ws.append([f"Ann{i}", f"Lee{i}", f"ann{i}@ex{i % 7}.com", f"Firm {i % 5}", dt.date(2026, 1, 1) + dt.timedelta(days=i),
                   1000 * i, i if i < 10 else dt.date(2026, 2, 1) + dt.timedelta(days=i), f"=F{i + 2}*2"])
    for r in range(12, 32):
        ws.cell(r, 7).number_format = "yyyy-mm-dd"
    wb.save(path)
    return path


def test_an_adopted_workbook_pushed_reads_its_own_fields_through_its_mapping_sheet(sheet_of, tmp_path):
    book = _team_workbook(tmp_path / "team.xlsx")
    _cli("adopt", book)
    spec = sheet_of(book)
    on_file, on_sheet = open_store(book).read()["leads"].df, open_store(spec).read()["leads"].df
    assert {"name", "value", "doubled"} <= set(on_sheet.columns)  # their own fields, as the Mapping sheet says
    assert list(on_sheet.columns) == list(on_file.columns)
    # The Mapping sheet is the team's to correct: not protected as a sheet we regenerate
    ws = worksheet(spec, "Mapping")
    protected = ws.spreadsheet.fetch_sheet_metadata()["sheets"]
    mapping = next(s for s in protected if s["properties"]["title"] == "Mapping")
    assert not mapping.get("protectedRanges")
    _cli("run", spec, "--now", NOW.isoformat(timespec="minutes"))
    assert {"name", "value", "doubled"} <= set(open_store(spec).read()["leads"].df.columns)


def test_pull_copies_a_teams_formulas_and_tells_dates_from_numbers_cell_by_cell(gsheets_emulator, gsheets_client, tmp_path):
    from crm_sheets.gsheets_emulator import create_spreadsheet

    sh = create_spreadsheet(gsheets_client, "Team", sheets=["Mine"])
    ws = sh.worksheet("Mine")
    ws.resize(rows=WHOLE_SHEET_ROWS + 100, cols=4)  # a big sheet: its looks are read by column, not cell by cell
    rows = [["n", "when", "then", "twice"]]
    for i in range(1, 40):
        rows.append([i, i if i < 5 else f"2026-03-{i % 28 + 1:02d}", f"2026-04-{i % 28 + 1:02d}" if i < 5 else i,
                     f"=A{i + 1}*2"])
    ws.update(rows, "A1", value_input_option="USER_ENTERED")
    pull(connect(), sh.id, tmp_path / "copy.xlsx")
    got = openpyxl.load_workbook(tmp_path / "copy.xlsx")["Mine"]
    assert [got.cell(r, 2).value for r in (2, 5)] == [1, 4]  # numbers first...
    assert got.cell(6, 2).value == dt.datetime(2026, 3, 6) and got.cell(6, 2).is_date  # ...then dates, as dates
    assert got.cell(2, 3).value == dt.datetime(2026, 4, 2) and got.cell(2, 3).is_date  # dates first...
    assert got.cell(6, 3).value == 5 and not got.cell(6, 3).is_date  # ...then a number stays a number
    assert got.cell(3, 4).value == "=A3*2"  # their formula, as a formula


def test_values_typed_into_a_cell_keep_its_format_and_validation(gsheets_emulator, gsheets_client):
    from crm_sheets.gsheets_emulator import create_spreadsheet

    sh = create_spreadsheet(gsheets_client, "Team", sheets=["S"])
    ws = sh.worksheet("S")
    sh.batch_update({"requests": [
        {"repeatCell": {"range": {"sheetId": ws.id, "startRowIndex": 0, "endRowIndex": 2, "startColumnIndex": 0,
                                  "endColumnIndex": 1},
                        "cell": {"userEnteredFormat": {"numberFormat": {"type": "CURRENCY", "pattern": '"$"#,##0.00'}},
                                 "dataValidation": {"condition": {"type": "NUMBER_GREATER", "values": [{"userEnteredValue": "0"}]}}},
                        "fields": "userEnteredFormat.numberFormat,dataValidation"}}]})
    ws.update([[5], ["2026-03-15"]], "A1", value_input_option="USER_ENTERED")
    got = sh.fetch_sheet_metadata({"includeGridData": True, "ranges": ["S!A1:A2"]})
    cells = got["sheets"][0]["data"][0]["rowData"]
    for row in cells:
        assert row["values"][0]["userEnteredFormat"]["numberFormat"]["type"] == "CURRENCY"
        assert row["values"][0]["dataValidation"]["condition"]["type"] == "NUMBER_GREATER"
    assert ws.acell("A1").value == "$5.00"


def test_text_from_outside_that_looks_like_a_formula_stays_text_when_a_person_edits_its_cell(sheet_of, built_book, tmp_path):
    book = shutil.copy(built_book(sample_data=50, now=NOW), tmp_path / "crm.xlsx")
    spec = sheet_of(book)
    export = tmp_path / "leads.csv"
    export.write_text("First Name,Last Name,Email,Company,Description\n"
                      'Zoe,Ng,zoe@example.com,Acme,"=HYPERLINK(""http://example.com"")"\n', encoding="utf-8")
    _cli("import", spec, export, "--now", NOW.isoformat(timespec="minutes"))
    ws = worksheet(spec, "Leads")
    [cell] = ws.findall('=HYPERLINK("http://example.com")')
    # A person edits the cell (double-click, Enter): what they type into it goes in as typed
    ws.update([[cell.value]], cell.address, value_input_option="USER_ENTERED")
    assert ws.acell(cell.address, value_render_option="UNFORMATTED_VALUE").value == '=HYPERLINK("http://example.com")'
    leads = open_store(spec).read()["leads"].df
    assert '=HYPERLINK("http://example.com")' in set(leads["notes"])
    # A plain number typed over a cell with a value of ours still reads as the number typed
    plain = ws.find("zoe@example.com")
    ws.update([["42"]], _a1(plain.row, plain.col), value_input_option="USER_ENTERED")
    assert ws.acell(_a1(plain.row, plain.col), value_render_option="UNFORMATTED_VALUE").value == 42


def test_text_imported_into_the_file_that_looks_like_a_formula_is_pushed_as_plain_text(sheet_of, built_book, tmp_path):
    book = shutil.copy(built_book(sample_data=50, now=NOW), tmp_path / "crm.xlsx")
    export = tmp_path / "leads.csv"
    export.write_text("First Name,Last Name,Email,Company,Description\n"
                      'Zoe,Ng,zoe@example.com,Acme,"=HYPERLINK(""http://example.com"")"\n'
                      "Al,Bo,al@example.com,Acme,plain words\n", encoding="utf-8")
    _cli("import", book, export, "--now", NOW.isoformat(timespec="minutes"))
    spec = sheet_of(book)
    ws = worksheet(spec, "Leads")
    [cell] = ws.findall('=HYPERLINK("http://example.com")')
    ws.update([[cell.value]], cell.address, value_input_option="USER_ENTERED")  # a person edits the cell
    assert ws.acell(cell.address, value_render_option="FORMULA").value == '=HYPERLINK("http://example.com")'
    assert '=HYPERLINK("http://example.com")' in set(open_store(spec).read()["leads"].df["notes"])
    # the team's ordinary text is not turned into Plain text: typing a number there still gives a number
    [plain] = ws.findall("plain words")
    ws.update([["42"]], plain.address, value_input_option="USER_ENTERED")
    assert ws.acell(plain.address, value_render_option="UNFORMATTED_VALUE").value == 42


def test_a_date_typed_into_a_text_column_reads_as_the_date_shown_as_in_the_file(sheet_of, built_book, tmp_path):
    from helpers import as_file

    spec = sheet_of(built_book(sample_data=50, now=NOW))
    ws = worksheet(spec, "Leads")
    header = ws.row_values(1)
    notes, city = header.index("Notes") + 1, header.index("City") + 1
    ws.update([["3/15/2026"], ["1,234"], ["10:30"]], _a1(2, notes), value_input_option="USER_ENTERED")
    ws.update([["2026-03-01"]], _a1(3, city), value_input_option="USER_ENTERED")
    leads = open_store(spec).read()["leads"].df
    # the date they see, not its serial 46096; a time alone is a time, not a date of 1899
    assert list(leads["notes"].iloc[:3]) == ["2026-03-15", "1234", "10:30:00"]
    assert leads["city"].iloc[1] == "2026-03-01"
    on_file = open_store(as_file(spec)).read()["leads"].df
    assert list(on_file["notes"].iloc[:3]) == list(leads["notes"].iloc[:3])
    assert on_file["city"].iloc[1] == leads["city"].iloc[1]


def test_rows_cut_and_pasted_lower_and_a_find_and_replace_give_the_same_run_as_the_file(sheet_of, built_book, tmp_path):
    from test_gsheets_edits import NOW as EDITS_NOW, lead_ids, same_as_file

    spec = sheet_of(built_book(sample_data=50, now=EDITS_NOW))
    before = lead_ids(spec)
    ws = worksheet(spec, "Leads")
    last = len(ws.col_values(1))
    moved = ws.cell(5, 1).value
    ws.cut_range(f"A5:{_a1(5, ws.col_count)}", f"A{last + 3}")  # a record cut and pasted below a gap
    ws.spreadsheet.batch_update({"requests": [{"findReplace": {"find": "Atlanta", "replacement": "ATL",
                                                               "sheetId": ws.id, "matchEntireCell": True}}]})
    same_as_file(spec, tmp_path)
    assert lead_ids(spec) == before
    assert moved in ws.col_values(1)


def test_a_gsheets_spec_without_an_id_says_what_to_write():
    got = CliRunner().invoke(cli, ["check", "gsheets://"])
    assert got.exit_code == 2 and got.exception is None or isinstance(got.exception, SystemExit)
    assert "not a spreadsheet ID" in got.output and "gsheets://ID" in got.output
