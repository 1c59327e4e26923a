"""Column hashes kept with a table for one run: check, dedupe and report each key rows by some of a table's
columns (model/memo.py row_keys, report's digest), and a column is hashed once a run however many jobs key it.
The hashes are pandas' own (``hash_array``, combined as ``hash_pandas_object`` combines a frame's), so keys kept
in the jobs' states by earlier runs still match.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

try:  # the very function hash_pandas_object combines a frame's column hashes with (so the keys are its keys)
    from pandas.core.util.hashing import combine_hash_arrays as _combine
except ImportError:  # pragma: no cover - a pandas without it: every key made by hash_pandas_object
    _combine = None

_MIX = np.uint64(0x100000001B3)  # FNV prime: mixes one more hash into a row's key (as memo.py does)
_TYPE_NAME = np.frompyfunc(lambda v: type(v).__name__, 1, 1)
_NO_TYPES = object()  # a column whose values are all text (or of one dtype): no type hash to mix in


def frame_keys(table: Any, names: list[str]) -> np.ndarray:
    """``hash_pandas_object(table.df[names], index=True)``, then the type names of each mixed object column's
    values mixed in (the hash reads 1 and "1" alike), from the table's kept column hashes. Raises TypeError or
    ValueError when a value cannot be hashed."""
    hashes, df = column_hashes(table), table.df
    keys = hashes.frame_keys(df, names)
    with np.errstate(over="ignore"):
        for name in names:
            types = hashes.types(df, name)
            if types is not None:
                keys = keys * _MIX ^ types
    return keys


class CopiedEmpty:
    """What a table carries about its own arrays (where they are in memory) is true of this process and these
    arrays only: a pickle or a copy of it is an empty one (a cache beside the workbook, a copied table)."""

    __slots__ = ()

    def __reduce__(self):
        return (type(self), ())

    def __copy__(self):
        return type(self)()

    def __deepcopy__(self, memo: dict):
        return type(self)()


class ColumnHashes(CopiedEmpty):
    """The hashes of a table's columns as pandas makes them (``hash_array`` of the column's values), and of the
    types of a mixed column's values, each made once; kept for the columns shared (share()). An entry is found
    again by the memory the column's values are in (address, shape, strides, dtype), and holds that column: under
    copy-on-write a frame whose column an entry holds copies it before any write, so a column whose values changed
    is never at an entry's memory. Pickled or copied empty (a cache beside the workbook never carries them)."""

    __slots__ = ("_columns", "_index", "_read")

    def __init__(self) -> None:
        self._columns: dict[str, tuple[Any, Any, np.ndarray, Any]] = {}  # name -> (series held, memory, hash, types)
        self._index: tuple[Any, np.ndarray] | None = None
        # the read's key of the table (model/memo.py stamp), its index and its shared columns held with their places
        self._read: tuple[str, Any, dict[str, tuple[Any, Any]]] | None = None

    def note_read(self, token: str, df: pd.DataFrame) -> None:
        """The frame ``df`` is the table the read keyed ``token`` (model/memo.py read_stamp): its shared columns
        (share()) are held, so read_token tells later whether they are still those values."""
        held = {}
        for name in df.columns:
            if name in _SHARED and name not in held:
                col = df[name]
                held[name] = (col, array_place(col._values))
        self._read = (token, df.index, held)

    def read_token(self, df: pd.DataFrame, names: list[str]) -> str | None:
        """The read's key noted for the table, when ``df`` still has the index and the values of the columns
        ``names`` (shared ones) the read gave it: a digest of those columns made from that table holds for them."""
        if self._read is None:
            return None
        token, index, held = self._read
        if df.index is not index:
            return None
        for name in names:
            got = held.get(name)
            if got is None or got[1] is None or name not in df.columns or array_place(df[name]._values) != got[1]:
                return None
        return token

    def _entry(self, df: pd.DataFrame, name: str) -> list:
        col = df[name]
        values = col._values
        where = array_place(values)
        got = self._columns.get(name)
        if got is None or where is None or got[1] != where:
            got = [col, where, None, None]
            if where is not None and name in _SHARED:
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
            # (of the values: a Series asked for infer_dtype's attribute looks it up among its index's labels)
            if col.dtype == object and pd.api.types.infer_dtype(col.to_numpy(), skipna=True) not in ("string", "empty"):
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


_SHARED: set[str] = set()  # the columns a later job keys too (share()): only theirs are kept


def share(columns: Any) -> None:
    """Keep the hashes of these columns once made (a job that keys them after another, at import): the hashes
    of a column only one job keys are not kept (at 100k leads every column's would be ~70 MB through the jobs)."""
    _SHARED.update(columns)


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


def array_place(values: Any) -> Any:
    """Where a column's values are: the address, shape, strides and dtype of its arrays (None: not known)."""
    if isinstance(values, np.ndarray):
        return (values.__array_interface__["data"][0], values.shape, values.strides, values.dtype.str)
    inner = getattr(values, "_ndarray", None)  # datetimes, categoricals' codes...
    if isinstance(inner, np.ndarray):
        return (type(values).__name__, str(values.dtype), array_place(inner))
    data, mask = getattr(values, "_data", None), getattr(values, "_mask", None)  # Int64, boolean
    if isinstance(data, np.ndarray) and isinstance(mask, np.ndarray):
        return (type(values).__name__, str(values.dtype), array_place(data), array_place(mask))
    return None
