"""crm-sheets demo: a sample workbook on which every job runs and every example automation shows."""
from datetime import datetime

import pytest

from crm_sheets.workbook import demo
from helpers import grid

NOW = datetime(2026, 11, 2, 9, 0)  # a Monday: the weekly digest is due


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    return demo(tmp_path_factory.mktemp("demo"), sample_data=200, now=NOW)




def result(report, job):
    [r] = [r for r in report.results if r.job == job]
    return r


@pytest.mark.slow
def test_demo_runs_check_dedupe_automate_and_report_and_writes_once(demo_run):
    path, report = demo_run
    assert [r.job for r in report.results] == ["check", "dedupe", "automate", "report"]
    assert report.written and path.name == "crm.xlsx"


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_every_example_automation_fires_on_the_demo_first_run(demo_run):
    _, report = demo_run
    auto = result(report, "automate")
    rules = {e.key.split(":")[0] for e in auto.effects}
    assert {"welcome-new-leads", "proposal-email", "weekly-digest", "deal-won"} <= rules
    assert {e.kind for e in auto.effects} >= {"email", "chat"}
    sources = {a.values["source"].split(" [")[0] for a in auto.changes.appends if a.table == "tasks"}
    assert {"Proposal follow-up", "Nudge quiet leads"} <= sources
    assert auto.stats["tasks_created"] == len([a for a in auto.changes.appends if a.table == "tasks"])
    assert auto.stats["campaign_members_added"] >= 1  # the web-form leads joined the welcome sequence
    [chat] = [e for e in auto.effects if e.kind == "chat"]
    assert chat.payload["text"].startswith("Won: ")


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_the_demo_workbook_shows_outbox_issues_dashboard_audit_and_merges(demo_run):
    path, report = demo_run
    auto = result(report, "automate")
    outbox = grid(path, "Outbox")
    header = outbox.index(["Status", "Kind", "To / channel", "Subject / text", "Record", "Queued at", "Error"])
    queued = {r[2] for r in outbox[header + 1:] if r[1] == "Email"}
    assert queued == {e.payload["to"] for e in auto.effects if e.kind == "email"}
    assert any(r[3].startswith("Welcome, ") for r in outbox[header + 1:])
    issues = grid(path, "Data Issues")
    assert issues[0][0] == "Data Issues" and issues[1][0].startswith("Checked 2026-11-02 09:00:")
    assert grid(path, "Dashboard")[3][0] == "Won revenue"
    audit = grid(path, "Audit Log")
    assert audit[0][:3] == ["When", "Job", "Table"] and {r[1] for r in audit[1:]} >= {"check", "dedupe", "automate"}
    merged = grid(path, "Merged")
    assert len(merged) - 1 == result(report, "dedupe").stats["merged"] > 0
    assert all(r[1] == "leads" and r[2].startswith("L-") for r in merged[1:])


@pytest.mark.slow  # over a second
def test_a_second_demo_in_the_same_directory_fires_the_automations_again(demo_run, tmp_path):
    first = demo(tmp_path, sample_data=60, now=NOW)[1]
    second = demo(tmp_path, sample_data=60, now=NOW)[1]
    keys = [sorted(e.key for e in result(r, "automate").effects) for r in (first, second)]
    assert keys[0] == keys[1] and any(k.startswith("welcome-new-leads") for k in keys[0])
