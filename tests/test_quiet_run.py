"""A run that finds nothing new writes nothing: the workbook keeps every byte, no backup is made, and the run
says so; an edit rewrites the report sheets that show it and leaves the others byte for byte as they were."""
import json
import re
import zipfile
from datetime import datetime

import openpyxl
import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.store.xlsx import XlsxStore
from helpers import fresh_copy

SAMPLE = 300


def cli_run(path, at: str, *extra: str):
    result = CliRunner().invoke(cli, ["run", str(path), "--now", at, *extra], env={"COLUMNS": "200"})
    assert result.exit_code in (0, 1), result.output  # 1: the sample's data problems
    return result.output


def backups(path):
    folder = path.parent / ".crm-backups"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def sheet_parts(path) -> dict[str, bytes]:
    """Each sheet's worksheet XML by sheet name."""
    with zipfile.ZipFile(path) as z:
        wb = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        target = {m.group(1): m.group(2) for m in re.finditer(r'<Relationship\b[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)}
        target.update({m.group(2): m.group(1) for m in re.finditer(r'<Relationship\b[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)})
        out = {}
        for name, rid in re.findall(r'<sheet\b[^>]*?name="([^"]+)"[^>]*?r:id="([^"]+)"', wb):
            t = target[rid]
            out[name] = z.read(t[1:] if t.startswith("/") else f"xl/{t}")
        return out


@pytest.fixture
def settled(built_book, tmp_path):
    """A sample workbook after its first run: what the team has once the jobs have run."""
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    cli_run(path, "2026-11-02T09:00")
    return path


@pytest.mark.slow
def test_a_second_run_with_nothing_edited_leaves_every_byte_makes_no_backup_and_says_so(settled):
    before, kept = settled.read_bytes(), backups(settled)
    out = cli_run(settled, "2026-11-02T09:15")
    assert settled.read_bytes() == before
    assert backups(settled) == kept
    assert "Nothing changed" in out and "no backup" in out
    as_json = json.loads(cli_run(settled, "2026-11-02T09:30", "--json"))
    assert as_json["written"] is False and as_json["backup"] is None
    assert settled.read_bytes() == before


@pytest.mark.slow
def test_after_a_person_edits_and_saves_the_run_writes_once_and_the_next_leaves_the_file_as_it_is(settled):
    wb = openpyxl.load_workbook(settled)  # a whole-package save, as a spreadsheet program does
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    sources = {ws.cell(r, header["Source"]).value for r in range(2, 12)} - {None, ws.cell(2, header["Source"]).value}
    ws.cell(2, header["Source"]).value = sorted(sources)[0]  # the Leads Report counts leads by source
    wb.save(settled)
    kept = backups(settled)
    cli_run(settled, "2026-11-02T10:00")
    assert len(backups(settled)) == len(kept) + 1  # the edit made a real run: written, backed up
    after, kept = settled.read_bytes(), backups(settled)
    out = cli_run(settled, "2026-11-02T10:15")
    assert settled.read_bytes() == after and backups(settled) == kept
    assert "Nothing changed" in out


@pytest.mark.slow
def test_an_edit_no_job_shows_leaves_the_file_as_the_person_saved_it(settled):
    wb = openpyxl.load_workbook(settled)
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    ws.cell(2, header["Notes"]).value = "called, call back in May"  # no report, check or rule shows a note
    wb.save(settled)
    saved, kept = settled.read_bytes(), backups(settled)
    out = cli_run(settled, "2026-11-02T10:00")
    assert settled.read_bytes() == saved and backups(settled) == kept
    assert "Nothing changed" in out


@pytest.mark.slow
def test_an_edited_lead_rewrites_the_report_sheets_that_show_it_and_leaves_the_others_byte_for_byte(settled):
    store = XlsxStore(settled)
    tables = store.read()
    leads = tables.df("leads")
    rid = leads.index[0]
    other = next(v for v in leads["source"].dropna().unique() if v != leads.at[rid, "source"])
    edit = ChangeSet()
    edit.update("leads", rid, "source", other, reason="a person's edit")
    store.apply(edit, tables)  # only the Leads sheet changes, as a person typing one cell would
    before = sheet_parts(settled)
    cli_run(settled, "2026-11-02T09:15")
    after = sheet_parts(settled)
    changed = {name for name in before if before[name] != after.get(name)}
    assert "Leads Report" in changed  # it counts leads by source
    for name in ("Pipeline", "Forecast", "Customers Report", "Geography", "Satisfaction", "Board", "Data Issues"):
        assert name not in changed, f"{name} does not show a lead's source, yet it was rewritten"
    assert datetime(2026, 11, 2, 9, 15).strftime("%Y-%m-%d %H:%M").encode() in after["Leads Report"]
    assert datetime(2026, 11, 2, 9, 15).strftime("%Y-%m-%d %H:%M").encode() not in after["Pipeline"]
