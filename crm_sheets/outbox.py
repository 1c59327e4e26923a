"""The outbox: side effects (emails, chat posts, webhooks) delivered exactly once, or shown for a person to confirm.

Items live in a SQLite file beside the workbook (transactional, survives crashes). Each item moves
queued -> sending -> sent | failed (retried later) | unknown. `sending` is recorded before the
point of no return (SMTP DATA, the HTTP request); an item found still `sending` on the next run
was interrupted there, so it becomes `unknown` and is never retried automatically: SMTP has no
idempotency, and a silent second copy is worse than a question.
"""
from __future__ import annotations

import json
import os
import smtplib
import sqlite3
import ssl
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol

from crm_sheets.errors import NotAWorkbook, UsageError
from crm_sheets.model.effects import Effect

STATUSES = ("queued", "sending", "sent", "failed", "unknown", "cancelled")
MAX_ATTEMPTS = 5
SMTP_PASSWORD_ENV = "CRM_SHEETS_SMTP_PASSWORD"


class DeliveryError(Exception):
    """Delivery failed before the point of no return: safe to retry."""


class UncertainDelivery(Exception):
    """Delivery failed after the point of no return: the recipient may have it."""


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

    @property
    def to(self) -> str:
        """Where it goes: the email address, the webhook URL, or '' for the team chat."""
        if self.kind == "email":
            return str(self.payload.get("to", ""))
        return str(self.payload.get("url", "")) if self.kind == "webhook" else ""

    @property
    def subject(self) -> str:
        """What it says in a line: the email subject, the chat text, the webhook's rule."""
        if self.kind == "email":
            return str(self.payload.get("subject", ""))
        if self.kind == "webhook":
            return str((self.payload.get("body") or {}).get("rule", ""))
        return str(self.payload.get("text", ""))

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "status": self.status, "kind": self.kind, "to": self.to, "subject": self.subject,
                "table": self.table, "record_id": self.record_id, "message_id": self.message_id, "attempts": self.attempts,
                "queued_at": self.queued_at, "updated_at": self.updated_at, "error": self.error}


class Transport(Protocol):
    def send(self, item: OutboxItem, mark_sending: Callable[[], None]) -> None:
        """Deliver; call mark_sending() right before the point of no return. Raise DeliveryError or UncertainDelivery."""


@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # no transport configured for their kind

    def as_dict(self) -> dict[str, list[str]]:
        return {"sent": self.sent, "failed": self.failed, "unknown": self.unknown, "waiting": self.waiting}


def outbox_path(workbook: str | Path) -> Path:
    p = Path(workbook)
    return p.with_name(f".{p.name}.outbox.sqlite")


class Outbox:
    """A durable queue of effects keyed by their idempotency key."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
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

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a recorded `sending` must survive a power cut
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
            sql = "SELECT key, kind, status, payload, tbl, record_id, message_id, attempts, queued_at, updated_at, error FROM items"
            rows = db.execute(sql + (" WHERE status = ?" if status else "") + " ORDER BY queued_at, key", (status,) if status else ()).fetchall()
        return [OutboxItem(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10]) for r in rows]

    def _set(self, key: str, status: str, now: datetime, error: str | None = None, attempt: bool = False) -> None:
        with closing(self._connect()) as db:
            db.execute(
                "UPDATE items SET status = ?, updated_at = ?, error = ?, attempts = attempts + ? WHERE key = ?",
                (status, now.isoformat(timespec="seconds"), error, 1 if attempt else 0, key),
            )

    def deliver(self, transports: Mapping[str, Transport], now: datetime) -> DeliveryReport:
        """Deliver every queued or failed item whose kind has a transport."""
        report = DeliveryReport()
        for item in self.items("sending"):  # interrupted at the point of no return by a crash
            self._set(item.key, "unknown", now, "interrupted while sending: check whether it arrived, then confirm")
            report.unknown.append(item.key)
        for item in self.items("queued") + self.items("failed"):
            if item.attempts >= MAX_ATTEMPTS:
                continue
            transport = transports.get(item.kind)
            if transport is None:
                report.waiting.append(item.key)
                continue
            marked: list[bool] = []

            def mark_sending(key: str = item.key, marked: list[bool] = marked) -> None:
                marked.append(True)
                self._set(key, "sending", now, attempt=True)

            try:
                transport.send(item, mark_sending)
            except UncertainDelivery as exc:
                self._set(item.key, "unknown", now, str(exc))
                report.unknown.append(item.key)
            except (DeliveryError, OSError) as exc:
                # A try that failed before the point of no return counts too, so an unreachable server
                # is not retried forever: after MAX_ATTEMPTS a person decides (crm-sheets outbox --retry-failed).
                self._set(item.key, "failed", now, str(exc) or type(exc).__name__, attempt=not marked)
                report.failed.append(item.key)
            else:
                self._set(item.key, "sent", now)
                report.sent.append(item.key)
        return report

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
            row = db.execute(
                "SELECT key, kind, status, payload, tbl, record_id, message_id, attempts, queued_at, updated_at, error FROM items WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            raise UsageError(f"{self.path.name} has no item {key!r}", hint="crm-sheets outbox PATH lists the keys")
        return OutboxItem(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], row[7], row[8], row[9], row[10])

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


def read_job_states(workbook: str | Path, generation: str | None = None, sha256: str | None = None) -> JobStates:
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


def open_outbox(workbook: str | Path) -> Outbox:
    """The outbox beside an existing workbook, for a person to look at or act on (never created here)."""
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
    timeout: float = 30.0

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
        )


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
    """Sends through an SMTP server; the password comes from the environment, never the workbook."""

    def __init__(self, settings: SmtpSettings, password: str | None = None):
        self.settings = settings
        self.password = password if password is not None else os.environ.get(SMTP_PASSWORD_ENV)

    def send(self, item: OutboxItem, mark_sending: Callable[[], None]) -> None:
        s = self.settings
        msg = build_email(item, s.sender)
        try:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        except OSError as exc:
            raise DeliveryError(f"cannot reach the mail server {s.host}:{s.port} ({exc})") from exc
        with smtp:
            try:
                smtp.ehlo()
                if s.tls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if s.user:
                    smtp.login(s.user, self.password or "")
                sender = parseaddr(str(msg["From"]))[1]
                code, resp = smtp.mail(sender)
                if code != 250:
                    raise DeliveryError(f"the mail server refused the sender {sender}: {code} {resp!r}")
                for rcpt in [parseaddr(a)[1] for a in str(msg["To"]).split(",")]:
                    code, resp = smtp.rcpt(rcpt)
                    if code not in (250, 251):
                        raise DeliveryError(f"the mail server refused {rcpt}: {code} {resp!r}")
            except smtplib.SMTPException as exc:
                raise DeliveryError(str(exc)) from exc
            mark_sending()  # the point of no return: after DATA the server may have the message
            try:
                code, resp = smtp.data(msg.as_bytes(policy=SMTP_POLICY))  # CRLF: smtplib sends bytes as given
            except smtplib.SMTPDataError as exc:  # a definite refusal: nothing was delivered
                raise DeliveryError(f"the mail server refused the message: {exc}") from exc
            except (smtplib.SMTPException, OSError) as exc:
                raise UncertainDelivery(f"connection lost while sending: {exc}") from exc
            if code != 250:  # smtplib returns the final reply of DATA without raising: a refusal is not a send
                raise DeliveryError(f"the mail server refused the message: {code} {resp!r}")


class WebhookTransport:
    """POSTs JSON to a URL (a team chat incoming webhook or any endpoint), with an Idempotency-Key header."""

    def __init__(self, url: str | None = None, timeout: float = 15.0):
        self.url = url
        self.timeout = timeout

    def send(self, item: OutboxItem, mark_sending: Callable[[], None]) -> None:
        import requests

        url = item.payload.get("url") or self.url
        if not url:
            raise DeliveryError("no URL to post to: set the webhook URL's environment variable")
        body = item.payload.get("body") if "body" in item.payload else {"text": item.payload.get("text", "")}
        mark_sending()
        try:
            resp = requests.post(url, json=body, timeout=self.timeout, headers={"Idempotency-Key": item.key})
        except requests.ConnectionError as exc:
            raise DeliveryError(f"cannot reach {url} ({exc})") from exc
        except requests.RequestException as exc:
            raise UncertainDelivery(f"no answer from {url} ({exc})") from exc
        if resp.status_code >= 500 or resp.status_code == 429:
            raise DeliveryError(f"{url} answered {resp.status_code}; will retry")
        if resp.status_code >= 400:
            raise DeliveryError(f"{url} refused the post: {resp.status_code} {resp.text[:200]}")
