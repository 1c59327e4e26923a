"""Scoring candidate pairs of people (and of a lead and an account), vectorised over the pairs: the weights of
email, name, phone, company, domain and city agreeing or not, as log-odds mapped to 0..1, and per-field
weights for the explanation. Costly comparisons (Jaro-Winkler, edits) run only where they can change a kept pair.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler

from crm_sheets.jobs.dedupe.blocking import codes_of
from crm_sheets.jobs.dedupe.keys import FREE_DOMAINS, ROLE_LOCALS, is_mobile
from crm_sheets.jobs.dedupe.matchpair import EVIDENCE, SUPPORT_CAP


def _sim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0:
        return np.empty(0)
    return process.cpdist(list(a), list(b), scorer=JaroWinkler.normalized_similarity, workers=-1)


def _sim_by_code(strings: np.ndarray, codes: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """_sim of strings[i] and strings[j], computed once per distinct pair of codes (see codes_of)."""
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


@lru_cache(maxsize=200_000)  # the runner's later rounds and the confirming pass ask again for every record
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


def forget_keys() -> None:
    """Let go of the match keys remembered per value (one entry per distinct email, phone, company, website and
    address, and per record's mailbox and name: at 100,000 sample leads ~100 MB, held by nothing else). A run's
    rounds carry the keys they need in their state (index.py), so once dedupe settled the caches only sit under the
    rest of the run's working sets. (Here, not in keys.py: that module's source is part of the keys' version.)"""
    from crm_sheets.jobs.dedupe.keys import address_key, company_key, email_key, phone_key, website_domain

    for remembered in (email_key, company_key, website_domain, phone_key, address_key, _name_local):
        remembered.cache_clear()


def prepare_people(r: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-record arrays the pair scoring indexes: codes, lengths, flags (computed once, not per pair)."""
    first, last = r["first"].to_numpy(object), r["last"].to_numpy(object)
    prep: dict[str, np.ndarray] = {"first": first, "last": last}
    prep["first_code"], prep["last_code"], prep["canon1_code"], prep["canon2_code"] = codes_of(first, last, r["canon1"].to_numpy(object), r["canon2"].to_numpy(object))
    prep["first_len"], prep["last_len"] = _lengths(first), _lengths(last)
    prep["first_initial"], prep["last_initial"] = codes_of(np.array([x[:1] for x in first], dtype=object), np.array([x[:1] for x in last], dtype=object))
    local, edomain = r["local"].to_numpy(object), r["edomain"].to_numpy(object)
    prep["local"] = local
    prep["email_code"], = codes_of(r["email"].to_numpy(object))
    prep["email_raw"] = r["email_raw"].to_numpy(object)
    prep["local_code"], prep["local_stem_code"] = codes_of(local, np.array([x.rstrip("0123456789") for x in local], dtype=object))
    prep["domain_code"], = codes_of(edomain)
    prep["role"] = _flags(local, lambda x: x in ROLE_LOCALS)
    prep["local_len"] = _lengths(local)
    prep["longlocal"] = prep["local_len"] >= 4
    prep["namelocal"] = np.fromiter((_name_local(lo, fi, ln) for lo, fi, ln in zip(local, first, last)),
                                 dtype=bool, count=len(local))
    prep["free"] = r["efree"].to_numpy(bool) if "efree" in r.columns else _flags(edomain, lambda x: x in FREE_DOMAINS)
    prep["phone1"], prep["phone2"] = r["phone1"].to_numpy(object), r["phone2"].to_numpy(object)
    prep["phone1_code"], prep["phone2_code"] = codes_of(prep["phone1"], prep["phone2"])
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
    prep["company_code"], = codes_of(prep["company"])
    prep["company_domain_code"], = codes_of(r["cdomain"].to_numpy(object))
    prep["city_code"], = codes_of(r["city"].to_numpy(object))
    # how many records have this first name, last name and city
    trio = ((prep["first_code"].astype(np.int64) + 1) * (int(prep["last_code"].max(initial=0)) + 2) + prep["last_code"] + 1) * (int(prep["city_code"].max(initial=0)) + 2) + prep["city_code"] + 1
    codes, _ = pd.factorize(trio)
    prep["name_city_count"] = np.bincount(codes)[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    prep["country_code"], = codes_of(r["country"].to_numpy(object))
    return prep


def score_people(ra: pd.DataFrame, rb: pd.DataFrame, i: np.ndarray, j: np.ndarray,
                 evidence: frozenset[str] = frozenset(EVIDENCE), floor: float = 0.0,
                 prepared: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scores (0..1) of the pairs (row i, row j) of people, and the per-field weights that explain them.

    ``ra`` and ``rb`` are one frame (cross-table pairs are scored on the two tables' records put
    together). Pairs that cannot reach ``floor`` even with the best name are not compared by name.
    ``prepared`` is ``prepare_people(ra)`` when the caller has it already.
    """
    prep = prepared if prepared is not None else prepare_people(ra)
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
