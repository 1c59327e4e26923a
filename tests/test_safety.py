"""The write-safety layer on its own: office locks, the writer lock, fingerprints, backups, the atomic
replace, pending change sets, and apply under injected faults, crashes and concurrent runs.

The writer here is a stand-in that writes known bytes: safety must not depend on what the writer does.
"""
from __future__ import annotations

import datetime as dt
import errno
import multiprocessing
import os
import socket
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from crm_sheets.errors import CrmSheetsError, WorkbookBusy, WorkbookChanged
from crm_sheets.model import AuditEntry, Cell, CellUpdate, ChangeSet, ChartSeries, ChartSpec, RowAppend, RowArchive, RowRestore, SheetSpec
from crm_sheets.store.pending import clear_pending, dumps, load_pending, loads, pending_path, save_pending
from crm_sheets.store.safety import (
    FileOps,
    WriterLock,
    atomic_replace,
    file_fingerprint,
    list_backups,
    office_lock_holder,
    stale_temp_files,
    writer_lock_path,
)
from crm_sheets.store.xlsx import XlsxStore

OLD = b"PK old workbook bytes " * 100
NEW = b"PK new workbook bytes " * 120
REPO = Path(__file__).resolve().parent.parent


class StandInStore(XlsxStore):
    """An XlsxStore whose reader and writer are trivial, to test the safety around them."""

    def __init__(self, path, new_bytes=NEW, **kw):
        super().__init__(path, **kw)
        self.new_bytes = new_bytes
        self.before_write = None

    def _load(self):
        return SimpleNamespace(setting=lambda key, default=None: default)

    def _write(self, dst, changeset, tables):
        if self.before_write:
            self.before_write()
        Path(dst).write_bytes(self.new_bytes)


class FailingOps(FileOps):
    """Fails the Nth file operation (counting from 1) with an I/O error, as SQLite's fault tests do."""

    def __init__(self, fail_at: int):
        self.fail_at = fail_at
        self.calls: list[str] = []

    def _step(self, name: str) -> bool:
        self.calls.append(name)
        return len(self.calls) == self.fail_at

    def write(self, path, write_fn):
        if self._step("write"):
            Path(path).write_bytes(NEW[:10])  # a torn write: some bytes made it
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write(path, write_fn)

    def write_bytes(self, path, data):
        if self._step("write_pending"):
            Path(path).write_bytes(data[:5])
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write_bytes(path, data)

    def __getattribute__(self, name):
        if name in ("fsync", "fsync_dir", "replace", "copy", "backup", "backup_as_read", "exchange", "unlink"):
            real = super().__getattribute__(name)

            def op(*args):
                if self._step(name):
                    raise OSError(errno.EIO, f"injected {name} failure")
                return real(*args)

            return op
        return super().__getattribute__(name)


def sample_changeset() -> ChangeSet:
    cs = ChangeSet()
    cs.update("leads", "L-00001", "status", "qualified", before="new", reason="score")
    cs.update("leads", "L-00002", "score", np.float64(42.5))
    cs.appends.append(RowAppend("activities", "A-00010", {"subject": "Call", "when": pd.Timestamp("2026-01-02 10:30")}))
    cs.sheets.append(SheetSpec("Dashboard", "dashboard", rows=[[Cell("Pipeline", style="title")], ["Won", 3]]))
    cs.sequences["activities"] = 11
    return cs


def workbook(tmp_path: Path) -> Path:
    path = tmp_path / "crm.xlsx"
    path.write_bytes(OLD)
    return path


# ---------------------------------------------------------------------------------------------
# Office lock files


def excel_owner_file(name: str) -> bytes:
    ansi = name.encode("cp1252")
    wide = name.encode("utf-16-le")
    data = bytes([len(ansi)]) + ansi.ljust(53, b" ") + bytes([len(name), 0]) + wide
    return data.ljust(165, b"\x00")


def test_nobody_holds_a_workbook_without_lock_files(tmp_path):
    assert office_lock_holder(workbook(tmp_path)) is None


def test_excel_owner_file_names_who_has_the_workbook_open(tmp_path):
    path = workbook(tmp_path)
    (tmp_path / "~$crm.xlsx").write_bytes(excel_owner_file("Anaïs Lopez"))
    assert office_lock_holder(path) == "Anaïs Lopez (Excel)"


def test_excel_owner_file_of_a_long_name_drops_its_first_two_characters(tmp_path):
    path = tmp_path / "Pipeline2026.xlsx"
    path.write_bytes(OLD)
    (tmp_path / "~$peline2026.xlsx").write_bytes(excel_owner_file("Bob"))
    assert office_lock_holder(path) == "Bob (Excel)"


def test_unreadable_excel_owner_file_still_counts_as_open(tmp_path):
    path = workbook(tmp_path)
    (tmp_path / "~$crm.xlsx").write_bytes(b"")
    assert office_lock_holder(path) == "someone (Excel)"


def test_libreoffice_lock_file_names_user_and_host(tmp_path):
    path = workbook(tmp_path)
    (tmp_path / ".~lock.crm.xlsx#").write_text("Ana Lopez,ana-laptop,ana,02.01.2026 10:00,file:///home/ana/.config/libreoffice/4;")
    assert office_lock_holder(path) == "Ana Lopez on ana-laptop (LibreOffice)"


# ---------------------------------------------------------------------------------------------
# The one-writer lock


def test_second_writer_is_refused_with_the_holders_pid(tmp_path):
    path = workbook(tmp_path)
    with WriterLock(path):
        with pytest.raises(WorkbookBusy) as e:
            WriterLock(path, timeout=0.1).acquire()
    assert e.value.exit_code == 3
    assert f"another crm-sheets run (pid {os.getpid()} on {socket.gethostname()}, started 20" in e.value.message
    assert "is writing crm.xlsx" in e.value.message
    assert e.value.hint == "wait for it to finish and run again (waited 0.1 s; CRM_SHEETS_LOCK_TIMEOUT sets how long)"


def test_writer_lock_is_removed_on_release_and_can_be_taken_again(tmp_path):
    path = workbook(tmp_path)
    with WriterLock(path):
        assert writer_lock_path(path).read_text().startswith(f"pid={os.getpid()}\n")
    assert not writer_lock_path(path).exists()
    with WriterLock(path, timeout=0) as lock:
        assert lock.held


def test_a_lock_file_left_by_a_dead_run_does_not_block(tmp_path):
    path = workbook(tmp_path)
    writer_lock_path(path).write_text("pid=999999\nhost=gone\n")
    with WriterLock(path, timeout=0) as lock:
        assert lock.held


def test_store_lock_is_reentrant_so_apply_works_inside_it(tmp_path):
    path = workbook(tmp_path)
    store = StandInStore(path, backups=0)
    store.read()
    with store.lock():
        assert store.apply(sample_changeset()).written
    assert path.read_bytes() == NEW


# ---------------------------------------------------------------------------------------------
# Fingerprints and change detection


def test_fingerprint_is_size_mtime_and_sha256(tmp_path):
    path = workbook(tmp_path)
    fp = file_fingerprint(path)
    import hashlib

    assert (fp.size, fp.sha256) == (len(OLD), hashlib.sha256(OLD).hexdigest())
    assert fp.mtime_ns == path.stat().st_mtime_ns


def test_a_touched_but_unchanged_workbook_is_written(tmp_path):
    path = workbook(tmp_path)
    store = StandInStore(path, backups=0)
    store.read()
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 5_000_000_000))
    assert store.apply(sample_changeset()).written
    assert path.read_bytes() == NEW


def test_a_workbook_saved_between_read_and_write_is_not_overwritten(tmp_path):
    path = workbook(tmp_path)
    store = StandInStore(path, backups=0)
    store.read()
    path.write_bytes(OLD.replace(b"old", b"NEW"))  # someone saved it: same size, new content
    with pytest.raises(WorkbookChanged) as e:
        store.apply(sample_changeset())
    assert e.value.exit_code == 3
    assert e.value.message == "crm.xlsx changed on disk since it was read; nothing was written"
    assert path.read_bytes() == OLD.replace(b"old", b"NEW")
    assert load_pending(path) is None  # the runner re-reads and re-runs on the fresh data instead


def test_the_backup_holds_the_bytes_read_and_a_save_before_it_is_refused_without_a_backup(tmp_path):
    path = workbook(tmp_path)
    store = StandInStore(path, backups=3)
    store.read()
    assert store.apply(sample_changeset()).written
    assert [b.read_bytes() for b in list_backups(path)] == [OLD]  # copied from the file, checked against the read

    other = tmp_path / "other"
    other.mkdir()
    path = workbook(other)
    store = StandInStore(path, backups=3)
    store.read()
    path.write_bytes(OLD.replace(b"old", b"NEW"))  # a colleague's save before our backup is made
    with pytest.raises(WorkbookChanged):
        store.apply(sample_changeset())
    assert list_backups(path) == [] and path.read_bytes() == OLD.replace(b"old", b"NEW")
    folder = other / ".crm-backups"
    assert not folder.exists() or list(folder.iterdir()) == []  # no partial backup either


def test_an_edit_that_keeps_size_and_mtime_is_still_detected(tmp_path):
    path = workbook(tmp_path)
    store = StandInStore(path, backups=0)
    store.read()
    st = path.stat()
    path.write_bytes(OLD.replace(b"old", b"odd"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(WorkbookChanged):
        store.apply(sample_changeset())


def test_a_save_during_our_write_is_detected_before_the_replace(tmp_path):
    path = workbook(tmp_path)
    store = StandInStore(path, backups=0)
    store.read()
    store.before_write = lambda: path.write_bytes(b"saved by Excel meanwhile")
    with pytest.raises(WorkbookChanged):
        store.apply(sample_changeset())
    assert path.read_bytes() == b"saved by Excel meanwhile"
    assert stale_temp_files(path) == []


def test_a_second_apply_after_our_own_write_needs_no_new_read(tmp_path):
    path = workbook(tmp_path)
    store = StandInStore(path, backups=0)
    store.read()
    store.apply(sample_changeset())
    store.new_bytes = b"third version"
    assert store.apply(sample_changeset()).written
    assert path.read_bytes() == b"third version"


# ---------------------------------------------------------------------------------------------
# Atomic replace and backups


def test_atomic_replace_swaps_content_and_keeps_a_backup_of_the_old(tmp_path):
    path = workbook(tmp_path)
    path.chmod(0o640)
    backup = atomic_replace(path, lambda tmp: tmp.write_bytes(NEW), backups=3)
    assert path.read_bytes() == NEW
    assert backup.read_bytes() == OLD
    assert backup.parent == tmp_path / ".crm-backups"
    assert backup.name.startswith("crm.") and backup.suffix == ".xlsx"
    assert path.stat().st_mode & 0o777 == 0o640
    assert stale_temp_files(path) == []


def test_atomic_replace_removes_the_temp_file_when_the_writer_fails(tmp_path):
    path = workbook(tmp_path)

    def broken_writer(tmp):
        tmp.write_bytes(b"half")
        raise ValueError("writer bug")

    with pytest.raises(ValueError):
        atomic_replace(path, broken_writer)
    assert path.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.xlsx"]


def test_backups_rotate_to_the_configured_number(tmp_path):
    path = workbook(tmp_path)
    versions = [OLD] + [f"version {i}".encode() for i in range(1, 6)]
    for v in versions[1:]:
        atomic_replace(path, lambda tmp, v=v: tmp.write_bytes(v), backups=2)
    kept = list_backups(path)
    assert [b.read_bytes() for b in kept] == [b"version 3", b"version 4"]
    assert path.read_bytes() == b"version 5"


def test_zero_backups_keeps_none(tmp_path):
    path = workbook(tmp_path)
    assert atomic_replace(path, lambda tmp: tmp.write_bytes(NEW), backups=0) is None
    assert list_backups(path) == []


def test_store_takes_the_backup_count_from_the_settings_sheet(tmp_path):
    path = workbook(tmp_path)
    store = StandInStore(path)
    store.read()
    tables = SimpleNamespace(setting=lambda key, default=None: {"backups": 1.0}.get(key, default))
    for i in range(3):
        store.new_bytes = f"v{i}".encode()
        store.apply(sample_changeset(), tables)
    assert [b.read_bytes() for b in list_backups(path)] == [b"v1"]


# ---------------------------------------------------------------------------------------------
# Office locks block the write; the change set lands on the next run


@pytest.mark.parametrize(
    "lock_name, content, who",
    [
        ("~$crm.xlsx", excel_owner_file("Ana Lopez"), "Ana Lopez (Excel)"),
        (".~lock.crm.xlsx#", b"Bob,bob-pc,bob,02.01.2026 10:00,file:///x;", "Bob on bob-pc (LibreOffice)"),
    ],
)
def test_an_open_workbook_is_not_written_and_the_changes_wait_for_the_next_run(tmp_path, lock_name, content, who):
    path = workbook(tmp_path)
    (tmp_path / lock_name).write_bytes(content)
    store = StandInStore(path, backups=0)
    store.read()
    changes = sample_changeset()
    with pytest.raises(WorkbookBusy) as e:
        store.apply(changes)
    assert e.value.exit_code == 3
    assert e.value.message == (
        f"crm.xlsx is open by {who}; nothing was written, the changes were saved and will be applied on the next run"
    )
    assert e.value.hint == f"close it and run again (if nobody has it open, delete {lock_name})"
    assert path.read_bytes() == OLD
    assert store.pending() == changes

    (tmp_path / lock_name).unlink()
    next_run = StandInStore(path, backups=0)
    next_run.read()
    pending = next_run.pending()
    assert pending == changes
    result = next_run.apply(ChangeSet().extend(pending))
    assert result.written and not result.pending
    assert path.read_bytes() == NEW
    assert next_run.pending() is None and not pending_path(path).exists()


def test_a_workbook_opened_while_we_write_is_not_replaced(tmp_path):
    path = workbook(tmp_path)
    store = StandInStore(path, backups=0)
    store.read()
    store.before_write = lambda: (tmp_path / "~$crm.xlsx").write_bytes(excel_owner_file("Ana"))
    with pytest.raises(WorkbookBusy):
        store.apply(sample_changeset())
    assert path.read_bytes() == OLD
    assert load_pending(path) == sample_changeset()


# ---------------------------------------------------------------------------------------------
# Fault injection: fail the Nth file operation of apply until apply completes


def test_failing_any_file_operation_leaves_old_or_new_workbook_and_loses_no_change_set(tmp_path):
    changes = sample_changeset()
    earlier = ChangeSet()
    earlier.update("leads", "L-00003", "owner", "Ana")
    merged = ChangeSet().extend(earlier).extend(changes)
    outcomes = []
    n = 0
    while True:
        n += 1
        folder = tmp_path / f"run{n}"
        folder.mkdir()
        path = workbook(folder)
        for i in range(3):  # existing backups, so rotation's deletes are among the operations
            (folder / ".crm-backups").mkdir(exist_ok=True)
            (folder / ".crm-backups" / f"crm.2025010{i + 1}-000000-000000.xlsx").write_bytes(OLD)
        save_pending(path, earlier)  # left by an earlier run; this run merged it in
        ops = FailingOps(n)
        store = StandInStore(path, backups=2, ops=ops)
        store.read()
        try:
            result = store.apply(merged)
            error = None
        except CrmSheetsError as e:
            result, error = None, e
        content = path.read_bytes()
        assert content in (OLD, NEW), f"fault {n} ({ops.calls[-1]}) tore the workbook"
        leftovers = [p.name for p in folder.iterdir() if ".crm-tmp-" in p.name]
        assert leftovers == [], f"fault {n} ({ops.calls[-1]}) left {leftovers}"
        if content == OLD:
            assert error is not None
            assert load_pending(path) == merged, f"fault {n} ({ops.calls[-1]}) lost the change set"
            assert "the changes were saved and will be applied on the next run" in error.message
        elif result is None or result.pending:
            # Written, but the stale pending file could not be removed: the result says so.
            assert result is not None and "delete it before the next run" in result.message
        else:
            assert load_pending(path) is None
        outcomes.append((ops.calls[n - 1] if n <= len(ops.calls) else "none", content == NEW))
        if len(ops.calls) < n:  # apply ran to the end without reaching the Nth operation
            assert result is not None and result.written
            break
    failed_ops = [name for name, _ in outcomes[:-1]]
    # Every kind of operation was failed at least once.
    assert {"write", "fsync", "backup_as_read", "exchange" if sys.platform == "linux" else "replace", "fsync_dir", "unlink"} <= set(failed_ops)
    # Failures before the replace keep the old workbook; from the replace's success on, the new one.
    assert [new for _, new in outcomes[:-1]] == sorted(new for _, new in outcomes[:-1])


def test_failing_the_pending_write_of_an_open_workbook_says_the_changes_are_not_kept(tmp_path):
    for n in (1, 2, 3):
        folder = tmp_path / f"run{n}"
        folder.mkdir()
        path = workbook(folder)
        (folder / "~$crm.xlsx").write_bytes(excel_owner_file("Ana"))
        store = StandInStore(path, backups=0, ops=FailingOps(n))
        store.read()
        with pytest.raises(WorkbookBusy) as e:
            store.apply(sample_changeset())
        assert "the changes could not be kept for later" in e.value.message
        assert path.read_bytes() == OLD
        assert sorted(p.name for p in folder.iterdir()) == ["crm.xlsx", "~$crm.xlsx"]


# ---------------------------------------------------------------------------------------------
# A crash between the temp write and the replace


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from crm_sheets.store.safety import FileOps, atomic_replace

    class CrashBeforeReplace(FileOps):
        def replace(self, src, dst):
            os._exit(9)  # the process dies: no cleanup, no finally blocks

    atomic_replace(Path(sys.argv[1]), lambda tmp: tmp.write_bytes(b"new" * 1000), ops=CrashBeforeReplace())
    """
)


@pytest.mark.slow  # another process
def test_a_crash_between_temp_write_and_replace_leaves_the_original_intact(tmp_path):
    path = workbook(tmp_path)
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(path)], cwd=REPO, capture_output=True)
    assert proc.returncode == 9, proc.stderr.decode()
    assert path.read_bytes() == OLD
    assert len(stale_temp_files(path)) == 1  # what the crash left behind
    store = StandInStore(path, backups=0)
    store.read()
    store.apply(sample_changeset())  # the next run cleans it up under the writer lock
    assert path.read_bytes() == NEW
    assert stale_temp_files(path) == []


# ---------------------------------------------------------------------------------------------
# Two runs at once never both write


def _concurrent_apply(path: str, tag: bytes, lock_timeout: float, barrier, results) -> None:
    import time

    store = StandInStore(Path(path), new_bytes=tag * 100, backups=0, lock_timeout=lock_timeout)
    store.read()
    store.before_write = lambda: time.sleep(0.3)  # widen the window in which both would be writing
    barrier.wait()
    try:
        store.apply(sample_changeset())
        results.put((tag, "written"))
    except WorkbookBusy:
        results.put((tag, "busy"))
    except WorkbookChanged:
        results.put((tag, "changed"))


@pytest.mark.slow  # another process
@pytest.mark.parametrize("lock_timeout", [0.0, 5.0])
def test_two_runs_applying_at_once_never_both_write(tmp_path, lock_timeout):
    path = workbook(tmp_path)
    ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_concurrent_apply, args=(str(path), tag, lock_timeout, barrier, results)) for tag in (b"A", b"B")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    outcomes = dict(results.get(timeout=5) for _ in procs)
    winners = [tag for tag, what in outcomes.items() if what == "written"]
    assert len(winners) == 1, outcomes
    loser = ({b"A", b"B"} - set(winners)).pop()
    assert outcomes[loser] == ("busy" if lock_timeout == 0 else "changed")
    assert path.read_bytes() == winners[0] * 100


# ---------------------------------------------------------------------------------------------
# Pending change sets: an exact JSON round trip


def every_kind_of_value() -> ChangeSet:
    cs = ChangeSet()
    values = [
        "=1+1", "", None, True, False, 0, -7, 10**20, 0.1, 1e-300, float("inf"), float("-inf"),
        dt.date(2026, 2, 3), dt.datetime(2026, 2, 3, 4, 5, 6, 789), dt.datetime(2026, 2, 3, 4, 5, tzinfo=ZoneInfo("Europe/Paris")),
        dt.datetime(2026, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))), dt.time(9, 30), dt.timedelta(days=2, seconds=3),
        pd.Timestamp("2026-02-03 04:05:06.123456789"), pd.Timestamp("2026-02-03", tz="America/New_York"), pd.Timedelta("1h"),
        np.int64(5), np.int32(-3), np.float64(2.5), np.float32(0.25), np.bool_(True), np.datetime64("2026-02-03T04:05", "ns"),
        np.datetime64("NaT", "ns"), np.timedelta64(3, "s"), Decimal("1200.50"), pd.NaT, pd.NA,
        ("a", 1), ["x", ["y"]], {"k": [1, 2]}, {1: "int key"}, {"$type": "not a class"}, "€1 200,50 ünïcode",
    ]
    for i, v in enumerate(values):
        cs.update("leads", f"L-{i:05d}", "notes", v, before=v, reason=f"value {i}")
    cs.appends.append(RowAppend("leads", "L-00100", {"name": "Ana", "score": np.float64(3.0), "created": pd.Timestamp("2026-01-01")}))
    cs.archives.append(RowArchive("leads", "L-00002", "merged", {"merged_into": "L-00001", "merged_at": dt.datetime(2026, 1, 1)}))
    cs.restores.append(RowRestore("merged", "L-00003", "leads"))
    cs.sheets.append(
        SheetSpec(
            "Tableau de bord", "dashboard",
            rows=[[Cell("Pipeline", style="title")], [Cell(1200.5, style="money", currency="EUR"), Cell(None, formula="=SUM(B2:B9)")], ["plain", 3, None]],
            widths={0: 30.0, 3: 12.5}, freeze=(3, 1), autofilter="A3:H120", merges=["A1:D1"],
            charts=[ChartSpec("bar", "By stage", (ChartSeries("Deals", "A5:A10", "B5:B10"),), "H2")],
            tab_color="1F4E78", landscape=False, hidden=True,
        )
    )
    cs.sequences.update({"leads": 101, "deals": 7})
    cs.audit.append(AuditEntry("score", "leads", "L-00001", "score", np.float64(1.0), 2, "rule x"))
    return cs


def _same(a, b) -> bool:
    """Equal values of the same type, NaN and NaT equal to themselves."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if hasattr(a, "__dataclass_fields__"):
        return all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    if a is pd.NA or a is pd.NaT:
        return a is b
    if isinstance(a, np.generic) and a.dtype != b.dtype:
        return False
    if isinstance(a, (np.datetime64, np.timedelta64)) and np.isnat(a):
        return bool(np.isnat(b))
    if isinstance(a, (dt.datetime, pd.Timestamp)) and (a.tzinfo is None) != (b.tzinfo is None):
        return False
    if isinstance(a, pd.Timestamp) and (a.unit, str(a.tz)) != (b.unit, str(b.tz)):
        return False
    if isinstance(a, dt.datetime) and str(a.tzinfo) != str(b.tzinfo):
        return False
    return bool(a == b)


def test_pending_json_round_trips_every_kind_of_value_exactly():
    cs = every_kind_of_value()
    back = loads(dumps(cs))
    assert _same(back, cs)
    assert back.updates[0].value == "=1+1" and type(back.updates[0].value) is str


def test_pending_json_is_readable_text(tmp_path):
    path = workbook(tmp_path)
    save_pending(path, sample_changeset(), reason="open by Ana (Excel)")
    text = pending_path(path).read_text()
    assert pending_path(path).name == ".crm.xlsx.crm-pending.json"
    assert '"reason": "open by Ana (Excel)"' in text and '"qualified"' in text


def test_pending_file_cannot_name_arbitrary_classes(tmp_path):
    path = workbook(tmp_path)
    text = dumps(sample_changeset()).replace('"$type": "CellUpdate"', '"$type": "Popen"', 1)
    pending_path(path).write_text(text)
    with pytest.raises(CrmSheetsError) as e:
        load_pending(path)
    assert "the pending changes of crm.xlsx cannot be read (unknown class 'Popen')" in e.value.message


def test_saving_a_value_of_an_unknown_type_is_refused():
    cs = ChangeSet()
    cs.update("leads", "L-00001", "notes", object())
    with pytest.raises(TypeError):
        dumps(cs)


def test_clear_pending_removes_the_file(tmp_path):
    path = workbook(tmp_path)
    assert clear_pending(path) is False
    save_pending(path, sample_changeset())
    assert load_pending(path) == sample_changeset()
    assert clear_pending(path) is True
    assert load_pending(path) is None


def test_a_workbook_saved_while_being_read_is_read_again(tmp_path):
    path = workbook(tmp_path)
    saves = [b"saved once while we read"]

    class SavedDuringRead(StandInStore):
        def _load(self):
            if saves:
                path.write_bytes(saves.pop())
            return super()._load()

    store = SavedDuringRead(path, backups=0)
    store.read()
    assert store.apply(sample_changeset()).written  # the fingerprint is of the second, consistent read


def test_a_workbook_that_keeps_changing_while_being_read_is_refused(tmp_path):
    path = workbook(tmp_path)

    class AlwaysSaving(StandInStore):
        def _load(self):
            path.write_bytes(path.read_bytes() + b"!")
            return super()._load()

    with pytest.raises(WorkbookChanged) as e:
        AlwaysSaving(path).read()
    assert e.value.message == "crm.xlsx kept changing while it was being read"


def test_apply_of_an_empty_change_set_writes_nothing(tmp_path):
    path = workbook(tmp_path)
    store = StandInStore(path)
    store.read()
    result = store.apply(ChangeSet())
    assert (result.written, result.message) == (False, "nothing to write to crm.xlsx")
    assert path.read_bytes() == OLD and list_backups(path) == []
