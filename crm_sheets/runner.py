"""The runner: read the workbook once, run jobs in order on the in-memory tables, write once.

Each job sees the tables as changed by the jobs before it. The CLI, the schedule and the workbook
button all call `run`. A change set left pending by a busy workbook is applied first.

A job whose function takes a `state` gets what it returned last time, kept in the outbox file beside
the workbook (automate: its snapshot of last-seen values; check: its phone verdicts), and its new state
is saved once the write succeeded (or nothing needed writing); a dry run saves nothing. With automate,
the order is: queue the effects, write the workbook (its Outbox sheet shows the queue as of this
write), save the new states, then deliver; a later run's sheet shows what was delivered.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from crm_sheets.errors import UsageError, WorkbookBusy, WorkbookChanged
from crm_sheets.model.changeset import ChangeSet, RowAppend
from crm_sheets.model.result import JobResult
from crm_sheets.model.tables import Tables
from crm_sheets.model.values import as_text

# Job name -> (module, function). Order is the order `run` uses.
JOB_ORDER = ("check", "dedupe", "automate", "report")
_JOB_TARGETS = {
    "check": ("crm_sheets.jobs.check", "check"),
    "dedupe": ("crm_sheets.jobs.dedupe", "dedupe"),
    "automate": ("crm_sheets.jobs.automate", "automate"),
    "report": ("crm_sheets.jobs.report", "report"),
    "unmerge": ("crm_sheets.jobs.dedupe", "unmerge"),  # on demand only, never part of `run`
}
MAX_ATTEMPTS = 3  # re-read and re-run when the file changed under us


def job_function(name: str) -> Callable[..., JobResult] | None:
    """The job's pure function, or None when this version does not have that job."""
    if name not in _JOB_TARGETS:
        raise UsageError(f"unknown job {name!r}", hint=f"jobs are {', '.join(JOB_ORDER)}")
    module, func = _JOB_TARGETS[name]
    try:
        return getattr(importlib.import_module(module), func)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def takes_state(name: str) -> bool:
    """Whether the job keeps a state between runs (its function has a ``state`` keyword)."""
    fn = job_function(name)
    return fn is not None and "state" in inspect.signature(fn).parameters


def available_jobs() -> list[str]:
    return [name for name in JOB_ORDER if job_function(name) is not None]


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

    @property
    def findings(self):
        return [f for r in self.results for f in r.findings]

    @property
    def errors(self):
        return [f for f in self.findings if f.severity == "error"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "jobs": self.jobs,
            "written": self.written,
            "dry_run": self.dry_run,
            "backup": self.backup,
            "pending_applied": self.pending_applied,
            "delivery": self.delivery,
            "changes": self.changes.summary(),
            "notes": self.notes,
            "results": [
                {
                    "job": r.job,
                    "stats": r.stats,
                    "changes": r.changes.summary(),
                    "findings": [f.as_dict() for f in r.findings],
                    "effects": len(r.effects),
                }
                for r in self.results
            ],
        }


def run_jobs(tables: Tables, jobs: list[str], *, now: datetime, options: dict[str, dict] | None = None) -> tuple[list[JobResult], ChangeSet]:
    """Run jobs in order on in-memory tables (pure: no I/O). Returns their results and the merged change set."""
    merged = ChangeSet()
    for t in tables.tables.values():  # rows people typed without an ID get theirs written back
        for rid in t.assigned_ids:
            merged.update(t.name, rid, "id", rid, reason="new record")
    start_ids = {name: t.next_id for name, t in tables.tables.items()}
    results = []
    for name in jobs:
        fn = job_function(name)
        if fn is None:
            raise UsageError(f"the {name} job is not available in this version", hint=f"available: {', '.join(available_jobs())}")
        result = fn(tables, now=now, **(options or {}).get(name, {}))
        result.changes.apply_to(tables)
        merged.extend(result.changes)
        results.append(result)
    for name, t in tables.tables.items():
        if t.next_id != start_ids[name] or t.assigned_ids:
            merged.sequences[name] = max(t.next_id, merged.sequences.get(name, 0))
    _audit_rows(tables, merged, now)
    return results, merged


def _audit_rows(tables: Tables, changes: ChangeSet, now: datetime) -> None:
    """Every automated change is logged in the Audit Log table (when the workbook has one)."""
    if not changes.audit or "audit_log" not in tables:
        return
    for entry in changes.audit:
        changes.appends.append(
            RowAppend(
                "audit_log",
                "",
                {
                    "at": now,
                    "job": entry.job,
                    "table": entry.table,
                    "record": entry.record_id,
                    "field": entry.field,
                    "before": _text(entry.before),
                    "after": _text(entry.after),
                    "reason": entry.reason,
                },
            )
        )
    changes.audit = []


def _text(value: Any) -> str:
    """A value as the Audit Log shows it: the text a person would see, '' for empty (never 'nan')."""
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return as_text(value)


def run(
    path: str | Path,
    jobs: list[str] | None = None,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    options: dict[str, dict] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> RunReport:
    """Read the workbook, run ``jobs`` (default: every available job, in order), write once."""
    from crm_sheets.store import open_store

    jobs = list(jobs) if jobs else available_jobs()
    now = now or datetime.now().replace(microsecond=0)
    step = on_step or (lambda _msg: None)
    store = open_store(path)
    report = RunReport(path=str(path), jobs=jobs, dry_run=dry_run)
    box = None
    stateful = [name for name in jobs if takes_state(name)]
    if "automate" in jobs:
        options = _automate_options(options, dry_run)
    made_tables = False
    for attempt in range(1, MAX_ATTEMPTS + 2):
        if attempt > MAX_ATTEMPTS and not made_tables:
            break
        report.attempts = attempt
        step(f"Reading {Path(path).name}")
        tables = store.read()
        if stateful and box is None and attempt == 1:  # only once the workbook is read: a refused one gets no file beside it
            box, options = _open_outbox(path, dry_run, jobs, stateful, options)
        pending = store.pending() if not dry_run else None
        step("Running " + ", ".join(jobs))
        results, changes = run_jobs_with_pending(tables, jobs, now=now, options=options, pending=pending)
        report.results, report.changes, report.pending_applied = results, changes, pending is not None
        report.tables = tables  # as the jobs left them: what was written
        report.notes = run_notes(tables, results, changes)
        if dry_run:
            return report
        if not made_tables and _make_missing_tables(store, path, tables, changes):
            made_tables = True
            continue  # the run writes to a table the workbook lacked (Merged, Audit Log): made; read and run again
        auto = next((r for r in results if r.job == "automate"), None)
        sheet_digest = _queue(box, auto, tables, changes, now) if auto is not None else None
        if not changes.is_empty():
            step(f"Writing {Path(path).name}")
            try:
                outcome = store.apply(changes, tables)
            except WorkbookChanged:
                if attempt == MAX_ATTEMPTS:
                    raise
                continue  # someone saved the file while we worked: re-read and re-run on fresh data
            except WorkbookBusy:
                if box is not None and store.pending() is not None:
                    _save_states(box, results, stateful, now)  # kept as pending: the next run applies it
                raise
            report.written = True
            report.backup = str(getattr(outcome, "backup", None) or "") or None
        if box is not None:
            _save_states(box, results, stateful, now)
        if auto is not None:
            if sheet_digest and report.written:
                box.save_state("outbox_sheet", {"digest": sheet_digest}, now)
            step("Delivering emails and notifications")
            report.delivery = box.deliver(transports(tables), now).as_dict()
        return report
    return report


def _make_missing_tables(store, path, tables: Tables, changes: ChangeSet) -> bool:
    """Add the sheets of the archive and log tables (or any table) the change set writes to and the workbook
    lacks, in a write of their own; True when some were added."""
    from crm_sheets.upgrade import missing_tables

    wanted = [a.archive for a in changes.archives] + [a.table for a in changes.appends] + [r.table for r in changes.restores]
    if changes.audit:  # kept when the workbook has no Audit Log (run_jobs logs into it when it has one)
        wanted.append("audit_log")
    extra = missing_tables(path, tables, [n for n in wanted if n not in tables])
    if extra.is_empty():
        return False
    store.apply(extra, tables)
    return True


def run_notes(tables: Tables, results: list[JobResult], changes: ChangeSet) -> list[str]:
    """What the run assumed or added, said once (a dry run says the same): the reader's notes, the team's
    values added to lists, and our sheets named beside a team's own sheet of the same name."""
    from crm_sheets.model.sheets import owned_sheet_name

    notes = list(tables.notes)
    notes += [f.message for r in results for f in r.findings if f.type == "option-added"]
    for spec in changes.sheets:
        if spec.key == "_crm_meta":
            continue
        name = owned_sheet_name(spec.key, spec.name, tables.meta, tables.sheet_names)
        if name != spec.name and name not in tables.sheet_names:
            notes.append(f"the workbook's own sheet {spec.name!r} is left as it is; crm-sheets writes its {spec.name} in {name!r}")
    return notes


def _open_outbox(path, dry_run: bool, jobs: list[str], stateful: list[str], options):
    """The outbox beside the workbook (a dry check creates no file) and the options with each job's saved state."""
    from crm_sheets.outbox import Outbox, outbox_path

    where = outbox_path(path)
    if dry_run and "automate" not in jobs and not where.exists():
        return None, options
    box = Outbox(where)
    return box, _state_options(options, box, stateful)


def _state_options(options: dict[str, dict] | None, box, stateful: list[str]) -> dict[str, dict]:
    """Each job that keeps a state gets the one it returned last time (unless the caller gives one)."""
    options = {k: dict(v) for k, v in (options or {}).items()}
    for name in stateful:
        job = options.setdefault(name, {})
        if "state" not in job:
            job["state"] = box.load_state(name)
    return options


def _automate_options(options: dict[str, dict] | None, dry_run: bool) -> dict[str, dict]:
    """automate gets the dry-run flag."""
    options = {k: dict(v) for k, v in (options or {}).items()}
    options.setdefault("automate", {}).setdefault("dry_run", dry_run)
    return options


def _save_states(box, results: list[JobResult], stateful: list[str], now: datetime) -> None:
    for r in results:
        if r.job in stateful:
            box.save_state(r.job, r.state, now)


def _queue(box, auto: JobResult, tables: Tables, changes: ChangeSet, now: datetime) -> str | None:
    """Queue automate's effects and add the Outbox sheet to the write when it would show something new
    (or the workbook is written anyway). Returns the sheet's digest, saved once the write succeeded."""
    from crm_sheets.jobs.automate import outbox_sheet

    box.enqueue(auto.effects, now)
    if "outbox" not in tables.schema.owned_sheets:
        return None
    items = box.items()
    digest = hashlib.sha256(repr([(i.key, i.status, i.error) for i in items]).encode()).hexdigest()
    if changes.is_empty() and (box.load_state("outbox_sheet") or {}).get("digest") == digest:
        return None
    name = tables.schema.owned_sheet("outbox").sheet_name(tables.lang or "en")
    changes.sheets.append(outbox_sheet(items, lang=tables.lang or "en", name=name))
    return digest


def transports(tables: Tables) -> dict[str, Any]:
    """Delivery channels from Settings: SMTP when smtp_host is set, the team chat when the environment
    variable named by chat_webhook_env holds a URL (never the workbook), webhooks always."""
    from crm_sheets.outbox import SmtpSettings, SmtpTransport, WebhookTransport

    out: dict[str, Any] = {"webhook": WebhookTransport()}
    smtp = SmtpSettings.from_settings(tables.setting)
    if smtp is not None:
        out["email"] = SmtpTransport(smtp)
    env = str(tables.setting("chat_webhook_env", "") or "").strip()
    url = os.environ.get(env, "").strip() if env else ""
    if url:
        out["chat"] = WebhookTransport(url)
    return out


def run_jobs_with_pending(tables: Tables, jobs: list[str], *, now: datetime, options=None, pending: ChangeSet | None = None):
    if pending is None:
        return run_jobs(tables, jobs, now=now, options=options)
    pending.apply_to(tables)
    results, changes = run_jobs(tables, jobs, now=now, options=options)
    return results, ChangeSet().extend(pending).extend(changes)
