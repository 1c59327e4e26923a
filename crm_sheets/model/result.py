"""JobResult: what a job returns — a change set, findings, effects and the state to keep for the next run."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.effects import Effect
from crm_sheets.model.findings import Finding
from crm_sheets.model.later import Later


@dataclass
class JobResult(Later):  # findings, changes and state may wait in a file after a large run (spill.py)
    job: str
    changes: ChangeSet = field(default_factory=ChangeSet)
    findings: list[Finding] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    stats: dict = field(default_factory=dict)  # job-specific figures for the summary (e.g. merged: 12)
    state: dict = field(default_factory=dict)  # what the job keeps between runs (automate: last-seen values)
    data: Any = field(default=None, repr=False)  # what the job computed, for scripts (report: its figures); never written
    # Until when this result holds while nobody edits the workbook: the first moment the same tables could give
    # another result (a date-relative check, a quiet period running out). None: unknown, so a run is never
    # answered from its record (crm_sheets/settled.py); ALWAYS: nothing in it depends on the clock.
    holds_until: datetime | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


ALWAYS = datetime.max  # a result that no passing time changes (dedupe)


def next_midnight(now: datetime) -> datetime:
    """The first moment of the next day: when "today" moves for a job that reads dates by the day. At exactly
    midnight the result holds for that instant only (a comparison with ``now`` itself may still move)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return now if now == day else day + timedelta(days=1)
