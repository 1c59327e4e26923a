"""What jobs remember between runs, as plain JSON: a 64-bit key per record of a table (its values and their
types, its sheet row unless left out, the raw text the reader kept of its cells) and findings with their values
exactly (a date stays a date). A job keeps these in its state to skip work whose inputs did not change. And the
read's key of a table's typed content (``stamp``, ``read_token``): a table read with a key remembered is that table.
"""
from __future__ import annotations

import hashlib
import math
from datetime import date, datetime
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from crm_sheets.model.colhash import CopiedEmpty, array_place, column_hashes, frame_keys
from crm_sheets.model.findings import Finding
from crm_sheets.model.tables import Table

_MIX = np.uint64(0x100000001B3)  # FNV prime: mixes one more hash into a row's key


class Unkept(Exception):
    """A finding's value that JSON cannot carry exactly: its row is checked again next time."""


def row_keys(table: Table, *, with_rows: bool = True, columns: Sequence[str] | None = None,
             kept_fields: Any = None) -> np.ndarray | None:
    """One 64-bit key per row of the frame (in its order), or None when the rows cannot be keyed (shared IDs).
    ``with_rows=False``: the key leaves the row's sheet row out (a row that only moved keeps its key).
    ``columns``: the columns keyed, in this order (default: all); ``kept_fields``: the fields whose kept raw text
    counts (default: all). Made of the table's column hashes (colhash.py: a column hashed once a run)."""
    df = table.df
    if not df.index.is_unique:
        return None
    try:
        # the frame's hash, the types of mixed columns mixed in: 1 and "1" differ by their type
        keys = frame_keys(table, list(df.columns) if columns is None else list(columns))
    except (TypeError, ValueError):
        return None
    with np.errstate(over="ignore"):
        if with_rows:
            keys = keys * _MIX ^ pd.util.hash_array(sheet_rows(table))
        kept: dict[Any, list] = {}
        for kind, cells in (("invalid", table.invalid), ("typed", table.typed_text)):
            for (rid, field_name), raw in cells.items():
                if kept_fields is None or field_name in kept_fields:
                    kept.setdefault(rid, []).append((kind, field_name, type(raw).__name__, repr(raw)))
        if kept:
            at = df.index.get_indexer(list(kept))
            extra = pd.util.hash_array(np.array([repr(sorted(v)) for v in kept.values()], dtype=object))
            ok = at >= 0
            keys[at[ok]] = keys[at[ok]] * _MIX ^ extra[ok]
    return keys


def sheet_rows(table: Table) -> np.ndarray:
    """Each row's sheet row (-1: none yet), in the frame's order."""
    return _sheet_rows(table.rows, table.df.index)


def _sheet_rows(rows: dict, index: pd.Index) -> np.ndarray:
    """``rows.get(id, -1)`` for every ID of ``index``, looked up in C (a dict lookup per row was a third of it)."""
    if not rows:
        return np.full(len(index), -1, dtype=np.int64)
    try:
        values = np.fromiter(rows.values(), dtype=np.int64, count=len(rows))
        at = pd.Index(list(rows), dtype=object).get_indexer(index)
    except (TypeError, ValueError, OverflowError):
        return np.fromiter((rows.get(r, -1) for r in index), dtype=np.int64, count=len(index))
    return np.where(at >= 0, values[at], -1)


def encode(v: Any) -> Any:
    t = type(v)
    if v is None or t is str or t is bool or t is int:
        return v
    if t is float:
        return v if math.isfinite(v) else {"f": repr(v)}
    if t is pd.Timestamp and v.tzinfo is None:
        return {"T": v.isoformat()}
    if t is datetime and v.tzinfo is None:
        return {"D": v.isoformat()}
    if t is date:
        return {"d": v.isoformat()}
    if t is np.float64:
        return {"nf": repr(float(v))}
    if t is np.int64:
        return {"ni": int(v)}
    if t is np.bool_:
        return {"nb": bool(v)}
    raise Unkept(t.__name__)


def sharing_encode() -> Callable[[Any], Any]:
    """encode() that gives equal dates of a type one encoded object: a table's findings repeat the same dates
    (at 100k leads ~35 MB of {"T": ...} dicts were kept till the run's end, one per finding). The objects are
    shared, never changed: a reader copies an item before it changes it."""
    seen: dict[tuple[type, Any], Any] = {}

    def shared(v: Any) -> Any:
        t = type(v)
        if t is not pd.Timestamp and t is not datetime and t is not date:  # (numbers: 0.0 == -0.0, kept apart)
            return encode(v)
        got = seen.get((t, v))
        if got is None:
            got = seen[(t, v)] = encode(v)
        return got

    return shared


def decode(v: Any) -> Any:
    if type(v) is not dict:
        return v
    (tag, x), = v.items()
    if tag == "f":
        return float(x)
    if tag == "T":
        return pd.Timestamp(x)
    if tag == "D":
        return datetime.fromisoformat(x)
    if tag == "d":
        return date.fromisoformat(x)
    if tag == "nf":
        return np.float64(float(x))
    if tag == "ni":
        return np.int64(x)
    return np.bool_(x)


def finding_json(f: Finding) -> list:
    """A finding as JSON (finding_from_json reads it back equal); Unkept when a value cannot be carried."""
    return [f.type, f.severity, f.table, f.record_id, f.field, encode(f.value), f.message, f.cell, encode(f.fix), f.fixable]


def finding_from_json(item: list) -> Finding:
    t, sev, table, rid, field, v, msg, cell, fix, fixable = item
    return Finding(t, sev, table, rid, field, decode(v), msg, cell, decode(fix), fixable)


class _Stamp(CopiedEmpty):
    """What a read knew of a table it made or found again (``stamp``): the key of its typed content, and the frame,
    columns and kept raw texts it gave, to tell (``read_token``) whether the table is still as read. Never pickled
    or copied as it is (a cache beside the workbook, a copied table: an empty stamp, no key)."""

    __slots__ = ("token", "df", "index", "held", "where", "invalid", "typed", "rows", "base", "changed")

    def __init__(self, token: str | None = None, table: Any = None, base: str | None = None, changed: Any = None):
        self.token = token
        self.base, self.changed = base, changed
        if table is None:
            self.df = self.index = self.held = self.where = self.invalid = self.typed = self.rows = None
            return
        df = table.df
        self.df, self.index, self.rows = df, df.index, table.rows
        # holding each column makes a later write into the frame copy it (copy-on-write): its memory moves
        self.held = [df[c] for c in df.columns]
        self.where = [array_place(s._values) for s in self.held]
        self.invalid, self.typed = dict(table.invalid), dict(table.typed_text)


def stamp(table: Any, token: str, base: str | None = None, changed: Any = None) -> None:
    """Mark ``table`` (as a read made it) with ``token``, a key of its typed content: equal tokens, equal tables
    (every value, type, record ID, sheet row and kept raw text). The reader's table cache makes it
    (store/core/read.py); a job's memory may take a table with the token it remembers as the table it saw.
    ``base`` and ``changed``: the table is the one whose token is ``base`` (the same record IDs in the same order,
    on the same sheet rows) with only the rows at the positions ``changed`` (an int array) differing, as a read
    that typed a few columns again over a cached table knows; a memory of the ``base`` table then keys only those
    rows."""
    table.__dict__["_read_stamp"] = _Stamp(token, table, base, changed)


def read_token(table: Any) -> str | None:
    """The token ``stamp`` gave the table, when the table is still exactly as read (the same frame, index, column
    arrays, sheet rows object and kept raw texts); None otherwise. Asked once: the stamp goes (with the columns it
    held), so the frames the jobs change later are written in place as before."""
    return read_stamp(table)[0]


def carry_stamp(table: Any, copy: Any) -> None:
    """Give ``copy`` (a table of its own over ``table``'s columns: its frame a shallow copy, the same sheet rows and
    kept raw texts) the key ``table`` was stamped with, when ``table`` is still exactly as stamped. ``table`` keeps
    its stamp. (The confirming pass's tables: its check learns the key the next read gives the table.)"""
    s = getattr(table, "__dict__", {}).get("_read_stamp")
    getattr(copy, "__dict__", {}).pop("_read_stamp", None)
    if s is None or s.token is None or not _as_stamped(table, s):
        return
    df = copy.df
    if df.index is not s.index and (array_place(df.index._values) is None
                                    or array_place(df.index._values) != array_place(s.index._values)):
        return
    if not _same_columns(df, s):
        return  # (a shallow copy shares the index and every column's arrays)
    if copy.rows is not table.rows or copy.invalid != s.invalid or copy.typed_text != s.typed:
        return
    stamp(copy, s.token, s.base, s.changed)


def _as_stamped(table: Any, s: _Stamp) -> bool:
    """Whether ``table`` is still exactly as ``stamp`` left it (the same frame, index, column arrays, sheet rows
    object and kept raw texts)."""
    df = table.df
    if df is not s.df or df.index is not s.index or table.rows is not s.rows or not _same_columns(df, s):
        return False
    return table.invalid == s.invalid and table.typed_text == s.typed


def _same_columns(df: pd.DataFrame, s: _Stamp) -> bool:
    """Whether ``df`` has the columns the stamp held, in its order, each still over the array it held."""
    return list(df.columns) == [h.name for h in s.held] and all(
        where is not None and array_place(df[c]._values) == where for c, where in zip(df.columns, s.where))


def read_stamp(table: Any) -> tuple[str | None, str | None, Any]:
    """(token, base, changed) as ``stamp`` gave them, when the table is still exactly as read (see read_token);
    (None, None, None) otherwise. Asked once, as read_token."""
    s = table.__dict__.pop("_read_stamp", None)
    if s is None or s.token is None or not _as_stamped(table, s):
        return None, None, None
    column_hashes(table).note_read(s.token, table.df)  # (for the jobs that key some of its columns later: table_token)
    return s.token, s.base, s.changed


def table_token(table: Any, names: list[str]) -> str | None:
    """The read's key of ``table`` (see ``stamp``) when the values of its columns ``names`` (columns some jobs share,
    model/colhash.py share) and its record IDs are still those of the table as read, even after the stamp was asked
    for (check asks first); None otherwise. A digest of those columns made for the same key holds for them."""
    if "_read_stamp" in getattr(table, "__dict__", {}):
        read_stamp(table)
    return column_hashes(table).read_token(table.df, names)


def table_part(name: str, table: Any, names: list[str], head: bytes, parts: Any, into: dict | None,
               make: Callable[[], str | None]) -> str | None:
    """A job's digest of the table ``name`` (its columns ``names``, with ``head``: what else the digest holds of
    it), for a digest of its inputs made of one per table. ``parts``: the last run's, table name -> [the read's key of
    the table it was made of (table_token, with ``head``), digest]: a table read with that key has that digest again
    without its cells being hashed; otherwise ``make()`` makes it (None: the table cannot be keyed). ``into`` gets
    this run's beside its key, for the job's state."""
    token = table_token(table, names)
    key = hashlib.sha256(token.encode("utf-8", "surrogatepass") + b"\x00" + head).hexdigest()[:32] \
        if token is not None else None
    was = parts.get(name) if isinstance(parts, dict) else None
    if key is not None and isinstance(was, list) and len(was) == 2 and was[0] == key and isinstance(was[1], str):
        part = was[1]  # the very table the last run hashed
    else:
        part = make()
        if part is None:
            return None
    if into is not None and key is not None:
        into[name] = [key, part]
    return part


