"""The typed-table cache: the Tables a read made, kept beside the workbook's state, so the next read parses only
what changed. Owns the cache file (its format, its seal, its keys) and the three ways a table is found again.

An optimisation only: delete the file and every read gives the same Tables. A file that is not whole, not
sealed by this user's key (see ``cache_key``), of another format, written by other reading code, or keyed by
other inputs is ignored, never trusted. Tables are found again:
- whole: the file's bytes are those the cache was made from (its SHA-256): no part is opened at all;
- by part: the sheet's part, the shared strings and the styles kept their bytes (the zip directory's CRC-32
  and size) and what the sheet is read with (schema, settings, lists, language, ID sequence) is the same;
- by content: after a save that rewrote every part (Excel, LibreOffice), the table's cells as parsed are the
  same as last time (digests of its layout and of each column's cells): the parse is paid, the typing is not;
- by columns: the same, with some columns' cells changed (a person edited a few leads): only those columns are
  typed again, the others are taken from the cached table (``retype``).
After our own write, a table the write changed keeps the digests of the columns it holds as they were read
(``_carried``); the read gives the others (and every column of a table whose rows the write moved, archived or
appended) the digests of the cells as the writer laid them out, where those cells type back to the table exactly
(read.py ``_written_content``). So the next read after a person's save types only the columns either changed.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import mmap
import os
import pickle
import secrets
import stat
import struct
import sys
import tempfile
from copy import copy
from dataclasses import dataclass, fields as dc_fields, replace
from operator import attrgetter
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping

from crm_sheets.model.lazy import is_unread

FORMAT = 4  # 4: the tables' bytes out of band after the payload (3: inside it; 2: object columns pickled as they are)
CACHE_ENV = "CRM_SHEETS_TABLE_CACHE"  # "0"/"off": no cache (every read parses everything)
_MAGIC = b"crm-sheets table cache\n"
_SEAL = 32  # bytes of the keyed BLAKE2b at the end of the file
# The modules whose code decides what a read gives: a change in any of them is another cache.
_READ_MODULES = (
    "crm_sheets/store/core/read.py", "crm_sheets/store/core/cache.py", "crm_sheets/store/core/grid.py",
    "crm_sheets/store/xlsx/grid.py", "crm_sheets/store/xlsx/extent.py", "crm_sheets/store/records.py",
    "crm_sheets/store/mapping.py", "crm_sheets/model/values.py", "crm_sheets/model/tables.py",
    "crm_sheets/model/schema.py", "crm_sheets/model/findings.py", "crm_sheets/adopt/sniff.py",
    "crm_sheets/model/lazy.py", "crm_sheets/model/column_read.py", "crm_sheets/store/core/header.py",
)
_code: str | None = None


def enabled() -> bool:
    return os.environ.get(CACHE_ENV, "").strip().lower() not in ("0", "off", "no", "false")


def code_fingerprint() -> str:
    """What the reading code is: its source files, the templates and the libraries that type values."""
    global _code
    if _code is None:
        import numpy
        import pandas
        import python_calamine

        root = Path(__file__).resolve().parents[3]
        h = hashlib.sha256(f"{FORMAT} {sys.version} {numpy.__version__} {pandas.__version__} "
                           f"{getattr(python_calamine, '__version__', '')}".encode())
        for rel in _READ_MODULES:
            try:
                h.update((root / rel).read_bytes())
            except OSError:
                h.update(rel.encode())
        from crm_sheets.model.schema import TEMPLATES_DIR

        for p in sorted(TEMPLATES_DIR.glob("*.yaml")) if TEMPLATES_DIR.is_dir() else ():
            h.update(p.name.encode() + p.read_bytes())
        _code = h.hexdigest()
    return _code


def cache_key() -> bytes:
    """This user's secret key, in their own state folder (not beside a shared workbook): a cache file is only
    trusted when sealed with it, so nobody who can write the workbook's folder can plant one (a cache holds
    pickled data)."""
    from crm_sheets.store.state import user_state_dir

    path = user_state_dir() / "table-cache.key"
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key[:32]
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    try:
        os.link(tmp, path)  # first writer wins: two processes never end up with two keys
    except FileExistsError:
        pass
    except OSError:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()[:32]


def digest(*values: Any) -> str:
    """A digest of plain values (grids of cells, keys): equal digests mean equal values. Pickled without a memo
    (a grid holds no cycles): 3-5 times faster than a plain dump, and the bytes depend only on the values."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.fast = True
    pickler.dump(values)
    return hashlib.blake2b(out.getbuffer(), digest_size=20).hexdigest()


def column_digest(cells: Any) -> str:
    """A digest of one column's cells (a list or an object array): equal digests mean equal cells. A column of
    texts only (most are) is hashed as its texts joined by NUL, which no cell's text holds (XML cannot carry it;
    a column with one is pickled): about twice as fast as pickling it, which walks the column's objects across
    memory. The kinds of digest never meet: a joined column's starts with "s", a column of dates' with "d"
    (``_dates_digest``). The joined text is made and hashed ``_JOINED`` texts at a time (the same bytes hashed):
    a column of 200,000 notes joined whole held tens of MB twice (the text, and its UTF-8) under the cache's fill."""
    values = cells.tolist() if hasattr(cells, "tolist") else list(cells)
    h = hashlib.blake2b(str(len(values)).encode(), digest_size=20)
    h.update(b"\x00")
    for start in range(0, len(values), _JOINED):
        part = values[start:start + _JOINED]
        try:
            text = "\x00".join(part)
        except TypeError:  # numbers, dates, booleans among them
            return _dates_digest(values)
        if text.count("\x00") != len(part) - 1:  # a NUL inside a text
            return digest(values)
        if start:
            h.update(b"\x00")
        h.update(text.encode("utf-8", "surrogatepass"))
    return "s" + h.hexdigest()


_JOINED = 8192


_KINDS = {str: 0, date: 1, datetime: 2}


def _dates_digest(values: list) -> str:
    """``column_digest`` of a column of dates (with texts, most often the '' of empty cells): the kind of each cell,
    its texts joined as a text column's, and the dates and times as microseconds since 1970 (``_instants``), about
    thirty times faster than pickling each date object. Any other column is pickled. Its digests start with "d":
    they never meet the other kinds'."""
    kinds = list(map(type, values))
    found = set(kinds)
    if not found <= _KINDS.keys() or found == {str}:
        return digest(values)
    texts = [v for v, k in zip(values, kinds) if k is str] if str in found else []
    text = "\x00".join(texts)
    if text.count("\x00") != max(len(texts) - 1, 0):
        return digest(values)
    instants = _instants([v for v, k in zip(values, kinds) if k is not str] if texts else values, found)
    if instants is None:  # a date and time with its time zone, or on the second of two equal wall times (fold)
        return digest(values)
    encoded = text.encode("utf-8", "surrogatepass")
    h = hashlib.blake2b(b"%d\x00%d\x00" % (len(values), len(encoded)), digest_size=20)
    h.update(bytes(map(_KINDS.__getitem__, kinds)))
    h.update(encoded)
    h.update(instants)
    return "d" + h.hexdigest()


def _instants(moments: list, kinds: set) -> bytes | None:
    """The dates and naive dates and times ``moments`` (of the types ``kinds`` and str) as microseconds since 1970 (8
    bytes each), converted by pandas in its own code (a date as its midnight: the kinds tell them apart); None for a
    time zone or a ``fold`` (kept apart by pickling the column), which the conversion would lose."""
    import numpy as np
    import pandas as pd

    if datetime in kinds and any(map(_FOLD, moments if date not in kinds else (m for m in moments if type(m) is datetime))):
        return None
    try:
        at = pd.DatetimeIndex(pd.to_datetime(np.fromiter(moments, dtype=object, count=len(moments)), cache=False))
    except (TypeError, ValueError, OverflowError):
        return None
    if at.tz is not None or len(at) != len(moments) or at.hasnans:
        return None
    return at.as_unit("us").asi8.tobytes()


_FOLD = attrgetter("fold")


def context_key(*values: Any) -> str:
    """A key of what a sheet is read with (schema objects, settings): their repr, hashed."""
    return hashlib.blake2b(repr(values).encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()


class _Frame:
    """A Table's DataFrame as pickled in the cache: its index and columns as arrays. An object column is pickled
    as it is: the reader makes equal texts of a column one object (model/column_read.shared_strings), and
    pickle's memo writes a repeated object once and loads it as one object again, so a column of 100,000
    cities is stored and loaded as a few hundred texts. (Factorising each column first, as this cache once did,
    found the same sharing again at twice the cost of the dump.)"""

    def __init__(self, df: Any):
        self.index = df.index.to_numpy(dtype=object)
        self.index_name = df.index.name
        self.columns = list(df.columns)
        self.data = [df[c].to_numpy() if df[c].dtype == object else df[c].array for c in df.columns]

    def frame(self) -> Any:
        import pandas as pd

        index = pd.Index(self.index, dtype=object, name=self.index_name)
        data = {c: pd.Series(v, index=index, dtype=v.dtype, copy=False) for c, v in zip(self.columns, self.data)}
        return pd.DataFrame(data, index=index) if data else pd.DataFrame(index=index)


def _packed(table: Any) -> Any:
    packed = copy(table)
    packed.df = _Frame(table.df)
    return packed


def _dump_table(table: Any) -> bytes:
    return pickle.dumps(_packed(table), protocol=5)


def _dump_table_into(table: Any, f: Any) -> None:
    """``_dump_table``'s bytes written to the file ``f`` (the pickler's buffer holds a frame at a time)."""
    pickle.dump(_packed(table), f, protocol=5)


def _load_table(blob: bytes) -> Any:
    table = pickle.loads(blob)
    if isinstance(table.df, _Frame):
        table.df = table.df.frame()
    return table


def _carried(entry: Entry, table: Any, load: Any = _load_table) -> Any:
    """For a table our write changed (``table``, as written), read with the context of ``entry`` (the run's own read
    of the sheet): the content key of that read with the digests of the columns the table still holds as that read
    typed them (same rows, IDs and layout; same values, unreadable cells and typed text), or None. A column whose
    cells the next read finds with that digest types as the read typed it, so as ``table`` holds it; the columns
    the write changed have no digest and are typed again (``retype``)."""
    if not entry.content or not entry.blob:
        return None
    try:
        read = load(entry.blob)
        if (read.rows != table.rows or read.columns != table.columns or read.extra_columns != table.extra_columns
                or read.header_row != table.header_row or read.assigned_ids != table.assigned_ids
                or read.next_id != table.next_id or not read.df.index.equals(table.df.index)
                or list(read.df.columns) != list(table.df.columns)):
            return None
        shape, columns = entry.content
        before, after = by_field(read.invalid, read.typed_text), by_field(table.invalid, table.typed_text)
        kept = {}
        for f, d in columns.items():
            if f != "id" and (f not in read.df.columns or str(read.df[f].dtype) != str(table.df[f].dtype)
                              or not read.df[f].equals(table.df[f]) or before.get(f) != after.get(f)):
                continue
            kept[f] = d
        return shape, kept
    except Exception:
        return None


def by_field(invalid: Mapping, typed_text: Mapping) -> dict[str, tuple[dict, dict]]:
    """A table's unreadable cells and typed text, by field."""
    out: dict[str, tuple[dict, dict]] = {}
    for k, (key, raw) in enumerate((*invalid.items(), *typed_text.items())):
        out.setdefault(key[1], ({}, {}))[k >= len(invalid)][key] = raw
    return out


class Kept:
    """A table a keep-only read found in the cache, left pickled: only what the read and ``save`` ask of it.
    After a run's write, unpickling the tables of the sheets it left alone held them twice (the run's own
    are still alive), for nothing: they go back into the cache as the same bytes."""

    __slots__ = ("sheet", "schema")

    def __init__(self, sheet: str):
        self.sheet = sheet
        self.schema: Any = None


class _SealedWriter:
    """A file that feeds what is written to it to the seal as well. A table's bytes that lie in a file's mapping (a
    table pickled into a file of its own by ``_Filling``, or a table the cache file being replaced holds) are written
    a slice at a time, each slice's pages let go once written."""

    def __init__(self, f: Any, seal: Any):
        self.f = f
        self.seal = seal

    def write(self, data: Any) -> int:
        self.seal.update(data)
        return self.f.write(data)

    def write_blob(self, blob: Any, mapped: Any = None, offset: int = 0) -> None:
        """``blob``'s bytes; ``mapped``: the mapping they lie in, at ``offset`` (its pages go once written)."""
        with memoryview(blob) as view:
            for start in range(0, len(view), _SLICE):
                with view[start:start + _SLICE] as part:
                    self.seal.update(part)
                    self.f.write(part)
                    if mapped is not None:
                        _let_go(mapped, offset + start, len(part))


_SLICE = 4 * 1024 * 1024


def _let_go(mapped: Any, start: int, length: int) -> None:
    """The pages of a slice of a file's mapping, read once, out of the process's memory (they stay in the file)."""
    first = start - start % mmap.PAGESIZE  # (the call wants a page's start; a page shared with a neighbour comes
    try:  # back from the file when read again)
        mapped.madvise(mmap.MADV_DONTNEED, first, start + length - first)
    except (AttributeError, OSError, ValueError):
        pass  # (no madvise here: the pages go when the mapping is closed)


class _Filling(pickle.Pickler):
    """Pickles a cache's payload, each table's bytes (an entry's blob) out of band: the payload's own pickle is small,
    and the tables' bytes follow it in the file one after another (``TableCache.save``), so a load maps them from the
    file instead of copying each out of the file's bytes (``TableCache._load``). A table not yet pickled (``tables``:
    id of its Entry -> Table) is pickled as its entry is: into a temporary file of its own, mapped, so one table's
    bytes are never held in memory whole (at 100k sample leads ~100 MB of them, and three times that at 300k; the
    pickle's buffer grows to one and a half times a table's bytes). Without a memo: the payload is a tree of plain
    values (no cycles).

    ``blobs``: (bytes, mapping they lie in or None, offset in it) of each blob, in the order of the file."""

    def __init__(self, f: Any, tables: dict[int, Any], spans: Mapping[int, tuple[Any, int]]):
        self.blobs: list[tuple[Any, Any, int]] = []
        super().__init__(f, protocol=5, buffer_callback=self._out_of_band)
        self.fast = True
        self._tables = tables
        self._spans = spans  # id of a blob the cache file holds -> (its mapping, offset)
        self._made: list[tuple[Any, Any, int]] = []

    def _out_of_band(self, buffer: Any) -> bool:
        self.blobs.append(self._made.pop(0))
        return False

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is Entry:
            if id(obj) in self._tables:
                blob = self._blob(self._tables.pop(id(obj)))
                where = (blob, blob if type(blob) is mmap.mmap else None, 0)
            else:
                blob = obj.blob
                where = (blob, *self._spans.get(id(blob), (None, 0)))
            if len(blob):
                self._made.append(where)
                blob = pickle.PickleBuffer(blob)
            else:
                blob = b""
            return Entry, (obj.sheet, obj.context, obj.part, obj.content, blob, obj.note, obj.strays, obj.lazy)
        return NotImplemented

    @staticmethod
    def _blob(table: Any) -> Any:
        """The table's pickle (``_dump_table``'s bytes), as the mapped file it was written to (else as bytes)."""
        try:
            with tempfile.TemporaryFile(prefix="crm-sheets-table-") as f:
                _dump_table_into(table, f)
                f.flush()
                if not f.tell():
                    return b""
                return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # (open on its own after the file's close)
        except (OSError, ValueError):  # no room for it, or no mapping of files here: pickled in memory
            return _dump_table(table)


def _only_ours(st: os.stat_result) -> bool:
    """Whether nobody but this user can change the file ``st`` describes while it is open (a regular file of theirs
    that neither their group nor others may write): its bytes, sealed once, can then be read from it as needed."""
    return (hasattr(os, "geteuid") and stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


@dataclass
class Entry:
    """One table as a read made it, and what it was made from."""

    sheet: str
    context: str  # context_key of what the sheet is read with
    part: Any  # the sheet's part key (zip CRC-32 and sizes), or None
    # (digest of the table's layout, {field: digest of its column's cells}), see read.py ``_content``, or None
    content: Any
    blob: bytes  # the pickled Table
    note: str | None = None  # what the read said of the sheet (rows that are not records)
    strays: bool = False  # cells far away were left unread: never reused by part (the parse says where)
    # A lazy table the read left unread (model/lazy.py): (its header row hint,), no blob. Never taken by part or
    # content; ``whole`` gives it as a lazy table again (read from the file when something asks).
    lazy: Any = None


class TableCache:
    """The cache file of one workbook: loaded once, asked during a read, saved after it."""

    def __init__(self, path: Path, key: bytes | None = None):
        self.path = Path(path)
        self._key = key
        self._old: dict[str, Any] | None = None
        self._loaded = False
        self._spans: dict[int, tuple[Any, int]] = {}  # id of a table's bytes the file holds -> (its mapping, offset)
        self.found: dict[str, Entry] = {}  # what this read found again or made, by table name
        # table name -> "whole" | "part" | "content" | "columns" | "given": how each table was found
        self.hits: dict[str, str] = {}
        # table name -> the fields this read typed again ("columns"), or None: typed whole (a table made here)
        self.typed: dict[str, list[str] | None] = {}
        self.problem: str | None = None  # why the file on disk was ignored (for tests and --debug)
        self.schemas: dict[str, bytes] = {}  # built-in templates this read loaded, pickled
        # True for a read whose tables only go back into the cache (XlsxStore.remember_tables): a table found
        # again is given as a Kept (its sheet and schema), never unpickled; its blob is saved as it was
        self.keep_only = False
        # After our own write (XlsxStore.remember_tables): table name -> (the table as the write left it, how:
        # written.tables_as_written), taken instead of parsing its sheet (see ``table``)
        self.given: dict[str, tuple[Any, str]] = {}

    @classmethod
    def for_state(cls, state: Any) -> TableCache | None:
        """The cache of a store's state (None when CRM_SHEETS_TABLE_CACHE turns it off)."""
        if not enabled():
            return None
        return cls(state.tables_cache)

    def _seal(self, data: bytes | memoryview) -> bytes:
        return self._sealer(data).digest()

    def _sealer(self, data: bytes | memoryview = b"") -> Any:
        if self._key is None:
            self._key = cache_key()
        return hashlib.blake2b(data, key=self._key, digest_size=_SEAL)

    # -- the file -------------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any] | None:
        if self._loaded:
            return self._old
        self._loaded = True
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.problem = f"unreadable: {exc}"
            return None
        try:
            with f:
                body, mapped = self._sealed(f)
            at = len(_MAGIC)
            n_head, n_blobs = struct.unpack_from(">QQ", body, at)
            at += 16
            if at + 8 * n_blobs + n_head > len(body):
                raise ValueError("another format")
            sizes = struct.unpack_from(f">{n_blobs}Q", body, at)
            at += 8 * n_blobs
            head = body[at:at + n_head]
            at += n_head
            blobs = []
            for size in sizes:
                blobs.append(body[at:at + size])
                if mapped is not None:
                    self._spans[id(blobs[-1])] = (mapped, at)
                at += size
            if at != len(body):
                raise ValueError("another format")
            # each table's bytes as a view of the file's (mapped, when only this user can change the file: read from
            # it as a table is asked for, never copied): at 100k leads ~100 MB, which a copy held beside the file's
            old = pickle.loads(head, buffers=blobs)
            if not isinstance(old, dict) or old.get("format") != FORMAT:
                raise ValueError("another format")
            if old.get("code") != code_fingerprint():
                raise ValueError("made by other reading code")
            self._old = old
        except Exception as exc:  # a cache is never worth failing a read for
            self.problem = f"{type(exc).__name__}: {exc}"
            self._old = None
            self._spans = {}
        return self._old

    def _unpickled(self, blob: Any) -> Any:
        """The table pickled as ``blob``; the pages of a blob mapped from the file let go once read (they stay in the
        file: kept, the blob is written from there again)."""
        table = _load_table(blob)
        where = self._spans.get(id(blob))
        if where is not None:
            _let_go(where[0], where[1], len(blob))
        return table

    def _sealed(self, f: Any) -> tuple[memoryview, Any]:
        """The cache file's bytes before its seal, once the seal is found right (ValueError otherwise), and the
        mapping they lie in (None: read into memory). A file only this user can change (``_only_ours``) is sealed a
        slice at a time and mapped: nobody can change its bytes between the check and their use; any other is read
        whole first (then the bytes checked are those used)."""
        st = os.fstat(f.fileno())
        if st.st_size < len(_MAGIC) + _SEAL + 16:
            raise ValueError("not a table cache")
        if not _only_ours(st):
            return self._sealed_whole(f), None
        size = st.st_size - _SEAL
        sealer = self._sealer()
        piece = memoryview(bytearray(min(_SLICE, size)))
        left, start = size, b""
        while left:
            n = f.readinto(piece[:min(left, len(piece))])
            if not n:
                raise ValueError("cut short while read")
            if not start:
                start = bytes(piece[:len(_MAGIC)])
            sealer.update(piece[:n])
            left -= n
        if start != _MAGIC:
            raise ValueError("not a table cache")
        if not hmac.compare_digest(sealer.digest(), f.read(_SEAL)):
            raise ValueError("not sealed by this user's key (damaged, cut short, or someone else's)")
        try:
            mapped = mmap.mmap(f.fileno(), st.st_size, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # a file system that maps no files: read whole (and its seal checked again)
            f.seek(0)
            return self._sealed_whole(f), None
        return memoryview(mapped)[:size], mapped

    def _sealed_whole(self, f: Any) -> memoryview:
        """The cache file's bytes before its seal, read whole, once the seal is found right (ValueError otherwise)."""
        data = f.read()
        body = memoryview(data)[: len(data) - _SEAL]
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _SEAL + 16:
            raise ValueError("not a table cache")
        if not hmac.compare_digest(self._seal(body), data[len(data) - _SEAL:]):
            raise ValueError("not sealed by this user's key (damaged, cut short, or someone else's)")
        return body

    def save(self, file_key: Any, tables: Any, schema_key: str | None) -> None:
        """Keep the tables just read (before any job changes them), for the file whose key is ``file_key``.
        Never raises: a cache that cannot be written is no cache."""
        from crm_sheets.heap import trim

        trim()  # what the read let go (after a run's write: the cache file it read) goes back before the pickling
        try:
            entries, unpickled = {}, {}
            for name, table in tables.tables.items():
                entry = self.found.get(name)
                if entry is None or entry.sheet != table.sheet:
                    continue
                if entry.lazy is not None and not is_unread(table):  # read since: kept as a table made here
                    entry = Entry(entry.sheet, entry.context, entry.part, None, b"")
                elif entry.lazy is not None:
                    entries[name] = entry  # unread: kept as such, never as an empty table
                    continue
                if not entry.blob:
                    unpickled[id(entry)] = table  # pickled into the file as the entry is written (_Filling)
                entries[name] = entry
            book = {f.name: getattr(tables, f.name) for f in dc_fields(tables) if f.name != "tables"}
            payload = {
                "format": FORMAT, "code": code_fingerprint(), "file": file_key, "schema": schema_key,
                "book": pickle.dumps(book, protocol=5), "order": list(tables.tables),
                "entries": entries, "schemas": self.schemas,
            }
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            try:
                # The file: magic, the sizes of the payload's pickle and of each table's bytes, the pickle, the
                # tables' bytes (out of band: _Filling), the seal. Written as it is made and sealed as it goes: the
                # cache of a 100k workbook is ~100 MB. Only this user may write it (``_only_ours``: a load then maps
                # the tables' bytes from it instead of holding the whole file).
                head = io.BytesIO()
                filling = _Filling(head, unpickled, self._spans)
                filling.dump(payload)
                filling = filling.blobs
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
                with os.fdopen(fd, "wb") as f:
                    sink = _SealedWriter(f, self._sealer())
                    sink.write(_MAGIC + struct.pack(f">QQ{len(filling)}Q", head.tell(), len(filling),
                                                    *(len(memoryview(b)) for b, _m, _at in filling)))
                    sink.write(head.getbuffer())
                    head = None
                    while filling:
                        sink.write_blob(*filling.pop(0))
                    f.write(sink.seal.digest())
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)
        except Exception as exc:
            self.problem = f"not saved: {type(exc).__name__}: {exc}"

    def forget(self) -> None:
        """Delete the cache file (a read that failed, or the caller knows better)."""
        try:
            self.path.unlink()
        except OSError:
            pass

    # -- finding tables again ---------------------------------------------------------------------------

    def whole(self, file_key: Any, schema_key: str | None, source: str, lazy: Any = None) -> Any:
        """The Tables of a file whose bytes are those the cache was made from, or None. A table the read left
        unread is given as ``lazy(tables, name, sheet, hint, part key)`` makes it (None without ``lazy``)."""
        from crm_sheets.model.tables import Tables

        old = self._load()
        if old is None or old.get("file") != file_key or old.get("schema") != schema_key:
            return None
        try:
            book = pickle.loads(old["book"])
            if Path(str(book.get("source", ""))).name != Path(source).name:
                return None  # the reader's notes name the file: a workbook renamed is read again
            entries: Mapping[str, Entry] = old["entries"]
            if list(entries) != [n for n in old["order"] if n in entries] or set(entries) != set(old["order"]):
                return None
            if lazy is None and any(e.lazy is not None for e in entries.values()):
                return None
            tables = {}
            for name in old["order"]:
                if entries[name].lazy is not None:
                    tables[name] = None  # made below, once the Tables it belongs to are
                    continue
                table = self._unpickled(entries[name].blob)
                table.schema = book["schema"].tables.get(name, table.schema)
                tables[name] = table
            book["source"] = source
            made = Tables(tables=tables, **book)
            for name, entry in entries.items():
                if entry.lazy is not None:
                    tables[name] = lazy(made, name, entry.sheet, entry.lazy[0], entry.part)
            self.found = dict(entries)
            self.hits = {name: "whole" for name in tables}
            return made
        except Exception as exc:
            self.problem = f"{type(exc).__name__}: {exc}"
            return None

    def reusable_by_part(self, sheet: str, part: Any) -> bool:
        """Whether a table of this sheet may come back by its part key (to parse only the other sheets ahead)."""
        old = self._load()
        if any(t.sheet == sheet and not is_unread(t) for t, _how in self.given.values()):
            return True  # given (parsed only if ``table`` turns it down; an unread table is no table to give)
        return part is not None and old is not None and any(
            e.sheet == sheet and e.part == part and not e.strays and e.lazy is None for e in old["entries"].values())

    def table(self, name: str, sheet: str, context: str, *, part: Any = None, content: Any = None) -> Any:
        """The cached Table ``name`` read from ``sheet`` with ``context``, when its part key or its content
        digest is the one it was made from; None otherwise. The caller keeps what the read said of it
        (``note``) from ``self.found[name]``."""
        old = self._load()
        entry = old["entries"].get(name) if old is not None else None
        if (name in self.given and entry is not None and entry.sheet == sheet and not entry.strays and not entry.note
                and not is_unread(self.given[name][0])):  # an unread table is no table to keep: the sheet is read
            table, how = self.given[name]
            if entry.context == context or how in ("numbered", "relisted"):  # typed with what the run's own read typed it with
                # a sheet the write left alone: its cells, so its pickled table and their digest, are as they were
                same = entry.context == context and (how == "kept" or part is not None and entry.part == part)
                content = (entry.content if same else _carried(entry, table, self._unpickled)
                           if entry.context == context else None)
                self.found[name] = Entry(sheet, context, part, content, entry.blob if same else b"", None, False)
                self.hits[name] = "part" if same else "given"
                if not same:  # the read's bytes of a table the write changed are not saved again: let them go now,
                    old["entries"][name] = replace(entry, blob=b"")  # not at the end of the fill (a sheet is given once)
                return table
        if entry is None or entry.sheet != sheet or entry.context != context or entry.lazy is not None:
            return None
        if part is not None and entry.part == part and not entry.strays:
            how = "part"
        elif content is not None and entry.content == content:
            how = "content"
        else:
            return None
        try:
            table = Kept(entry.sheet) if self.keep_only else self._unpickled(entry.blob)
        except Exception as exc:
            self.problem = f"{type(exc).__name__}: {exc}"
            return None
        self.found[name] = Entry(sheet, context, part if part is not None else entry.part, content or entry.content,
                                 entry.blob, entry.note, entry.strays)
        self.hits[name] = how
        return table

    def retype(self, name: str, sheet: str, context: str, content: Any) -> tuple[Any, list[str]] | None:
        """The cached Table ``name`` and the fields whose cells changed, when the table read with ``context`` now
        has the layout it was made from (header, columns, the same rows, record IDs as typed) and only some columns'
        cells differ (their digests, ``content``); None otherwise. The caller types those fields again."""
        old = self._load()
        entry = old["entries"].get(name) if old is not None else None
        if (entry is None or entry.sheet != sheet or entry.context != context or entry.lazy is not None
                or not entry.content or not content or not entry.blob):
            return None
        (shape, columns), (old_shape, old_columns) = content, entry.content
        if shape != old_shape or ("id" in columns and columns["id"] != old_columns.get("id")):
            return None
        try:
            table = self._unpickled(entry.blob)
        except Exception as exc:
            self.problem = f"{type(exc).__name__}: {exc}"
            return None
        self.hits[name] = "columns"
        changed = [f for f, d in columns.items() if old_columns.get(f) != d]
        self.typed[name] = changed
        return table, changed

    def cached_content(self, name: str) -> Any:
        """The content key the cached table ``name`` was made from (None: none kept), e.g. the table ``retype``
        gives, before this read types some of its columns again."""
        old = self._load()
        entry = old["entries"].get(name) if old is not None else None
        return entry.content if entry is not None and entry.lazy is None else None

    def schema(self, template: str, load: Any) -> Any:
        """The built-in template ``template`` as ``load`` gives it, unpickled from the cache when it was kept
        (parsing and validating the YAML costs 0.1-0.2 s a read); a template given as a file path is loaded."""
        if Path(template).suffix:
            return load(template)
        old = self._load()
        blob = (old or {}).get("schemas", {}).get(template)
        if blob is not None:
            try:
                found = pickle.loads(blob)
                self.schemas[template] = blob
                return found
            except Exception as exc:
                self.problem = f"{type(exc).__name__}: {exc}"
        found = load(template)
        self.schemas[template] = pickle.dumps(found, protocol=5)
        return found

    def keep(self, name: str, sheet: str, context: str, *, part: Any, content: Any, note: str | None,
             strays: bool) -> None:
        """A table this read made: saved with the tables (``save``)."""
        self.found[name] = Entry(sheet, context, part, content, b"", note, strays)
        self.typed.setdefault(name, None)

    def given_content(self, name: str) -> Any:
        """The content key kept for a table given after our write (``hits[name] == "given"``): None or the layout's
        digest with the digests of the columns known so far (``_carried``); the read completes it (``complete``)."""
        return self.found[name].content if self.hits.get(name) == "given" else None

    def complete(self, name: str, content: Any) -> None:
        """The content key of a table given after our write, as a read of the file written makes it (read.py
        ``_written_content``): the next read after a person's save types only the columns either changed."""
        if self.hits.get(name) == "given":
            self.found[name].content = content

    def keep_lazy(self, name: str, sheet: str, context: str, *, part: Any, hint: int | None) -> None:
        """A table this read left unread (model/lazy.py): saved as such (``save``), for ``whole`` to give lazily."""
        self.found[name] = Entry(sheet, context, part, None, b"", None, False, (hint,))

    def pickled(self, name: str, table: Any) -> Kept:
        """For a keep-only read: the table ``keep`` was told of, pickled into its entry now, as a Kept. The read
        then holds each table's bytes instead of the typed tables (~500 MB at 100k leads, beside the run's own)."""
        self.found[name].blob = _dump_table(table)
        kept = Kept(table.sheet)
        kept.schema = table.schema
        return kept
