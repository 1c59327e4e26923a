"""What every store does around a write, whatever its medium: the one-writer lock, re-entrant within the store
(``apply`` inside a run's ``with store.lock()``), and the pending change set a failed write leaves for the next run.

A pending change set that cannot be kept, or cannot be removed once written, is said (a warning in the log, and
the error for the store's message), never passed over: a change set not kept is lost to the next run.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable

from crm_sheets.errors import CrmSheetsError
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.store.pending import Pending, clear_pending, pending_path, read_pending, save_pending
from crm_sheets.store.safety import DEFAULT_OPS, FileOps, WriterLock
from crm_sheets.store.state import StoreState

log = logging.getLogger("crm_sheets.store")


class KeptState:
    """What every store has alike beside its lock and pending file: ``state_dir``, the folder of its ``state``."""

    state: StoreState

    @property
    def state_dir(self) -> Path:
        return self.state.dir


def describe_changes(changeset: ChangeSet) -> str:
    """What a change set does, for people: "12 cells, 3 new rows, 1 sheet" (every store's message says it)."""
    words = {
        "updated_cells": ("cell", "cells"),
        "appended_rows": ("new row", "new rows"),
        "archived_rows": ("archived row", "archived rows"),
        "restored_rows": ("restored row", "restored rows"),
        "replaced_sheets": ("sheet", "sheets"),
    }
    parts = [f"{n} {words[k][n != 1]}" for k, n in changeset.summary().items() if n and k in words]
    return ", ".join(parts) or "ID sequences"


class StoreLock:
    """A store's writer lock: the OS lock every crm-sheets run on the workbook takes (WriterLock), taken on the
    first entry and released on the last, so entries nest within one store.

    ``make()`` gives the WriterLock on each first entry (a store whose state folder can move, as an Excel book
    saved under a name, builds it then). ``local`` is an in-process lock taken before it, and ``busy()`` the
    error when ``local`` is not free within ``timeout`` seconds (5 when None)."""

    def __init__(self, make: Callable[[], WriterLock], *, local: threading.RLock | None = None,
                 busy: Callable[[], CrmSheetsError] | None = None, timeout: float | None = None):
        self._make = make
        self._local = local
        self._busy = busy
        self._timeout = timeout
        self._lock: WriterLock | None = None
        self.depth = 0

    @property
    def held(self) -> bool:
        return self.depth > 0

    def __enter__(self) -> StoreLock:
        if self.depth == 0:
            local = self._local
            if local is not None and not local.acquire(timeout=self._timeout if self._timeout is not None else 5):
                raise self._busy() if self._busy is not None else CrmSheetsError("another run is writing this workbook")
            try:
                lock = self._make()
                lock.acquire()
                self._lock = lock
            except BaseException:
                if local is not None:
                    local.release()
                raise
        self.depth += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        self.depth -= 1
        if self.depth == 0:
            try:
                if self._lock is not None:
                    self._lock.release()
            finally:
                self._lock = None
                if self._local is not None:
                    self._local.release()


class PendingKeeper:
    """A store's pending change set (store/pending.py holds the file's format): whether one waits, keeping one
    when a write fails, removing it once its changes are written. ``state`` is the store's state, or a function
    giving it when it can move (an Excel book saved under a name)."""

    def __init__(self, state: StoreState | Callable[[], StoreState], *, ops: FileOps = DEFAULT_OPS):
        self._state = state
        self.ops = ops

    @property
    def state(self) -> StoreState:
        return self._state() if callable(self._state) else self._state

    @property
    def path(self) -> Path:
        return pending_path(self.state)

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> Pending | None:
        return read_pending(self.state)

    def keep(self, changeset: ChangeSet, *, reason: str, states: dict[str, Any] | None = None,
             **meta: Any) -> OSError | None:
        """Keep ``changeset`` for the next run; the error when it could not be kept (also logged)."""
        try:
            save_pending(self.state, changeset, ops=self.ops, states=states, reason=reason, **meta)
            return None
        except OSError as e:
            log.warning("%s: the changes that were not written could not be kept for the next run either (%s)",
                        self.state.identity, e.strerror or e)
            return e

    def clear(self) -> OSError | None:
        """Remove the pending change set (its changes are written); the error when it could not be (also logged)."""
        try:
            clear_pending(self.state, ops=self.ops)
            return None
        except OSError as e:
            log.warning("%s: could not remove %s, which holds changes now written (%s)",
                        self.state.identity, self.path.name, e.strerror or e)
            return e

    def left_note(self) -> str:
        """What the store's message says when ``clear`` failed."""
        return f"; could not remove {self.path.name}, which holds changes now written: delete it before the next run"
