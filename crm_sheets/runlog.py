"""The Runs sheet: one row per run (start, end, job, trigger, result, counts, first error), latest first.

Runs are recorded in a `runs` table of the state file beside the workbook (the outbox's SQLite file),
so a run that could not write (busy workbook) is listed too; the sheet is an owned sheet written in the
run's own change set, showing the last Settings `runs_keep` runs.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from crm_sheets.errors import CrmSheetsError, UsageError, WorkbookBusy

if TYPE_CHECKING:
    from crm_sheets.model.sheets import SheetSpec

TRIGGERS = ("cli", "schedule", "button", "menu")
KEEP_DEFAULT = 200
STORED_MAX = 5000  # rows kept in the state file whatever runs_keep says

LABELS = {
    "en": {
        "title": "Runs",
        "note": "Every run of crm-sheets on this workbook, the latest first: what ran, who asked (schedule, button, "
                "menu or command line) and how it went. Rewritten by each run; edits here are lost.",
        "columns": ["Started", "Ended", "Job", "Trigger", "Result", "Errors", "Warnings", "Changes", "First error"],
        "trigger": {"cli": "command line", "schedule": "schedule", "button": "button", "menu": "menu"},
        "result": {"ok": "OK", "problems": "problems found", "busy": "busy", "failed": "failed"},
        "all": "everything",
    },
    "fr": {
        "title": "Exécutions",
        "note": "Chaque exécution de crm-sheets sur ce classeur, la plus récente d'abord : ce qui a tourné, qui l'a "
                "demandé (planification, bouton, menu ou ligne de commande) et le résultat. Réécrite à chaque exécution.",
        "columns": ["Début", "Fin", "Tâche", "Déclencheur", "Résultat", "Erreurs", "Avertissements", "Modifications",
                    "Première erreur"],
        "trigger": {"cli": "ligne de commande", "schedule": "planification", "button": "bouton", "menu": "menu"},
        "result": {"ok": "OK", "problems": "problèmes trouvés", "busy": "occupé", "failed": "échec"},
        "all": "tout",
    },
}
_STYLE = {"ok": "good", "problems": "warn", "busy": "warn", "failed": "bad"}


@dataclass(frozen=True)
class RunRecord:
    started: datetime
    ended: datetime
    jobs: tuple[str, ...]
    trigger: str
    result: str  # ok, problems, busy, failed
    errors: int = 0
    warnings: int = 0
    changes: int = 0  # cells updated + rows added, archived or restored
    first_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started"], d["ended"] = self.started.isoformat(timespec="seconds"), self.ended.isoformat(timespec="seconds")
        d["jobs"] = list(self.jobs)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunRecord":
        return cls(
            started=datetime.fromisoformat(d["started"]), ended=datetime.fromisoformat(d["ended"]),
            jobs=tuple(d.get("jobs") or ()), trigger=d.get("trigger", "cli"), result=d.get("result", "ok"),
            errors=int(d.get("errors", 0)), warnings=int(d.get("warnings", 0)), changes=int(d.get("changes", 0)),
            first_error=d.get("first_error", ""),
        )


def check_trigger(trigger: str) -> str:
    if trigger not in TRIGGERS:
        raise UsageError(f"unknown trigger {trigger!r}", hint=f"use one of {', '.join(TRIGGERS)}")
    return trigger


def record_of(results: Iterable[Any], changes: Any, *, jobs: list[str], trigger: str, started: datetime,
              ended: datetime) -> RunRecord:
    """The record of a run whose jobs finished (written or not)."""
    from crm_sheets.spill import finding_field

    # one field at a time (findings kept as tuples stay so, spill.py): a tuple per finding made the collector walk
    # the run's heap (at 30k leads, ~50,000 findings: 0.12 s)
    by_result = [finding_field(r, "severity") for r in results]
    severities = [s for found in by_result for s in found]
    errors = severities.count("error")
    first = ""
    for r, found in zip(results, by_result):
        if errors and "error" in found:
            first = finding_field(r, "message")[found.index("error")]
            break
    s = changes.summary()
    return RunRecord(
        started=started, ended=ended, jobs=tuple(jobs), trigger=trigger, result="problems" if errors else "ok",
        errors=errors, warnings=severities.count("warning"),
        changes=s["updated_cells"] + s["appended_rows"] + s["archived_rows"] + s["restored_rows"],
        first_error=first,
    )


def failure_record(exc: BaseException, *, jobs: list[str], trigger: str, started: datetime, ended: datetime) -> RunRecord:
    return RunRecord(started=started, ended=ended, jobs=tuple(jobs), trigger=trigger,
                     result="busy" if isinstance(exc, WorkbookBusy) else "failed", first_error=str(exc))


class RunHistory:
    """The runs recorded for one workbook, in the state file beside it."""

    def __init__(self, workbook: str | Path):
        from crm_sheets.store.state import state_of

        self.path = state_of(workbook).outbox  # the outbox file (crm_sheets.outbox.outbox_path), without loading it

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS runs (n INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT NULL, "
                   "trigger TEXT NOT NULL, result TEXT NOT NULL, record TEXT NOT NULL)")
        return db

    def add(self, record: RunRecord) -> None:
        import json

        with closing(self._connect()) as db, db:
            db.execute("INSERT INTO runs (started, trigger, result, record) VALUES (?, ?, ?, ?)",
                       (record.started.isoformat(timespec="seconds"), record.trigger, record.result,
                        json.dumps(record.as_dict())))
            db.execute("DELETE FROM runs WHERE n <= (SELECT MAX(n) FROM runs) - ?", (STORED_MAX,))

    def latest(self, limit: int = KEEP_DEFAULT) -> list[RunRecord]:
        """The last ``limit`` runs, the latest first (none when the state file does not exist yet)."""
        import json

        if not self.path.exists():
            return []
        with closing(self._connect()) as db:
            rows = db.execute("SELECT record FROM runs ORDER BY n DESC LIMIT ?", (max(0, limit),)).fetchall()
        return [RunRecord.from_dict(json.loads(r[0])) for r in rows]


def runs_sheet(records: Iterable[RunRecord], *, lang: str = "en", name: str | None = None) -> SheetSpec:
    from crm_sheets.model.sheets import Cell, SheetSpec  # here: a run answered from its record loads no pandas

    L = LABELS.get(lang, LABELS["en"])
    rows: list[list[Any]] = [[Cell(L["title"], "title")], [Cell(L["note"], "subtitle")],
                             [Cell(c, "header") for c in L["columns"]]]
    for r in records:
        rows.append([
            Cell(r.started, "datetime"), Cell(r.ended, "datetime"),
            L["all"] if r.jobs == ("all",) else ", ".join(r.jobs),
            L["trigger"].get(r.trigger, r.trigger),
            Cell(L["result"].get(r.result, r.result), _STYLE.get(r.result)),
            Cell(r.errors, "integer"), Cell(r.warnings, "integer"), Cell(r.changes, "integer"),
            Cell(r.first_error, "wrap" if r.first_error else None),
        ])
    return SheetSpec(name=name or L["title"], key="runs", rows=rows,
                     widths={0: 18, 1: 18, 2: 26, 3: 16, 4: 16, 5: 9, 6: 11, 7: 11, 8: 70},
                     freeze=(3, 0), autofilter=f"A3:I{max(len(rows), 3)}")


class RunLog:
    """What the runner does for the Runs sheet during one run: add the sheet to the write, then record the run.

    The sheet goes along with a real change only, whoever asked for the run (command line, schedule,
    button, menu): a run that finds nothing new leaves the file as it was, byte for byte, and its row
    appears with the next write (the history keeps it meanwhile).
    """

    def __init__(self, workbook: str | Path, *, jobs: list[str], trigger: str, started: datetime):
        self.history = RunHistory(workbook)
        self.jobs, self.trigger, self.started = list(jobs), check_trigger(trigger), started
        self._t0 = time.monotonic()
        self.record: RunRecord | None = None

    def ended(self) -> datetime:
        return self.started + timedelta(seconds=round(time.monotonic() - self._t0))

    def add_sheet(self, tables: Any, results: list[Any], changes: Any, *, into: Any = None) -> None:
        """Add the Runs sheet, this run first, when the workbook has one: to ``into`` (what the runner writes
        only along with a real change), or without it (a dry run) to ``changes`` when they change records."""
        self.record = record_of(results, changes, jobs=self.jobs, trigger=self.trigger, started=self.started,
                                ended=self.ended())
        if "runs" not in tables.schema.owned_sheets or (into is None and not _changes_data(changes)):
            return
        keep = _keep(tables.setting("runs_keep", KEEP_DEFAULT))
        records = [self.record, *self.history.latest(keep - 1)] if keep else []
        lang = tables.lang or "en"
        (changes if into is None else into).sheets.append(
            runs_sheet(records, lang=lang, name=tables.schema.owned_sheet("runs").sheet_name(lang)))

    @staticmethod
    def counts_sheet(changes: Any) -> bool:
        """Whether the run's summary counts the Runs sheet among the sheets it writes: when the run changes
        records (what a dry run shows too; a write of owned sheets alone carries the sheet without counting it)."""
        return _changes_data(changes)

    def done(self) -> None:
        """The run succeeded: record it."""
        if self.record is not None:
            self.history.add(self.record)


def _changes_data(changes: Any) -> bool:
    """Whether a change set changes records (not only owned sheets, which may well render as they are)."""
    return bool(changes.updates or changes.appends or changes.archives or changes.restores or changes.sequences
                or changes.columns or changes.tables or changes.meta)


def _keep(value: Any) -> int:
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        return KEEP_DEFAULT


def run_logged(path: str | Path, jobs: list[str] | None = None, *, trigger: str, now: datetime | None = None,
               **kwargs: Any):
    """`runner.run` for the schedule, the buttons and the menu: a run that fails (busy workbook, unreadable
    file) is recorded in the Runs history too, then the error goes on to the caller."""
    from crm_sheets.api import run
    from crm_sheets.runner import available_jobs

    now = now or datetime.now().replace(microsecond=0)
    t0 = time.monotonic()
    try:
        return run(path, jobs, now=now, trigger=trigger, **kwargs)
    except CrmSheetsError as exc:
        if Path(str(path)).exists():  # a missing file gets no state file beside it
            ended = now + timedelta(seconds=round(time.monotonic() - t0))
            RunHistory(path).add(failure_record(exc, jobs=list(jobs or available_jobs()), trigger=trigger,
                                                started=now, ended=ended))
        raise
