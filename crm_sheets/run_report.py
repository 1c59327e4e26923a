"""What a run answers: RunReport (results, change set, write, backup, delivery, notes) and its results as the
one JSON text that `--json` prints and the run's record keeps (made by the json module's C encoder).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.result import JobResult
from crm_sheets.model.tables import Tables


@dataclass
class RunReport:
    path: str
    jobs: list[str]
    results: list[JobResult] = field(default_factory=list)
    changes: ChangeSet = field(default_factory=ChangeSet)
    written: bool = False
    dry_run: bool = False
    backup: str | None = None
    pending_applied: bool = False
    attempts: int = 1
    delivery: dict[str, list[str]] | None = None  # automate's outbox: sent, failed, unknown, waiting keys
    tables: Tables | None = field(default=None, repr=False)  # the tables as written, for callers that need them
    notes: list[str] = field(default_factory=list)  # what a person should know: rows not read, values added to lists, sheets named
    settled: Any = None  # a run answered from an earlier one's record is a settled.SettledReport; this one ran

    @property
    def findings(self):
        return [f for r in self.results for f in r.findings]

    @property
    def errors(self):
        return [f for f in self.findings if f.severity == "error"]

    def as_dict(self, results: bool = True) -> dict[str, Any]:
        out = {
            "path": self.path,
            "jobs": self.jobs,
            "written": self.written,
            "dry_run": self.dry_run,
            "backup": self.backup,
            "pending_applied": self.pending_applied,
            "delivery": self.delivery,
            "changes": self.changes.summary(),
            "notes": self.notes,
        }
        if results:
            out["results"] = [
                {
                    "job": r.job,
                    "stats": r.stats,
                    "changes": r.changes.summary(),
                    "findings": [f.as_dict() for f in r.findings],
                    "effects": len(r.effects),
                }
                for r in self.results
            ]
        return out

    def results_json(self) -> str:
        """'"results": [...]' as --json prints it, in one line (made once: the run's record and --json share it)."""
        text = self.__dict__.get("_results_json")
        if text is None:
            text = self.__dict__["_results_json"] = "".join(results_json_chunks(self.results))
        return text


# Findings encoded at once by results_json_chunks: a first check at 100k leads has ~200,000 (100 MB of JSON)
_FINDINGS_AT_ONCE = 20_000


def results_json_chunks(results: list[JobResult]):
    """The text of '"results": ' + json.dumps(RunReport.as_dict()["results"], default=str), piece by piece and
    made by the json module's C encoder (an indented dump goes through its Python encoder, ten times slower)."""
    dumps = json.dumps
    yield '"results": ['
    for n, r in enumerate(results):
        head = dumps({"job": r.job, "stats": r.stats, "changes": r.changes.summary()}, default=str)
        yield (", " if n else "") + head[:-1] + ', "findings": ['
        found = r.findings
        for lo in range(0, len(found), _FINDINGS_AT_ONCE):
            part = dumps([f.as_dict() for f in found[lo:lo + _FINDINGS_AT_ONCE]], default=str)
            yield (", " if lo else "") + part[1:-1]
        yield '], "effects": ' + dumps(len(r.effects)) + "}"
    yield "]"
