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
                sides: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Pairs (encoded i * n + j, i < j) of records sharing a non-empty key.

    ``keys`` may be several arrays sharing one key space (a name key and its first/last swapped
    twin). Sorted by (key, secondary), each record is paired with the next ones of its block up to
    ``window`` away: all pairs of a small block, a sorted-neighbourhood window in a large one
    (a switchboard number shared by a whole company), so the cost stays linear.
    ``sides``: for pairs across two tables only, which records are of each (two masks, the first table's records
    before the second's): a pair is kept when its first record is of the first table and its second of the other;
    a block lacking either side gives no such pair, and is left out before sorting (the other blocks keep their
    members and order: the same pairs, in the same order).
    """
    parts = keys if isinstance(keys, list) else [keys]
    n = len(parts[0])
    codes = np.concatenate(parts)
    if codes.dtype == object:
        codes = codes_of(*parts)
        codes = np.concatenate(codes) if len(parts) > 1 else codes[0]
    rows = np.tile(np.arange(n), len(parts))
    if sides is not None:
        codes = _both_sides(codes, sides[0][rows], sides[1][rows])
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
        if sides is not None:  # dropped here, before the pairs of all passes are put together
            keep = sides[0][a] & sides[1][b]
            a, b = a[keep], b[keep]
        out.append(a * n + b)
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def _both_sides(codes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``codes`` with -1 for every record of a block holding no record of ``a`` or none of ``b``."""
    given = codes >= 0
    with_a, with_b = pd.unique(codes[given & a]), pd.unique(codes[given & b])
    if not len(with_a) or not len(with_b):
        return np.full(len(codes), -1, dtype=codes.dtype)
    both = with_a[pd.Series(with_a, copy=False).isin(with_b).to_numpy()]
    keep = given & pd.Series(codes, copy=False).isin(both).to_numpy()
    return np.where(keep, codes, -1)


def person_block_keys(r: pd.DataFrame) -> list[tuple]:
    """(key arrays, secondary sort, window) of each blocking pass over people."""
    factorized = _Factorized()  # the first and last names and the firm key several passes: each factorized once
    first = r["first"].to_numpy(object)
    last = r["last"].to_numpy(object)
    c1 = r["canon1"].to_numpy(object)
    f0 = _per_value(lambda f: f[:1], first, factorized)
    l0 = _per_value(lambda x: x[:1], last, factorized)
    sdx_last = _per_value(lambda x: soundex(x.split(" ")[-1]) if x else "", last, factorized)
    sdx_first = _per_value(lambda f: soundex(f.split(" ")[0]) if f else "", first, factorized)
    both = (first != "") & (last != "")

    def when(mask: np.ndarray, key: np.ndarray) -> np.ndarray:
        out = key.copy()
        out[~mask] = "" if key.dtype == object else -1
        return out

    local = r["local"].to_numpy(object)
    role = _per_value(lambda x: x in ROLE_LOCALS or len(x) < 4, local).astype(bool)
    # the nickname-folded first name and the last name as an unordered pair (swapped first/last meet): one integer
    # key, equal exactly where the texts 'a|b' of the two sorted would be (names never hold '|')
    cc, cl = codes_of(c1, last)
    width = int(max(cc.max(initial=-1), cl.max(initial=-1))) + 2
    sorted_name = np.minimum(cc + 1, cl + 1).astype(np.int64) * width + np.maximum(cc + 1, cl + 1)
    company = r["company"].to_numpy(object)
    cdomain = r["cdomain"].to_numpy(object)
    org = np.where(company != "", company, cdomain).astype(object)
    place = _joined(org, r["city"].to_numpy(object), "|", factorized)
    name = _joined(last, first, " ", factorized)
    return _coded([
        (r["email"].to_numpy(object), name, _MAX_BLOCK),
        ([r["phone1"].to_numpy(object), r["phone2"].to_numpy(object)], name, _MAX_BLOCK),
        (when(~role, local), name, 8),
        (when(both, sorted_name), place, 10),  # namesakes are many: the same company sorts together
        (_two_part((both, sdx_last, f0), (both, sdx_first, l0)), place, 5),  # typos, also swapped
        (_two_part(((last != "") & (org != ""), last, org), factorized=factorized)[0], name, 20),
        (_two_part(((c1 != "") & (org != ""), c1, org), factorized=factorized)[0], name, 20),
        # initials at one firm: 'L. Kirkwnod' and 'Lachlan Kirkwood' (a cut-short name and a typo)
        (_int_key(org, f0, l0, factorized=factorized), name, 10),
    ])


def _joined(a: np.ndarray, b: np.ndarray, sep: str, factorized) -> np.ndarray:
    """A secondary sort key standing for the texts ``a + sep + b``: only the order of first appearance of its
    distinct values counts (it is factorized), so an integer of the codes of ``a`` and ``b`` serves where no two
    pairs join into one text; else the texts themselves (building and hashing them took a fifth of blocking)."""
    ca, ua = factorized(a)
    cb, ub = factorized(b)
    if not len(a) or ca.min() < 0 or cb.min() < 0 or _join_alike(ua, ub, sep):
        return a + sep + b
    return ca.astype(np.int64) * len(ub) + cb


def _join_alike(ua: np.ndarray, ub: np.ndarray, sep: str) -> bool:
    """Whether two pairs of (a value of ``ua``, a value of ``ub``) join into one text around ``sep``. For
    a1 + sep + b1 == a2 + sep + b2 with a1 the longer, a1 is a2 + sep + x and b2 is x + sep + b1: some x follows
    a value of ``ua`` and sep in another value of ``ua``, and comes before sep and a value of ``ub`` in a value of
    ``ub`` (and any such x makes two pairs join alike)."""
    a, b = ua.tolist(), ub.tolist()
    a_set, b_set = set(a), set(b)
    after = {x[k + 1:] for x in a if sep in x for k in range(len(x)) if x[k] == sep and x[:k] in a_set}
    if not after:
        return False
    return any(y[:k] in after for y in b if sep in y for k in range(len(y)) if y[k] == sep and y[k + 1:] in b_set)


class _Factorized:
    """pd.factorize of arrays, each array (the very object) factorized once: the same codes every time."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        got = self._seen.get(id(values))
        if got is None:  # (the array is held with its codes: its id is not given to another meanwhile)
            got = self._seen[id(values)] = (values, *pd.factorize(values))
        return got[1], got[2]


def _per_value(fn, values: np.ndarray, factorized=pd.factorize) -> np.ndarray:
    """fn of each value, called once per distinct value (names, mailboxes repeat a lot)."""
    codes, uniques = factorized(values)
    if len(codes) and codes.min() < 0:  # (a missing value: each one by itself)
        return np.array([fn(v) for v in values], dtype=object)
    out = np.empty(len(uniques), dtype=object)
    out[:] = [fn(u) for u in uniques]
    return out[codes]


def _two_part(*keys: tuple[np.ndarray, np.ndarray, np.ndarray], factorized=pd.factorize) -> list[np.ndarray]:
    """Integer keys of (mask, first part, second part) arrays sharing one key space, -1 where the mask is off:
    equal exactly where the texts 'first|second' would be (the first parts, names and phonetic codes, never
    hold '|'), without building and hashing those texts (a tenth of blocking)."""
    n = len(keys[0][1])
    one = len(keys) == 1  # (the arrays themselves: factorized once for every pass keying by them)
    first = factorized(keys[0][1] if one else np.concatenate([k[1] for k in keys]))[0].astype(np.int64)
    second, distinct = factorized(keys[0][2] if one else np.concatenate([k[2] for k in keys]))
    out = first * (len(distinct) + 1) + second
    out[~np.concatenate([k[0] for k in keys])] = -1
    return [out[k * n:(k + 1) * n] for k in range(len(keys))]


def _int_key(*parts: np.ndarray, factorized=pd.factorize) -> np.ndarray:
    """One integer key of several string columns (-1 where any is empty), without building strings."""
    key = np.zeros(len(parts[0]), dtype=np.int64)
    empty = np.zeros(len(parts[0]), dtype=bool)
    for p in parts:
        codes, uniques = factorized(p)
        empty |= p == ""
        key = key * (len(uniques) + 1) + codes
    key[empty] = -1
    return key


def _coded(keysets: list[tuple]) -> list[tuple]:
    """The keysets with integer codes in place of strings ('' -> -1), each array factorized once for
    the passes within each table and across; as 32-bit integers (the codes count values, fewer than the records of
    the passes), which the passes only compare and sort: half the ~45 MB the keys of 450,000 people took as 64-bit."""
    seen: dict[int, np.ndarray] = {}

    def sec(a: np.ndarray) -> np.ndarray:
        if id(a) not in seen:
            seen[id(a)] = _narrow(pd.factorize(a)[0])
        return seen[id(a)]

    out = []
    for keys, secondary, window in keysets:
        codes = [_narrow(c) for c in codes_of(*keys)] if isinstance(keys, list) else _narrow(codes_of(keys)[0])
        out.append((codes, sec(secondary), window))
    return out


def _narrow(codes: np.ndarray) -> np.ndarray:
    """Codes (-1 and up) as 32-bit integers when they fit."""
    return codes.astype(np.int32) if codes.max(initial=-1) < np.iinfo(np.int32).max else codes


def slice_pass(keyset: tuple, lo: int, hi: int) -> tuple:
    """One blocking pass restricted to the records lo..hi-1 of the frame it was computed on."""
    keys, secondary, window = keyset
    keys = [k[lo:hi] for k in keys] if isinstance(keys, list) else keys[lo:hi]
    return keys, secondary[lo:hi], window


def pair_index(keysets: Iterable[tuple], n: int,
               sides: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs (i < j) of every blocking pass, each once, in the order the passes find them.
    ``sides``: as block_pairs takes them."""
    codes = [block_pairs(k, sec, w, sides) for k, sec, w in keysets]
    allp = distinct_in_order(codes) if codes else np.empty(0, dtype=np.int64)
    return allp // n, allp % n


# Values packed with their place and sorted at once (distinct_in_order): slices of the sorted list are compared this
# many at a time (a slice's values are a temporary as long)
_COMPARED_AT_ONCE = 1_000_000


def distinct_in_order(chunks: list[np.ndarray]) -> np.ndarray:
    """The distinct values of the integer arrays ``chunks`` put end to end, in the order they first appear (as
    pd.unique gives them; the list is emptied, each array let go once read). Each value is packed with its place into
    one 64-bit integer and the lot sorted in place: the first of each run of equal values is its first appearance,
    and those, sorted again by place, are the answer. About 9 bytes a value at the top where hashing takes ~40 (the
    candidate pairs of a first run at 300k sample leads are millions); where value and place do not fit in 62 bits,
    by hashing."""
    total = sum(len(c) for c in chunks)
    dtype = np.result_type(*chunks) if chunks else np.dtype(np.int64)
    if not total or dtype.kind not in "iu":
        return pd.unique(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.int64)
    lo = min(int(c.min()) for c in chunks if len(c))
    value_bits = (max(int(c.max()) for c in chunks if len(c)) - lo).bit_length()
    place_bits = max(total - 1, 1).bit_length()
    if value_bits + place_bits > 62:
        return pd.unique(np.concatenate(chunks))
    packed = np.empty(total, dtype=np.int64)
    at = 0
    for k, c in enumerate(chunks):
        part = packed[at:at + len(c)]
        np.subtract(c, lo, out=part, casting="unsafe")  # (0 .. 2**value_bits - 1: fits)
        part <<= place_bits
        part |= np.arange(at, at + len(c), dtype=np.int64)
        at += len(c)
        chunks[k] = c = part = None
    chunks.clear()
    packed.sort()
    first = np.empty(total, dtype=bool)  # the first of each run of equal values
    first[0] = True
    for a in range(1, total, _COMPARED_AT_ONCE):
        values = packed[a - 1:a + _COMPARED_AT_ONCE] >> place_bits
        np.not_equal(values[1:], values[:-1], out=first[a:a + len(values) - 1])
    out = packed[first]
    del packed, first
    places = out & ((1 << place_bits) - 1)
    out >>= place_bits
    places <<= value_bits
    places |= out  # (place, value): sorted by place
    del out
    places.sort()
    places &= (1 << value_bits) - 1
    places += lo
    return places.astype(dtype, copy=False)
