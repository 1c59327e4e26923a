"""The outbox: side effects (emails, chat posts, webhooks) delivered exactly once, or shown for a person to confirm.

Items live in a SQLite file beside the workbook (transactional, survives crashes). Each item moves
queued -> sending -> sent | failed (retried later, or for good) | unknown. A deliverer claims an item
in one statement (queued -> sending, with its name and a lease), so two deliverers running at once never
send the same item, and records the point of no return (the final "." of SMTP DATA, the HTTP request)
before passing it. An item whose deliverer died (or whose lease ran out) before that point is simply
queued again; after it, an email or chat post becomes `unknown` and is never retried automatically
(SMTP has no idempotency: a silent second copy is worse than a question), while a webhook is posted
again with the same Idempotency-Key. Every text written here is redacted (model/redact.py).
"""
from __future__ import annotations

import json
import re
import os
import smtplib
import socket
import sqlite3
import ssl
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol

from crm_sheets.errors import NotAWorkbook, UsageError
from crm_sheets.jobs import MEMORIES
from crm_sheets.model.effects import MAX_ATTEMPTS, Effect, count_states, delivery_state
from crm_sheets.model.redact import redact, redact_url, register_secret

STATUSES = ("queued", "sending", "sent", "failed", "unknown", "cancelled")
SMTP_PASSWORD_ENV = "CRM_SHEETS_SMTP_PASSWORD"
CHAT_WEBHOOK_ENV = "CRM_SHEETS_CHAT_WEBHOOK"  # the default of Settings chat_webhook_env
LEASE_SECONDS = 900.0  # longer than any one send may take (timeouts and run budgets below are far shorter)
IDEMPOTENT_KINDS = ("webhook",)  # receivers de-duplicate by the Idempotency-Key: an unsure post is posted again
SMTP_TIMEOUT = 10.0  # seconds to wait for any one reply of the mail server
SMTP_BUDGET = 120.0  # seconds a run may spend starting emails; the rest go out on the next run
WEBHOOK_TIMEOUT = 10.0  # seconds to wait for an HTTP answer
WEBHOOK_BUDGET = 60.0  # seconds a run may spend starting posts on one channel


class DeliveryError(Exception):
    """Delivery failed before the point of no return: safe to retry."""


class PermanentFailure(DeliveryError):
    """The receiver refused the item for good (an SMTP 5xx, an HTTP 4xx): retrying would only repeat it."""


class UncertainDelivery(Exception):
    """Delivery failed after the point of no return: the recipient may have it."""


class Deferred(Exception):
    """Not tried in this run (the channel did not answer, or the run's time for it is used up): no try counted."""


class _LostClaim(Exception):
    """Our lease ran out and another deliverer took the item over: it is theirs now, we must not send it."""


@dataclass(frozen=True)
class OutboxItem:
    key: str
    kind: str
    status: str
    payload: Mapping[str, Any]
    table: str | None
    record_id: str | None
    message_id: str | None
    attempts: int
    queued_at: str
    updated_at: str
    error: str | None = None
    lease_owner: str | None = None  # the deliverer holding a `sending` item
    lease_until: float | None = None  # epoch seconds; after it another deliverer may settle the item
    handed: bool = False  # the point of no return was passed (the final "." of DATA, the HTTP request)

    @property
    def to(self) -> str:
        """Where it goes: the email address, the webhook URL (redacted), or '' for the team chat."""
        if self.kind == "email":
            return str(self.payload.get("to", ""))
        return redact(self.payload.get("url", "")) if self.kind == "webhook" else ""

    @property
    def state(self) -> str:
        """What a person reads: waiting, sending, retrying, failed (for good), unknown, sent, cancelled."""
        return delivery_state(self.status, self.attempts)

    @property
    def subject(self) -> str:
        """What it says in a line: the email subject, the chat text, the webhook's rule."""
        if self.kind == "email":
            return str(self.payload.get("subject", ""))
        if self.kind == "webhook":
            return str((self.payload.get("body") or {}).get("rule", ""))
        return str(self.payload.get("text", ""))

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "status": self.status, "state": self.state, "kind": self.kind, "to": self.to, "subject": self.subject,
                "table": self.table, "record_id": self.record_id, "message_id": self.message_id, "attempts": self.attempts,
                "queued_at": self.queued_at, "updated_at": self.updated_at, "error": self.error}


class Transport(Protocol):
    def send(self, item: OutboxItem, mark_sending: Callable[[], None]) -> None:
        """Deliver; call mark_sending() right before the point of no return (it raises when the item is no
        longer ours: then send nothing). Raise DeliveryError, PermanentFailure, UncertainDelivery or Deferred.
        A transport may also have deferral(item) -> reason or None (asked before an item is claimed: a channel
        that is down for this run costs nothing more), and close(), called once the delivery is over."""


@dataclass
class DeliveryReport:
    """What one delivery did (keys), and the whole outbox after it (``totals``: items per state)."""

    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # failed in this delivery: retried next run, or for good
    unknown: list[str] = field(default_factory=list)  # became unknown in this delivery
    waiting: list[str] = field(default_factory=list)  # no transport configured for their kind
    deferred: list[str] = field(default_factory=list)  # not tried: their channel did not answer or ran out of time
    busy: list[str] = field(default_factory=list)  # being sent by another delivery running now
    totals: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # why items were deferred, per kind (redacted)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "unknown": self.unknown, "waiting": self.waiting,
                "deferred": self.deferred, "busy": self.busy, "totals": self.totals, "reasons": self.reasons}


def outbox_path(workbook: Any) -> Path:
    """The outbox and job-state database of a store (or of the workbook file at ``workbook``), keyed by the
    store's identity: beside a file as .NAME.outbox.sqlite, in a remote store's state folder otherwise."""
    from crm_sheets.store.state import state_of

    return state_of(workbook).outbox


_SELECT = ("SELECT key, kind, status, payload, tbl, record_id, message_id, attempts, queued_at, updated_at, error,"
           " lease_owner, lease_until, handed FROM items")
MAX_ERROR = 1000  # characters of an error kept: the server's reply, not a whole HTML page


def _item(r: tuple) -> OutboxItem:
    # Errors are stored redacted; redacting again on the way out also hides secrets known only now.
    error = redact(r[10]) if r[10] is not None else None
    return OutboxItem(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], error, r[11], r[12], bool(r[13]))


def _error_text(error: str | None) -> str | None:
    """An error as it may be stored and shown: redacted, on one line, not endless."""
    if error is None:
        return None
    text = " ".join(redact(error).split())
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


def _out_of_tries(error: str, attempts: int) -> str:
    """A failed try's error; the last allowed try says so (the Outbox sheet's text changes with it)."""
    if attempts < MAX_ATTEMPTS:
        return error
    return f"{error}; that was try {attempts} of {MAX_ATTEMPTS}: fix the cause, then crm-sheets outbox --retry-failed"


def _deferral(transport: Any, item: OutboxItem) -> str | None:
    """Why the transport would not try ``item`` in this run (its server did not answer, its time is up), or None."""
    check = getattr(transport, "deferral", None)
    return check(item) if check is not None else None


def _deliverer_name() -> str:
    """Who holds a lease: host, process and a nonce (two deliveries in one process are two deliverers)."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def _abandoned(item: OutboxItem) -> bool:
    """A `sending` item whose deliverer is gone: its lease ran out, or its process on this host has ended."""
    if item.lease_owner is None or item.lease_until is None or time.time() > item.lease_until:
        return True
    host, _, rest = item.lease_owner.partition("/")
    pid = rest.partition("/")[0]
    return host == socket.gethostname() and pid.isdigit() and not _process_alive(int(pid))


def _process_alive(pid: int) -> bool:
    """Whether a process of this host still runs (a zombie does not). Unsure means alive: the lease decides."""
    if os.name != "posix":
        return True  # os.kill(pid, 0) would stop the process on Windows
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Outbox:
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
        for name in (SMTP_PASSWORD_ENV, CHAT_WEBHOOK_ENV):  # known before any transport is made: scrub, show
            register_secret(os.environ.get(name))
        self._add_lease_columns()
        with closing(self._connect()) as db:  # "what is due now" is a lookup, not a scan (settled.outbox_due)
            db.execute("CREATE INDEX IF NOT EXISTS items_due ON items (status, kind, attempts)")

    def _add_lease_columns(self) -> None:
        """Outboxes made before delivery claims get the lease columns (once; two processes may race here)."""
        with closing(self._connect()) as db:
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
        added = []
        stamp = now.isoformat(timespec="seconds")
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            for e in effects:
                message_id = None
                if e.kind == "email":  # fixed once, reused on every retry so receivers can spot a copy
                    domain = parseaddr(str(e.payload.get("from", "")))[1].partition("@")[2] or "crm-sheets.local"
                    message_id = make_msgid(idstring="crm", domain=domain)
                cur = db.execute(
                    "INSERT OR IGNORE INTO items (key, kind, status, payload, tbl, record_id, message_id, queued_at, updated_at)"
                    " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                    (e.key, e.kind, json.dumps(dict(e.payload), default=str), e.table, e.record_id, message_id, stamp, stamp),
                )
                if cur.rowcount:
                    added.append(e.key)
            db.execute("COMMIT")
        return added

    def items(self, status: str | None = None) -> list[OutboxItem]:
        with closing(self._connect()) as db:
            return self._items(db, status)

    @staticmethod
    def _items(db: sqlite3.Connection, status: str | None = None, key: str | None = None) -> list[OutboxItem]:
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        if key is not None:
            where.append("key = ?")
            args.append(key)
        rows = db.execute(_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY queued_at, key", args).fetchall()
        return [_item(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Items per state as people read it (waiting, sending, retrying, failed, unknown, sent, cancelled)."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT status, attempts, COUNT(*) FROM items GROUP BY status, attempts").fetchall()
        counts = count_states([])
        for status, attempts, n in rows:
            counts[delivery_state(status, attempts)] += n
        return counts

    def deliver(self, transports: Mapping[str, Transport], now: datetime, *, lease: float = LEASE_SECONDS,
                owner: str | None = None) -> DeliveryReport:
        """Deliver every queued item, and failed ones with tries left, whose kind has a transport.

        Safe with several deliveries at once (two runs, two processes): each item is claimed in one statement
        before it is sent, and one that another delivery holds is left to it. Items left `sending` by a
        delivery that died are settled first: queued again when it died before the point of no return,
        else unknown (an email, a chat post) or posted again (a webhook, same Idempotency-Key)."""
        me = owner or _deliverer_name()
        report = DeliveryReport()
        stamp = now.isoformat(timespec="seconds")
        deferred: list[tuple[OutboxItem, str]] = []
        try:
            with closing(self._connect()) as db:
                self._settle_abandoned(db, stamp, report)
                for item in self._items(db, "queued") + self._items(db, "failed"):
                    if item.attempts >= MAX_ATTEMPTS:
                        continue  # out of tries or refused for good: a person decides (--retry-failed)
                    transport = transports.get(item.kind)
                    if transport is None:
                        report.waiting.append(item.key)
                    elif (why := _deferral(transport, item)) is not None:
                        deferred.append((item, why))  # its channel is down for this run: not claimed, not tried
                    elif self._claim(db, item, me, lease, stamp):
                        self._send(db, item, transport, me, lease, stamp, report)
                    else:
                        report.busy.append(item.key)  # another delivery took it since we looked
                self._note_deferred(db, deferred, stamp, report)
        finally:
            for transport in transports.values():
                close = getattr(transport, "close", None)
                if close is not None:
                    close()
        report.totals = self.counts()
        return report

    def _note_deferred(self, db: sqlite3.Connection, deferred: list[tuple[OutboxItem, str]], stamp: str,
                       report: DeliveryReport) -> None:
        """Why the items a down channel skipped wait, written in one transaction (one sync, however many)."""
        if not deferred:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            for item, why in deferred:
                db.execute("UPDATE items SET error = ? WHERE key = ? AND status = ? AND attempts = ?",
                           (_error_text(why), item.key, item.status, item.attempts))
                report.deferred.append(item.key)
                report.reasons.setdefault(item.kind, _error_text(why) or "")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _claim(self, db: sqlite3.Connection, item: OutboxItem, me: str, lease: float, stamp: str) -> bool:
        """queued/failed -> sending, ours, in one statement that only succeeds if nobody moved it since we read it."""
        cur = db.execute(
            "UPDATE items SET status = 'sending', handed = 0, lease_owner = ?, lease_until = ?, updated_at = ?"
            " WHERE key = ? AND status = ? AND attempts = ? AND attempts < ?",
            (me, time.time() + lease, stamp, item.key, item.status, item.attempts, MAX_ATTEMPTS),
        )
        return cur.rowcount == 1

    def _send(self, db: sqlite3.Connection, item: OutboxItem, transport: Transport, me: str, lease: float, stamp: str,
              report: DeliveryReport) -> None:
        handed: list[bool] = []

        def mark_sending() -> None:
            # The point of no return, recorded durably before it is passed, and only while the item is still ours.
            cur = db.execute(
                "UPDATE items SET handed = 1, lease_until = ? WHERE key = ? AND status = 'sending' AND lease_owner = ? AND handed = 0",
                (time.time() + lease, item.key, me),
            )
            if cur.rowcount != 1:
                raise _LostClaim(item.key)
            handed.append(True)

        def finish(status: str, error: str | None, attempts: str = "attempts + 1") -> None:
            allowed = "('sending', 'unknown')" if status == "sent" else "('sending')"  # a late 250 beats a guess
            db.execute(
                f"UPDATE items SET status = ?, error = ?, updated_at = ?, attempts = {attempts}"
                f" WHERE key = ? AND lease_owner = ? AND status IN {allowed}",
                (status, _error_text(error), stamp, item.key, me),
            )

        try:
            transport.send(item, mark_sending)
        except _LostClaim:
            report.busy.append(item.key)
        except Deferred as exc:
            finish(item.status, str(exc), attempts="attempts")  # back as it was: no try counted
            report.deferred.append(item.key)
            report.reasons.setdefault(item.kind, _error_text(str(exc)) or "")
        except PermanentFailure as exc:
            finish("failed", str(exc), attempts=str(MAX_ATTEMPTS))
            report.failed.append(item.key)
        except UncertainDelivery as exc:
            if item.kind in IDEMPOTENT_KINDS:
                finish("failed", _out_of_tries(f"{exc}; posted again with the same Idempotency-Key", item.attempts + 1))
                report.failed.append(item.key)
            else:
                finish("unknown", f"{exc}: check whether it arrived, then confirm")
                report.unknown.append(item.key)
        except (DeliveryError, OSError) as exc:
            # A try that failed before the point of no return counts too, so an unreachable server is not
            # retried forever: after MAX_ATTEMPTS a person decides (crm-sheets outbox --retry-failed).
            finish("failed", _out_of_tries(str(exc) or type(exc).__name__, item.attempts + 1))
            report.failed.append(item.key)
        except BaseException:
            # A bug or Ctrl-C: settle the item as a crash would be settled, then let the error show.
            if handed:
                unsure = "failed" if item.kind in IDEMPOTENT_KINDS else "unknown"
                finish(unsure, "interrupted while sending: check whether it arrived, then confirm")
            else:
                finish(item.status, item.error, attempts="attempts")
            raise
        else:
            finish("sent", None)
            report.sent.append(item.key)

    def _settle_abandoned(self, db: sqlite3.Connection, stamp: str, report: DeliveryReport) -> None:
        """Items left `sending` by a delivery that died (its process is gone, or its lease ran out)."""
        for item in self._items(db, "sending"):
            if not _abandoned(item):
                report.busy.append(item.key)
                continue
            handed = item.handed or item.lease_owner is None  # older versions marked `sending` at the point of no return
            if not handed:
                status, error, attempts = "queued", item.error, "attempts"
            elif item.kind in IDEMPOTENT_KINDS:
                status, attempts = "failed", "attempts + 1"
                error = _out_of_tries("interrupted while posting; posted again with the same Idempotency-Key", item.attempts + 1)
            else:
                status, error, attempts = "unknown", "interrupted while sending: check whether it arrived, then confirm", "attempts + 1"
            cur = db.execute(
                f"UPDATE items SET status = ?, error = ?, updated_at = ?, attempts = {attempts}"
                " WHERE key = ? AND status = 'sending' AND lease_owner IS ? AND handed = ?",
                (status, _error_text(error), stamp, item.key, item.lease_owner, int(item.handed)),
            )
            if cur.rowcount and status == "unknown":
                report.unknown.append(item.key)

    # -- job states, tied to the workbook generation they describe --------------------------------
    #
    # A run that writes the workbook first *prepares* the jobs' new states under the generation ID it
    # writes into the workbook's _crm_meta (and the new file's SHA-256), then replaces the file, then
    # *commits* them. The next run uses the states of the generation the file on disk carries, so a crash
    # after the replace (prepared, not committed) does not repeat what was written, and a crash before it
    # (the file still carries the old generation) does not lose the old states. People's edits keep the
    # generation ID, so an edited workbook still finds the states of the run that produced it.

    def job_states(self, generation: str | None = None, sha256: str | None = None) -> JobStates:
        """The states for a workbook carrying ``generation`` (or, without one, of content ``sha256``):
        that generation's, else the latest committed ones (a workbook we never wrote, or one whose
        generation was pruned), else those of an older crm-sheets (one row per job in ``state``)."""
        with closing(self._connect()) as db:
            return _job_states(db, generation, sha256)

    def prepare_states(self, generation: str, sha256: str | None, states: Mapping[str, Any], now: datetime) -> None:
        """Keep ``states`` under ``generation`` before the workbook carrying it replaces the file."""
        with closing(self._connect()) as db:
            db.execute(
                "INSERT INTO generations (id, sha256, states, committed, saved_at) VALUES (?, ?, ?, NULL, ?)"
                " ON CONFLICT(id) DO UPDATE SET sha256 = excluded.sha256, states = excluded.states, committed = NULL,"
                " saved_at = excluded.saved_at",
                (generation, sha256, json.dumps(dict(states), default=str), now.isoformat(timespec="seconds")),
            )

    def commit_states(self, generation: str, now: datetime, *, states: Mapping[str, Any] | None = None,
                      sha256: str | None = None) -> None:
        """Make ``generation``'s states the latest (with ``states``: set them first, for a run that wrote
        nothing). Prunes what no workbook can carry any more: prepared states of runs that never replaced
        the file (we hold the writer lock, so none is in progress) and all but the newest committed ones."""
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            if states is not None:
                db.execute(
                    "INSERT INTO generations (id, sha256, states, committed, saved_at) VALUES (?, ?, ?, NULL, ?)"
                    " ON CONFLICT(id) DO UPDATE SET states = excluded.states, sha256 = COALESCE(excluded.sha256, sha256),"
                    " saved_at = excluded.saved_at",
                    (generation, sha256, json.dumps(dict(states), default=str), now.isoformat(timespec="seconds")),
                )
            top = db.execute("SELECT COALESCE(MAX(committed), 0) FROM generations").fetchone()[0]
            db.execute("UPDATE generations SET committed = ? WHERE id = ?", (top + 1, generation))
            db.execute("DELETE FROM generations WHERE committed IS NULL")
            db.execute("DELETE FROM generations WHERE committed <= ?", (top + 1 - KEEP_GENERATIONS,))
            _forget_memories(db, top + 1 - KEEP_MEMORIES)
            db.execute("COMMIT")

    def load_state(self, name: str) -> dict[str, Any] | None:
        """The state a job saved under ``name`` in the latest committed generation, or None before its first run."""
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


GENERATIONS_TABLE = """CREATE TABLE IF NOT EXISTS generations (
    id TEXT PRIMARY KEY, sha256 TEXT, states TEXT NOT NULL, committed INTEGER, saved_at TEXT NOT NULL)"""
KEEP_GENERATIONS = 20  # a restored backup (Settings `backups`, default 5) still finds the states it was written with
KEEP_MEMORIES = 2  # generations whose states keep the jobs' memories (crm_sheets.jobs.MEMORIES); older ones drop them


def _forget_memories(db: sqlite3.Connection, committed: int) -> None:
    """Drop the jobs' memories from the states of the generation committed as ``committed``, once it is no longer
    among the newest KEEP_MEMORIES: a restored backup that carries it still finds the states, and the jobs rebuild
    their memories from the tables. One generation a commit, so each generation's states are rewritten once."""
    row = db.execute("SELECT id, states FROM generations WHERE committed = ?", (committed,)).fetchone()
    if row is None:
        return
    states = json.loads(row[1])
    dropped = False
    for job, keys in MEMORIES.items():
        state = states.get(job)
        if isinstance(state, dict):
            for key in keys:
                dropped |= state.pop(key, None) is not None
    if dropped:
        db.execute("UPDATE generations SET states = ? WHERE id = ?", (json.dumps(states, default=str), row[0]))


@dataclass(frozen=True)
class JobStates:
    """The jobs' states for one workbook generation: ``states`` by job name (plus the Outbox sheet's digest)."""

    states: dict[str, Any]
    generation: str | None = None  # the generation they belong to (None: no state saved yet, or an old crm-sheets')
    sha256: str | None = None
    committed: bool = True  # False: prepared by a run that replaced the file and stopped before committing
    matched: bool = False  # they belong to the workbook's own generation (not the latest as a fallback)


def _job_states(db: sqlite3.Connection, generation: str | None, sha256: str | None) -> JobStates:
    db.execute("BEGIN")  # one snapshot for the lookups below
    try:
        return _lookup_states(db, generation, sha256)
    finally:
        db.execute("COMMIT")


def _lookup_states(db: sqlite3.Connection, generation: str | None, sha256: str | None) -> JobStates:
    cols = "id, sha256, states, committed"
    row = None
    if generation:
        row = db.execute(f"SELECT {cols} FROM generations WHERE id = ?", (generation,)).fetchone()
    if row is None and sha256:
        row = db.execute(f"SELECT {cols} FROM generations WHERE sha256 = ? ORDER BY committed IS NULL, committed DESC",
                         (sha256,)).fetchone()
    if row is not None:
        return JobStates(json.loads(row[2]), row[0], row[1], row[3] is not None, matched=True)
    row = db.execute(f"SELECT {cols} FROM generations WHERE committed IS NOT NULL ORDER BY committed DESC LIMIT 1").fetchone()
    if row is not None:
        return JobStates(json.loads(row[2]), row[0], row[1], True)
    legacy = db.execute("SELECT name, value FROM state").fetchall()
    return JobStates({name: json.loads(value) for name, value in legacy})


def read_job_states(workbook: Any, generation: str | None = None, sha256: str | None = None) -> JobStates:
    """The job states of a workbook read without changing anything beside it (a dry run): no outbox
    file is created, and an existing one is opened read-only (SQLite's snapshot: never half a commit)."""
    path = outbox_path(workbook)
    if not path.exists():
        return JobStates({})
    # Not mode=ro: a read-only connection leaves SQLite's -wal/-shm files behind; a plain one that only
    # reads removes them on close and writes nothing.
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'state'").fetchone():
            return JobStates({})
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'generations'").fetchone():
            return JobStates({name: json.loads(value) for name, value in db.execute("SELECT name, value FROM state")})
        return _job_states(db, generation, sha256)


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


# ---------------------------------------------------------------------------------------------
# Transports


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    tls: bool = True
    sender: str = "crm@localhost"
    timeout: float = SMTP_TIMEOUT  # per reply of the server
    budget: float = SMTP_BUDGET  # per run: no email is started after this many seconds

    @classmethod
    def from_settings(cls, settings: Callable[[str, Any], Any]) -> "SmtpSettings | None":
        """From workbook Settings (``tables.setting``); None when no SMTP host is set."""
        host = str(settings("smtp_host", "") or "").strip()
        if not host:
            return None
        tls = settings("smtp_tls", True)
        return cls(
            host=host,
            port=int(float(settings("smtp_port", 587) or 587)),
            user=str(settings("smtp_user", "") or "").strip() or None,
            tls=tls if isinstance(tls, bool) else str(tls).strip().lower() in ("true", "yes", "1", "vrai", "oui"),
            sender=str(settings("smtp_sender", "") or "crm@localhost"),
            timeout=seconds_setting(settings, "smtp_timeout", SMTP_TIMEOUT),
            budget=seconds_setting(settings, "smtp_budget", SMTP_BUDGET),
        )


def seconds_setting(settings: Callable[[str, Any], Any], name: str, default: float) -> float:
    """A positive number of seconds from Settings; the default when empty or not a number."""
    try:
        value = float(settings(name, default) or default)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def build_email(item: OutboxItem, sender: str) -> EmailMessage:
    p = item.payload
    msg = EmailMessage()
    msg["From"] = p.get("from") or sender
    msg["To"] = p["to"]
    msg["Subject"] = p.get("subject", "")
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = item.message_id or make_msgid()
    if p.get("unsubscribe"):
        msg["List-Unsubscribe"] = f"<{p['unsubscribe']}>"
    msg.set_content(p.get("text", ""), cte=_cte(p.get("text", "")))
    if p.get("html"):
        msg.add_alternative(p["html"], subtype="html", cte=_cte(p["html"]))
    return msg


def _cte(body: str) -> str | None:
    """SMTP refuses lines over 998 bytes (RFC 5321): long lines go quoted-printable, the rest as the library picks."""
    return "quoted-printable" if any(len(line.encode()) > 900 for line in body.splitlines()) else None


class SmtpTransport:
    """Sends through an SMTP server; the password comes from the environment, never the workbook.

    One connection carries the run's emails. Each reply is awaited ``timeout`` seconds; a server that does
    not answer (or cannot be reached) fails the email it was sending and the rest of the run's emails wait
    for the next run, and no email starts after the run's ``budget``. Replies decide what happens: 2xx sent,
    4xx retried on a later run, 5xx failed for good with the server's text. The point of no return is the
    final "." of DATA: a connection lost before it is a retry, only one lost between it and the reply is unknown.
    """

    def __init__(self, settings: SmtpSettings, password: str | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.password = password if password is not None else os.environ.get(SMTP_PASSWORD_ENV)
        register_secret(self.password)
        self._clock = clock
        self._started: float | None = None
        self._smtp: smtplib.SMTP | None = None
        self._down: str | None = None  # why the rest of this run's emails wait

    @property
    def _server(self) -> str:
        return f"the mail server {self.settings.host}:{self.settings.port}"

    def deferral(self, item: OutboxItem) -> str | None:
        """Why no more email is tried in this run (the server did not answer, the budget is used up), or None."""
        if self._started is None:
            self._started = self._clock()
        if self._down is None and self._clock() - self._started > self.settings.budget:
            self._down = f"not sent in this run: its {self.settings.budget:g} s for sending email were used up; it goes out on the next run"
        return self._down

    def send(self, item: OutboxItem, mark_sending: Callable[[], None]) -> None:
        s = self.settings
        if self.deferral(item) is not None:
            raise Deferred(self._down)
        msg = build_email(item, s.sender)
        sender = parseaddr(str(msg["From"]))[1]
        recipients = [addr for _, addr in getaddresses([str(msg["To"])]) if addr]
        body = _dot_stuffed(msg.as_bytes(policy=SMTP_POLICY))  # CRLF line ends, as SMTP wants them
        reused = self._smtp is not None
        smtp = self._session()
        try:
            try:
                self._envelope(smtp, sender, recipients)
            except _Dropped:
                if not reused:
                    raise
                smtp = self._session()  # the kept connection had timed out on the server's side: once more, afresh
                self._envelope(smtp, sender, recipients)
        except _Dropped:
            raise DeliveryError(f"{self._server} closed the connection before the message was sent; retried on the next run") from None
        try:
            code, resp = smtp.docmd("DATA")
        except (smtplib.SMTPException, OSError) as exc:
            raise self._lost(exc, "at DATA, before the message was sent") from exc
        if code != 354:
            self._reset(smtp)
            raise _refusal(code, resp, "the message")
        try:  # the message without the final ".": a connection lost here leaves nothing at the server
            smtp.send(body)
        except (smtplib.SMTPException, OSError) as exc:
            raise self._lost(exc, "while sending the message, before its end") from exc
        try:
            mark_sending()
        except BaseException:
            self._drop()  # never send the "." of an item that is not ours (or a crash): the server discards it
            raise
        try:
            smtp.send(b".\r\n")
        except (smtplib.SMTPException, OSError) as exc:  # the "." did not leave: nothing was delivered
            raise self._lost(exc, "before the end of the message") from exc
        try:
            code, resp = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            if _timed_out(exc):
                self._down = f"{self._server} did not answer within {s.timeout:g} s; the other emails wait for the next run"
                raise UncertainDelivery(f"{self._server} did not confirm the message within {s.timeout:g} s") from exc
            raise UncertainDelivery(f"the connection to {self._server} was lost after the message was sent ({_reason(exc)})") from exc
        if code != 250:  # a refusal at the end of DATA is not a send
            raise _refusal(code, resp, "the message")

    def _session(self) -> smtplib.SMTP:
        """The connection of this run: opened, greeted, TLS, logged in once; reused for the next emails."""
        if self._smtp is not None:
            return self._smtp
        s = self.settings
        smtp = None
        try:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            smtp.ehlo()
            if s.tls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, self.password or "")
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            if smtp is not None:
                smtp.close()
            if _timed_out(exc):
                self._down = f"{self._server} did not answer within {s.timeout:g} s; emails wait for the next run"
            elif isinstance(exc, smtplib.SMTPAuthenticationError):
                self._down = (f"{self._server} refused the login of {s.user}: {_reply(exc.smtp_code, exc.smtp_error)}; "
                              f"check smtp_user and {SMTP_PASSWORD_ENV}")
            elif isinstance(exc, smtplib.SMTPResponseException):
                self._down = f"{self._server} refused the session: {_reply(exc.smtp_code, exc.smtp_error)}"
            elif smtp is None:  # no connection, or no greeting
                self._down = f"cannot reach {self._server} ({_reason(exc)})"
            else:  # connected, then greeting, TLS or login went wrong
                self._down = f"the session with {self._server} failed ({_reason(exc)}); check smtp_tls and smtp_port"
            raise DeliveryError(self._down) from exc
        self._smtp = smtp
        return smtp

    def _envelope(self, smtp: smtplib.SMTP, sender: str, recipients: list[str]) -> None:
        """MAIL FROM and RCPT TO; a refusal resets the transaction so the connection serves the next email."""
        if not recipients:
            raise PermanentFailure("no recipient address in To")
        try:
            code, resp = smtp.mail(sender)
            if code != 250:
                self._reset(smtp)
                raise _refusal(code, resp, f"the sender {sender}")
            for rcpt in recipients:
                code, resp = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    self._reset(smtp)
                    raise _refusal(code, resp, rcpt)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            if _timed_out(exc):
                raise self._lost(exc, "before the message was sent") from exc
            raise _Dropped() from exc
        except OSError as exc:
            raise self._lost(exc, "before the message was sent") from exc

    def _lost(self, exc: BaseException, when: str) -> DeliveryError:
        """The connection broke (or the server went silent) before the final ".": nothing was delivered."""
        self._drop()
        if _timed_out(exc):
            self._down = f"{self._server} did not answer within {self.settings.timeout:g} s; the other emails wait for the next run"
            return DeliveryError(f"{self._server} did not answer within {self.settings.timeout:g} s {when}; retried on the next run")
        return DeliveryError(f"the connection to {self._server} was lost {when} ({_reason(exc)}); retried on the next run")

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        """Close the socket without a word (in the middle of DATA, a QUIT would be part of the message)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def close(self) -> None:
        """End of the delivery: say goodbye on the kept connection (briefly) and close it. The next delivery
        starts afresh (its own budget, the server given another chance)."""
        self._started, self._down = None, None
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if smtp.sock is not None:
                smtp.sock.settimeout(min(self.settings.timeout, 2.0))
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()


class _Dropped(Exception):
    """The server closed a connection between two commands (nothing of the message was sent)."""


def _dot_stuffed(data: bytes) -> bytes:
    """The message as DATA carries it, without the final ".": lines starting with "." doubled, CRLF at the end."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _refusal(code: int, resp: bytes | str, what: str) -> DeliveryError:
    """A reply other than the one hoped for: 5xx is for good, anything else (4xx) is worth another try."""
    if 500 <= code < 600:
        return PermanentFailure(f"the mail server refused {what} for good: {_reply(code, resp)}")
    return DeliveryError(f"the mail server refused {what} for now: {_reply(code, resp)}; retried on the next run")


def _reply(code: int | None, resp: bytes | str | None) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp or "")
    return f"{code} {' '.join(text.split())}".strip()


def _timed_out(exc: BaseException) -> bool:
    """smtplib reports a timeout as a lost connection: look at what it wraps."""
    seen = exc
    for _ in range(4):
        if isinstance(seen, (TimeoutError, socket.timeout)):
            return True
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            return False
    return False


def _reason(exc: BaseException) -> str:
    return redact(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)


class WebhookTransport:
    """POSTs JSON to a URL (a team chat incoming webhook or any endpoint), with an Idempotency-Key header.

    Each post waits ``timeout`` seconds for an answer; a host that does not answer makes the rest of the run's
    posts to it wait for the next run, and no post starts after the run's ``budget``. The URL is a secret
    (a chat webhook URL is a password): messages name it redacted, the team chat's not at all.
    """

    def __init__(self, url: str | None = None, timeout: float = WEBHOOK_TIMEOUT, budget: float = WEBHOOK_BUDGET,
                 *, clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.timeout = timeout
        self.budget = budget
        register_secret(url)
        self._clock = clock
        self._started: float | None = None
        self._down: dict[str, str] = {}  # host -> why the rest of this run's posts to it wait

    def send(self, item: OutboxItem, mark_sending: Callable[[], None]) -> None:
        import requests

        url = item.payload.get("url") or self.url
        if not url:
            raise DeliveryError("no URL to post to: set the webhook URL's environment variable")
        where = redact_url(str(url)) if item.payload.get("url") else "the team chat webhook"
        host = _host(str(url))
        why = self.deferral(item)
        if why is not None:
            raise Deferred(why)
        body = item.payload.get("body") if "body" in item.payload else {"text": item.payload.get("text", "")}
        mark_sending()
        try:
            resp = requests.post(str(url), json=body, timeout=(min(self.timeout, 5.0), self.timeout),
                                 headers={"Idempotency-Key": item.key})
        except requests.ConnectTimeout as exc:  # no connection: nothing was posted
            self._down[host] = f"{where} did not answer within {self.timeout:g} s; posts to it wait for the next run"
            raise DeliveryError(f"{where} did not answer within {self.timeout:g} s") from exc
        except requests.Timeout as exc:  # connected and sent, no answer: it may have arrived
            self._down[host] = f"{where} did not answer within {self.timeout:g} s; posts to it wait for the next run"
            raise UncertainDelivery(f"{where} did not answer within {self.timeout:g} s") from exc
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                self._down[host] = f"cannot reach {where}; posts to it wait for the next run"
                raise DeliveryError(f"cannot reach {where}") from exc
            raise UncertainDelivery(f"the connection to {where} was lost before its answer") from exc
        except requests.RequestException as exc:  # an invalid URL and the like: trying again changes nothing
            raise PermanentFailure(f"cannot post to {where}: {type(exc).__name__}") from exc
        if resp.status_code >= 500 or resp.status_code in (408, 425, 429):  # a busy or broken receiver: later
            raise DeliveryError(f"{where} answered {resp.status_code}; retried on the next run")
        if resp.status_code >= 400:
            raise PermanentFailure(f"{where} refused the post for good: {resp.status_code} {' '.join(resp.text[:200].split())}")


    def deferral(self, item: OutboxItem) -> str | None:
        """Why posts to this item's host wait for the next run (it did not answer, the budget is used up), or None."""
        host = _host(str(item.payload.get("url") or self.url or ""))
        if self._started is None:
            self._started = self._clock()
        if host not in self._down and self._clock() - self._started > self.budget:
            self._down[host] = f"not posted in this run: its {self.budget:g} s for posting were used up; posted on the next run"
        return self._down.get(host)

    def close(self) -> None:
        """End of the delivery: the next one starts afresh (its own budget, every host given another chance)."""
        self._started, self._down = None, {}


def _host(url: str) -> str:
    m = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^/?#]*@)?([^/?#]*)", url)
    return m.group(1).lower() if m else url


def _never_connected(exc: BaseException) -> bool:
    """Whether requests failed while connecting (refused, no such host): the request never left."""
    from urllib3.exceptions import NewConnectionError

    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, NewConnectionError):
            return True
        reason = getattr(seen, "reason", None)
        if isinstance(reason, NewConnectionError):
            return True
        nxt = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = nxt or seen.__cause__ or seen.__context__
    return False
