"""The runner's second look of check (after dedupe merged and automate changed records) gives what a check of
every row from scratch gives: the same findings, Data Issues sheet, counts and state, while it takes the rows
it saw in its first look, unchanged, from its memory."""
import pandas as pd
import pytest
from test_check import NOW, lead, leads, make_tables

import crm_sheets.jobs.check.memory as memory
from crm_sheets.runner import JOB_ORDER, run_jobs
from crm_sheets.sample import DEFAULT_NOW, generate

OPTIONS = {"check": {"fix": True}}


def _tables():
    return generate("sales", leads=400, seed=5).to_tables()


def _outcome(results, merged):
    first = next(r for r in results if r.job == "check")
    issues = [s.rows for s in merged.sheets if s.key == "data_issues"]
    return first.findings, first.stats, issues, first.state["phones"], first.state["rows"]


def _from_scratch(monkeypatch, jobs):
    """The same run with check's memory of rows given nothing: every look checks every row."""
    real = memory.RowMemory.__init__

    def forgetful(self, state=None):
        real(self, None)

    with monkeypatch.context() as m:
        m.setattr(memory.RowMemory, "__init__", forgetful)
        return _outcome(*run_jobs(_tables(), list(jobs), now=DEFAULT_NOW, options=OPTIONS))


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [("check", "dedupe"), JOB_ORDER], ids=["dedupe merged", "every job"])
def test_the_second_look_after_other_jobs_changed_records_equals_a_check_from_scratch(monkeypatch, jobs):
    results, merged = run_jobs(_tables(), list(jobs), now=DEFAULT_NOW, options=OPTIONS)
    archived = {a.table for r in results for a in r.changes.archives}
    assert "leads" in archived  # dedupe merged leads: the rows below them move up on the sheet
    incremental = _outcome(results, merged)
    assert incremental == _from_scratch(monkeypatch, jobs)


def test_the_second_look_names_records_as_the_next_read_of_the_written_file_does(monkeypatch):
    # What the run reports is what the next run finds on the file it wrote, so that run writes nothing: a stage
    # check added to the Stages sheet (a sheet keyed by row) is "row6" there, not the "stages:Closed wn" it had
    # in memory; a lead dedupe merged away with an unreadable date is gone from Leads, and so is its error.
    deals = [{"id": f"D-{i:05d}", "name": f"Deal {i}", "stage": "Closed wn" if i <= 3 else "Proposal",
              "close_date": pd.Timestamp("2025-06-01")} for i in range(1, 6)]
    rows = leads(lead(), lead(first_name="Bruno", email="bruno@acme.com", phone="+12125550199"),
                 lead(created=pd.Timestamp("2025-02-10")))
    tables = make_tables(deals=deals, leads=rows)
    tables["leads"].invalid[("L-00003", "last_contacted")] = "02/31/2026"
    real = memory.RowMemory.__init__
    monkeypatch.setattr(memory.RowMemory, "__init__", lambda self, state=None: real(self, None))  # every row looked at
    results, merged = run_jobs(tables, ["check", "dedupe"], now=NOW)
    assert [(a.table, a.record_id) for a in merged.archives] == [("leads", "L-00003")]
    assert [(a.table, a.record_id) for a in merged.appends] == [("stages", "stages:Closed wn")]
    found = [(f.type, f.table, f.record_id, f.cell) for f in results[0].findings]
    assert found == [("required", "stages", "row6", "Stages!C6")]
    assert list(tables["stages"].df.index)[-1] == "stages:Closed wn"  # the later jobs' tables are left as they were
