"""Exactly once under concurrency and crashes: one writer per workbook for the whole run, job states
committed with the workbook generation they describe, and no colleague's save ever lost.

Real processes where it matters: runs started together are separate `crm-sheets` processes; crashes are
forked runs that SIGKILL themselves at the Nth I/O step (in the spirit of SQLite's crash tests); the
colleague's save is another process rewriting the file at each phase of a run.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.errors import WorkbookBusy, WorkbookChanged
from crm_sheets.model import ChangeSet
from crm_sheets.outbox import Outbox, outbox_path
from crm_sheets.runner import run
from crm_sheets.store import safety
from crm_sheets.store.pending import pending_path, read_pending
from crm_sheets.store.safety import FileOps, WriterLock, list_backups, stale_temp_files, writer_lock_path
from crm_sheets.store.xlsx import XlsxStore
from crm_sheets.workbook import new_workbook

NOW = datetime(2026, 11, 2, 9, 0)
OPTIONS = {"check": {"fix": True}}  # as `crm-sheets run` does
REPO = Path(__file__).resolve().parent.parent
FORK = multiprocessing.get_context("fork") if sys.platform != "win32" else None
needs_fork = pytest.mark.skipif(FORK is None, reason="forked crash runs need fork (POSIX)")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return new_workbook(tmp_path_factory.mktemp("built") / "crm.xlsx", sample_leads=50, now=NOW)


@pytest.fixture
def path(built, tmp_path):
    target = tmp_path / "crm.xlsx"
    shutil.copy(built, target)
    return target


def tables_of(path: Path) -> dict[str, list]:
    """Every data table as a person sees it (text of each cell, row by row); fails on a duplicated
    Activity or Audit Log row."""
    t = XlsxStore(path).read()
    for name in ("activities", "audit_log"):
        df = t.df(name).astype(str)
        dup = df[df.duplicated(keep=False)]
        assert dup.empty, f"{name} has duplicated rows:\n{dup}"
    return {name: t.df(name).astype(str).reset_index().values.tolist() for name in t.tables}


@pytest.fixture(scope="module")
def after_two_runs(built, tmp_path_factory):
    """The workbook after two uninterrupted runs (what any crash and recovery must come back to)."""
    path = tmp_path_factory.mktemp("baseline") / "crm.xlsx"
    shutil.copy(built, path)
    run(path, now=NOW, options=OPTIONS)
    once = tables_of(path)
    run(path, now=NOW, options=OPTIONS)
    twice = tables_of(path)
    assert once == twice, "a second run at the same time changes no table"
    return twice


# ---------------------------------------------------------------------------------------------
# One writer per workbook, for the whole run


@pytest.mark.slow
def test_two_runs_started_together_write_one_after_the_other_and_log_nothing_twice(path, after_two_runs):
    env = {**os.environ, "CRM_SHEETS_LOCK_TIMEOUT": "60"}
    cmd = [sys.executable, "-m", "crm_sheets", "run", str(path), "--now", NOW.isoformat(), "--json"]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode in (0, 1), err.decode()  # 1: the sample has data problems
        assert b"Traceback" not in err
    reports = [json.loads(out) for out, _ in outs]
    assert sorted(r["written"] for r in reports) in ([False, True], [True, True])
    # The second ran on what the first wrote, with the states the first committed: nothing twice.
    assert tables_of(path) == after_two_runs


@pytest.mark.slow
def test_a_second_run_waits_for_the_lock_then_exits_3_naming_who_holds_it(path, monkeypatch):
    monkeypatch.setenv("CRM_SHEETS_LOCK_TIMEOUT", "0.3")
    before = path.read_bytes()
    with WriterLock(path):
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["run", str(path), "--now", NOW.isoformat()])
        waited = time.monotonic() - started
    assert result.exit_code == 3, result.output
    assert f"another crm-sheets run (pid {os.getpid()} on " in result.output and ", started 20" in result.output
    assert "Traceback" not in result.output
    assert waited >= 0.3
    assert path.read_bytes() == before and not outbox_path(path).exists()


@pytest.mark.slow
def test_the_lock_is_held_from_before_the_read_until_the_states_are_committed(path, monkeypatch):
    held = []

    def probe(step: str) -> None:
        held.append((step, writer_lock_path(path).exists()))

    real_commit = Outbox.commit_states

    def commit(self, *args, **kwargs):
        held.append(("commit", writer_lock_path(path).exists()))
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(Outbox, "commit_states", commit)
    report = run(path, now=NOW, options=OPTIONS, on_step=probe)
    assert report.written
    assert [s for s, locked in held if not locked] == ["Delivering emails and notifications"]
    assert held[0][0].startswith("Reading") and ("commit", True) in held
    assert not writer_lock_path(path).exists()


@pytest.mark.slow
def test_a_dry_run_reads_while_a_run_holds_the_lock_and_writes_nothing_beside_the_workbook(path):
    run(path, ["check"], now=NOW)
    files = sorted(p.name for p in path.parent.iterdir())
    with WriterLock(path, timeout=0):
        report = run(path, ["check", "automate"], now=NOW, dry_run=True, lock_timeout=0)
    assert report.dry_run and not report.written
    assert sorted(p.name for p in path.parent.iterdir()) == files


def test_upgrade_takes_the_same_lock(path, monkeypatch):
    from crm_sheets.upgrade import upgrade

    monkeypatch.setenv("CRM_SHEETS_LOCK_TIMEOUT", "0")
    with WriterLock(path):
        with pytest.raises(WorkbookBusy) as e:
            upgrade(path)
    assert "another crm-sheets run" in e.value.message


# ---------------------------------------------------------------------------------------------
# SIGKILL at every step of the apply path


CRASH_OPS = {
    FileOps: ("write", "write_bytes", "fsync", "fsync_dir", "backup", "backup_as_read", "copy", "exchange", "replace", "unlink"),
    Outbox: ("enqueue", "prepare_states", "commit_states", "deliver"),
}


def _crashing_run(path: str, n: int, log: str) -> None:
    """Run every job on ``path``, killing this process (SIGKILL: no cleanup at all) at the Nth step;
    each step's name is appended to ``log`` first."""
    steps = [0]

    def wrap(cls, name):
        real = getattr(cls, name)

        def op(*args, **kwargs):
            steps[0] += 1
            with open(log, "a") as f:
                f.write(f"{cls.__name__}.{name}\n")
            if steps[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        setattr(cls, name, op)

    for cls, ops in CRASH_OPS.items():
        for name in ops:
            wrap(cls, name)
    try:
        run(Path(path), now=NOW, options=OPTIONS)
    finally:
        os._exit(0)


def crash_at(path: Path, n: int) -> tuple[bool, list[str]]:
    """Run with a SIGKILL at step n: whether it died, and the steps it reached (the last one killed it)."""
    log = path.parent / f"steps-{n}.log"
    proc = FORK.Process(target=_crashing_run, args=(str(path), n, str(log)))
    proc.start()
    proc.join(60)
    steps = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return proc.exitcode == -signal.SIGKILL, steps


def a_person_edits(path: Path) -> None:
    """Someone edits a note between the crash and the next run (the generation ID in _crm_meta stays)."""
    store = XlsxStore(path)
    t = store.read()
    edit = ChangeSet()
    edit.update("leads", t.df("leads").index[0], "notes", "called back, edited by hand")
    store.apply(edit, t)


@pytest.mark.slow
@needs_fork
@pytest.mark.parametrize("edit_after_crash", [False, True], ids=["next-run", "edited-then-next-run"])
def test_a_crash_at_any_step_then_a_run_gives_the_tables_of_an_uninterrupted_run(built, tmp_path, after_two_runs, edit_after_crash):
    expected = after_two_runs
    if edit_after_crash:
        base = tmp_path / "baseline" / "crm.xlsx"
        base.parent.mkdir()
        shutil.copy(built, base)
        run(base, now=NOW, options=OPTIONS)
        a_person_edits(base)
        run(base, now=NOW, options=OPTIONS)
        expected = tables_of(base)
    probe = tmp_path / "probe" / "crm.xlsx"
    probe.parent.mkdir()
    shutil.copy(built, probe)
    died, steps = crash_at(probe, 10**6)  # runs to the end: every step it takes
    assert not died
    points = range(1, len(steps) + 1)
    swap = "FileOps.exchange" if sys.platform == "linux" else "FileOps.replace"
    if edit_after_crash:  # a person's edit matters around the replace: just before it, and from it to the commit
        points = range(steps.index(swap) + 1, steps.index("Outbox.commit_states") + 2)
    crashed_at = []
    for n in points:
        path = tmp_path / f"crash{n}" / "crm.xlsx"
        path.parent.mkdir()
        shutil.copy(built, path)
        died, reached = crash_at(path, n)
        assert died and reached == steps[:n]
        where = reached[-1]
        crashed_at.append(where)
        if where == "Outbox.commit_states":  # the file was replaced, its states only prepared
            generation = XlsxStore(path).read().meta["generation"]
            assert Outbox(outbox_path(path)).job_states(generation).committed is False
        if edit_after_crash:
            a_person_edits(path)
        run(path, now=NOW, options=OPTIONS)
        assert tables_of(path) == expected, f"crash {n} at {where}: the next run's tables differ from an uninterrupted run's"
        assert stale_temp_files(path) == []
    must = {swap, "FileOps.fsync_dir", "Outbox.commit_states"}
    if not edit_after_crash:
        must |= {"Outbox.enqueue", "FileOps.write", "FileOps.fsync", "Outbox.prepare_states", "FileOps.backup_as_read", "Outbox.deliver"}
    assert must <= set(crashed_at)


def _plain_run(path: str) -> None:
    try:
        run(Path(path), now=NOW, options=OPTIONS)
    finally:
        os._exit(0)


KILL_TIMINGS = int(os.environ.get("CRM_SHEETS_TEST_TIMINGS", "3"))  # more for a long local hunt


@pytest.mark.slow
@needs_fork
def test_a_kill_at_any_moment_then_a_run_gives_the_tables_of_an_uninterrupted_run(built, tmp_path, after_two_runs):
    """Not only between I/O steps: SIGKILL after a delay spread over a whole run (inside the writer, the
    hashing, an SQLite commit...)."""
    import random

    probe = tmp_path / "probe" / "crm.xlsx"
    probe.parent.mkdir()
    shutil.copy(built, probe)
    started = time.monotonic()
    proc = FORK.Process(target=_plain_run, args=(str(probe),))
    proc.start()
    proc.join(60)
    duration = time.monotonic() - started
    rng = random.Random(12)
    for i in range(KILL_TIMINGS):
        delay = duration * (i + rng.random()) / KILL_TIMINGS
        path = tmp_path / f"kill{i}" / "crm.xlsx"
        path.parent.mkdir()
        shutil.copy(built, path)
        proc = FORK.Process(target=_plain_run, args=(str(path),))
        proc.start()
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(60)
        run(path, now=NOW, options=OPTIONS)
        assert tables_of(path) == after_two_runs, f"killed after {delay:.3f} s of {duration:.3f} s"


# ---------------------------------------------------------------------------------------------
# Pending change sets: applied once, with the states that go with them


@pytest.mark.slow
def test_a_pending_change_set_applied_after_the_lock_file_goes_away_adds_nothing_twice(path, after_two_runs):
    lock = path.with_name(".~lock.crm.xlsx#")
    lock.write_text("Ana,ana-pc,ana,02.11.2026 09:00,file:///x;")
    result = CliRunner().invoke(cli, ["run", str(path), "--now", NOW.isoformat()])
    assert result.exit_code == 3 and "will be applied on the next run" in result.output
    pending = read_pending(path)
    assert pending is not None and pending.states and "automate" in pending.states
    # The states of a run that wrote nothing are not committed: they travel with its change set.
    assert Outbox(outbox_path(path)).job_states().states == {}
    lock.unlink()
    run(path, now=NOW, options=OPTIONS)
    assert not pending_path(path).exists()
    run(path, now=NOW, options=OPTIONS)
    assert tables_of(path) == after_two_runs


@pytest.mark.slow
@needs_fork
def test_a_crash_while_a_pending_change_set_is_applied_repeats_nothing(path, tmp_path, after_two_runs):
    lock = path.with_name(".~lock.crm.xlsx#")
    lock.write_text("Ana,ana-pc,ana,02.11.2026 09:00,file:///x;")
    with pytest.raises(WorkbookBusy):
        run(path, now=NOW, options=OPTIONS)
    lock.unlink()
    saved = tmp_path / "busy"
    shutil.copytree(path.parent, saved, ignore=shutil.ignore_patterns("busy", "crash*"))
    probe = tmp_path / "probe"
    shutil.copytree(saved, probe)
    died, steps = crash_at(probe / "crm.xlsx", 10**6)
    assert not died and "FileOps.unlink" in steps  # the pending file's removal
    swap = "FileOps.exchange" if sys.platform == "linux" else "FileOps.replace"
    for n in range(steps.index(swap) + 1, steps.index("Outbox.commit_states") + 2):
        folder = tmp_path / f"crash{n}"
        shutil.copytree(saved, folder)
        died, reached = crash_at(folder / "crm.xlsx", n)
        assert died
        run(folder / "crm.xlsx", now=NOW, options=OPTIONS)
        assert not pending_path(folder / "crm.xlsx").exists()
        assert tables_of(folder / "crm.xlsx") == after_two_runs, f"crash at {reached[-1]} while applying the pending changes"


@pytest.mark.slow
def test_a_pending_file_left_after_its_write_is_dropped_not_applied_again(path, after_two_runs, monkeypatch):
    lock = path.with_name(".~lock.crm.xlsx#")
    lock.write_text("Ana,ana-pc,ana,02.11.2026 09:00,file:///x;")
    with pytest.raises(WorkbookBusy):
        run(path, now=NOW, options=OPTIONS)
    lock.unlink()
    left = pending_path(path).read_bytes()
    run(path, now=NOW, options=OPTIONS)
    pending_path(path).write_bytes(left)  # as if the delete after the write had failed or been cut short
    report = run(path, now=NOW, options=OPTIONS)
    assert not report.pending_applied and not pending_path(path).exists()
    assert tables_of(path) == after_two_runs


# ---------------------------------------------------------------------------------------------
# A colleague's save during every phase of a run is never lost


COLLEAGUE = "Edited by a colleague"


@pytest.fixture(scope="module")
def colleagues_version(built, tmp_path_factory):
    """The workbook as a colleague saved it: the first lead's company changed (made by our own writer)."""
    path = tmp_path_factory.mktemp("colleague") / "crm.xlsx"
    shutil.copy(built, path)
    store = XlsxStore(path)
    t = store.read()
    edit = ChangeSet()
    edit.update("leads", t.df("leads").index[0], "company", COLLEAGUE)
    store.apply(edit, t)
    return path


def colleague_saves(theirs: Path, path: Path) -> None:
    """Another process saves the workbook the way office programs do: a new file renamed over it."""
    code = "import os, shutil, sys; shutil.copy(sys.argv[1], sys.argv[2] + '~'); os.replace(sys.argv[2] + '~', sys.argv[2])"
    subprocess.run([sys.executable, "-c", code, str(theirs), str(path)], check=True)


PHASES = ["read", "jobs", "write", "backup", "before-swap"]


@pytest.mark.slow
@pytest.mark.parametrize("phase", PHASES)
def test_a_colleagues_save_during_a_run_is_never_lost(path, colleagues_version, phase, monkeypatch):
    saved = []

    def save_once() -> None:
        if not saved:
            saved.append(True)
            colleague_saves(colleagues_version, path)

    def on(cls, name, *, after=False):
        real = getattr(cls, name)

        def hooked(*args, **kwargs):
            if not after:
                save_once()
            out = real(*args, **kwargs)
            if after:
                save_once()
            return out

        monkeypatch.setattr(cls, name, hooked)

    if phase == "read":
        on(XlsxStore, "_load")  # after our snapshot of the bytes, while the reader parses
    elif phase == "write":
        on(XlsxStore, "_write")
    elif phase == "backup":
        on(FileOps, "backup_as_read")
    elif phase == "before-swap":
        on(safety, "_unchanged", after=True)  # after the last comparison, right before the swap
    step = (lambda msg: save_once() if msg.startswith("Running") else None) if phase == "jobs" else None
    report = run(path, now=NOW, options=OPTIONS, on_step=step)
    assert saved
    t = XlsxStore(path).read()
    assert t.df("leads").iloc[0]["company"] == COLLEAGUE, "the colleague's edit was lost"
    # Read again and run on their version (a save during the read is caught by the read itself).
    assert report.written and report.attempts == (1 if phase == "read" else 2)
    if report.backup:  # the backup is of a version someone saved, never a mix
        assert XlsxStore(Path(report.backup)).read().df("leads").iloc[0]["company"] == COLLEAGUE
    tables_of(path)  # no Activity or Audit Log row twice


@pytest.mark.slow
def test_a_colleagues_save_at_any_moment_of_a_run_is_never_lost(built, tmp_path, colleagues_version):
    import random

    probe = tmp_path / "probe" / "crm.xlsx"
    probe.parent.mkdir()
    shutil.copy(built, probe)
    started = time.monotonic()
    run(probe, now=NOW, options=OPTIONS)
    duration = time.monotonic() - started
    rng = random.Random(7)
    code = ("import os, shutil, sys, time; time.sleep(float(sys.argv[3])); "
            "shutil.copy(sys.argv[1], sys.argv[2] + '~'); os.replace(sys.argv[2] + '~', sys.argv[2])")
    for i in range(KILL_TIMINGS):
        delay = duration * (i + rng.random()) / KILL_TIMINGS
        path = tmp_path / f"save{i}" / "crm.xlsx"
        path.parent.mkdir()
        shutil.copy(built, path)
        colleague = subprocess.Popen([sys.executable, "-c", code, str(colleagues_version), str(path), str(delay)])
        try:
            run(path, now=NOW, options=OPTIONS)
        except WorkbookChanged:
            pass  # kept changing: exit 3, nothing written over their save
        colleague.wait(30)
        t = XlsxStore(path).read()
        assert t.df("leads").iloc[0]["company"] == COLLEAGUE, f"the save {delay:.3f} s into the run was lost"
        tables_of(path)


@pytest.mark.slow
def test_a_save_in_the_last_instant_before_the_swap_is_put_back(path, colleagues_version, monkeypatch):
    """Even between our last comparison and the swap itself (Linux: an exchange checked afterwards)."""
    if sys.platform != "linux":
        pytest.skip("the exchange of two files is Linux's renameat2")
    real = FileOps.exchange
    calls = []

    def exchange(self, a, b):
        if not calls:
            colleague_saves(colleagues_version, path)
        calls.append(a)
        return real(self, a, b)

    monkeypatch.setattr(FileOps, "exchange", exchange)
    report = run(path, now=NOW, options=OPTIONS)
    assert len(calls) >= 3  # swapped in, found their save, swapped back; then the retry's swap
    assert XlsxStore(path).read().df("leads").iloc[0]["company"] == COLLEAGUE
    assert report.attempts == 2
    tables_of(path)


# ---------------------------------------------------------------------------------------------
# A file mid-save is busy (exit 3), never broken (exit 2)


def test_a_workbook_cut_short_mid_save_is_busy_not_broken(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = CliRunner().invoke(cli, ["run", str(path), "--now", NOW.isoformat()])
    assert result.exit_code == 3, result.output
    assert "crm.xlsx is not a whole workbook yet: a program is saving it" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2
    assert path.read_bytes() == data[: len(data) // 2]


def test_an_empty_workbook_file_is_busy(path):
    path.write_bytes(b"")
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 3, result.output


def test_a_workbook_file_a_program_filled_with_zeros_before_saving_is_busy(path):
    # several megabytes of zeros (a save that reserved the file's room first): read a piece at a time, still busy
    path.write_bytes(b"\0" * (3 << 20) + b"\0\0\0")
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 3, result.output
    assert "not a whole workbook yet" in result.output


@pytest.mark.slow
def test_a_save_that_finishes_while_we_wait_is_read_whole(path):
    data = path.read_bytes()
    whole = path.with_name("whole.xlsx")
    whole.write_bytes(data)
    path.write_bytes(data[:1000])
    finisher = subprocess.Popen(
        [sys.executable, "-c", "import os, sys, time; print('saving', flush=True); time.sleep(0.4); os.replace(sys.argv[1], sys.argv[2])",
         str(whole), str(path)], stdout=subprocess.PIPE,
    )
    assert finisher.stdout.readline() == b"saving\n"  # it is up: the save ends 0.4 s from now
    try:
        report = run(path, ["check"], now=NOW)
    finally:
        finisher.wait(10)
    assert report.written
    assert list_backups(path)[-1].read_bytes() == data  # the whole file, as read
