"""Finding duplicate pairs: the entry point (find_pairs) putting together match keys per record (matchkeys.py),
blocking (blocking.py), vectorised scoring (pairscores.py; organisations in orgs.py) and the explanation (explain.py).

Evidence follows Salesforce's standard matching rules: an exact email is enough; otherwise a name
that agrees (typos, nicknames, swapped first/last) needs support from company, phone, email or city.
Colleagues (shared company, switchboard, domain) and namesakes (shared name) never score high alone.
Organisations (accounts, and people records with a company but no person's name) are scored in orgs.py.
Scores are log-odds of hand-set weights mapped to 0..1, so thresholds in Settings read as confidence.
"""
from __future__ import annotations

import hashlib
import inspect
from functools import lru_cache
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from crm_sheets.jobs.dedupe import orgs
from crm_sheets.jobs.dedupe.blocking import pair_index, person_block_keys, slice_pass
from crm_sheets.jobs.dedupe.explain import match_pairs
from crm_sheets.jobs.dedupe.index import KeyMemory, keys_version
from crm_sheets.jobs.dedupe.matchkeys import (PeopleRounds, account_records, org_lead_records, person_records,
                                              person_rows)
from crm_sheets.jobs.dedupe.matchpair import EVIDENCE, PEOPLE, MatchPair, MatchSettings
from crm_sheets.jobs.dedupe.pairindex import PeopleIndex, index_params, people_pairs_again, scored_people
from crm_sheets.jobs.dedupe.pairscores import score_lead_accounts
from crm_sheets.model import Tables
from crm_sheets.model.memo import row_keys

__all__ = ["EVIDENCE", "MatchPair", "MatchSettings", "find_pairs"]

# ---------------------------------------------------------------------------------------------
# The entry point


class OrgPairs:
    """The organisation pairs of the frames of match keys seen (accounts, leads with only a company), and the
    people pairs of the frame of leads and contacts (kind "people"): kept in
    memory from one of the runner's rounds to the next (a merge of people changes no account; the pairs of an
    equal frame are the same, compared cell by cell), and from one run to the next in dedupe's state, found
    again by a digest of the frame, its settings and floor and the code that pairs (an edited lead changes
    no account: its pairs are not scored again)."""

    def __init__(self, packed: Any = None, index: Any = None) -> None:
        self._index_in: Any = index  # the people's blocking index of the last pairing (pairindex.py), packed or not
        self.index_out: PeopleIndex | None = None  # this run's, for the next
        # (frame, settings, floor, pairs, kind, digest) of the frames the last round used, and of this round's; the
        # digest None: not kept; False: not made yet (state() hashes the frame); the frame None: not kept (a frame of
        # people with a digest: frames are told apart by it)
        self._seen: list[tuple[pd.DataFrame | None, MatchSettings, float, list[MatchPair], str, Any]] = []
        self._used: list[tuple[pd.DataFrame | None, MatchSettings, float, list[MatchPair], str, Any]] = []
        self._kept: dict[str, list] = _unpack_pairs(packed)

    def pairs(self, r: pd.DataFrame, s: MatchSettings, floor: float, kind: str = "orgs",
              compute: Callable[[], list[MatchPair]] | None = None, digest: Any = False) -> list[MatchPair]:
        """The pairs of the frame ``r``: ``compute()`` (default: as organisations), or those kept for an equal
        frame. ``kind`` "people": the frame of leads and contacts, whose pairs are kept too (an activity logged or
        a deal's contact set change what dedupe reads, not the people it pairs). ``digest``: the frame's digest
        made by the caller from what the frame is made of (people_digest; None: not kept), not from the frame."""
        for seen in self._seen:
            if seen[4] == kind and seen[1] == s and seen[2] == floor and _same_frame(seen, r, digest):
                self._used.append(seen)
                return list(seen[3])
        if digest is False and self._kept:  # (a first run's rounds hash no frame: state() does, once)
            digest = frame_digest(r, s, floor, kind)
        kept = self._kept.get(digest) if isinstance(digest, str) else None
        if kept is not None:
            got = [MatchPair(ta, ia, tb, ib, score, tuple(reasons)) for ta, ia, tb, ib, score, reasons in kept]
        else:
            got = compute() if compute is not None else _org_pairs(r, s, floor)
        # a frame of people with a digest is told from the next round's by it: not held through that round (~60 MB
        # at 300k sample leads, under the top of a first run's second round)
        self._used.append((None if kind == "people" and isinstance(digest, str) else r, s, floor, list(got), kind, digest))
        return got

    def carried(self) -> "OrgPairs":
        """What the next round may reuse: the frames of this round (each with its digest: nothing is looked up by
        a frame's id, which a frame made later may be given once this one is freed)."""
        out = OrgPairs()
        out._seen = self._used
        out._index_in = self.index_out
        return out

    def people_index(self) -> PeopleIndex | None:
        """The blocking index of the last pairing of people (None: none, or damaged); unpacked once."""
        if not isinstance(self._index_in, PeopleIndex) and self._index_in is not None:
            self._index_in = PeopleIndex.unpack(self._index_in, self._kept)
        return self._index_in

    def index_state(self) -> dict | None:
        """This run's blocking index of people, packed (its pairs are those state() keeps under its digest)."""
        return self.index_out.pack() if self.index_out is not None else None

    def state(self) -> dict[str, list]:
        """The pairs of the frames this run used, by their digest (plain JSON, for dedupe's state)."""
        out: dict[str, list] = {}
        for r, s, floor, got, kind, digest in self._used:
            if digest is False:
                digest = frame_digest(r, s, floor, kind)
            if digest is not None:
                out[digest] = [[p.table_a, p.id_a, p.table_b, p.id_b, p.score, list(p.reasons)] for p in got]
        return out


def _same_frame(seen: tuple, r: pd.DataFrame, digest: Any) -> bool:
    """Whether the frame ``r`` (``digest``: its caller's digest of it, or False) is the one ``seen`` paired: by
    their digests when both have one made of what they are made of (people_digest), else cell by cell."""
    if isinstance(digest, str) and isinstance(seen[5], str) and seen[4] == "people":
        return digest == seen[5]
    return seen[0] is not None and seen[0].shape == r.shape and seen[0].equals(r)


def frame_digest(r: pd.DataFrame, s: MatchSettings, floor: float, kind: str = "orgs") -> str | None:
    """A digest of a frame of organisation keys (every cell, its type, its column; in order), the settings, the
    floor and the code that pairs them; None when a cell cannot be hashed. ``kind`` "people": a frame of people's
    keys, paired by other code (its version has the people's scoring in it)."""
    try:
        rows = pd.util.hash_pandas_object(r, index=False).to_numpy(np.uint64)
    except (TypeError, ValueError):
        return None
    version = _pairing_version() if kind == "orgs" else (kind, _people_version())
    h = hashlib.sha256(repr((version, tuple(map(str, r.columns)), tuple(map(str, r.dtypes)), r.shape,
                             s.auto, s.review, s.region, sorted(s.evidence), floor)).encode("utf-8", "surrogatepass"))
    for c in r.columns:  # the hash reads 1 and "1" alike: the types of the cells count too
        if r[c].dtype == object:
            values = r[c].to_numpy()
            # a column of texts only (told in C; the people's frame is 17 such columns): its one type
            kinds = "str" if len(values) and pd.api.types.infer_dtype(values, skipna=False) == "string" else \
                "|".join(sorted({type(v).__name__ for v in values}))
            h.update(kinds.encode())
    h.update(rows.astype("<u8").tobytes())
    return h.hexdigest()


@lru_cache(maxsize=1)
def _pairing_version() -> str:
    """The keys' version and a digest of the code that blocks, scores and explains organisation pairs."""
    from crm_sheets.jobs.dedupe import blocking, explain, matching

    h = hashlib.sha256(keys_version().encode())
    for module in (orgs, blocking, explain, matching):
        try:
            h.update(inspect.getsource(module).encode("utf-8"))
        except (OSError, TypeError):
            h.update(module.__name__.encode())
    return h.hexdigest()[:16]


# The cells person_records makes a person's match keys of (a contact's company and website come from its account)
_PERSON_TEXTS = ("first_name", "last_name", "email", "phone", "mobile", "country", "city", "company", "website")


def people_digest(tables: Tables, names: list[str], s: MatchSettings, floor: float) -> str | None:
    """A digest of everything the frame of people (person_records of each table of ``names``, in order) is made of:
    the cells it reads, row by row with the record IDs, in order (memo.row_keys: the column hashes check made
    already), a contact's account's name and website, the settings, the floor and the code; None when a table
    cannot be keyed. Equal digests, equal frames, equal pairs; made in milliseconds, where hashing the frame
    itself (43,000 people at 30k leads) took 0.09 s."""
    h = hashlib.sha256(repr(("people", _people_version(), names, s.auto, s.review, s.region, sorted(s.evidence),
                             floor)).encode("utf-8", "surrogatepass"))
    for name in names:
        t = tables[name]
        linked = name == "contacts" and "accounts" in tables and "account" in t.df.columns
        parts = [(t, [c for c in (*_PERSON_TEXTS, *(("account",) if linked else ())) if c in t.df.columns])]
        if linked:
            acc = tables["accounts"]
            parts.append((acc, [c for c in ("name", "website") if c in acc.df.columns]))
        for part, cols in parts:
            keys = row_keys(part, with_rows=False, columns=cols, kept_fields=())
            if keys is None:
                return None
            h.update(repr((name, part.name, cols, len(keys))).encode("utf-8", "surrogatepass"))
            h.update(keys.astype("<u8").tobytes())
    return h.hexdigest()


@lru_cache(maxsize=1)
def _people_version() -> str:
    """The organisations' pairing version and a digest of the code that scores people and says why."""
    from crm_sheets.jobs.dedupe import matchpair, pairscores

    h = hashlib.sha256(_pairing_version().encode())
    for module in (pairscores, matchpair):
        try:
            h.update(inspect.getsource(module).encode("utf-8"))
        except (OSError, TypeError):
            h.update(module.__name__.encode())
    return h.hexdigest()[:16]


def _unpack_pairs(packed: Any) -> dict[str, list]:
    """The pairs kept by state(); empty when missing or damaged (the pairs are then scored again)."""
    if not isinstance(packed, dict):
        return {}
    ok = {}
    for digest, pairs in packed.items():
        if isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 6 and isinstance(p[5], list) for p in pairs):
            ok[digest] = pairs
    return ok


def find_pairs(tables: Tables, settings: MatchSettings | None = None, *, floor: float | None = None,
               tables_to_match: Iterable[str] = ("leads", "contacts", "people", "accounts"),
               memory: KeyMemory | None = None, org_pairs: OrgPairs | None = None,
               rounds: PeopleRounds | None = None) -> list[MatchPair]:
    """Every pair scoring at least ``floor`` (default: the review threshold), best first.

    Within leads, contacts and accounts; and across: a lead against contacts (the same person) and
    against accounts (the company the lead works for). ``memory`` (index.py) gives the match keys of the
    records it has seen, ``org_pairs`` the organisation pairs of frames of keys seen (OrgPairs): the pairs are
    the same with or without them; so are they with ``rounds``, the people of the runner's last round of this
    run (matchkeys.PeopleRounds).
    """
    s = settings or MatchSettings.from_tables(tables)
    floor = s.review if floor is None else floor
    wanted = [t for t in tables_to_match if t in tables]
    out: list[MatchPair] = []
    # which records' cells are as the last pairing saw them (matchkeys.person_rows): only the others are read
    watched = {t: person_rows(tables, t) for t in PEOPLE if t in wanted} if org_pairs is not None and rounds is not None \
        and memory is not None else {}
    last = org_pairs.people_index() if watched else None
    people = {t: person_records(tables, t, s.region, memory, rounds, _since(last, t, watched.get(t)))
              for t in PEOPLE if t in wanted}
    if people:
        # Leads and contacts are keyed, blocked and scored as one frame (leads first): each record's
        # keys are computed once, for the pairs within its table and across.
        both = pd.concat(list(people.values()), ignore_index=True) if len(people) > 1 else next(iter(people.values()))
        spans = {t: len(r) for t, r in people.items()}
        shared = {t: set(r.attrs.get("shared") or ()) for t, r in people.items()}
        if len(people) > 1:
            # each table's records are a slice of that frame from here on: not held twice (~60 MB at 300k sample
            # leads, under the top of a first run's second round)
            lo = 0
            for t, k in spans.items():
                people[t] = both.iloc[lo:lo + k]
                lo += k
        if org_pairs is not None:  # an equal frame of people pairs as it paired last time (OrgPairs)
            digest = people_digest(tables, list(people), s, floor)
            now = _index_rows(people, rounds, s.region)
            params = index_params(list(people), s, floor, _people_version())

            def compute() -> list[MatchPair]:
                # only the pairs the edits can change, from the last pairing's index (pairindex.py), else everyone's
                old = org_pairs.people_index() if now is not None and digest is not None else None
                got = people_pairs_again(old, both, spans, now, shared, params, s, floor, memory, s.region) \
                    if old is not None else None
                return got if got is not None else _people_pairs(both, spans, s, floor)

            got = org_pairs.pairs(both, s, floor, "people", compute, digest=digest)
            out += got
            if now is not None and digest is not None:
                org_pairs.index_out = PeopleIndex(params, now, {t: sorted(v) for t, v in shared.items()}, list(got), digest,
                                                  {t: w for t, w in watched.items() if w is not None})
        else:
            out += _people_pairs(both, spans, s, floor)
        for t, r in people.items():
            rows = np.flatnonzero(((r["first"] == "") & (r["last"] == "") & (r["company"] != "")).to_numpy())
            if len(rows) >= 2:
                org = org_lead_records(tables, t, rows, s.region, memory)
                out += org_pairs.pairs(org, s, floor) if org_pairs is not None else _org_pairs(org, s, floor)
    if "accounts" in wanted:
        acc = account_records(tables, s.region, memory)
        if len(acc) >= 2:
            out += org_pairs.pairs(acc, s, floor) if org_pairs is not None else _account_pairs(acc, s, floor)
        if "leads" in people and len(acc):
            out += _lead_account_pairs(people["leads"], acc, s, floor, org_pairs)
    out.sort(key=lambda p: (-p.score, p.id_a, p.id_b))
    return out


def _since(last: PeopleIndex | None, table: str, watch: tuple[str, np.ndarray] | None) -> tuple | None:
    """What person_records compares a table's records with: the last pairing's (IDs, digests, row keys, context)
    and this run's context and row keys; None when either is missing."""
    got = last.since(table) if last is not None and watch is not None else None
    return None if got is None else (*got, *watch)


def _index_rows(people: dict[str, pd.DataFrame], rounds: PeopleRounds | None,
                region: str) -> list[tuple[str, np.ndarray, np.ndarray]] | None:
    """(table, IDs, digests of the cells their keys come from) of the frame's records, in order, from the keys kept
    for the runner's rounds (matchkeys.PeopleRounds); None when they are not there."""
    if rounds is None:
        return None
    out = []
    for t, r in people.items():
        digests = rounds.digests(t, region)
        if digests is None or len(digests) != len(r):
            return None
        out.append((t, r["rid"].to_numpy(object), np.asarray(digests, dtype=np.uint64)))
    return out


def _people_pairs(both: pd.DataFrame, spans: dict[str, int], s: MatchSettings, floor: float) -> list[MatchPair]:
    """The pairs of people of the frame (each table's records, ``spans``: how many, in order) within each table and
    between leads and contacts, scoring at least ``floor``: a function of the frame, the settings and the floor."""
    out: list[MatchPair] = []
    keysets = person_block_keys(both)
    # the pairs' places as 32-bit integers (millions of candidates at 300k sample leads, held while they are scored)
    places = np.int32 if len(both) < np.iinfo(np.int32).max else np.int64
    parts_i, parts_j, lo, span = [], [], 0, {}
    for t, n in spans.items():
        hi = lo + n
        span[t] = (lo, hi)
        if n >= 2:
            i, j = pair_index([slice_pass(k, lo, hi) for k in keysets], n)
            parts_i += [(i + lo).astype(places)]
            parts_j += [(j + lo).astype(places)]
        lo = hi
    if "leads" in spans and "contacts" in spans and spans["contacts"]:
        (l0, l1), (c0, c1) = span["leads"], span["contacts"]
        at = np.arange(len(both))
        i, j = pair_index(keysets, len(both), sides=((at >= l0) & (at < l1), (at >= c0) & (at < c1)))
        parts_i += [i.astype(places)]
        parts_j += [j.astype(places)]
    del keysets
    if parts_i:
        i, j = np.concatenate(parts_i), np.concatenate(parts_j)
        del parts_i, parts_j
        # two records without a person's name are organisations: matched as such below
        nameless = ((both["first"] == "") & (both["last"] == "")).to_numpy()
        keep = ~(nameless[i] & nameless[j])
        i, j = i[keep], j[keep]
        del keep
        out += scored_people(both, i, j, s, floor)
    return out


def _account_pairs(acc: pd.DataFrame, s: MatchSettings, floor: float) -> list[MatchPair]:
    return _org_pairs(acc, s, floor)


def _org_pairs(r: pd.DataFrame, s: MatchSettings, floor: float) -> list[MatchPair]:
    """Pairs of organisations (accounts, or leads without a person's name) scoring at least ``floor``."""
    idf = orgs.idf_of(r["company"].tolist())
    i, j = pair_index(orgs.block_keys(r, idf), len(r))
    if "parent" in r.columns:  # a branch and its parent are two accounts on purpose
        rid, parent = r["rid"].to_numpy(object), r["parent"].to_numpy(object)
        keep = (parent[i] != rid[j]) & (parent[j] != rid[i])
        i, j = i[keep], j[keep]
    scores, v = orgs.score_orgs(r, i, j, idf, s.evidence, floor)
    scores = _no_chains(r, i, j, scores, idf, s)
    ta, ids = r["table"].to_numpy(object), r["rid"].to_numpy(object)
    return [MatchPair(ta[i[k]], ids[i[k]], ta[j[k]], ids[j[k]], round(float(scores[k]), 4), orgs.reasons(v, k))
            for k in np.flatnonzero(scores >= floor)]


_CHAIN_CHECKED = 200  # records in one group of merges, at most, whose pairs are all compared


def _no_chains(r: pd.DataFrame, i: np.ndarray, j: np.ndarray, scores: np.ndarray, idf: dict[str, float],
               s: MatchSettings) -> np.ndarray:
    """Scores with the merges that would chain two organisations apart into one group lowered to a question.

    'Mary Crane' is inside 'Mary Crane West' and 'Mary Crane North', all on the league's one number:
    merged pair by pair, the two sites would end in one group. A merge never joins two groups holding
    two records that, compared on their own, would be kept apart; that pair is asked about instead.
    """
    sure = np.flatnonzero(scores >= s.auto)
    if len(sure) < 2:
        return scores
    sure = sure[np.argsort(-scores[sure], kind="stable")]
    # the groups plain merging would make; only those of three or more can chain
    parent = np.arange(len(r))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for k in sure:
        a, b = find(i[k]), find(j[k])
        if a != b:
            parent[b] = a
    roots = np.array([find(x) for x in range(len(r))])
    size = np.bincount(roots, minlength=len(r))
    chained = np.flatnonzero((size[roots] >= 3) & (size[roots] <= _CHAIN_CHECKED))
    if not len(chained):
        return scores
    # every pair within those groups, scored once
    members: dict[int, list[int]] = {}
    for x in chained:
        members.setdefault(int(roots[x]), []).append(int(x))
    ci = np.array([a for m in members.values() for n, a in enumerate(m) for _ in m[n + 1:]], dtype=np.int64)
    cj = np.array([b for m in members.values() for n, _ in enumerate(m) for b in m[n + 1:]], dtype=np.int64)
    within, wv = orgs.score_orgs(r, ci, cj, idf, s.evidence, 0.0)
    # apart: not asked about on their own, and each name with words of its own (two sites, two firms)
    other = ~np.isin(wv["name"], ("same", "contained", "similar", "")) & (wv["address"] != "same")
    apart = {(int(a), int(b)) for a, b, w, o in zip(ci, cj, within, other) if w < s.review and o}
    if not apart:
        return scores
    out = scores.copy()
    parent = np.arange(len(r))
    group: dict[int, list[int]] = {}
    for k in sure:
        a, b = find(i[k]), find(j[k])
        if a == b:
            continue
        ga, gb = group.get(a, [a]), group.get(b, [b])
        if any((min(x, y), max(x, y)) in apart for x in ga for y in gb):
            out[k] = min(out[k], 0.9)  # asked, not merged
            continue
        parent[b] = a
        group[a] = ga + gb
        group.pop(b, None)
    return out


# What a lead-account pair is made of: the records' places, tables and IDs, and the company keys the blocking and
# the score read (pairscores.score_lead_accounts: a lead's phone and city never count against its company)
_LEAD_ACCOUNT_KEYS = ["rid", "table", "company", "cdomain"]


def _lead_account_pairs(leads: pd.DataFrame, acc: pd.DataFrame, s: MatchSettings, floor: float,
                        org_pairs: OrgPairs | None = None) -> list[MatchPair]:
    """Each lead's best account, among those scoring at least ``floor``. With ``org_pairs``, the pairs of an equal
    frame of leads' and accounts' company keys are those kept (OrgPairs, kind "leads-accounts"): an edit of a
    lead's city, phone or notes pairs no lead with an account again."""
    both = pd.concat([leads[_LEAD_ACCOUNT_KEYS], acc[_LEAD_ACCOUNT_KEYS]], ignore_index=True)
    if org_pairs is None:
        return _lead_account_pairs_of(both, len(leads), s, floor)
    return org_pairs.pairs(both, s, floor, "leads-accounts", lambda: _lead_account_pairs_of(both, len(leads), s, floor))


def _lead_account_pairs_of(both: pd.DataFrame, nl: int, s: MatchSettings, floor: float) -> list[MatchPair]:
    """The pairs of the frame of leads (its first ``nl`` rows) and accounts (the others): a function of the frame,
    the settings and the floor."""
    comp = both["company"].to_numpy(object)
    # many leads work for one account: a wide window so that each of them meets it
    keysets = [(comp, comp, 400), (both["cdomain"].to_numpy(object), comp, 400)]
    at = np.arange(len(both))
    i, j = pair_index(keysets, len(both), sides=(at < nl, at >= nl))
    scores, v = score_lead_accounts(both, both, i, j, s.evidence, floor)
    pairs = match_pairs(both, both, i, j, scores, v, floor, s.evidence)
    # A lead belongs to one account: keep the best when several match.
    best: dict[str, MatchPair] = {}
    for p in pairs:
        if p.id_a not in best or p.score > best[p.id_a].score:
            best[p.id_a] = p
    return list(best.values())
