"""Check's memory of rows: per data table, a key per row (its values and their types, the raw text the reader
kept of its cells) and its sheet row, with the findings of the checks that look at that row alone, so a run
checks again only the rows whose key it has not seen. A row that only moved (rows archived above it, a row a
person inserted or a sort) keeps its findings, their cell addresses rebuilt for its new row. Checks across rows
(IDs, unique values, options, references, owners) are always made afresh.

Kept in check's state (plain JSON), one packed string per table: its row keys, sheet rows and each row's count
of findings as arrays, its findings as one JSON list (made and read by the json module's C code, not object by
object). A table nobody changed keeps the string it was given; a table is unpacked only when its digest still
holds. What every row's verdict depends on besides the row (the table's columns, its schema, settings, language,
the day, the Stages sheet) is that digest: when it changes, the table is checked whole. Beside each string, the read's key
of the table it was learnt from (model/memo.py read_token): a table read with that key again, still as read, is
taken as the remembered rows without hashing its cells; a table the read typed again over the cached one it was
learnt from (a person edited a few cells: the read's stamp names that table's key and the rows that differ from it)
has those rows alone keyed. The findings come out the same with or without the memory
(tests/test_incremental.py, tests/test_check_again.py, tests/test_check_read_token.py).

Within a run the memory is finer: a row's key is made of a key per cell, and a later look of the same run (check
--fix's second pass, the runner's second look once dedupe and automate changed records: the state's ``Live`` dict
carries the rows' IDs and cells' keys) matches rows by ID, so a row whose score alone a job wrote keeps the findings
of its other fields and has its score's checks, and the checks of the whole row, made again.
"""
from __future__ import annotations

import base64
import hashlib
import inspect
import json
import zlib
from dataclasses import replace
from functools import lru_cache
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.jobs.check.common import make_finding
from crm_sheets.model import Finding, Table
from crm_sheets.model.colhash import CopiedEmpty, array_place, column_hashes
from crm_sheets.model.memo import Unkept, decode, read_stamp, sharing_encode, sheet_rows
from crm_sheets.model.tables import quote_sheet

VERSION = 4  # 4: row keys made of the per-column keys (3: keys without the sheet row, sheet rows beside them)
_PIECE = 20_000  # items made into JSON at a time (Rows._body)


def table_digest(ctx: Any, table: Table) -> str:
    """Everything a row's own checks depend on besides the row. Not the workbook's lists: a row's own checks are
    those of its texts, dates, numbers and sizes; its dropdowns and tags are checked afresh on every row (options.py),
    so the options check adds to a list on a first run (a team's own values) leave the second look its memory."""
    stages = ctx.rule_rows("stages") if table.name == "deals" else None
    tables = ctx.tables
    parts = (
        VERSION, table.name, table.sheet, tuple(map(str, table.df.columns)), sorted(table.columns.items()), table.header_row,
        repr(table.schema), ctx.lang, ctx.region, ctx.title_case, str(ctx.today), repr(sorted(tables.settings.items(), key=str)),
        bool(getattr(tables, "adopted", False)), bool(getattr(tables, "date1904", False)),
        getattr(ctx, "formats", None),  # an adopted workbook's formats kept or tidied (check --fix) give other findings
        None if stages is None else stages.to_json(orient="split", date_format="iso", default_handler=str),
        _phonenumbers_version(), checks_version(),
    )
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


@lru_cache(maxsize=1)
def checks_version() -> str:
    """A digest of the code that makes a row's findings (check's modules, the value types and normalisers they
    call), so remembered findings never outlive the checks that made them: after an upgrade or a fix to a
    check, every row is checked again once."""
    import crm_sheets.jobs.check as check
    from crm_sheets.jobs.check import common, dates, fields, limits, options, unreadable
    from crm_sheets.model import normalize, phone_valid, values

    h = hashlib.sha256(VERSION.to_bytes(2, "little"))
    for module in (check, common, dates, fields, limits, options, unreadable, normalize, phone_valid, values):
        try:
            h.update(inspect.getsource(module).encode("utf-8"))
        except (OSError, TypeError):
            h.update(module.__name__.encode())  # no source shipped: the version alone
    return h.hexdigest()[:16]


_MIX = np.uint64(0x100000001B3)  # FNV prime: mixes one more hash into a key


def column_keys(table: Table) -> np.ndarray | None:
    """A 64-bit key per cell of the frame (rows x columns, in the frame's order): its value and type, and the raw
    text the reader kept of it (unreadable, or typed as text). None when the rows cannot be keyed (shared IDs, a
    value that cannot be hashed)."""
    df = table.df
    if not (df.index.is_unique and df.columns.is_unique):
        return None
    n = len(df)
    out = np.empty((n, len(df.columns)), dtype=np.uint64, order="F")  # a column's keys side by side (written and
    # read a column at a time: keys_of_rows)
    hashes = column_hashes(table)  # the run's column hashes (model/colhash.py): made once for every job
    try:
        with np.errstate(over="ignore"):
            for j, name in enumerate(df.columns):
                keys = hashes.column(df, name)
                # The hash reads mixed values as text: 1 and "1" differ by their type (all text: nothing to add).
                types = hashes.types(df, name)
                out[:, j] = keys if types is None else keys * _MIX ^ types
            kept: dict[tuple, list] = {}
            for kind, cells in (("invalid", table.invalid), ("typed", table.typed_text)):
                for (rid, field_name), raw in cells.items():
                    kept.setdefault((rid, field_name), []).append((kind, type(raw).__name__, repr(raw)))
            if kept:
                where = {name: j for j, name in enumerate(df.columns)}
                cells = list(kept)
                at = df.index.get_indexer(pd.Index([c[0] for c in cells], dtype=object))
                js = np.fromiter((where.get(c[1], -1) for c in cells), dtype=np.int64, count=len(cells))
                extra = pd.util.hash_array(np.array([repr(v) for v in kept.values()], dtype=object))
                ok = (at >= 0) & (js >= 0)
                out[at[ok], js[ok]] = out[at[ok], js[ok]] * _MIX ^ extra[ok]
                # a kept raw text of a cell the frame has no column for still changes the row's key
                lone = (at >= 0) & (js < 0)
                if lone.any():
                    out = np.concatenate([out, np.zeros((n, 1), dtype=np.uint64)], axis=1)
                    np.bitwise_xor.at(out[:, -1], at[lone], extra[lone])
    except (TypeError, ValueError):
        return None
    return out


def keys_of_rows(table: Table, cols: np.ndarray) -> np.ndarray:
    """One 64-bit key per row: its record ID and its cells' keys (not its sheet row: a row that only moved keeps it)."""
    with np.errstate(over="ignore"):
        keys = pd.util.hash_array(table.df.index.to_numpy(dtype=object)).astype(np.uint64)
        for j in range(cols.shape[1]):
            keys = keys * _MIX ^ cols[:, j]
    return keys


def _rekeyed(table: Table, keys: np.ndarray, changed: Any) -> np.ndarray | None:
    """The row keys of ``table``, which is the table whose row keys are ``keys`` with only the rows at the positions
    ``changed`` differing (model/memo.py ``stamp``): those rows keyed, the others' keys as they were. None when
    they cannot be keyed. (A changed row keyed alone may get another key than among every row, e.g. when its column
    holds numbers elsewhere: it is then only checked again, as a row nobody changed would never be.)"""
    if changed is None:
        return None
    at = np.asarray(changed, dtype=np.int64)
    if not len(at):
        return keys
    mask = np.zeros(len(table.df), dtype=bool)
    mask[at] = True
    part = rows_where(table, mask)
    cells = column_keys(part)
    if cells is None:
        return None
    out = keys.copy()
    out[np.flatnonzero(mask)] = keys_of_rows(part, cells)
    return out


class Live(dict):
    """Check's packed state of rows (a plain dict, as saved), carrying within a run each table's rows' IDs and cells'
    keys (digest, IDs, keys): a later look of the same run (the runner's second look) compares the cells of each row
    with them, so a row whose score alone a job wrote has only its score's checks made again. Saved or copied as
    JSON, it is a plain dict."""

    rows: dict[str, tuple[str, pd.Index, np.ndarray]]
    objs: dict[str, "Rows"]  # the memories themselves, findings as objects (a later look takes them unpacked)


class Rows:
    """One table's memory: a key per row, its sheet row (-1: none), how many findings of its own each row has, and
    those findings as JSON-ready lists ([mark, mark, type, severity, record ID, field, value, message, cell, fix,
    fixable]), in row order. ``packed`` is the state's string of it (kept when it came from the state, made once
    otherwise). Made in this run, it also has the rows' IDs and their cells' keys (``ids``, ``cells``)."""

    __slots__ = ("digest", "keys", "places", "counts", "_items", "packed", "found", "ids", "cells", "_index", "_starts",
                 "_by_id", "_shown", "token")

    def __init__(self, digest: str, keys: np.ndarray, places: np.ndarray, counts: np.ndarray, items: list,
                 packed: str | None = None, found: list | None = None, ids: pd.Index | None = None,
                 cells: np.ndarray | None = None):
        self.digest, self.keys, self.places, self.counts, self.items = digest, keys, places, counts, items
        self.packed = packed
        self.found = found  # (mark, Finding) beside each item, when this run made them (a second pass takes them)
        self.ids, self.cells = ids, cells
        # the read's key of the table these rows are, every row in the frame's order (model/memo.py read_token): a
        # table read with it is that table, its rows not keyed again (None: not known)
        self.token: str | None = None
        self._index: pd.Index | None = None
        self._starts: np.ndarray | None = None
        self._shown: str | None = None  # shown_digest(), made with the JSON of the items (pack, unpack)

    @property
    def items(self) -> list:
        """The findings as JSON-ready lists, read again from ``packed`` when they were let go (let_go_items)."""
        items = self._items
        if items is None:
            again = Rows.unpack(self.digest, self.packed) if self.packed is not None else None
            if again is None:
                raise ValueError("a memory's findings were let go without their packed string")
            items = self._items = again._items
        return items

    @items.setter
    def items(self, items: list | None) -> None:
        self._items = items

    def let_go_items(self, found: list | None = None) -> None:
        """Let go of the findings' lists when they are packed (and digested) already: a look that needs them again
        reads them from the string; ``found``: the (mark, Finding) of each item, in order, taken instead."""
        if self.packed is not None and self._shown is not None:
            self._items = None
            if found is not None:
                self.found = found

    def positions(self, keys: np.ndarray) -> np.ndarray:
        """For each key given, its row in this memory (-1: not known)."""
        if self._index is None:
            self._index = pd.Index(self.keys)
        if not self._index.is_unique:
            return np.full(len(keys), -1)
        return self._index.get_indexer(keys)

    def starts(self) -> np.ndarray:
        if self._starts is None:
            self._starts = np.concatenate(([0], np.cumsum(self.counts, dtype=np.int64)))
        return self._starts

    def shown_digest(self) -> str:
        """A digest of what this memory makes of the table's own findings (each row's items, in order, and where
        each item's row is in the frame and on the sheet), not of the rows' keys: a row edited without changing
        its findings leaves it as it was. Data Issues' findings key (RowMemory.findings_key) is made of it."""
        if self._shown is None and self.packed is None:
            self.pack()  # (the state packs it anyway: its items are made into JSON once for both)
        if self._shown is None:
            h = hashlib.sha256()
            for piece in self._body():
                h.update(piece)
            self._shown = _shown_digest(h, self.places, self.counts)
        return self._shown

    def _body(self):
        """The JSON of the items (json.dumps of the list, compact), in pieces of _PIECE items: the text of every
        finding of a table whole (at 100k leads ~40 MB, then as much again joined to the keys) is never held."""
        items = self.items
        if not items:
            yield b"[]"
            return
        for i in range(0, len(items), _PIECE):
            text = json.dumps(items[i:i + _PIECE], ensure_ascii=False, separators=(",", ":"))
            # '[a,b]' '[c]' -> '[a,b' ',c' ']': the bytes of json.dumps(items) in order
            yield (text[:-1] if i == 0 else "," + text[1:-1]).encode("utf-8", "surrogatepass")
        yield b"]"

    def pack(self) -> str:
        if self.packed is None:
            head = json.dumps({"n": len(self.keys), "m": len(self.items)}).encode("ascii")
            # compressed as it is made (the same bytes zlib.compress gives of the whole), hashed as it goes
            z = zlib.compressobj(1)
            out = [z.compress(b"".join((head, b"\n", self.keys.astype("<u8").tobytes(),
                                        self.places.astype("<i4").tobytes(), self.counts.astype("<i4").tobytes())))]
            h = hashlib.sha256()
            for piece in self._body():
                h.update(piece)
                out.append(z.compress(piece))
            out.append(z.flush())
            if self._shown is None:
                self._shown = _shown_digest(h, self.places, self.counts)
            self.packed = base64.b64encode(b"".join(out)).decode("ascii")
        return self.packed

    @classmethod
    def unpack(cls, digest: str, packed: str) -> Rows | None:
        """The memory a pack() made; None when damaged (a lost or edited state is only a miss)."""
        try:
            raw = zlib.decompress(base64.b64decode(packed))
            cut = raw.index(b"\n")
            meta = json.loads(raw[:cut])
            n, m = int(meta["n"]), int(meta["m"])
            at = cut + 1
            keys = np.frombuffer(raw, dtype="<u8", count=n, offset=at).astype(np.uint64)
            places = np.frombuffer(raw, dtype="<i4", count=n, offset=at + 8 * n).astype(np.int64)
            counts = np.frombuffer(raw, dtype="<i4", count=n, offset=at + 12 * n).astype(np.int64)
            # the items' JSON read in place (no copy of the bytes), and the bytes let go before it is parsed: at
            # 100k leads the decompressed memory is ~40 MB, under the ~100 MB of objects the parse makes
            with memoryview(raw) as view:
                body = view[at + 16 * n:]
                shown = _shown_digest(hashlib.sha256(body), places, counts)  # the same bytes pack() hashed
                text = str(body, "utf-8", "surrogatepass")
                body.release()
            del raw
            items = json.loads(text)
            del text
            if not isinstance(items, list) or len(items) != m or int(counts.sum()) != m or (n and counts.min() < 0):
                return None
            rows = cls(digest, keys, places, counts, items, packed)
            rows._shown = shown
            return rows
        except (ValueError, TypeError, KeyError, zlib.error):
            return None


class RowMemory:
    """What check knew of each row (from the state given) and what it learns in this run (for the state it returns)."""

    def __init__(self, state: dict | None = None) -> None:
        tables = state.get("tables") if isinstance(state, dict) and state.get("version") == VERSION else None
        # packed per table, unpacked when a plan asks for it (a table whose digest moved is never unpacked)
        self._packed: dict[str, tuple[str, str]] = {
            name: (t["digest"], t["packed"]) for name, t in (tables or {}).items()
            if isinstance(t, dict) and isinstance(t.get("digest"), str) and isinstance(t.get("packed"), str)}
        self._tokens: dict[str, str] = {name: t["token"] for name, t in (tables or {}).items()
                                        if isinstance(t, dict) and isinstance(t.get("token"), str)}
        self._given = state if tables is not None and len(self._packed) == len(tables) and self._packed else None
        self._known: dict[str, Rows] = {}
        live = state if isinstance(state, Live) and tables is not None else None
        # of an earlier look of this run: each table's rows' IDs and cells' keys, beside its packed string
        self._cells: dict[str, tuple[str, pd.Index, np.ndarray]] = dict(getattr(live, "rows", {}))
        # of an earlier look of this run: each table's memory as made (its findings as objects), used instead of
        # unpacking its string and making its kept findings again from JSON
        self._objs: dict[str, Rows] = dict(getattr(live, "objs", {}))
        if live is not None:  # taken, not shared: each goes once its table is planned (at 100k leads the earlier
            live.rows, live.objs = {}, {}  # look's cells' keys were ~60 MB), not when the caller lets the state go
        # a later look of the run (the runner's second look): what it learns of a table is left on it (_Look), for
        # the confirming pass's check of the same table as written
        self._later = isinstance(state, Live)
        # the tables of this look that a later look of the run marked (the confirming pass, the run's last look)
        self._final: set[str] = set()
        self._latest: dict[str, Rows] = {}
        # of this look (begin()): each data table's memory of its findings (None: it has none), and the findings
        # that memory holds (kept referenced, so their ids stay theirs): Data Issues' findings key is made of them
        self._looked: dict[str, Rows | None] = {}
        self._local: list[Finding] = []
        self._local_ids: set[int] = set()
        # table name -> (its frame, its sheet rows, its row keys, each row's sheet row, its cells' keys, its read's key)
        self._keys: dict[str, tuple[Any, Any, np.ndarray | None, np.ndarray, np.ndarray | None, str | None]] = {}

    def known(self, name: str, digest: str) -> Rows | None:
        rows = self._known.get(name)
        if rows is None and name in self._packed:
            d, packed = self._packed.pop(name)
            made = self._objs.pop(name, None)
            if made is not None and d == digest and made.digest == d and made.packed is packed \
                    and made.ids is not None and made.cells is not None:
                rows = made  # (the string given is this memory's own pack: the same rows and items)
            else:
                rows = Rows.unpack(d, packed) if d == digest else None
                if rows is not None:
                    rows.token = self._tokens.get(name)
                    cells = self._cells.pop(name, None)
                    if cells is not None and cells[0] == d and len(cells[1]) == len(rows.keys):
                        rows.ids, rows.cells = cells[1], cells[2]
            if rows is not None:
                self._known[name] = rows
        return rows if rows is not None and rows.digest == digest else None

    def plan(self, ctx: Any, table: Table) -> "TablePlan":
        digest = table_digest(ctx, table)
        token, base, changed = read_stamp(table)
        look = _Look.taken(table)
        if look is not None and not self._later:
            self._final.add(table.name)  # (the confirming pass: see below and TablePlan.learn)
        cached = self._keys.get(table.name)
        sheet = quote_sheet(table.sheet or table.schema.sheet_name(ctx.lang))  # as the collector names cells
        if cached is not None and cached[0] is table.df and cached[1] is table.rows:
            # a second pass (check --fix) on a table no fix touched (its read's key: as the first pass found it)
            keys, places, cells, token = cached[2], cached[3], cached[4], cached[5]
        else:
            if token is not None:
                # the table as read is the one these rows were learnt from (the read's key of it): its rows are the
                # remembered rows, in the same order on the same sheet rows, not keyed again
                known = self.known(table.name, digest)
                if known is not None and known.token in (token, base) and len(known.keys) == len(table.df):
                    places = sheet_rows(table)
                    keys = known.keys if known.token == token else _rekeyed(table, known.keys, changed)
                    if keys is not None and np.array_equal(places, known.places):
                        self._keys[table.name] = (table.df, table.rows, keys, places, None, token)
                        return TablePlan(self, table, digest, keys, places, known, sheet, None, ctx, token=token)
            if look is not None and look.digest == digest:
                # the very cells the run's last look keyed (the confirming pass's table as written): when the rows
                # remembered are the ones it learnt, they are this table's rows, not keyed again
                known = self.known(table.name, digest)
                if known is not None and len(known.keys) == len(table.df) and look.sig == _signature(known) \
                        and look.holds(table):
                    places = sheet_rows(table)
                    if np.array_equal(places, known.places):
                        self._keys[table.name] = (table.df, table.rows, known.keys, places, None, token)
                        return TablePlan(self, table, digest, known.keys, places, known, sheet, None, ctx,
                                         token=token)
            cells = column_keys(table)
            keys, places = (None if cells is None else keys_of_rows(table, cells)), sheet_rows(table)
            if look is not None and not self._later:
                # a table the run's later look left its mark on is looked at by the confirming pass, the run's last
                # look: no look follows that would compare its cells' keys (at 300k leads ~100 MB held to its end)
                cells = None
            self._keys[table.name] = (table.df, table.rows, keys, places, cells, token)
        plan = TablePlan(self, table, digest, keys, places, self.known(table.name, digest), sheet, cells, ctx,
                         token=token)
        if self._later and plan.cells is not None:
            # the cells' keys told the rows a job changed apart from the rows it changed only some cells of (the plan
            # has them): no later look compares them, so they go with the earlier look's now, not once every table
            # is checked (a pass of check --fix after this one checks the rows its fixes changed whole)
            plan.cells = None
            self._keys[table.name] = (table.df, table.rows, keys, places, None, token)
            if plan.known is not None:
                plan.known.cells = None
        return plan

    def last_look(self) -> None:
        """This look's rows are matched by no later look of the run (a later look is the last one that knows cells):
        their cells' keys and found findings, kept for such a look, go now, and the findings' lists of a memory
        packed already (the state keeps the packed strings alone: a later look's Live carries nothing). Called by
        findings_key, which check asks once the look's passes (check --fix's two) are made: at 100k leads ~60 MB of
        cells' keys and ~25 MB of lists went before the Data Issues sheet is made."""
        if not self._later:
            return
        self._keys = {}
        for rows in (*self._latest.values(), *self._known.values()):
            rows.cells = rows.found = None
            rows.let_go_items()

    def begin(self) -> None:
        """A new look at the tables (check --fix's second pass): what findings_key knows starts again."""
        self._looked, self._local, self._local_ids = {}, [], set()

    def _saw(self, name: str, rows: Rows | None, findings: list, table: Table | None = None) -> None:
        """The memory ``rows`` holds exactly ``findings`` ((mark, Finding) beside each item) of table ``name``; when
        ``rows`` are every row of ``table`` in its order and this is a later look of the run, the table says so."""
        self._looked[name] = rows
        if self._later and table is not None and rows is not None and len(rows.keys) == len(table.df):
            _Look.leave(table, rows)
        if rows is not None:
            mine = list(map(itemgetter(1), findings))
            self._local += mine
            self._local_ids.update(map(id, mine))

    def findings_key(self, tables: Any, issues: list[Finding]) -> str | None:
        """A digest of this look's ``issues`` (what Data Issues lists, in the order found) made without going through
        each of them: a data table's own findings by its memory's shown_digest, only the others (of checks across
        rows, of the rule sheets) one by one. Equal keys, equal findings in the same order on the same sheet rows,
        so an equal Data Issues sheet. None when a data table has no memory of its findings this look."""
        data = [name for name, t in tables.tables.items() if t.schema.kind == "data"]
        looked = self._looked
        try:
            if any(looked.get(name) is None for name in data):
                return None
            return self._findings_key(tables, issues, data)
        finally:
            self.last_look()  # (asked once the look's passes are made, before its sheet is: see last_look)

    def _findings_key(self, tables: Any, issues: list[Finding], data: list[str]) -> str:
        looked = self._looked
        h = hashlib.sha256(b"findings key 1\0")
        h.update(repr((tables.lang, tables.schema.owned_sheet("data_issues").sheet_name(tables.lang),
                       list(tables.schema.tables), sorted((n, t.sheet) for n, t in tables.tables.items()),
                       sorted(tables.lists.items()))).encode("utf-8", "surrogatepass"))
        for name in data:
            rows = looked[name]
            h.update(f"{name}\0{rows.digest}\0{rows.shown_digest()}\0".encode("utf-8", "surrogatepass"))
        ids = self._local_ids
        flags = np.fromiter(map(ids.__contains__, map(id, issues)), dtype=bool, count=len(issues))
        h.update(flags.tobytes())
        others = [f for f, mine in zip(issues, flags.tolist()) if not mine]
        names = {f.table for f in others}
        h.update(repr(sorted((n, repr(tables.tables[n].schema)) for n in names if n in tables.tables))
                 .encode("utf-8", "surrogatepass"))
        rows_of = {n: tables.tables[n].rows for n in names if n in tables.tables}
        empty: dict = {}
        from crm_sheets.jobs.check.sheet import finding_fields, pickled_into  # sheet imports nothing of this module

        got = pickled_into(h, [(finding_fields(f), rows_of.get(f.table, empty).get(f.record_id, -2)) for f in others])
        if got is None:
            h.update(repr(others).encode("utf-8", "surrogatepass"))
        return (got or h).hexdigest()

    def state(self) -> dict[str, Any]:
        """One packed string per table; the state given, as it is, when every table kept the string it came with."""
        given = self._given
        if given is not None and set(self._latest) == set(given["tables"]) and all(
                rows.packed is not None and rows.packed is given["tables"][name].get("packed")
                and rows.token == given["tables"][name].get("token") for name, rows in self._latest.items()):
            return given  # (a Live given keeps the memory it carries: every table's is as remembered)
        out = Live({"version": VERSION, "tables": {
            name: {"digest": rows.digest, "packed": rows.pack(), **({"token": rows.token} if rows.token else {})}
            for name, rows in self._latest.items()}})
        # only the rows' IDs and cells' keys (the findings are in the packed strings): a run keeps them from its
        # first look to its second while dedupe, automate and report run
        out.rows = {name: (rows.digest, rows.ids, rows.cells) for name, rows in self._latest.items()
                    if rows.cells is not None}
        out.objs = {name: rows for name, rows in self._latest.items() if rows.cells is not None}
        return out


def _signature(rows: Rows) -> bytes:
    """A digest of a memory's row keys and sheet rows (what a _Look compares a memory with, without holding them)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(rows.keys, dtype=np.uint64).tobytes())
    h.update(np.ascontiguousarray(rows.places, dtype=np.int64).tobytes())
    return h.digest()


class _Look(CopiedEmpty):
    """What the run's last look of check learnt of a table, left on the table: the memory's digest, a signature of
    its rows' keys and sheet rows, and the cells they were keyed from (the frame's columns held, where their values
    are, its index, the kept raw texts). The tables as written share those columns with the run's (written.py), so
    the confirming pass's check, given the memory that look saved, takes a table still holding exactly those cells
    as the remembered rows instead of hashing every cell again (the same keys: made of the same values). Asked
    once (the table lets it go); pickled or copied empty (a cache beside the workbook never carries one)."""

    __slots__ = ("digest", "sig", "names", "held", "where", "index", "invalid", "typed")

    def __init__(self, table: Table | None = None, rows: Rows | None = None):
        self.digest = self.sig = None
        if table is None or rows is None:
            return
        df = table.df
        self.digest, self.sig = rows.digest, _signature(rows)
        self.names = list(df.columns)
        # holding each column makes a later write into the frame copy it (copy-on-write): equal places, equal values
        self.held = [df.iloc[:, j] for j in range(df.shape[1])]
        self.where = [array_place(s._values) for s in self.held]
        self.index = df.index
        self.invalid, self.typed = dict(table.invalid), dict(table.typed_text)

    @staticmethod
    def leave(table: Table, rows: Rows) -> None:
        d = getattr(table, "__dict__", None)
        if d is not None and table.df.columns.is_unique:
            d["_check_look"] = _Look(table, rows)

    @staticmethod
    def taken(table: Any) -> "_Look | None":
        look = getattr(table, "__dict__", {}).pop("_check_look", None)
        return look if isinstance(look, _Look) and look.digest is not None else None

    def holds(self, table: Table) -> bool:
        """Whether ``table``'s cells are the ones this look keyed: the same columns over the same values, the same
        record IDs, the same kept raw texts."""
        df = table.df
        if list(df.columns) != self.names or not df.columns.is_unique:
            return False
        for c, where, held in zip(self.names, self.where, self.held):
            values = df[c]._values
            # a column typed again since (the write's dropdowns, written.py) may hold the very same values
            if where is None or array_place(values) != where and not _same_values(values, held._values):
                return False
        index = df.index
        # (record IDs, hashed as the objects they are: the same texts whatever the index's dtype)
        if index is not self.index and not (index.inferred_type == "string" and self.index.inferred_type == "string"
                                            and index.equals(self.index)):
            return False
        return table.invalid == self.invalid and table.typed_text == self.typed


def _same_values(a: Any, b: Any) -> bool:
    """Whether two columns' values hash alike for certain: the same dtype, and the same bits of each value (of an
    object column, values of the same type, equal and shown alike: 0.0 and -0.0 differ, as do 9:00 UTC and 10:00
    CET)."""
    if type(a) is not type(b) or a.dtype != b.dtype or len(a) != len(b):
        return False
    if not isinstance(a, np.ndarray):
        inner_a, inner_b = getattr(a, "_ndarray", None), getattr(b, "_ndarray", None)  # datetimes, categories' codes
        if isinstance(inner_a, np.ndarray) and isinstance(inner_b, np.ndarray):
            return _same_values(inner_a, inner_b)
        data_a, mask_a = getattr(a, "_data", None), getattr(a, "_mask", None)  # Int64, boolean
        data_b, mask_b = getattr(b, "_data", None), getattr(b, "_mask", None)
        if all(isinstance(x, np.ndarray) for x in (data_a, mask_a, data_b, mask_b)):
            return _same_values(data_a, data_b) and _same_values(mask_a, mask_b)
        return False
    if a.dtype != object:
        return a.tobytes() == b.tobytes()
    try:
        for x, y in zip(a.tolist(), b.tolist()):
            if x is y:
                continue
            if type(x) is not type(y):
                return False
            if x == y and (type(x) is str or repr(x) == repr(y)):  # (equal times of two zones hash apart)
                continue
            if x != x and y != y:  # NaN and NaN
                continue
            return False
    except Exception:
        return False
    return True


def _depends(ctx: Any, table: Table) -> list[np.ndarray]:
    """For each field of the table, the frame's columns its own checks read (index into the cells' keys): its
    own column, and for a phone number the row's country (the region it is read in)."""
    from crm_sheets.jobs.check.fields import text_check  # fields imports nothing of this module: no cycle

    where = {name: j for j, name in enumerate(table.df.columns)}
    out = []
    for f in table.schema.fields:
        cols = [where[f.name]] if f.name in where else []
        found = text_check(f)
        if found is not None and found.keep is not None and "country" in where:
            cols.append(where["country"])
        out.append(np.array(cols, dtype=np.int64))
    return out


class TablePlan:
    """The rows of one table to check again (``sub``) and the findings of the others (``kept``). A remembered row
    found at another sheet row (``moved``) keeps its findings with their cells and messages naming its new row
    (``rebuilt``: the remembered item -> the same for the new row); a row that gained or lost its sheet row is
    checked again (its findings name the sheet alone, or a cell).

    A row whose cells this run's memory has (an earlier look of the run) and of which some changed (``partial``)
    keeps the findings of its fields' own checks that read no changed cell; those fields are checked again on it
    (``rows_for``), and so are the checks of the whole row (dates, cell limits: the row is in ``sub``)."""

    def __init__(self, memory: RowMemory, table: Table, digest: str, keys: np.ndarray | None, places: np.ndarray,
                 known: Rows | None, sheet: str, cells: np.ndarray | None = None, ctx: Any = None,
                 token: str | None = None) -> None:
        self.memory, self.table, self.digest, self.known = memory, table, digest, known
        self.keys, self.places, self.cells = keys, places, cells
        self.token = token  # the read's key of the table (model/memo.py read_token), for the rows it learns
        self.kept: list[tuple[tuple, Finding]] = []
        self.rebuilt: dict[int, list] = {}
        n = len(table.df)
        if keys is None or known is None or not len(known.keys):
            at = np.full(n, -1)
        elif keys is known.keys:  # (RowMemory.plan: the table as read is the one remembered, row for row)
            at = np.arange(n)
        else:
            at = known.positions(keys)
        self.at = at
        self.partial = partial = np.zeros(n, dtype=bool)
        self.changed: np.ndarray | None = None  # of the partial rows (in row order): which cells changed
        self.stale: list[np.ndarray] | None = None  # per field: which partial rows have a changed cell it reads
        self.stale_dates: np.ndarray | None = None  # which partial rows have a changed cell the dates' checks read
        self.limited: np.ndarray | None = None  # which partial rows the cell limits' check is made on again
        if known is not None and cells is not None and known.cells is not None and known.ids is not None \
                and known.cells.shape[1] == cells.shape[1] and (at < 0).any():
            by_id = known.ids.get_indexer(table.df.index) if known.ids.is_unique else np.full(n, -1)
            partial |= (at < 0) & (by_id >= 0)
            if partial.any():
                at[partial] = by_id[partial]
                rows = np.flatnonzero(partial)
                self.changed = cells[rows] != known.cells[at[rows]]
        self.moved = moved = np.zeros(n, dtype=bool)
        was = None  # each row's sheet row in the memory
        if known is not None and (at >= 0).any():
            was = np.where(at >= 0, known.places[at], -1)
            moved |= (at >= 0) & (was != places)
            lost = moved & ((was < 0) | (places < 0))
            at[lost] = -1
            moved &= ~lost
            if self.changed is not None and lost.any():
                self.changed = self.changed[~lost[partial]]
                partial &= ~lost
        fresh = at < 0
        if partial.any():
            deps = _depends(ctx, table)
            self.stale = [self.changed[:, d].any(axis=1) if len(d) else np.zeros(len(self.changed), dtype=bool)
                          for d in deps]
            # the checks of dates (dates.py) read a few columns of the row: a partial row none of whose changed
            # cells is one of them keeps its dates' findings (a score written on every lead changes no date)
            d = _date_columns(table)
            self.stale_dates = self.changed[:, d].any(axis=1) if len(d) else np.zeros(len(self.changed), dtype=bool)
            # the cell limits' check of a partial row can find something only in a row that had a cell over the limit
            # (marked below, from its items) or whose changed cells hold a long text now: the others have nothing to find
            self.limited = _long_changes(table, np.flatnonzero(partial), self.changed)
        if not fresh.all():
            starts, name, found = known.starts(), table.name, known.found
            # (the items themselves only when read: a memory let go of them when its found findings are beside it)
            items = known.items if found is None or partial.any() else None
            counts = known.counts[at]
            mine = np.flatnonzero((~fresh) & (counts > 0))
            rows = at[mine]
            # the remembered items of those rows, in row order: their positions in one go (no loop per row)
            lengths = known.counts[rows]
            firsts = starts[rows]
            pos = np.arange(int(lengths.sum()), dtype=np.int64)
            if len(pos):
                pos += np.repeat(firsts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
            if partial.any():
                # a partial row keeps the items of the checks of the ID and of its fields that read no changed cell
                owner = np.repeat(mine, lengths)
                where = np.full(n, -1, dtype=np.int64)
                where[np.flatnonzero(partial)] = np.arange(int(partial.sum()))
                p_of = where[owner]
                keep = p_of < 0
                stale, stale_dates = self.stale, self.stale_dates
                nf = len(stale)  # the marks of the row's whole checks: nf (cell limits), nf + 1 (dates)
                limited = self.limited
                for j in np.flatnonzero(~keep).tolist():
                    item = items[int(pos[j])]
                    check = item[0]
                    keep[j] = check == -1 or (0 <= check < nf and not stale[check][p_of[j]]) \
                        or (check == nf + 1 and not stale_dates[p_of[j]])
                    if check == nf:
                        limited[p_of[j]] = True  # a cell over the limit: the row's cells are checked again
                pos, owner = pos[keep], owner[keep]
                lengths = np.bincount(np.searchsorted(mine, owner), minlength=len(mine)) if len(mine) else lengths
            self.lengths = dict(zip(mine.tolist(), lengths.tolist()))  # items kept per row (by the row's place)
            pos_list = pos.tolist()
            if found is not None:
                self.kept = [found[i] for i in pos_list]
            else:
                self.kept = _kept_findings(items, pos_list, name)
            self.pos_list = pos_list
            if moved[mine].any():
                self._move(sheet, pos_list, np.repeat(moved[mine], lengths), np.repeat(was[mine], lengths),
                           np.repeat(places[mine], lengths))
        else:
            self.lengths, self.pos_list = {}, []
        self.fresh = fresh
        self.kept_rows: Table | None = None  # the rows not checked again (their phone numbers keep their verdicts)
        again = fresh | partial
        self.whole = fresh  # the rows every check is made on (the others: those partial rows' fields ``rows_for``)
        if again.all():
            self.sub = table
        else:
            self.sub = rows_where(table, again)
        if not fresh.all():
            self.kept_rows = replace(table, df=_kept_columns(table, ~fresh) if fresh.any() else table.df, invalid={},
                                     typed_text={})

    def limits_rows(self) -> np.ndarray | None:
        """The rows (a mask over the frame) the cell limits' check is made on; None: every row of ``sub``."""
        return self._fresh_and(self.limited)

    def dates_rows(self) -> np.ndarray | None:
        """The rows (a mask over the frame) the dates' checks are made on; None: every row of ``sub``."""
        return self._fresh_and(self.stale_dates)

    def _fresh_and(self, partial_rows: np.ndarray | None) -> np.ndarray | None:
        """The fresh rows and those of the partly changed rows ``partial_rows`` selects; None: all of them."""
        if partial_rows is None or partial_rows.all():
            return None
        mask = self.fresh.copy()
        mask[np.flatnonzero(self.partial)[partial_rows]] = True
        return mask

    def rows_for(self, i: int) -> np.ndarray | None:
        """The rows (a mask over the frame) field ``i``'s own checks are made on; None: every row of ``sub``."""
        if self.stale is None:
            return None
        mask = self.fresh.copy()
        mask[np.flatnonzero(self.partial)[self.stale[i]]] = True
        return mask

    def _move(self, sheet: str, pos: list, moved: np.ndarray, was: np.ndarray, now: np.ndarray) -> None:
        """The kept findings of moved rows (``pos``: their items; the rest: per item) naming their new row: a cell
        'Leads!C12' of the row's old place becomes 'Leads!C9', and the message that starts with it too. A finding
        naming no cell of the row (the sheet, the record) is as it was."""
        items, kept, columns = self.known.items, self.kept, self.table.columns
        prefixes: dict[Any, str | None] = {}
        shift = np.flatnonzero(moved)
        for j, a, b in zip(shift.tolist(), was[shift].tolist(), now[shift].tolist()):
            i = pos[j]
            item = items[i]
            field = item[5]
            prefix = prefixes.get(field, "")
            if prefix == "":
                col = columns.get(field or "") if field else None
                prefix = prefixes[field] = f"{sheet}!{col}" if col is not None else None
            if prefix is None:
                continue
            old = prefix + str(a)
            if item[8] != old or not item[7].startswith(old):
                continue
            cell = prefix + str(b)
            message = cell + item[7][len(old):]
            again = list(item)
            again[7], again[8] = message, cell
            self.rebuilt[i] = again
            mark, f = kept[j]
            kept[j] = (mark, make_finding(f.type, f.severity, f.table, f.record_id, f.field, f.value, message, cell,
                                          f.fix, f.fixable))

    def learn(self, local: list[tuple[tuple, Finding]]) -> None:
        """Remember this pass: for every row, the findings of its own checks (``local``: those of the rows checked
        now; a kept row keeps its remembered items, the same lists, or those rebuilt for its new row; a partial
        row both, in the order of the checks)."""
        memory, name = self.memory, self.table.name
        if self.keys is None:
            memory._latest.pop(name, None)
            memory._saw(name, None, [])
            return
        known, fresh, at = self.known, self.fresh, self.at
        if known is not None and not fresh.any() and not self.partial.any() and not self.moved.any() \
                and len(at) == len(known.keys) and (at == np.arange(len(at))).all():
            memory._latest[name] = known  # every row as remembered, in the same order: nothing new to learn
            if self.token is not None:  # (of the table read now; a look at a table not as read, e.g. the runner's
                known.token = self.token  # second look at a table no job changed, keeps the key of the rows it has)
            memory._saw(name, known, self.kept, self.table)  # (every item kept, as it was)
            if name in memory._final:
                # the run's last look holds the findings made of the items: the items' lists go (a pass of check --fix
                # after this one takes the findings, in the items' order), ~30 MB at 100k leads
                known.let_go_items(self.kept)
            return
        index = self.table.df.index
        at_of = index.get_indexer(pd.Index([f.record_id for _m, f in local], dtype=object)) if local else []
        if fresh.all() and self._learn_fresh is not None:  # every row checked now (a first look): the items grouped
            self._learn_fresh(local, np.asarray(at_of, dtype=np.int64))  # by row in one sort, no loop per row
            return
        by_row: dict[int, list] = {}
        made: dict[int, list] = {}
        bad: set[int] = set()
        encode = sharing_encode()
        for (mark, f), i in zip(local, at_of):
            if i < 0:
                continue
            try:
                item = [mark[0], mark[1], f.type, f.severity, f.record_id, f.field, encode(f.value), f.message, f.cell,
                        encode(f.fix), f.fixable]
            except Unkept:
                bad.add(i)
                continue
            by_row.setdefault(i, []).append(item)
            made.setdefault(i, []).append((mark, f))
        n = len(self.keys)
        kept, k, rebuilt, lengths, pos = self.kept, 0, self.rebuilt, self.lengths, self.pos_list
        known_items = known.items if known is not None and pos else None
        # (a partly changed row merges its kept and new items; _merged None: the row-by-row way, as tests compare)
        row_by_row = bool(bad) or bool(self.partial.any()) or self._merged is None
        if row_by_row:
            items, found, counts = [], [], np.zeros(n, dtype=np.int64)
        else:
            items, found, counts = self._merged(by_row, made, known_items)
        for i, new, part in zip(range(n) if row_by_row else (), fresh.tolist(), self.partial.tolist()):
            if new:
                got = None if i in bad else by_row.get(i)
                if got:
                    items += got
                    found += made[i]
                    counts[i] = len(got)
                continue
            c = lengths.get(i, 0)
            old = [rebuilt.get(j, known_items[j]) for j in pos[k:k + c]] if c else []
            was = kept[k:k + c]
            k += c
            if part:
                got = by_row.get(i)
                if i in bad:
                    continue
                if got:  # the row's kept and new findings in the order of the checks (each check's from one side)
                    both = sorted(zip(old + got, was + made[i]), key=lambda p: (p[0][0], p[0][1]))
                    old, was = [p[0] for p in both], [p[1] for p in both]
            items += old
            found += was
            counts[i] = len(old)
        keys, places, ids, cells = self.keys, self.places, index, self.cells
        if bad:
            ok = np.ones(n, dtype=bool)
            ok[list(bad)] = False
            keys, places, counts, ids = keys[ok], places[ok], counts[ok], index[ok]
            cells = cells[ok] if cells is not None else None
        rows = Rows(self.digest, np.asarray(keys, dtype=np.uint64), np.asarray(places, dtype=np.int64), counts, items,
                    found=found, ids=ids, cells=cells)
        rows.token = None if bad else self.token  # (every row of the table, in its order)
        memory._latest[name] = rows
        memory._saw(name, None if bad else rows, found, self.table)  # (rows left out: the items' places are not the
        # frame's)
        memory._known[name] = rows  # a second pass of this run (check --fix) meets these rows again

    def _merged(self, by_row: dict[int, list], made: dict[int, list], known_items: list | None) -> tuple[list, list, Any]:
        """learn()'s items, (mark, Finding) pairs and counts per row when no row is partly changed nor left out: each
        kept row's remembered items (or those rebuilt for its new row) and each fresh row's new ones, merged by row in
        one stable sort (no loop per row: at 100k leads an edit of 10 leads went through 94,000 rows)."""
        n, fresh, rebuilt = len(self.keys), self.fresh, self.rebuilt
        rows = [i for i in sorted(by_row) if fresh[i] and by_row[i]]
        new_items = [item for i in rows for item in by_row[i]]
        new_found = [pair for i in rows for pair in made[i]]
        new_owner = np.repeat(np.asarray(rows, dtype=np.int64), [len(by_row[i]) for i in rows])
        pos = self.pos_list
        if pos:
            old_items = [rebuilt.get(j, known_items[j]) for j in pos] if rebuilt else list(map(known_items.__getitem__, pos))
            old_owner = np.repeat(np.fromiter(self.lengths.keys(), dtype=np.int64, count=len(self.lengths)),
                                  np.fromiter(self.lengths.values(), dtype=np.int64, count=len(self.lengths)))
        else:
            old_items, old_owner = [], np.zeros(0, dtype=np.int64)
        owner = np.concatenate([old_owner, new_owner])
        order = np.argsort(owner, kind="stable").tolist()  # (a row's items come from one side, in their order)
        every, pairs = old_items + new_items, self.kept + new_found
        counts = np.bincount(owner, minlength=n).astype(np.int64) if len(owner) else np.zeros(n, dtype=np.int64)
        return [every[k] for k in order], [pairs[k] for k in order], counts

    def _learn_fresh(self, local: list[tuple[tuple, Finding]], at_of: np.ndarray) -> None:
        """learn() when every row was checked now: each row's items in the order found (a stable sort by row), the
        same memory as learn()'s loop over the rows."""
        memory, name, index = self.memory, self.table.name, self.table.df.index
        n = len(self.keys)
        bad = np.zeros(n, dtype=bool)
        made: list = []
        rows: list = []
        pairs: list = []
        encode = sharing_encode()
        for pair, i in zip(local, at_of.tolist()):
            if i < 0:
                continue
            mark, f = pair
            try:
                made.append([mark[0], mark[1], f.type, f.severity, f.record_id, f.field, encode(f.value), f.message,
                             f.cell, encode(f.fix), f.fixable])
            except Unkept:
                bad[i] = True  # (the row is left out of the memory: checked again next time)
                continue
            rows.append(i)
            pairs.append(pair)
        at = np.asarray(rows, dtype=np.int64)
        keep = ~bad[at] if len(at) else np.zeros(0, dtype=bool)
        order = np.flatnonzero(keep)[np.argsort(at[keep], kind="stable")].tolist()
        items = [made[k] for k in order]
        found = [pairs[k] for k in order]
        counts = np.bincount(at[keep], minlength=n).astype(np.int64) if len(at) else np.zeros(n, dtype=np.int64)
        keys, places, ids, cells = self.keys, self.places, index, self.cells
        if bad.any():
            ok = ~bad
            keys, places, counts, ids = keys[ok], places[ok], counts[ok], index[ok]
            cells = cells[ok] if cells is not None else None
        got = Rows(self.digest, np.asarray(keys, dtype=np.uint64), np.asarray(places, dtype=np.int64), counts, items,
                   found=found, ids=ids, cells=cells)
        got.token = None if bad.any() else self.token  # (every row of the table, in its order)
        memory._latest[name] = got
        memory._saw(name, None if bad.any() else got, found, self.table)
        memory._known[name] = got


def _kept_columns(table: Table, mask: np.ndarray) -> pd.DataFrame:
    """The rows of ``mask`` with the columns the checks of rows not checked again read (TextCheck.keep: a phone
    number's column and the row's country), not a copy of every column (at 100k leads ~20 MB a table)."""
    from crm_sheets.jobs.check.fields import text_check  # fields imports nothing of this module: no cycle

    names = {"country"}
    for f in table.schema.fields:
        found = text_check(f)
        if found is not None and found.keep is not None:
            names.add(f.name)
    df = table.df
    return df.loc[mask, [c for c in df.columns if c in names]]


def _kept_findings(items: list, pos: list[int], name: str) -> list[tuple[tuple, Finding]]:
    """(mark, Finding) of the remembered items at ``pos`` of table ``name``. The items read from JSON each had their
    own type, severity and field texts and a mark of their own: one object per distinct text and mark is kept in both
    the items and the findings (at 100k leads ~40 MB of the confirming pass's findings)."""
    values: dict[str, Any] = {}  # decoded once per distinct value (dates repeat)
    same: dict[Any, Any] = {}
    marks: dict[Any, dict] = {}
    kept: list[tuple[tuple, Finding]] = []
    try:
        for item in map(items.__getitem__, pos):
            v, fix = item[6], item[9]
            if v.__class__ is dict:
                v = _decoded(v, values)
            if fix.__class__ is dict:
                fix = _decoded(fix, values)
            kind = item[2] = same.setdefault(item[2], item[2])
            severity = item[3] = same.setdefault(item[3], item[3])
            field = item[5] = same.setdefault(item[5], item[5])
            check, step = item[0], item[1]
            steps = marks.get(check)
            if steps is None:
                steps = marks[check] = {}
            mark = steps.get(step)
            if mark is None:
                mark = steps[step] = (check, step)
            kept.append((mark, make_finding(kind, severity, name, item[4], field, v, item[7], item[8], fix, item[10])))
    except TypeError:  # (an edited state: a text or a mark that cannot be a key) made as read, one by one
        kept = []
        for item in map(items.__getitem__, pos):
            v, fix = item[6], item[9]
            v = _decoded(v, values) if v.__class__ is dict else v
            fix = _decoded(fix, values) if fix.__class__ is dict else fix
            kept.append(((item[0], item[1]), make_finding(item[2], item[3], name, item[4], item[5], v, item[7], item[8],
                                                          fix, item[10])))
    return kept


def _long_changes(table: Table, rows: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """For each partial row (``rows``: their places in the frame; ``changed``: which of their cells changed), whether a
    changed cell of it may be over a cell's limit now (limits.maybe_long), or a raw text the reader kept of it may be."""
    from crm_sheets.jobs.check.limits import maybe_long  # limits imports nothing of this module: no cycle
    from crm_sheets.model.limits import too_long

    out = np.zeros(len(rows), dtype=bool)
    df = table.df
    for j in range(min(changed.shape[1], len(df.columns))):
        some = np.flatnonzero(changed[:, j])
        if not len(some):
            continue
        col = df.iloc[:, j]
        if col.dtype != object and str(col.dtype) not in ("string", "str"):
            continue
        long = maybe_long(col.to_numpy(dtype=object)[rows[some]])
        if long is not None:
            out[some[long]] = True
    raws = [rid for (rid, _f), raw in (*table.invalid.items(), *table.typed_text.items()) if too_long(raw)]
    if raws:
        at = df.index.get_indexer(pd.Index(raws, dtype=object)) if df.index.is_unique else np.arange(0)
        out |= np.isin(rows, at[at >= 0])
    return out


def _date_columns(table: Table) -> np.ndarray:
    """The frame's columns the dates' checks of a row read (dates.reads), as indexes into the cells' keys."""
    from crm_sheets.jobs.check.dates import reads  # dates imports nothing of this module: no cycle

    names = reads(table)
    return np.array([j for j, name in enumerate(table.df.columns) if name in names], dtype=np.int64)


def rows_where(table: Table, mask: np.ndarray) -> Table:
    """The table of the rows of ``mask``, with the kept raw texts of their cells."""
    keep = set(table.df.index[mask])
    return replace(table, df=table.df[mask], invalid={k: v for k, v in table.invalid.items() if k[0] in keep},
                   typed_text={k: v for k, v in table.typed_text.items() if k[0] in keep})


def _decoded(v: dict, seen: dict[Any, Any]) -> Any:
    try:
        (key,) = v.items()
        got = seen.get(key)
    except (ValueError, TypeError):
        return decode(v)
    if got is None:
        got = seen[key] = decode(v)
    return got


def _shown_digest(h: Any, places: np.ndarray, counts: np.ndarray) -> str:
    """Rows.shown_digest from ``h``, the SHA-256 of the items' JSON so far: with, per item, its row's place in the
    frame and on the sheet (what orders it in find_problems and on Data Issues)."""
    h.update(np.repeat(np.arange(len(counts), dtype=np.int64), counts).tobytes())
    h.update(np.repeat(np.asarray(places, dtype=np.int64), counts).tobytes())
    return h.hexdigest()


def _phonenumbers_version() -> str:
    try:
        import phonenumbers

        return str(getattr(phonenumbers, "__version__", ""))
    except ImportError:
        return ""
