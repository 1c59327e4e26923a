"""The forms journal: every accepted submission, durable before the visitor is answered.

SQLite in WAL mode with synchronous=FULL beside the workbook (``.NAME.forms.sqlite``): a commit is on
disk (the WAL fsync'd, the folder fsync'd once the files exist) before the server answers 303. Entry
IDs only grow (AUTOINCREMENT) and the applier applies them in ID order, writing the last applied ID
into the workbook with the rows, so an entry is applied once even when a kill comes between the
workbook write and ``mark_applied``. The CSRF token of a submission is unique: a second post of one
token (a double click, a retry after a lost answer) finds the first entry instead of adding one.
"""
from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL UNIQUE,
    form TEXT NOT NULL,
    received TEXT NOT NULL,
    lang TEXT NOT NULL DEFAULT 'en',
    ip TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'waiting',
    record TEXT,
    note TEXT,
    applied_at TEXT
);
CREATE INDEX IF NOT EXISTS entries_waiting ON entries (status, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def journal_path(workbook: str | os.PathLike) -> Path:
    """Beside a workbook file (``.NAME.forms.sqlite``); a Google Sheet's in its store's state folder."""
    from crm_sheets.store.state import state_for

    return state_for(workbook).forms


@dataclass(frozen=True)
class Entry:
    id: int
    token: str
    form: str
    received: datetime
    lang: str
    ip: str
    values: dict[str, Any]
    status: str = "waiting"
    record: str | None = None
    note: str | None = None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # Windows cannot open a folder: its rename and create are durable enough there
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """One connection to the journal; safe to share between threads (calls are serialised)."""

    def __init__(self, path: str | os.PathLike, *, timeout: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a remote store's state folder, on first use
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # each commit fsyncs the WAL
        self._db.executescript(_SCHEMA)
        self.ident()
        _fsync_dir(self.path.parent)  # the database's and its WAL's names are durable too, before any answer

    @classmethod
    def beside(cls, workbook: str | os.PathLike) -> "Journal":
        return cls(journal_path(workbook))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the server's side ------------------------------------------------------------------------

    def secret(self) -> bytes:
        """The key that signs this workbook's CSRF tokens: made once, kept across restarts."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='secret'").fetchone()
            if row is None:
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('secret', ?)", (secrets.token_hex(32),))
                row = self._db.execute("SELECT value FROM meta WHERE key='secret'").fetchone()
        return bytes.fromhex(row[0])

    def ident(self) -> str:
        """This journal's identity, written into the workbook with the last applied entry ID: the IDs of
        another journal (this one deleted and made again) are never taken for applied ones."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('ident', ?)", (secrets.token_hex(8),))
            return self._db.execute("SELECT value FROM meta WHERE key='ident'").fetchone()[0]

    def append(self, *, token: str, form: str, values: dict[str, Any], lang: str = "en", ip: str = "",
               received: datetime | None = None) -> tuple[int, bool]:
        """Commit one submission; returns (entry ID, True), or (ID of the entry with this token, False)."""
        when = (received or datetime.now(timezone.utc)).isoformat(timespec="microseconds")
        data = json.dumps(values, ensure_ascii=False)  # in the form's order
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO entries (token, form, received, lang, ip, data) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(token) DO NOTHING",
                (token, form, when, lang, ip, data),
            )
            if cur.rowcount == 1:
                return int(cur.lastrowid), True
            row = self._db.execute("SELECT id FROM entries WHERE token=?", (token,)).fetchone()
        return int(row[0]), False

    def size(self) -> int:
        """Bytes on disk: the database and its WAL."""
        total = 0
        for p in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                total += p.stat().st_size
            except OSError:
                pass
        return total

    def count(self, status: str = "waiting") -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM entries WHERE status=?", (status,)).fetchone()[0])

    # -- the applier's side -----------------------------------------------------------------------

    def waiting(self, limit: int = 500) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, token, form, received, lang, ip, data, status, record, note FROM entries "
                "WHERE status='waiting' ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [_entry(r) for r in rows]

    def entries(self, status: str | None = None) -> list[Entry]:
        with self._lock:
            sql = "SELECT id, token, form, received, lang, ip, data, status, record, note FROM entries"
            rows = self._db.execute(sql + (" WHERE status=? ORDER BY id" if status else " ORDER BY id"),
                                    (status,) if status else ()).fetchall()
        return [_entry(r) for r in rows]

    def mark(self, outcomes: Iterable[tuple[int, str, str | None, str | None]], now: datetime | None = None) -> None:
        """Record (entry ID, status 'applied' or 'rejected', record ID, note) in one transaction."""
        when = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "UPDATE entries SET status=?, record=?, note=?, applied_at=? WHERE id=? AND status='waiting'",
                    [(status, record, note, when, eid) for eid, status, record, note in outcomes],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def settle_through(self, last_applied: int, now: datetime | None = None) -> int:
        """Entries up to ``last_applied`` are in the workbook already (a kill came before they were marked)."""
        when = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        with self._lock:
            cur = self._db.execute(
                "UPDATE entries SET status='applied', note='found in the workbook', applied_at=? "
                "WHERE status='waiting' AND id<=?", (when, last_applied))
            return cur.rowcount

    def prune(self, keep_days: int = 30, now: datetime | None = None) -> int:
        """Forget applied entries older than ``keep_days`` (the workbook holds them)."""
        cutoff = (now or datetime.now(timezone.utc)).timestamp() - keep_days * 86400
        when = datetime.fromtimestamp(cutoff, timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            cur = self._db.execute("DELETE FROM entries WHERE status!='waiting' AND applied_at < ?", (when,))
            return cur.rowcount


def _entry(r: tuple) -> Entry:
    return Entry(id=r[0], token=r[1], form=r[2], received=datetime.fromisoformat(r[3]), lang=r[4], ip=r[5],
                 values=json.loads(r[6]), status=r[7], record=r[8], note=r[9])
