"""What jobs remember between runs, as plain JSON: a 64-bit key per record of a table (its values and their
types, its sheet row unless left out, the raw text the reader kept of its cells) and findings with their values
exactly (a date stays a date). A job keeps these in its state to skip work whose inputs did not change.

The keys are made of one hash per column, kept on the table (ColumnHashes): check, dedupe and report each key
rows of the same columns, and a column is hashed once per run however many jobs key it.
"""
from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any, Sequence

import numpy as np
import pandas as pd

from crm_sheets.model.findings import Finding
from crm_sheets.model.tables import Table

try:  # the very function hash_pandas_object combines a frame's column hashes with (so the keys are its keys)
    from pandas.core.util.hashing import combine_hash_arrays as _combine
except ImportError:  # pragma: no cover - a pandas without it: every key made by hash_pandas_object
    _combine = None

_MIX = np.uint64(0x100000001B3)  # FNV prime: mixes one more hash into a row's key
_TYPE_NAME = np.frompyfunc(lambda v: type(v).__name__, 1, 1)
_NO_TYPES = object()  # a column whose values are all text (or numbers of one dtype): no type hash to mix in


class Unkept(Exception):
    """A finding's value that JSON cannot carry exactly: its row is checked again next time."""


def row_keys(table: Table, *, with_rows: bool = True, columns: Sequence[str] | None = None,
             kept_fields: Any = None) -> np.ndarray | None:
    """One 64-bit key per row of the frame (in its order), or None when the rows cannot be keyed (shared IDs).
    ``with_rows=False``: the key leaves the row's sheet row out (a row that only moved keeps its key).
    ``columns``: the columns keyed, in this order (default: every column of the frame); ``kept_fields``: the
    fields whose kept raw text counts (default: every field). The key is that of the frame of those columns
    (``hash_pandas_object(df[columns], index=True)``, then the types of mixed columns, the sheet row and the kept
    raw texts mixed in), made of the table's column hashes (ColumnHashes: a column hashed once per run)."""
    df = table.df
    if not df.index.is_unique:
        return None
    names = list(df.columns) if columns is None else list(columns)
    hashes = column_hashes(table)
    try:
        keys = hashes.frame_keys(df, names)
    except (TypeError, ValueError):
        return None
    with np.errstate(over="ignore"):
        for name in names:
            # The hash reads mixed values as text: 1 and "1" differ by their type (all text: nothing to add).
            types = hashes.types(df, name)
            if types is not None:
                keys = keys * _MIX ^ types
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


class ColumnHashes:
    """The hashes of a table's columns as pandas makes them (``hash_array`` of the column's values), and of the
    types of a mixed column's values, each made once. An entry is found again by the memory the column's values
    are in (address, shape, strides, dtype), and holds that column: under copy-on-write a frame whose column an
    entry holds copies it before any write, so a column whose values changed is never at an entry's memory.
    Pickled or copied empty (a cache beside the workbook never carries them)."""

    __slots__ = ("_columns", "_index")

    def __init__(self) -> None:
        self._columns: dict[str, tuple[Any, Any, np.ndarray, Any]] = {}  # name -> (series held, memory, hash, types)
        self._index: tuple[Any, np.ndarray] | None = None

    def __reduce__(self):
        return (ColumnHashes, ())

    def __copy__(self) -> "ColumnHashes":
        return ColumnHashes()

    def __deepcopy__(self, memo: dict) -> "ColumnHashes":
        return ColumnHashes()

    def _entry(self, df: pd.DataFrame, name: str) -> list:
        col = df[name]
        values = col._values
        where = _memory(values)
        got = self._columns.get(name)
        if got is None or where is None or got[1] != where:
            got = [col, where, None, None]
            if where is not None:
                self._columns[name] = got  # (a miss replaces the entry: the old column is let go)
        return got

    def column(self, df: pd.DataFrame, name: str) -> np.ndarray:
        e = self._entry(df, name)
        if e[2] is None:
            e[2] = pd.util.hash_array(e[0]._values).astype("uint64", copy=False)
        return e[2]

    def types(self, df: pd.DataFrame, name: str) -> np.ndarray | None:
        """The hash of the type names of a mixed object column's values; None for a column of one kind."""
        e = self._entry(df, name)
        if e[3] is None:
            col = e[0]
            if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) not in ("string", "empty"):
                e[3] = pd.util.hash_array(_TYPE_NAME(col.to_numpy()).astype(object))
            else:
                e[3] = _NO_TYPES
        return None if e[3] is _NO_TYPES else e[3]

    def index(self, df: pd.DataFrame) -> np.ndarray:
        idx = df.index
        if self._index is None or self._index[0] is not idx:
            self._index = (idx, pd.util.hash_array(idx._values).astype("uint64", copy=False))
        return self._index[1]

    def frame_keys(self, df: pd.DataFrame, names: list[str]) -> np.ndarray:
        """``hash_pandas_object(df[names], index=True)`` as a uint64 array, from the kept column hashes."""
        if _combine is None or len(set(names)) != len(names):
            frame = df[names] if names else pd.DataFrame(index=df.index)
            return pd.util.hash_pandas_object(frame, index=True).to_numpy(dtype=np.uint64, copy=True)
        arrays = [self.column(df, n) for n in names] + [self.index(df)]
        return np.asarray(_combine(iter(arrays), len(arrays), len(df)), dtype=np.uint64).copy()


def column_hashes(table: Any) -> ColumnHashes:
    """The table's column hashes (made on first use, kept with the table for every job of the run)."""
    d = table.__dict__
    got = d.get("_column_hashes")
    if got is None:
        got = d["_column_hashes"] = ColumnHashes()
    return got


def forget_hashes(tables: Any) -> None:
    """Let every table's column hashes go (the runner, once the jobs ran: the write needs none of them)."""
    for t in getattr(tables, "tables", {}).values():
        t.__dict__.pop("_column_hashes", None)


def _memory(values: Any) -> Any:
    """Where a column's values are: the address, shape, strides and dtype of its arrays (None: not known)."""
    if isinstance(values, np.ndarray):
        return (values.__array_interface__["data"][0], values.shape, values.strides, values.dtype.str)
    inner = getattr(values, "_ndarray", None)  # datetimes, categoricals' codes...
    if isinstance(inner, np.ndarray):
        return (type(values).__name__, str(values.dtype), _memory(inner))
    data, mask = getattr(values, "_data", None), getattr(values, "_mask", None)  # Int64, boolean
    if isinstance(data, np.ndarray) and isinstance(mask, np.ndarray):
        return (type(values).__name__, str(values.dtype), _memory(data), _memory(mask))
    return None


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
