"""Finding duplicate pairs: match keys per record, blocking, vectorised scoring and the explanation.

Evidence follows Salesforce's standard matching rules: an exact email is enough; otherwise a name
that agrees (typos, nicknames, swapped first/last) needs support from company, phone, email or city.
Colleagues (shared company, switchboard, domain) and namesakes (shared name) never score high alone.
Organisations (accounts, and people records with a company but no person's name) are scored in orgs.py.
Scores are log-odds of hand-set weights mapped to 0..1, so thresholds in Settings read as confidence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler

from crm_sheets.jobs.dedupe import orgs
from crm_sheets.jobs.dedupe.keys import (FREE_DOMAINS, ROLE_LOCALS, canon_first, company_domain, company_key, email_key,
                                         fold_city, is_mobile, name_key, phone_key, region_of, soundex)
from crm_sheets.jobs.dedupe.index import KeyMemory
from crm_sheets.model import Tables

PEOPLE = ("leads", "contacts", "people")  # people: the personal template's one table of persons
EVIDENCE = ("email", "phone", "name", "company", "domain", "city")
SUPPORT_CAP = 4.0
_MAX_BLOCK = 40  # a block larger than this is scanned as a sliding window (sorted neighbourhood)


@dataclass(frozen=True, slots=True)  # slots: a first run pairs ~40,000 records at 100k leads
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
    """A column as text, '' for empty cells."""
    if name not in df.columns:
        return [""] * len(df)
    values = df[name].to_numpy(object)
    blank = pd.isna(values)
    return ["" if b else (v if isinstance(v, str) else str(v)) for v, b in zip(values, blank)]


def _each(fn, values: list) -> list:
    """fn of each value, called once per distinct value: names, cities and companies repeat a lot."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    out = [fn(u) for u in uniques]
    return [out[c] for c in codes]


def _phone_of(value_region: str) -> str:
    value, _, region = value_region.partition("\t")
    return phone_key(value, region) if value.strip() else ""


def _phones(values: list[str], regions: list[str], default: str) -> list[str]:
    """Phone keys of a column, each number read in its record's region; once per distinct value, and
    per (value, region) only for the numbers typed without country code in another region."""
    out = _each(lambda v: phone_key(v, default) if v.strip() else "", values)
    # '+44 ...' and '0044 ...' say their country; '0141 ...' and '(415) ...' do not
    other = [k for k, (v, r) in enumerate(zip(values, regions))
             if r != default and v and not v.lstrip().startswith(("+", "00"))]
    if other:
        keys = _each(_phone_of, [f"{values[k]}\t{regions[k]}" for k in other])
        for k, key in zip(other, keys):
            out[k] = key
    return out


# The keys of a person computed from its own cells alone (what KeyMemory keeps): those depending on the whole
# list (an email domain no company owns: efree, cdomain) are put together from them in person_records.
PERSON_KEYS = ("first", "last", "canon1", "canon2", "email", "local", "edomain", "phone1", "phone2", "company",
               "cdomain_own", "cdomain_web", "city", "country")


def _person_keys_of(texts: dict[str, list[str]], region: str) -> dict[str, list]:
    """PERSON_KEYS of records given as their cells' texts (first_name, last_name, email, phone, mobile,
    country, city, company, website)."""
    first = _each(name_key, texts["first_name"])
    last = _each(name_key, texts["last_name"])
    canon = _each(lambda f: canon_first(f.split(" ")[0]) if f else (), first)
    emails = _each(email_key, texts["email"])
    # numbers typed without a country code are read as the record's country's, else Settings default_country
    regions = _each(lambda c: region_of(c, region), texts["country"])
    edomain = [e[1] for e in emails]
    website = texts["website"]
    return {
        "first": first,
        "last": last,
        "canon1": [c[0] if c else "" for c in canon],
        "canon2": [c[1] if len(c) > 1 else "" for c in canon],
        "email": [e[0] for e in emails],
        "local": [e[0].rpartition("@")[0] for e in emails],
        "edomain": edomain,
        "phone1": _phones(texts["phone"], regions, region),
        "phone2": _phones(texts["mobile"], regions, region),
        "company": _each(lambda v: company_key(v) if v else "", texts["company"]),
        "cdomain_own": _each(lambda dw: company_domain(*dw.split("\t", 1)), [f"{d}\t{w}" for d, w in zip(edomain, website)]),
        "cdomain_web": _each(lambda w: company_domain("", w), website),
        "city": _each(fold_city, texts["city"]),
        "country": _each(name_key, texts["country"]),
    }


def person_records(tables: Tables, table: str, region: str = "US", memory: KeyMemory | None = None) -> pd.DataFrame:
    """Match keys of the people of a table (leads or contacts); ``memory`` gives those it knows (index.py)."""
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
    texts = {f: _col(df, f) for f in ("first_name", "last_name", "email", "phone", "mobile", "country", "city")}
    texts.update(company=company, website=website)
    if memory is None:
        keys = _person_keys_of(texts, region)
    else:
        keys = memory.keyed(f"people|{region}", texts, PERSON_KEYS, lambda sub: _person_keys_of(sub, region))
    edomain = keys["edomain"]
    shared = _shared_domains(edomain, keys["company"])
    # an internet provider's mailboxes are private ones, though no list names it: their domain says no company
    cdomain = [w if d in shared else o for d, o, w in zip(edomain, keys["cdomain_own"], keys["cdomain_web"])] if shared \
        else keys["cdomain_own"]
    return pd.DataFrame({
        "rid": df.index.astype(str).tolist(),
        "table": table,
        **{k: keys[k] for k in ("first", "last", "canon1", "canon2", "email")},
        "email_raw": texts["email"],
        **{k: keys[k] for k in ("local", "edomain", "phone1", "phone2", "company")},
        "cdomain": cdomain,
        "efree": [d in shared or d in FREE_DOMAINS for d in edomain],
        "city": keys["city"],
        "country": keys["country"],
    })


def _shared_domains(domains: list[str], companies: list[str]) -> set[str]:
    """Email domains of this list that are nobody's company: given by people of three or more companies,
    none of which it names (an internet provider's, 'telefonica.net', missing from FREE_DOMAINS)."""
    seen: dict[str, set[str]] = {}
    for d, c in zip(domains, companies):
        if d and c and d not in FREE_DOMAINS:
            seen.setdefault(d, set()).add(c)
    out = set()
    for d, cs in seen.items():
        if len(cs) >= 3:
            label = d.split(".")[0][:4]
            if not any(label in c.replace(" ", "") for c in cs):
                out.add(d)
    return out


ORG_KEYS = ("company", "address_no", "street", "phone1", "phone_tail", "phone_short", "cdomain", "city", "country")


def _org_keys(df: pd.DataFrame, name_column: str, region: str, memory: KeyMemory | None) -> dict[str, list]:
    """orgs.org_records of the frame's organisations (named in ``name_column``), those ``memory`` knows not computed again."""
    texts = {"name": _col(df, name_column), **{f: _col(df, f) for f in ("address", "phone", "website", "city", "country")}}

    def compute(t: dict[str, list[str]]) -> dict[str, list]:
        return orgs.org_records(t["name"], t["address"], t["phone"], t["website"], t["city"], t["country"], region)

    return compute(texts) if memory is None else memory.keyed(f"orgs|{region}", texts, ORG_KEYS, compute)


def account_records(tables: Tables, region: str = "US", memory: KeyMemory | None = None) -> pd.DataFrame:
    """Match keys of accounts: company name, street address, website domain, phone, place, and the parent link."""
    df = tables.df("accounts")
    keys = _org_keys(df, "name", region, memory)
    return pd.DataFrame({
        "rid": df.index.astype(str).tolist(),
        "table": "accounts",
        **keys,
        "phone2": "",
        "parent": _col(df, "parent"),
        "type": _col(df, "type"),
    })


def org_lead_records(tables: Tables, table: str, rows: np.ndarray, region: str = "US",
                     memory: KeyMemory | None = None) -> pd.DataFrame:
    """Match keys of the records of a people table that carry only an organisation (no person's name):
    a list of companies imported as leads is matched as organisations, not as people."""
    df = tables.df(table).iloc[rows]
    keys = _org_keys(df, "company", region, memory)
    return pd.DataFrame({"rid": df.index.astype(str).tolist(), "table": table, **keys})


# ---------------------------------------------------------------------------------------------
# Blocking


def _block(keys: np.ndarray | list[np.ndarray], secondary: np.ndarray, window: int = _MAX_BLOCK,
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
        codes = _codes(*parts)
        codes = np.concatenate(codes) if len(parts) > 1 else codes[0]
    rows = np.tile(np.arange(n), len(parts))
    idx = np.flatnonzero(codes >= 0)
    if len(idx) < 2:
        return np.empty(0, dtype=np.int64)
    sec_codes = (pd.factorize(secondary)[0] if secondary.dtype == object else secondary)[rows[idx]]
    idx = idx[np.lexsort((sec_codes, codes[idx]))]
    sk, order = codes[idx], rows[idx]
    out = []
    for d in range(1, window):
        eq = sk[d:] == sk[:-d]
        if not eq.any():
            break
        same = eq & (order[d:] != order[:-d])
        a, b = order[:-d][same], order[d:][same]
        a, b = np.minimum(a, b).astype(np.int64), np.maximum(a, b)
        if allowed is not None:  # dropped here, before the pairs of all passes are put together
            keep = allowed(a, b)
            a, b = a[keep], b[keep]
        out.append(a * n + b)
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def _person_keys(r: pd.DataFrame) -> list[tuple]:
    """(key arrays, secondary sort, window) of each blocking pass over people."""
    first = r["first"].to_numpy(object)
    last = r["last"].to_numpy(object)
    c1 = r["canon1"].to_numpy(object)
    f0 = np.array([f[:1] for f in first], dtype=object)
    l0 = np.array([x[:1] for x in last], dtype=object)
    sdx_last = np.array([soundex(x.split(" ")[-1]) if x else "" for x in last], dtype=object)
    sdx_first = np.array([soundex(f.split(" ")[0]) if f else "" for f in first], dtype=object)
    both = (first != "") & (last != "")

    def when(mask: np.ndarray, *parts: np.ndarray) -> np.ndarray:
        out = parts[0].copy()
        for p in parts[1:]:
            out = out + "|" + p
        out[~mask] = ""
        return out

    local = r["local"].to_numpy(object)
    role = np.array([x in ROLE_LOCALS or len(x) < 4 for x in local], dtype=bool)
    sorted_name = np.array(["|".join(sorted((a, b))) for a, b in zip(c1, last)], dtype=object)
    company = r["company"].to_numpy(object)
    cdomain = r["cdomain"].to_numpy(object)
    org = np.where(company != "", company, cdomain).astype(object)
    place = org + "|" + r["city"].to_numpy(object)
    name = last + " " + first
    return _coded([
        (r["email"].to_numpy(object), name, _MAX_BLOCK),
        ([r["phone1"].to_numpy(object), r["phone2"].to_numpy(object)], name, _MAX_BLOCK),
        (when(~role, local), name, 8),
        (when(both, sorted_name), place, 10),  # namesakes are many: the same company sorts together
        ([when(both, sdx_last, f0), when(both, sdx_first, l0)], place, 5),  # typos, also swapped
        (when((last != "") & (org != ""), last, org), name, 20),
        (when((c1 != "") & (org != ""), c1, org), name, 20),
        # initials at one firm: 'L. Kirkwnod' and 'Lachlan Kirkwood' (a cut-short name and a typo)
        (_int_key(org, f0, l0), name, 10),
    ])


def _int_key(*parts: np.ndarray) -> np.ndarray:
    """One integer key of several string columns (-1 where any is empty), without building strings."""
    key = np.zeros(len(parts[0]), dtype=np.int64)
    empty = np.zeros(len(parts[0]), dtype=bool)
    for p in parts:
        codes, uniques = pd.factorize(p)
        empty |= p == ""
        key = key * (len(uniques) + 1) + codes
    key[empty] = -1
    return key


def _coded(keysets: list[tuple]) -> list[tuple]:
    """The keysets with integer codes in place of strings ('' -> -1), each array factorized once for
    the passes within each table and across."""
    seen: dict[int, np.ndarray] = {}

    def sec(a: np.ndarray) -> np.ndarray:
        if id(a) not in seen:
            seen[id(a)] = pd.factorize(a)[0]
        return seen[id(a)]

    out = []
    for keys, secondary, window in keysets:
        codes = _codes(*keys) if isinstance(keys, list) else _codes(keys)[0]
        out.append((codes, sec(secondary), window))
    return out


def _slice(keyset: tuple, lo: int, hi: int) -> tuple:
    """One blocking pass restricted to the records lo..hi-1 of the frame it was computed on."""
    keys, secondary, window = keyset
    keys = [k[lo:hi] for k in keys] if isinstance(keys, list) else keys[lo:hi]
    return keys, secondary[lo:hi], window


def _pair_index(keysets: Iterable[tuple], n: int, allowed=None) -> tuple[np.ndarray, np.ndarray]:
    codes = [_block(k, sec, w, allowed) for k, sec, w in keysets]
    allp = pd.unique(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)
    return allp // n, allp % n


# ---------------------------------------------------------------------------------------------
# Scoring


def _sim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0:
        return np.empty(0)
    return process.cpdist(list(a), list(b), scorer=JaroWinkler.normalized_similarity, workers=-1)


def _sim_by_code(strings: np.ndarray, codes: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """_sim of strings[i] and strings[j], computed once per distinct pair of codes (see _codes)."""
    if len(i) == 0:
        return np.empty(0)
    ca, cb = codes[i].astype(np.int64), codes[j].astype(np.int64)
    key = np.minimum(ca, cb) * (int(codes.max()) + 1) + np.maximum(ca, cb)  # Jaro-Winkler is symmetric
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return _sim(strings[i[first]], strings[j[first]])[inverse.ravel()]


def _sim_once(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """_sim of each pair, computed once per distinct pair of strings: candidate pairs repeat the same
    two company names (or names) thousands of times."""
    if len(a) == 0:
        return np.empty(0)
    codes, uniques = pd.factorize(np.concatenate([a, b]))
    ca, cb = codes[:len(a)].astype(np.int64), codes[len(a):].astype(np.int64)
    key = np.minimum(ca, cb) * len(uniques) + np.maximum(ca, cb)  # Jaro-Winkler is symmetric
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return _sim(a[first], b[first])[inverse.ravel()]


def _osa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Edits between two strings, a swap of neighbours counting as one (one typo = 1)."""
    if len(a) == 0:
        return np.empty(0)
    return process.cpdist(list(a), list(b), scorer=OSA.distance, workers=-1)


def _log_odds(p: float) -> float:
    """The total a score must reach to be at least ``p`` (-inf for 0: every pair), less a hair for rounding."""
    return float(np.log(p / (1 - p))) - 1e-9 if 0 < p < 1 else (-np.inf if p <= 0 else np.inf)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _codes(*columns: np.ndarray) -> list[np.ndarray]:
    """Integer codes of string columns in one shared code space ('' -> -1): pair tests become int tests."""
    n = len(columns[0])
    allv = np.concatenate(columns)
    codes = pd.factorize(allv)[0]
    codes[(allv < 0) if allv.dtype.kind in "iu" else (allv == "")] = -1
    return [codes[k * n:(k + 1) * n] for k in range(len(columns))]


def _lengths(col: np.ndarray) -> np.ndarray:
    return np.fromiter((len(x) for x in col), dtype=np.int32, count=len(col))


def _flags(col: np.ndarray, test) -> np.ndarray:
    return np.fromiter((bool(test(x)) for x in col), dtype=bool, count=len(col))


def _close(sa: np.ndarray, sb: np.ndarray, la: np.ndarray, lb: np.ndarray, mask: np.ndarray, jw: float,
           substring: bool = False) -> np.ndarray:
    """Typo-close strings among ``mask``: Jaro-Winkler >= jw, or one edit (a swap counts as one) when long enough."""
    out = np.zeros(len(sa), dtype=bool)
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return out
    a, b = sa[idx], sb[idx]
    close = _sim(a, b) >= jw
    long = np.minimum(la[idx], lb[idx]) >= 4
    rest = ~close & long
    if rest.any():
        close[rest] = _osa(a[rest], b[rest]) <= 1
    if substring:  # compound names: 'garcia lopez' and 'garcia'
        rest = ~close & long
        close[rest] = [x in y or y in x for x, y in zip(a[rest], b[rest])]
    out[idx] = close
    return out


def _names(prep: dict, i: np.ndarray, j: np.ndarray, swap: bool) -> tuple[np.ndarray, ...]:
    """Weight of the name evidence for one orientation (b's first/last swapped or not), a 'clearly
    different first names' flag, a 'first names only nearly the same' flag and a 'first name cut short
    or an initial' flag."""
    fa, la, c1a, c2a = prep["first_code"][i], prep["last_code"][i], prep["canon1_code"][i], prep["canon2_code"][i]
    if swap:
        fb, lb, c1b, c2b = prep["last_code"][j], prep["first_code"][j], prep["last_code"][j], np.full(len(j), -1)
        sfb, slb, lfb, llb = prep["last"][j], prep["first"][j], prep["last_len"][j], prep["first_len"][j]
    else:
        fb, lb, c1b, c2b = prep["first_code"][j], prep["last_code"][j], prep["canon1_code"][j], prep["canon2_code"][j]
        sfb, slb, lfb, llb = prep["first"][j], prep["last"][j], prep["first_len"][j], prep["last_len"][j]
    sfa, sla, lfa, lla = prep["first"][i], prep["last"][i], prep["first_len"][i], prep["last_len"][i]
    f_missing, l_missing = (fa < 0) | (fb < 0), (la < 0) | (lb < 0)
    f_same = ~f_missing & ((fa == fb) | ((c1a >= 0) & ((c1a == c1b) | (c1a == c2b) | ((c2a >= 0) & ((c2a == c1b) | (c2a == c2b))))))
    l_same = ~l_missing & (la == lb)
    # similarity only where it can matter: the last names agree or nearly, for the first names
    l_close = l_same | _close(sla, slb, lla, llb, ~l_missing & ~l_same, 0.9, substring=True)
    # a last name given as its initial ('Karin V.'): as close as a typo, never the same
    initial_last = ~l_missing & ~l_same & ((lla == 1) | (llb == 1)) & (prep["last_initial"][i] == (prep["first_initial"][j] if swap else prep["last_initial"][j]))
    l_close |= initial_last
    # a last name cut short: an initial, or one of two names ('Romero' / 'Romero Navarro', 'Berg' /
    # 'van den Berg'): a relative at the family firm may have the other one
    short_last = initial_last.copy()
    # cut short ('Sio' for 'Siobhan': a first name cut short, typed in the last name's place)
    pre = np.flatnonzero(f_same & ~l_missing & ~l_close & (np.minimum(lla, llb) >= 3))
    if len(pre):
        cut = np.array([x.startswith(y) or y.startswith(x) for x, y in zip(sla[pre], slb[pre])], dtype=bool)
        l_close[pre[cut]] = True
        short_last[pre[cut]] = True
    part = np.flatnonzero(~l_missing & ~l_same & l_close & ~initial_last & (np.minimum(lla, llb) < np.maximum(lla, llb)))
    if len(part):
        short_last[part] |= np.array([_word_part(x, y) for x, y in zip(sla[part], slb[part])], dtype=bool)
    f_close = _close(sfa, sfb, lfa, lfb, ~f_missing & ~f_same & (l_close | l_missing), 0.88)
    # a first name cut short ('Ste', 'Bro') or an initial ('L.'): the start of the other one
    short = ~f_missing & ~f_same & (l_close | l_missing) & (np.minimum(lfa, lfb) <= 4)
    trunc = np.zeros(len(i), dtype=bool)
    if short.any():
        idx = np.flatnonzero(short)
        trunc[idx] = [x.startswith(y) or y.startswith(x) for x, y in zip(sfa[idx], sfb[idx])]
    trunc |= ~f_missing & ~f_same & ((lfa == 1) | (lfb == 1)) & (prep["first_initial"][i] == (prep["last_initial"][j] if swap else prep["first_initial"][j]))
    f_close |= trunc
    w = np.full(len(i), -4.0)
    w[l_same & f_same] = 3.0
    w[l_same & ~f_same & f_close] = 2.0
    w[~l_same & l_close & f_same] = 2.0
    w[~l_same & l_close & ~f_same & f_close] = 1.0
    w[f_missing & l_same] = 1.5
    w[f_missing & ~l_same & l_close] = 0.5
    w[l_missing & ~f_missing & f_same] = 0.5
    w[l_missing & f_missing] = 0.0
    conflict = ~f_missing & ~f_same & ~f_close
    return w, conflict, ~f_missing & ~f_same & f_close & ~trunc, trunc, short_last & (f_same | f_close)


def _word_part(a: str, b: str) -> bool:
    """Are the words of one name some of the other's (one of two last names)?"""
    wa, wb = set(a.split()), set(b.split())
    return wa != wb and (wa < wb or wb < wa)


def _one_person(prep: dict, a: int, b: int) -> bool:
    """Could records a and b name one person: the same last name and a first name equal or cut short
    (either way round)?"""
    fa, la, fb, lb = prep["first"][a], prep["last"][a], prep["first"][b], prep["last"][b]

    def fits(x: str, y: str) -> bool:
        return bool(x) and bool(y) and (x.startswith(y) or y.startswith(x))

    return bool(la) and ((la == lb and fits(fa, fb)) or (la == fb and fits(fa, lb)))


def _name_local(local: str, first: str, last: str) -> bool:
    """Is the mailbox name just the person's name again (lea.david, ldavid, lea.d, lea)? Then a namesake
    has it too, at another provider: equal mailbox names at two domains say nothing more than the name."""
    lo = local.replace(".", "").replace("_", "").replace("-", "").rstrip("0123456789")
    if not lo:
        return False
    if last and last.split(" ")[-1] in lo:
        return True
    given = first.split(" ")[0] if first else ""
    initial = last[:1]
    return bool(given) and lo in (given, given + initial, initial + given)


def _prepare(r: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-record arrays the pair scoring indexes: codes, lengths, flags (computed once, not per pair)."""
    first, last = r["first"].to_numpy(object), r["last"].to_numpy(object)
    prep: dict[str, np.ndarray] = {"first": first, "last": last}
    prep["first_code"], prep["last_code"], prep["canon1_code"], prep["canon2_code"] = _codes(first, last, r["canon1"].to_numpy(object), r["canon2"].to_numpy(object))
    prep["first_len"], prep["last_len"] = _lengths(first), _lengths(last)
    prep["first_initial"], prep["last_initial"] = _codes(np.array([x[:1] for x in first], dtype=object), np.array([x[:1] for x in last], dtype=object))
    local, edomain = r["local"].to_numpy(object), r["edomain"].to_numpy(object)
    prep["local"] = local
    prep["email_code"], = _codes(r["email"].to_numpy(object))
    prep["email_raw"] = r["email_raw"].to_numpy(object)
    prep["local_code"], prep["local_stem_code"] = _codes(local, np.array([x.rstrip("0123456789") for x in local], dtype=object))
    prep["domain_code"], = _codes(edomain)
    prep["role"] = _flags(local, lambda x: x in ROLE_LOCALS)
    prep["local_len"] = _lengths(local)
    prep["longlocal"] = prep["local_len"] >= 4
    prep["namelocal"] = np.fromiter((_name_local(lo, fi, ln) for lo, fi, ln in zip(local, first, last)),
                                 dtype=bool, count=len(local))
    prep["free"] = r["efree"].to_numpy(bool) if "efree" in r.columns else _flags(edomain, lambda x: x in FREE_DOMAINS)
    prep["phone1"], prep["phone2"] = r["phone1"].to_numpy(object), r["phone2"].to_numpy(object)
    prep["phone1_code"], prep["phone2_code"] = _codes(prep["phone1"], prep["phone2"])
    # A number is one person's when it is a mobile, or (where the plan does not say) when no more than
    # two records give it: a switchboard is given by every colleague.
    codes, numbers = np.concatenate([prep["phone1_code"], prep["phone2_code"]]), np.concatenate([prep["phone1"], prep["phone2"]])
    personal = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=bool)
    if len(personal):
        code, at, count = np.unique(codes[codes >= 0], return_index=True, return_counts=True)
        shared = count >= 2  # only a number two records give can make a pair
        mobile = [is_mobile(x) for x in numbers[codes >= 0][at[shared]]]
        personal[code[shared]] = [m is True or (m is None and c <= 2) for m, c in zip(mobile, count[shared])]
        # or a line (not a mobile) given by three or four records that all look like one person: one
        # person's direct line on each copy of the person; a switchboard is given by colleagues of other
        # names, and two relatives (Kai and Karin Jablonski) are two names. Two records alone cannot
        # tell a direct line from a switchboard only they give (Stephen and S. Prescott).
        few = set(code[(count >= 3) & (count <= 4) & ~personal[code]].tolist())
        if few:
            rows_of: dict[int, list[int]] = {}
            n1 = len(prep["phone1_code"])
            for k in np.flatnonzero(np.isin(codes, list(few))):
                rows_of.setdefault(int(codes[k]), []).append(int(k % n1))
            for c_, rows in rows_of.items():
                personal[c_] = all(_one_person(prep, x, y) for n, x in enumerate(rows) for y in rows[n + 1:])
    prep["personal_phone"] = personal
    prep["company"] = r["company"].to_numpy(object)
    prep["company_code"], = _codes(prep["company"])
    prep["company_domain_code"], = _codes(r["cdomain"].to_numpy(object))
    prep["city_code"], = _codes(r["city"].to_numpy(object))
    # how many records have this first name, last name and city
    trio = ((prep["first_code"].astype(np.int64) + 1) * (int(prep["last_code"].max(initial=0)) + 2) + prep["last_code"] + 1) * (int(prep["city_code"].max(initial=0)) + 2) + prep["city_code"] + 1
    codes, _ = pd.factorize(trio)
    prep["name_city_count"] = np.bincount(codes)[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    prep["country_code"], = _codes(r["country"].to_numpy(object))
    return prep


def score_people(ra: pd.DataFrame, rb: pd.DataFrame, i: np.ndarray, j: np.ndarray,
                 evidence: frozenset[str] = frozenset(EVIDENCE), floor: float = 0.0,
                 prepared: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scores (0..1) of the pairs (row i, row j) of people, and the per-field weights that explain them.

    ``ra`` and ``rb`` are one frame (cross-table pairs are scored on the two tables' records put
    together). Pairs that cannot reach ``floor`` even with the best name are not compared by name.
    ``prepared`` is ``_prepare(ra)`` when the caller has it already.
    """
    prep = prepared if prepared is not None else _prepare(ra)
    n = len(i)
    v: dict[str, np.ndarray] = {}

    # email: exact is enough (unless a shared role address); same mailbox at another domain is support
    ea, eb = prep["email_code"][i], prep["email_code"][j]
    both_e = (ea >= 0) & (eb >= 0)
    same_e = both_e & (ea == eb)
    role = prep["role"][i]
    # the same mailbox name at another domain counts, unless it is just the name again (lea.david@)
    same_local = both_e & ~same_e & (prep["local_code"][i] == prep["local_code"][j]) & prep["longlocal"][i] & ~role & ~prep["namelocal"][i]
    same_dom = both_e & (prep["domain_code"][i] == prep["domain_code"][j]) & ~same_e
    other_box = prep["local_stem_code"][i] == prep["local_stem_code"][j]  # ana.lopez2@ and ana.lopez@: two mailboxes
    maybe_typo = same_dom & ~other_box
    if maybe_typo.any():  # a typo: a letter wrong, missing, doubled or two swapped (two in a long name)
        idx = np.flatnonzero(maybe_typo)
        la, lb = prep["local"][i[idx]], prep["local"][j[idx]]
        longer = np.minimum(prep["local_len"][i[idx]], prep["local_len"][j[idx]]) >= 10
        edits = _osa(la, lb)
        maybe_typo[idx] = edits <= np.where(longer, 2, 1)
        two = np.flatnonzero(maybe_typo[idx] & (edits == 2))
        if len(two):  # two edits in one word of the mailbox name are another word: kai.j@ / karin.j@
            maybe_typo[idx[two]] = [_typo_per_word(x, y) for x, y in zip(la[two], lb[two])]
    work = same_dom & ~prep["free"][i]
    free_a, free_b = prep["free"][i], prep["free"][j]
    free = free_a | free_b
    email_w = np.zeros(n)
    email_w[same_e & ~role] = 6.0
    email_w[same_e & role] = 0.5
    email_w[same_local] = 2.0
    email_w[work] = -2.5  # another address at the same company: a colleague, unless a typo (below)
    email_w[both_e & ~same_e & ~same_local & ~same_dom & ~free] = -0.5

    # Company, domain, switchboard and city are what colleagues share: together they support a
    # matching name, but never add up to more than SUPPORT_CAP.
    p1a, p2a, p1b, p2b = prep["phone1_code"][i], prep["phone2_code"][i], prep["phone1_code"][j], prep["phone2_code"][j]
    same_p = ((p1a >= 0) & ((p1a == p1b) | (p1a == p2b))) | ((p2a >= 0) & ((p2a == p1b) | (p2a == p2b)))
    any_a, any_b = (p1a >= 0) | (p2a >= 0), (p1b >= 0) | (p2b >= 0)
    v["phone"] = np.where(same_p, 2.0, np.where(any_a & any_b, -0.5, 0.0))
    shared = np.where((p1a >= 0) & ((p1a == p1b) | (p1a == p2b)), p1a, p2a)
    own_phone = same_p & prep["personal_phone"][np.maximum(shared, 0)] if len(prep["personal_phone"]) else same_p
    v["mobile"] = own_phone
    da, db = prep["company_domain_code"][i], prep["company_domain_code"][j]
    v["domain"] = np.where((da >= 0) & (da == db), 1.0, np.where((da >= 0) & (db >= 0), -0.5, 0.0))
    ca, cb = prep["city_code"][i], prep["city_code"][j]
    city = np.where((ca >= 0) & (ca == cb), 0.5, np.where((ca >= 0) & (cb >= 0), -0.7, 0.0))
    city += np.where((prep["country_code"][i] >= 0) & (prep["country_code"][j] >= 0) & (prep["country_code"][i] != prep["country_code"][j]), -1.0, 0.0)
    v["city"] = city
    ka, kb = prep["company_code"][i], prep["company_code"][j]
    both_k = (ka >= 0) & (kb >= 0)
    same_k = both_k & (ka == kb)
    rest = both_k & ~same_k
    best_email = np.where(maybe_typo, 1.5, email_w) if "email" in evidence else 0.0
    need = _log_odds(floor)
    best_name = 3.0 if "name" in evidence else 0.0
    # Two different company names are compared (the slow part) only where 'similar' could lift the
    # pair to ``floor``; elsewhere they count as different, which changes no pair that is kept.
    others = sum(v[k] for k in ("phone", "domain", "city") if k in evidence) + np.zeros(n)
    best_company = np.where(rest, 1.5, 0.0) if "company" in evidence else 0.0
    rest &= -3.0 + np.minimum(others + best_company, SUPPORT_CAP) + best_email + best_name >= need
    k_close = np.zeros(n, dtype=bool)
    if rest.any():
        idx = np.flatnonzero(rest)
        k_close[idx] = _sim_by_code(prep["company"], prep["company_code"], i[idx], j[idx]) >= 0.9
    v["company"] = np.where(same_k, 2.5, np.where(k_close, 1.5, np.where(both_k & ~same_k, -1.5, 0.0)))
    support = sum(v[k] for k in ("phone", "company", "domain", "city") if k in evidence)
    support = np.minimum(support, SUPPORT_CAP) if n else np.zeros(0)

    # names, both orientations (first/last swapped), best kept; only where the score can reach floor
    # (with the lift of a record that has nothing but a name and a place, see 'thin' below)
    maybe_thin = ((prep["name_city_count"][i] == 2) & (v["city"] > 0) & ~both_e & (v["phone"] == 0) & (v["domain"] == 0) & ~both_k
                  & (prep["first_code"][i] == prep["first_code"][j]) & (prep["last_code"][i] == prep["last_code"][j]))
    todo = np.flatnonzero(-3.0 + support + best_email + best_name + np.where(maybe_thin, _THIN, 0.0) >= need)
    name_w, conflict, swapped = np.full(n, -4.0), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    near_first, trunc, short_last = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if len(todo):
        ti, tj = i[todo], j[todo]
        w1, c1, n1, t1, s1 = _names(prep, ti, tj, swap=False)
        w2, c2, n2, t2, s2 = _names(prep, ti, tj, swap=True)
        sw = (w2 > w1) & (prep["first_code"][ti] >= 0) & (prep["last_code"][ti] >= 0)
        name_w[todo], conflict[todo], swapped[todo] = np.where(sw, w2, w1), np.where(sw, c2, c1), sw
        near_first[todo], trunc[todo] = np.where(sw, n2, n1), np.where(sw, t2, t1)
        short_last[todo] = np.where(sw, s2, s1)
    v["name"], v["swapped"], v["trunc"], v["short_last"] = name_w, swapped, trunc, short_last

    # A typo in the address counts when the names agree or nearly, and the two addresses do not differ
    # just as the names do: carla.m@ and carlos.m@ are two colleagues, nicohlas.k@ and nicholas.k@ one person.
    typo = maybe_typo & (name_w >= 1.0)
    if typo.any():
        idx = np.flatnonzero(typo)
        typo[idx] = [not _names_explain(prep, a, b) for a, b in zip(i[idx], j[idx])]
    email_w[typo] = 1.5
    v["email"] = email_w
    # A record with only a name and a place beside a record of the same name there (the other
    # fields empty, none different) is asked about: a namesake would differ in company, phone or mailbox;
    # unless more than these two records have that name there: then it cannot tell which one.
    thin = maybe_thin & (prep["first_code"][i] >= 0) & (prep["last_code"][i] >= 0)  # (the same name and place: NC counts both)
    total = -3.0 + support + (email_w if "email" in evidence else 0.0) + (name_w if "name" in evidence else 0.0)
    total = total + np.where(thin, _THIN, 0.0)
    # one person's own number agreeing is evidence of the person, beyond what colleagues share
    if "phone" in evidence:
        total = total + np.where(own_phone, _OWN_PHONE, 0.0)
    score = _sigmoid(total)
    # Two clearly different first names are never merged without a person's look.
    score = np.where(conflict, np.minimum(score, 0.9), score)
    # Nor are first names that are only nearly the same (Francesco and Francesca, Maria and Martina),
    # or one cut short or an initial (S. may be Stephen or his sister Sarah), when nothing personal
    # agrees: company, domain, switchboard and city are shared by every colleague, and first names
    # one letter apart are common in one family or team; nor a last name cut short ('Romero' for 'Romero
    # Navarro', 'M.'), which a relative at the family firm may have. The person's own address (or one typo in
    # it) and mobile number are personal; a shared landline may be the switchboard.
    personal = (email_w >= 1.5) if "email" in evidence else np.zeros(n, dtype=bool)
    if "phone" in evidence:
        personal = personal | own_phone
    ask = (near_first | trunc | short_last) & ~personal
    score = np.where(ask, np.minimum(score, 0.9), score)
    # what the two addresses are, for the explanation (EMAIL_KINDS): only for the pairs kept
    kind = np.zeros(n, dtype=np.int8)
    k = np.flatnonzero((score >= floor) & both_e)
    kind[k] = 7
    ik, jk = i[k], j[k]
    kind[k[~same_e[k] & ~same_dom[k] & (free_a[k] != free_b[k]) & prep["namelocal"][ik] & prep["namelocal"][jk]]] = 8
    kind[k[work[k]]] = 6
    kind[k[same_local[k]]] = 4
    kind[k[typo[k]]] = 5
    raw = prep["email_raw"]
    kind[k[same_e[k]]] = [1 if raw[a].strip().lower() == raw[b].strip().lower() else 2
                          for a, b in zip(ik[same_e[k]], jk[same_e[k]])]
    kind[k[same_e[k] & role[k]]] = 3
    v["email_kind"] = kind
    return score, v


_OWN_PHONE = 1.5  # a shared mobile (one person's number) beyond SUPPORT_CAP
_THIN = 0.9  # lifts 'same name, same place, nothing else known' from 0.62 to 0.80: asked, never merged


_WORD_SEP = re.compile(r"[._-]")


def _typo_per_word(a: str, b: str) -> bool:
    """Do two mailbox names differing by two edits have at most one in each of their words?"""
    wa, wb = _WORD_SEP.split(a), _WORD_SEP.split(b)
    if len(wa) != len(wb) or len(wa) < 2:
        return True  # one word ('nicholaskelley'): two edits in a long name are typos
    return all(OSA.distance(x, y) <= 1 for x, y in zip(wa, wb))


def _names_explain(prep: dict, a: int, b: int) -> bool:
    """Do the two mailbox names differ only as the two persons' names do (francesco.b@ / francesca.b@,
    or by their initials: begonag@ / begonal@ for Begoña García López and Begoña López)?"""
    la, lb = prep["local"][a], prep["local"][b]
    diff = [k for k, (x, y) in enumerate(zip(la, lb)) if x != y] if len(la) == len(lb) else []
    for x, y in ((prep["first"][a], prep["first"][b]), (prep["last"][a], prep["last"][b])):
        x, y = x.replace(" ", ""), y.replace(" ", "")
        if x and y and x != y and x in la and la.replace(x, y, 1) == lb:
            return True
        if x and y and x[0] != y[0] and len(diff) == 1 and {la[diff[0]], lb[diff[0]]} == {x[0], y[0]}:
            return True
    return False


def score_lead_accounts(ra: pd.DataFrame, rb: pd.DataFrame, i: np.ndarray, j: np.ndarray,
                        evidence: frozenset[str] = frozenset(EVIDENCE), floor: float = 0.0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scores of (lead, account) pairs: does the lead work for this account?

    Only the company name and the domain count: a lead's phone is the person's line and its city
    where the person sits, neither contradicts the company. Either one agreeing is enough.
    Different names are compared only where 'similar' could lift the pair to ``floor``.
    """
    A = {c: ra[c].to_numpy(object)[i] for c in ("company", "cdomain")}
    B = {c: rb[c].to_numpy(object)[j] for c in ("company", "cdomain")}
    n = len(i)
    da, db = A["cdomain"], B["cdomain"]
    wd = np.where((da != "") & (da == db), 4.0, np.where((da != "") & (db != ""), -2.0, 0.0))
    ka, kb = A["company"], B["company"]
    both = (ka != "") & (kb != "")
    same = both & (ka == kb)
    k_sim = np.zeros(n)
    compare = both & ~same & (-1.0 + 2.0 + (wd if "domain" in evidence else 0.0) >= _log_odds(floor))
    if compare.any():
        k_sim[compare] = _sim_once(ka[compare], kb[compare])
    wc = np.where(same, 3.6, np.where(k_sim >= 0.92, 2.0, np.where(both, -3.0, 0.0)))
    total = -1.0 + wc + (wd if "domain" in evidence else 0.0)
    return _sigmoid(total), {"company": np.where(wc == 3.6, 4.0, wc), "domain": np.where(wd == 4.0, 3.0, wd)}


# What two email addresses are to each other (score_people's email_kind): said as it is, so that two
# mailboxes of one person never read as 'the same email'.
EMAIL_KINDS = {
    1: "email: same", 2: "email: same mailbox, written differently (dots or a +tag)",
    3: "email: same shared address (a team's, not a person's)", 4: "email: same mailbox name at another domain",
    5: "email: one typo apart at the same domain", 6: "email: other address at the same company",
    7: "email: different", 8: "email: two mailboxes in the person's name (private and work)",
}
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
        if name == "email" and "email_kind" in v:
            word = EMAIL_KINDS.get(int(v["email_kind"][k]))
        if name == "phone" and "mobile" in v and v["mobile"][k]:
            word = "phone: same personal number (a mobile, or no one else's)"
        if name == "name" and "trunc" in v and v["trunc"][k] and float(v[name][k]) in (2.0, 1.0):
            word = ("name: same last name" if float(v[name][k]) == 2.0 else "name: last name nearly the same") + \
                ", first name cut short or an initial"
        elif name == "name" and "short_last" in v and v["short_last"][k] and float(v[name][k]) in (2.0, 1.0):
            word = ("name: same first name" if float(v[name][k]) == 2.0 else "name: first name nearly the same") + \
                ", last name cut short (an initial, or one of two names)"
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


# Candidate pairs scored at once: score_people keeps a few dozen arrays as long as the pairs, ~240 bytes a pair
# (86,578 candidates at 10k sample leads, about ten times as many at 100k).
_SCORED_AT_ONCE = 200_000


def find_pairs(tables: Tables, settings: MatchSettings | None = None, *, floor: float | None = None,
               tables_to_match: Iterable[str] = ("leads", "contacts", "people", "accounts"),
               memory: KeyMemory | None = None) -> list[MatchPair]:
    """Every pair scoring at least ``floor`` (default: the review threshold), best first.

    Within leads, contacts and accounts; and across: a lead against contacts (the same person) and
    against accounts (the company the lead works for). ``memory`` (index.py) gives the match keys of the
    records it has seen: the pairs are the same with or without it.
    """
    s = settings or MatchSettings.from_tables(tables)
    floor = s.review if floor is None else floor
    wanted = [t for t in tables_to_match if t in tables]
    out: list[MatchPair] = []
    people = {t: person_records(tables, t, s.region, memory) for t in PEOPLE if t in wanted}
    if people:
        # Leads and contacts are keyed, blocked and scored as one frame (leads first): each record's
        # keys are computed once, for the pairs within its table and across.
        both = pd.concat(list(people.values()), ignore_index=True) if len(people) > 1 else next(iter(people.values()))
        keysets = _person_keys(both)
        parts_i, parts_j, lo, span = [], [], 0, {}
        for t, r in people.items():
            hi = lo + len(r)
            span[t] = (lo, hi)
            if len(r) >= 2:
                i, j = _pair_index([_slice(k, lo, hi) for k in keysets], len(r))
                parts_i += [i + lo]
                parts_j += [j + lo]
            lo = hi
        if "leads" in people and "contacts" in people and len(people["contacts"]):
            (l0, l1), (c0, c1) = span["leads"], span["contacts"]
            i, j = _pair_index(keysets, len(both), lambda i, j: (i >= l0) & (i < l1) & (j >= c0) & (j < c1))
            parts_i += [i]
            parts_j += [j]
        if parts_i:
            i, j = np.concatenate(parts_i), np.concatenate(parts_j)
            # two records without a person's name are organisations: matched as such below
            nameless = ((both["first"] == "") & (both["last"] == "")).to_numpy()
            keep = ~(nameless[i] & nameless[j])
            i, j = i[keep], j[keep]
            prepared = _prepare(both)
            for lo in range(0, len(i), _SCORED_AT_ONCE):  # each pair is scored on its own: in slices, same pairs
                ci, cj = i[lo:lo + _SCORED_AT_ONCE], j[lo:lo + _SCORED_AT_ONCE]
                scores, v = score_people(both, both, ci, cj, s.evidence, floor, prepared=prepared)
                out += _pairs(both, both, ci, cj, scores, v, floor, s.evidence)
        for t, r in people.items():
            rows = np.flatnonzero(((r["first"] == "") & (r["last"] == "") & (r["company"] != "")).to_numpy())
            if len(rows) >= 2:
                out += _org_pairs(org_lead_records(tables, t, rows, s.region, memory), s, floor)
    if "accounts" in wanted:
        acc = account_records(tables, s.region, memory)
        if len(acc) >= 2:
            out += _account_pairs(acc, s, floor)
        if "leads" in people and len(acc):
            out += _lead_account_pairs(people["leads"], acc, s, floor)
    out.sort(key=lambda p: (-p.score, p.id_a, p.id_b))
    return out


def _account_pairs(acc: pd.DataFrame, s: MatchSettings, floor: float) -> list[MatchPair]:
    return _org_pairs(acc, s, floor)


def _org_pairs(r: pd.DataFrame, s: MatchSettings, floor: float) -> list[MatchPair]:
    """Pairs of organisations (accounts, or leads without a person's name) scoring at least ``floor``."""
    idf = orgs.idf_of(r["company"].tolist())
    i, j = _pair_index(orgs.block_keys(r, idf), len(r))
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


def _lead_account_pairs(leads: pd.DataFrame, acc: pd.DataFrame, s: MatchSettings, floor: float) -> list[MatchPair]:
    cols = ["rid", "table", "company", "cdomain", "phone1", "city", "country"]
    both = pd.concat([leads[cols], acc[cols]], ignore_index=True)
    nl = len(leads)
    comp = both["company"].to_numpy(object)
    # many leads work for one account: a wide window so that each of them meets it
    keysets = [(comp, comp, 400), (both["cdomain"].to_numpy(object), comp, 400)]
    i, j = _pair_index(keysets, len(both), lambda i, j: (i < nl) & (j >= nl))
    scores, v = score_lead_accounts(both, both, i, j, s.evidence, floor)
    pairs = _pairs(both, both, i, j, scores, v, floor, s.evidence)
    # A lead belongs to one account: keep the best when several match.
    best: dict[str, MatchPair] = {}
    for p in pairs:
        if p.id_a not in best or p.score > best[p.id_a].score:
            best[p.id_a] = p
    return list(best.values())
