"""Dedupe's memory of match keys: each record's keys as the last run computed them, found again by a digest of
the texts they are computed from, so a run computes keys (name folding, nicknames, phone parsing, company
and address keys: most of a run's work) only for records that are new or whose matched cells changed.

Content-addressed: a record whose cells are as they were finds its keys whatever its ID or sheet row, a
deleted record's keys are simply not kept again, and what depends on the whole list (the email domains no
company owns, the blocks, the counts the scores use, the name weights of organisations) is computed afresh
every run from the keys. So the pairs come out the same with or without the memory (tests/test_incremental.py).
Kept in dedupe's state as deflated JSON, like check's row memory.
"""
from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Callable

import numpy as np
import pandas as pd
import phonenumbers

# The key functions' version: a change to keys.py/orgs.py that gives other keys must change it (the
# phone library's version is part of it: its metadata decides what a number's key is).
KEYS_VERSION = f"1/{phonenumbers.__version__}"


class KeyMemory:
    """The keys known from the state given (``kind`` -> digest -> key tuple) and those used in this run."""

    def __init__(self, packed: Any = None) -> None:
        self._known: dict[str, dict[int, tuple]] = _unpack(packed)
        self._latest: dict[str, dict[int, tuple]] = {}
        self.computed = 0  # records whose keys this run had to compute (the rest were known)

    def keyed(self, kind: str, texts: dict[str, list[str]], columns: tuple[str, ...],
              compute: Callable[[dict[str, list[str]]], dict[str, list]]) -> dict[str, list]:
        """``compute(texts)`` (one list per key column in ``columns``), computed only for the rows whose texts
        (every list of ``texts``, one item per record) this memory has not seen under ``kind``."""
        n = len(next(iter(texts.values()))) if texts else 0
        if n == 0:
            return compute(texts)
        digests = pd.util.hash_pandas_object(pd.DataFrame(texts, copy=False), index=False).to_numpy(np.uint64)
        known = self._known.get(kind, {})
        rows: list[tuple | None] = [known.get(d) for d in digests.tolist()]
        fresh = [k for k, r in enumerate(rows) if r is None]
        if fresh:
            sub = {c: [v[k] for k in fresh] for c, v in texts.items()} if len(fresh) < n else texts
            got = compute(sub)
            for m, row in enumerate(zip(*(got[c] for c in columns))):
                rows[fresh[m]] = row
            self.computed += len(fresh)
        self._latest.setdefault(kind, {}).update(zip(digests.tolist(), rows))
        return {c: [r[x] for r in rows] for x, c in enumerate(columns)}

    def state(self) -> str:
        """The keys of this run's records (not the deleted ones'), as deflated JSON text."""
        kinds = {kind: {"digests": list(rows), "rows": list(rows.values())} for kind, rows in self._latest.items()}
        text = json.dumps({"version": KEYS_VERSION, "kinds": kinds}, separators=(",", ":"), ensure_ascii=False)
        return base64.b64encode(zlib.compress(text.encode("utf-8", "surrogatepass"), 1)).decode("ascii")


def _unpack(packed: Any) -> dict[str, dict[int, tuple]]:
    """The memory packed by state(); empty when missing, of another version, or damaged (the keys are then
    computed again: the memory only saves work)."""
    if not isinstance(packed, str) or not packed:
        return {}
    try:
        data = json.loads(zlib.decompress(base64.b64decode(packed)).decode("utf-8", "surrogatepass"))
        if data.get("version") != KEYS_VERSION:
            return {}
        return {kind: {int(d): tuple(r) for d, r in zip(v["digests"], v["rows"], strict=True)}
                for kind, v in data["kinds"].items()}
    except (ValueError, TypeError, KeyError, AttributeError, zlib.error):
        return {}
