"""The runner's second look of check (after dedupe merged and automate changed records) gives what a check of
every row from scratch gives: the same findings, Data Issues sheet, counts and state, while it takes the rows
it saw in its first look, unchanged, from its memory."""
import pytest

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
