"""``pull gsheets://ID crm.xlsx`` of what a team's Sheet holds that a file cannot hold as it is: formats read for
the whole column of a big table (an own date column blank at the top is still dates), and cells longer than a
workbook cell (cut to 32,767 characters and named, never silently)."""
from __future__ import annotations

import datetime as dt
import json

import openpyxl
import pytest

pytest.importorskip("gspread")

from click.testing import CliRunner  # noqa: E402

from crm_sheets.cli import cli  # noqa: E402
from crm_sheets.model.tables import column_letter  # noqa: E402
from crm_sheets.store.gsheets import parse_spec  # noqa: E402
from crm_sheets.store.gsheets.client import connect  # noqa: E402
from crm_sheets.store.gsheets.pull import WHOLE_SHEET_ROWS, XLSX_MAX_CHARS, pull  # noqa: E402
from helpers import worksheet  # noqa: E402

NOW = dt.datetime(2026, 3, 2, 9, 0)
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["gsheets"], indirect=True)]


@pytest.fixture
def sheet(built_book, on_backend):
    return on_backend(built_book(sample_data=50, now=NOW))


def _a1(row: int, col: int) -> str:
    return f"{column_letter(col - 1)}{row}"


def test_an_own_date_column_blank_at_the_top_of_a_big_sheet_pulls_as_dates(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    ws.add_rows(WHOLE_SHEET_ROWS)  # a big sheet: its formats are read per column, not cell by cell
    ws.add_cols(1)
    col = ws.col_count
    ws.update([["Met on"]], _a1(1, col), value_input_option="RAW")
    # Blank in the first rows (the rows a big sheet's look used to be read from), dates typed below
    ws.update([["3/15/2026"], ["4/1/2026"]], f"{_a1(30, col)}:{_a1(31, col)}", value_input_option="USER_ENTERED")
    ws.update([[1200]], _a1(32, col), value_input_option="RAW")  # a number typed in it stays a number
    result = pull(connect(), parse_spec(sheet), tmp_path / "copy.xlsx")
    leads = openpyxl.load_workbook(tmp_path / "copy.xlsx")["Leads"]
    assert leads.cell(30, col).value == dt.datetime(2026, 3, 15)
    assert leads.cell(31, col).value == dt.datetime(2026, 4, 1)
    assert leads.cell(30, col).is_date
    created = [c.value for c in leads[1]].index("Created") + 1
    assert isinstance(leads.cell(2, created).value, dt.datetime)  # the schema's date column, as before
    assert result.calls == 4 and not result.cut


def test_a_cell_longer_than_a_workbook_cell_is_cut_and_named_in_the_result(sheet, tmp_path):
    ws = worksheet(sheet, "Leads")
    notes = ws.row_values(1).index("Notes") + 1
    long = "call notes " * 4_000  # 44,000 characters: a Sheets cell holds 50,000, a workbook cell 32,767
    ws.update([[long]], _a1(3, notes), value_input_option="RAW")
    ws.update([["short"]], _a1(4, notes), value_input_option="RAW")
    got = CliRunner().invoke(cli, ["pull", sheet, str(tmp_path / "copy.xlsx"), "--json"])
    assert got.exit_code == 0, got.output
    [cut] = json.loads(got.output)["cut"]
    assert cut == {"sheet": "Leads", "cell": f"Leads!{_a1(3, notes)}", "row": 3, "column": column_letter(notes - 1),
                   "header": "Notes", "length": 44_000}
    leads = openpyxl.load_workbook(tmp_path / "copy.xlsx")["Leads"]
    assert leads.cell(3, notes).value == long[:XLSX_MAX_CHARS] and leads.cell(4, notes).value == "short"
    said = CliRunner().invoke(cli, ["pull", sheet, str(tmp_path / "again.xlsx")])
    assert said.exit_code == 0, said.output
    text = " ".join(said.output.split())
    assert f"Leads!{_a1(3, notes)} (Notes), row 3, column {column_letter(notes - 1)}: 44,000 characters" in text
    assert "were cut to that length" in text
