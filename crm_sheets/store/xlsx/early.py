"""The parse of a workbook's first data sheets, started while the command line is still loading.

A `crm-sheets run` that the record of an earlier run does not answer loads the command line and the jobs (pandas,
numpy, our modules: ~0.6 s on one core) before its store reads the workbook. calamine parses a sheet without the
GIL, so ``start`` parses the sheets the read will ask for first on the second core meanwhile, and the read takes
them (``claim``) only when the file is provably the one parsed: same size, modification time, date system, sheet
parts and part keys (the zip directory's CRC-32 and size of the sheet's part, shared strings and styles).

It checks as the read does, in the same order, before calamine sees a byte: the package (``open_package``, its
table parts), then each sheet's extent (``scan_part``). Any failure, or a sheet too spread out (the read trims it),
just ends the early parse there; the read then checks, parses and reports as it always does.

Which sheets: those the last read parsed (the table cache's), in the order the read hands them to its worker (the
large ones first), skipping a sheet the cache has by its part and the log tables it left unread; none when the cache is of a file of this size (most likely this file, which
the read takes whole from the cache) or there is no cache to say. At most ``AHEAD`` of them, the read-ahead's own
window (XlsxGrids), which they join when the read starts; a sheet is kept as calamine's parse (smaller than its rows
as Python values) until the read asks for it.
Only this module's imports run in its thread (no pandas; numpy for the extent check, which then lets the GIL go):
importing the same modules from two threads at once is best avoided. CRM_SHEETS_EARLY_READ=off (or CRM_SHEETS_READ_THREADS=0) turns it off.
"""
from __future__ import annotations

import io
import os
import pickle
import threading
from concurrent.futures import CancelledError, Future
from pathlib import Path
from typing import Any, Mapping

SWITCH_ENV = "CRM_SHEETS_EARLY_READ"
AHEAD = 2  # XlsxGrids' default window with one worker: the sheets it holds parsed ahead
# The table cache's file starts with this line (store/core/cache.py). Read here without
# importing that module (it loads pandas); tests/test_early.py reads a cache a real run wrote.
_CACHE_MAGIC = b"crm-sheets table cache\n"
_CACHE_ENTRY = ("crm_sheets.store.core.cache", "Entry")

_current: Early | None = None  # the early parse of this command (quick.main stops it when the command ends)


def enabled() -> bool:
    if os.environ.get(SWITCH_ENV, "").strip().lower() in ("0", "off", "no", "false"):
        return False
    threads = os.environ.get("CRM_SHEETS_READ_THREADS", "").strip()
    if threads.isdigit():
        return int(threads) > 0
    return (os.cpu_count() or 1) > 1


def start(path: str | os.PathLike) -> None:
    """Start parsing ``path``'s first data sheets in a thread (for a run whose read is certain or very likely)."""
    global _current
    stop()
    if enabled():
        _current = Early(Path(path))
        _current.thread.start()


def stop() -> None:
    """Forget this command's early parse (its thread ends after the sheet it is parsing, if any)."""
    global _current
    early, _current = _current, None
    if early is not None:
        early.stop()


def claim(path: Path, seen: Any, parts: Mapping[str, str], keys: Mapping[str, Any], date1904: bool) -> dict[str, EarlySheet]:
    """The sheets parsed early for the file ``path`` as a read opening it sees it now: ``seen`` (its size and
    modification time before the read opened it), the worksheet part of each sheet, their part keys and the date
    system. Only sheets whose part and key are the same are given; {} for another file, a changed one, or an early
    parse still looking at the package. Once per early parse: what is not given here is dropped."""
    global _current
    early, _current = _current, None
    if early is None:
        return {}
    given = early.take(path, seen, parts, keys, date1904)
    if not given:
        early.stop()
    return given


def part_keys(pkg: Any, parts: Mapping[str, str]) -> dict[str, Any]:
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


def grid_of(parsed: Any) -> tuple[list[list[Any]], list]:
    """A sheet parsed by calamine as the read takes it: its rows of values from A1 and its merged ranges."""
    merged = list(parsed.merged_cell_ranges or ())
    return parsed.to_python(skip_empty_area=False), merged


class EarlySheet:
    """One sheet parsed early, as the read-ahead holds a sheet: ``result()`` waits for the parse and gives the
    sheet's grid (rows, merged ranges), or None when the early parse did not get it (the read parses it itself)."""

    def __init__(self, future: Future):
        self._future: Future | None = future

    def result(self) -> tuple[list[list[Any]], list] | None:
        future, self._future = self._future, None  # calamine's parse is let go once it is rows
        if future is None or future.cancelled():
            return None
        try:
            parsed = future.result()
        except CancelledError:  # stopped meanwhile
            return None
        return grid_of(parsed) if parsed is not None else None

    def done(self) -> bool:
        future = self._future
        return future is None or future.done()

    def cancel(self) -> bool:
        """As a worker's parse that started: not taken back (the read waits for it, as for a worker's)."""
        return False

    def drop(self) -> None:
        """Let the parse go (the read parses the sheet itself if it asks for it)."""
        self._future = None


class Early:
    """The early parse of one workbook file, in its own thread (``_run``)."""

    def __init__(self, path: Path):
        self.path = path
        self.thread = threading.Thread(target=self._run, name="crm-early-read", daemon=True)
        self._lock = threading.Lock()
        self._stopped = False
        self._looked = False  # the package was checked and the sheets chosen (what ``take`` compares)
        self._seen: tuple[int, int, int] | None = None  # size, mtime_ns, inode before the package was opened
        self._parts: dict[str, str] = {}
        self._keys: dict[str, Any] = {}
        self._date1904 = False
        self._sheets: dict[str, Future] = {}  # in the order they are parsed

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for future in self._sheets.values():
                future.cancel()
            self._sheets = {}

    def take(self, path: Path, seen: Any, parts: Mapping[str, str], keys: Mapping[str, Any],
             date1904: bool) -> dict[str, EarlySheet]:
        with self._lock:
            if self._stopped or not self._looked or self._seen is None or seen is None:
                return {}
            try:
                same_file = os.path.samefile(path, self.path)
            except OSError:
                return {}
            if not same_file or tuple(seen) != self._seen[:2] or bool(date1904) != self._date1904:
                return {}
            return {sheet: EarlySheet(future) for sheet, future in self._sheets.items()
                    if parts.get(sheet) == self._parts.get(sheet) and keys.get(sheet) == self._keys.get(sheet)}

    def _run(self) -> None:
        try:
            self._look()
        except Exception:  # noqa: BLE001  the read checks the file itself and says what is wrong
            self.stop()
            return
        for sheet, future in list(self._sheets.items()):
            if not future.set_running_or_notify_cancel():
                continue
            try:
                parsed = self._parse(sheet)
            except Exception:  # noqa: BLE001  as above: the read parses this sheet (and the rest) itself
                parsed = None
            if parsed is not None and not self._unchanged():  # saved meanwhile: not the file the keys are of
                parsed = None
            future.set_result(parsed)
            if parsed is None:
                self.stop()  # the sheets after it were never checked: the read does it in its order
                return

    def _look(self) -> None:
        """Choose the sheets to parse (none when the table cache has this very file), then check the package as the
        read does (open_package, then its table parts) and key its sheets."""
        from crm_sheets.store.xlsx.package import open_package

        seen = _stat(self.path)
        last = _last_read(self.path, seen)
        if not last:
            return
        with open_package(self.path) as pkg:
            parts = {sheet.name: sheet.part for sheet in pkg.sheets if sheet.part}
            for sheet in pkg.sheets:
                if sheet.part:
                    pkg.tables(sheet)  # a damaged table part fails the read before any sheet is parsed
            keys = part_keys(pkg, parts)
            date1904 = bool(pkg.date1904)
        # not a sheet the cache has by its part (store/core/cache.py ``reusable_by_part``): the read does not parse it
        chosen = _large_first([sheet for sheet, part, strays in last
                               if sheet in parts and (strays or part != keys.get(sheet))], keys)
        with self._lock:
            if self._stopped:
                return
            self._seen, self._parts, self._keys, self._date1904 = seen, parts, keys, date1904
            self._sheets = {sheet: Future() for sheet in chosen[:AHEAD]}
            self._looked = True

    def _parse(self, sheet: str) -> Any:
        """calamine's parse of one sheet after its extent check (None for a sheet the read trims)."""
        from python_calamine import CalamineWorkbook

        from crm_sheets.store.xlsx.extent import scan_part

        if self._stopped or scan_part(self.path, self._parts[sheet]).too_spread():
            return None
        book = CalamineWorkbook.from_path(str(self.path))
        try:
            return book.get_sheet_by_name(sheet)  # without the GIL: the command line goes on loading
        finally:
            book.close()

    def _unchanged(self) -> bool:
        try:
            return _stat(self.path) == self._seen
        except OSError:
            return False


def _large_first(sheets: list[str], keys: Mapping[str, Any]) -> list[str]:
    """The sheets in the order the read hands them to its worker (grid.py ``_ahead``): the large ones (at least half
    the size of the largest part) first, in their order, then the others."""
    def size(sheet: str) -> int:
        key = keys.get(sheet)
        return key[0][2] if key and key[0] else 0

    largest = max(map(size, sheets), default=0)
    return [s for s in sheets if 2 * size(s) >= largest] + [s for s in sheets if 2 * size(s) < largest]


def _stat(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino


def _last_read(path: Path, seen: tuple[int, int, int]) -> list[tuple[str, Any, bool]]:
    """The sheets the last read parsed, in its order, as the table cache has them: (sheet, part key, whether cells
    far away were left unread), without the log tables it left unread (store/core/read.py ``_lazy_tables``); []
    when there is no readable cache, or the cache is of a file of this size: most likely this very file, whose
    tables the read takes whole from the cache (not hashed here: an edit that keeps the size only goes without
    the early parse)."""
    from crm_sheets.store.state import StoreState

    index = _cache_index(StoreState.for_file(path).tables_cache)
    if index is None:
        return []
    file_key, order, entries = index
    if not isinstance(file_key, tuple) or not file_key or file_key[0] == seen[0]:
        return []
    out: dict[str, tuple[str, Any, bool]] = {}
    for name in order:
        entry = entries.get(name)
        sheet = getattr(entry, "sheet", None)
        if entry is None or getattr(entry, "lazy", None) is not None or not isinstance(sheet, str) or sheet in out:
            continue
        out[sheet] = (sheet, getattr(entry, "part", None), bool(getattr(entry, "strays", False)))
    return list(out.values())


class _CacheEntry:
    """What is read here of a table cache's entry (its sheet, part key, strays and lazy marks); anything else it
    holds is let go."""

    def __init__(self, sheet: Any = None, context: Any = None, part: Any = None, content: Any = None, blob: Any = None,
                 note: Any = None, strays: Any = False, lazy: Any = None):
        self.sheet, self.part, self.strays, self.lazy = sheet, part, strays, lazy

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.__init__(**{k: state.get(k) for k in ("sheet", "part", "strays", "lazy")})


class _CacheIndex(pickle.Unpickler):
    """Unpickles a table cache's payload as plain values: its entries as _CacheEntry, any other class refused (a
    cache is only a hint here, read without its user's key; nothing in it runs)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == _CACHE_ENTRY:
            return _CacheEntry
        raise pickle.UnpicklingError(f"{module}.{name} is not read here")


def _cache_index(path: Path) -> tuple[Any, list, dict] | None:
    """(the file key, the table order, the entries) of a table cache file, or None."""
    try:
        # read whole, then unpickled from memory: unpickling from the file reads it a frame at a time, and each read
        # lets the GIL go and waits to get it back from the thread loading the command line (hundreds of times)
        data = io.BytesIO(path.read_bytes())
        if data.read(len(_CACHE_MAGIC)) != _CACHE_MAGIC:
            return None
        payload = _CacheIndex(data).load()  # the pickle ends before the seal
        order, entries = payload.get("order"), payload.get("entries")
        if not isinstance(order, list) or not isinstance(entries, dict):
            return None
        return payload.get("file"), order, entries
    except Exception:  # noqa: BLE001  no hint: no early parse
        return None
