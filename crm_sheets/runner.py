"""The runner: read the workbook once, run jobs in order on the in-memory tables, write once.

Each job sees the tables as changed by the jobs before it. The library's functions (api.py), which
the CLI, the schedule and the demo call, all come here. A change set left pending by a busy workbook
is applied first.

A job whose function takes a `state` gets what it returned last time, kept in the outbox file beside
the workbook (automate: its snapshot of last-seen values; check: its phone verdicts), and its new state
is saved once the write succeeded (or nothing needed writing); a dry run saves nothing. With automate,
the order is: queue the effects, write the workbook (its Outbox sheet shows the queue as of this
write), save the new states, then deliver; a later run's sheet shows what was delivered.
"""
from __future__ import annotations

import gc
import hashlib
import importlib
import inspect
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable


from crm_sheets.errors import UsageError, WorkbookBusy, WorkbookChanged
from crm_sheets.model.changeset import ChangeSet, RowAppend
from crm_sheets.model.result import JobResult
from crm_sheets.model.tables import Tables
from crm_sheets.model.values import cell_text  # the Audit Log shows a value as its cell does

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
# Jobs that make tens of thousands of changes and findings: the garbage collector would rescan the
# tables' live objects again and again for nothing (dedupe at 100k leads: 7.5 s of CPU with it, 6.9 s
# without; at 10k, 0.50 s and 0.46 s). The runner decides this; a job never touches process-wide state.
GC_PAUSED_FOR = frozenset({"dedupe"})


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


def takes(name: str, keyword: str) -> bool:
    """Whether the job's function has the keyword ``keyword`` (``state``, ``dry_run``)."""
    fn = job_function(name)
    return fn is not None and keyword in inspect.signature(fn).parameters


def takes_state(name: str) -> bool:
    """Whether the job keeps a state between runs (its function has a ``state`` keyword)."""
    return takes(name, "state")


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
        with collector_paused(name in GC_PAUSED_FOR):
            result = fn(tables, now=now, **(options or {}).get(name, {}))
        result.changes.apply_to(tables)
        merged.extend(result.changes)
        results.append(result)
    for name, t in tables.tables.items():
        if t.next_id != start_ids[name] or t.assigned_ids:
            merged.sequences[name] = max(t.next_id, merged.sequences.get(name, 0))
    audit_rows(tables, merged, now)
    return results, merged


@contextmanager
def collector_paused(paused: bool = True):
    """Pause the cyclic garbage collector inside the block (if it runs); it is back on afterwards."""
    if not paused or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def audit_rows(tables: Tables, changes: ChangeSet, now: datetime) -> None:
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
                    "before": cell_text(entry.before),
                    "after": cell_text(entry.after),
                    "reason": entry.reason,
                },
            )
        )
    changes.audit = []


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
    if stateful:
        from crm_sheets.outbox import Outbox, outbox_path

        where = outbox_path(path)
        if not dry_run or "automate" in jobs or where.exists():  # a dry check creates no file
            box = Outbox(where)
            options = _state_options(options, box, stateful)
    options = _dry_run_options(options, dry_run, jobs)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report.attempts = attempt
        step(f"Reading {Path(path).name}")
        tables = store.read()
        pending = store.pending() if not dry_run else None
        step("Running " + ", ".join(jobs))
        results, changes = run_jobs_with_pending(tables, jobs, now=now, options=options, pending=pending)
        report.results, report.changes, report.pending_applied = results, changes, pending is not None
        report.tables = tables  # as the jobs left them: what was written
        if dry_run:
            return report
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


def _state_options(options: dict[str, dict] | None, box, stateful: list[str]) -> dict[str, dict]:
    """Each job that keeps a state gets the one it returned last time (unless the caller gives one)."""
    options = {k: dict(v) for k, v in (options or {}).items()}
    for name in stateful:
        job = options.setdefault(name, {})
        if "state" not in job:
            job["state"] = box.load_state(name)
    return options


def _dry_run_options(options: dict[str, dict] | None, dry_run: bool, jobs: list[str]) -> dict[str, dict]:
    """Every job whose function takes ``dry_run`` gets the run's (unless the caller gives one): a dry run
    means the same to every job, whoever asks for it (a command, the schedule, a script)."""
    options = {k: dict(v) for k, v in (options or {}).items()}
    for name in jobs:
        if takes(name, "dry_run"):
            options.setdefault(name, {}).setdefault("dry_run", dry_run)
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
