"""The short answer of a run when nothing changed: a record, beside a workbook file, of the file a run left, the
run's parameters, the time until which its result holds, and what it reported; a run that finds all of these as
they were answers from it without reading the workbook or running a job.

What ends the answer (the run then takes the full path, which records again): another file (size, then SHA-256;
a touch that keeps the bytes does not count), other parameters (jobs, options, crm-sheets' code and the libraries
that decide results, CRM_SHEETS_* and locale variables, the chat URL's variable), the time a job's result holds
(JobResult.holds_until: the next midnight for check, automate and report, never for dedupe), a pending change
set, other job states (a run of other jobs committed some), an outbox item due for delivery or an outbox that
changed (a person settled or cancelled an item), and a damaged record. Only a workbook file has a cheap identity:
Google Sheets and open Excel books always take the full path. `CRM_SHEETS_INCREMENTAL=off` turns it off.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import sys
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

FORMAT = 1
SWITCH_ENV = "CRM_SHEETS_INCREMENTAL"  # "off": every run reads the workbook and runs its jobs
_MAGIC = b"crm-sheets settled run\n"
_SUM = 32  # bytes of the BLAKE2b of everything before it, at the end of the file
# Libraries whose version can change a job's result (phone verdicts, fuzzy scores, parsing, rendering).
_LIBRARIES = ("numpy", "pandas", "python_calamine", "phonenumbers", "rapidfuzz", "pycountry", "jinja2", "yaml")
_code: str | None = None


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "").strip().lower() not in ("0", "off", "no", "false")


def record_path(store: Any) -> Path | None:
    """Where a store's record lives, or None for a store without a cheap identity (not a workbook file)."""
    from crm_sheets.store.xlsx import XlsxStore

    if not isinstance(store, XlsxStore):
        return None
    return store.state.dir / f".{store.state.stem}.crm-settled"


def code_fingerprint() -> str:
    """crm-sheets' own code and templates, and the versions of what decides results (once a process)."""
    global _code
    if _code is None:
        from importlib import metadata

        import crm_sheets

        root = Path(crm_sheets.__file__).resolve().parent
        h = hashlib.blake2b(f"{FORMAT} {crm_sheets.__version__} {sys.version}".encode(), digest_size=32)
        for lib in _LIBRARIES:
            try:
                h.update(f"{lib}={metadata.version(lib if lib != 'yaml' else 'PyYAML')}".encode())
            except metadata.PackageNotFoundError:
                h.update(lib.encode())
        templates = root.parent / "workbook_templates"
        for p in sorted([*root.rglob("*.py"), *root.rglob("*.yaml"), *templates.glob("*.yaml")]):
            h.update(str(p.relative_to(root.parent)).encode() + b"\0" + p.read_bytes())
        _code = h.hexdigest()
    return _code


def parameters(jobs: list[str], options: dict[str, dict] | None, chat_env: str | None) -> str:
    """A digest of everything besides the workbook that decides what a run does."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith("CRM_SHEETS_") or k in ("TZ", "LANG", "LC_ALL", "LC_TIME", "LC_NUMERIC")}
    if chat_env:
        env["chat:" + chat_env] = os.environ.get(chat_env, "")
    env.pop(SWITCH_ENV, None)
    text = json.dumps({"jobs": list(jobs), "options": options or {}, "env": env, "code": code_fingerprint()},
                      sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=32).hexdigest()


def horizon(results: list[Any]) -> datetime | None:
    """Until when the run's result holds: the earliest of its jobs' (None when a job does not say)."""
    until = [getattr(r, "holds_until", None) for r in results]
    return None if not until or any(u is None for u in until) else min(until)


# ---------------------------------------------------------------------------------------------
# The record file: magic, a header (JSON), the report's results as printed (JSON, compressed), a checksum


@dataclass
class Record:
    file: dict[str, Any]  # size, mtime_ns, sha256 of the workbook as the run left it
    params: str
    chat_env: str | None
    ran_at: datetime
    holds_until: datetime
    outbox: Any  # the outbox's token (job states and items) as the run left it, or None without one
    kinds: list[str]  # the delivery channels the run had (webhook, email, chat)
    head: dict[str, Any]  # the report's as_dict() without its results
    summary: list[dict[str, Any]]  # per job: job, counts by severity, the first errors' messages
    errors: int
    run: dict[str, Any]  # the Runs history record of the run
    results_json: bytes = field(default=b"", repr=False)  # "results": [...] as --json prints it (indented)


def save(path: Path, record: Record) -> None:
    """Write the record atomically (a reader sees the old one or the new one, never half)."""
    header = {k: v for k, v in record.__dict__.items() if k != "results_json"}
    header["ran_at"], header["holds_until"] = record.ran_at.isoformat(), record.holds_until.isoformat()
    head = json.dumps({"format": FORMAT, **header}, default=str).encode()
    body = _MAGIC + struct.pack(">Q", len(head)) + head + zlib.compress(record.results_json, 1)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        tmp.write_bytes(body + hashlib.blake2b(body, digest_size=_SUM).digest())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def load(path: Path, *, with_results: bool = False) -> Record | None:
    """The record, or None when there is none or it is damaged, cut short or of another format."""
    try:
        data = path.read_bytes()
        body, check = data[:-_SUM], data[-_SUM:]
        if not body.startswith(_MAGIC) or hashlib.blake2b(body, digest_size=_SUM).digest() != check:
            return None
        at = len(_MAGIC)
        (n,) = struct.unpack(">Q", body[at:at + 8])
        header = json.loads(body[at + 8:at + 8 + n])
        if header.pop("format", None) != FORMAT:
            return None
        header["ran_at"] = datetime.fromisoformat(header["ran_at"])
        header["holds_until"] = datetime.fromisoformat(header["holds_until"])
        results = zlib.decompress(body[at + 8 + n:]) if with_results else b""
        return Record(**header, results_json=results)
    except (OSError, ValueError, TypeError, KeyError, struct.error, zlib.error):
        return None


def forget(store: Any) -> None:
    path = record_path(store)
    if path is not None:
        try:
            path.unlink()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# Recording after a run


def record(store: Any, report: Any, *, jobs: list[str], options: dict[str, dict] | None, now: datetime,
           chat_env: str | None, kinds: list[str], run: dict[str, Any] | None, box: Any = None) -> bool:
    """Record ``report`` (a run that wrote nothing, or the confirming pass after a write) for the file as the
    store last saw it. Nothing is recorded when the file on disk is no longer that file (a save slipped in),
    or the result holds no longer than now. Returns whether it recorded."""
    from crm_sheets.store.safety import file_fingerprint

    path = record_path(store)
    until = horizon(report.results)
    if path is None or not enabled() or until is None or until <= now or store.fingerprint is None:
        forget(store)
        return False
    try:
        fp = file_fingerprint(store.path)
    except OSError:
        return False
    if fp.sha256 != store.fingerprint.sha256 or fp.size != store.fingerprint.size:
        forget(store)
        return False
    results = report.as_dict().get("results", [])
    out = io.StringIO()
    json.dump({"results": results}, out, indent=2, default=str)
    text = out.getvalue()
    inner = text[text.index('"results"'):text.rindex("}")].rstrip()  # '"results": [...]' at the top level's indent
    summary = []
    for r in report.results:
        counts: dict[str, int] = {}
        for f in r.findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        summary.append({"job": r.job, "counts": counts})
    errors = report.errors
    head = _head(report)
    save(path, Record(
        file={"size": fp.size, "mtime_ns": fp.mtime_ns, "sha256": fp.sha256},
        params=parameters(jobs, options, chat_env), chat_env=chat_env, ran_at=now, holds_until=until,
        outbox=box.token() if box is not None else None, kinds=sorted(kinds), head=head, summary=summary,
        errors=len(errors), run={**(run or {}), "first_errors": [f.message for f in errors[:15]]},
        results_json=inner.encode(),
    ))
    return True


def _head(report: Any) -> dict[str, Any]:
    """What --json prints besides the results, as a run that finds nothing to do prints it."""
    return {"path": report.path, "jobs": report.jobs, "notes": list(report.notes)}


# ---------------------------------------------------------------------------------------------
# Answering


def answer(store: Any, report: Any, *, jobs: list[str], options: dict[str, dict] | None, now: datetime,
           trigger: str) -> bool:
    """Fill ``report`` from the record and return True, or return False when the run must take the full path.
    Called with the writer lock held (as a run reads), so no run of ours writes meanwhile."""
    from crm_sheets.store.safety import file_fingerprint

    path = record_path(store)
    if path is None or not enabled():
        return False
    rec = load(path)
    if rec is None or rec.params != parameters(jobs, options, rec.chat_env):
        return False
    if not (rec.ran_at <= now < rec.holds_until) or store.state.pending.exists():
        return False
    try:
        if os.stat(store.path).st_size != rec.file["size"]:
            return False  # a colleague's save: a cheap no before any hashing
        fp = file_fingerprint(store.path)
    except OSError:
        return False
    if fp.sha256 != rec.file["sha256"]:
        return False  # same size, other bytes: a save (a touch that kept the bytes is no change)
    box = None
    if rec.outbox is not None:
        from crm_sheets.outbox import Outbox, outbox_path

        where = outbox_path(store)
        if not where.exists():
            return False
        box = Outbox(where)
        if box.token() != rec.outbox or ("automate" in jobs and box.due(rec.kinds)):
            return False  # other job states, a person's hand on the outbox, or an item to deliver now
    elif "automate" in jobs:
        return False
    report.settled = SettledAnswer(path, rec.ran_at, rec.holds_until, rec.summary, rec.errors, rec.run.get("first_errors", []))
    report.notes = list(rec.head.get("notes") or [])
    if "automate" in jobs and box is not None:
        report.delivery = box.waiting_report(rec.kinds)
    _log_run(store, rec, jobs, trigger, now)
    return True


def _log_run(store: Any, rec: Record, jobs: list[str], trigger: str, now: datetime) -> None:
    """The Runs history counts this run as the run it repeats counted (its result, errors, first error)."""
    from crm_sheets.runlog import RunHistory, RunRecord

    run = {k: v for k, v in rec.run.items() if k != "first_errors"}
    if not run:
        return
    run.update({"started": now.isoformat(), "ended": now.isoformat(), "trigger": trigger, "jobs": list(jobs), "changes": 0})
    try:
        RunHistory(store.path).add(RunRecord.from_dict(run))
    except Exception:
        pass  # the history is a courtesy; the answer stands


@dataclass
class SettledAnswer:
    """What a run answered from the record shows: since when nothing changed, and what that run found."""

    record: Path
    since: datetime
    holds_until: datetime
    summary: list[dict[str, Any]]
    errors: int
    first_errors: list[str]
    _results: list[Any] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(timespec="seconds"), "holds_until": self.holds_until.isoformat(timespec="seconds")}

    def results_json(self) -> str:
        """'"results": [...]' exactly as the recorded run's --json printed it."""
        rec = load(self.record, with_results=True)
        return rec.results_json.decode() if rec is not None else '"results": []'

    def results(self) -> list[Any]:
        """The recorded results as JobResults (findings and stats; no changes): loaded on first use."""
        if self._results is None:
            from crm_sheets.model.findings import Finding
            from crm_sheets.model.result import JobResult

            data = json.loads("{" + self.results_json() + "}")["results"]
            self._results = [JobResult(job=r["job"], stats=r.get("stats") or {},
                                       findings=[Finding(**f) for f in r.get("findings") or []]) for r in data]
        return self._results


# ---------------------------------------------------------------------------------------------
# After a full run


def record_run(store: Any, report: Any, tables: Any, jobs: list[str], options: dict[str, dict] | None,
               stateful: list[str], now: datetime, box: Any, runlog: Any, kinds: list[str], step: Any) -> bool:
    """Record a full run so the next one, with nothing changed, is answered from it.

    A run that wrote nothing is its own proof: the file is what it read and found nothing to do in. A run that
    wrote is recorded only once shown to be a fixed point: its jobs run again, in memory, on the file as written
    (read back from the table cache the write filled) with the states it committed, which is what the next run
    does; only when that pass changes nothing and queues nothing is it recorded, with that pass's findings (what
    the next run reports). A delivery that sent, failed or deferred anything changed the outbox: not recorded
    (the next run is full, and records)."""
    if record_path(store) is None or not enabled():
        return False
    d = report.delivery or {}
    if any(d.get(k) for k in ("sent", "failed", "unknown", "deferred", "busy")) or horizon(report.results) is None:
        forget(store)
        return False
    chat_env = str(tables.setting("chat_webhook_env", "") or "").strip() or None if tables is not None else None
    if not report.written:
        run = runlog.record.as_dict() if runlog is not None and runlog.record is not None else None
        return record(store, report, jobs=jobs, options=options, now=now, chat_env=chat_env, kinds=kinds, run=run, box=box)
    try:
        confirm = _confirm(store, report, jobs, options, stateful, now, box, step)
    except Exception:
        confirm = None  # whatever went wrong, the next run takes the full path
    if confirm is None:
        forget(store)
        return False
    from crm_sheets.runlog import record_of

    run = record_of(confirm.results, confirm.changes, jobs=jobs, trigger=runlog.trigger if runlog else "cli",
                    started=now, ended=now).as_dict()
    return record(store, confirm, jobs=jobs, options=options, now=now, chat_env=chat_env, kinds=kinds, run=run, box=box)


def _confirm(store: Any, report: Any, jobs: list[str], options: dict[str, dict] | None, stateful: list[str],
             now: datetime, box: Any, step: Any) -> Any:
    """The next run's report on the file as written, or None when that run would change or queue something."""
    from crm_sheets.runner import RunReport, _base_states, _pending_file, _state_options, run_jobs, run_notes

    step("Making sure the next run has nothing left to do")
    with store.lock():
        tables = store.read()
        if _pending_file(store) is not None:
            return None
        base = _base_states(box, store, tables, None, now)[0] if box is not None else {}
    results, changes = run_jobs(tables, jobs, now=now, options=_state_options(options, base, stateful))
    if not changes.is_empty() or any(r.effects for r in results) or horizon(results) is None:
        return None
    return RunReport(path=report.path, jobs=list(jobs), results=results, changes=changes,
                     notes=run_notes(tables, results, changes))
