"""While a run writes and confirms, its findings, change sets and states wait in a temporary file (spill.py): the
report it returns is the same as when they stay in memory, a value that cannot be pickled stays where it is, and the
confirming pass stops at the first job that changes something and records only when none does."""
import dataclasses
from dataclasses import replace
from datetime import datetime

from crm_sheets import settled, spill
from crm_sheets.model.changeset import ChangeSet, RowAppend
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
    put, real = [], spill.Aside._dump_parts
    monkeypatch.setattr(spill.Aside, "_dump_parts", lambda self, parts: put.append(1) or real(self, parts))
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


def test_a_large_runs_json_and_errors_come_from_the_set_aside_findings_without_loading_them_again(built_book, tmp_path,
                                                                                                  monkeypatch):
    from crm_sheets.run_report import waiting_rows

    built = built_book(sample_data=300)
    monkeypatch.setattr(spill, "WORTH_IT", 0)
    spilled = run(fresh_copy(built, tmp_path, "a.xlsx"), now=NOW)
    monkeypatch.setattr(spill, "WORTH_IT", 10**9)
    kept = run(fresh_copy(built, tmp_path, "b.xlsx"), now=NOW)
    with_findings = [r for r in spilled.results if waiting_rows(r)]
    assert with_findings and spilled.waiting("changes") and all(r.waiting("changes") for r in spilled.results)
    # what --json prints, the exit code's errors and the counts: from the tuples and the kept counts
    assert spilled.results_json() == kept.results_json()
    assert spilled.as_dict(results=False) == {**kept.as_dict(results=False), "path": spilled.path, "backup": spilled.backup}
    assert spilled.errors == kept.errors and spilled.errors
    assert all(waiting_rows(r) is not None for r in with_findings) and spilled.waiting("changes")
    # a caller that reads them gets the objects, equal to a run that kept them in memory
    assert [r.findings for r in spilled.results] == [r.findings for r in kept.results]
    assert not any(waiting_rows(r) for r in spilled.results)


def test_set_aside_change_sets_come_back_together_on_first_read_and_a_copy_or_pickle_loads_them():
    import copy
    import pickle

    shared = ChangeSet()
    shared.update("leads", "L-00001", "email", "a@b.c", reason="fixed")
    shared.appends.append(RowAppend("audit_log", "", {"job": "check"}))
    r = JobResult(job="check", changes=shared, findings=[], state={"rows": {"a": 1}})
    report = RunReport(path="x.xlsx", jobs=["check"], results=[r], changes=ChangeSet().extend(shared))
    aside = spill.Aside()
    aside.changes_of(report)
    aside.put_back()
    assert r.waiting("state") and report.waiting("changes")
    assert report.as_dict()["changes"]["updated_cells"] == 1 and report.as_dict()["results"][0]["changes"]["appended_rows"] == 1
    assert r.waiting("state")  # the counts were kept: nothing loaded for them
    assert r.state == {"rows": {"a": 1}}  # one read brings every part back, the updates they share shared again
    assert not report.waiting("changes") and report.changes.updates[0] is r.changes.updates[0]

    r2 = JobResult(job="check", changes=shared, state={"b": 2})
    report2 = RunReport(path="x.xlsx", jobs=["check"], results=[r2], changes=shared)
    aside = spill.Aside()
    aside.changes_of(report2)
    aside.put_back()
    assert pickle.loads(pickle.dumps(r2)).state == {"b": 2} and copy.copy(report2).changes.summary()["updated_cells"] == 1


def test_findings_kept_as_tuples_show_in_json_as_the_findings_themselves():
    from datetime import date
    from decimal import Decimal

    from crm_sheets.run_report import results_json_chunks

    odd = [Finding("t", "warning", "leads", "L-1", "f", v, "m", None, fix=v, fixable=bool(n % 2))
           for n, v in enumerate([None, "x", 3, 2.5, True, float("nan"), date(2026, 1, 2), Decimal("1.10"), (1, 2),
                                  {"a": 1}, ["b"]])]
    r = JobResult(job="check", findings=list(odd))
    as_objects = "".join(results_json_chunks([r]))
    aside = spill.Aside()
    aside.findings_of([r])
    aside.put_back()
    assert "findings" not in r.__dict__  # still tuples
    assert "".join(results_json_chunks([r])) == as_objects
    assert '"value": "(1, 2)"' in as_objects and '"value": "2026-01-02"' in as_objects
    assert spill._FINDING_FIELDS == tuple(f.name for f in dataclasses.fields(Finding))  # the tuples' order


def test_change_sets_set_aside_in_chunks_come_back_equal_with_the_changes_they_share_shared(monkeypatch):
    """The change sets and states go to the file a chunk at a time (a memo each: at 100k leads one pickle of it all
    held ~200 MB more): read back they are equal, and the merged change set's changes are its results' objects."""
    from crm_sheets.model.changeset import AuditEntry
    from crm_sheets.model.sheets import Cell, SheetSpec

    monkeypatch.setattr(spill, "CHUNK", 7)
    check, dedupe = ChangeSet(), ChangeSet()
    for i in range(30):
        check.update("leads", f"L-{i:05d}", "city", f"City {i % 4}", reason="fixed")
    check.sheets.append(SheetSpec("Data Issues", "data_issues", rows=[[Cell(f"L-{i:05d}", "bad"), "missing"] for i in range(25)],
                                  widths={0: 12.0}))
    for i in range(16):
        dedupe.appends.append(RowAppend("merged", f"M-{i}", {"from": f"L-{i:05d}"}))
        dedupe.audit.append(AuditEntry("dedupe", "leads", f"L-{i:05d}", "email", None, "a@b.c", "merged"))
    merged = ChangeSet()
    for i in range(9):  # rows typed without an ID get theirs first
        merged.update("contacts", f"C-{i}", "id", f"C-{i}", reason="new record")
    merged.extend(check).extend(dedupe)
    merged.appends.append(RowAppend("audit_log", "", {"job": "dedupe"}))
    states = [{"rows": {f"L-{i:05d}": [i, "k"] for i in range(40)}, "version": 3}, ["a", "b"]]
    results = [JobResult(job="check", changes=check, state=states[0]), JobResult(job="dedupe", changes=dedupe, state=states[1])]
    report = RunReport(path="x.xlsx", jobs=["check", "dedupe"], results=results, changes=merged)
    want = [repr(merged), repr(check), repr(dedupe)]
    aside = spill.Aside()
    aside.changes_of(report)
    assert report.changes.is_empty() and all(r.state is None for r in results)
    aside.put_back()
    assert [repr(report.changes), repr(results[0].changes), repr(results[1].changes)] == want
    assert [r.state for r in results] == states
    got = report.changes
    assert got.updates[9] is results[0].changes.updates[0] and got.appends[15] is results[1].changes.appends[15]
    assert got.audit[3] is results[1].changes.audit[3] and got.sheets[0] is results[0].changes.sheets[0]


def test_checks_first_look_waits_in_a_file_and_comes_back_when_no_job_after_it_changes_records(built_book, tmp_path,
                                                                                                monkeypatch):
    """While the jobs after check run, its findings and Data Issues rows wait in a file (a large run's): a second look
    replaces them when a later job changed records; without one (check and report only) they come back as they were."""
    built = built_book(sample_data=300)
    looks = []
    real = spill.Aside.look_of
    monkeypatch.setattr(spill.Aside, "look_of", lambda self, result: looks.append(1) or real(self, result))
    for jobs in (["check", "report"], ["check", "dedupe", "automate", "report"]):
        monkeypatch.setattr(spill, "WORTH_IT", 0)
        looks.clear()
        spilled = run(fresh_copy(built, tmp_path, f"a{len(jobs)}.xlsx"), jobs=jobs, now=NOW, dry_run=True)
        assert looks  # set aside
        monkeypatch.setattr(spill, "WORTH_IT", 10**9)
        kept = run(fresh_copy(built, tmp_path, f"b{len(jobs)}.xlsx"), jobs=jobs, now=NOW, dry_run=True)
        # the --json text, made from the findings as they came back (tuples until read), is the same
        assert spilled.results_json() == kept.results_json(), jobs
        assert spilled.results[0].findings and _plain(spilled) == _plain(kept), jobs


def test_change_lists_set_aside_for_checks_second_look_come_back_equal_holding_the_tables_own_texts():
    """The change-set lists wait in a file during check's second look (a large run's): put back they are equal, the
    changes two sets share are one object again, and an ID or a value equal to a text its table holds in that cell is
    that very text (not a copy of its own)."""
    from types import SimpleNamespace

    import pandas as pd

    from crm_sheets.model.changeset import AuditEntry

    def text(s):  # an equal text, another object
        return "".join(list(s))

    df = pd.DataFrame({"city": ["Paris", "Lyon", "Nice"], "name": ["Ann", "Bob", "Cy"]}, dtype=object,
                      index=pd.Index(["L-00001", "L-00002", "L-00003"], dtype=object))  # (text columns are object)
    tables = SimpleNamespace(tables={"leads": SimpleNamespace(df=df)})
    cs, merged = ChangeSet(), ChangeSet()
    cs.update("leads", text("L-00001"), "city", text("Paris"), before="paris", reason="fixed")
    cs.update("leads", text("L-00002"), "city", text("Lyons"), before="Lyon", reason="fixed")  # not what the cell holds
    cs.update("leads", "L-09999", "city", text("Nice"), reason="gone")  # no such record
    cs.appends.append(RowAppend("leads", text("L-00003"), {"city": text("Nice"), "name": text("Cy"), "n": 3}))
    cs.audit.append(AuditEntry("check", "leads", text("L-00001"), "city", "paris", text("Paris"), "fixed"))
    merged.extend(cs)
    want = [repr(cs), repr(merged)]
    aside = spill.Aside()
    back = aside.lists_of([cs, merged], tables)
    assert back is not None and cs.is_empty() and not merged.updates
    back()
    assert [repr(cs), repr(merged)] == want
    assert merged.updates[0] is cs.updates[0] and merged.appends[0] is cs.appends[0]
    first, other, gone = cs.updates
    assert first.record_id is df.index[0] and first.value is df.at["L-00001", "city"]
    assert other.value == "Lyons" and gone.record_id == "L-09999"
    added = cs.appends[0]
    assert added.record_id is df.index[2] and added.values["city"] is df.at["L-00003", "city"]
    assert added.values["name"] is df.at["L-00003", "name"]
    assert cs.audit[0].after is df.at["L-00001", "city"] and cs.audit[0].record_id is df.index[0]
