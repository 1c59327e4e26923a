"""The runner: a job whose function takes a `state` gets the one it returned last time, kept beside the workbook."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest

from crm_sheets.outbox import Outbox, outbox_path
from crm_sheets.runner import run, takes_state
from crm_sheets.workbook import new_workbook

NOW = datetime(2026, 11, 2, 9, 0)


@pytest.fixture
def path(tmp_path):
    return new_workbook(tmp_path / "crm.xlsx", sample_data=200, now=NOW)


def saved_at(path, job: str) -> str | None:
    with sqlite3.connect(outbox_path(path)) as db:
        row = db.execute("SELECT updated_at FROM state WHERE name = ?", (job,)).fetchone()
    return row[0] if row else None


def test_the_jobs_that_keep_a_state_are_those_whose_function_takes_one():
    assert [name for name in ("check", "dedupe", "automate", "report", "unmerge") if takes_state(name)] == ["check", "automate"]


def test_check_saves_its_phone_verdicts_and_the_next_run_reads_them_instead_of_parsing(path, monkeypatch):
    first = run(path, ["check"], now=NOW)
    state = Outbox(outbox_path(path)).load_state("check")
    assert state == first.results[0].state and state["phones"]["verdicts"]

    from crm_sheets.model import normalize

    def no_parse(*args):
        raise AssertionError("parsed a phone number the saved state had")

    monkeypatch.setattr(normalize, "_parse_phone", no_parse)
    second = run(path, ["check"], now=NOW + timedelta(hours=1))
    assert second.findings == first.findings
    assert saved_at(path, "check") == (NOW + timedelta(hours=1)).isoformat()


def test_a_dry_run_saves_no_state(path):
    run(path, ["check"], now=NOW, dry_run=True)
    assert not outbox_path(path).exists(), "a dry check creates no file"
    run(path, ["check"], now=NOW)
    run(path, ["check", "automate"], now=NOW + timedelta(hours=1), dry_run=True)
    assert saved_at(path, "check") == NOW.isoformat()
    assert saved_at(path, "automate") is None


def test_a_state_the_caller_gives_is_used_instead_of_the_saved_one(path, monkeypatch):
    from crm_sheets.model import normalize

    run(path, ["check"], now=NOW)
    parsed = []
    parse = normalize._parse_phone
    monkeypatch.setattr(normalize, "_parse_phone", lambda *args: parsed.append(args) or parse(*args))
    run(path, ["check"], now=NOW, options={"check": {"state": None}})
    assert parsed, "an empty state: every number is parsed again"
