"""The outbox's items and what a delivery says about them: states, errors, the item as stored, the Transport a
channel implements, and the report of one delivery. Shared by the queue (store.py), delivery (deliver.py) and
the channels (transports.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from crm_sheets.model.effects import MAX_ATTEMPTS, delivery_state
from crm_sheets.model.redact import redact

STATUSES = ("queued", "sending", "sent", "failed", "unknown", "cancelled")
SMTP_PASSWORD_ENV = "CRM_SHEETS_SMTP_PASSWORD"
CHAT_WEBHOOK_ENV = "CRM_SHEETS_CHAT_WEBHOOK"  # the default of Settings chat_webhook_env
LEASE_SECONDS = 900.0  # longer than any one send may take (timeouts and run budgets below are far shorter)
IDEMPOTENT_KINDS = ("webhook",)  # receivers de-duplicate by the Idempotency-Key: an unsure post is posted again


class DeliveryError(Exception):
    """Delivery failed before the point of no return: safe to retry."""


class PermanentFailure(DeliveryError):
    """The receiver refused the item for good (an SMTP 5xx, an HTTP 4xx): retrying would only repeat it."""


class UncertainDelivery(Exception):
    """Delivery failed after the point of no return: the recipient may have it."""


class Deferred(Exception):
    """Not tried in this run (the channel did not answer, or the run's time for it is used up): no try counted."""


class LostClaim(Exception):
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


SELECT_ITEMS = ("SELECT key, kind, status, payload, tbl, record_id, message_id, attempts, queued_at, updated_at, error,"
           " lease_owner, lease_until, handed FROM items")
MAX_ERROR = 1000  # characters of an error kept: the server's reply, not a whole HTML page


def item_of_row(r: tuple) -> OutboxItem:
    # Errors are stored redacted; redacting again on the way out also hides secrets known only now.
    error = redact(r[10]) if r[10] is not None else None
    return OutboxItem(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], error, r[11], r[12], bool(r[13]))


def error_text(error: str | None) -> str | None:
    """An error as it may be stored and shown: redacted, on one line, not endless."""
    if error is None:
        return None
    text = " ".join(redact(error).split())
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


def out_of_tries(error: str, attempts: int) -> str:
    """A failed try's error; the last allowed try says so (the Outbox sheet's text changes with it)."""
    if attempts < MAX_ATTEMPTS:
        return error
    return f"{error}; that was try {attempts} of {MAX_ATTEMPTS}: fix the cause, then crm-sheets outbox --retry-failed"
