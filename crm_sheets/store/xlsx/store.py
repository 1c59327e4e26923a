"""XlsxStore: a workbook file as a Store. Reads with the guarded fast reader, writes with the zip patcher,
and wraps every write in the safety layer: office lock files, one writer at a time, change detection,
backups, the atomic replace and pending change sets.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from crm_sheets.errors import CrmSheetsError, NotAWorkbook, WorkbookBusy, WorkbookChanged
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.tables import Tables
from crm_sheets.store.base import ApplyResult, NothingToWrite
from crm_sheets.store.core.layout import WorkbookLayout
from crm_sheets.store.state import StoreState
from crm_sheets.store.core.keeper import KeptState, PendingKeeper, StoreLock, describe_changes
from crm_sheets.store.pending import Pending
from crm_sheets.store.safety import (
    DEFAULT_OPS,
    FileOps,
    Fingerprint,
    WriterLock,
    atomic_replace,
    file_fingerprint,
    office_lock_files,
    office_lock_holder,
    stale_temp_files,
)

DEFAULT_BACKUPS = 5
READ_ATTEMPTS = 3
SETTLE_SECONDS = 1.0  # how long an incomplete file (mid-save) is watched for the save to finish


class XlsxStore(KeptState):
    """A .xlsx/.xlsm file as a Store: ``read()`` -> Tables, ``apply(changeset, tables)`` -> ApplyResult."""

    def __init__(
        self,
        path: str | os.PathLike,
        backups: int | None = None,
        *,
        schema: Any = None,
        ops: FileOps = DEFAULT_OPS,
        lock_timeout: float | None = None,
    ):
        self.path = Path(path)
        self.state = StoreState.for_file(self.path)  # pending file, outbox and lock beside the workbook, as always
        self.identity = self.state.identity
        self.name = self.path.name
        self.backups = backups  # None: the workbook's Settings `backups` value
        self.schema = schema
        self.ops = ops
        writer_lock = WriterLock(self.path, timeout=lock_timeout)  # None: CRM_SHEETS_LOCK_TIMEOUT or 5 s
        self._lock = StoreLock(lambda: writer_lock)
        self._pending = PendingKeeper(self.state, ops=ops)
        self._seen: Fingerprint | None = None  # what the last read (or our last write) saw on disk
        self._meta: dict[str, Any] = {}  # the _crm_meta keys of that read
        self._cached: Any = None  # the file key of the bytes the table cache holds the tables of
        self.keep_table_cache = True  # False: a read may use the table cache but writes none (a dry run)
        self._reading: Any = None  # during a read: the table cache (None: off), and the fingerprint of
        self._reading_seen: Fingerprint | None = None  # the bytes being read
        # during a write: the unread lazy tables it leaves alone, with their sheet's part key and the date system
        # of the file written (read from that file if asked once it replaced the workbook: ``apply``)
        self._unread: list[tuple[Any, Any, bool]] = []

    def __repr__(self) -> str:
        return f"XlsxStore({str(self.path)!r})"


    def describe(self) -> str:
        return self.name

    def open_by(self) -> str | None:
        """Who has the file open (Excel's or LibreOffice's lock file beside it), or None."""
        return office_lock_holder(self.path)

    def layout(self, tables: Tables, only: Iterable[str] | None = None) -> WorkbookLayout:
        """Where the tables sit in the package and which columns beside them people use (for upgrade)."""
        from crm_sheets.store.xlsx.structure import read_layout

        return read_layout(self.path, tables, only=only)

    @property
    def fingerprint(self) -> Fingerprint | None:
        """Size, mtime and SHA-256 of the file as the last read (or our last write) saw it."""
        return self._seen

    # -- reading --------------------------------------------------------------------------------

    def read(self) -> Tables:
        """The workbook's tables; remembers the bytes read and their fingerprint so ``apply`` can tell if
        the file changed since, and back up exactly what was read.

        A file that changes while it is read is read again; one that is not a whole zip package (a program
        is saving it) is watched for a moment, then read again or refused as busy (exit 3), never as broken.
        """
        for _ in range(READ_ATTEMPTS):
            incomplete, before = self._snapshot()
            if incomplete:
                if self._settled(before):
                    raise WorkbookBusy(
                        f"{self.path.name} is not a whole workbook yet: a program is saving it, or its save was cut "
                        "short; nothing was read or written",
                        hint="run again once it is saved; if it stays so, restore the newest copy from .crm-backups",
                    )
                continue
            cache = self._reading = self._table_cache()
            self._reading_seen = before
            try:
                tables = self._load()
            except Exception:
                self._reading = self._reading_seen = None
                if self._unchanged(before):
                    raise
                continue  # the reader saw the file change under it: what it said is about a moving file
            self._reading = self._reading_seen = None
            if self._unchanged(before):
                # the bytes are not kept: the backup is copied from the file, refused unless it holds them
                # (safety.FileOps.backup_as_read); holding them cost the file's size (40 MB at 100k leads)
                self._seen, self._meta = before, dict(getattr(tables, "meta", None) or {})
                if cache is not None and self.keep_table_cache and set(cache.hits.values()) != {"whole"}:
                    cache.save(_file_key(before), tables, _schema_key(self.schema))  # before any job changes them
                    self._cached = _file_key(before)
                elif cache is not None and set(cache.hits.values()) == {"whole"}:
                    self._cached = _file_key(before)
                return tables
        raise WorkbookChanged(
            f"{self.path.name} kept changing while it was being read",
            hint="wait until nobody is saving it and run again",
        )

    def _load(self) -> Tables:
        from crm_sheets.store.xlsx.package import open_package
        from crm_sheets.store.xlsx.grid import read_workbook

        seen, cache = self._reading_seen, self._reading  # what read() snapshotted, and the table cache

        if cache is not None and seen is not None:  # the very bytes a read already turned into these tables
            tables = cache.whole(_file_key(seen), _schema_key(self.schema), str(self.path), lazy=self._lazy_again(seen))
            if tables is not None:
                return tables
        guard = open_package(self.path)  # refuses hostile files before any parser sees them
        if hasattr(guard, "close"):
            guard.close()
        return read_workbook(self.path, self.schema, cache=cache)

    def _lazy_again(self, seen: Fingerprint) -> Callable[..., Any]:
        """For a table the cache keeps as unread (a lazy table, model/lazy.py): a lazy table again, read from this
        file when something asks, and only while it is still the file ``seen`` (WorkbookChanged otherwise)."""
        def make(tables: Tables, name: str, sheet: str, hint: int | None, part: Any) -> Any:
            from crm_sheets.store.core.read import lazy_table
            from crm_sheets.store.xlsx.grid import XlsxGrids

            return lazy_table(lambda: XlsxGrids.open_same(self.path, (seen.size, seen.mtime_ns), tables.date1904,
                                                          {sheet: part}), tables, name, sheet, hint)

        return make

    def remember_tables(self, given: Mapping[str, tuple[Any, str]] | None = None) -> Tables | None:
        """After our own write: fill the table cache with the tables of the file as written, so the next run, when
        nobody edited the workbook, takes its tables whole from the cache. Changes nothing the store knows;
        never raises.

        Without ``given``, the file is read again: the sheets the write left alone come back by their part (left
        pickled), the others are parsed. With ``given`` (written.tables_as_written: the tables the run made, as
        the write laid them out), those are taken as they are instead of parsing their sheets (the small sheets
        tables are typed with are still read, and a table whose context changed otherwise is parsed), and the
        Tables of the file as written are returned, for the confirming pass. Nothing is taken from ``given``
        when the file on disk is not the one this store last wrote (a save slipped in after ours)."""
        if self._seen is None or self._cached == _file_key(self._seen) or not self.keep_table_cache:
            return None
        cache = self._table_cache()
        if cache is None:
            return None
        try:
            incomplete, before = self._snapshot()
            if incomplete:
                return None
            if given and before.same_content(self._seen):
                cache.given = dict(given)
            else:
                # the tables read here only go into the cache: those found in it stay pickled
                cache.keep_only, given = True, None
            self._reading, self._reading_seen = cache, before
            try:
                tables = self._load()
            finally:
                self._reading = self._reading_seen = None
                cache.given = {}
            if self._unchanged(before):
                if set(cache.hits.values()) != {"whole"}:
                    cache.save(_file_key(before), tables, _schema_key(self.schema))
                self._cached = _file_key(before)
                return tables if given else None
        except Exception:
            return None  # someone is saving it, or it is not readable: the next run reads it as usual
        return None

    def _table_cache(self) -> Any:
        """The cache of this workbook's typed tables (store/core/cache.py), or None when it is turned off."""
        from crm_sheets.store.core.cache import TableCache

        return TableCache.for_state(self.state)

    def _snapshot(self) -> tuple[bool, Fingerprint]:
        """Whether the file is not a whole package yet (``_PackageCheck``), and its fingerprint. The file is
        hashed and checked a piece at a time, never held whole (40-120 MB at 100k-300k leads, under the cache's
        fill after a write)."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                check = _PackageCheck()
                h = hashlib.sha256()
                size = 0
                while chunk := f.read(_PIECE):
                    h.update(chunk)
                    check.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise NotAWorkbook(f"{self.path}: no such file", hint="check the path") from None
        except IsADirectoryError:
            raise NotAWorkbook(f"{self.path}: is a folder, not a workbook") from None
        except PermissionError as e:
            if sys.platform == "win32":  # a program that has it open may deny reading it
                raise WorkbookBusy(f"{self.path.name} is open in another program that denies reading it",
                                   hint="close it and run again") from None
            raise NotAWorkbook(f"{self.path}: cannot be read ({e.strerror or e})", hint="check the file's permissions") from None
        except OSError as e:
            raise CrmSheetsError(f"{self.path}: cannot be read ({e.strerror or e})", hint="check the disk and run again") from None
        return check.incomplete(), Fingerprint(size, st.st_mtime_ns, h.hexdigest())

    def _unchanged(self, before: Fingerprint) -> bool:
        try:
            return before.same_content(file_fingerprint(self.path))
        except OSError:
            return False

    def _settled(self, before: Fingerprint) -> bool:
        """Whether the file stays as ``before`` for SETTLE_SECONDS (False as soon as it changes)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                st = os.stat(self.path)
            except OSError:
                return False
            if (st.st_size, st.st_mtime_ns) != (before.size, before.mtime_ns):
                return False
        return self._unchanged(before)

    def _fingerprint(self) -> Fingerprint:
        try:
            return file_fingerprint(self.path)
        except FileNotFoundError:
            raise NotAWorkbook(f"{self.path}: no such file", hint="check the path") from None
        except IsADirectoryError:
            raise NotAWorkbook(f"{self.path}: is a folder, not a workbook") from None

    # -- writing --------------------------------------------------------------------------------

    def apply(
        self,
        changeset: ChangeSet,
        tables: Tables | None = None,
        *,
        before_replace: Callable[[Path], None] | None = None,
        states: Mapping[str, Any] | None = None,
        rider: ChangeSet | None = None,
    ) -> ApplyResult:
        """Write the change set in one atomic replace of the file.

        Raises WorkbookBusy (exit code 3) when Excel or LibreOffice has the file open, after saving the
        change set as pending for the next run (with ``states``, the jobs' states that go with it), or when
        another crm-sheets run is writing it; raises WorkbookChanged when the file changed since ``read``
        (read again and re-run the jobs). Any other failure leaves the file as it was and keeps the change
        set as pending. ``before_replace(tmp)`` runs once the new file is complete, before it replaces the
        old one (the runner keeps the jobs' new states under the new file's generation there).

        With ``rider`` (owned sheets and _crm_meta keys that go along with a real change only), a change set
        that would leave every byte of the file as it is (owned sheets that render as they are) writes
        nothing at all, makes no backup, and says so (``written`` False); else the rider is written with it.
        """
        name = self.path.name
        nothing = ApplyResult(False, pending=self._pending.exists(), message=f"nothing changed in {name}")
        if changeset.is_empty():
            return ApplyResult(False, pending=self._pending.exists(), message=f"nothing to write to {name}")
        if self._seen is None:
            raise RuntimeError("XlsxStore.apply() needs a read() first: it writes only over what it read")
        keep_states = dict(states) if states is not None else None
        if rider is not None and office_lock_holder(self.path) is not None and not self._changes_anything(changeset, tables):
            return nothing  # open in Excel, but nothing to write: no pending change set either
        self._refuse_if_open(changeset, keep_states)
        with self.lock():
            self._remove_stale_temp_files()
            self._check_unchanged()
            keep = self._backups_to_keep(tables)

            def last_check() -> None:
                # The write took a while: someone may have opened the file meanwhile (a save is caught by
                # the comparison with what we read, right before the swap).
                self._refuse_if_open(changeset, keep_states)

            try:
                backup = atomic_replace(
                    self.path, lambda tmp: self._write(tmp, changeset, tables, *([rider] if rider is not None else [])), keep, ops=self.ops,
                    check=last_check, expected=self._seen, before_replace=before_replace,
                )
            except NothingToWrite:
                return nothing
            except (WorkbookBusy, WorkbookChanged):
                raise
            except Exception as e:
                kept = self._pending.keep(changeset, reason=f"write failed: {e}", states=keep_states)
                if not isinstance(e, OSError):
                    raise  # a bug, not the disk: let it show
                raise self._write_failed(e, kept) from e
            self._seen = self._fingerprint()
            for t, key, date1904 in self._unread:  # their sheets parse to the same cells in the file as written
                _read_later_from(t, self.path, self._seen, date1904, key)
            self._unread = []
            left = self._pending.clear() is not None
        message = f"wrote {describe_changes(changeset)} to {name}"
        if backup is not None:
            message += f" (backup: {backup.parent.name}/{backup.name})"
        if left:
            message += self._pending.left_note()
        return ApplyResult(True, backup=str(backup) if backup else None, pending=left, message=message)

    def _write(self, dst: Path, changeset: ChangeSet, tables: Tables | None, rider: ChangeSet | None = None) -> None:
        from crm_sheets.model.lazy import can_repoint, is_unread, read_or_leave_out
        from crm_sheets.store.xlsx.writer import apply_changeset

        # A lazy table the write changes no cell of keeps its sheet as it was: it stays unread (at 30k leads a writing
        # run's Audit Log is ~60,000 rows, 0.7 s to parse and type) and, if something asks later, is read from the
        # file as written, once shown to parse its sheet to the same cells (below, and ``apply``)
        named = changeset.tables_touched() | (rider.tables_touched() if rider is not None else set())
        left: list[tuple[str, Any]] = []
        self._unread = []
        for name, t in (list(tables.tables.items()) if tables is not None else ()):
            if is_unread(t) and name not in named and can_repoint(t):
                left.append((name, t))
            elif is_unread(t):  # a lazy table nothing read yet (the Audit Log): read now, from the file as read, which
                read_or_leave_out(tables, name)  # the replace below does away with (the tables stay what the
                # run read, whatever asks later); a sheet without its header row is left out as the eager read does

        apply_changeset(self.path, dst, changeset, tables, rider=rider)
        if left:
            before, after = _sheet_keys(self.path), _sheet_keys(dst)
            for name, t in left:
                key = after[0].get(t.sheet)
                if key is not None and _same_cells(before[0].get(t.sheet), key) and before[1] == after[1]:
                    self._unread.append((t, key, after[1]))
                else:  # its cells could parse otherwise from the file as written: read now, from the file as read
                    read_or_leave_out(tables, name)

    def _changes_anything(self, changeset: ChangeSet, tables: Tables | None) -> bool:
        from crm_sheets.store.xlsx.writer import changes_anything

        try:
            return changes_anything(self.path, changeset, tables)
        except Exception:
            return True  # let the write say what is wrong

    def pending(self) -> ChangeSet | None:
        found = self.pending_file()
        return found.changeset if found is not None else None

    def pending_file(self) -> Pending | None:
        """The pending file, unless the workbook as last read says a run already wrote it (a crash or a
        failed delete between that write and the file's removal): then it is dropped, never applied twice."""
        found = self._pending.read()
        if found is None or not found.id or found.id != self._meta.get("applied_pending"):
            return found
        if self._lock.held:
            self._pending.clear()
        return None

    @contextlib.contextmanager
    def lock(self) -> Iterator["XlsxStore"]:
        """Hold the one-writer lock (re-entrant within this store, so ``apply`` inside it works)."""
        with self._lock:
            yield self

    # -- the checks around a write ---------------------------------------------------------------

    def _refuse_if_open(self, changeset: ChangeSet, states: dict[str, Any] | None = None) -> None:
        holder = office_lock_holder(self.path)
        if holder is None:
            return
        lock_file = next((p for p in office_lock_files(self.path) if p.exists()), None)
        lock_hint = f" (if nobody has it open, delete {lock_file.name})" if lock_file else ""
        e = self._pending.keep(changeset, states=states, reason=f"open by {holder}")
        if e is not None:
            raise WorkbookBusy(
                f"{self.path.name} is open by {holder}; nothing was written and the changes could not be "
                f"kept for later ({e.strerror or e})",
                hint=f"close it and run again{lock_hint}",
            ) from e
        raise WorkbookBusy(
            f"{self.path.name} is open by {holder}; nothing was written, the changes were saved and will "
            "be applied on the next run",
            hint=f"close it and run again{lock_hint}",
        )

    def _check_unchanged(self) -> None:
        if not self._fingerprint().same_content(self._seen):
            raise WorkbookChanged(
                f"{self.path.name} changed on disk since it was read; nothing was written",
                hint="run again to work on the fresh data",
            )

    def _backups_to_keep(self, tables: Tables | None) -> int:
        value: Any = self.backups
        if value is None and tables is not None:
            value = tables.setting("backups", DEFAULT_BACKUPS)
        try:
            return max(int(float(value)), 0)
        except (TypeError, ValueError):
            return DEFAULT_BACKUPS

    def _remove_stale_temp_files(self) -> None:
        # Only a crashed run leaves these, and we hold the writer lock, so none of them is in use.
        for tmp in stale_temp_files(self.path):
            try:
                tmp.unlink()
            except OSError:
                pass

    def _write_failed(self, e: OSError, pending_error: OSError | None) -> CrmSheetsError:
        kept = (
            "the changes were saved and will be applied on the next run"
            if pending_error is None
            else f"the changes could not be kept either ({pending_error.strerror or pending_error})"
        )
        cause = e.strerror or str(e)
        if isinstance(e, PermissionError) and sys.platform == "win32":
            # Windows refuses to replace a file another program holds open.
            return WorkbookBusy(f"{self.path.name} is open in another program; nothing was written, {kept}",
                                hint="close it and run again")
        return CrmSheetsError(
            f"could not write {self.path.name}: {cause}; it is unchanged and {kept}",
            hint="check the disk space and the folder's permissions, then run again",
        )


def _file_key(fp: Fingerprint) -> tuple[int, str]:
    """What the table cache knows a file by: its size and SHA-256 (its bytes, whatever its mtime)."""
    return (fp.size, fp.sha256)


def _schema_key(schema: Any) -> str | None:
    """A schema given to the store (instead of the workbook's own template) is part of what a read gives."""
    if schema is None:
        return None
    from crm_sheets.store.core.cache import context_key

    return context_key(schema)


_PIECE = 1 << 20
_END_RECORD = b"PK\x05\x06"
_END_REACH = 65535 + 22  # the zip's end record lies within this many bytes of the end (its comment is at most 64 KB)


class _PackageCheck:
    """Whether a file's bytes, given a piece at a time, are an empty file or the start of a zip without its end
    record (written last): what a program's save looks like while it is still writing. A zip with its end record
    but damaged parts or directory is not incomplete; the reader reports it as broken (exit 2). Only the file's
    first bytes and its last ``_END_REACH`` are kept."""

    def __init__(self) -> None:
        self.head = b""
        self.tail = b""
        self.blank = True  # nothing but NUL bytes so far

    def update(self, piece: bytes) -> None:
        if len(self.head) < 4:
            self.head += piece[:4 - len(self.head)]
        if self.blank and piece.strip(b"\x00"):
            self.blank = False
        self.tail = (self.tail + piece[-_END_REACH:])[-_END_REACH:]

    def incomplete(self) -> bool:
        if self.blank:
            return True
        if not self.head.startswith(b"PK\x03\x04"):
            return False
        return _END_RECORD not in self.tail


def _sheet_keys(path: Path) -> tuple[dict[str, Any], bool]:
    """Each sheet's part key (store/xlsx/grid.py) and the date system of the package at ``path`` (its zip directory
    and workbook part read: no sheet parsed)."""
    from crm_sheets.store.xlsx.grid import XlsxGrids

    grids = XlsxGrids.open(path, workers=0)
    try:
        return {sheet: grids.part_key(sheet) for sheet in grids.sheet_names}, bool(grids.date1904)
    finally:
        grids.close()


def _same_cells(before: Any, after: Any) -> bool:
    """Whether a sheet whose part key (grid._part_keys) was ``before`` parses to the same cells with ``after``: its
    part and the shared strings as they were; styles.xml may have grown (our writer only appends cell formats:
    an index a cell names keeps its format, store/xlsx/styles.py)."""
    def kept(key: Any) -> Any:
        return key[0], tuple(c for c in key[1] if c is None or not c[0].endswith("styles.xml"))
    return before is not None and kept(before) == kept(after)


def _read_later_from(t: Any, path: Path, seen: Any, date1904: bool, key: Any) -> None:
    """Point an unread lazy table at the file our write just made (``seen``: its fingerprint; ``key``: the part key
    of the table's sheet in it): read from it when first asked, and refused (WorkbookChanged) once someone saved
    another file there, as the read's own loader refuses a file saved after the read."""
    from crm_sheets.model.lazy import repoint
    from crm_sheets.store.xlsx.grid import XlsxGrids

    sheet = t.sheet
    repoint(t, lambda: XlsxGrids.open_same(path, (seen.size, seen.mtime_ns), date1904, {sheet: key}))
