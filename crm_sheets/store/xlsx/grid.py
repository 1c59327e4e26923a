"""The xlsx backend's GridSource: a workbook file's sheets as grids of values, parsed by python-calamine.

Owns opening the package safely (hostile files refused before any parser sees them), the Excel table
parts, and parsing sheets ahead in worker threads (trimmed when cells reach far beyond the table). Turning
the grids into Tables is the store core's job (crm_sheets.store.core.read).
"""
from __future__ import annotations

import gc
import os
import re
import threading
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping

from python_calamine import CalamineWorkbook

from crm_sheets.errors import CrmSheetsError, DamagedWorkbook, NotAWorkbook, WorkbookChanged
from crm_sheets.model.schema import Schema, normalize_header
from crm_sheets.model.tables import Tables, column_letter, quote_sheet
from crm_sheets.store.core.cache import TableCache
from crm_sheets.store.core.read import NOT_OURS_HINT as _NOT_OURS_HINT, read_tables
from crm_sheets.store.xlsx.extent import MAX_GRID, read_part, scan, scan_part, trim, trimmed_package
from crm_sheets.store.xlsx.package import DAMAGED_HINT, damaged, first_damaged_part, one_line, open_package

_REF_RE = re.compile(r"^\$?[A-Za-z]{1,3}\$?(\d+)")


def read_workbook(path: str | Path, schema: Schema | None = None, cache: TableCache | None = None) -> Tables:
    """Read a crm-sheets workbook file into typed Tables (see crm_sheets.store.core.read.read_tables for what
    the Tables hold); with ``cache``, tables of sheets that did not change come from it."""
    path = Path(path)
    collecting = gc.isenabled()
    gc.disable()  # millions of new cell objects would trigger full collections that free nothing
    try:
        grids = XlsxGrids.open(path)
        try:
            return read_tables(grids, schema, cache)
        finally:
            grids.close()
    finally:
        if collecting:
            gc.enable()


def _read_workers() -> int:
    """Threads parsing sheets ahead: one is enough to keep a second core busy while this thread builds
    tables; none on a single core. CRM_SHEETS_READ_THREADS overrides (0: parse in this thread)."""
    env = os.environ.get("CRM_SHEETS_READ_THREADS", "").strip()
    if env.isdigit():
        return int(env)
    return 1 if (os.cpu_count() or 1) > 1 else 0


# ---------------------------------------------------------------------------------------------
# The file


def _open(path: Path) -> tuple[CalamineWorkbook, dict[str, tuple[str, int]], bool, dict[str, str], dict[str, Any]]:
    """The workbook for calamine, its Excel tables (folded name -> (sheet, 0-based header row)),
    whether it uses the 1904 date system (for serial numbers typed into date columns), and the
    worksheet part of each sheet (to name it in errors and to scan its extent), and each sheet's part key
    (see ``XlsxGrids.part_key``).

    The package is opened through store.xlsx.package first, so a hostile file is refused before any
    parser sees it; table definitions are read from its small table parts (calamine's own table
    API reads every cell of the table again).
    """
    if not path.exists():
        raise NotAWorkbook(f"{path}: no such file", hint=_NOT_OURS_HINT)
    excel_tables: dict[str, tuple[str, int]] = {}
    parts: dict[str, str] = {}
    with open_package(path) as pkg:
        date1904 = bool(pkg.date1904)
        for sheet in pkg.sheets:
            if not sheet.part:
                continue
            parts[sheet.name] = sheet.part
            try:
                found = pkg.tables(sheet)
            except CrmSheetsError:
                raise
            except Exception as exc:  # e.g. headerRowCount="x": the table part is damaged
                raise DamagedWorkbook(f"{path.name}: a table of sheet {sheet.name!r} cannot be read ({one_line(exc)})",
                                      hint=DAMAGED_HINT) from None
            for tp in found:
                m = _REF_RE.match(tp.ref)
                if m and tp.header_rows >= 1:
                    excel_tables[normalize_header(tp.name)] = (sheet.name, int(m.group(1)) - 1)
        others = [p for p in pkg.infos if p.endswith((".xml", ".rels")) and p not in set(parts.values())]
        keys = _part_keys(pkg, parts)
    try:
        return CalamineWorkbook.from_path(str(path)), excel_tables, date1904, parts, keys
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # calamine's errors, and a panic of its native code, are a damaged file
        bad = first_damaged_part(path, others)
        if bad is not None:
            raise DamagedWorkbook(f"{path.name}: part {bad[0]} cannot be read: {bad[1]}", hint=DAMAGED_HINT) from None
        raise DamagedWorkbook(f"{path.name}: not a readable Excel workbook ({one_line(f'{type(exc).__name__}: {exc}')})",
                              hint=DAMAGED_HINT) from None


def _part_keys(pkg: Any, parts: Mapping[str, str]) -> dict[str, Any]:
    """Each sheet's part key: the CRC-32 and size of its part (from the zip directory, nothing inflated), with
    those of the parts every sheet's values depend on (its shared strings, and its styles, which say which
    numbers are dates). Equal keys mean the sheet parses to the same cells. (The workbook part, which a write
    adding a sheet changes, is not needed: the sheet's name and part and the date system are keyed apart.)"""
    def crc(part: str) -> tuple[str, int, int] | None:
        info = pkg.infos.get(part)
        return (part, info.CRC, info.file_size) if info is not None else None

    common = tuple(crc(p) for p in sorted(pkg.infos)
                   if p.rsplit("/", 1)[-1] in ("sharedStrings.xml", "styles.xml"))
    return {sheet: (crc(part), common) for sheet, part in parts.items() if part in pkg.infos}


class XlsxGrids:
    """A workbook file as a GridSource (crm_sheets.store.core.grid): each sheet's cells, parsed once: rows
    of values from A1 (calamine gives '' for empty cells), and its merged ranges, kept from the same parse.

    calamine parses a sheet in its own code without holding the GIL, so the data sheets are parsed
    ahead (``read_ahead``) in worker threads, each with its own CalamineWorkbook (one cannot be shared
    across threads), while this thread turns sheets into tables; this thread checks each sheet's extent before
    handing it over (the check holds the GIL, the parse does not). The large sheets are handed over first (in
    the order they are asked for), so their parse starts at once; a sheet asked for that no worker has started
    yet (the small ones before them) is parsed here instead of waiting behind them. At most ``window`` sheets
    parsed ahead are held (in flight, parsed, or being turned into a table until ``forget``), beside the one this
    thread parsed itself and turns into a table: by default two, so a large sheet's parse runs while a large table
    is built, and peak memory stays bounded (the two largest sheets and a small one).
    """

    def __init__(self, book: CalamineWorkbook, path: Path, workers: int = 0, window: int | None = None,
                 parts: Mapping[str, str] | None = None, excel_tables: Mapping[str, tuple[str, int]] | None = None,
                 date1904: bool = False, part_keys: Mapping[str, Any] | None = None):
        self.book = book
        self.path = path
        self.name = path.name
        self.source = str(path)
        self.sheet_names: tuple[str, ...] = tuple(book.sheet_names)
        self.date1904 = date1904
        self._excel_tables = dict(excel_tables or {})
        self._parts = dict(parts or {})
        self._part_keys = dict(part_keys or {})
        self._strays: dict[str, tuple[list[str], int, int, int]] = {}  # sheet -> (refs, count, last row, last col)
        self._cache: dict[str, tuple[list[list[Any]], list]] = {}
        self._workers = workers
        self._window = max(1, window if window is not None else workers + 1)
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._books: list[CalamineWorkbook] = []
        self._zips: list[zipfile.ZipFile] = []  # each thread's handle on the package (``_zip``)
        self._queue: list[str] = []  # sheets to parse ahead, in the order they are handed over (``_ahead``)
        self._pending: dict[str, Future] = {}
        self._checked: dict[str, bool | BaseException] = {}  # each sheet handed over: its extent check's outcome
        self._asked: dict[str, None] = {}  # sheets in the order they were first asked for (what ``strays`` follows)
        self._order: list[str] = []  # the sheets to parse ahead, in the order they will be asked for
        self._largest = 0  # the size of the largest of them (``_size``)
        # sheets this thread parsed ahead of their turn while it waited for a worker (``_parse_ahead``): their size,
        # or what their parse raised (raised when the sheet is asked for, as from a worker)
        self._early: dict[str, int] = {}
        self._failed: dict[str, BaseException] = {}
        self._held: set[str] = set()  # sheets parsed ahead and not forgotten yet: what the window counts
        self._seen: tuple[int, int] | None = None  # the file's size and mtime when opened
        self._expect: Any = None  # for a source opened again (``reopen``): what the file must still be

    @classmethod
    def open(cls, path: Path, workers: int | None = None) -> XlsxGrids:
        """The workbook file, checked and opened (NotAWorkbook, DamagedWorkbook otherwise)."""
        try:
            seen: tuple[int, int] | None = _stat(path)
        except OSError:
            seen = None  # _open says what is wrong
        book, excel_tables, date1904, parts, keys = _open(path)
        grids = cls(book, path, workers=_read_workers() if workers is None else workers, parts=parts,
                    excel_tables=excel_tables, date1904=date1904, part_keys=keys)
        grids._seen = seen
        return grids

    def reopen(self) -> XlsxGrids:
        """The same workbook opened again, for a sheet read after this source was closed (a lazy table,
        model/lazy.py): see ``open_same``."""
        if self._seen is None:
            raise _changed(self.path)
        return XlsxGrids.open_same(self.path, self._seen, self.date1904, self._part_keys)

    @classmethod
    def open_same(cls, path: Path, seen: tuple[int, int], date1904: bool, part_keys: Mapping[str, Any]) -> XlsxGrids:
        """The workbook file opened as ``open`` does (checked before any parser sees it), when it is still the file
        a read saw: its size and modification time ``seen``, its date system, and the part keys (the zip
        directory's CRC-32 and size of each sheet's part, the shared strings and the styles) of the sheets in
        ``part_keys``; checked again after each sheet is parsed. WorkbookChanged otherwise."""
        try:
            fresh = cls.open(path, workers=0)
        except CrmSheetsError:
            raise _changed(path) from None
        fresh._expect = (tuple(seen), bool(date1904), dict(part_keys))
        if not fresh._same():
            fresh.close()
            raise _changed(path)
        return fresh

    def _same(self) -> bool:
        if self._expect is None:
            return True
        seen, date1904, keys = self._expect
        try:
            now = _stat(self.path)
        except OSError:
            return False
        return now == seen and self.date1904 == date1904 and all(self._part_keys.get(s) == k for s, k in keys.items())

    def part_key(self, sheet: str) -> Any:
        """What the sheet's cells depend on in the package, comparable across reads (None: unknown)."""
        return self._part_keys.get(sheet)

    def has_strays(self, sheet: str) -> bool:
        """Whether the sheet's parse left far-away cells unread."""
        return sheet in self._strays

    def table_locations(self) -> dict[str, tuple[str, int]]:
        """The Excel tables (ListObjects): folded name -> (sheet, 0-based header row)."""
        return dict(self._excel_tables)

    def read_ahead(self, sheets: list[str]) -> None:
        """Start parsing these sheets in worker threads, in this order (no-op without workers)."""
        if self._workers <= 0:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="crm-read")
        seen = set(self._cache) | set(self._pending) | set(self._queue)
        fresh = [s for s in dict.fromkeys(sheets) if s not in seen]
        self._order.extend(fresh)
        self._queue = _ahead([*self._queue, *fresh], self._size)
        self._largest = max(self._largest, max(map(self._size, fresh), default=0))
        self._top_up()

    def _size(self, sheet: str) -> int:
        """The bytes of the sheet's part, inflated (from the zip directory; 0 when unknown)."""
        key = self._part_keys.get(sheet)
        return key[0][2] if key and key[0] else 0

    def _top_up(self) -> None:
        while self._queue and len(self._held) < self._window:
            sheet = self._queue.pop(0)
            self._held.add(sheet)
            try:  # the extent check runs here: it holds the GIL, which the worker's parse does not need
                spread: bool | BaseException = self._spread(sheet)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # raised by the worker (or this thread), when this sheet is asked for
                spread = exc
            self._checked[sheet] = spread
            self._pending[sheet] = self._pool.submit(self._parse_in_worker, sheet, spread)  # type: ignore[union-attr]

    def _parse_in_worker(self, sheet: str, spread: bool | BaseException) -> tuple[list[list[Any]], list]:
        book = getattr(self._local, "book", None)
        if book is None:
            try:
                book = self._local.book = CalamineWorkbook.from_path(str(self.path))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                raise damaged(self.path, self._parts.get(sheet, ""), f"sheet {sheet!r}", exc) from None
            self._books.append(book)
        if isinstance(spread, BaseException):
            raise spread
        return self._parse(book, sheet, spread)

    def _spread(self, sheet: str) -> bool:
        """Whether the sheet's cells reach far beyond its table (checked before any parser sees it); failures name
        the sheet and part."""
        part = self._parts.get(sheet, "")
        try:
            return bool(part) and scan_part(self.path, part, self._zip()).too_spread()
        except (CrmSheetsError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # zip errors
            raise damaged(self.path, part, f"sheet {sheet!r}", exc) from None

    def _parse(self, book: CalamineWorkbook, sheet: str, spread: bool | None = None) -> tuple[list[list[Any]], list]:
        """Parse one sheet after checking how far its cells reach (``spread``: checked already); every failure names
        the sheet and part."""
        part = self._parts.get(sheet, "")
        if spread is None:
            spread = self._spread(sheet)
        try:
            if spread:
                return self._parse_trimmed(sheet, part)
            return _parse(book, sheet)
        except (CrmSheetsError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # calamine's XmlError, zip errors, a panic in native code
            raise damaged(self.path, part, f"sheet {sheet!r}", exc) from None

    def _zip(self) -> zipfile.ZipFile:
        """This thread's handle on the package, for scanning sheets (opened once, not once per sheet)."""
        zf = getattr(self._local, "zip", None)
        if zf is None:
            zf = self._local.zip = zipfile.ZipFile(self.path)
            self._zips.append(zf)
        return zf

    def _parse_trimmed(self, sheet: str, part: str) -> tuple[list[list[Any]], list]:
        """A sheet whose cells reach far beyond its table: read from a copy without the far-away cells."""
        trimmed = trim(read_part(self.path, part), sheet)
        left = scan(iter((trimmed.xml,)))  # what the fast reader will see, scanned again: the only guarantee that counts
        if left.grid > MAX_GRID:
            raise DamagedWorkbook(
                f"{self.path.name}: sheet {sheet!r} ({part}) has cells spread over {left.rows:,} rows and "
                f"{left.cols:,} columns, too far apart to be read",
                hint="delete the empty rows and columns between its table and the cells far below or right of it, and save again",
            )
        book = CalamineWorkbook.from_filelike(trimmed_package(self.path, part, trimmed.xml))
        try:
            parsed = _parse(book, sheet)
        finally:
            book.close()
        if trimmed.stray_count:
            self._strays[sheet] = (trimmed.strays, trimmed.stray_count, trimmed.last_row, trimmed.last_col)
        return parsed

    def strays(self) -> list[tuple[str, str, str]]:
        """(sheet, message, first cell) per sheet whose far-away cells were left unread: where and what to do. In the
        order the sheets were asked for, as when each is parsed when asked (whichever thread parsed it first)."""
        out = []
        order = {sheet: i for i, sheet in enumerate(self._asked)}
        for sheet in sorted(self._strays, key=lambda s: order.get(s, len(order))):
            refs, count, last_row, last_col = self._strays[sheet]
            shown = ", ".join(f"{sheet}!{r}" for r in refs) + (f" and {count - len(refs):,} more" if count > len(refs) else "")
            out.append((sheet, f"{shown}: {'a cell' if count == 1 else f'{count:,} cells'} far below or right of the table "
                               f"(which ends near row {last_row:,}, column {column_letter(last_col - 1)}) not read; "
                               "move what you need into the table and delete the rest", f"{quote_sheet(sheet)}!{refs[0]}"))
        return out

    def close(self) -> None:
        if self._pool is not None:
            for future in self._pending.values():
                future.cancel()
            self._pool.shutdown(wait=True)
            self._pool = None
        self._pending.clear()
        for book in self._books:
            book.close()
        self._books.clear()
        for zf in self._zips:
            zf.close()
        self._zips.clear()
        self._local = threading.local()

    def _get(self, sheet: str) -> tuple[list[list[Any]], list]:
        self._asked.setdefault(sheet)  # also when parsed ahead here (``_parse_ahead``): already in the cache
        if sheet not in self._cache:
            if sheet in self._failed:
                raise self._failed.pop(sheet)
            # asked for before a worker started it (Settings, Fields, the small sheets before the large ones): parsed
            # here, so not held against the window, which only counts sheets parsed ahead (held until forgotten, and
            # some are never: the window would stay full)
            here, spread = self._claim(sheet)
            future = None if here else self._pending.pop(sheet, None)
            if future is not None:
                while not future.done() and self._parse_ahead(sheet):
                    pass  # the time this thread would wait: the next sheets parsed here
                self._cache[sheet] = future.result()
                self._checked.pop(sheet, None)
            elif isinstance(spread, BaseException):
                raise spread
            else:
                self._cache[sheet] = self._parse(self.book, sheet, spread)
            self._top_up()
            if not self._same():  # a sheet read late (a lazy table): only from the very file read first
                self._cache.pop(sheet, None)
                raise _changed(self.path)
        return self._cache[sheet]

    def _claim(self, sheet: str) -> tuple[bool, bool | BaseException | None]:
        """Take a sheet no worker has started (still queued, or handed over and not started) to parse it in this
        thread: (taken, the outcome of its extent check, None when not checked yet)."""
        future = self._pending.get(sheet)
        if future is not None:
            if not future.cancel():  # started (or done) in a worker
                return False, None
            del self._pending[sheet]
            self._held.discard(sheet)
            return True, self._checked.pop(sheet)
        if sheet in self._queue:
            self._queue.remove(sheet)
            return True, None
        return False, None

    def _parse_ahead(self, asked: str) -> bool:
        """While this thread waits for a worker's parse of ``asked``: parse here the next sheet to be asked for after
        it that no worker has started, if it is small (under half the largest sheet's size, counting the sheets parsed
        so and not forgotten yet, which bounds the memory they hold). False when there is none."""
        order = self._order
        for sheet in order[order.index(asked) + 1:] if asked in order else ():
            if sheet in self._cache or sheet in self._failed or sheet in self._asked:
                continue
            if 2 * (sum(self._early.values()) + self._size(sheet)) > self._largest:
                return False
            here, spread = self._claim(sheet)
            if not here:
                continue
            self._early[sheet] = self._size(sheet)
            try:
                if isinstance(spread, BaseException):
                    raise spread
                self._cache[sheet] = self._parse(self.book, sheet, spread)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # raised when the sheet is asked for, as a worker's would be
                self._failed[sheet] = exc
            self._top_up()
            return True
        return False

    def forget(self, sheet: str) -> None:
        self._cache.pop(sheet, None)
        self._held.discard(sheet)
        self._early.pop(sheet, None)
        if self._pool is not None:
            self._top_up()

    def merged(self, sheet: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """The sheet's merged ranges as ((first row, first col), (last row, last col)), 0-based from A1."""
        return self._get(sheet)[1]

    def __getitem__(self, sheet: str) -> list[list[Any]]:
        return self._get(sheet)[0]


def _ahead(sheets: list[str], size: Any) -> list[str]:
    """The order in which ``sheets`` (in the order they will be asked for) are handed to the workers: the large ones
    (at least half the size of the largest) first, in their order, then the others. The small sheets asked for before a large one
    are parsed by the thread that asks for them, while a worker parses the large one (in that order, the thread
    that asks would mostly wait: first for the small sheets' parse, then for the large one's)."""
    largest = max(map(size, sheets), default=0)
    large = [s for s in sheets if 2 * size(s) >= largest]
    return large + [s for s in sheets if 2 * size(s) < largest]


def _changed(path: Path) -> WorkbookChanged:
    return WorkbookChanged(f"{path.name} changed on disk while this run was using it; nothing was written",
                           hint="wait until nobody is saving it and run again")


def _stat(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _parse(book: CalamineWorkbook, sheet: str) -> tuple[list[list[Any]], list]:
    """One sheet's rows and merged ranges. get_sheet_by_name parses every cell of the sheet, so it is
    called once per sheet (asking it again for the merged ranges would parse the sheet again)."""
    parsed = book.get_sheet_by_name(sheet)
    merged = list(parsed.merged_cell_ranges or ())
    return parsed.to_python(skip_empty_area=False), merged
