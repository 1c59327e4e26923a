"""A look of check whose findings are those Data Issues was laid out from (a person edited cells that have no
finding, a second look of the same run) neither lays the sheet out nor digests it again: its findings key
(memory.py's findings_key) says so; a look whose findings differ in any way (a row's own check, a check across
rows, rows that moved) lays it out as a check from scratch does, and saves the same state."""
import json

import pandas as pd
import pytest
from test_check_again import _tables

import crm_sheets.jobs.check as check_job
from crm_sheets.jobs.check import check
from crm_sheets.sample import DEFAULT_NOW


def _holding_data_issues(tables):
    """The tables as read from a workbook that holds our Data Issues sheet (marked in _crm_meta)."""
    name = tables.schema.owned_sheet("data_issues").sheet_name(tables.lang)
    tables.meta["sheet.data_issues"] = name
    tables.sheet_names = (*tables.sheet_names, name)
    return tables


@pytest.fixture
def digests(monkeypatch):
    """The looks that made the Data Issues digest (went through every finding)."""
    calls = []
    real = check_job.data_issues_digest

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(check_job, "data_issues_digest", counted)
    return calls


def _saved(state):
    return json.loads(json.dumps(state))


def _edit_leads(tables, change):
    leads = tables["leads"]
    df = leads.df.copy()
    leads.df = change(leads, df) if change is _sorted else (change(leads, df), df)[1]


def test_a_look_after_edits_that_change_no_finding_neither_lays_out_nor_digests_data_issues(digests):
    tables = _holding_data_issues(_tables())
    first = check(tables, now=DEFAULT_NOW)
    state = _saved(first.state)
    assert first.changes.sheets and state["sheet"]["findings"]

    def notes(leads, df):
        for k, rid in enumerate(df.index[::40][:10]):
            df.loc[rid, "notes"] = f"Called back ({k})"
            df.loc[rid, "city"] = "Lyon"

    _edit_leads(tables, notes)
    digests.clear()
    again = check(tables, now=DEFAULT_NOW, state=state)
    assert not again.changes.sheets and not digests
    # as the look that digests the findings (no key remembered) finds and saves
    digested = check(tables, now=DEFAULT_NOW, state={**state, "sheet": {k: v for k, v in state["sheet"].items()
                                                                       if k != "findings"}})
    assert digests and not digested.changes.sheets
    assert _saved(again.state) == _saved(digested.state)
    scratch = check(tables, now=DEFAULT_NOW)
    assert again.findings == scratch.findings and again.stats == scratch.stats
    assert [s.rows for s in scratch.changes.sheets] == [s.rows for s in first.changes.sheets]  # what the file shows
    # the run after it too: a second look of the same run (the state as the runner hands it on, in memory)
    digests.clear()
    assert not check(tables, now=DEFAULT_NOW, state=again.state).changes.sheets and not digests


def _invalid_email(leads, df):
    df.loc[df.index[7], "email"] = "nobody at example"


def _account_nowhere(leads, df):
    df.loc[df.index[9], "account"] = "A-99999"


def _fixed_email(leads, df):  # a finding gone: the address _invalid_email broke before the first look, mended
    df.loc[df.index[7], "email"] = "someone.new@example.com"


def _sorted(leads, df):  # a person sorted the sheet: every finding names another row
    leads.rows = {rid: i + 2 for i, rid in enumerate(df.index[::-1])}
    return df.iloc[::-1].copy()


@pytest.mark.parametrize("change", [_invalid_email, _account_nowhere, _fixed_email, _sorted],
                         ids=["a row's own finding", "a finding across rows", "a finding gone", "rows sorted"])
def test_a_look_whose_findings_changed_lays_data_issues_out_as_a_check_from_scratch(change):
    tables = _holding_data_issues(_tables())
    if change is _fixed_email:
        _edit_leads(tables, _invalid_email)
    first = check(tables, now=DEFAULT_NOW)
    state = _saved(first.state)
    _edit_leads(tables, change)
    again = check(tables, now=DEFAULT_NOW, state=state)
    scratch = check(tables, now=DEFAULT_NOW)
    assert again.findings == scratch.findings
    assert again.changes.sheets and [s.rows for s in again.changes.sheets] == [s.rows for s in scratch.changes.sheets]
    assert again.state["sheet"]["findings"] != state["sheet"]["findings"]
    assert _saved(again.state) == _saved(scratch.state)
