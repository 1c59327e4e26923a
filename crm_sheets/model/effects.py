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
