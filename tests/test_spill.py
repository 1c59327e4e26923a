"""While a run writes and confirms, its findings, change sets and states wait in a temporary file (spill.py): the
report it returns is the same as when they stay in memory, a value that cannot be pickled stays where it is, and the
confirming pass stops at the first job that changes something and records only when none does."""
from dataclasses import replace
from datetime import datetime

from crm_sheets import settled, spill
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.findings import Finding
from crm_sheets.model.result import JobResult
from crm_sheets.run_report import RunReport
from crm_sheets.runner import run
from helpers import fresh_copy

NOW = datetime(2026, 11, 2, 9, 0)


def _plain(report) -> list:
    """The report's results and change set as values, part by part (a value that is no number equal to itself, NaN,
    compared as its repr)."""
    def shown(changes):  # the Runs sheet shows the wall clock's time the run ended
        return repr(replace(changes, sheets=[s for s in changes.sheets if s.key != "runs"]))

    parts = [report.written, shown(report.changes)]
    for r in report.results:
        parts += [r.job, r.stats, r.findings, repr(r.effects), shown(r.changes), r.state, r.holds_until]
    return parts


def test_a_run_returns_the_same_report_whether_or_not_its_findings_and_changes_waited_in_a_file(built_book, tmp_path, monkeypatch):
    built = built_book(sample_data=300)
    monkeypatch.setattr(spill, "WORTH_IT", 0)  # a small workbook's run sets aside too (a large one's does anyway)
    put, real = [], spill.Aside._put
    monkeypatch.setattr(spill.Aside, "_put", lambda self, value: put.append(1) or real(self, value))
    spilled = run(fresh_copy(built, tmp_path, "a.xlsx"), now=NOW)
    assert len(put) >= 3  # the findings before the write, the change sets before the confirming pass, its findings
    monkeypatch.setattr(spill, "WORTH_IT", 10**9)  # nothing set aside: all stays in memory
    kept = run(fresh_copy(built, tmp_path, "b.xlsx"), now=NOW)
    assert spilled.written and spilled.findings and spilled.changes.updates and spilled.changes.appends
    assert any(r.state for r in spilled.results)
    assert _plain(spilled) == _plain(kept)
    assert spilled.as_dict() == {**kept.as_dict(), "path": spilled.path, "backup": spilled.backup}


def test_set_aside_findings_come_back_equal_and_a_value_that_cannot_be_pickled_stays():
    found = [Finding("required", "error", "leads", "L-00001", "email", None, "Leads!E2: email is required", "Leads!E2"),
             Finding("invalid-phone", "warning", "leads", "L-00002", "phone", "12", "Leads!F3: not a phone", None,
                     fix="+44 12", fixable=True)]
    r = JobResult(job="check", findings=list(found), state={"rows": {"a": 1}})
    report = RunReport(path="x.xlsx", jobs=["check"], results=[r], changes=ChangeSet())
    report.changes.update("leads", "L-00001", "email", "a@b.c", reason="fixed")
    aside = spill.Aside()
    aside.findings_of([r])
    aside.changes_of(report)
    assert r.findings == [] and r.state is None and report.changes.is_empty()
    aside.put_back()
    assert r.findings == found and r.state == {"rows": {"a": 1}} and len(report.changes.updates) == 1

    odd = JobResult(job="report", findings=list(found), effects=[lambda: None])  # a function does not pickle
    aside = spill.Aside()
    aside.findings_of([odd])
    assert odd.findings == found and not aside
    aside.put_back()
    assert odd.findings == found


def test_the_confirming_pass_stops_at_the_first_job_that_changes_something(built_book, tmp_path, monkeypatch):
    from crm_sheets import runner

    path = fresh_copy(built_book(sample_data=300), tmp_path)
    ran: list[str] = []
    real = runner.job_function

    def counted(name):
        fn = real(name)

        def job(*a, **k):
            ran.append(name)
            result = fn(*a, **k)
            if in_pass[0] and name == "check":
                result.changes.update("leads", "L-00001", "notes", "changed", reason="test")  # not settled
            return result

        return job

    in_pass = [False]
    real_confirm = settled._confirm

    def confirm(*a, **k):
        in_pass[0] = True
        ran.clear()
        try:
            return real_confirm(*a, **k)
        finally:
            in_pass[0] = False

    monkeypatch.setattr(runner, "job_function", counted)
    monkeypatch.setattr(settled, "_confirm", confirm)
    report = run(path, now=NOW)
    assert report.written and ran == ["check"]  # dedupe, automate and report were not run for nothing
    assert not settled.record_path(path).exists()  # not settled: no record, the next run takes the full path
