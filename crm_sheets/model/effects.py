"""Effects: side effects a job asks for (emails, chat posts, webhooks). The outbox delivers each exactly once."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Effect:
    kind: str  # "email" | "chat" | "webhook"
    key: str  # idempotency key: (rule, record, trigger value) -> the same effect is never queued twice
    payload: Mapping[str, Any] = field(default_factory=dict)
    table: str | None = None
    record_id: str | None = None


# -- what a person sees of an effect in the outbox --------------------------------------------------
# One mapping from an outbox item's stored status to the state people read, used by the run summary, the
# Outbox sheet and `crm-sheets outbox`, so the three always count alike.

MAX_ATTEMPTS = 5  # tries before a failed item waits for a person (crm-sheets outbox --retry-failed)
STATES = ("waiting", "sending", "retrying", "failed", "unknown", "sent", "cancelled")


def delivery_state(status: str, attempts: int) -> str:
    """waiting (queued, not sent yet), sending (a delivery holds it right now), retrying (a try failed, the next
    run tries again), failed (refused for good or out of tries: a person decides), unknown (may have arrived:
    a person confirms), sent, cancelled."""
    if status == "queued":
        return "waiting"
    if status == "failed":
        return "retrying" if attempts < MAX_ATTEMPTS else "failed"
    return status


def count_states(items) -> dict[str, int]:
    """How many items are in each state (every state present, zeros included)."""
    counts = dict.fromkeys(STATES, 0)
    for i in items:
        state = delivery_state(i.status, i.attempts)
        counts[state] = counts.get(state, 0) + 1
    return counts
