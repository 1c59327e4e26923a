"""Dedupe's blocking index of people: the records the last pairing saw (table, ID, the digest of the cells their keys
come from, in frame order), the email domains each table shared then, and the pairs it found; so a run whose edits
touched a few people pairs again only the pairs those edits can change, and takes the others from the index.

Which pairs can change when records change (C: new, or their keys' cells changed, or their email domain's
'nobody's company' status flipped; D: deleted or archived), every other record's frame row being as it was:
- pairs of a record of C or D;
- pairs of a block (a blocking pass's key) holding a record of C or D, by its old or new keys: a sorted window
  over a large block shifts where records enter or leave it;
- pairs of a block holding a record whose secondary sort value is one a record of C or D holds or held: a block
  is sorted by the codes of that value in order of first appearance in the whole list, and where that value's
  first record changed, its place among the others may have;
- pairs whose score uses a count that moved: how many records give a phone number (personal_phone) or a first
  name, last name and city (name_city_count): every record giving a number or such a trio that a record of C or D
  gives or gave is scored again.
Every other pair of a block untouched by these is the same pair with the same score (a block untouched keeps its
members and their order: the surviving records keep their relative order, else the full path runs). The blocks so
touched are paired again on the list as it is and as it was (the old rows of C and D rebuilt from the key memory,
index.py), each with all its members, in their order; pairs found in one but not the other are settled by pairing
the untouched blocks that hold both records. The pairs are the same as pairing everyone again
(tests/test_dedupe_index.py); where exactness is not cheap (records reordered, an ID twice, old keys unknown, many
changes) the caller pairs everyone (None).
"""
from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.jobs.dedupe.blocking import block_pairs, distinct_in_order, person_block_keys
from crm_sheets.jobs.dedupe.explain import match_pairs
from crm_sheets.jobs.dedupe.index import INFLATE_ERRORS, KeyMemory, inflate
from crm_sheets.jobs.dedupe.matchkeys import PERSON_KEYS, people_frame
from crm_sheets.jobs.dedupe.matchpair import MatchPair
from crm_sheets.jobs.dedupe.pairscores import prepare_people, score_people

_SEP = "\x00"  # between IDs: no workbook cell holds it
# The columns of the people frame that blocking (person_block_keys) and the score counts (_counted) read
_KEYED = ("first", "last", "canon1", "local", "email", "phone1", "phone2", "company", "cdomain", "city")
_MAX_CHANGED = 0.2  # more records changed or gone than this share of the list: pairing everyone is as cheap
# Candidate pairs scored at once (scored_people): score_people keeps a few dozen arrays as long as the pairs, ~240
# bytes a pair (86,578 candidates at 10k sample leads, about ten times as many at 100k; the runner's second round of a
# first run scores again every pair of the blocks the first round's merges touched, at 100k the top of its memory).
_SCORED_AT_ONCE = 200_000


class PeopleIndex:
    """The people a pairing saw and the pairs it found (``pairs``; when packed, found again in the kept people pairs
    by ``digest``, the people digest they are kept under in OrgPairs)."""

    def __init__(self, params: str, tables: list[tuple[str, np.ndarray, np.ndarray]], shared: dict[str, list[str]],
                 pairs: list[MatchPair] | None = None, digest: str | None = None,
                 rows: dict[str, tuple[str, np.ndarray]] | None = None) -> None:
        self.params = params
        self.tables = tables  # (table, IDs as objects, digests as uint64), in frame order
        self.shared = shared
        self.pairs = pairs
        self.digest = digest
        # table -> (context, row keys in frame order) of matchkeys.person_rows: which records' cells are as they were
        self.rows = rows or {}

    def since(self, table: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
        """(IDs, digests of their texts, row keys, context) of the table's records as this pairing saw them."""
        got = self.rows.get(table)
        for t, rids, digests in self.tables:
            if t == table and got is not None and len(got[1]) == len(rids):
                return rids, digests, got[1], got[0]
        return None

    def pack(self) -> dict[str, Any] | None:
        if self.digest is None:
            return None
        ids = _SEP.join(str(r) for _, rids, _ in self.tables for r in rids)
        if ids.count(_SEP) != max(sum(len(r) for _, r, _ in self.tables) - 1, 0):
            return None
        blob = ids.encode("utf-8", "surrogatepass") + b"".join(d.astype("<u8").tobytes() for _, _, d in self.tables)
        out = {"params": self.params, "digest": self.digest, "spans": [[t, len(r)] for t, r, _ in self.tables],
               "shared": self.shared, "blob": base64.b64encode(zlib.compress(blob, 1)).decode("ascii")}
        if self.rows:
            names = sorted(self.rows)
            keys = b"".join(self.rows[t][1].astype("<u8").tobytes() for t in names)
            out["rows"] = {"tables": [[t, self.rows[t][0], len(self.rows[t][1])] for t in names],
                           "blob": base64.b64encode(zlib.compress(keys, 1)).decode("ascii")}
        return out

    @classmethod
    def unpack(cls, packed: Any, kept: dict[str, list]) -> "PeopleIndex | None":
        """The index packed by pack(), its pairs from ``kept`` (OrgPairs' kept pairs); None when missing or damaged."""
        try:
            if not isinstance(packed, dict) or packed.get("digest") not in kept:
                return None
            raw = inflate(base64.b64decode(packed["blob"]))
            spans = [(str(t), int(n)) for t, n in packed["spans"]]
            total = sum(n for _, n in spans)
            ids_len = len(raw) - 8 * total
            ids = raw[:ids_len].decode("utf-8", "surrogatepass").split(_SEP) if total else []
            if len(ids) != total:
                return None
            digests = np.frombuffer(raw, dtype="<u8", count=total, offset=ids_len).astype(np.uint64)
            tables, at = [], 0
            for t, n in spans:
                rids = np.empty(n, dtype=object)
                rids[:] = ids[at:at + n]
                tables.append((t, rids, digests[at:at + n]))
                at += n
            pairs = [MatchPair(ta, ia, tb, ib, score, tuple(reasons)) for ta, ia, tb, ib, score, reasons in kept[packed["digest"]]]
            shared = {str(k): [str(x) for x in v] for k, v in packed["shared"].items()}
            return cls(str(packed["params"]), tables, shared, pairs, packed["digest"], _unpack_rows(packed.get("rows")))
        except (ValueError, TypeError, KeyError, AttributeError, *INFLATE_ERRORS):
            return None


def _unpack_rows(packed: Any) -> dict[str, tuple[str, np.ndarray]]:
    """The row keys packed by pack(); empty when missing or damaged (every record's cells are then read)."""
    try:
        if not isinstance(packed, dict):
            return {}
        raw = inflate(base64.b64decode(packed["blob"]))
        spans = [(str(t), str(context), int(n)) for t, context, n in packed["tables"]]
        if len(raw) != 8 * sum(n for _, _, n in spans):
            return {}
        out, at = {}, 0
        for t, context, n in spans:
            out[t] = (context, np.frombuffer(raw, dtype="<u8", count=n, offset=8 * at).astype(np.uint64))
            at += n
        return out
    except (ValueError, TypeError, KeyError, AttributeError, *INFLATE_ERRORS):
        return {}


def index_params(names: list[str], s, floor: float, version: str) -> str:
    return json.dumps([version, names, s.auto, s.review, s.region, sorted(s.evidence), floor])


def people_pairs_again(old: PeopleIndex, both: pd.DataFrame, spans: dict[str, int], now: list[tuple[str, np.ndarray, np.ndarray]],
                       shared: dict[str, set[str]], params: str, s, floor: float, memory: KeyMemory | None,
                       region: str) -> list[MatchPair] | None:
    """The pairs of people of ``both`` (as matching._people_pairs finds them) from the index of the last pairing:
    only the pairs the changes can change are paired and scored again. None: the caller pairs everyone."""
    if old.params != params or old.pairs is None or memory is None or [t for t, _ in spans.items()] != [t for t, _, _ in old.tables]:
        return None
    n = len(both)
    # each record's place in the old list (-1: new), table by table (IDs are unique within a table)
    old_at = {t: (lo, pd.Index(rids)) for t, rids, lo in _offsets(old.tables)}
    now_at = {t: (lo, pd.Index(rids)) for t, rids, lo in _offsets(now)}
    if not all(ix.is_unique for _, ix in (*old_at.values(), *now_at.values())):
        return None
    at = np.concatenate([np.where(got >= 0, got + old_at[t][0], -1) for t, rids, _ in now
                         for got in [old_at[t][1].get_indexer(rids)]]) if n else np.empty(0, np.int64)
    kept = at[at >= 0]
    if len(kept) > 1 and (np.diff(kept) <= 0).any():
        return None  # records reordered (a sorted sheet): every pair's orientation and every block's order may move
    # the pairs of the last pairing, as places now (-1: gone)
    pk = old.pairs
    ka, kb = _places([(p.table_a, p.id_a) for p in pk], now_at), _places([(p.table_b, p.id_b) for p in pk], now_at)
    del old_at, now_at  # (their IDs' hash tables: ~20 MB each at 300k sample leads, not held through the pairing)
    n_old = sum(len(r) for _, r, _ in old.tables)
    gone = np.ones(n_old, dtype=bool)
    gone[kept] = False
    old_digests = np.concatenate([d for _, _, d in old.tables]) if old.tables else np.empty(0, np.uint64)
    new_digests = np.concatenate([d for _, _, d in now]) if n else np.empty(0, np.uint64)
    changed = (at < 0) | (new_digests != old_digests[np.maximum(at, 0)])
    # a domain that became or stopped being nobody's company changes its records' rows (efree, cdomain)
    edomain = both["edomain"].to_numpy(object)
    lo = 0
    for t, rids, _ in now:
        flipped = set(old.shared.get(t, ())) ^ set(shared.get(t, ()))
        if flipped:
            changed[lo:lo + len(rids)] |= _isin(edomain[lo:lo + len(rids)], list(flipped))
        lo += len(rids)
    ghosts_old = np.sort(np.r_[at[changed & (at >= 0)], np.flatnonzero(gone)])  # old places whose old rows differ
    if len(ghosts_old) + int(changed.sum()) > _MAX_CHANGED * max(n, 1):
        return None
    ghost = _old_rows(old, ghosts_old, memory, region)
    if ghost is None:
        return None
    g = pd.concat([both[list(_KEYED)], ghost[list(_KEYED)]], ignore_index=True) if len(ghost) else both
    # record numbers: a record present now is its place now; a gone one n + k
    m = n + int(gone.sum())
    gone_no = np.full(n_old, -1, dtype=np.int64)
    gone_no[np.flatnonzero(gone)] = n + np.arange(int(gone.sum()))
    now_of_old = np.full(n_old, -1, dtype=np.int64)
    now_of_old[kept] = np.flatnonzero(at >= 0)
    rec_of_old = np.where(now_of_old >= 0, now_of_old, gone_no)
    rec_of_g = np.r_[np.arange(n), rec_of_old[ghosts_old]]
    # the old list as rows of g: a record whose row is unchanged is its row now, the others their ghost
    g_of_old = now_of_old.copy()
    g_of_old[ghosts_old] = n + np.arange(len(ghosts_old))
    moved = np.zeros(m, dtype=bool)  # records whose pairs are all scored again
    moved[np.flatnonzero(changed)] = True
    moved[n:] = True
    touched_g = np.r_[np.flatnonzero(changed), n + np.arange(len(ghosts_old))]  # rows of g whose keys came or went
    counted = _counted(g)
    moved[:n] |= _sharing_counts(counted, n, touched_g)
    keysets = person_block_keys(g)
    # the old list's secondary codes: first appearance in the old order (the new list's are g's: its rows come first)
    sec_old: dict[int, np.ndarray] = {}
    for _, sec, _ in keysets:
        if id(sec) not in sec_old:
            sec_old[id(sec)] = pd.factorize(sec[g_of_old])[0]
    rows_of_touch = np.flatnonzero(moved[rec_of_g])  # rows of g whose blocks are touched
    # scopes: each table within itself, and leads against contacts (as _people_pairs pairs them)
    scopes = []
    lo_new, lo_old = 0, 0
    old_spans = {t: len(r) for t, r, _ in old.tables}
    for t, k in spans.items():
        if k >= 2 or old_spans[t] >= 2:
            scopes.append((np.arange(lo_new, lo_new + k), slice(lo_old, lo_old + old_spans[t]), None))
        lo_new += k
        lo_old += old_spans[t]
    if "leads" in spans and "contacts" in spans and (spans["contacts"] or old_spans["contacts"]):
        scopes.append((np.arange(n), slice(0, n_old), "cross"))
    touched_codes = []
    for keys, sec, window in keysets:
        parts = keys if isinstance(keys, list) else [keys]
        first_holders = _flags(_uniq(sec[touched_g]), sec)
        marks = _uniq(np.concatenate([p[rows_of_touch] for p in parts] + [p[first_holders[sec + 1]] for p in parts]))
        touched_codes.append(marks[marks >= 0])
    first, last = g["first"].to_numpy(object), g["last"].to_numpy(object)
    nameless = (first == "") & (last == "")
    del g, first, last  # (the rows of g: their keys are made; the rest of the old rows is not read again)
    # the pairs of the last pairing, as record numbers
    alive = (ka >= 0) & (kb >= 0)
    alive[alive] &= ~moved[ka[alive]] & ~moved[kb[alive]]
    kcode = np.minimum(ka, kb).astype(np.int64) * m + np.maximum(ka, kb)
    # The touched blocks' pairs then and now. A pair with a moved record is scored again whatever it was: of the
    # list then, only the others count (a sorted array); of the list now, those are the pairs to score (in the order
    # they are found) and the others are compared with the list then as they come, a slice at a time: no set of all
    # the pairs of either list is made (millions at 100k sample leads: the top of a first run's second round).
    then = _touched_pairs(keysets, touched_codes, scopes, rec_of_g, m, old_spans,
                          lambda sec, _, places: (sec_old[id(sec)][places], g_of_old[places]))
    old_b = _sorted_distinct(c[~(moved[c // m] | moved[c % m])] for c in then)
    in_old = np.zeros(len(old_b), dtype=bool)  # which of them the list now has
    todo, new_only, kept_now = [], [], []
    for c in _touched_pairs(keysets, touched_codes, scopes, rec_of_g, m, spans, lambda sec, rows, _: (sec[rows], rows)):
        for lo in range(0, len(c), _COMPARED_AT_ONCE):
            c_ = c[lo:lo + _COMPARED_AT_ONCE]
            a, b = c_ // m, c_ % m  # (places now: new pairs are of present records)
            named, mv = ~(nameless[a] & nameless[b]), moved[a] | moved[b]
            del a, b
            todo.append(c_[named & mv])
            c_ = c_[named & ~mv]
            at, found = _found_in(old_b, c_)
            in_old[at[found]] = True
            new_only.append(c_[~found])
            kept_now.append(c_[_isin(c_, kcode)])
            del at, found, c_
        del c
    old_only = old_b[~in_old]
    in_old_b = _found_in(old_b, kcode)[1]
    del old_b, in_old
    in_new_b = _isin(kcode, np.concatenate(kept_now)) if kept_now else np.zeros(len(kcode), dtype=bool)
    todo = _uniq(np.concatenate(todo)) if todo else np.empty(0, np.int64)
    new_only = _uniq(np.concatenate(new_only)) if new_only else np.empty(0, np.int64)
    # a pair found by the touched blocks on one side only: is it a pair of an untouched block (then on both)?
    unsure = np.r_[new_only, old_only]  # (of unmoved records only)
    elsewhere = _in_untouched(keysets, touched_codes, scopes, unsure, rec_of_g, m, spans) if len(unsure) else np.empty(0, np.int64)
    keep = alive & (~in_old_b | in_new_b | _isin(kcode, elsewhere))
    out = [p for p, k in zip(pk, keep) if k]
    fresh = new_only[~_isin(new_only, elsewhere)]
    todo = np.r_[todo, fresh]  # (pairs of a moved record, then of unmoved ones: no pair twice)
    if len(todo):
        i, j = todo // m, todo % m
        del todo
        out += _score(both, i, j, s, floor, counted)
    return out


# Pairs of the list now compared with the list then at once (people_pairs_again): a slice's sorted copy and places
# (~25 bytes a pair) stay small beside the sorted pairs of the list then.
_COMPARED_AT_ONCE = 1_000_000


def _touched_pairs(keysets, touched_codes, scopes, rec_of_g: np.ndarray, m: int, spans: dict[str, int], rows_of):
    """The pairs (record numbers, lo * m + hi) of the touched blocks (``touched_codes``: each pass's key codes) of
    the list now or then, pass by pass and scope by scope (as they were found all at once), each block whole and in
    its order. ``rows_of(secondary codes, scope's rows of g now, its places then)``: that list's secondary codes and
    rows of g."""
    for (keys, sec, window), marks in zip(keysets, touched_codes):
        parts = keys if isinstance(keys, list) else [keys]
        flag = _flags(marks, *parts)
        only = [np.where(flag[p + 1], p, -1) for p in parts]  # the touched blocks' keys, -1 elsewhere
        for rows_new, places_old, kind in scopes:
            sec_u, rows = rows_of(sec, rows_new, places_old)
            yield _pairs_in(only, sec_u, window, rows, rec_of_g, m, kind, spans)


def _sorted_distinct(chunks) -> np.ndarray:
    """The distinct values of the arrays (int64) ``chunks`` gives, sorted: each sorted by itself, then put together
    and merged (a stable sort merges sorted runs): about 12 bytes a value at the top, where hashing takes ~40."""
    parts, total = [], 0
    for c in chunks:
        c = _distinct(np.sort(c))
        parts.append(c)
        total += len(c)
    out = np.empty(total, dtype=np.int64)
    at = 0
    for k, c in enumerate(parts):
        out[at:at + len(c)] = c
        at += len(c)
        parts[k] = None
    del parts
    out.sort(kind="stable")
    return _distinct(out)


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array."""
    if len(ordered) < 2:
        return ordered
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def _found_in(ordered: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(places, found): where in the sorted distinct ``ordered`` each of ``values`` is, and whether it is there.
    The values are looked up in sorted order (in their own order the look-ups miss the cache: ~40 times slower)."""
    if not len(ordered) or not len(values):
        return np.zeros(len(values), dtype=np.int64), np.zeros(len(values), dtype=bool)
    order = np.argsort(values)
    at = np.empty(len(values), dtype=np.int64)
    at[order] = np.searchsorted(ordered, values[order])
    del order
    np.minimum(at, len(ordered) - 1, out=at)
    return at, ordered[at] == values


def _offsets(tables):
    lo = 0
    for t, rids, _ in tables:
        yield t, rids, lo
        lo += len(rids)


def _places(records: list[tuple[str, str]], at: dict[str, tuple[int, pd.Index]]) -> np.ndarray:
    """The places in the list of (table, ID) records (-1: not there)."""
    out = np.full(len(records), -1, dtype=np.int64)
    by_table: dict[str, list[int]] = {}
    for k, (t, _) in enumerate(records):
        by_table.setdefault(t, []).append(k)
    for t, ks in by_table.items():
        if t in at:
            lo, ix = at[t]
            got = ix.get_indexer([records[k][1] for k in ks])
            out[ks] = np.where(got >= 0, got + lo, -1)
    return out


# From this many values on, _uniq sorts instead of hashing: pandas' hash table is sized for every value given (~40
# bytes a value, ~500 MB for 13 million pair codes), blocking.distinct_in_order takes ~9 and less CPU. The runner's
# second round of a first run at 100k sample leads takes the distinct pairs of every block its first round's merges
# touched: millions of them.
_SORTED_FROM = 1_000_000


def _uniq(values: np.ndarray) -> np.ndarray:
    """The distinct values in the order they first appear, by hashing (np.unique sorts); a long array of integers
    (pair codes) by sorting them packed with their places (blocking.distinct_in_order), in that order too."""
    if len(values) < _SORTED_FROM or values.dtype.kind not in "iu":
        return pd.unique(values) if len(values) else values
    return distinct_in_order([values])


def _isin(values: np.ndarray, among) -> np.ndarray:
    """np.isin by hashing (numpy sorts: slow on texts)."""
    return pd.Series(values, copy=False).isin(among).to_numpy()


def _flags(codes: np.ndarray, *within: np.ndarray) -> np.ndarray:
    """A lookup table of ``codes`` among the codes of ``within`` (flag[c + 1]: is c one of them; -1 never is)."""
    size = max((int(w.max()) for w in within if len(w)), default=-1) + 2
    flag = np.zeros(max(size, 1), dtype=bool)
    codes = codes[codes >= 0]
    flag[codes + 1] = True
    return flag


def _pairs_in(only: list[np.ndarray], sec_u: np.ndarray, window: int, rows: np.ndarray, rec_of_g: np.ndarray, m: int,
              kind, spans: dict[str, int]) -> np.ndarray:
    """The pairs (record numbers, lo * m + hi) of the blocks kept in ``only`` (key codes of g's rows, -1 elsewhere)
    among ``rows`` of g, each block whole and in its order, as _people_pairs pairs them."""
    if len(rows) < 2:
        return np.empty(0, np.int64)
    keys = [p[rows] for p in only]
    if not any((k >= 0).any() for k in keys):
        return np.empty(0, np.int64)
    sides = None
    if kind == "cross":  # (as _people_pairs pairs them)
        l1 = spans["leads"]
        c0 = sum(spans[t] for t in list(spans)[:list(spans).index("contacts")])
        c1 = c0 + spans["contacts"]
        at = np.arange(len(rows))
        sides = (at < l1, (at >= c0) & (at < c1))
    got = block_pairs(keys if len(keys) > 1 else keys[0], sec_u, window, sides)
    del keys
    k = len(rows)
    i = rec_of_g[rows[got // k]].astype(np.int64, copy=False)
    j = rec_of_g[rows[got % k]].astype(np.int64, copy=False)
    del got
    # (in place: a large block's pairs are millions, each temporary as long)
    lo = np.minimum(i, j)
    np.maximum(i, j, out=j)
    del i
    lo *= m
    lo += j
    return lo


def _in_untouched(keysets, touched_codes, scopes, unsure: np.ndarray, rec_of_g: np.ndarray, m: int,
                  spans: dict[str, int]) -> np.ndarray:
    """Which of ``unsure`` (pairs of unchanged records) a block untouched by the changes pairs (the same then and now)."""
    a, b = unsure // m, unsure % m  # present records: their rows of g are their places
    found = []
    for (keys, sec, window), marks in zip(keysets, touched_codes):
        parts = keys if isinstance(keys, list) else [keys]
        common = []
        for pa in parts:
            for pb in parts:
                same = (pa[a] == pb[b]) & (pa[a] >= 0)
                common.append(pa[a][same])
        common = _uniq(np.concatenate(common)) if common else np.empty(0, np.int64)
        common = common[~_isin(common, marks)]
        if not len(common):
            continue
        flag = _flags(common, *parts)
        only = [np.where(flag[p + 1], p, -1) for p in parts]
        for rows_new, _, kind in scopes:
            found.append(_pairs_in(only, sec[rows_new], window, rows_new, rec_of_g, m, kind, spans))
    got = _uniq(np.concatenate(found)) if found else np.empty(0, np.int64)
    return got[_isin(got, unsure)]


def _counted(g: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The phone numbers and the (first name, last name, city) trio of g's rows, as the counts the scores use read
    them (personal_phone, name_city_count)."""
    key = np.zeros(len(g), dtype=np.int64)
    for c in ("first", "last", "city"):  # ('' a value like any other)
        codes, uniques = pd.factorize(g[c].to_numpy(object))
        key = key * (len(uniques) + 1) + codes
    return g["phone1"].to_numpy(object), g["phone2"].to_numpy(object), key


def _sharing_counts(counted: tuple[np.ndarray, np.ndarray, np.ndarray], n: int, touched: np.ndarray) -> np.ndarray:
    """Records (of the first ``n`` rows) whose score counts may have moved: they give a phone number, or a first
    name, last name and city, that a row of ``touched`` gives or gave."""
    p1, p2, trio = counted
    out = np.zeros(n, dtype=bool)
    if not len(touched):
        return out
    numbers = set(p1[touched].tolist()) | set(p2[touched].tolist())
    numbers.discard("")
    if numbers:
        wanted = list(numbers)
        out |= _isin(p1[:n], wanted) | _isin(p2[:n], wanted)
    out |= _isin(trio[:n], _uniq(trio[touched]))
    return out


def _old_rows(old: PeopleIndex, places: np.ndarray, memory: KeyMemory, region: str) -> pd.DataFrame | None:
    """The frame rows the records at ``places`` of the old list had (their keys from the key memory, by the digest
    of their old cells; their table's shared domains then). None when the memory does not know one of them."""
    if not len(places):
        return pd.DataFrame()
    got = memory.known_keys(f"people|{region}", np.concatenate([d for _, _, d in old.tables])[places], PERSON_KEYS)
    if got is None:
        return None
    frames, lo, at = [], 0, 0
    for t, rids, _ in old.tables:
        hi = lo + len(rids)
        mine = (places >= lo) & (places < hi)
        if mine.any():
            keys = {c: got[c][mine] for c in PERSON_KEYS}
            frames.append(people_frame(pd.Index(rids[places[mine] - lo]), t, keys, [""] * int(mine.sum()),
                                        shared=set(old.shared.get(t, ()))))
        lo = hi
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# From this share of the frame's records on, _score scores the pairs on the frame itself instead of a copy of the
# records they need.
_ON_THE_FRAME_FROM = 0.5


def _score(both: pd.DataFrame, i: np.ndarray, j: np.ndarray, s, floor: float, counted) -> list[MatchPair]:
    """The pairs (places i < j of ``both``) scoring at least ``floor``, scored on the records in them and those that
    share a phone number or a name and city with them (what the counts the scores use are made of)."""
    # the records in the pairs, as a mask (the distinct places of a first run's second round's millions of pairs took
    # ~25 bytes a place to find)
    inside = np.zeros(len(both), dtype=bool)
    inside[i] = True
    inside[j] = True
    extra = _sharing_counts(counted, len(both), np.flatnonzero(inside))
    extra |= inside
    del inside
    sub_rows = np.flatnonzero(extra)
    if len(sub_rows) >= _ON_THE_FRAME_FROM * len(both):  # most records (a first run's second round: ~90 %): scored
        sub, si, sj = both, i, j  # on the frame itself, not on a copy of nearly all of it (~60 MB at 300k sample
        # leads, at the top of that round's memory); the records a pair's counts are made of are in it either way
    else:
        sub = both.iloc[sub_rows].reset_index(drop=True)
        place = np.full(len(both), -1, dtype=np.int64)
        place[sub_rows] = np.arange(len(sub_rows))
        si, sj = place[i], place[j]
    del extra, sub_rows
    return scored_people(sub, si, sj, s, floor)


def scored_people(r: pd.DataFrame, i: np.ndarray, j: np.ndarray, s, floor: float) -> list[MatchPair]:
    """The pairs (places i, j of the people frame ``r``) scoring at least ``floor``, scored in slices of
    _SCORED_AT_ONCE (each pair is scored on its own: the same pairs)."""
    prepared = prepare_people(r)
    out: list[MatchPair] = []
    for lo in range(0, len(i), _SCORED_AT_ONCE):
        ci, cj = i[lo:lo + _SCORED_AT_ONCE], j[lo:lo + _SCORED_AT_ONCE]
        scores, v = score_people(r, r, ci, cj, s.evidence, floor, prepared=prepared)
        out += match_pairs(r, r, ci, cj, scores, v, floor, s.evidence)
    return out
