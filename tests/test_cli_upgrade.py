"""`crm-sheets upgrade` on the command line: a short table of what was added, --json equal to the library's
result, one red line and exit 2 for a malformed Fields row."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.upgrade import upgrade
from helpers import fresh_copy
from test_upgrade import CUSTOM, LEADS, add_fields, digest


@pytest.fixture(scope="module")
def built(built_book, tmp_path_factory) -> Path:
    path = fresh_copy(built_book(leads=LEADS), tmp_path_factory.mktemp("fields"))
    add_fields(path, CUSTOM[:3])
    return path


@pytest.fixture
def workbook(built, tmp_path) -> Path:
    return fresh_copy(built, tmp_path)


@pytest.mark.slow
def test_cli_upgrade_prints_the_added_columns_and_saves(workbook):
    result = CliRunner().invoke(cli, ["upgrade", str(workbook)], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "column" in line and "leads" in line]
    cells = [[c for c in line.replace("│", " ").split()] for line in lines]
    assert [c[-3:] for c in cells] == [["seats", "Leads", "AC"], ["budget", "Leads", "AD"], ["nickname", "Leads", "AE"]]
    assert "sales template, schema version 1." in result.output and "Saved" in result.output
    again = CliRunner().invoke(cli, ["upgrade", str(workbook)])
    assert again.exit_code == 0 and "Nothing to upgrade." in again.output


def test_cli_upgrade_json_equals_the_library_result(workbook):
    before = digest(workbook)
    result = CliRunner().invoke(cli, ["upgrade", str(workbook), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == upgrade(workbook, dry_run=True).as_dict()
    assert json.loads(result.output)["added_columns"][1] == {"table": "leads", "field": "budget", "sheet": "Leads", "column": "AD"}
    assert digest(workbook) == before


def test_cli_upgrade_names_the_bad_fields_row_in_one_line_and_exits_2(workbook):
    add_fields(workbook, [("score2", None, "colour", None, False, None)])
    before = digest(workbook)
    result = CliRunner().invoke(cli, ["upgrade", str(workbook)], terminal_width=300)
    assert result.exit_code == 2
    assert "error: Fields, row 5: unknown type 'colour'" in result.output
    assert "Traceback" not in result.output
    assert digest(workbook) == before
