"""Cells over what a spreadsheet cell holds (Excel: 32,767 characters): check reports each one with where,
how long and what to do; nothing crm-sheets writes holds a cell over the limit, and a person's long cell
is left exactly as it was rather than cut.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.model.limits import MAX_CELL_CHARS, cell_length
from crm_sheets.store.xlsx.package import open_package
from crm_sheets.store.xlsx.sheetxml import cell_xml, fit_cell
from crm_sheets.workbook import new_workbook

NOW = dt.datetime(2026, 11, 2, 9, 0)
LONG_NAME = "  " + "Ana" * 13_334 + "  "  # 40,006 characters, with spaces check would trim


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return new_workbook(tmp_path_factory.mktemp("limits") / "crm.xlsx", sample_leads=50, now=NOW)


def with_long_first_name(src: Path, dst: Path, text: str = LONG_NAME) -> tuple[Path, str]:
    with open_package(src) as pkg:
        part = pkg.sheet("Leads").part
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            data = zi.read(info)
            if info.filename == part:
                m = re.search(rb'<c r="B2"[^>]*?(?:/>|>.*?</c>)', data, re.S)
                cell = f'<c r="B2" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'.encode()
                data = data[: m.start()] + cell + data[m.end():]
            zo.writestr(info.filename, data)
    return dst, part


def texts(path: Path) -> dict[str, list[str]]:
    """Every inline or shared string of every worksheet, unescaped, by part."""
    out: dict[str, list[str]] = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/sheet") or name == "xl/sharedStrings.xml":
                xml = zf.read(name).decode("utf-8")
                out[name] = [html.unescape(t) for t in re.findall(r"<t\b[^>]*>(.*?)</t>", xml, re.S)]
    return out


def invoke(*args: str):
    return CliRunner().invoke(cli, [*args, "--now", NOW.isoformat()])


@pytest.mark.slow
def test_check_reports_a_cell_over_the_limit_with_its_cell_length_and_what_to_do(pristine, tmp_path):
    path, _ = with_long_first_name(pristine, tmp_path / "crm.xlsx")
    result = invoke("check", "--dry-run", "--json", str(path))
    assert result.exit_code == 1
    findings = [f for job in json.loads(result.output)["results"] for f in job["findings"]]
    [long] = [f for f in findings if f["type"] == "cell-too-long"]
    assert long["cell"] == "Leads!B2" and long["field"] == "first_name" and long["severity"] == "error"
    assert "40,006 characters" in long["message"] and "32,767" in long["message"] and "shorten it" in long["message"]
    assert len(long["value"]) < 100
    # the extra spaces are still seen, but never offered as a fix: the fix would write the cell back
    assert not any(f["fixable"] and f["cell"] == "Leads!B2" for f in findings)


@pytest.mark.slow
@pytest.mark.parametrize("command", [["run"], ["check", "--fix"]])
def test_nothing_written_holds_a_cell_over_the_limit_and_the_long_cell_is_left_as_it_was(pristine, tmp_path, command):
    path, part = with_long_first_name(pristine, tmp_path / "crm.xlsx")
    result = invoke(*command, str(path))
    assert result.exit_code in (0, 1), result.output
    assert "Saved" in result.output
    written = texts(path)
    assert LONG_NAME in written[part], "the person's cell is kept exactly, not cut and not trimmed"
    over = [(name, cell_length(t)) for name, ts in written.items() for t in ts if cell_length(t) > MAX_CELL_CHARS]
    assert over == [(part, len(LONG_NAME))]


def test_our_own_text_over_the_limit_is_cut_with_a_mark_saying_how_long_it_was():
    for text in ("x" * 40_000, "😀" * 20_000, "a" + "😀" * 16_383 + "b"):
        cut = fit_cell(text)
        assert cell_length(cut) <= MAX_CELL_CHARS
        assert cut.endswith(f"[cut: {cell_length(text):,} characters, more than a cell holds]")
        assert text.startswith(cut.split(" … [cut:")[0])
    assert fit_cell("short") == "short"
    assert fit_cell("y" * MAX_CELL_CHARS) == "y" * MAX_CELL_CHARS
    xml = cell_xml("A1", "z" * 50_000)
    assert len(re.search(r"<t>(.*?)</t>", xml).group(1)) <= MAX_CELL_CHARS


def test_a_record_too_long_to_archive_in_one_cell_is_refused_before_anything_is_written(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_writer import build_workbook, leads_tables

    from crm_sheets.errors import CrmSheetsError
    from crm_sheets.model import ChangeSet, RowArchive
    from crm_sheets.store.xlsx.writer import apply_changeset

    def long_note(wb):  # two cells of 20,000 characters: each fits in its cell, the archived row would not
        wb.get_worksheet_by_name("Leads").write_string(3, 4, "n" * 20_000)
        wb.get_worksheet_by_name("Leads").write_string(3, 2, "m" * 20_000)

    book = build_workbook(tmp_path / "book.xlsx", extras=long_note)
    cs = ChangeSet(archives=[RowArchive("leads", "L-00003", "merged", {"merged_into": "L-00001", "reason": "dup"})])
    out = tmp_path / "out.xlsx"
    with pytest.raises(CrmSheetsError, match="L-00003 holds more text than one cell of merged can keep"):
        apply_changeset(book, out, cs, leads_tables())


def test_a_long_text_is_found_in_a_column_that_also_holds_numbers_and_empty_cells():
    from test_check import lead, leads, make_tables

    from crm_sheets.jobs.check import check

    emoji = "\U0001F600" * 17_000  # 17,000 characters, 34,000 UTF-16 units: over the limit as Excel counts
    rows = leads(lead(notes="x" * 40_000), lead(notes=None), lead(notes=emoji), lead(notes="short"))
    tables = make_tables(leads=rows)
    tables["leads"].df["city"] = pd.Series([7, None, "y" * (MAX_CELL_CHARS + 1), "Paris"], dtype=object,
                                           index=tables["leads"].df.index)
    found = sorted((f.record_id, f.field) for f in check(tables, now=NOW).findings if f.type == "cell-too-long")
    ids = list(tables["leads"].df.index)
    assert found == sorted([(ids[0], "notes"), (ids[2], "notes"), (ids[2], "city")])
