"""The outbox's queue: a SQLite file beside the workbook holding the items (queued once by idempotency key), the
jobs' states by workbook generation, and what a person does with an item (confirm, resend, retry, cancel).
Delivery is the Delivery mixin's (deliver.py).
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import closing
from datetime import datetime
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from crm_sheets.errors import NotAWorkbook, UsageError
from crm_sheets.heap import collector_paused
from crm_sheets.model.effects import MAX_ATTEMPTS, Effect, count_states, delivery_state
from crm_sheets.model.redact import redact, register_secret
from crm_sheets.outbox.deliver import Delivery
from crm_sheets.outbox.items import CHAT_WEBHOOK_ENV, SMTP_PASSWORD_ENV, OutboxItem, item_of_row, SELECT_ITEMS
from crm_sheets.outbox.states import (GENERATIONS_TABLE, KEEP_GENERATIONS, KEEP_MEMORIES, PIECES_TABLE, JobStates,
                                      PiecesWriter, drop_unused_pieces, forget_memories, joined, set_part,
                                      split_states, states_of_generation, write_pieces)


def outbox_path(workbook: Any) -> Path:
    """The outbox and job-state database of a store (or of the workbook file at ``workbook``), keyed by the
    store's identity: beside a file as .NAME.outbox.sqlite, in a remote store's state folder otherwise."""
    from crm_sheets.store.state import state_of

    return state_of(workbook).outbox


class Outbox(Delivery):
    """A durable queue of effects keyed by their idempotency key."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a remote store's state folder may not exist yet
        with closing(self._connect()) as db, db:
            db.execute(
                """CREATE TABLE IF NOT EXISTS items (
                    key TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL,
                    tbl TEXT, record_id TEXT, message_id TEXT, attempts INTEGER NOT NULL DEFAULT 0,
                    queued_at TEXT NOT NULL, updated_at TEXT NOT NULL, error TEXT)"""
            )
            # What jobs keep between runs (automate's snapshot of last-seen values), beside the queue.
            db.execute("CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)")
            db.execute(GENERATIONS_TABLE)  # the job states tied to the workbook content they describe
            db.execute(PIECES_TABLE)  # their large parts, by digest (outbox/states.py)
        for name in (SMTP_PASSWORD_ENV, CHAT_WEBHOOK_ENV):  # known before any transport is made: scrub, show
            register_secret(os.environ.get(name))
        self._add_lease_columns()
        with closing(self._connect()) as db:  # "what is due now" is a lookup, not a scan (settled.outbox_due)
            db.execute("CREATE INDEX IF NOT EXISTS items_due ON items (status, kind, attempts)")

    def _add_lease_columns(self) -> None:
        """Outboxes made before delivery claims get the lease columns, and those made before states were kept in
        pieces the generations' `pieces` column (once; two processes may race here)."""
        with closing(self._connect()) as db:
            if "pieces" not in {row[1] for row in db.execute("PRAGMA table_info(generations)")}:
                db.execute("BEGIN IMMEDIATE")
                if "pieces" not in {row[1] for row in db.execute("PRAGMA table_info(generations)")}:
                    db.execute("ALTER TABLE generations ADD COLUMN pieces TEXT")
                db.execute("COMMIT")
            if {"lease_owner", "lease_until", "handed"} <= self._columns(db):
                return
            db.execute("BEGIN IMMEDIATE")
            have = self._columns(db)
            for name, decl in (("lease_owner", "TEXT"), ("lease_until", "REAL"), ("handed", "INTEGER NOT NULL DEFAULT 0")):
                if name not in have:
                    db.execute(f"ALTER TABLE items ADD COLUMN {name} {decl}")
            # Errors written by earlier versions may hold a webhook URL: scrub them with the same redaction.
            for key, error in db.execute("SELECT key, error FROM items WHERE error IS NOT NULL").fetchall():
                if redact(error) != error:
                    db.execute("UPDATE items SET error = ? WHERE key = ?", (redact(error), key))
            db.execute("COMMIT")

    @staticmethod
    def _columns(db: sqlite3.Connection) -> set[str]:
        return {row[1] for row in db.execute("PRAGMA table_info(items)")}

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a recorded `sending` must survive a power cut
        db.execute("PRAGMA secure_delete=ON")  # text we overwrite (a scrubbed error) does not linger in free pages
        return db

    def enqueue(self, effects: Iterable[Effect], now: datetime) -> list[str]:
        """Queue effects whose key was never seen; returns the keys actually queued."""
        stamp = now.isoformat(timespec="seconds")
        domains: dict[str, str] = {}  # sender -> its domain: one sender for thousands of emails
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            effects = list(effects)
            seen = _known_keys(db, [e.key for e in effects])
            rows, added = [], []
            for e in effects:
                if e.key in seen:
                    continue  # (INSERT OR IGNORE: the first of a key queued, never a second)
                seen.add(e.key)
                message_id = None
                if e.kind == "email":  # fixed once, reused on every retry so receivers can spot a copy
                    sender = str(e.payload.get("from", ""))
                    domain = domains.get(sender)
                    if domain is None:
                        domain = domains[sender] = parseaddr(sender)[1].partition("@")[2] or "crm-sheets.local"
                    message_id = make_msgid(idstring="crm", domain=domain)
                rows.append((e.key, e.kind, json.dumps(dict(e.payload), default=str), e.table, e.record_id, message_id,
                             stamp, stamp))
                added.append(e.key)
            db.executemany(  # one statement for the batch (a first run queues thousands)
                "INSERT OR IGNORE INTO items (key, kind, status, payload, tbl, record_id, message_id, queued_at, updated_at)"
                " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")
        return added

    def items(self, status: str | None = None) -> list[OutboxItem]:
        with closing(self._connect()) as db:
            return self._items(db, status)

    def shown(self) -> list[tuple[str, str, str | None]]:
        """(key, status, error) of every item, in the order and as items() gives them, without reading their
        payloads (what the Outbox sheet's digest is made of: a run reads it twice, thousands of items at 30k leads)."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT key, status, error FROM items ORDER BY queued_at, key").fetchall()
        return [(k, s, redact(e) if e is not None else None) for k, s, e in rows]

    @staticmethod
    def _items(db: sqlite3.Connection, status: str | None = None, key: str | None = None) -> list[OutboxItem]:
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        if key is not None:
            where.append("key = ?")
            args.append(key)
        rows = db.execute(SELECT_ITEMS + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY queued_at, key", args).fetchall()
        return [item_of_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Items per state as people read it (waiting, sending, retrying, failed, unknown, sent, cancelled)."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT status, attempts, COUNT(*) FROM items GROUP BY status, attempts").fetchall()
        counts = count_states([])
        for status, attempts, n in rows:
            counts[delivery_state(status, attempts)] += n
        return counts

    # -- job states, tied to the workbook generation they describe --------------------------------
    #
    # A run that writes the workbook first *prepares* the jobs' new states under the generation ID it
    # writes into the workbook's _crm_meta (and the new file's SHA-256), then replaces the file, then
    # *commits* them. The next run uses the states of the generation the file on disk carries, so a crash
    # after the replace (prepared, not committed) does not repeat what was written, and a crash before it
    # (the file still carries the old generation) does not lose the old states. People's edits keep the
    # generation ID, so an edited workbook still finds the states of the run that produced it.

    def job_states(self, generation: str | None = None, sha256: str | None = None,
                   only: Iterable[str] | None = None) -> JobStates:
        """The states for a workbook carrying ``generation`` (or, without one, of content ``sha256``):
        that generation's, else the latest committed ones (a workbook we never wrote, or one whose
        generation was pruned), else those of an older crm-sheets (one row per job in ``state``).
        ``only``: the states of these jobs alone (the others' pieces are not read)."""
        with closing(self._connect()) as db:
            return states_of_generation(db, generation, sha256, only)

    def prepare_states(self, generation: str, sha256: str | None, states: Mapping[str, Any], now: datetime) -> None:
        """Keep ``states`` under ``generation`` before the workbook carrying it replaces the file (the pieces that
        changed, and the generation's row, in one transaction)."""
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            # each piece written as it is made (PiecesWriter); the states' JSON text: no cycles, and a collection
            # would walk the run's heap
            with collector_paused():
                text, pieces = split_states(states, PiecesWriter(db))
            db.execute(
                "INSERT INTO generations (id, sha256, states, committed, saved_at, pieces) VALUES (?, ?, ?, NULL, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET sha256 = excluded.sha256, states = excluded.states, committed = NULL,"
                " saved_at = excluded.saved_at, pieces = excluded.pieces",
                (generation, sha256, text, now.isoformat(timespec="seconds"), " ".join(sorted(pieces))),
            )
            db.execute("COMMIT")

    def commit_states(self, generation: str, now: datetime, *, states: Mapping[str, Any] | None = None,
                      sha256: str | None = None, meanwhile: bool = False) -> "Committing | None":
        """Make ``generation``'s states the latest (with ``states``: set them first, for a run that wrote
        nothing). Prunes what no workbook can carry any more: prepared states of runs that never replaced
        the file (we hold the writer lock, so none is in progress) and all but the newest committed ones.

        ``meanwhile``: the states are made text here, and the transaction (SQLite's writes and its sync to disk,
        which let other threads run) goes on in a thread while the caller does other work; the caller waits for it
        (Committing.wait, which raises what the commit raised) before anything else reads or writes the outbox or
        the writer lock is released, so nothing is committed in another order."""
        with collector_paused():  # as prepare_states (at 30k leads a full collection here cost 0.07 s of 0.2)
            split = split_states(states) if states is not None else None
        if meanwhile:
            return Committing(self._commit, generation, now, split, sha256)
        self._commit(generation, now, split, sha256)
        return None

    def _commit(self, generation: str, now: datetime, split: tuple[str, dict[str, str]] | None,
                sha256: str | None) -> None:
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            if split is not None:
                text, pieces = split
                write_pieces(db, pieces)
                db.execute(
                    "INSERT INTO generations (id, sha256, states, committed, saved_at, pieces) VALUES (?, ?, ?, NULL, ?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET states = excluded.states, sha256 = COALESCE(excluded.sha256, sha256),"
                    " saved_at = excluded.saved_at, pieces = excluded.pieces",
                    (generation, sha256, text, now.isoformat(timespec="seconds"), " ".join(sorted(pieces))),
                )
            top = db.execute("SELECT COALESCE(MAX(committed), 0) FROM generations").fetchone()[0]
            db.execute("UPDATE generations SET committed = ? WHERE id = ?", (top + 1, generation))
            db.execute("DELETE FROM generations WHERE committed IS NULL")
            db.execute("DELETE FROM generations WHERE committed <= ?", (top + 1 - KEEP_GENERATIONS,))
            forget_memories(db, top + 1 - KEEP_MEMORIES)
            drop_unused_pieces(db)
            db.execute("COMMIT")

    def set_state_part(self, generation: str, job: str, key: str, value: Any) -> bool:
        """Set one part of a job's state in a committed generation, the rest as stored (states.set_part): what a
        job learnt of the file as written after the generation was committed (check's row memory, keyed by the
        read's keys of the tables, from the confirming pass). False when there was nothing to set it in."""
        with collector_paused():
            with closing(self._connect()) as db:
                db.execute("BEGIN IMMEDIATE")
                try:
                    done = set_part(db, generation, job, key, value)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        return done

    def load_state(self, name: str) -> dict[str, Any] | None:
        """The state a job saved under ``name`` in the latest committed generation, or None before its first run.
        Only that state is parsed (by SQLite's JSON functions), not every job's (megabytes at 30k leads); the
        whole generation is read when SQLite cannot (no JSON functions, a value JSON does not know)."""
        path = '$."' + name + '"'
        if '"' not in name and "\\" not in name:
            try:
                with closing(self._connect()) as db:
                    db.execute("BEGIN")  # one snapshot: the state and its pieces
                    try:
                        row = db.execute("SELECT json_type(states, ?), json_extract(states, ?) FROM generations WHERE"
                                         " committed IS NOT NULL ORDER BY committed DESC LIMIT 1", (path, path)).fetchone()
                        if row is not None and row[0] == "object":  # with its pieces put back
                            return joined(db, json.dumps({"state": json.loads(row[1])})).get("state")
                    finally:
                        db.execute("COMMIT")
            except sqlite3.Error:
                row = None
            if row is not None:
                kind, value = row
                if kind is None or kind == "null":
                    return None
                if kind == "array":
                    return json.loads(value)
                if kind in ("true", "false"):
                    return kind == "true"
                return value
        return self.job_states().states.get(name)

    def save_state(self, name: str, value: Mapping[str, Any], now: datetime) -> None:
        """Set one job's state in the latest generation (for tools; the runner commits all states at once)."""
        current = self.job_states()
        generation = current.generation or "unversioned"
        self.commit_states(generation, now, states={**current.states, name: dict(value)}, sha256=current.sha256)

    # -- what a person does (crm-sheets outbox) ---------------------------------------------------

    def item(self, key: str) -> OutboxItem:
        """The item queued under ``key``; UsageError naming the keys to choose from when there is none."""
        with closing(self._connect()) as db:
            found = self._items(db, key=key)
        if not found:
            raise UsageError(f"{self.path.name} has no item {key!r}", hint="crm-sheets outbox PATH lists the keys")
        return found[0]

    def _move(self, key: str, allowed: tuple[str, ...], status: str, now: datetime, *, attempts: str = "attempts",
              error: str | None = None, todo: str = "") -> OutboxItem:
        """Move one item from one of ``allowed`` to ``status`` in one statement (a delivery running at the same
        time cannot slip in between), or say why not."""
        self.item(key)  # an unknown key is its own message
        marks = ", ".join("?" * len(allowed))
        with closing(self._connect()) as db:
            cur = db.execute(
                f"UPDATE items SET status = ?, updated_at = ?, error = ?, attempts = {attempts} WHERE key = ? AND status IN ({marks})",
                (status, now.isoformat(timespec="seconds"), error, key, *allowed),
            )
        if not cur.rowcount:
            current = self.item(key).status
            raise UsageError(f"{key} is {current}, not {' or '.join(allowed)}", hint=todo or f"only {' or '.join(allowed)} items can be moved")
        return self.item(key)

    def confirm(self, key: str, *, delivered: bool, now: datetime) -> OutboxItem:
        """A person says whether an `unknown` item arrived: ``delivered`` marks it sent; otherwise it is
        queued again with the same Message-ID, with at least one more try left, for the next delivery."""
        if delivered:
            return self._move(key, ("unknown",), "sent", now, error=None,
                              todo="--delivered confirms items left unknown by a broken connection")
        return self._move(key, ("unknown",), "queued", now, attempts=f"MIN(attempts, {MAX_ATTEMPTS - 1})",
                          todo="--resend queues again items left unknown by a broken connection; --retry-failed retries failed ones")

    def resend(self, key: str, *, now: datetime) -> OutboxItem:
        """An `unknown` item did not arrive: queue it again (same Message-ID) for one more try."""
        return self.confirm(key, delivered=False, now=now)

    def retry_failed(self, *, now: datetime) -> list[OutboxItem]:
        """Failed items that used up their MAX_ATTEMPTS tries go back to the queue with a fresh count."""
        with closing(self._connect()) as db:
            keys = [r[0] for r in db.execute("SELECT key FROM items WHERE status = 'failed' AND attempts >= ?", (MAX_ATTEMPTS,))]
            db.executemany(
                "UPDATE items SET status = 'queued', attempts = 0, error = NULL, updated_at = ? WHERE key = ? AND status = 'failed'",
                [(now.isoformat(timespec="seconds"), k) for k in keys],
            )
        return [self.item(k) for k in keys]

    def cancel(self, key: str, *, now: datetime) -> OutboxItem:
        """Never send this item (queued, failed or unknown); its key stays, so automate does not queue it again."""
        return self._move(key, ("queued", "failed", "unknown"), "cancelled", now, error="cancelled by a person",
                          todo="items sent or cancelled stay as they are, and one being sent right now cannot be stopped")


class Committing:
    """A commit of job states going on in a thread (Outbox.commit_states with ``meanwhile``)."""

    def __init__(self, commit: Callable[..., None], *args: Any) -> None:
        self._error: BaseException | None = None

        def work() -> None:
            try:
                commit(*args)
            except BaseException as exc:  # raised again in the caller's thread by wait()
                self._error = exc

        self._thread = threading.Thread(target=work, name="crm-sheets state commit")
        self._thread.start()

    def wait(self) -> None:
        """Until the commit is done; raises what it raised."""
        self._thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error


def open_outbox(workbook: Any) -> Outbox:
    """The outbox of an existing workbook (a path, a store URL or a store), for a person to look at or act on
    (never created here)."""
    from crm_sheets.store.state import is_store_url

    if is_store_url(workbook) or hasattr(workbook, "state"):  # gsheets://ID (gsheets:/ID from the CLI's Path)
        from crm_sheets.store import open_store

        store = open_store(str(workbook)) if is_store_url(workbook) else workbook
        path = outbox_path(store)
        if not path.exists():
            raise UsageError(f"{store.name} has no outbox yet", hint=f"crm-sheets automate {store.name} queues what the rules send")
        return Outbox(path)
    wb = Path(workbook)
    if not wb.exists():
        raise NotAWorkbook(f"{wb} does not exist", hint="give the path of a crm-sheets workbook")
    path = outbox_path(wb)
    if not path.exists():
        raise UsageError(f"{wb.name} has no outbox yet ({path.name})", hint=f"crm-sheets automate {wb} queues what the rules send")
    return Outbox(path)


def _known_keys(db: sqlite3.Connection, keys: list[str]) -> set[str]:
    """Which of ``keys`` the outbox already holds (asked in batches under SQLite's limit of bound values)."""
    known: set[str] = set()
    wanted = list(dict.fromkeys(keys))
    for lo in range(0, len(wanted), 500):
        part = wanted[lo:lo + 500]
        known.update(k for (k,) in db.execute(f"SELECT key FROM items WHERE key IN ({','.join('?' * len(part))})", part))
    return known
