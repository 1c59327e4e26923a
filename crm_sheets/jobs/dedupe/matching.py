"""Finding duplicate pairs: match keys per record, blocking, vectorised scoring and the explanation.

Evidence follows Salesforce's standard matching rules: an exact email is enough; otherwise a name
that agrees (typos, nicknames, swapped first/last) needs support from company, phone, email or city.
Colleagues (shared company, switchboard, domain) and namesakes (shared name) never score high alone.
Scores are log-odds of hand-set weights mapped to 0..1, so thresholds in Settings read as confidence.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from crm_sheets.jobs.dedupe import keys as K
from crm_sheets.model import Tables

PEOPLE = ("leads", "contacts")
EVIDENCE = ("email", "phone", "name", "company", "domain", "city")
SUPPORT_CAP = 4.0
_MAX_BLOCK = 40  # a block larger than this is scanned as a sliding window (sorted neighbourhood)


@dataclass(frozen=True)
class MatchPair:
    """Two records that look like one; ``reasons`` says which fields agreed or disagreed, and how."""

    table_a: str
    id_a: str
    table_b: str
    id_b: str
    score: float
    reasons: tuple[str, ...] = ()

    @property
    def key(self) -> frozenset[str]:
        return frozenset((self.id_a, self.id_b))

    @property
    def cross(self) -> bool:
        return self.table_a != self.table_b

    def explain(self) -> str:
        return f"score {self.score:.2f}: " + "; ".join(self.reasons)


@dataclass(frozen=True)
class MatchSettings:
    auto: float = 0.92
    review: float = 0.75
    region: str = "US"
    evidence: frozenset[str] = frozenset(EVIDENCE)

    @classmethod
    def from_tables(cls, tables: Tables) -> "MatchSettings":
        def number(key: str, default: float) -> float:
            try:
                return float(tables.setting(key, default))
            except (TypeError, ValueError):
                return default

        raw = str(tables.setting("dedupe_match_on", "") or "")
        chosen = frozenset(w.strip().lower() for w in raw.replace(";", ",").split(",") if w.strip())
        return cls(
            auto=number("dedupe_auto_threshold", cls.auto),
            review=number("dedupe_review_threshold", cls.review),
            region=str(tables.setting("default_country", "US") or "US").strip().upper()[:2],
            evidence=(chosen & frozenset(EVIDENCE)) or frozenset(EVIDENCE),
        )


# ---------------------------------------------------------------------------------------------
# Records: one row of match keys per record, as plain string columns ('' when empty)


def _col(df: pd.DataFrame, name: str) -> list[str]:
    if name not in df.columns:
        return [""] * len(df)
    return [K.text(v) for v in df[name].tolist()]


def person_records(tables: Tables, table: str, region: str = "US") -> pd.DataFrame:
    """Match keys of the people of a table (leads or contacts)."""
    df = tables.df(table)
    company = _col(df, "company")
    website = _col(df, "website")
    if table == "contacts" and "accounts" in tables and "account" in df.columns:
        acc = tables.df("accounts")
        names = dict(zip(acc.index, _col(acc, "name")))
        sites = dict(zip(acc.index, _col(acc, "website")))
        refs = _col(df, "account")
        company = [names.get(r, "") for r in refs]
        website = [sites.get(r, "") for r in refs]
    first = [K.name_key(v) for v in _col(df, "first_name")]
    last = [K.name_key(v) for v in _col(df, "last_name")]
    canon = [K.canon_first(f.split(" ")[0]) if f else () for f in first]
    emails = [K.email_key(v) for v in _col(df, "email")]
    phones = [K.phone_key(v, region) if v else "" for v in _col(df, "phone")]
    mobiles = [K.phone_key(v, region) if v else "" for v in _col(df, "mobile")]
    return pd.DataFrame({
        "rid": df.index.astype(str).tolist(),
        "table": table,
        "first": first,
        "last": last,
        "canon1": [c[0] if c else "" for c in canon],
        "canon2": [c[1] if len(c) > 1 else "" for c in canon],
        "email": [e[0] for e in emails],
        "local": [e[0].rpartition("@")[0] for e in emails],
        "edomain": [e[1] for e in emails],
        "phone1": phones,
        "phone2": mobiles,
        "company": [K.company_key(v) if v else "" for v in company],
        "cdomain": [K.company_domain(e[1], w) for e, w in zip(emails, website)],
        "city": [K.fold_city(v) for v in _col(df, "city")],
        "country": [K.name_key(v) for v in _col(df, "country")],
    })


def account_records(tables: Tables, region: str = "US") -> pd.DataFrame:
    """Match keys of accounts: company name, website domain, phone, place, and the parent link."""
    df = tables.df("accounts")
    return pd.DataFrame({
        "rid": df.index.astype(str).tolist(),
        "table": "accounts",
        "company": [K.company_key(v) if v else "" for v in _col(df, "name")],
        "cdomain": [K.company_domain("", v) for v in _col(df, "website")],
        "phone1": [K.phone_key(v, region) if v else "" for v in _col(df, "phone")],
        "phone2": "",
        "city": [K.fold_city(v) for v in _col(df, "city")],
        "country": [K.name_key(v) for v in _col(df, "country")],
        "parent": _col(df, "parent"),
        "type": _col(df, "type"),
    })


# ---------------------------------------------------------------------------------------------
# Blocking


def _block(keys: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Pairs (encoded i * n + j, i < j) of records sharing a non-empty key.

    Sorted by (key, secondary), each record is paired with the next ones of its block up to
    _MAX_BLOCK away: all pairs of a small block, a sorted-neighbourhood window in a large one
    (a switchboard number shared by a whole company), so the cost stays linear.
    """
    n = len(keys)
    idx = np.flatnonzero(keys != "")
    if len(idx) < 2:
        return np.empty(0, dtype=np.int64)
    order = idx[np.lexsort((secondary[idx], keys[idx]))]
    sk = keys[order]
    out = []
    for d in range(1, _MAX_BLOCK):
        same = sk[d:] == sk[:-d]
        if not same.any():
            break
        a, b = order[:-d][same], order[d:][same]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        out.append(lo.astype(np.int64) * n + hi)
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def _person_keys(r: pd.DataFrame) -> list[np.ndarray]:
    first = r["first"].to_numpy(object)
    last = r["last"].to_numpy(object)
    c1 = r["canon1"].to_numpy(object)
    f0 = np.array([f[:1] for f in first], dtype=object)
    l0 = np.array([x[:1] for x in last], dtype=object)
    sdx_last = np.array([K.soundex(x.split(" ")[-1]) if x else "" for x in last], dtype=object)
    sdx_first = np.array([K.soundex(f.split(" ")[0]) if f else "" for f in first], dtype=object)
    both = (first != "") & (last != "")

    def when(mask: np.ndarray, *parts: np.ndarray) -> np.ndarray:
        out = parts[0].copy()
        for p in parts[1:]:
            out = out + "|" + p
        out[~mask] = ""
        return out

    local = r["local"].to_numpy(object)
    role = np.array([x in K.ROLE_LOCALS or len(x) < 4 for x in local], dtype=bool)
    sorted_name = np.array(["|".join(sorted((a, b))) for a, b in zip(c1, last)], dtype=object)
    company = r["company"].to_numpy(object)
    cdomain = r["cdomain"].to_numpy(object)
    org = np.where(cdomain != "", cdomain, company).astype(object)
    return [
        r["email"].to_numpy(object),
        r["phone1"].to_numpy(object),
        r["phone2"].to_numpy(object),
        when(~role, local),
        when(both, sorted_name),
        when(both, sdx_last, f0),  # typos: Smyth J / Smith J
        when(both, sdx_first, l0),  # the same, first and last swapped
        when((last != "") & (org != ""), last, org),
        when((c1 != "") & (org != ""), c1, org),
    ]


def _pair_index(keysets: Iterable[np.ndarray], secondary: np.ndarray, n: int, allowed=None) -> tuple[np.ndarray, np.ndarray]:
    codes = [_block(k, secondary) for k in keysets]
    allp = np.unique(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)
    i, j = allp // n, allp % n
    if allowed is not None:
        keep = allowed(i, j)
        i, j = i[keep], j[keep]
    return i, j


# ---------------------------------------------------------------------------------------------
# Scoring


def _sim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0:
        return np.empty(0)
    return process.cpdist(list(a), list(b), scorer=JaroWinkler.normalized_similarity, workers=-1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _first_ok(fa, fb, ca1, ca2, cb1, cb2) -> tuple[np.ndarray, np.ndarray]:
    """(same: exact or nickname, close: typo or initial) of first names."""
    same = (fa == fb) | ((ca1 != "") & ((ca1 == cb1) | (ca1 == cb2) | ((ca2 != "") & ((ca2 == cb1) | (ca2 == cb2)))))
    initial = np.array([(len(x) == 1 or len(y) == 1) and x[:1] == y[:1] for x, y in zip(fa, fb)], dtype=bool)
    close = _sim(fa, fb) >= 0.88
    return same, close | initial


def _name_weight(fa, la, fb, lb, ca1, ca2, cb1, cb2) -> tuple[np.ndarray, np.ndarray]:
    """Weight of the name evidence for one orientation, and a 'clearly different first names' flag."""
    f_same, f_close = _first_ok(fa, fb, ca1, ca2, cb1, cb2)
    l_same = la == lb
    l_sim = _sim(la, lb)
    l_close = (l_sim >= 0.9) | np.array([(x in y or y in x) and min(len(x), len(y)) >= 4 for x, y in zip(la, lb)], dtype=bool)
    f_missing = (fa == "") | (fb == "")
    l_missing = (la == "") | (lb == "")
    w = np.full(len(fa), -4.0)
    w[l_same & f_same] = 3.0
    w[l_same & ~f_same & f_close] = 2.0
    w[~l_same & l_close & f_same] = 2.0
    w[~l_same & l_close & ~f_same & f_close] = 1.0
    w[f_missing & l_same] = 1.5
    w[f_missing & ~l_same & l_close] = 0.5
    w[l_missing & ~f_missing & f_same] = 0.5
    w[l_missing & f_missing] = 0.0
    conflict = ~f_missing & ~f_same & ~f_close
    return w, conflict


def score_people(ra: pd.DataFrame, rb: pd.DataFrame, i: np.ndarray, j: np.ndarray,
                 evidence: frozenset[str] = frozenset(EVIDENCE)) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scores (0..1) of the pairs (ra row i, rb row j) of people, and the per-field verdicts."""
    A = {c: ra[c].to_numpy(object)[i] for c in ra.columns if c not in ("table",)}
    B = {c: rb[c].to_numpy(object)[j] for c in rb.columns if c not in ("table",)}
    n = len(i)
    total = np.full(n, -3.0)
    v: dict[str, np.ndarray] = {}

    # names, both orientations (first/last swapped), best kept
    w1, c1 = _name_weight(A["first"], A["last"], B["first"], B["last"], A["canon1"], A["canon2"], B["canon1"], B["canon2"])
    w2, c2 = _name_weight(A["first"], A["last"], B["last"], B["first"], A["canon1"], A["canon2"], B["last"], np.full(n, "", object))
    swapped = (w2 > w1) & (A["first"] != "") & (A["last"] != "")
    name_w = np.where(swapped, w2, w1)
    conflict = np.where(swapped, c2, c1)
    if "name" in evidence:
        total += name_w
    v["name"] = name_w
    v["swapped"] = swapped

    # email: exact is enough (unless a shared role address); same mailbox at another domain is support
    ea, eb = A["email"], B["email"]
    both_e = (ea != "") & (eb != "")
    same_e = both_e & (ea == eb)
    role = np.array([x in K.ROLE_LOCALS for x in A["local"]], dtype=bool)
    same_local = both_e & ~same_e & (A["local"] == B["local"]) & np.array([len(x) >= 4 for x in A["local"]], dtype=bool) & ~role
    same_dom = both_e & (A["edomain"] == B["edomain"]) & ~same_e
    local_sim = np.zeros(n)
    if same_dom.any():
        local_sim[same_dom] = _sim(A["local"][same_dom], B["local"][same_dom])
    # A typo in the address only when the names are the same: carla.m@ / carlos.m@ are two colleagues.
    typo_e = same_dom & (local_sim >= 0.9) & (name_w >= 3.0)
    work_diff = same_dom & ~typo_e & np.array([d not in K.FREE_DOMAINS for d in A["edomain"]], dtype=bool)
    free = np.array([a in K.FREE_DOMAINS or b in K.FREE_DOMAINS for a, b in zip(A["edomain"], B["edomain"])], dtype=bool)
    w = np.zeros(n)
    w[same_e & ~role] = 6.0
    w[same_e & role] = 0.5
    w[same_local] = 2.0
    w[typo_e] = 1.5
    w[work_diff] = -2.5
    w[both_e & ~same_e & ~same_local & ~same_dom & ~free] = -0.5
    if "email" in evidence:
        total += w
    v["email"] = w

    # Company, domain, switchboard and city are what colleagues share: together they support a
    # matching name, but never add up to more than SUPPORT_CAP.
    support = np.zeros(n)
    pa1, pa2, pb1, pb2 = A["phone1"], A["phone2"], B["phone1"], B["phone2"]
    same_p = ((pa1 != "") & ((pa1 == pb1) | (pa1 == pb2))) | ((pa2 != "") & ((pa2 == pb1) | (pa2 == pb2)))
    any_a, any_b = (pa1 != "") | (pa2 != ""), (pb1 != "") | (pb2 != "")
    w = np.where(same_p, 2.0, np.where(any_a & any_b, -0.5, 0.0))
    if "phone" in evidence:
        support += w
    v["phone"] = w

    ka, kb = A["company"], B["company"]
    both_k = (ka != "") & (kb != "")
    same_k = both_k & (ka == kb)
    k_sim = np.zeros(n)
    rest = both_k & ~same_k
    if rest.any():
        k_sim[rest] = _sim(ka[rest], kb[rest])
    w = np.where(same_k, 2.5, np.where(rest & (k_sim >= 0.9), 1.5, np.where(rest, -1.5, 0.0)))
    if "company" in evidence:
        support += w
    v["company"] = w

    da, db = A["cdomain"], B["cdomain"]
    w = np.where((da != "") & (da == db), 1.0, np.where((da != "") & (db != ""), -0.5, 0.0))
    if "domain" in evidence:
        support += w
    v["domain"] = w

    ca, cb = A["city"], B["city"]
    w = np.where((ca != "") & (ca == cb), 0.5, np.where((ca != "") & (cb != ""), -0.7, 0.0))
    w += np.where((A["country"] != "") & (B["country"] != "") & (A["country"] != B["country"]), -1.0, 0.0)
    if "city" in evidence:
        support += w
    v["city"] = w
    total += np.minimum(support, SUPPORT_CAP)

    score = _sigmoid(total)
    # Two clearly different first names are never merged without a person's look.
    score = np.where(conflict, np.minimum(score, 0.9), score)
    return score, v


def score_lead_accounts(ra: pd.DataFrame, rb: pd.DataFrame, i: np.ndarray, j: np.ndarray,
                        evidence: frozenset[str] = frozenset(EVIDENCE)) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scores of (lead, account) pairs: does the lead work for this account?

    Only the company name and the domain count: a lead's phone is the person's line and its city
    where the person sits, neither contradicts the company. Either one agreeing is enough.
    """
    A = {c: ra[c].to_numpy(object)[i] for c in ("company", "cdomain")}
    B = {c: rb[c].to_numpy(object)[j] for c in ("company", "cdomain")}
    n = len(i)
    ka, kb = A["company"], B["company"]
    both = (ka != "") & (kb != "")
    same = both & (ka == kb)
    k_sim = np.zeros(n)
    if (both & ~same).any():
        k_sim[both & ~same] = _sim(ka[both & ~same], kb[both & ~same])
    wc = np.where(same, 3.6, np.where(k_sim >= 0.92, 2.0, np.where(both, -3.0, 0.0)))
    da, db = A["cdomain"], B["cdomain"]
    wd = np.where((da != "") & (da == db), 4.0, np.where((da != "") & (db != ""), -2.0, 0.0))
    total = -1.0 + wc + (wd if "domain" in evidence else 0.0)
    return _sigmoid(total), {"company": np.where(wc == 3.6, 4.0, wc), "domain": np.where(wd == 4.0, 3.0, wd)}


def score_accounts(ra: pd.DataFrame, rb: pd.DataFrame, i: np.ndarray, j: np.ndarray,
                   evidence: frozenset[str] = frozenset(EVIDENCE)) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scores of pairs of accounts."""
    A = {c: ra[c].to_numpy(object)[i] for c in ("company", "cdomain", "phone1", "city", "country")}
    B = {c: rb[c].to_numpy(object)[j] for c in ("company", "cdomain", "phone1", "city", "country")}
    n = len(i)
    total = np.full(n, -3.0)
    v: dict[str, np.ndarray] = {}
    ka, kb = A["company"], B["company"]
    both = (ka != "") & (kb != "")
    same = both & (ka == kb)
    k_sim = np.zeros(n)
    if (both & ~same).any():
        k_sim[both & ~same] = _sim(ka[both & ~same], kb[both & ~same])
    w = np.where(same, 4.0, np.where(k_sim >= 0.92, 2.0, np.where(k_sim >= 0.85, 0.5, np.where(both, -4.0, 0.0))))
    total += w  # a company's name always counts
    v["company"] = w
    da, db = A["cdomain"], B["cdomain"]
    w = np.where((da != "") & (da == db), 3.0, np.where((da != "") & (db != ""), -2.0, 0.0))
    if "domain" in evidence:
        total += w
    v["domain"] = w
    pa, pb = A["phone1"], B["phone1"]
    w = np.where((pa != "") & (pa == pb), 2.0, np.where((pa != "") & (pb != ""), -0.5, 0.0))
    if "phone" in evidence:
        total += w
    v["phone"] = w
    ca, cb = A["city"], B["city"]
    w = np.where((ca != "") & (ca == cb), 0.5, np.where((ca != "") & (cb != ""), -1.5, 0.0))
    w += np.where((A["country"] != "") & (B["country"] != "") & (A["country"] != B["country"]), -2.0, 0.0)
    if "city" in evidence:
        total += w
    v["city"] = w
    return _sigmoid(total), v


_PEOPLE_WORDS = {
    "name": {3.0: "name: same", 2.0: "name: nearly the same", 1.5: "name: same last name", 1.0: "name: similar",
             0.5: "name: partly the same", -4.0: "name: different"},
    "email": {6.0: "email: same", 0.5: "email: same shared address", 2.0: "email: same mailbox, other domain",
              1.5: "email: nearly the same", -2.5: "email: other address at the same company", -0.5: "email: different"},
    "phone": {2.0: "phone: same", -0.5: "phone: different"},
    "company": {2.5: "company: same", 1.5: "company: similar", -1.5: "company: different"},
    "domain": {1.0: "domain: same", -0.5: "domain: different"},
}
_COMPANY_WORDS = {
    "company": {4.0: "company: same", 2.0: "company: similar", 0.5: "company: a bit similar",
                -3.0: "company: different", -4.0: "company: different"},
    "domain": {3.0: "domain: same", -2.0: "domain: different"},
    "phone": {2.0: "phone: same", -0.5: "phone: different"},
}


def _reasons(v: dict[str, np.ndarray], k: int, evidence: frozenset[str]) -> tuple[str, ...]:
    words = _PEOPLE_WORDS if "name" in v else _COMPANY_WORDS
    out = []
    for name in ("email", "name", "phone", "company", "domain"):
        if name not in v:
            continue
        word = words[name].get(float(v[name][k]))
        if word:
            if name == "name" and v.get("swapped") is not None and v["swapped"][k]:
                word += " (first and last swapped)"
            if name not in evidence and not (name == "company" and words is _COMPANY_WORDS):
                word += " (not counted)"
            out.append(word)
    if "city" in v:
        w = float(v["city"][k])
        if w > 0:
            out.append("city: same")
        elif w < 0:
            out.append("place: different")
    return tuple(out)


def _pairs(ra, rb, i, j, scores, v, floor, evidence) -> list[MatchPair]:
    keep = np.flatnonzero(scores >= floor)
    ta, tb = ra["table"].to_numpy(object), rb["table"].to_numpy(object)
    ida, idb = ra["rid"].to_numpy(object), rb["rid"].to_numpy(object)
    out = []
    for k in keep:
        a, b = i[k], j[k]
        out.append(MatchPair(ta[a], ida[a], tb[b], idb[b], round(float(scores[k]), 4), _reasons(v, k, evidence)))
    return out


# ---------------------------------------------------------------------------------------------
# The entry point


def find_pairs(tables: Tables, settings: MatchSettings | None = None, *, floor: float | None = None,
               tables_to_match: Iterable[str] = ("leads", "contacts", "accounts")) -> list[MatchPair]:
    """Every pair scoring at least ``floor`` (default: the review threshold), best first.

    Within leads, contacts and accounts; and across: a lead against contacts (the same person) and
    against accounts (the company the lead works for).
    """
    s = settings or MatchSettings.from_tables(tables)
    floor = s.review if floor is None else floor
    wanted = [t for t in tables_to_match if t in tables]
    out: list[MatchPair] = []
    people = {t: person_records(tables, t, s.region) for t in PEOPLE if t in wanted}
    for t, r in people.items():
        if len(r) < 2:
            continue
        secondary = (r["last"] + " " + r["first"]).to_numpy(object)
        i, j = _pair_index(_person_keys(r), secondary, len(r))
        scores, v = score_people(r, r, i, j, s.evidence)
        out += _pairs(r, r, i, j, scores, v, floor, s.evidence)
    if "leads" in people and "contacts" in people and len(people["contacts"]):
        both = pd.concat([people["leads"], people["contacts"]], ignore_index=True)
        nl = len(people["leads"])
        secondary = (both["last"] + " " + both["first"]).to_numpy(object)
        i, j = _pair_index(_person_keys(both), secondary, len(both), lambda i, j: (i < nl) & (j >= nl))
        scores, v = score_people(both, both, i, j, s.evidence)
        out += _pairs(both, both, i, j, scores, v, floor, s.evidence)
    if "accounts" in wanted:
        acc = account_records(tables, s.region)
        if len(acc) >= 2:
            out += _account_pairs(acc, s, floor)
        if "leads" in people and len(acc):
            out += _lead_account_pairs(people["leads"], acc, s, floor)
    out.sort(key=lambda p: (-p.score, p.id_a, p.id_b))
    return out


def _account_pairs(acc: pd.DataFrame, s: MatchSettings, floor: float) -> list[MatchPair]:
    comp = acc["company"].to_numpy(object)
    first_word = np.array([c.split(" ")[0] if c else "" for c in comp], dtype=object)
    keysets = [comp, acc["cdomain"].to_numpy(object), acc["phone1"].to_numpy(object),
               np.array([K.soundex(w) + c[:2] if w else "" for w, c in zip(first_word, comp)], dtype=object)]
    i, j = _pair_index(keysets, comp, len(acc))
    # A branch and its parent are two accounts on purpose.
    rid, parent = acc["rid"].to_numpy(object), acc["parent"].to_numpy(object)
    keep = (parent[i] != rid[j]) & (parent[j] != rid[i])
    i, j = i[keep], j[keep]
    scores, v = score_accounts(acc, acc, i, j, s.evidence)
    return _pairs(acc, acc, i, j, scores, v, floor, s.evidence)


def _lead_account_pairs(leads: pd.DataFrame, acc: pd.DataFrame, s: MatchSettings, floor: float) -> list[MatchPair]:
    cols = ["rid", "table", "company", "cdomain", "phone1", "city", "country"]
    both = pd.concat([leads[cols], acc[cols]], ignore_index=True)
    nl = len(leads)
    comp = both["company"].to_numpy(object)
    i, j = _pair_index([comp, both["cdomain"].to_numpy(object)], comp, len(both), lambda i, j: (i < nl) & (j >= nl))
    scores, v = score_lead_accounts(both, both, i, j, s.evidence)
    pairs = _pairs(both, both, i, j, scores, v, floor, s.evidence)
    # A lead belongs to one account: keep the best when several match.
    best: dict[str, MatchPair] = {}
    for p in pairs:
        if p.id_a not in best or p.score > best[p.id_a].score:
            best[p.id_a] = p
    return list(best.values())
