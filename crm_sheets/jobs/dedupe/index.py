"""Dedupe's memory of match keys: each record's keys as the last run computed them, found again by a digest of
the texts they are computed from, so a run computes keys (name folding, nicknames, phone parsing, company
and address keys: most of a run's work) only for records that are new or whose matched cells changed.

Content-addressed: a record whose cells are as they were finds its keys whatever its ID or sheet row, a
deleted record's keys are found by nobody (and dropped when the base is packed again, KeyMemory), and what
depends on the whole list (the email domains no company owns, the blocks, the counts the scores use, the name
weights of organisations) is computed afresh every run from the keys (for people, only around the records that
changed: pairindex.py, which rebuilds the rows changed and gone records had from this memory, by their old
digests). So the pairs come out the same with or without the memory (tests/test_incremental.py).
Kept in dedupe's state in two parts per kind, each deflated (KeyMemory.state): a run that computed keys for a few
records packs only the records new since the base was packed, and gives the base back as it was given it.
"""
from __future__ import annotations

import base64
import hashlib
import inspect
import json
import zlib
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import pandas as pd
import phonenumbers

try:  # inflates the packed memory 2x faster than zlib (the same bytes out; store/xlsx/deflate.py says why ISA-L)
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - a declared dependency; zlib reads the same format
    _isal = None

try:  # how hash_pandas_object combines a frame's column hashes
    from pandas.core.util.hashing import combine_hash_arrays as _combine
except ImportError:  # pragma: no cover
    _combine = None

# The key functions' version: the phone library's (its metadata decides what a number's key is) and a digest
# of the code that computes keys (keys.py, orgs.py, matchkeys.py), so a change there never meets an old memory.
KEYS_VERSION = f"2/{phonenumbers.__version__}"  # 2: kept in parts, digests of columns hashed as they are


@lru_cache(maxsize=1)
def keys_version() -> str:
    from crm_sheets.jobs.dedupe import keys, matchkeys, orgs

    h = hashlib.sha256(KEYS_VERSION.encode())
    for module in (keys, orgs, matchkeys):
        try:
            h.update(inspect.getsource(module).encode("utf-8"))
        except (OSError, TypeError):
            h.update(module.__name__.encode())  # no source shipped: the version alone
    return h.hexdigest()[:16]


_CODES = {1: "<u1", 2: "<u2", 4: "<i4"}  # bytes a key column's code takes -> its dtype in the packed memory
_SEP = "\x00"  # between the texts of a column: no workbook cell holds it (XML 1.0 cannot), nor a key made of cells
_STALE = 0.125  # entries not in the base part (new since it was packed, or of no record now) above this share of
# the records: the base is packed again (the cost of a full pack, paid once in many edited runs)


class KeyMemory:
    """The keys known from the state given (``kind`` -> parts: "b" the base, "d" the entries new since the base
    was packed; each digests and key columns, packed) and those this run computed. The base keeps its packed text
    from run to run: a run that computed keys for a few records packs only them, with the base's earlier newcomers,
    into "d" (and a commit writes only the pieces that changed, outbox/states.py). The base still holds the entries
    of records changed or gone since it was packed (a memory by content gives a record's keys right whatever else
    it holds) until those and the newcomers are more than _STALE of the records: then the base is packed again,
    of this run's records alone."""

    def __init__(self, packed: Any = None) -> None:
        self._parts: dict[str, dict[str, str]] = _parts_of(packed)  # kind -> part name -> packed text, as given
        self._base: dict[str, tuple[pd.Index, dict[str, tuple[np.ndarray, np.ndarray]], int] | None] = {}  # kind ->
        # the parts unpacked (lazily): digests, key columns (codes and distinct keys), how many the base part holds (first)
        self._extra: dict[str, list[tuple[np.ndarray, dict[str, np.ndarray]]]] = {}  # keys computed by this run
        self._used: dict[str, list[np.ndarray]] = {}  # kind -> the digests of this run's records
        self.computed = 0  # records whose keys this run had to compute (the rest were known)

    def _known(self, kind: str) -> tuple[pd.Index, dict[str, tuple[np.ndarray, np.ndarray]], int] | None:
        """The parts of ``kind`` given, unpacked on first use (None: none, or damaged)."""
        if kind not in self._base:
            self._base[kind] = _unpack_kind(self._parts.get(kind))
        return self._base[kind]

    def keyed(self, kind: str, texts: dict[str, list[str]], columns: tuple[str, ...],
              compute: Callable[[dict[str, list[str]]], dict[str, list]], digests: np.ndarray | None = None) -> dict[str, Any]:
        """``compute(texts)`` (one list or object array per key column in ``columns``), computed only for the rows whose texts
        (every list of ``texts``, one item per record) this memory has not seen under ``kind``. ``digests``:
        texts_digests(texts), when the caller has them."""
        n = len(next(iter(texts.values()))) if texts else 0
        if n == 0:
            return compute(texts)
        digests = np.asarray(texts_digests(texts) if digests is None else digests, dtype=np.uint64)
        return self.keyed_rows(kind, digests, lambda rows: texts if len(rows) == n else
                               {c: [v[k] for k in rows] for c, v in texts.items()}, columns, compute)

    def keyed_rows(self, kind: str, digests: np.ndarray, texts_of: Callable[[np.ndarray], dict[str, list[str]]],
                   columns: tuple[str, ...], compute: Callable[[dict[str, list[str]]], dict[str, list]]) -> dict[str, Any]:
        """keyed() of records given by the digests of their texts, ``texts_of(rows)`` giving the texts of those rows
        (in order) only for the records this memory has not seen: a caller that knows which records' cells are as
        they were reads and hashes the cells of the others alone."""
        n = len(digests)
        digests = np.asarray(digests, dtype=np.uint64)
        hit, values = self._find(kind, columns, digests)
        fresh = np.flatnonzero(~hit)
        if len(fresh) == n:
            out = compute(texts_of(fresh))
        else:
            got = compute(texts_of(fresh)) if len(fresh) else {}
            out = {}
            for c in columns:
                col = values[c]
                if len(fresh):
                    col[fresh] = got[c]
                # an object array (the frames are made of arrays, no list per record), but a flag as a list: pandas
                # makes a list of bools a bool column, an object array of them an object column
                out[c] = col.tolist() if isinstance(col[0], bool) else col
        self.computed += len(fresh)
        if len(fresh):
            fresh = fresh[np.unique(digests[fresh], return_index=True)[1]]  # (records with equal texts: once)
            self._extra.setdefault(kind, []).append((digests[fresh], {c: _picked(out[c], fresh) for c in columns}))
        self._used.setdefault(kind, []).append(digests)
        return out

    def _find(self, kind: str, columns, digests: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Which of ``digests`` this memory knows under ``kind`` (given, or computed by this run's earlier rounds),
        and their key columns (object arrays, None where not known)."""
        n = len(digests)
        hit = np.zeros(n, dtype=bool)
        known = self._known(kind)
        if known is not None and set(known[1]) == set(columns):
            at = known[0].get_indexer(digests)
            hit = at >= 0
            # (where one is not known, the row of -1 is a stand-in: replaced below, or None)
            values = {c: _keys_at(known[1][c], at) for c in columns}
            if not hit.all():
                for c in columns:
                    values[c][~hit] = None
        else:
            values = {c: np.full(n, None, dtype=object) for c in columns}
        extra = self._extra.get(kind)
        if extra and not hit.all() and all(set(cols) == set(columns) for _, cols in extra):
            ex = pd.Index(np.concatenate([d for d, _ in extra]))
            at = ex.get_indexer(digests[~hit]) if ex.is_unique else np.full(int((~hit).sum()), -1)
            miss = np.flatnonzero(~hit)
            found = at >= 0
            for c in columns:
                values[c][miss[found]] = np.concatenate([cols[c] for _, cols in extra])[at[found]]
            hit[miss[found]] = True
        return hit, values

    def known_keys(self, kind: str, digests: np.ndarray, columns: tuple[str, ...]) -> dict[str, np.ndarray] | None:
        """The key columns of the records of ``digests`` (the digests of their texts, as keyed() was given them),
        from the memory given or the keys this run computed; None when one of them is not known."""
        hit, values = self._find(kind, columns, np.asarray(digests, dtype=np.uint64))
        return values if hit.all() else None

    def reuse(self, kind: str, digests: np.ndarray, keys: dict[str, np.ndarray]) -> None:
        """Records whose keys the caller had already (a runner's round handing its records to the next): kept as
        if keyed() had given them, so state() and carried() know them."""
        if not len(digests):
            return
        digests = np.asarray(digests, dtype=np.uint64)
        new = np.flatnonzero(~self._find(kind, tuple(keys), digests)[0])
        if len(new):
            new = new[np.unique(digests[new], return_index=True)[1]]  # (records with equal texts: once)
            self._extra.setdefault(kind, []).append((digests[new], {c: _objects(v)[new] for c, v in keys.items()}))
        self._used.setdefault(kind, []).append(digests)

    def carried(self) -> "KeyMemory":
        """A memory knowing what this one knows, unpacked: what a runner's next round of the same run starts from
        (its parts as given, so the last round's state() packs only the parts new keys fall in)."""
        out = KeyMemory()
        out._parts, out._base = self._parts, self._base
        out._extra = {kind: list(parts) for kind, parts in self._extra.items()}
        out.computed = 0
        return out

    def state(self) -> dict[str, Any]:
        """The keys of this run's records (``version`` and, per kind, part name -> packed text): the base part as it
        was given and the newcomers since it was packed ("d"), or, when those and the entries of records gone are
        too many, a new base of this run's records alone. A part: deflated from a header (JSON) and its digests'
        bytes and each key column as codes (bytes) and its distinct texts joined."""
        out: dict[str, Any] = {"version": keys_version()}
        for kind, used in self._used.items():
            known = self._known(kind)
            extra = self._extra.get(kind) or []
            cols = list(extra[0][1]) if extra else list(known[1]) if known is not None else None
            if cols is None:
                continue
            if known is not None and set(known[1]) != set(cols):
                known = None  # (parts of other key columns: packed again)
            digests = np.unique(np.concatenate(used))
            given = self._parts.get(kind, {}) if known is not None and known[2] >= 0 else {}
            if given:
                at = known[0].get_indexer(digests)
                in_base = (at >= 0) & (at < known[2])  # (the base's entries come first)
                newcomers = np.flatnonzero(~in_base)
                stale = known[2] - int(in_base.sum())
            if not given or stale + len(newcomers) > _STALE * len(digests):
                hit, values = self._find(kind, tuple(cols), digests)
                if not hit.all():
                    continue  # (cannot be: every record used was keyed or reused)
                packed = _pack_part(digests, {c: values[c] for c in cols})
                if packed is not None:
                    out[kind] = {"b": packed}
                continue
            # the base is given back as it was: only the newcomers' keys are looked up (the base's are known)
            hit, values = self._find(kind, tuple(cols), digests[newcomers])
            if not hit.all():
                continue  # (cannot be: every record used was keyed or reused)
            parts = {"b": given["b"]}
            if len(newcomers):
                delta = _pack_part(digests[newcomers], {c: values[c] for c in cols})
                if delta is None:
                    continue  # a key holding the separator: this kind is not kept (computed again next time)
                parts["d"] = given["d"] if given.get("d") == delta else delta
            out[kind] = parts
        return out


def _picked(values, rows: np.ndarray) -> np.ndarray:
    """``values[rows]`` of a list or an object array, as an object array."""
    return (values if isinstance(values, np.ndarray) else _objects(values))[rows]  # (a list made an array at once:
    # picking item by item with numpy's integers took a tenth of a first run's keying)


def _objects(values) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _pack_part(digests: np.ndarray, keys: dict[str, np.ndarray]) -> str | None:
    """A part of a kind's memory, deflated: a header (JSON), the digests' bytes and each key column as codes (bytes)
    and its distinct texts joined; None when a key holds the separator."""
    columns = []
    blobs = [digests.astype("<u8").tobytes()]
    for c, values in keys.items():
        # as codes and distinct values: equal keys come back as one object (hashed once, compared by identity in
        # the blocking and scoring that follow), and the memory deflates to little
        codes, uniques = pd.factorize(values)
        uniques = uniques.tolist()
        is_bool = bool(uniques) and isinstance(uniques[0], bool)
        text = "".join("1" if v else "0" for v in uniques) if is_bool else _SEP.join(uniques)
        if not is_bool and text.count(_SEP) != max(len(uniques) - 1, 0):
            return None
        data = text.encode("utf-8", "surrogatepass")
        # the codes as narrow as their count allows: a quarter of the bytes to deflate for a flag
        width = 1 if len(uniques) <= 0x100 else 2 if len(uniques) <= 0x10000 else 4
        columns.append([c, is_bool, len(uniques), len(data), width])
        blobs += [codes.astype(_CODES[width]).tobytes(), data]
    header = {"n": len(digests), "columns": columns}
    raw = json.dumps(header, separators=(",", ":")).encode("ascii") + b"\n" + b"".join(blobs)
    return base64.b64encode(zlib.compress(raw, 1)).decode("ascii")


def texts_digests(texts: dict[str, Any]) -> np.ndarray:
    """One 64-bit digest per record of its texts (one list or object array per column): a record's own, whatever
    the others. Each column hashed as it is (no frame made of it), the columns' hashes combined as pandas combines
    a frame's."""
    n = len(next(iter(texts.values()))) if texts else 0
    if not n:
        return np.empty(0, dtype=np.uint64)
    hashes = [pd.util.hash_array(_objects(v)) for v in texts.values()]
    if _combine is None:  # pragma: no cover - a pandas without it
        return pd.util.hash_pandas_object(pd.DataFrame({k: _objects(v) for k, v in texts.items()}), index=False).to_numpy(np.uint64)
    return np.asarray(_combine(iter(hashes), len(hashes), n), dtype=np.uint64)


def _parts_of(packed: Any) -> dict[str, dict[str, str]]:
    """The parts of each kind packed by state(); empty when missing, of another version, or not a memory (the keys
    are then computed again: the memory only saves work)."""
    if not isinstance(packed, dict) or packed.get("version") != keys_version():
        return {}
    return {kind: parts for kind, parts in packed.items() if kind != "version" and isinstance(parts, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in parts.items())}


def _unpack_kind(parts: dict[str, str] | None) -> tuple[pd.Index, dict[str, tuple[np.ndarray, np.ndarray]], int] | None:
    """A kind's parts unpacked into one index of digests and its key columns (each as codes and the distinct keys
    they stand for: _keys_at), the base part's first, and how many entries the base part holds; None when missing or
    damaged."""
    if not parts:
        return None
    names = sorted(parts)
    got = [_unpack_part(parts[name]) for name in names]
    if any(g is None for g in got) or len({tuple(cols) for _, cols in got}) != 1:
        return None
    digests = np.concatenate([d for d, _ in got])
    cols = {c: _joined_codes([cs[c] for _, cs in got]) for c in got[0][1]}
    index = pd.Index(digests)
    return (index, cols, len(got[0][0]) if names[0] == "b" else -1) if index.is_unique else None


def _unpack_part(packed: str) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]] | None:
    try:
        raw = inflate(base64.b64decode(packed))
        head, _, body = raw.partition(b"\n")
        meta = json.loads(head)
        at = 0
        n = int(meta["n"])
        digests = np.frombuffer(body, dtype="<u8", count=n, offset=at).astype(np.uint64)
        at += 8 * n
        cols: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # name -> (codes, distinct keys)
        for name, is_bool, distinct, size, width in meta["columns"]:
            codes = np.frombuffer(body, dtype=_CODES[int(width)], count=n, offset=at).copy()  # (not holding the text)
            at += int(width) * n
            text = body[at:at + size].decode("utf-8", "surrogatepass")
            at += size
            uniques = [ch == "1" for ch in text] if is_bool else (text.split(_SEP) if distinct else [])
            if len(uniques) != distinct or (n and (codes.min() < 0 or codes.max() >= distinct)):
                return None
            table = np.empty(distinct, dtype=object)
            table[:] = uniques
            cols[name] = (codes, table)
        return (digests, cols) if at == len(body) else None
    except (ValueError, TypeError, KeyError, AttributeError, *INFLATE_ERRORS):
        return None


def _joined_codes(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The (codes, distinct keys) of a key column's parts put end to end, as one (codes, distinct keys)."""
    if len(parts) == 1:
        return parts[0]
    codes, at = [], 0
    for c, uniques in parts:
        codes.append(c.astype(np.int64) + at)
        at += len(uniques)
    return np.concatenate(codes), np.concatenate([u for _, u in parts])


def _keys_at(column: tuple[np.ndarray, np.ndarray], at: np.ndarray) -> np.ndarray:
    """The keys of a column kept as (codes, distinct keys) at the places ``at`` (an object array; -1: a stand-in,
    the caller replaces it). A record's key is looked up once, where it is asked for: a run that knows every record
    made an object array per column of the memory, then picked the records' keys from it (twice the work, at 100k
    leads a tenth of an edited run's dedupe)."""
    codes, uniques = column
    if not len(codes) or not len(uniques):
        return np.full(len(at), None, dtype=object)
    return uniques[codes[at]]


INFLATE_ERRORS = (zlib.error, _isal.error) if _isal is not None else (zlib.error,)


def inflate(data: bytes) -> bytes:
    """zlib.decompress(data), by ISA-L when it is installed (the packed memory at 30k leads: 15 ms instead of 30);
    a damaged stream raises one of INFLATE_ERRORS."""
    return _isal.decompress(data) if _isal is not None else zlib.decompress(data)
