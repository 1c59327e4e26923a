"""Check's memory of its checks across rows (jobs/check/across.py): a table read as it was when they were made, whose
checks read nothing else that changed, has its findings of unique values, options, references and owners taken from
the last run; after the edits a person makes (a lead's notes, an account deleted, a teammate renamed, a lead added or
its status mistyped) check finds exactly what a check from nothing finds."""
import json
from datetime import datetime

import openpyxl
import pytest

import crm_sheets.jobs.check as check_module
import crm_sheets.jobs.check.links as links
from crm_sheets.jobs.check import check
from crm_sheets.jobs.check.sheet import data_issues_digest
from test_incremental import save
from test_table_cache import own_state_dir, read  # noqa: F401 (the fixture: the cache key in the test's folder)
from helpers import fresh_copy

SAMPLE = 300
NOW = datetime(2026, 11, 2, 9, 0)


def _edit(path, sheet: str, edit) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    edit(ws, {c.value: c.column for c in ws[1]})
    save(wb, path)


def _same_as_from_nothing(path, state, made: list[str]):
    """Check of the tables read through the cache with ``state``, compared with a check of a read from scratch;
    ``made`` gets the tables whose references the check with ``state`` compared with their targets again."""
    tables, _ = read(path)
    made.clear()
    got = check(tables, now=NOW, state=state)
    again = list(made)
    scratch, _ = read(path, cached=False)
    want = check(scratch, now=NOW)
    assert got.findings == want.findings
    assert got.stats == want.stats
    issues = [f for f in got.findings if f.type != "vocabulary"]
    assert data_issues_digest(tables, issues) == data_issues_digest(scratch, issues)
    made[:] = again
    return got, json.loads(json.dumps(got.state))  # as the outbox keeps it


def _referenced(path, sheet: str, column: str) -> str:
    """An ID that some row of ``sheet`` names in ``column``."""
    ws = openpyxl.load_workbook(path, read_only=True)[sheet]
    rows = ws.iter_rows(values_only=True)
    at = list(next(rows)).index(column)
    return next(r[at] for r in rows if r[at])


@pytest.mark.slow
def test_after_edits_a_person_makes_check_with_its_memory_across_rows_finds_what_a_check_from_nothing_finds(
        built_book, tmp_path, monkeypatch):
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    made: list[str] = []
    real = links.check_reference

    def spy(out, table, f, col):
        made.append(table.name)
        return real(out, table, f, col)

    monkeypatch.setattr(check_module, "check_reference", spy)
    _got, state = _same_as_from_nothing(path, None, made)
    assert "activities" in made and "leads" in made

    # a few leads' notes and cities edited: only the leads' own references are compared again, not those of the
    # tables pointing to leads (their IDs are the same)
    def notes(ws, h):
        for r in (3, 7):
            ws.cell(r, h["Notes"]).value = f"called on the {r}th"
            ws.cell(r, h["City"]).value = "Graz"

    _edit(path, "Leads", notes)
    _got, state = _same_as_from_nothing(path, state, made)
    assert set(made) == {"leads"}

    # an account deleted: the contacts and deals pointing to it point to nothing now
    gone = _referenced(path, "Contacts", "Account")

    def delete(ws, h):
        ws.delete_rows(next(r for r in range(2, ws.max_row + 1) if ws.cell(r, h["ID"]).value == gone))

    _edit(path, "Accounts", delete)
    got, state = _same_as_from_nothing(path, state, made)
    assert {"contacts", "deals"} <= set(made)
    assert any(f.table == "contacts" and f.type == "unknown-reference" and f.value == gone for f in got.findings)

    # a teammate renamed: the rows they own name someone Team does not know
    _edit(path, "Team", lambda ws, h: setattr(ws.cell(2, h["Name"]), "value", "Somebody Else"))
    got, state = _same_as_from_nothing(path, state, made)
    assert any(f.type == "unknown-user" and f.value != "Somebody Else" for f in got.findings)

    # a lead added at the end, pointing to that account, and a lead's status mistyped
    def add(ws, h):
        row = ws.max_row + 1
        ws.cell(row, h["First name"]).value, ws.cell(row, h["Last name"]).value = "Ana", "Added"
        ws.cell(row, h["Account"]).value = gone
        ws.cell(3, h["Status"]).value = "Qualifed"

    _edit(path, "Leads", add)
    got, state = _same_as_from_nothing(path, state, made)
    assert any(f.table == "leads" and f.type == "unknown-reference" and f.value == gone for f in got.findings)
    assert any(f.table == "leads" and f.field == "status" and f.value == "Qualifed" for f in got.findings)
