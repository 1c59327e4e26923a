"""The runner: a job whose function takes a `state` gets the one it returned last time, kept beside the workbook."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

import pytest

from crm_sheets.outbox import Outbox, outbox_path
from crm_sheets.runner import run, takes_state
from helpers import fresh_copy

NOW = datetime(2026, 11, 2, 9, 0)


@pytest.fixture
def path(built_book, tmp_path, on_backend):
    """The sample workbook, as a file or as a Google Sheet (tests/backends.py)."""
    return on_backend(fresh_copy(built_book(sample_data=200, now=NOW), tmp_path))


def saved_at(path, job: str) -> str | None:
    """When the latest committed job states were saved, if they hold ``job``'s."""
    with sqlite3.connect(outbox_path(path)) as db:
        row = db.execute("SELECT states, saved_at FROM generations WHERE committed IS NOT NULL ORDER BY committed DESC LIMIT 1").fetchone()
    return row[1] if row and job in json.loads(row[0]) else None


def test_the_jobs_that_keep_a_state_are_those_whose_function_takes_one():
    assert [name for name in ("check", "dedupe", "automate", "report", "unmerge") if takes_state(name)] == ["check", "dedupe", "automate", "report"]


@pytest.mark.slow
def test_check_saves_its_phone_verdicts_and_the_next_run_reads_them_instead_of_parsing(path, monkeypatch):
    first = run(path, ["check"], now=NOW)
    state = Outbox(outbox_path(path)).load_state("check")
    assert state == first.results[0].state and state["phones"]["verdicts"]

    from crm_sheets.model import normalize

    def no_parse(*args):
        raise AssertionError("parsed a phone number the saved state had")

    monkeypatch.setattr(normalize, "_parse_phone", no_parse)
    second = run(path, ["check"], now=NOW + timedelta(hours=1), settled_answer=False)  # the job runs, with its state
    assert second.findings == first.findings
    assert Outbox(outbox_path(path)).load_state("check") == second.results[0].state


@pytest.mark.slow
def test_a_dry_run_saves_no_state(path):
    run(path, ["check"], now=NOW, dry_run=True)
    assert not outbox_path(path).exists(), "a dry check creates no file"
    run(path, ["check"], now=NOW)
    run(path, ["check", "automate"], now=NOW + timedelta(hours=1), dry_run=True)
    assert saved_at(path, "check") == NOW.isoformat()
    assert saved_at(path, "automate") is None


@pytest.mark.slow
def test_a_state_the_caller_gives_is_used_instead_of_the_saved_one(path, monkeypatch):
    from crm_sheets.model import normalize

    run(path, ["check"], now=NOW)
    parsed = []
    parse = normalize._parse_phone
    monkeypatch.setattr(normalize, "_parse_phone", lambda *args: parsed.append(args) or parse(*args))
    run(path, ["check"], now=NOW, options={"check": {"state": None}})
    assert parsed, "an empty state: every number is parsed again"


def test_the_runner_pauses_the_garbage_collector_for_the_run_jobs_only_and_turns_it_back_on(monkeypatch):
    import gc

    import crm_sheets.runner as runner

    seen = {}

    def job(name):
        def fn(tables, *, now):
            seen[name] = gc.isenabled()
            return runner.JobResult(job=name)
        return fn

    monkeypatch.setattr(runner, "job_function", job)
    tables = runner.Tables(schema=None, tables={})
    assert gc.isenabled()
    runner.run_jobs(tables, ["check", "dedupe", "automate", "report", "unmerge"], now=NOW)
    assert seen == {"check": False, "dedupe": False, "automate": False, "report": False, "unmerge": True} and gc.isenabled()


def test_a_run_collects_garbage_less_often_and_gives_the_process_its_own_thresholds_back(built_book, tmp_path, monkeypatch):
    """A script that calls run keeps its own collector settings, whether the run ends well or fails, and the garbage
    the run leaves is collectable once it ends."""
    import gc

    import crm_sheets.runner as runner
    from crm_sheets.heap import RUN_THRESHOLDS

    book = fresh_copy(built_book(sample_data=50, now=NOW), tmp_path)
    before = gc.get_threshold()
    gc.set_threshold(500, 7, 9)
    seen = []
    read = runner.run_jobs_with_pending

    def watched(*args, **kwargs):
        seen.append(gc.get_threshold())
        return read(*args, **kwargs)

    try:
        monkeypatch.setattr(runner, "run_jobs_with_pending", watched)
        run(book, ["check"], now=NOW)
        assert seen == [RUN_THRESHOLDS] and gc.get_threshold() == (500, 7, 9)
        assert gc.get_freeze_count() == 0, "what the run froze is collected as usual once it ends"
        with pytest.raises(Exception):
            run(tmp_path / "missing.xlsx", ["check"], now=NOW)
        assert gc.get_threshold() == (500, 7, 9)
    finally:
        gc.set_threshold(*before)


def test_older_generations_keep_their_states_but_not_the_jobs_memories(tmp_path):
    """Twenty generations of states are kept for restored backups; the memories that only make the next run
    faster (tens of MB at 100k leads) stay with the newest two, so the outbox does not grow twentyfold."""
    from crm_sheets.outbox import KEEP_MEMORIES

    box = Outbox(tmp_path / "outbox.sqlite")
    states = {"check": {"rows": {"packed": "x" * 1000}, "phones": {"verdicts": {"+33": 1}}, "sheet": {"digest": "d"}},
              "dedupe": {"keys": "k" * 1000, "findings": [], "stats": {"merged": 2}},
              "automate": {"evaluated": {"r1": "e"}, "round_robin": {"owner": 3}},
              "report": {"sheets": {"Dashboard": "d"}}}
    for n in range(1, 5):
        box.prepare_states(f"g{n}", f"sha{n}", states, NOW)
        box.commit_states(f"g{n}", NOW)
    kept = {n: box.job_states(f"g{n}").states for n in range(1, 5)}
    for n in range(1, 5 - KEEP_MEMORIES):
        assert kept[n] == {"check": {"sheet": {"digest": "d"}}, "dedupe": {"findings": [], "stats": {"merged": 2}},
                           "automate": {"round_robin": {"owner": 3}}, "report": {"sheets": {"Dashboard": "d"}}}
    for n in range(5 - KEEP_MEMORIES, 5):
        assert kept[n] == states


def _file_book(built_book, tmp_path):
    from crm_sheets.store.safety import writer_lock_path

    book = fresh_copy(built_book(sample_data=200, now=NOW), tmp_path)
    run(book, now=NOW)  # a first run writes; the next one, an hour later, writes nothing and commits its states
    return book, writer_lock_path(book)


def test_a_run_commits_its_states_under_the_lock_before_it_delivers_however_slow_the_disk(built_book, tmp_path, monkeypatch):
    import time

    book, lock = _file_book(built_book, tmp_path)
    events = []
    real_commit, real_deliver = Outbox._commit, Outbox.deliver

    def slow_commit(self, *args, **kwargs):
        time.sleep(0.3)  # the sync to disk of a busy machine: the run makes its record's text meanwhile
        real_commit(self, *args, **kwargs)
        events.append(("committed", lock.exists()))

    def deliver(self, *args, **kwargs):
        events.append(("delivering", lock.exists()))
        return real_deliver(self, *args, **kwargs)

    monkeypatch.setattr(Outbox, "_commit", slow_commit)
    monkeypatch.setattr(Outbox, "deliver", deliver)
    report = run(book, now=NOW + timedelta(hours=1), settled_answer=False)
    assert not report.written
    assert events == [("committed", True), ("delivering", False)]
    assert saved_at(book, "automate") == (NOW + timedelta(hours=1)).isoformat()


def test_a_state_commit_that_fails_fails_the_run_before_anything_is_delivered(built_book, tmp_path, monkeypatch):
    book, lock = _file_book(built_book, tmp_path)
    delivered = []

    def broken(self, *args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Outbox, "_commit", broken)
    monkeypatch.setattr(Outbox, "deliver", lambda self, *a, **k: delivered.append(1))
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        run(book, now=NOW + timedelta(hours=1), settled_answer=False)
    assert delivered == [] and not lock.exists()
    assert saved_at(book, "automate") == NOW.isoformat()  # the first run's states are still the latest
