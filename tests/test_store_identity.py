"""A store's identity decides where its state lives: a workbook file keeps its pending change set, outbox and
lock beside it under the names it always had; a remote store keeps them in a folder of its own under the user's
state folder. open_store opens registered backends, and the runner reaches a store only through the protocol."""
from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest
from helpers import calamine, grids

from crm_sheets.errors import UsageError, WorkbookBusy
from crm_sheets.model import ChangeSet
from crm_sheets.model.schema import normalize_header
from crm_sheets.store import open_store, register_scheme, unregister_scheme
from crm_sheets.store.base import Store
from crm_sheets.store.core import MemoryGrids, read_tables
from crm_sheets.store.pending import read_pending, save_pending
from crm_sheets.store.safety import WriterLock
from crm_sheets.store.state import StoreState, user_state_dir


def test_a_workbook_file_keeps_its_state_beside_it_under_the_names_it_always_had(built_book, tmp_path):
    from helpers import fresh_copy

    path = fresh_copy(built_book(), tmp_path)
    store = open_store(path)
    assert isinstance(store, Store)
    assert store.identity == f"file:{path.resolve()}"
    assert store.state_dir == path.parent
    assert store.state.pending == tmp_path / ".crm.xlsx.crm-pending.json"
    assert store.state.outbox == tmp_path / ".crm.xlsx.outbox.sqlite"
    assert store.state.lock == tmp_path / ".crm.xlsx.crm-lock"


def test_a_remote_store_keeps_its_state_in_its_own_folder_under_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "state"))
    a, b = StoreState.for_remote("gsheets:1AbC"), StoreState.for_remote("gsheets:1abc")
    assert a.dir.parent == tmp_path / "state" and a.dir != b.dir  # IDs differing only in case stay apart
    assert a.dir.name.startswith("gsheets_1AbC-")
    assert not a.dir.exists()  # nothing is made until something is kept there

    cs = ChangeSet()
    cs.update("leads", "L-00001", "city", "Lyon")
    save_pending(a, cs, reason="open by someone")
    assert (a.dir / ".store.crm-pending.json").exists()
    assert read_pending(a).changeset.updates[0].value == "Lyon"
    assert read_pending(b) is None  # keyed by identity: another sheet has no pending changes

    with WriterLock(a, timeout=0):
        with pytest.raises(WorkbookBusy, match="is writing gsheets:1AbC"):
            WriterLock(a, timeout=0).acquire()
        WriterLock(b, timeout=0).acquire().release()  # another sheet's lock is its own


def test_the_state_dir_follows_xdg_state_home_unless_crm_sheets_state_dir_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_SHEETS_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("sys.platform", "linux")
    assert user_state_dir() == tmp_path / "xdg" / "crm-sheets"
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "mine"))
    assert user_state_dir() == tmp_path / "mine"


def test_an_unknown_scheme_is_refused_with_what_to_write_instead():
    with pytest.raises(UsageError, match=r"nosuch://x: the nosuch:// backend is not available") as e:
        open_store("nosuch://x")
    assert ".xlsx" in e.value.hint
    from crm_sheets.upgrade import upgrade

    with pytest.raises(UsageError, match="nosuch://"):  # upgrade opens stores through open_store too
        upgrade("nosuch://x")


class MemoryStore:
    """A read-only store over grids: the smallest backend, to show what the runner needs of one."""

    def __init__(self, spec: str, source: MemoryGrids):
        self.identity = spec.replace("://", ":", 1)
        self.name = spec
        self.state = StoreState.for_remote(self.identity)
        self.source = source
        self.fingerprint = None

    @property
    def state_dir(self) -> Path:
        return self.state.dir

    def describe(self) -> str:
        return self.name

    def read(self):
        return read_tables(self.source)

    def apply(self, changeset, tables, *, before_replace=None, states=None):
        raise AssertionError("a dry run writes nothing")

    def pending(self):
        return None

    def pending_file(self):
        return None

    def lock(self):
        return contextlib.nullcontext(self)

    def open_by(self):
        return None

    def layout(self, tables, only=None):
        raise AssertionError("not needed by a dry run")


@pytest.mark.slow
def test_a_registered_backend_runs_the_jobs_like_the_file_it_was_copied_from(built_book, tmp_path, monkeypatch):
    from crm_sheets.runner import run

    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "state"))
    path = built_book(sample_data=50)
    book = calamine(path, tables=True)
    tables = {normalize_header(n): (book.get_table_by_name(n).sheet, book.get_table_by_name(n).start[0])
              for n in book.table_names}
    source = MemoryGrids(grids(path), name="crm", source=str(path), tables=tables)
    register_scheme("memtest", lambda spec, **options: MemoryStore(spec, source), "memtest://NAME")
    try:
        assert isinstance(open_store("memtest://crm"), Store)
        now = dt.datetime(2026, 3, 15, 9, 0)
        on_memory = run("memtest://crm", ["check", "dedupe"], now=now, dry_run=True)
        on_file = run(path, ["check", "dedupe"], now=now, dry_run=True)
    finally:
        unregister_scheme("memtest")
    assert [r.findings for r in on_memory.results] == [r.findings for r in on_file.results]
    assert on_memory.changes.summary() == on_file.changes.summary()
    assert sum(len(r.findings) for r in on_file.results) > 0
