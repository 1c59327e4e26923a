"""Check's memory of rows: per data table, a key per row (its values and their types, the raw text the reader
kept of its cells) and its sheet row, with the findings of the checks that look at that row alone, so a run
checks again only the rows whose key it has not seen. A row that only moved (rows archived above it, a row a
person inserted or a sort) keeps its findings, their cell addresses rebuilt for its new row. Checks across rows
(IDs, unique values, options, references, owners) are always made afresh.

Kept in check's state (plain JSON), one packed string per table: its row keys, sheet rows and each row's count
of findings as arrays, its findings as one JSON list (made and read by the json module's C code, not object by
object). A table nobody changed keeps the string it was given; a table is unpacked only when its digest still
holds. What every row's verdict depends on besides the row (the table's columns, its schema, settings, lists,
language, the day, the Stages sheet) is that digest: when it changes, the table is checked whole. The findings
come out the same with or without the memory (tests/test_incremental.py, tests/test_check_again.py).
"""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.model import Finding, Table
from crm_sheets.model.memo import Unkept, decode, encode, row_keys, sheet_rows
from crm_sheets.model.tables import quote_sheet

VERSION = 3  # 3: keys without the sheet row, sheet rows beside them


def table_digest(ctx: Any, table: Table) -> str:
    """Everything a row's own checks depend on besides the row."""
    stages = ctx.rule_rows("stages") if table.name == "deals" else None
    tables = ctx.tables
    parts = (
        VERSION, table.name, table.sheet, tuple(map(str, table.df.columns)), sorted(table.columns.items()), table.header_row,
        repr(table.schema), ctx.lang, ctx.region, ctx.title_case, str(ctx.today), repr(sorted(tables.settings.items(), key=str)),
        repr(sorted(tables.lists.items())), bool(getattr(tables, "adopted", False)), bool(getattr(tables, "date1904", False)),
        getattr(ctx, "formats", None),  # an adopted workbook's formats kept or tidied (check --fix) give other findings
        None if stages is None else stages.to_json(orient="split", date_format="iso", default_handler=str),
        _phonenumbers_version(),
    )
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


class Rows:
    """One table's memory: a key per row, its sheet row (-1: none), how many findings of its own each row has, and
    those findings as JSON-ready lists ([mark, mark, type, severity, record ID, field, value, message, cell, fix,
    fixable]), in row order. ``packed`` is the state's string of it (kept when it came from the state, made once
    otherwise)."""

    __slots__ = ("digest", "keys", "places", "counts", "items", "packed", "found", "_index", "_starts")

    def __init__(self, digest: str, keys: np.ndarray, places: np.ndarray, counts: np.ndarray, items: list,
                 packed: str | None = None, found: list | None = None):
        self.digest, self.keys, self.places, self.counts, self.items = digest, keys, places, counts, items
        self.packed = packed
        self.found = found  # (mark, Finding) beside each item, when this run made them (a second pass takes them)
        self._index: pd.Index | None = None
        self._starts: np.ndarray | None = None

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

    def pack(self) -> str:
        if self.packed is None:
            head = json.dumps({"n": len(self.keys), "m": len(self.items)}).encode("ascii")
            body = json.dumps(self.items, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
            raw = b"".join((head, b"\n", self.keys.astype("<u8").tobytes(), self.places.astype("<i4").tobytes(),
                            self.counts.astype("<i4").tobytes(), body))
            self.packed = base64.b64encode(zlib.compress(raw, 1)).decode("ascii")
        return self.packed

    @classmethod
    def unpack(cls, digest: str, packed: str) -> Rows | None:
        """The memory a pack() made; None when damaged (a lost or edited state is only a miss)."""
        try:
            raw = zlib.decompress(base64.b64decode(packed))
            head, _, body = raw.partition(b"\n")
            meta = json.loads(head)
            n, m = int(meta["n"]), int(meta["m"])
            keys = np.frombuffer(body, dtype="<u8", count=n).astype(np.uint64)
            places = np.frombuffer(body, dtype="<i4", count=n, offset=8 * n).astype(np.int64)
            counts = np.frombuffer(body, dtype="<i4", count=n, offset=12 * n).astype(np.int64)
            items = json.loads(body[16 * n:].decode("utf-8", "surrogatepass"))
            if not isinstance(items, list) or len(items) != m or int(counts.sum()) != m or (n and counts.min() < 0):
                return None
            return cls(digest, keys, places, counts, items, packed)
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
        self._given = state if tables is not None and len(self._packed) == len(tables) and self._packed else None
        self._known: dict[str, Rows] = {}
        self._latest: dict[str, Rows] = {}
        # table name -> (its frame, its sheet rows, its row keys, each row's sheet row)
        self._keys: dict[str, tuple[Any, Any, np.ndarray | None, np.ndarray]] = {}

    def known(self, name: str, digest: str) -> Rows | None:
        rows = self._known.get(name)
        if rows is None and name in self._packed:
            d, packed = self._packed.pop(name)
            rows = Rows.unpack(d, packed) if d == digest else None
            if rows is not None:
                self._known[name] = rows
        return rows if rows is not None and rows.digest == digest else None

    def plan(self, ctx: Any, table: Table) -> "TablePlan":
        digest = table_digest(ctx, table)
        cached = self._keys.get(table.name)
        if cached is not None and cached[0] is table.df and cached[1] is table.rows:
            keys, places = cached[2], cached[3]  # a second pass (check --fix) on a table no fix touched: the same frame
        else:
            keys, places = row_keys(table, with_rows=False), sheet_rows(table)
            self._keys[table.name] = (table.df, table.rows, keys, places)
        sheet = quote_sheet(table.sheet or table.schema.sheet_name(ctx.lang))  # as the collector names cells
        return TablePlan(self, table, digest, keys, places, self.known(table.name, digest), sheet)

    def state(self) -> dict[str, Any]:
        """One packed string per table; the state given, as it is, when every table kept the string it came with."""
        given = self._given
        if given is not None and set(self._latest) == set(given["tables"]) and all(
                rows.packed is not None and rows.packed is given["tables"][name].get("packed")
                for name, rows in self._latest.items()):
            return given
        return {"version": VERSION,
                "tables": {name: {"digest": rows.digest, "packed": rows.pack()} for name, rows in self._latest.items()}}


class TablePlan:
    """The rows of one table to check again (``sub``) and the findings of the others (``kept``). A remembered row
    found at another sheet row (``moved``) keeps its findings with their cells and messages naming its new row
    (``rebuilt``: the remembered item -> the same for the new row); a row that gained or lost its sheet row is
    checked again (its findings name the sheet alone, or a cell)."""

    def __init__(self, memory: RowMemory, table: Table, digest: str, keys: np.ndarray | None, places: np.ndarray,
                 known: Rows | None, sheet: str) -> None:
        self.memory, self.table, self.digest, self.known = memory, table, digest, known
        self.keys, self.places = keys, places
        self.kept: list[tuple[tuple, Finding]] = []
        self.rebuilt: dict[int, list] = {}
        n = len(table.df)
        self.at = at = np.full(n, -1) if keys is None or known is None or not len(known.keys) else known.positions(keys)
        self.moved = moved = np.zeros(n, dtype=bool)
        was = None  # each row's sheet row in the memory
        if known is not None and (at >= 0).any():
            was = np.where(at >= 0, known.places[at], -1)
            moved |= (at >= 0) & (was != places)
            lost = moved & ((was < 0) | (places < 0))
            at[lost] = -1
            moved &= ~lost
        fresh = at < 0
        if not fresh.all():
            starts, items, name, found = known.starts(), known.items, table.name, known.found
            counts = known.counts[at]
            mine = np.flatnonzero((~fresh) & (counts > 0))
            rows = at[mine]
            # the remembered items of those rows, in row order: their positions in one go (no loop per row)
            lengths = known.counts[rows]
            firsts = starts[rows]
            pos = np.arange(int(lengths.sum()), dtype=np.int64)
            if len(pos):
                pos += np.repeat(firsts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
            pos_list = pos.tolist()
            if found is not None:
                self.kept = [found[i] for i in pos_list]
            else:
                values: dict[str, Any] = {}  # decoded once per distinct value (dates repeat)
                kept = self.kept
                for item in map(items.__getitem__, pos_list):
                    v, fix = item[6], item[9]
                    if v.__class__ is dict:
                        v = _decoded(v, values)
                    if fix.__class__ is dict:
                        fix = _decoded(fix, values)
                    kept.append(((item[0], item[1]), Finding(
                        item[2], item[3], name, item[4], item[5], v, item[7], item[8], fix, item[10])))
            if moved[mine].any():
                self._move(sheet, pos_list, np.repeat(moved[mine], lengths), np.repeat(was[mine], lengths),
                           np.repeat(places[mine], lengths))
        self.fresh = fresh
        self.kept_rows: Table | None = None  # the rows not checked again (their phone numbers keep their verdicts)
        if fresh.all():
            self.sub = table
        else:
            keep = set(table.df.index[fresh])
            self.sub = replace(table, df=table.df[fresh],
                               invalid={k: v for k, v in table.invalid.items() if k[0] in keep},
                               typed_text={k: v for k, v in table.typed_text.items() if k[0] in keep})
            self.kept_rows = replace(table, df=table.df[~fresh], invalid={}, typed_text={})

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
            kept[j] = (mark, Finding(f.type, f.severity, f.table, f.record_id, f.field, f.value, message, cell, f.fix,
                                     f.fixable))

    def learn(self, local: list[tuple[tuple, Finding]]) -> None:
        """Remember this pass: for every row, the findings of its own checks (``local``: those of the rows checked
        now; a kept row keeps its remembered items, the same lists, or those rebuilt for its new row)."""
        memory, name = self.memory, self.table.name
        if self.keys is None:
            memory._latest.pop(name, None)
            return
        known, fresh, at = self.known, self.fresh, self.at
        if known is not None and not fresh.any() and not self.moved.any() and len(at) == len(known.keys) \
                and (at == np.arange(len(at))).all():
            memory._latest[name] = known  # every row as remembered, in the same order: nothing new to learn
            return
        index = self.table.df.index
        by_row: dict[int, list] = {}
        made: dict[int, list] = {}
        bad: set[int] = set()
        for mark, f in local:
            i = index.get_loc(f.record_id) if f.record_id in index else -1
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
        counts = np.zeros(n, dtype=np.int64)
        items: list = []
        found: list = []
        kept, k, rebuilt = self.kept, 0, self.rebuilt
        if known is not None:
            starts, old = known.starts().tolist(), known.items
            old_counts = known.counts.tolist()
        for i, new, p, moved in zip(range(n), fresh.tolist(), at.tolist(), self.moved.tolist()):
            if new:
                got = None if i in bad else by_row.get(i)
                if got:
                    items += got
                    found += made[i]
                    counts[i] = len(got)
            else:
                c = old_counts[p]
                if c:
                    s = starts[p]
                    items += [rebuilt.get(j, old[j]) for j in range(s, s + c)] if moved and rebuilt else old[s:s + c]
                    found += kept[k:k + c]
                    k += c
                    counts[i] = c
        keys, places = self.keys, self.places
        if bad:
            ok = np.ones(n, dtype=bool)
            ok[list(bad)] = False
            keys, places, counts = keys[ok], places[ok], counts[ok]
        rows = Rows(self.digest, np.asarray(keys, dtype=np.uint64), np.asarray(places, dtype=np.int64), counts, items,
                    found=found)
        memory._latest[name] = rows
        memory._known[name] = rows  # a second pass of this run (check --fix) meets these rows again


def _decoded(v: dict, seen: dict[Any, Any]) -> Any:
    try:
        (key,) = v.items()
        got = seen.get(key)
    except (ValueError, TypeError):
        return decode(v)
    if got is None:
        got = seen[key] = decode(v)
    return got


def _phonenumbers_version() -> str:
    try:
        import phonenumbers

        return str(getattr(phonenumbers, "__version__", ""))
    except ImportError:
        return ""
