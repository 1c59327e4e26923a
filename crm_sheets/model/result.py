"""JobResult: what a job returns — a change set, findings, effects and the state to keep for the next run."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.effects import Effect
from crm_sheets.model.findings import Finding


@dataclass
class JobResult:
    job: str
    changes: ChangeSet = field(default_factory=ChangeSet)
    findings: list[Finding] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    stats: dict = field(default_factory=dict)  # job-specific figures for the summary (e.g. merged: 12)
    state: dict = field(default_factory=dict)  # what the job keeps between runs (automate: last-seen values)
    data: Any = field(default=None, repr=False)  # what the job computed, for scripts (report: its figures); never written

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]
