"""ExcelLiveStore: a workbook open in Excel as a Store (``excel://FULLNAME``), through xlwings.

Reads each sheet in one call (grids.py) into Tables through the store core; writes the core's Plan into the
open book (write.py) with screen updating and automatic calculation paused, and restored whatever happens.
The file underneath is never touched: the person saves the book. One writer per book (an OS lock beside the
workbook's file, or in the state directory for a book never saved, plus an in-process lock keyed by identity).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from crm_sheets.errors import CrmSheetsError, UsageError, WorkbookBusy, WorkbookChanged
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.tables import Tables, column_index as _col_index
from crm_sheets.store.base import ApplyResult
from crm_sheets.store.core.grid import ContentFingerprint
from crm_sheets.store.core.keeper import KeptState, PendingKeeper, StoreLock, describe_changes
from crm_sheets.store.core.layout import WorkbookLayout
from crm_sheets.store.safety import WriterLock
from crm_sheets.store.state import StoreState

SCHEME = "excel://"
INSTALL_HINT = "pip install 'crm-sheets[excel]' (xlwings), and press the button in Excel"

_attached: dict[str, Any] = {}  # folded full name -> the book a button handed over (crm_sheets.excel.refresh)
_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()


def _key(fullname: str | os.PathLike) -> str:
    return os.path.normcase(os.path.abspath(str(fullname))) if os.path.isabs(str(fullname)) else str(fullname).casefold()


@contextlib.contextmanager
def attached(book: Any) -> Iterator[str]:
    """While inside, ``open_store`` of the book's full name (or ``excel://`` + it) is the live book, not its
    file: how a button's run reads and writes the open workbook while keeping the run's state files beside it."""
    key = _key(book.fullname)
    before = _attached.get(key)
    _attached[key] = book
    try:
        yield SCHEME + str(book.fullname)
    finally:
        if before is None:
            _attached.pop(key, None)
        else:
            _attached[key] = before


def attached_book(spec: str | os.PathLike) -> Any:
    """The live book attached for this path or ``excel://`` spec, or None."""
    text = str(spec)
    if text.startswith(SCHEME):
        text = text[len(SCHEME):]
    return _attached.get(_key(text)) if _attached else None


def file_of(spec: str | os.PathLike) -> str:
    """The workbook file an ``excel://`` spec names ("" for the calling book), also after pathlib folded its
    slashes: excel://C:/crm.xlsm -> C:/crm.xlsm, excel:///home/ana/crm.xlsm -> /home/ana/crm.xlsm."""
    text = str(spec)
    if not text.startswith("excel:"):
        return text
    rest = text[len("excel:"):].replace("\\", "/")
    bare = rest.lstrip("/")
    if re.match(r"^[A-Za-z]:/", bare) or not bare:
        return bare
    return "/" + bare if rest.startswith("///") or (rest.startswith("/") and not rest.startswith("//")) else bare


def open_live_store(spec: str | os.PathLike, **options: Any) -> "ExcelLiveStore":
    """``excel://FULLNAME``: the attached book of that name, else the one open in a running Excel."""
    name = file_of(spec)
    book = attached_book(name)
    if book is None:
        book = _find_open_book(name)
    return ExcelLiveStore(book, **options)


def _find_open_book(name: str) -> Any:
    try:
        import xlwings as xw
    except ImportError:
        raise UsageError("the excel:// store needs xlwings", hint=INSTALL_HINT) from None
    if not name:
        try:
            return xw.Book.caller()
        except Exception:
            raise UsageError("excel://: no workbook called crm-sheets", hint="press a button in the workbook, or "
                             "name an open workbook: excel://C:/path/crm.xlsm") from None
    try:
        for app in xw.apps:
            for book in app.books:
                if _key(book.fullname) == _key(name) or str(book.name).casefold() == Path(name).name.casefold():
                    return book
    except Exception:  # no Excel on this machine (Linux), or it does not answer
        pass
    raise UsageError(f"{SCHEME}{name}: no open Excel workbook of that name",
                     hint="open it in Excel first, or give its path (crm-sheets run crm.xlsm) to work on the file")


class ExcelLiveStore(KeptState):
    """An open xlwings Book as a Store: ``read()`` -> Tables, ``apply(changeset, tables)`` -> ApplyResult."""

    def __init__(self, book: Any, *, schema: Any = None, lock_timeout: float | None = None,
                 backups: int | None = None, **_ignored: Any):
        self.book = book
        self.identity = "excel:" + str(book.fullname)
        self.name = str(book.name)
        self.schema = schema
        self.backups = backups  # no backups: the file underneath is untouched until the person saves
        with _locks_guard:  # one writer per book in this process (other processes: the OS writer lock)
            local = _locks.setdefault(self.identity, threading.RLock())
        self._lock = StoreLock(lambda: WriterLock(self.state, timeout=lock_timeout), local=local, timeout=lock_timeout,
                               busy=lambda: WorkbookBusy(f"{self.book.name}: another crm-sheets run in this Excel is writing it",
                                                         hint="wait for it to finish and press the button again"))
        self._pending = PendingKeeper(lambda: self.state)  # beside the file once the book is saved under a name
        self._read: dict[str, list[list[Any]]] = {}
        self._tables: Tables | None = None
        self.fingerprint: ContentFingerprint | None = None
        self.last_write: dict[str, Any] = {}  # reads and writes per sheet of the last apply, for tests and benchmarks
        self.read_calls = 0

    def __repr__(self) -> str:
        return f"ExcelLiveStore({self.identity!r})"

    @property
    def path(self) -> Path:
        """The workbook's file when it has been saved, else a stand-in in the store's state folder."""
        full = Path(str(self.book.fullname))
        if full.is_absolute() and full.parent.is_dir():
            return full
        return self.state.dir / self.state.stem

    @property
    def state(self) -> StoreState:
        """Pending change set, outbox, job states, Runs history and writer lock: beside the workbook's file, under
        the names a file run uses (a button's run and a scheduled run of the file share them); a book never saved
        keeps them in its own folder of the state directory."""
        full = Path(str(self.book.fullname))
        if full.is_absolute() and full.parent.is_dir():
            return StoreState(self.identity, full.parent, full.name)
        return StoreState.for_remote(self.identity)


    def describe(self) -> str:
        return f"{self.name} (open in Excel)"

    def open_by(self) -> str | None:
        """Nobody keeps a write out: this store writes into the open book itself."""
        return None

    def layout(self, tables: Tables, only: Iterable[str] | None = None) -> WorkbookLayout:
        """Where the tables sit in the open book (ListObjects, headers) and which columns right of them hold
        anything; read from the book, one call per sheet."""
        from crm_sheets.store.core.layout import TableLayout
        from crm_sheets.store.excel.grids import read_block

        sheets = {s.name: s for s in self.book.sheets}
        try:
            names = frozenset(str(n.name) for n in self.book.names if "!" not in str(n.name))
        except Exception:
            names = frozenset()
        out = {}
        wanted = set(tables.tables if only is None else only)
        for name, t in tables.tables.items():
            if name not in wanted or t.sheet not in sheets:
                continue
            sheet = sheets[t.sheet]
            cols = [_col_index(c) for c in t.columns.values()]
            lo = next((x for x in _list_objects(sheet) if x.name == t.schema.excel_name), None)
            if lo is not None:
                rng = lo.range
                header, first, end = rng.row, rng.column - 1, rng.row + rng.shape[0] - 1
                last = first + rng.shape[1] - 1
            else:
                header = t.header_row or 1
                first, last = min(cols, default=0), max(cols, default=0)
                end = max([header + 1, *t.rows.values()])
            r0, c0, values = read_block(sheet)
            used = {c0 + j for row in values for j, v in enumerate(row) if v not in (None, "") and c0 + j > last}
            out[name] = TableLayout(t.sheet, header, first, last, end, lo is not None, frozenset(used), None)
        return WorkbookLayout(tuple(sheets), names, out)

    # -- reading --------------------------------------------------------------------------------

    def read(self) -> Tables:
        """The book's tables, one call per sheet read; remembers the values for ``apply``'s change check."""
        from crm_sheets.store.core.read import read_tables
        from crm_sheets.store.excel.grids import XlwingsGrids

        grids = XlwingsGrids(self.book, source=self.identity)
        tables = read_tables(grids, self.schema)
        self._read, self._tables = grids.raw, tables
        self.read_calls = grids.calls
        digest = hashlib.sha256()
        for sheet in sorted(grids.raw):
            digest.update(repr((sheet, grids.raw[sheet])).encode("utf-8", "surrogatepass"))
        self.fingerprint = ContentFingerprint(digest.hexdigest())
        return tables

    # -- writing --------------------------------------------------------------------------------

    def apply(self, changeset: ChangeSet, tables: Tables | None = None, *, before_replace: Callable | None = None,
              states: Mapping[str, Any] | None = None, rider: ChangeSet | None = None) -> ApplyResult:
        """Write the change set into the open book.

        Every record it changes, archives or numbers is found again by ID in a fresh read of its sheet; one a
        person edited since ``read`` stops the write before anything is written (WorkbookChanged: read again and
        re-run). Screen updating and automatic calculation are off during the write and restored after, also
        when it fails. A failure before the first write keeps the change set pending for the next run.
        """
        from crm_sheets.store.core.plan import make_plan
        from crm_sheets.store.excel.write import LiveWrite

        name = self.identity
        if changeset.is_empty():
            return ApplyResult(False, pending=self._pending.exists(), message=f"nothing to write to {name}")
        if self._tables is None:
            raise RuntimeError("ExcelLiveStore.apply() needs a read() first: it writes only over what it read")
        tables = tables if tables is not None else self._tables
        if rider is not None and not self._changes_anything(changeset, tables):
            # Owned sheets that show what they show already, keys as they are: nothing is written, not even the
            # rider (the Runs sheet), as the file store does.
            return ApplyResult(False, pending=self._pending.exists(), message=f"nothing changed in {self.book.name}")
        work = ChangeSet().extend(changeset)
        if rider is not None:
            work.extend(rider)
        keep_states = dict(states) if states is not None else None
        with self.lock():
            try:
                plan = make_plan(work, tables)
                job = LiveWrite(self.book, plan, tables, self._read, name)
                job.prepare()
            except WorkbookChanged:
                raise
            except CrmSheetsError as e:
                self._pending.keep(work, states=keep_states, reason=str(e))  # (said in the log when it cannot be)
                raise
            try:
                with paused(self.book.app):
                    job.run()
            except CrmSheetsError:
                raise
            except Exception as e:  # Excel refused a call: a cell in edit mode, a protected sheet, a dialog open
                cause = " ".join(str(e).split())[:200] or type(e).__name__
                raise WorkbookBusy(
                    f"{self.book.name}: Excel refused a write part-way ({cause}); what was written stays, the rest "
                    "was not written",
                    hint="finish editing any cell, close dialogs or unprotect the sheet, then press Refresh again: the "
                         "jobs continue from what the workbook shows") from e
            if before_replace is not None:
                before_replace(None)
            self._read = {}  # what we read no longer shows the book: a later apply needs a read first
            self._tables = tables
            left = self._pending.clear() is not None
            self.last_write = {"reads": job.reads, "calls": dict(job.calls), "notes": list(job.notes)}
        message = f"wrote {describe_changes(work)} to {self.book.name} (open in Excel: save it to keep the changes)"
        if job.notes:
            message += "; " + "; ".join(job.notes)
        if left:
            message += self._pending.left_note()
        return ApplyResult(True, pending=left, message=message)

    def _changes_anything(self, changeset: ChangeSet, tables: Tables) -> bool:
        from crm_sheets.store.core.plan import make_plan
        from crm_sheets.store.excel.write import changes_anything

        try:
            return changes_anything(self.book, make_plan(ChangeSet().extend(changeset), tables), tables)
        except CrmSheetsError:
            return True  # let the write say what is wrong

    # -- pending change sets and the lock ---------------------------------------------------------

    def pending(self) -> ChangeSet | None:
        found = self.pending_file()
        return found.changeset if found is not None else None

    def pending_file(self):
        found = self._pending.read()
        if found is None or not found.id:
            return found
        if self._tables is not None and found.id == self._tables.meta.get("applied_pending"):
            return None  # written already (the runner records its ID in the same write)
        return found

    @contextlib.contextmanager
    def lock(self) -> Iterator["ExcelLiveStore"]:
        """One writer per book: an in-process lock keyed by identity, and the OS writer lock every crm-sheets run
        on this workbook takes (file runs included). Re-entrant within this store."""
        with self._lock:
            yield self


@contextlib.contextmanager
def paused(app: Any) -> Iterator[None]:
    """Screen updating and automatic calculation off while we write; both back as they were afterwards, also on
    error. An engine that cannot say how they were set gets them back on (Excel's default)."""
    try:
        screen = bool(app.screen_updating)
    except Exception:
        screen = True
    try:
        calculation = app.calculation
    except Exception:
        calculation = None
    app.screen_updating = False
    try:
        if calculation is not None and calculation != "manual":
            app.calculation = "manual"
        yield
    finally:
        try:
            if calculation is not None and calculation != "manual":
                app.calculation = calculation
        finally:
            app.screen_updating = screen


def _list_objects(sheet: Any) -> list:
    try:
        return list(sheet.tables)
    except Exception:  # an engine without Excel tables
        return []


