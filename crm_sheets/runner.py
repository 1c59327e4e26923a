"""The runner: read the workbook once, run jobs in order on the in-memory tables, write once.

Each job sees the tables as changed by the jobs before it. The library's functions (api.py), which
the CLI, the schedule and the demo call, all come here. A change set left pending by a busy workbook
is applied first.

A job whose function takes a `state` gets what it returned last time, kept in the outbox file beside
the workbook (automate: its snapshot of last-seen values; check: its phone verdicts). States are tied
to the workbook generation they describe: a write puts a new generation ID in _crm_meta, the new states
are prepared under it before the file is replaced and committed after; the next run takes the states of
the generation the file carries, so no crash window repeats or loses an action. With automate, the
order is: queue the effects (idempotent by key), write the workbook (its Outbox sheet shows the queue
as of this write), commit the states, release the lock, then deliver, and write the Outbox sheet again when
delivery changed it.
"""
from __future__ import annotations

import importlib
import inspect
import json
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable


from crm_sheets import settled as records  # the record of the last run, and answers from it (settled.py)
from crm_sheets.errors import UsageError, WorkbookChanged
from crm_sheets.model.changeset import ChangeSet, RowAppend
from crm_sheets.model.colhash import forget_hashes
from crm_sheets.model.lazy import read_or_leave_out
from crm_sheets.model.result import JobResult
from crm_sheets.model.tables import Tables
from crm_sheets import heap
from crm_sheets.heap import collector_paused, fewer_collections  # (benchmarks import it from here too)
from crm_sheets.model.values import cell_text  # the Audit Log shows a value as its cell does
from crm_sheets.written import logs_as_written, rows_as_written, tables_as_written  # the tables as the write left them
from crm_sheets.spill import Aside, worth_it  # what the write and the confirming pass do not need, in a file meanwhile
from crm_sheets.run_report import RunReport, waiting_rows  # the runner's answer (api, settled and the CLI import it from here too)
from crm_sheets.delivery import queue_effects as _queue, show_delivery as _show_delivery, transports  # noqa: F401

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
# without; at 10k, 0.50 s and 0.46 s; check on a first run at 30k sample leads, 100,000 findings: 4.5 s
# with it, 3.6 s without; automate 2.1 s and 1.9 s; report's pandas temporaries started a full collection
# over the run's heap: 0.24 s of its 0.56 s on a first run at 10k). The runner decides this; a job never
# touches process-wide state.
GC_PAUSED_FOR = frozenset({"check", "dedupe", "automate", "report"})


# Jobs run again in the same run while their last round changed records (dedupe: a merge fills the survivor's
# empty fields, and the fuller record may now match another one), so the next run finds nothing left to do and
# leaves the file as it is (at 10k sample leads the run after the first merged one more pair; at 100k it
# rewrote Duplicates Review). Each round sees the tables as the rounds before left them.
SETTLED = frozenset({"dedupe"})
MAX_ROUNDS = 4

# What a job remembers per value for its own rounds, let go once its rounds are done: nothing after it asks for it
# (dedupe's match keys per distinct email, phone, company...: ~100 MB at 100k leads, under check's second look, the
# write, the cache's fill and the confirming pass). Job -> (module, function).
_FORGET_AFTER = {"dedupe": ("crm_sheets.jobs.dedupe", "forget_keys")}


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


def run_jobs(tables: Tables, jobs: list[str], *, now: datetime, options: dict[str, dict] | None = None,
             on_result: Callable[[JobResult], None] | None = None,
             before: Callable[[str], None] | None = None) -> tuple[list[JobResult], ChangeSet]:
    """Run jobs in order on in-memory tables (pure: no I/O). Returns their results and the merged change set.
    ``on_result``: called with each job's result as the job returns it, before its changes are applied (the
    confirming pass stops at the first change, and sets each job's findings aside while the next one runs).
    ``before``: called with a job's name just before it runs, when it may still put the job's options in place
    (the confirming pass gives a job its state then, not while the jobs before it run)."""
    merged = ChangeSet()
    for t in tables.tables.values():  # rows people typed without an ID get theirs written back
        for rid in t.assigned_ids:
            merged.update(t.name, rid, "id", rid, reason="new record")
    start_ids = {name: t.next_id for name, t in tables.tables.items()}
    results = []
    first_look = None  # check's findings and sheets, in a file while the jobs after it run (when large)
    for name in jobs:
        fn = job_function(name)
        if fn is None:
            raise UsageError(f"the {name} job is not available in this version", hint=f"available: {', '.join(available_jobs())}")
        if before is not None:
            before(name)
        with collector_paused(name in GC_PAUSED_FOR):
            result = fn(tables, now=now, **(options or {}).get(name, {}))
            if on_result is not None:
                on_result(result)
            result.changes.apply_to(tables)
            if name in SETTLED:
                result = _settle(fn, result, tables, now, (options or {}).get(name, {}))
        if name in _FORGET_AFTER:
            module, func = _FORGET_AFTER[name]
            getattr(importlib.import_module(module), func)()
        merged.extend(result.changes)
        results.append(result)
        if name == "check" and on_result is None and name != jobs[-1] and worth_it([result]):
            # its second look (_check_again) replaces them when a job after it changes records (most first runs)
            first_look = Aside().look_of(result)
            if first_look is not None:  # its memories as objects hold the findings just set aside: the second
                _let_go(results, len(results) - 1)  # look unpacks the strings instead (as a later run's look does)
        heap.trim()  # a job's scratch (pairs, keys, temporaries) goes back before the next job's
    if not _check_again(tables, results, merged, now, options) and first_look is not None:
        first_look()  # no second look: the first one's findings and sheets are the run's
    first_look = None
    for r in results:  # check's memory of this run's cells (jobs/check/memory.py Live) served its second look
        rows = r.state.get("rows") if r.job == "check" and isinstance(r.state, dict) else None
        if isinstance(rows, dict) and type(rows) is not dict:
            r.state["rows"] = dict(rows)  # the results keep the plain JSON state to the end of the run
    heap.trim()
    fixing = next((r for r in results if r.job == "check" and (options or {}).get("check", {}).get("fix")), None)
    if fixing is not None and fixing.stats.get("fixable"):
        fixing.holds_until = None  # fixes left for the next run: it writes again
    for name, t in tables.tables.items():
        if t.next_id != start_ids[name] or t.assigned_ids:
            merged.sequences[name] = max(t.next_id, merged.sequences.get(name, 0))
    audit_rows(tables, merged, now)
    forget_hashes(tables)  # the column hashes the jobs shared (model/colhash.py): the write needs none of them
    return results, merged


def _settle(fn, result: JobResult, tables: Tables, now: datetime, options: dict) -> JobResult:
    """Run ``fn`` again while its last round changed records (at most MAX_ROUNDS rounds); one result for all:
    the changes in order (a later round's sheet replaces an earlier one's), the findings of each round (a
    round repeats the settings' warnings: kept once), counts added up, the last round's other stats."""
    last = result
    keeps_state = "state" in inspect.signature(fn).parameters
    for _ in range(MAX_ROUNDS):
        if not (last.changes.updates or last.changes.archives or last.changes.restores):
            break
        if _ == MAX_ROUNDS - 1:
            result.holds_until = None  # not settled: the next run still has work, so no run is answered from this one
            break
        # a round starts from what the round before it returned (dedupe: the match keys of every record it
        # saw, so a round computes keys only for the records the last one changed), not from the last run's
        last = fn(tables, now=now, **({**options, "state": last.state} if keeps_state else options))
        last.changes.apply_to(tables)
        result.changes.extend(last.changes)
        seen = {(f.type, f.message) for f in result.findings}
        result.findings += [f for f in last.findings if (f.type, f.message) not in seen]
        for key, value in last.stats.items():
            if key in ("merged", "linked", "decisions_applied", "review"):
                result.stats[key] = result.stats.get(key, 0) + value
            elif key != "pairs_found":
                result.stats[key] = value
        result.effects += last.effects
        result.state = last.state  # what the last round found is what the next run starts from
    if result.changes.sheets and "review_sheet" in result.stats:
        result.stats["review_sheet"] = "rewritten"
    if isinstance(result.state, dict):  # what a round hands the next one in memory ('_...') is never kept
        result.state = {k: v for k, v in result.state.items() if not str(k).startswith("_")}
    return result


def _check_again(tables: Tables, results: list[JobResult], merged: ChangeSet, now: datetime,
                 options: dict[str, dict] | None) -> bool:
    """When a job after check changed records (dedupe merged, automate filled owners or made tasks), check looks
    again, so the Data Issues sheet and the findings are what the data holds once every job
    ran: what the next run finds, so that run leaves the sheet (and the file) as it is. True when it looked."""
    at = next((i for i, r in enumerate(results) if r.job == "check"), None)
    if at is None or not any(r.changes.updates or r.changes.appends or r.changes.archives or r.changes.restores
                             for r in results[at + 1:]):
        _let_go(results, at)
        return False
    first = results[at]
    given = (options or {}).get("check", {}).get("state") or {}
    state = {**given, **{k: (first.state or {}).get(k) for k in ("phones", "rows")}} if "state" in inspect.signature(job_function("check")).parameters else None
    # (a table still unread (model/lazy.py: the Audit Log) stays unread: check does not look at it, and reading it
    # here would read a file a colleague may have saved meanwhile)
    kept = {name: (t.df, t.rows, t.typed_text, t.invalid) for name, t in tables.tables.items()
            if getattr(t, "loaded", True)}
    # The second look's sheets and findings replace the first's (below), which only their keys and places are
    # needed for: let the first go before the second is made (at 100k leads, ~170,000 findings and a Data Issues
    # sheet of as many rows).
    light = {id(spec): replace(spec, rows=[]) for spec in first.changes.sheets}
    first.changes.sheets = [light[id(spec)] for spec in first.changes.sheets]
    merged.sheets = [light.get(id(spec), spec) for spec in merged.sheets]
    first.findings = []
    fixed: dict[str, set[tuple[str, str]]] = {}
    for u in first.changes.updates:
        fixed.setdefault(u.table, set()).add((u.record_id, u.field))
    try:
        written = rows_as_written(tables, merged)
        for name, rows in written.items():
            tables[name].rows = rows  # the cells its findings name are those of the file as written
        for name, cells in fixed.items():  # a cell check fixed reads back as a real value, not as typed text
            t = tables[name]
            t.typed_text = {k: v for k, v in t.typed_text.items() if k not in cells}
            t.invalid = {k: v for k, v in t.invalid.items() if k not in cells}
        for name in written:
            _name_by_row(tables[name])
        # The run's change-set lists, and the findings and effects of the jobs after check, wait in a file during the
        # look when large (spill.py): it reads none of them (at 100k leads ~320,000 updates, ~40,000 appended rows and
        # ~25,000 effects under its working set). The lists come back holding the tables' own texts again
        # (Aside.lists_of); the findings as tuples until read, as before the write.
        aside = Aside() if worth_it(results, merged) else None
        back = aside.lists_of([r.changes for r in results] + [merged], tables) if aside is not None else None
        if aside is not None:
            aside.findings_of(results[at + 1:])
        try:
            with collector_paused("check" in GC_PAUSED_FOR):  # as the first look: its findings are no cycles
                again = job_function("check")(tables, now=now, **({"state": state} if state is not None else {}))
            # no look follows this one: the cells' keys and memories both looks carry go before the lists and
            # findings come back (at 100k leads ~60 MB of keys each, with their findings' JSON lists)
            _let_go_all(state, again.state)
        finally:
            if back is not None:
                back()
            if aside is not None:
                aside.put_back()
    finally:
        for name, (df, rows, typed_text, invalid) in kept.items():
            t = tables[name]
            t.df, t.rows, t.typed_text, t.invalid = df, rows, typed_text, invalid
    # Check's sheets are the second look's: a sheet it lays out replaces the first one's, and a sheet it leaves
    # out (it would show what the workbook shows) drops the first one's. Only check writes its sheets' keys.
    shown = {spec.key: spec for spec in again.changes.sheets}
    mine = {spec.key for spec in first.changes.sheets} | set(shown)
    first.changes.sheets = list(again.changes.sheets)
    kept = [spec for spec in merged.sheets if spec.key not in mine or spec.key in shown]
    placed = {spec.key for spec in kept}
    merged.sheets = [shown.get(spec.key, spec) for spec in kept] + [s for k, s in shown.items() if k not in placed]
    first.findings = again.findings
    if again.changes.updates:
        first.holds_until = None  # the second look would fix more: the next run writes again
    first.stats.update({k: v for k, v in again.stats.items() if k != "fixed"})
    if state is not None:
        first.state = again.state
    _let_go(results, at)
    return True


def _let_go(results: list[JobResult], at: int | None) -> None:
    """Check's state carries, within a run, its row memories as objects for its second look (jobs/check/memory.py's
    Live): once no look follows they are let go (the saved state is its packed strings)."""
    state = results[at].state if at is not None else None
    rows = state.get("rows") if isinstance(state, dict) else None
    if getattr(rows, "objs", None):
        rows.objs = {}


def _let_go_all(*states: Any) -> None:
    """Check's states once no look of the run follows: their row memories as objects and their rows' IDs and cells'
    keys (jobs/check/memory.py's Live) are let go; the packed strings, what is saved, stay."""
    for state in states:
        rows = state.get("rows") if isinstance(state, dict) else None
        if isinstance(rows, dict) and type(rows) is not dict:
            rows.objs, rows.rows = {}, {}


def _name_by_row(t) -> None:
    """A table without IDs is keyed by sheet row (the reader names its records 'row8'): its records named
    otherwise in memory (a stage check added: 'stages:Closed wn') or moved by the write get the names the next
    read gives them, so the second look's findings (and check's memory) are the next run's. Replaces the
    table's frame and mappings (the caller restores them)."""
    if t.schema.id_prefix:
        return
    named = {rid: f"row{r}" for rid, r in t.rows.items() if rid != f"row{r}"}
    if not named or not set(named).issubset(set(t.df.index)) or len(set(t.rows.values())) != len(t.rows):
        return
    t.df = t.df.rename(index=named)
    t.rows = {named.get(rid, rid): r for rid, r in t.rows.items()}
    t.invalid = {(named.get(rid, rid), f): v for (rid, f), v in t.invalid.items()}
    t.typed_text = {(named.get(rid, rid), f): v for (rid, f), v in t.typed_text.items()}


def audit_rows(tables: Tables, changes: ChangeSet, now: datetime) -> None:
    """Every automated change is logged in the Audit Log table (when the workbook has one)."""
    # (an Audit Log not read yet is read now, as the write would: without its header row it is left out, and the
    # entries go to a new Audit Log as after an eager read, model/lazy.py)
    if not changes.audit or not read_or_leave_out(tables, "audit_log"):
        return
    with collector_paused():  # a row and its dict per entry: no cycles, and a collection would walk the run's heap
        _audit_appends(changes, now)


def _audit_appends(changes: ChangeSet, now: datetime) -> None:
    changes.appends += [RowAppend("audit_log", "", AuditRow(entry, now)) for entry in changes.audit]
    changes.audit = []


class AuditRow(Mapping):
    """The Audit Log row of one entry (a RowAppend's values): its cells made from the entry when read, instead of a
    dict and the before and after texts per entry held from the jobs' end through the write (at 100k leads a first
    run logs ~200,000 entries, ~60 MB as dicts; the write's plan makes a dict of each row anyway, one at a time).
    Pickled and copied as the dict it reads as."""

    __slots__ = ("entry", "at")

    def __init__(self, entry: Any, at: datetime) -> None:
        self.entry, self.at = entry, at

    def as_dict(self) -> dict[str, Any]:
        e = self.entry
        return {"at": self.at, "job": e.job, "table": e.table, "record": e.record_id, "field": e.field,
                "before": cell_text(e.before), "after": cell_text(e.after), "reason": e.reason}

    def __getitem__(self, key: str) -> Any:
        return _AUDIT_CELLS[key](self)

    def get(self, key: str, default: Any = None) -> Any:
        cell = _AUDIT_CELLS.get(key)
        return default if cell is None else cell(self)

    def __iter__(self):
        return iter(_AUDIT_CELLS)

    def __len__(self) -> int:
        return len(_AUDIT_CELLS)

    def keys(self):  # (dict(row) asks for the keys, then for each cell)
        return _AUDIT_CELLS.keys()

    def values(self):
        return self.as_dict().values()

    def items(self):
        return self.as_dict().items()

    def __reduce__(self):
        return dict, (self.as_dict(),)

    def __repr__(self) -> str:
        return repr(self.as_dict())


_AUDIT_CELLS: dict[str, Callable[[AuditRow], Any]] = {  # the Audit Log's fields, in the order of its columns
    "at": attrgetter("at"), "job": attrgetter("entry.job"), "table": attrgetter("entry.table"),
    "record": attrgetter("entry.record_id"), "field": attrgetter("entry.field"),
    "before": lambda row: cell_text(row.entry.before), "after": lambda row: cell_text(row.entry.after),
    "reason": attrgetter("entry.reason"),
}


@fewer_collections()  # a run's objects live to its end and form no cycles: collections would free nothing (heap.py)
def run(
    path: str | Path,
    jobs: list[str] | None = None,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    options: dict[str, dict] | None = None,
    on_step: Callable[[str], None] | None = None,
    lock_timeout: float | None = None,
    trigger: str = "cli",
    settled_answer: bool = True,
) -> RunReport:
    """Read the workbook, run ``jobs`` (default: every available job, in order), write once.

    One run at a time per workbook: the writer lock is taken before the read and held until the
    workbook and the jobs' states are committed (a second run waits ``lock_timeout`` seconds, default
    CRM_SHEETS_LOCK_TIMEOUT or 5, then exits 3 naming the holder); delivery happens after, unlocked.
    A dry run takes no lock and writes nothing beside the workbook: it reads the file (whole, as it
    is replaced atomically) and the states of the generation that file carries (an SQLite snapshot).

    ``trigger`` (cli, schedule, button, menu) is what the Runs sheet says asked for the run.
    ``settled_answer``: when nothing changed since a run whose result still holds, answer from its record
    (settled.py: nothing read, run or written); False for a caller that needs the tables and jobs' data.
    """
    from crm_sheets.store import open_store

    given = (list(jobs) if jobs else None, options)  # as the caller asked: what a run's record is keyed by
    jobs = list(jobs) if jobs else available_jobs()
    now = now or datetime.now().replace(microsecond=0)
    step = on_step or (lambda _msg: None)
    store = open_store(path, **({} if lock_timeout is None else {"lock_timeout": lock_timeout}))
    # A remote store is named as its URL (the CLI's Path folds gsheets:// to gsheets:/); a file as given.
    report = RunReport(path=store.name if store.name.startswith("gsheets://") else str(path), jobs=jobs, dry_run=dry_run)
    runlog = _run_log(store, jobs, trigger, now)  # a dry run shows its sheet too, and records nothing
    stateful = [name for name in jobs if takes_state(name)]
    options = dry_run_options(options, dry_run, jobs)
    if dry_run:
        return _dry_run(store, path, jobs, stateful, now, options, step, report, runlog)
    box = auto = rider = aside = committing = None
    made_tables = False
    with store.lock():
        answered = records.answer_run(store, given, now, trigger, report.path) if settled_answer else None
        if answered is not None:
            return answered  # nothing changed since a run whose result still holds: nothing read, run or written
        heap.tune()  # big blocks freed go back to the system: the peak is what the run holds (heap.py)
        for attempt in range(1, MAX_ATTEMPTS + 2):
            if attempt > MAX_ATTEMPTS and not made_tables:
                break
            report.attempts = attempt
            step(f"Reading {store.name}")
            tables = store.read()
            pending = pending_of(store)
            keeps_states = bool(stateful) or "automate" in jobs or (pending is not None and pending.states is not None)
            if keeps_states and box is None:
                from crm_sheets.outbox import Outbox, outbox_path

                box = Outbox(outbox_path(store))  # keyed by the store's identity
            base, settled = base_states(box, store, tables, pending, now) if keeps_states else ({}, True)
            step("Running " + ", ".join(jobs))
            try:
                results, changes = run_jobs_with_pending(
                    tables, jobs, now=now, options=state_options(options, base, stateful),
                    pending=pending.changeset if pending is not None else None,
                )
            except WorkbookChanged:  # a table read when first asked for (model/lazy.py) found the file saved since
                if attempt >= MAX_ATTEMPTS + made_tables:
                    raise
                continue  # as for a save caught by the write: re-read and re-run on fresh data
            report.results, report.changes, report.pending_applied = results, changes, pending is not None
            report.tables = tables  # as the jobs left them: what was written
            report.notes = run_notes(tables, results, changes)
            if not made_tables and _make_missing_tables(store, tables, changes):
                made_tables = True
                continue  # the run writes to a table the workbook lacked (Merged, Audit Log): made; read and run again
            states = {**base, **{r.job: r.state for r in results if r.job in stateful}} if keeps_states else None
            auto = next((r for r in results if r.job == "automate"), None)
            if auto is not None:
                digest = _queue(box, auto, tables, changes, now, base)
                if digest:
                    states["outbox_sheet"] = {"digest": digest}
            # What goes along with a real change only: the Runs sheet and a new generation. A change set whose
            # owned sheets render as they are writes nothing, and its states describe the file as it is.
            rider = ChangeSet()
            if runlog is not None:
                runlog.add_sheet(tables, results, changes, into=rider)
            if pending is not None and pending.id:
                changes.meta["applied_pending"] = pending.id  # a pending file outliving this write is not applied twice
            written = False
            if not changes.is_empty():
                step(f"Writing {store.name}")
                # A new generation when the states change (or were not yet committed for this workbook);
                # a write that leaves them as they are keeps the file's generation, and its bytes stable.
                generation = uuid.uuid4().hex[:16] if states is not None and not (settled and _same(_kept(states), _kept(base))) else None
                if generation:
                    rider.meta["generation"] = generation
                # The findings and effects are not needed again until the report is returned: in a file meanwhile
                # (at 100k leads ~170,000 findings under the write's and the confirming pass's working sets).
                aside = Aside()
                if worth_it(results, changes):
                    aside.findings_of(results)
                try:
                    outcome = store.apply(
                        changes, tables, states=states,
                        before_replace=_preparer(box, generation, states, now) if generation else None,
                        **_rider_option(store, changes, rider),
                    )
                except WorkbookChanged:
                    if attempt >= MAX_ATTEMPTS + made_tables:
                        raise
                    aside = None  # these results are dropped
                    continue  # someone saved the file while we worked: re-read and re-run on fresh data
                heap.trim()  # the write's buffers
                written = bool(getattr(outcome, "written", True))
                if not written:
                    aside.put_back()  # a run that wrote nothing is recorded from its own findings
                if written:
                    report.written = True
                    report.backup = str(getattr(outcome, "backup", None) or "") or None
                    if runlog is not None and runlog.counts_sheet(changes):
                        changes.sheets += rider.sheets  # counted as a dry run counts it (runlog.add_sheet)
                    if generation:
                        committing = box.commit_states(generation, now, meanwhile=True)
            if states is not None and not (written and generation):
                # Nothing written, or a write that kept the generation (the states differ only in what a job
                # can lose at no cost, e.g. when a report sheet last changed): the file as it is now is what
                # these states describe.
                fp = store.fingerprint
                current = tables.meta.get("generation") or f"sha256:{fp.sha256 if fp else ''}"
                committing = box.commit_states(str(current), now, states=states, sha256=fp.sha256 if fp else None,
                                               meanwhile=True)
            break
        if committing is not None:  # the states' transaction and its sync to disk go on in a thread meanwhile
            try:
                # A run that wrote nothing is recorded with the text of its results (settled.record), which --json
                # prints too: made now, while the thread waits on the disk, not after delivery
                if not report.written and records.recordable(store, report.results, now) is not None:
                    report.results_json()
            finally:
                committing.wait()  # committed before the lock is released and before delivery touches the outbox
    kinds: list[str] = []
    if auto is not None and box is not None:
        step("Delivering emails and notifications")
        ways = transports(tables)
        kinds = sorted(ways)
        report.delivery = box.deliver(ways, now).as_dict()
        _show_delivery(store, box, tables, now, step)
    if runlog is not None:
        runlog.done()
    # A run that wrote: the next one finds the file's tables in the cache, filled from the tables the run has, as
    # written, instead of parsing what it wrote; the confirming pass (settled.py) runs on them, so the run's tables
    # and its are one set in memory, not two. Filled by record_run, which lets them go once that pass is done.
    # A pending change set was applied to the tables in memory (ChangeSet.apply_to) before the jobs ran, so they
    # are not the tables as read plus what was written: that rare run fills the cache by reading what it wrote.
    made = report.written and not report.pending_applied
    remembers = hasattr(store, "remember_tables")
    # (a log's appended rows are made a table only once the change sets are gone: below)
    as_written = _as_written(tables, changes, rider) if remembers and made else None
    # What the cache's fill and the confirming pass do not need goes before them: the run's change sets and states
    # (in the file with its findings until the report is returned) and this frame's own references to them (at 100k
    # leads ~300,000 updates and ~40,000 appended rows, which sat under the fill's unpickled tables).
    results = changes = states = base = auto = rider = pending = None
    if aside and report.written:
        aside.changes_of(report)
        heap.trim()
    as_written = _logs_as_written(as_written, tables)
    filled = [_fill_table_cache(store, as_written)] if remembers else None
    as_written = None  # (the Tables the fill made of them, when it did, are the confirming pass's)
    try:
        records.record_run(store, report, tables, *given, stateful, now, box, runlog, kinds, step,
                           fill_cache=filled.pop if filled is not None else None)
    finally:
        if aside is not None:
            aside.put_back()
    return report


def _as_written(tables: Tables, changes: ChangeSet, rider: ChangeSet | None) -> dict[str, tuple[Any, str]] | None:
    """The tables a read of the file just written gives, made from the run's own (written.tables_as_written), or
    None: the cache's fill then reads the written file. Never raises: the cache is an optimisation."""
    try:
        return tables_as_written(tables, changes, *([rider] if rider is not None else []), logs_later=True)
    except Exception:
        return None


def _logs_as_written(as_written: dict[str, tuple[Any, str]] | None, tables: Tables) -> dict[str, Any] | None:
    """``as_written`` with its logs' appended rows made tables (written.logs_as_written); None when that fails."""
    if as_written is None:
        return None
    try:
        return logs_as_written(as_written, tables)
    except Exception:
        return None


def _fill_table_cache(store, as_written: dict[str, tuple[Any, str]] | None) -> Tables | None:
    """The table cache filled after a run (with ``as_written``, the tables as written, when it wrote); the Tables of
    the file as written when they were made from the run's own, else None. Never raises (XlsxStore.remember_tables)."""
    return store.remember_tables(as_written)


def _dry_run(store, path, jobs, stateful, now, options, step, report: RunReport, runlog) -> RunReport:
    """Compute everything, write nothing (no lock file, no outbox file, no pending change set applied)."""
    from crm_sheets.outbox import read_job_states

    step(f"Reading {store.name}")
    if hasattr(store, "keep_table_cache"):
        store.keep_table_cache = False  # a dry run writes nothing beside the workbook (it may still use the cache)
    tables = store.read()
    base = {}
    if stateful:
        fp = store.fingerprint
        base = read_job_states(store, tables.meta.get("generation"), fp.sha256 if fp else None).states
    step("Running " + ", ".join(jobs))
    report.results, report.changes = run_jobs(tables, jobs, now=now, options=state_options(options, base, stateful))
    report.tables = tables
    report.notes = run_notes(tables, report.results, report.changes)
    runlog.add_sheet(tables, report.results, report.changes)  # as a real run would write it
    return report


def pending_of(store):
    """The pending change set with its ID and states (stores without IDs give only the change set)."""
    if hasattr(store, "pending_file"):
        return store.pending_file()
    changes = store.pending()
    if changes is None:
        return None
    from crm_sheets.store.pending import Pending

    return Pending(changes)


def base_states(box, store, tables: Tables, pending, now: datetime) -> tuple[dict[str, Any], bool]:
    """The jobs' states that describe the tables as read (plus a pending change set, when there is one),
    and whether they are the committed states of the generation the workbook carries.

    A pending change set carries the states of the run that made it: they describe the workbook with it
    applied. Otherwise the states are those of the generation the workbook carries in _crm_meta (kept
    through people's edits), else of its content hash, else the latest committed. States prepared by a
    run that replaced the file and died before committing them are committed now: the file says the
    replace happened."""
    if pending is not None and pending.states is not None:
        return dict(pending.states), False
    found = found_states(box, store, tables, now)
    generation = tables.meta.get("generation")
    return dict(found.states), bool(generation) and found.generation == generation


def found_states(box, store, tables: Tables, now: datetime, only: list[str] | tuple[str, ...] | None = None):
    """The jobs' states (outbox JobStates) that describe the tables as read, without a pending change set (see
    base_states), committing them when a run replaced the file and stopped before committing them. ``only``: the
    states of these jobs alone (the generation they belong to is found all the same)."""
    fp = store.fingerprint
    found = box.job_states(tables.meta.get("generation"), fp.sha256 if fp else None, only=only)
    if found.matched and not found.committed and found.generation:
        box.commit_states(found.generation, now)
    return found


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal as stored (states go through JSON)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


# Parts of the jobs' states that only say since when an owned sheet shows what it shows (report's sheets,
# check's Data Issues): losing them costs one rewrite of that sheet, never a repeated or lost action, so
# they change no generation (a write that changes only them keeps the file's generation and its bytes).
_SOFT_STATES = {"report": None, "check": ("sheet", "rows"), "dedupe": None}  # check's rows, dedupe's last result: saved work


def _kept(states: dict[str, Any]) -> dict[str, Any]:
    """The states without their soft parts (_SOFT_STATES): what decides whether a write needs a new generation."""
    out = dict(states)
    for job, keys in _SOFT_STATES.items():
        if job in out and keys is None:
            del out[job]
        elif isinstance(out.get(job), dict):
            out[job] = {k: v for k, v in out[job].items() if k not in keys}
    return out


def _rider_option(store, changes: ChangeSet, rider: ChangeSet) -> dict[str, Any]:
    """The rider for a store that writes one only with a real change (and nothing when nothing changes);
    a store that cannot tell gets it merged into the change set, written every time."""
    if "rider" in inspect.signature(store.apply).parameters:
        return {"rider": rider}
    changes.sheets += rider.sheets
    changes.meta.update(rider.meta)
    rider.sheets = []  # in the change set now
    return {}


def _preparer(box, generation: str, states: dict[str, Any], now: datetime) -> Callable[[Path], None]:
    def prepare(tmp: Path) -> None:
        from crm_sheets.store.safety import file_fingerprint

        heap.trim()  # the write's buffers, freed by now, go back before the states' texts are made
        # A store that writes no new file (the open Excel book) passes None: the states are keyed by generation only.
        box.prepare_states(generation, file_fingerprint(tmp).sha256 if tmp is not None else None, states, now)

    return prepare


def _make_missing_tables(store, tables: Tables, changes: ChangeSet) -> bool:
    """Add the sheets of the archive and log tables (or any table) the change set writes to and the workbook
    lacks, in a write of their own; True when some were added."""
    wanted = [a.archive for a in changes.archives] + [a.table for a in changes.appends] + [r.table for r in changes.restores]
    if changes.audit:  # kept when the workbook has no Audit Log (run_jobs logs into it when it has one)
        wanted.append("audit_log")
    wanted = [n for n in wanted if n not in tables]
    if not wanted:
        return False  # every table written to is there (most runs): upgrade and the builder are not even imported
    from crm_sheets.upgrade import missing_tables

    extra = missing_tables(store, tables, wanted)
    if extra.is_empty():
        return False
    store.apply(extra, tables)
    return True


def run_notes(tables: Tables, results: list[JobResult], changes: ChangeSet) -> list[str]:
    """What the run assumed or added, said once (a dry run says the same): the reader's notes, the team's
    values added to lists, and our sheets named beside a team's own sheet of the same name."""
    from crm_sheets.model.sheets import owned_sheet_name
    from crm_sheets.model.tables import META_SHEET

    notes = list(tables.notes)
    for r in results:  # findings still kept as tuples (spill.py) are read as such: none made objects for this
        rows = waiting_rows(r)
        notes += [f.message for f in r.findings if f.type == "option-added"] if rows is None else \
            [t[6] for t in rows if t[0] == "option-added"]
    for spec in changes.sheets:
        if spec.key == META_SHEET:
            continue
        name = owned_sheet_name(spec.key, spec.name, tables.meta, tables.sheet_names)
        if name != spec.name and name not in tables.sheet_names:
            notes.append(f"the workbook's own sheet {spec.name!r} is left as it is; crm-sheets writes its {spec.name} in {name!r}")
    return notes


def _run_log(store, jobs: list[str], trigger: str, now: datetime):
    from crm_sheets.runlog import RunLog

    return RunLog(store, jobs=jobs, trigger=trigger, started=now)  # the run history, keyed by the store's identity


def state_options(options: dict[str, dict] | None, states: dict[str, Any], stateful: list[str]) -> dict[str, dict]:
    """Each job that keeps a state gets the one it returned last time (unless the caller gives one)."""
    options = {k: dict(v) for k, v in (options or {}).items()}
    for name in stateful:
        job = options.setdefault(name, {})
        if "state" not in job:
            job["state"] = states.get(name)
    return options


def dry_run_options(options: dict[str, dict] | None, dry_run: bool, jobs: list[str]) -> dict[str, dict]:
    """Every job whose function takes ``dry_run`` gets the run's (unless the caller gives one): a dry run
    means the same to every job, whoever asks for it (a command, the schedule, a script)."""
    options = {k: dict(v) for k, v in (options or {}).items()}
    for name in jobs:
        if takes(name, "dry_run"):
            options.setdefault(name, {}).setdefault("dry_run", dry_run)
    return options


def run_jobs_with_pending(tables: Tables, jobs: list[str], *, now: datetime, options=None, pending: ChangeSet | None = None):
    if pending is None:
        return run_jobs(tables, jobs, now=now, options=options)
    pending.apply_to(tables)
    results, changes = run_jobs(tables, jobs, now=now, options=options)
    return results, ChangeSet().extend(pending).extend(changes)
