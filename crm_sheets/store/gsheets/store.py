"""GSheetsStore: a Google spreadsheet as a Store (``gsheets://SPREADSHEET_ID``).

Reads in two API calls (snapshot.py) through the store core's grid reader; writes a change set in two: one
values.batchGet re-reading the sheets it touches (records are found again by ID, since people sort and insert
rows; a record a colleague changed since our read stops the write with WorkbookChanged), then one atomic
spreadsheets.batchUpdate holding every cell, row, sheet and mark. A write that fails is kept pending.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from typing import Any, Callable, Iterator, Mapping

from crm_sheets.errors import CrmSheetsError, UsageError, WorkbookChanged
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.schema import normalize_header
from crm_sheets.model.tables import Tables
from crm_sheets.store.base import ApplyResult
from crm_sheets.store.core.grid import ContentFingerprint
from crm_sheets.store.core.keeper import KeptState, PendingKeeper, StoreLock, describe_changes
from crm_sheets.store.core.refind import blank as _blank, col_index as _col_index
from crm_sheets.store.gsheets import batch
from crm_sheets.store.gsheets.client import Connection, connect
from crm_sheets.store.gsheets.snapshot import Snapshot, read as read_snapshot, read_dated
from crm_sheets.store.gsheets.write_plan import WritePlan as _Plan, grid_row as _row  # one write, planned
from crm_sheets.store.safety import WriterLock

SCHEME = "gsheets://"


def parse_spec(spec: str) -> str:
    """The spreadsheet ID of ``gsheets://ID`` (a full Sheets URL after the scheme is taken too)."""
    text = str(spec).strip()
    for prefix in (SCHEME, "gsheets:/"):  # a spec that went through pathlib.Path keeps one slash
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    if "/d/" in text:  # https://docs.google.com/spreadsheets/d/ID/edit#gid=0
        text = text.split("/d/", 1)[1]
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not text or not all(ch.isalnum() or ch in "-_" for ch in text):
        raise UsageError(f"{spec}: not a spreadsheet ID", hint="use gsheets://ID, ID being the long code in the sheet's URL")
    return text


class SheetsGrids:
    """A snapshot as the store core's GridSource: grids of plain values, our table marks as named tables."""

    def __init__(self, snap: Snapshot, name: str, source: str):
        self.snap = snap
        self.name = name
        self.source = source
        self.sheet_names = snap.sheet_names
        self.date1904 = False  # Sheets counts serial days from 1899-12-30, as the 1900 system does

    def table_locations(self) -> dict[str, tuple[str, int]]:
        return {normalize_header(n): where for n, where in self.snap.excel_tables().items()}

    def __getitem__(self, sheet: str) -> list[list[Any]]:
        if sheet not in self.snap.sheets:
            raise KeyError(sheet)
        grid = self.snap.grids.get(sheet, [])
        dated = self.snap.dated.get(sheet)
        if dated:  # dates typed into text columns, as dates (snapshot.read_dated); the snapshot's grid unchanged
            grid = list(grid)
            for r in {r for r, _ in dated}:
                grid[r] = list(grid[r])
            for (r, c), when in dated.items():
                grid[r][c] = when
        return grid

    def merged(self, sheet: str):
        return tuple(((r0, c0), (r1, c1)) for r0, c0, r1, c1 in self.snap.merged(sheet))

    def read_ahead(self, sheets: list[str]) -> None:
        pass  # every sheet came in the one batchGet

    def forget(self, sheet: str) -> None:
        pass  # kept: apply compares the rows it touches with what was read

    def strays(self) -> list[tuple[str, str, str]]:
        return []

    def close(self) -> None:
        pass


class GSheetsStore(KeptState):
    """A Google spreadsheet as a Store: ``read()`` -> Tables, ``apply(changeset, tables)`` -> ApplyResult."""

    def __init__(self, spec: str, *, schema: Any = None, connection: Connection | None = None,
                 lock_timeout: float | None = None, backups: int | None = None, **_ignored: Any):
        from crm_sheets.store.state import StoreState

        self.spreadsheet_id = parse_spec(spec)
        self.identity = f"gsheets:{self.spreadsheet_id}"  # what its state (pending, outbox, lock) is keyed by
        self.name = SCHEME + self.spreadsheet_id  # how messages name it (its title once read: describe())
        self.state = StoreState.for_remote(self.identity)
        self.title = ""
        self.schema = schema
        self._conn = connection
        self.backups = backups  # no file backups: Sheets keeps a version history
        self._lock = StoreLock(lambda: WriterLock(self.state, timeout=lock_timeout))  # its folder made on first use
        self._pending = PendingKeeper(self.state)
        self._snap: Snapshot | None = None
        self._tables: Tables | None = None
        self.fingerprint: ContentFingerprint | None = None
        self.last_write: dict[str, Any] = {}  # what the last apply sent: requests, bytes, batches

    def __repr__(self) -> str:
        return f"GSheetsStore({self.name!r})"


    def describe(self) -> str:
        return f"{self.title} ({self.name})" if self.title else self.name

    def open_by(self) -> str | None:
        return None  # people edit a Google Sheet live; their edits are caught by the change check instead

    def layout(self, tables: Tables, only: Any = None) -> Any:
        """Where the tables sit on their sheets (for upgrade), from the values the last ``read`` saw: the table
        runs along its header row as far as headers go without a gap; columns right of it that hold anything in
        any row are people's own, and a new column never lands on them."""
        from crm_sheets.store.core.layout import TableLayout, WorkbookLayout

        if self._snap is None:
            raise RuntimeError("GSheetsStore.layout() needs a read() first")
        snap = self._snap
        out = {}
        wanted = set(tables.tables if only is None else only)
        for name, t in tables.tables.items():
            if name not in wanted or t.sheet not in snap.sheets:
                continue
            grid = snap.grids.get(t.sheet, [])
            header = t.header_row or 1
            cols = [_col_index(c) for c in t.columns.values()]
            head = _row(grid, header - 1)
            first = min(cols, default=0)
            last = max(cols, default=0)
            while last + 1 < len(head) and not _blank(head[last + 1]):
                last += 1
            used = {c for row in grid for c in range(last + 1, len(row)) if not _blank(row[c])}
            end = max([header + 1, *t.rows.values()])
            out[name] = TableLayout(t.sheet, header, first, last, end, False, frozenset(used), None)
        return WorkbookLayout(tuple(snap.sheets), frozenset(snap.named_ranges), out)

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            self._conn = connect()
        return self._conn

    @property
    def stats(self):
        return self.connection.stats

    # -- reading --------------------------------------------------------------------------------

    def read(self) -> Tables:
        """The spreadsheet's tables, in two API calls; remembers what was read for ``apply``."""
        snap = read_snapshot(self.connection, self.spreadsheet_id)
        grids = SheetsGrids(snap, name=snap.title or self.name, source=self.name)
        tables = _read_tables(grids, self.schema)
        if read_dated(self.connection, snap, tables):  # a date typed into a text column: read as a date
            tables = _read_tables(SheetsGrids(snap, name=snap.title or self.name, source=self.name), self.schema)
        self._snap, self._tables, self.title = snap, tables, snap.title
        self.fingerprint = ContentFingerprint(_grids_digest(snap))
        return tables

    # -- writing --------------------------------------------------------------------------------

    def apply(self, changeset: ChangeSet, tables: Tables | None = None, *, before_replace: Callable | None = None,
              states: Mapping[str, Any] | None = None, rider: ChangeSet | None = None) -> ApplyResult:
        """Write the change set in one atomic batchUpdate (split only past the request-size limit).

        Raises WorkbookChanged when a record we change, archive or number was edited by someone since
        ``read`` (read again and re-run); any failure of the write keeps the change set pending for the
        next run. ``rider`` goes along with a real change only.
        """
        name = self.name
        if changeset.is_empty():
            return ApplyResult(False, pending=self._pending.exists(), message=f"nothing to write to {name}")
        if self._snap is None or self._tables is None:
            raise RuntimeError("GSheetsStore.apply() needs a read() first: it writes only over what it read")
        tables = tables if tables is not None else self._tables
        keep_states = dict(states) if states is not None else None
        with self.lock():
            plan = _Plan(self, changeset, tables, with_meta=rider is not None)
            plan.build()
            if plan.is_empty():  # owned sheets as they are, _crm_meta keys as they are: nothing to send
                return ApplyResult(False, pending=self._pending.exists(), message=f"nothing changed in {name}")
            work = changeset
            if rider is not None:  # planned again with the rider, on the rows just read (no second call)
                work = ChangeSet().extend(changeset).extend(rider)
                plan = _Plan(self, work, tables, fresh=plan.fresh, formats=plan.own_formats)
                plan.build()
            token = uuid.uuid4().hex
            parts = [[*part, *self._write_mark(f"{token}:{i}")]
                     for i, part in enumerate(batch.pack_groups([plan.requests, *plan.sheet_groups]))]
            requests = [r for part in parts for r in part]
            if before_replace is not None:
                # The new version is complete (the batch) and not yet sent: what a file store's temporary file
                # is when it calls this. The runner prepares the jobs' states under it.
                self._before_write(requests, before_replace)
            sent = 0
            try:
                for i, part in enumerate(parts):
                    mark = f"{token}:{i}"
                    self.connection.batch_update(self.spreadsheet_id, part, applied=lambda mark=mark: self._landed(mark))
                    sent += 1
            except CrmSheetsError as e:
                if sent == 0 and not isinstance(e, WorkbookChanged):
                    # Kept with the mark of its first batch: if that batch did land after all (its answer lost
                    # and the check impossible), the next read sees the mark and drops this, never applying twice.
                    lost = self._pending.keep(work, states=keep_states, reason=str(e), write_mark=f"{token}:0")
                    kept = ("the changes were kept and will be written by the next run" if lost is None else
                            f"the changes could not be kept for the next run either ({lost.strerror or lost})")
                    raise type(e)(f"{e.message}; nothing was written, {kept}", hint=e.hint) from None
                # The records' changes are in the first batch (all or nothing); what is left is owned sheets,
                # which the next run makes again from the data.
                raise type(e)(f"{e.message}; the records were written, {len(parts) - sent} of the sheets jobs "
                              "make were not and will be made by the next run", hint=e.hint) from None
            self._after_write(plan)
            left = self._pending.clear() is not None
            self.last_write = {"requests": len(requests), "batches": len(parts),
                               "bytes": sum(batch.request_size(r) for r in requests)}
        return ApplyResult(True, pending=left,
                           message=f"wrote {describe_changes(work)} to {name}" + (self._pending.left_note() if left else ""))

    def _before_write(self, requests: list[dict], before_replace: Callable) -> None:
        self.state.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state.dir / f".{self.state.stem}.{uuid.uuid4().hex[:8]}.batch.json"
        try:
            with open(tmp, "wb") as f:  # json.dumps(requests, ...) written piece by piece
                f.writelines(_json_pieces(requests))
            before_replace(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def _write_mark(self, token: str) -> list[dict]:
        """The mark a batch leaves (in the same atomic batch): after a lost answer it tells whether it landed."""
        return [batch.delete_metadata("write"), batch.spreadsheet_metadata("write", token)]

    def _landed(self, token: str) -> bool:
        got = self.connection.get(self.spreadsheet_id, fields="developerMetadata(metadataId,metadataKey,metadataValue)")
        for md in got.get("developerMetadata") or []:
            if md.get("metadataKey") == batch.META_PREFIX + "write" and md.get("metadataValue") == token:
                return True
        return False

    def _after_write(self, plan: "_Plan") -> None:
        snap = self._snap
        assert snap is not None
        snap.sheets.update(plan.infos)
        for title, info in plan.new_sheets.items():
            snap.sheets[title] = info

    # -- pending change sets and the lock ---------------------------------------------------------

    def pending(self) -> ChangeSet | None:
        found = self.pending_file()
        return found.changeset if found is not None else None

    def pending_file(self):
        found = self._pending.read()
        if found is None:
            return found
        landed = self._snap is not None and self._snap.metadata.get("write") == _pending_mark(self.state)
        if landed or (found.id and self._tables is not None and found.id == self._tables.meta.get("applied_pending")):
            if self._lock.held:
                self._pending.clear()
            return None  # written already: its batch's mark (or the runner's ID) is in the spreadsheet
        return found

    @contextlib.contextmanager
    def lock(self) -> Iterator["GSheetsStore"]:
        """One writer per spreadsheet among the crm-sheets runs of this machine (an OS lock in the state
        directory); runs elsewhere are caught by the change check before every write."""
        with self._lock:
            yield self


def _read_tables(grids: SheetsGrids, schema: Any) -> Tables:
    from crm_sheets.store.core.read import read_tables

    return read_tables(grids, schema)


def _pending_mark(path: Any) -> str | None:
    """The mark of the first batch of the write a pending change set failed in (see GSheetsStore.apply)."""
    from crm_sheets.store.pending import pending_path

    try:
        return json.loads(pending_path(path).read_text(encoding="utf-8")).get("write_mark") or None
    except (OSError, ValueError, AttributeError):
        return None


_ROWS_PER_PIECE = 5000


def _json_pieces(items: list) -> Iterator[bytes]:
    """``json.dumps(items, separators=(",", ":"), default=str)`` as UTF-8, in pieces of _ROWS_PER_PIECE items:
    the same bytes without the whole text at once (a 100k-lead sheet's is ~50 MB, twice with its encoding)."""
    yield b"["
    for i in range(0, len(items), _ROWS_PER_PIECE):
        text = json.dumps(items[i:i + _ROWS_PER_PIECE], separators=(",", ":"), default=str)[1:-1]
        yield ((b"," if i else b"") + text.encode("utf-8"))
    yield b"]"


def _grids_digest(snap: Snapshot) -> str:
    h = hashlib.sha256()
    for title in snap.sheet_names:
        h.update(title.encode("utf-8") + b"\x1e")
        for piece in _json_pieces(snap.grids.get(title, [])):
            h.update(piece)
    return h.hexdigest()
