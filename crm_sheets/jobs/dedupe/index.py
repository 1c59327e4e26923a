"""Dedupe's memory of match keys: each record's keys as the last run computed them, found again by a digest of
the texts they are computed from, so a run computes keys (name folding, nicknames, phone parsing, company
and address keys: most of a run's work) only for records that are new or whose matched cells changed.

Content-addressed: a record whose cells are as they were finds its keys whatever its ID or sheet row, a
deleted record's keys are simply not kept again, and what depends on the whole list (the email domains no
company owns, the blocks, the counts the scores use, the name weights of organisations) is computed afresh
every run from the keys (for people, only around the records that changed: pairindex.py, which rebuilds the rows
changed and gone records had from this memory, by their old digests). So the pairs come out the same with or without the memory (tests/test_incremental.py).
Kept in dedupe's state as deflated JSON, like check's row memory.
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

# The key functions' version: the phone library's (its metadata decides what a number's key is) and a digest
# of the code that computes keys (keys.py, orgs.py, matchkeys.py), so a change there never meets an old memory.
KEYS_VERSION = f"1/{phonenumbers.__version__}"


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


class KeyMemory:
    """The keys known from the state given (``kind`` -> digests and key columns) and those used in this run."""

    def __init__(self, packed: Any = None) -> None:
        self._known: dict[str, tuple[pd.Index, dict[str, np.ndarray]]] = _unpack(packed)
        self._latest: dict[str, list[tuple[np.ndarray, dict[str, list]]]] = {}
        self.computed = 0  # records whose keys this run had to compute (the rest were known)

    def keyed(self, kind: str, texts: dict[str, list[str]], columns: tuple[str, ...],
              compute: Callable[[dict[str, list[str]]], dict[str, list]], digests: np.ndarray | None = None) -> dict[str, list]:
        """``compute(texts)`` (one list per key column in ``columns``), computed only for the rows whose texts
        (every list of ``texts``, one item per record) this memory has not seen under ``kind``. ``digests``:
        texts_digests(texts), when the caller has them."""
        n = len(next(iter(texts.values()))) if texts else 0
        if n == 0:
            return compute(texts)
        digests = texts_digests(texts) if digests is None else digests
        known = self._known.get(kind)
        if known is not None and set(known[1]) == set(columns):
            at = known[0].get_indexer(digests)
        else:
            known, at = None, np.full(n, -1)
        fresh = np.flatnonzero(at < 0)
        if len(fresh) == n:
            out = compute(texts)
        else:
            got = compute({c: [v[k] for k in fresh] for c, v in texts.items()}) if len(fresh) else {}
            hit = at >= 0
            out = {}
            for c in columns:
                col = np.empty(n, dtype=object)
                col[hit] = known[1][c][at[hit]]
                if len(fresh):
                    col[fresh] = got[c]
                out[c] = col.tolist()
        self.computed += len(fresh)
        self._latest.setdefault(kind, []).append((digests, {c: out[c] for c in columns}))
        return out

    def reuse(self, kind: str, digests: np.ndarray, keys: dict[str, np.ndarray]) -> None:
        """Records whose keys the caller had already (a runner's round handing its records to the next): kept as
        if keyed() had given them, so state() and carried() know them."""
        if len(digests):
            self._latest.setdefault(kind, []).append((digests, {c: list(v) for c, v in keys.items()}))

    def carried(self) -> "KeyMemory":
        """A memory knowing the keys this one used, unpacked: what a runner's next round of the same run starts
        from (state() and its unpacking cost ~0.15 s a round at 30k leads for what stays in memory)."""
        out = KeyMemory()
        for kind, parts in self._latest.items():
            digests, first = np.unique(np.concatenate([d for d, _ in parts]), return_index=True)
            cols = {}
            for c in parts[0][1]:
                values = np.empty(sum(len(d) for d, _ in parts), dtype=object)
                values[:] = [v for _, got in parts for v in got[c]]
                cols[c] = values[first]
            out._known[kind] = (pd.Index(digests), cols)
        return out

    def state(self) -> str:
        """The keys of this run's records (not the deleted ones'), deflated: a header (JSON) and, per kind, the
        digests' bytes and each key column as codes (bytes) and its distinct texts joined."""
        header: dict[str, Any] = {"version": keys_version(), "kinds": {}}
        blobs: list[bytes] = []
        for kind, parts in self._latest.items():
            digests = np.concatenate([d for d, _ in parts])
            digests, first = np.unique(digests, return_index=True)  # one row per digest (a record twice, or leads and contacts)
            columns = []
            kind_blobs = [digests.astype("<u8").tobytes()]
            for c in parts[0][1]:
                values = np.array([v for _, cols in parts for v in cols[c]], dtype=object)[first]
                # as codes and distinct values: equal keys come back as one object (hashed once, compared by
                # identity in the blocking and scoring that follow), and the memory deflates to little
                codes, uniques = pd.factorize(values)
                uniques = uniques.tolist()
                is_bool = bool(uniques) and isinstance(uniques[0], bool)
                text = "".join("1" if v else "0" for v in uniques) if is_bool else _SEP.join(uniques)
                if not is_bool and text.count(_SEP) != max(len(uniques) - 1, 0):
                    break  # a key holding the separator: this kind is not kept (computed again next time)
                data = text.encode("utf-8", "surrogatepass")
                # the codes as narrow as their count allows: a quarter of the bytes to deflate for a flag
                width = 1 if len(uniques) <= 0x100 else 2 if len(uniques) <= 0x10000 else 4
                columns.append([c, is_bool, len(uniques), len(data), width])
                kind_blobs += [codes.astype(_CODES[width]).tobytes(), data]
            else:
                header["kinds"][kind] = {"n": len(digests), "columns": columns}
                blobs += kind_blobs
        raw = json.dumps(header, separators=(",", ":")).encode("ascii") + b"\n" + b"".join(blobs)
        return base64.b64encode(zlib.compress(raw, 1)).decode("ascii")


def texts_digests(texts: dict[str, list[str]]) -> np.ndarray:
    """One 64-bit digest per record of its texts (one list per column): a record's own, whatever the others."""
    return pd.util.hash_pandas_object(pd.DataFrame(texts, copy=False), index=False).to_numpy(np.uint64)


def _unpack(packed: Any) -> dict[str, tuple[pd.Index, dict[str, np.ndarray]]]:
    """The memory packed by state(); empty when missing, of another version, or damaged (the keys are then
    computed again: the memory only saves work)."""
    if not isinstance(packed, str) or not packed:
        return {}
    try:
        raw = zlib.decompress(base64.b64decode(packed))
        head, _, body = raw.partition(b"\n")
        header = json.loads(head)
        if header.get("version") != keys_version():
            return {}
        out, at = {}, 0
        for kind, meta in header["kinds"].items():
            n = int(meta["n"])
            digests = np.frombuffer(body, dtype="<u8", count=n, offset=at).astype(np.uint64)
            at += 8 * n
            cols: dict[str, np.ndarray] = {}
            for name, is_bool, distinct, size, *rest in meta["columns"]:
                width = int(rest[0]) if rest else 4  # a memory packed before the codes were narrowed
                codes = np.frombuffer(body, dtype=_CODES[width], count=n, offset=at)
                at += width * n
                text = body[at:at + size].decode("utf-8", "surrogatepass")
                at += size
                uniques = [ch == "1" for ch in text] if is_bool else (text.split(_SEP) if distinct else [])
                if len(uniques) != distinct or (n and (codes.min() < 0 or codes.max() >= distinct)):
                    return {}
                table = np.empty(distinct, dtype=object)
                table[:] = uniques
                cols[name] = table[codes]
            out[kind] = (pd.Index(digests), cols)
        return out if at == len(body) else {}
    except (ValueError, TypeError, KeyError, AttributeError, zlib.error):
        return {}
