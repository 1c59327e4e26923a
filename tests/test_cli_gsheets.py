"""crm-sheets new/push/run/pull with gsheets://ID, through the CLI, on the Sheets API emulator."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("gspread")

from crm_sheets.cli import cli  # noqa: E402
from crm_sheets.store import read_workbook  # noqa: E402
from crm_sheets.store.gsheets import GSheetsStore  # noqa: E402
from crm_sheets.store.gsheets.client import connect  # noqa: E402


@pytest.fixture
def spreadsheet(gsheets_emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "state"))
    return connect(endpoint=gsheets_emulator.url).create("CRM")


def test_push_run_and_pull_a_crm_through_the_cli(spreadsheet, built_book, tmp_path):
    path = built_book(sample_data=50)
    pushed = CliRunner().invoke(cli, ["push", str(path), f"gsheets://{spreadsheet}", "--json"])
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.output)["calls"] == 3
    again = CliRunner().invoke(cli, ["push", str(path), f"gsheets://{spreadsheet}"])
    assert again.exit_code == 2 and "is not empty" in again.output and "Traceback" not in again.output
    ran = CliRunner().invoke(cli, ["run", f"gsheets://{spreadsheet}", "--now", "2026-03-02T09:00", "--json"])
    assert ran.exit_code in (0, 1), ran.output
    assert json.loads(ran.output)["written"] is True
    pulled = CliRunner().invoke(cli, ["pull", f"gsheets://{spreadsheet}", str(tmp_path / "copy.xlsx")])
    assert pulled.exit_code == 0, pulled.output
    on_sheet = GSheetsStore(f"gsheets://{spreadsheet}").read()
    assert read_workbook(tmp_path / "copy.xlsx")["leads"].df.equals(on_sheet["leads"].df)


def test_new_builds_the_template_into_an_empty_spreadsheet(spreadsheet):
    made = CliRunner().invoke(cli, ["new", f"gsheets://{spreadsheet}", "--sample-data", "50"])
    assert made.exit_code == 0, made.output
    assert "Created the CRM in gsheets://" in made.output


def test_a_spreadsheet_that_does_not_exist_is_one_line_and_exit_2(gsheets_emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "state"))
    result = CliRunner().invoke(cli, ["run", "gsheets://NoSuchSheet123", "--now", "2026-03-02T09:00"])
    assert result.exit_code == 2 and "does not exist or is not shared" in result.output
    assert "Traceback" not in result.output
