"""Blocking: the candidate pairs of records sharing a key (email, phone, name forms, name at a firm), found
by sorting coded keys, all pairs of a small block and a sliding window over a large one, so the cost stays linear.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from crm_sheets.jobs.dedupe.keys import ROLE_LOCALS, soundex

_MAX_BLOCK = 40  # a block larger than this is scanned as a sliding window (sorted neighbourhood)


def codes_of(*columns: np.ndarray) -> list[np.ndarray]:
    """Integer codes of string columns in one shared code space ('' -> -1): pair tests become int tests."""
    n = len(columns[0])
    allv = np.concatenate(columns)
    codes = pd.factorize(allv)[0]
    codes[(allv < 0) if allv.dtype.kind in "iu" else (allv == "")] = -1
    return [codes[k * n:(k + 1) * n] for k in range(len(columns))]


def block_pairs(keys: np.ndarray | list[np.ndarray], secondary: np.ndarray, window: int = _MAX_BLOCK,
           allowed=None) -> np.ndarray:
    """Pairs (encoded i * n + j, i < j) of records sharing a non-empty key.

    ``keys`` may be several arrays sharing one key space (a name key and its first/last swapped
    twin). Sorted by (key, secondary), each record is paired with the next ones of its block up to
    ``window`` away: all pairs of a small block, a sorted-neighbourhood window in a large one
    (a switchboard number shared by a whole company), so the cost stays linear.
    """
    parts = keys if isinstance(keys, list) else [keys]
    n = len(parts[0])
    codes = np.concatenate(parts)
    if codes.dtype == object:
        codes = codes_of(*parts)
        codes = np.concatenate(codes) if len(parts) > 1 else codes[0]
    rows = np.tile(np.arange(n), len(parts))
    idx = np.flatnonzero(codes >= 0)
    if len(idx) < 2:
        return np.empty(0, dtype=np.int64)
    sec_codes = (pd.factorize(secondary)[0] if secondary.dtype == object else secondary)[rows[idx]]
    idx = idx[np.lexsort((sec_codes, codes[idx]))]
    sk, order = codes[idx], rows[idx]
    # how many records follow each one in its block: at distance d only those with d or more are compared, so
    # a few large blocks (a switchboard) do not make every step of the window scan the whole list
    m = len(sk)
    starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
    follow = np.repeat(np.r_[starts[1:], m], np.diff(np.r_[starts, m])) - np.arange(m) - 1
    active = np.flatnonzero(follow >= 1)
    out = []
    for d in range(1, window):
        active = active[follow[active] >= d]  # (in order: the pairs come out as a scan of the sorted list gives them)
        if not len(active):
            break
        a, b = order[active], order[active + d]
        same = a != b  # a record under two keys of one pass (phone and mobile alike) is not its own pair
        a, b = a[same], b[same]
        a, b = np.minimum(a, b).astype(np.int64), np.maximum(a, b)
        if allowed is not None:  # dropped here, before the pairs of all passes are put together
            keep = allowed(a, b)
            a, b = a[keep], b[keep]
        out.append(a * n + b)
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def person_block_keys(r: pd.DataFrame) -> list[tuple]:
    """(key arrays, secondary sort, window) of each blocking pass over people."""
    fz = _Factorized()  # each text column hashed once, what is made of it per distinct value (43,000 people at 30k leads)
    first = r["first"].to_numpy(object)
    last = r["last"].to_numpy(object)
    c1 = r["canon1"].to_numpy(object)
    f0 = fz.per_value(lambda f: f[:1], first)
    l0 = fz.per_value(lambda x: x[:1], last)
    sdx_last = fz.per_value(lambda x: soundex(x.split(" ")[-1]) if x else "", last)
    sdx_first = fz.per_value(lambda f: soundex(f.split(" ")[0]) if f else "", first)
    both = (first != "") & (last != "")

    def when(mask: np.ndarray, key: np.ndarray) -> np.ndarray:
        out = key.copy()
        out[~mask] = -1
        return out

    local = r["local"].to_numpy(object)
    role = fz.per_value(lambda x: x in ROLE_LOCALS or len(x) < 4, local).astype(bool)
    # the nickname-folded first name and the last name as an unordered pair (swapped first/last meet): one integer
    # key, equal exactly where the texts 'a|b' of the two sorted would be (names never hold '|')
    cc, cl = fz.codes_of(c1, last)
    width = int(max(cc.max(initial=-1), cl.max(initial=-1))) + 2
    sorted_name = np.minimum(cc + 1, cl + 1).astype(np.int64) * width + np.maximum(cc + 1, cl + 1)
    company = r["company"].to_numpy(object)
    cdomain = r["cdomain"].to_numpy(object)
    org = np.where(company != "", company, cdomain).astype(object)
    place = fz.joined(org, "|", r["city"].to_numpy(object))
    name = fz.joined(last, " ", first)
    return _coded([
        (r["email"].to_numpy(object), name, _MAX_BLOCK),
        ([r["phone1"].to_numpy(object), r["phone2"].to_numpy(object)], name, _MAX_BLOCK),
        (fz.emptied(local, ~role), name, 8),
        (when(both, sorted_name), place, 10),  # namesakes are many: the same company sorts together
        (_two_part((both, sdx_last, f0), (both, sdx_first, l0), fz=fz), place, 5),  # typos, also swapped
        (_two_part(((last != "") & (org != ""), last, org), fz=fz)[0], name, 20),
        (_two_part(((c1 != "") & (org != ""), c1, org), fz=fz)[0], name, 20),
        # initials at one firm: 'L. Kirkwnod' and 'Lachlan Kirkwood' (a cut-short name and a typo)
        (_int_key(org, f0, l0, fz=fz), name, 10),
    ], fz)


class _Factorized:
    """pd.factorize of the arrays of one call of person_block_keys, each hashed once, and of what is made of them
    per distinct value: the codes of a value made of another's (its first letter, its soundex, two columns joined)
    come from the other's distinct values, which are in order of first appearance, so they are the codes, in the
    same order, that factorizing the made array gives. An array holding a missing value (code -1) is factorized
    as it is, as are the arrays made of it."""

    def __init__(self) -> None:
        self._of: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # id -> (array, codes, uniques)

    def factorize(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        got = self._of.get(id(a))
        if got is None or got[0] is not a:
            codes, uniques = pd.factorize(a)
            got = self._of[id(a)] = (a, codes, uniques)
        return got[1], got[2]

    def _made(self, values: np.ndarray, codes: np.ndarray, uniques: np.ndarray) -> np.ndarray:
        """``values`` of each record, made of distinct values ``uniques`` (in order) taken at ``codes``: kept with
        its factorization."""
        sub, distinct = pd.factorize(uniques)
        out = values[codes]
        self._of[id(out)] = (out, sub[codes], distinct)
        return out

    def per_value(self, fn, values: np.ndarray) -> np.ndarray:
        """fn of each value, called once per distinct value (names, mailboxes repeat a lot)."""
        codes, uniques = self.factorize(values)
        if len(codes) and codes.min() < 0:  # (a missing value: each one by itself)
            return np.array([fn(v) for v in values], dtype=object)
        out = np.empty(len(uniques), dtype=object)
        out[:] = [fn(u) for u in uniques]
        return self._made(out, codes, out) if out.dtype == object and len(codes) else out[codes]

    def joined(self, a: np.ndarray, sep: str, b: np.ndarray) -> np.ndarray:
        """a + sep + b, each text made once per distinct pair."""
        ca, ua = self.factorize(a)
        cb, ub = self.factorize(b)
        if not len(ca) or ca.min() < 0 or cb.min() < 0:
            return a + sep + b
        pair, rows = pd.factorize(ca.astype(np.int64) * (len(ub) + 1) + cb, sort=False)
        texts = np.empty(len(rows), dtype=object)
        texts[:] = [x + sep + y for x, y in zip(ua[rows // (len(ub) + 1)], ub[rows % (len(ub) + 1)])]
        return self._made(texts, pair, texts)

    def emptied(self, values: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """``values`` with '' where ``keep`` is off; factorized as the codes of ``values`` so changed (a text and its
        code are one for one, so the codes come in the same order)."""
        codes, uniques = self.factorize(values)
        out = values.copy()
        out[~keep] = ""
        if len(codes) and codes.min() >= 0:
            at = np.flatnonzero(uniques == "")
            coded = codes.copy()
            coded[~keep] = at[0] if len(at) else len(uniques)
            sub, distinct = pd.factorize(coded)
            self._of[id(out)] = (out, sub, np.concatenate([uniques, np.array([""], dtype=object)])[distinct])
        return out

    def concatenated(self, *columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray] | None:
        """The codes of each column and the distinct values of the columns put end to end, as factorizing them
        put together gives them (None for a column that is not text or holds a missing value)."""
        if any(c.dtype != object for c in columns):
            return None
        each = [self.factorize(c) for c in columns]
        if any(len(c) and c.min() < 0 for c, _ in each):
            return None
        allu = np.concatenate([u for _, u in each])
        shared, distinct = pd.factorize(allu)
        out, lo = [], 0
        for c, u in each:
            out.append(shared[lo:lo + len(u)][c] if len(c) else np.empty(0, dtype=shared.dtype))
            lo += len(u)
        return out, distinct

    def codes_of(self, *columns: np.ndarray) -> list[np.ndarray]:
        """codes_of(*columns), from each column's factorization."""
        got = self.concatenated(*columns)
        if got is None:
            return codes_of(*columns)
        out, distinct = got
        at = np.flatnonzero(distinct == "")
        if len(at):
            for c in out:
                c[c == at[0]] = -1
        return out


def _two_part(*keys: tuple[np.ndarray, np.ndarray, np.ndarray], fz: _Factorized | None = None) -> list[np.ndarray]:
    """Integer keys of (mask, first part, second part) arrays sharing one key space, -1 where the mask is off:
    equal exactly where the texts 'first|second' would be (the first parts, names and phonetic codes, never
    hold '|'), without building and hashing those texts (a tenth of blocking)."""
    fz = fz or _Factorized()
    n = len(keys[0][1])
    firsts, seconds = [k[1] for k in keys], [k[2] for k in keys]
    if len(keys) == 1:
        first = fz.factorize(firsts[0])[0].astype(np.int64)
        second, distinct = fz.factorize(seconds[0])
    else:
        got, gave = fz.concatenated(*firsts), fz.concatenated(*seconds)
        first = np.concatenate(got[0]).astype(np.int64) if got is not None else \
            pd.factorize(np.concatenate(firsts))[0].astype(np.int64)
        second, distinct = (np.concatenate(gave[0]), gave[1]) if gave is not None else pd.factorize(np.concatenate(seconds))
    out = first * (len(distinct) + 1) + second
    out[~np.concatenate([k[0] for k in keys])] = -1
    return [out[k * n:(k + 1) * n] for k in range(len(keys))]


def _int_key(*parts: np.ndarray, fz: _Factorized | None = None) -> np.ndarray:
    """One integer key of several string columns (-1 where any is empty), without building strings."""
    fz = fz or _Factorized()
    key = np.zeros(len(parts[0]), dtype=np.int64)
    empty = np.zeros(len(parts[0]), dtype=bool)
    for p in parts:
        codes, uniques = fz.factorize(p)
        empty |= p == ""
        key = key * (len(uniques) + 1) + codes
    key[empty] = -1
    return key


def _coded(keysets: list[tuple], fz: _Factorized | None = None) -> list[tuple]:
    """The keysets with integer codes in place of strings ('' -> -1), each array factorized once for
    the passes within each table and across."""
    fz = fz or _Factorized()
    out = []
    for keys, secondary, window in keysets:
        codes = fz.codes_of(*keys) if isinstance(keys, list) else fz.codes_of(keys)[0]
        out.append((codes, fz.factorize(secondary)[0], window))
    return out


def slice_pass(keyset: tuple, lo: int, hi: int) -> tuple:
    """One blocking pass restricted to the records lo..hi-1 of the frame it was computed on."""
    keys, secondary, window = keyset
    keys = [k[lo:hi] for k in keys] if isinstance(keys, list) else keys[lo:hi]
    return keys, secondary[lo:hi], window


def pair_index(keysets: Iterable[tuple], n: int, allowed=None) -> tuple[np.ndarray, np.ndarray]:
    codes = [block_pairs(k, sec, w, allowed) for k, sec, w in keysets]
    allp = pd.unique(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)
    return allp // n, allp % n
