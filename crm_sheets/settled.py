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
import hmac
import io
import json
import os
import pickle
import queue
import sqlite3
import struct
import sys
import threading
import zlib
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

FORMAT = 3  # 2: findings pickled as tuples of their fields; 3: in pieces of _PIECE findings, after a head
SWITCH_ENV = "CRM_SHEETS_INCREMENTAL"  # "off": every run reads the workbook and runs its jobs
_MAGIC = b"crm-sheets settled run\n"
_SUM = 32  # bytes of the BLAKE2b of everything before it, at the end of the file
_SEAL = 64  # bytes of the keyed BLAKE2b of the pickled results (before the sum)
_code: str | None = None
try:  # the deflate of the record's results (store/xlsx/deflate.py says why)
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - a declared dependency; zlib writes the same format
    _isal = None
# model.findings.Finding's fields in their order (the record keeps a finding as the tuple of these)
_FINDING_FIELDS = ("type", "severity", "table", "record_id", "field", "value", "message", "cell", "fix", "fixable")
# Findings pickled together (with one memo): a memo for the whole list grew with every text and value met (at 30k
# leads ~300,000 entries, a fifth of the pickling); no memo at all wrote and looked up a date's class by its module
# and name for every date (a future-date finding's value: ~170,000 of them at 100k leads, most of the pickling and of
# the unpickling). At 100k leads: 0.27 s to pickle, 0.7-0.9 s to load whole without a memo; 0.09 s and 0.1-0.4 s so.
_PIECE = 20_000


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "").strip().lower() not in ("0", "off", "no", "false")


def run_options(fix: bool) -> dict[str, dict]:
    """The options `crm-sheets run` gives its jobs (api.run; the command line's quick answer asks with the same)."""
    return {"check": {"fix": fix}}


def workbook_file(spec: Any) -> Path | None:
    """The workbook file ``spec`` names when open_store would open it as a file (store/xlsx), else None: a store
    URL, an excel:// book, or the path of a book a button attached (the live book, not the file)."""
    from crm_sheets.store.state import is_store_url

    text = str(spec)
    if is_store_url(text) or text.startswith("excel:") or Path(text).suffix.lower() not in (".xlsx", ".xlsm"):
        return None
    excel = sys.modules.get("crm_sheets.store.excel.store")  # books are attached in this process only
    if excel is not None and excel.attached_book(text) is not None:
        return None
    return Path(text)


def record_path(spec: Any) -> Path | None:
    """Where the record of a workbook file (a path or its XlsxStore) lives, or None for a store without a cheap
    identity (Google Sheets, a book open in Excel)."""
    from crm_sheets.store.state import StoreState

    if hasattr(spec, "read"):  # a store
        from crm_sheets.store.xlsx import XlsxStore

        if not isinstance(spec, XlsxStore):
            return None
        spec = spec.path
    path = workbook_file(spec)
    if path is None:
        return None
    state = StoreState.for_file(path)
    return state.dir / f".{state.stem}.crm-settled"


def code_fingerprint() -> str:
    """crm-sheets' own code and templates, and the versions of what decides results (once a process)."""
    global _code
    if _code is None:
        import crm_sheets

        root = Path(crm_sheets.__file__).resolve().parent
        h = hashlib.blake2b(f"{FORMAT} {crm_sheets.__version__} {sys.version}".encode(), digest_size=32)
        # The installed distributions with their versions, as their metadata folders name them (a listing, not an
        # import: importlib.metadata alone would cost more than the whole answer). Any upgrade is another code.
        for folder in sorted({p for p in sys.path if p.endswith("-packages") and os.path.isdir(p)}):
            h.update(" ".join(sorted(n for n in os.listdir(folder) if n.endswith((".dist-info", ".egg-info")))).encode())
        # Each file by its identity, not its bytes (reading them all cost more than the rest of the answer): any
        # write to a file moves its ctime, which no tool sets back (a copy that keeps mtimes gets new ones).
        files: list[tuple[str, os.stat_result]] = []
        _code_files(str(root), ("py", "yaml"), True, files)
        _code_files(str(root.parent / "workbook_templates"), ("yaml",), False, files)
        for name, st in sorted(files, key=lambda f: f[0]):
            h.update(f"{os.path.relpath(name, root.parent)}\0{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}\n".encode())
        _code = h.hexdigest()
    return _code


def _code_files(folder: str, suffixes: tuple[str, ...], deep: bool, out: list) -> None:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        if e.is_dir() and deep:
            _code_files(e.path, suffixes, deep, out)
        elif e.name.rpartition(".")[2] in suffixes and e.is_file():
            out.append((e.path, e.stat()))


def parameters(jobs: list[str] | None, options: dict[str, dict] | None, chat_env: str | None) -> str:
    """A digest of everything besides the workbook that decides what a run does: the jobs and options as the
    caller gave them (None: every job; the code's fingerprint covers what the defaults are), the variables
    that change results, and the code."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith("CRM_SHEETS_") or k in ("TZ", "LANG", "LC_ALL", "LC_TIME", "LC_NUMERIC")}
    if chat_env:
        env["chat:" + chat_env] = os.environ.get(chat_env, "")
    env.pop(SWITCH_ENV, None)
    text = json.dumps({"jobs": list(jobs) if jobs else None, "options": options or {}, "env": env,
                       "code": code_fingerprint()}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=32).hexdigest()


def horizon(results: list[Any]) -> datetime | None:
    """Until when the run's result holds: the earliest of its jobs' (None when a job does not say)."""
    until = [getattr(r, "holds_until", None) for r in results]
    return None if not until or any(u is None for u in until) else min(until)


def recordable(store: Any, results: list[Any], now: datetime) -> tuple[Path, datetime] | None:
    """(where the record goes, until when it holds) when a run of ``store`` with ``results`` can be recorded as of
    ``now``: a workbook file the store has a fingerprint of, and a result that holds past now; else None. record()
    decides by it, and the runner by it whether to make the results' text early (for the record)."""
    path = record_path(store)
    until = horizon(results)
    if path is None or until is None or until <= now or store.fingerprint is None:
        return None
    return path, until


# ---------------------------------------------------------------------------------------------
# The outbox, as the record sees it (read only; its tables are crm_sheets.outbox's)


def outbox_token(path: Path) -> Any:
    """What changes whenever the job states or the outbox's items do (a commit, a delivery, a person's confirm
    or cancel): the latest committed generation, the legacy states, and the items per status and tries with
    their latest update. None when there is no outbox file."""
    if not path.exists():
        return None
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        db.execute("BEGIN")  # one snapshot
        try:
            have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            top = db.execute("SELECT id, committed, saved_at FROM generations WHERE committed IS NOT NULL"
                             " ORDER BY committed DESC LIMIT 1").fetchone() if "generations" in have else None
            legacy = db.execute("SELECT COUNT(*), MAX(updated_at) FROM state").fetchone() if "state" in have else None
            items = db.execute("SELECT status, attempts, COUNT(*), MAX(updated_at) FROM items GROUP BY status, attempts"
                               " ORDER BY status, attempts").fetchall() if "items" in have else None
        finally:
            db.execute("COMMIT")
    return json.loads(json.dumps([top, legacy, items]))  # as it reads back from a record


def outbox_due(path: Path, kinds: list[str], max_attempts: int) -> bool:
    """Whether a delivery with channels ``kinds`` would do anything now: an item queued, or failed with tries
    left, whose kind has a channel, or an item left `sending` (to settle). Lookups on the items' index."""
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        if db.execute("SELECT 1 FROM items WHERE status = 'sending' LIMIT 1").fetchone():
            return True
        if not kinds:
            return False
        marks = ", ".join("?" * len(kinds))
        return db.execute(f"SELECT 1 FROM items WHERE status IN ('queued', 'failed') AND kind IN ({marks})"
                          " AND attempts < ? LIMIT 1", (*kinds, max_attempts)).fetchone() is not None


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
    max_attempts: int  # tries of an item (crm_sheets.model.effects.MAX_ATTEMPTS), for the due lookup
    head: dict[str, Any]  # the report's as_dict() without its results
    summary: list[dict[str, Any]]  # per job: job and its findings' counts by severity
    errors: int
    first_errors: list[str]
    run: dict[str, Any]  # the Runs history record of the run
    results_json: bytes = field(default=b"", repr=False)  # '"results": [...]' as --json gives it (one line)
    # (job, stats, number of findings, data) per job, then the findings in pieces (_PIECE), pickled, compressed
    results_pickle: bytes = field(default=b"", repr=False)
    results_seal: bytes = field(default=b"", repr=False)  # its keyed BLAKE2b with this user's key (see _seal)
    results_packed: bytes = field(default=b"", repr=False)  # results_json compressed already (save writes it)


def save(path: Path, record: Record) -> None:
    """Write the record atomically (a reader sees the old one or the new one, never half)."""
    header = {k: v for k, v in record.__dict__.items() if not k.startswith("results_")}
    header["ran_at"], header["holds_until"] = record.ran_at.isoformat(), record.holds_until.isoformat()
    head = json.dumps({"format": FORMAT, **header}, default=str).encode()
    text = record.results_packed or _deflated(record.results_json)
    body = (_MAGIC + struct.pack(">QQQ", len(head), len(text), len(record.results_pickle)) + head + text
            + record.results_pickle + record.results_seal)
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
        at = len(_MAGIC) + 24
        n, t, p = struct.unpack(">QQQ", body[len(_MAGIC):at])
        header = json.loads(body[at:at + n])
        if header.pop("format", None) != FORMAT or len(body) != at + n + t + p + _SEAL:
            return None
        header["ran_at"] = datetime.fromisoformat(header["ran_at"])
        header["holds_until"] = datetime.fromisoformat(header["holds_until"])
        if not with_results:
            return Record(**header)
        at += n
        return Record(**header, results_json=zlib.decompress(body[at:at + t]), results_pickle=body[at + t:at + t + p],
                      results_seal=body[at + t + p:])
    except (OSError, ValueError, TypeError, KeyError, struct.error, zlib.error):
        return None


# ---------------------------------------------------------------------------------------------
# Recording after a run


def record(store: Any, report: Any, *, jobs: list[str] | None, options: dict[str, dict] | None, now: datetime,
           chat_env: str | None, kinds: list[str], run: dict[str, Any] | None, keep_text: bool = True) -> bool:
    """Record ``report`` (a run that wrote nothing, or the confirming pass after a write) for the file as the
    store last saw it. Nothing is recorded when the file on disk is no longer that file (a save slipped in),
    or the result holds no longer than now. Returns whether it recorded. ``keep_text``: the report keeps its
    results' JSON text for --json to print (the run's own report); the confirming pass's is never printed, so its
    text is encoded and compressed in pieces, never whole."""
    from crm_sheets.model.effects import MAX_ATTEMPTS
    from crm_sheets.spill import finding_rows
    from crm_sheets.store.safety import file_fingerprint
    from crm_sheets.store.state import StoreState

    where = recordable(store, report.results, now)
    if where is None:
        forget(store)
        return False
    path, until = where
    try:
        # The file as the store last saw it (same size and mtime) is not hashed again: the record is of the bytes
        # the store hashed, and an answer hashes the file on disk before it trusts the record.
        st = os.stat(store.path)
        fp = store.fingerprint
        if (st.st_size, st.st_mtime_ns) != (fp.size, fp.mtime_ns):
            fp = file_fingerprint(store.path)
    except OSError:
        return False
    if fp.sha256 != store.fingerprint.sha256 or fp.size != store.fingerprint.size:
        forget(store)
        return False
    shown = report.as_dict(results=False)
    # '"results": [...]' as --json gives it, in one line (the C encoder makes it ten times faster than indented),
    # compressed piece by piece: at 100k leads it is ~100 MB of text, held whole once as text and again as bytes.
    # Compressed in a thread while this one pickles the findings below.
    text_sink = _packed_results_json(report, keep_text)
    try:
        # findings as tuples of their fields: those put back from the spill's file as they are (never made objects),
        # else taken in C (pickling a slotted dataclass calls Python per finding)
        rows = [finding_rows(r) for r in report.results]
        # each job's findings counted by severity in C, in the order a severity first appears (as a dict filled a
        # finding at a time has them: the record's header is the same text)
        summary = [{"job": r.job, "counts": dict(Counter(map(itemgetter(1), found)))} for r, found in zip(report.results, rows)]
        errors = report.errors
        sink = _Deflating()  # pickled straight into the compressor: the pickle is never whole in memory
        pickle.dump([(r.job, r.stats, len(found), r.data) for r, found in zip(report.results, rows)], sink, protocol=5)
        for found in rows:
            for lo in range(0, len(found), _PIECE):
                pickle.dump(found[lo:lo + _PIECE], sink, protocol=5)
        rows = None
        kept = sink.close()
        packed = text_sink.close()
    finally:
        text_sink.stop()
    save(path, Record(
        file={"size": fp.size, "mtime_ns": fp.mtime_ns, "sha256": fp.sha256},
        params=parameters(jobs, options, chat_env), chat_env=chat_env, ran_at=now, holds_until=until,
        outbox=outbox_token(StoreState.for_file(store.path).outbox), kinds=sorted(kinds), max_attempts=MAX_ATTEMPTS,
        head=shown, summary=summary, errors=len(errors),
        first_errors=[f.message for f in errors[:15]], run=run or {}, results_packed=packed,
        results_pickle=kept, results_seal=_seal(kept),
    ))
    return True


class _Deflating:
    """A file to write into that keeps only the compressed bytes: a zlib stream at level 1, made by ISA-L when it is
    installed (the same format, which zlib.decompress reads, 5x faster: 0.04 s less at 30k leads). ``behind``: the
    pieces are compressed in a thread (the compressor lets other threads run) while the writer makes the next ones;
    close() waits for it, so the bytes are those compressing in the writer's thread gives."""

    def __init__(self, behind: bool = False) -> None:
        self._z = _isal.compressobj(1) if _isal is not None else zlib.compressobj(1)
        self._out: list[bytes] = []
        self._todo: queue.Queue | None = None
        self._error: BaseException | None = None
        if behind:
            self._todo = queue.Queue(maxsize=4)  # pieces waiting, at most (a piece of text is 1 MB)
            self._thread = threading.Thread(target=self._work, name="crm-sheets record", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while (data := self._todo.get()) is not None:
            try:
                if self._error is None:
                    self._out.append(self._z.compress(data))
            except BaseException as exc:  # raised again by close()
                self._error = exc

    def write(self, data: Any) -> int:
        if self._todo is None:
            self._out.append(self._z.compress(data))
        else:
            self._todo.put(bytes(data))  # (a piece of its own: the writer may reuse its buffer)
        return len(data)

    def close(self) -> bytes:
        self.stop()
        if self._error is not None:
            raise self._error
        self._out.append(self._z.flush())
        return b"".join(self._out)

    def stop(self) -> None:
        """The thread, if any, done with what was written (for a writer that gives up, too)."""
        if self._todo is not None:
            self._todo.put(None)
            self._thread.join()
            self._todo = None


def _deflated(data: bytes) -> bytes:
    sink = _Deflating()
    sink.write(data)
    return sink.close()


def _packed_results_json(report: Any, keep_text: bool) -> _Deflating:
    """The results' --json text ('"results": [...]'), being compressed in a thread (close() gives the bytes): from
    the report's text when it keeps one for --json, else encoded piece by piece (run_report.results_json_chunks)
    and never whole."""
    sink = _Deflating(behind=True)
    try:
        text = report.__dict__.get("_results_json")
        if text is None and keep_text and callable(getattr(report, "results_json", None)):
            text = report.results_json()
        if text is not None:
            for lo in range(0, len(text), 1 << 20):
                sink.write(text[lo:lo + (1 << 20)].encode())
        else:
            from crm_sheets.run_report import results_json_chunks

            for chunk in results_json_chunks(report.results):
                sink.write(chunk.encode())
    except BaseException:
        sink.stop()
        raise
    return sink


def _seal(data: bytes) -> bytes:
    """The pickled results are trusted only when sealed with this user's key (the table cache's, kept in their
    own state folder): nobody who can only write the workbook's folder can plant a pickle."""
    from crm_sheets.store.core.cache import cache_key

    return hmac.new(cache_key(), data, hashlib.blake2b).digest()


def forget(store: Any) -> None:
    path = record_path(store)
    if path is not None:
        try:
            path.unlink()
        except OSError:
            pass


def record_run(store: Any, report: Any, tables: Any, jobs: list[str] | None, options: dict[str, dict] | None,
               stateful: list[str], now: datetime, box: Any, runlog: Any, kinds: list[str], step: Any,
               fill_cache: Any = None) -> bool:
    """Record a full run so the next one, with nothing changed, is answered from it.

    A run that wrote nothing is its own proof: the file is what it read and found nothing to do in. A run that
    wrote is recorded only once shown to be a fixed point: its jobs run again on the file as written (the tables
    the cache's fill made from the run's own, or read back from the cache) with the states it committed, which is
    what the next run does; only when that pass changes and queues nothing is it recorded, with that pass's
    findings (what the next run reports). A delivery that sent, failed or deferred anything changed the outbox: not recorded (the next run
    takes the full path, and records).

    ``fill_cache``: fills the table cache after the run (XlsxStore.remember_tables), made first, whatever is
    recorded; it gives the Tables of the file as written when it made them from the run's own."""
    written_tables = fill_cache() if fill_cache is not None else None
    if fill_cache is not None:
        from crm_sheets.heap import trim

        trim()  # the fill's scratch (the cache file's pickled tables) goes back before the confirming pass's check
    if record_path(store) is None:  # recorded also when answers are off: the record is always of the latest run
        return False
    d = report.delivery or {}
    if any(d.get(k) for k in ("sent", "failed", "unknown", "deferred", "busy")) or horizon(report.results) is None:
        forget(store)
        return False
    chat_env = (str(tables.setting("chat_webhook_env", "") or "").strip() or None) if tables is not None else None
    if not report.written:
        run = runlog.record.as_dict() if runlog is not None and runlog.record is not None else None
        from crm_sheets.heap import collector_paused

        # its texts and tuples (a finding's fields, ~50,000 findings at 30k leads) form no cycles: a collection would
        # walk the run's heap for nothing (0.11 s at 30k)
        with collector_paused():
            return record(store, report, jobs=jobs, options=options, now=now, chat_env=chat_env, kinds=kinds, run=run)
    try:
        confirm = _confirm(store, report, options, stateful, now, box, step, written_tables)
    except Exception:
        confirm = None  # whatever went wrong, the next run takes the full path (and records)
    written_tables = None  # the tables as written (the Audit Log's new rows among them) go before the record is made
    if confirm is None:
        forget(store)
        return False
    from crm_sheets.runlog import record_of

    run = record_of(confirm.results, confirm.changes, jobs=confirm.jobs, trigger=runlog.trigger if runlog else "cli",
                    started=now, ended=now).as_dict()
    return record(store, confirm, jobs=jobs, options=options, now=now, chat_env=chat_env, kinds=kinds, run=run,
                  keep_text=False)


def _confirm(store: Any, report: Any, given: dict[str, dict] | None, stateful: list[str], now: datetime, box: Any,
             step: Any, written: Any = None) -> Any:
    """The next run's report on the file as written, or None when that run would change or queue something.
    ``written``: the Tables of the file as written, made by the table cache's fill (XlsxStore.remember_tables)
    from the run's own; without them the file is read (from the cache)."""
    from crm_sheets.runner import (RunReport, dry_run_options, found_states, pending_of, state_options, run_jobs,
                                   run_notes)
    from crm_sheets.spill import Aside, worth_it

    with store.lock():
        step("Making sure the next run finds nothing left to do")
        if written is not None and _still_ours(store):
            tables = _own_copy(written)
            _leave_logs_out(written, tables)
        else:
            tables = store.read()
        if pending_of(store) is not None:
            return None
        # The generation whose states the pass starts from, found now (under the lock, as a run finds it); each job's
        # state is read only when that job runs (below): at 100k leads dedupe's and automate's (~25 MB) sat idle
        # under check's working set. States of an older crm-sheets (no generation) are read at once.
        found = found_states(box, store, tables, now, only=()) if box is not None else None
        if found is not None and found.generation is None:
            found = found_states(box, store, tables, now)
    options = state_options(dry_run_options(given, False, report.jobs), found.states if found is not None else {},
                            stateful)
    later = {name for name in stateful if "state" not in (given or {}).get(name, {})} \
        if found is not None and found.generation is not None else set()

    def before(name: str) -> None:  # the job's state, read from the generation found above as the job starts
        if name in later:
            later.discard(name)
            now_found = box.job_states(found.generation, only=(name,))
            if now_found.generation != found.generation:
                raise _Unsettled  # (pruned meanwhile by another run: the next run takes the full path)
            options[name]["state"] = now_found.states.get(name)
    aside = Aside()
    learnt: dict[str, Any] | None = None  # check's row memory keyed by the tables' read keys, when it learnt them
    parts: dict[str, Any] = {}  # report's and dedupe's digests of the tables they read, by the same keys

    def look(result: Any) -> None:
        nonlocal learnt, parts
        # A job that changes or queues anything, or whose result holds for no known time, makes the pass answer
        # None whatever the jobs after it find: it stops there, before its changes touch the tables. A job that
        # changes nothing has its findings set aside (a file) while the next one runs.
        if not result.changes.is_empty() or result.effects or result.holds_until is None:
            raise _Unsettled
        # The pass returns findings, stats and data (what the record keeps), never states: the job's state, the one
        # it was given and the one it returns, goes before the next job runs (check's holds its row memories, every
        # finding as JSON lists; at 100k leads ~100 MB under dedupe, automate and report). A later round or look,
        # which would read them, follows only a change, which ends the pass above.
        if result.job == "check":
            learnt = _learnt(result.state, options.get("check", {}).get("state"))
        if result.job in ("report", "dedupe") and isinstance(result.state, dict) and result.state.get("parts"):
            parts[result.job] = result.state["parts"]  # the digests of the tables as written, by their read's keys
        result.state = {}
        options.get(result.job, {}).pop("state", None)
        if worth_it([result], share=3):
            aside.findings_of([result])

    try:
        results, changes = run_jobs(tables, report.jobs, now=now, options=options, on_result=look, before=before)
    except _Unsettled:
        return None
    finally:
        aside.put_back()
    if not changes.is_empty() or any(r.effects for r in results) or horizon(results) is None:
        return None
    generation = tables.meta.get("generation")
    if (learnt is not None or parts) and box is not None and isinstance(generation, str) and generation:
        try:  # the next run's check takes the tables it reads with these keys as these rows, without keying them
            if learnt:
                box.set_state_part(generation, "check", "rows", learnt)
            for job, got in parts.items():
                box.set_state_part(generation, job, "parts", got)
        except Exception:
            pass  # a memory only: the next run keys the rows
    return RunReport(path=report.path, jobs=list(report.jobs), results=results, changes=changes,
                     notes=run_notes(tables, results, changes), delivery=report.delivery)


def _learnt(state: Any, given: Any) -> dict[str, Any] | None:
    """Check's row memory from the confirming pass's check (``state``, its result's state; ``given``, the state it
    started from) when it learnt something: the read's keys of the tables as written (model/memo.py stamp: the
    table cache's fill gives them, and so does a read) beside the rows remembered, as the state keeps them (one
    packed string per table). None when it kept the memory given as it was."""
    rows = state.get("rows") if isinstance(state, dict) else None
    was = given.get("rows") if isinstance(given, dict) else None
    if not isinstance(rows, dict) or rows is was or not isinstance(rows.get("tables"), dict):
        return None
    tables = rows["tables"]
    if not any(isinstance(t, dict) and t.get("token") for t in tables.values()):
        return None
    return {"version": rows.get("version"), "tables": {name: dict(t) for name, t in tables.items()}}


class _Unsettled(Exception):
    """A job of the confirming pass changed or queued something: the next run would not find the file settled."""


def _still_ours(store: Any) -> bool:
    """Whether the file on disk is the one the store last wrote (what the tables as written describe)."""
    from crm_sheets.store.safety import file_fingerprint

    try:
        return store.fingerprint is not None and store.fingerprint.same_content(file_fingerprint(store.path))
    except (OSError, AttributeError):
        return False


class _LogNotKept(Exception):
    """A job of the confirming pass asked for the cells of a log table, which the pass does not keep."""


def _leave_logs_out(written: Any, tables: Any) -> None:
    """The log tables (the Audit Log) of the file as written, let go before the confirming pass runs: its jobs only
    append to them, and a pass that appends stops before (_confirm), so none reads their cells. Written by a first
    run at 100k leads, the Audit Log holds ~190,000 new rows (~60 MB) that only the cache's fill needed. Should a
    job ask for one all the same, the pass ends answering None (the next run takes the full path)."""
    from crm_sheets.model.lazy import LazyTable

    def not_kept() -> Any:
        raise _LogNotKept("the confirming pass does not keep the log tables")

    for name, t in list(tables.tables.items()):
        if t.schema.kind == "log":
            lazy = LazyTable(schema=t.schema, sheet=t.sheet, loader=not_kept)
            tables.tables[name] = lazy
            written.tables[name] = lazy  # (the Tables the fill made: nothing else holds the table as written)


def _own_copy(tables: Any) -> Any:
    """The tables as objects and frames of their own (their data and row mappings shared): the run's report keeps
    the run's tables (many of them the same objects) unchanged. The confirming pass stops before a change set
    that changes anything is applied (_confirm), so its mappings (a row per record: ~740,000 entries at 100k
    leads) are never written to and need no copies."""
    from copy import copy
    from dataclasses import replace

    from crm_sheets.model.lazy import is_unread
    from crm_sheets.model.memo import carry_stamp

    own = {}
    for name, t in tables.tables.items():
        c = copy(t)
        if not is_unread(t):  # (a table nothing read yet, the Audit Log, stays so: its copy reads it if asked)
            c.df = t.df.copy(deep=False)
            carry_stamp(t, c)  # the key the next read gives the table: check learns it (model/memo.py)
        own[name] = c
    return replace(tables, tables=own, meta=dict(tables.meta), lists=dict(tables.lists), settings=dict(tables.settings),
                   notes=list(tables.notes), read_findings=list(tables.read_findings))


# ---------------------------------------------------------------------------------------------
# Answering


def answer(spec: Any, jobs: list[str] | None, options: dict[str, dict] | None, now: datetime, *, trigger: str = "cli",
           lock_timeout: float | None = None, locked: bool = False, shown: str | None = None) -> "SettledReport | None":
    """The report of a run answered from the record of an earlier one, or None when the run must take the full
    path. Takes the writer lock as a run does (``locked``: the caller holds it), so it never races a run of
    ours; a colleague's save (other size, other bytes) is seen under it. Loads no pandas and no job."""
    from crm_sheets.store.safety import WriterLock, file_fingerprint
    from crm_sheets.store.state import StoreState

    path = record_path(spec)
    if path is None or not enabled():
        return None
    rec = load(path)
    if rec is None or rec.params != parameters(jobs, options, rec.chat_env) or not (rec.ran_at <= now < rec.holds_until):
        return None
    book = workbook_file(spec)
    state = StoreState.for_file(book)
    if state.pending.exists():
        return None
    lock = None if locked else WriterLock(book, timeout=lock_timeout).acquire()
    try:
        try:
            if os.stat(book).st_size != rec.file["size"]:
                return None  # a colleague's save: a cheap no before any hashing
            if file_fingerprint(book).sha256 != rec.file["sha256"]:
                return None  # same size, other bytes (a touch that kept the bytes is no change)
        except OSError:
            return None
        if outbox_token(state.outbox) != rec.outbox:
            return None  # other job states (a run of other jobs), or a person's hand on the outbox
        jobs_run = rec.head.get("jobs") or []
        if "automate" in jobs_run and outbox_due(state.outbox, rec.kinds, rec.max_attempts):
            return None  # an item to deliver (or to settle) now: the full path delivers it
        report = SettledReport(shown or str(spec), rec, path, now)
        _log_run(book, rec, trigger, now)
        return report
    finally:
        if lock is not None:
            lock.release()


def answer_run(store: Any, given: tuple, now: datetime, trigger: str, shown: str) -> "SettledReport | None":
    """For runner.run, holding the store's lock: the answer from the record for a workbook file, or None."""
    if record_path(store) is None:
        return None
    return answer(store.path, *given, now, trigger=trigger, locked=True, shown=shown)


def _log_run(book: Path, rec: Record, trigger: str, now: datetime) -> None:
    """The Runs history counts this run as the run it repeats counted (its result, errors, first error)."""
    from crm_sheets.runlog import RunHistory, RunRecord

    if not rec.run:
        return
    run = {**rec.run, "started": now.isoformat(), "ended": now.isoformat(), "trigger": trigger, "changes": 0}
    try:
        RunHistory(book).add(RunRecord.from_dict(run))
    except Exception:
        pass  # the history is a courtesy; the answer stands


class SettledReport:
    """What `runner.run` returns (a RunReport's fields and methods) for a run answered from a record: nothing
    written, the recorded run's findings (loaded on first use), notes and delivery, and since when."""

    written = dry_run = pending_applied = False
    backup = tables = None
    attempts = 1

    def __init__(self, path: str, rec: Record, record_file: Path, now: datetime):
        self.path, self.rec, self.record_file, self.now = path, rec, record_file, now
        self.jobs = list(rec.head.get("jobs") or [])
        self.notes = list(rec.head.get("notes") or [])
        self.delivery = rec.head.get("delivery")
        self.since, self.holds_until, self.summary = rec.ran_at, rec.holds_until, rec.summary
        self.error_count, self.first_errors = rec.errors, rec.first_errors
        self._results: list[Any] | None = None

    @property
    def settled(self) -> "SettledReport":
        return self

    @property
    def changes(self) -> Any:
        from crm_sheets.model.changeset import ChangeSet

        return ChangeSet()

    def results_json(self) -> str:
        """'"results": [...]' exactly as the recorded run's --json printed it."""
        rec = load(self.record_file, with_results=True)
        return rec.results_json.decode() if rec is not None else '"results": []'

    @property
    def results(self) -> list[Any]:
        """The recorded results as JobResults (findings, stats and data as the run had them; no changes). A
        record whose pickled part is not sealed with this user's key gives its findings as --json printed them."""
        if self._results is None:
            from crm_sheets.model.findings import Finding
            from crm_sheets.model.result import JobResult

            rec = load(self.record_file, with_results=True)
            if rec is not None and rec.results_pickle and hmac.compare_digest(_seal(rec.results_pickle), rec.results_seal):
                kept = io.BytesIO(zlib.decompress(rec.results_pickle))
                self._results = []
                for job, stats, n, data in pickle.load(kept):
                    found: list = []
                    while len(found) < n:
                        found += pickle.load(kept)
                    self._results.append(JobResult(job=job, stats=stats, findings=[Finding(*f) for f in found],
                                                   data=self._as_of_now(data)))
            else:
                data = json.loads("{" + (rec.results_json.decode() if rec else '"results": []') + "}")["results"]
                self._results = [JobResult(job=r["job"], stats=r.get("stats") or {},
                                           findings=[Finding(**f) for f in r.get("findings") or []]) for r in data]
        return self._results

    def _as_of_now(self, data: Any) -> Any:
        """A job's figures as of this run: the same figures (nothing changed, and they hold until holds_until),
        stamped with this run's time where they carry one (report's ``now``)."""
        import dataclasses

        if dataclasses.is_dataclass(data) and not isinstance(data, type) and any(f.name == "now" for f in dataclasses.fields(data)):
            return dataclasses.replace(data, now=self.now)
        return data

    @property
    def findings(self) -> list[Any]:
        return [f for r in self.results for f in r.findings]

    @property
    def errors(self) -> list[Any]:
        return [f for f in self.findings if f.severity == "error"]

    def as_dict(self, results: bool = True) -> dict[str, Any]:
        out = {**self.rec.head, "path": self.path, "settled": {
            "since": self.since.isoformat(timespec="seconds"), "holds_until": self.holds_until.isoformat(timespec="seconds")}}
        if results:
            out["results"] = json.loads("{" + self.results_json() + "}")["results"]
        return out
