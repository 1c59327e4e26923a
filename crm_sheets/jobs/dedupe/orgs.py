"""Duplicate organisations: accounts, and leads that carry only a company, matched on name, address,
phone and website together.

An organisation's name is written many ways ('Young' / 'Chicago Public Schools Young, Ella Flagg'), so
names are compared word by word, rare words weighing more; the street address, the phone number
(a local number without its area code compared by its digits) and the website then decide. A chain's
branches share a name but not an address or phone; two organisations in one building share an
address but not a name: neither is merged.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
from rapidfuzz.distance import OSA, JaroWinkler

from crm_sheets.jobs.dedupe.keys import (DIRECTIONS, STREET_TYPES, address_key, company_domain, company_key, fold_city,
                                         name_key, phone_key, region_of, soundex)

# Per-field weights (log-odds); a pair needs two fields that agree, or one and a name, to be merged.
BASE = -3.5
W_NAME = {"same": 3.5, "similar": 2.5, "similar, own words": 2.0, "contained": 2.0, "partly": 0.5,
          "partly, own words": 0.5, "two outlets": 0.5, "different": -2.5}
# Names that may be two organisations at one place (each has words of its own) are asked, never merged.
ASK_NAMES = ("similar, own words", "two outlets")
# Words saying what kind of place a name is: a hotel's cafe and its restaurant share the rest of the name,
# the address and often the phone, and are two places.
OUTLETS = frozenset("cafe restaurant dining bar lounge grill grille bistro brasserie pub deli bakery tavern "
                    "steakhouse pizzeria trattoria buffet shop store boutique spa".split())
# An organisation has several numbers (switchboard, fax, a department) and sometimes moves or gives
# a mailing address: a different phone counts little against it, a different address more (a branch).
W_ADDRESS = {"same": 3.5, "near": 2.5, "other number": -1.5, "different": -1.5}
W_PHONE = {"same": 3.0, "same local": 2.5, "different": -0.5}
W_SITE = {"same": 3.0, "different": -2.0}
NO_ADDRESS = 1.0  # one name inside the other on one number, where no address can tell two sites apart
W_CITY = {"same": 0.3, "different": -1.0, "other country": -3.0}
WORDS = {
    "name": {"same": "name: same", "similar": "name: nearly the same", "contained": "name: one contains the other",
             "similar, own words": "name: nearly the same, each with words of its own",
             "partly": "name: a word in common", "partly, own words": "name: a word in common, each with words of its own",
             "two outlets": "name: two places of one house (a cafe and a restaurant...)",
             "different": "name: different"},
    "address": {"same": "address: same", "near": "address: same number, street written differently",
                "other number": "address: other street number", "different": "address: different"},
    "phone": {"same": "phone: same", "same local": "phone: same local number (one without area code)",
              "different": "phone: different"},
    "website": {"same": "website: same", "different": "website: different"},
    "city": {"same": "city: same", "different": "city: different", "other country": "country: different"},
}


def org_records(names: list[str], addresses: list[str], phones: list[str], sites: list[str], cities: list[str],
                countries: list[str], region: str) -> dict[str, list]:
    """The match keys of organisations, one list per key (the caller adds rid/table)."""
    regions = [region_of(c, region) for c in countries]
    raw_digits = ["".join(ch for ch in p.strip().removesuffix(".0") if ch.isdigit()) for p in phones]
    keys = [phone_key(p, r) if p.strip() else "" for p, r in zip(phones, regions)]
    addr = [address_key(a) if a.strip() else ("", "") for a in addresses]
    return {
        "company": [company_key(v) if v else "" for v in names],
        "address_no": [a[0] for a in addr],
        "street": [a[1] for a in addr],
        "phone1": keys,
        # a number typed without its area code ('522-8400') is compared by its last seven digits
        "phone_tail": [k[-7:] if k else "" for k in keys],
        "phone_short": [len(d) <= 8 for d in raw_digits],
        "cdomain": [company_domain("", s) if s else "" for s in sites],
        "city": [fold_city(c) for c in cities],
        "country": [name_key(c) for c in countries],
    }


def _tokens(name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w for w in name.split() if len(w) > 1 or w.isdigit()))


def _token_match(a: str, b: str) -> bool:
    """Two name words that are one: equal, one cut short ('deli' / 'delicatessen'), or one typo."""
    if a == b:
        return True
    if min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a)):
        return True
    return min(len(a), len(b)) >= 5 and OSA.distance(a, b) <= 1


def _outlet(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Has name ``a`` a word of its own (not in ``b``) that says what kind of place it is?"""
    return any(t in OUTLETS and not any(_token_match(t, u) for u in b) for t in a)


def without_place(tokens: tuple[str, ...], cities: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    """The name words without a city name written in them ('spago (los angeles)' -> 'spago'), unless
    the name is nothing else."""
    for city in cities:
        n = len(city)
        for k in range(len(tokens) - n + 1):
            if n and tokens[k:k + n] == city and len(tokens) > n:
                tokens = tokens[:k] + tokens[k + n:]
                break
    return tokens


def name_kind(a: tuple[str, ...], b: tuple[str, ...], idf: dict[str, float], key_a: str, key_b: str,
              rare: float = 2.5) -> str:
    """same / similar / contained / partly / different, from the words the two names share: sharing
    only common words (weight below ``rare``: 'chicago', 'school') makes no more than 'different'."""
    if key_a == key_b:
        return "same"
    if not a or not b:
        return "different"
    wa = {t: idf.get(t, 1.0) for t in a}
    wb = {t: idf.get(t, 1.0) for t in b}
    shared_a = sum(w for t, w in wa.items() if any(_token_match(t, u) for u in b))
    shared_b = sum(w for t, w in wb.items() if any(_token_match(t, u) for u in a))
    ta, tb = sum(wa.values()), sum(wb.values())
    both = (shared_a + shared_b) / (ta + tb)  # weighted share of words in common, over both names
    inner = max(shared_a / ta, shared_b / tb)  # the shorter name's words found in the longer one
    # each name has words of its own ('cafe ...' / 'dining room ...'): maybe two at one place
    own = min((ta - shared_a) / ta, (tb - shared_b) / tb) >= 0.12
    if own and _outlet(a, b) and _outlet(b, a):
        return "two outlets"  # 'ritz-carlton cafe' / 'ritz-carlton restaurant': two places of one house
    if not own and (both >= 0.9 or JaroWinkler.normalized_similarity(key_a, key_b) >= 0.95):
        return "same"
    if inner >= 0.99 and max(shared_a, shared_b) >= rare:  # every (rare enough) word of one is in the other
        return "contained"
    if both >= 0.7:
        return "similar, own words" if own else "similar"
    if both >= 0.25 and max(shared_a, shared_b) >= rare:
        return "partly, own words" if own else "partly"
    return "different"


def _street_core(street: str) -> str:
    return " ".join(w for w in street.split() if w not in STREET_TYPES)


def streets_near(ca: str, cb: str, same_number: bool) -> bool:
    """Are two street cores (different ones) one street written otherwise? A typo, one inside the other
    ('w ogden' / 'ogden'), the words of one among the other's ('s king' / 's martin luther king'); at
    the same house number also one written in one word ('northpoint' / 'n point')."""
    if not ca or not cb:
        return False
    if ca in cb or cb in ca or JaroWinkler.normalized_similarity(ca, cb) >= 0.9:
        return True
    wa, wb = set(ca.split()), set(cb.split())
    if (wa <= wb or wb <= wa) and any(len(w) > 2 for w in wa & wb):
        return True
    if same_number:
        ja = "".join(w for w in ca.split() if w not in DIRECTIONS)
        jb = "".join(w for w in cb.split() if w not in DIRECTIONS)
        return len(min(ja, jb, key=len)) >= 4 and (ja in jb or jb in ja)
    return False


def address_kind(no_a: str, st_a: str, no_b: str, st_b: str) -> str:
    """same / near / other number / different; '' when either address is missing."""
    if not st_a or not st_b:
        return ""
    ca, cb = _street_core(st_a), _street_core(st_b)
    same_street = bool(st_a == st_b or (ca and ca == cb))
    if not (same_street or streets_near(ca, cb, bool(no_a) and no_a == no_b)):
        return "different"
    if no_a and no_b and no_a != no_b:
        return "other number"  # a neighbouring building: often a sibling site, not the same one
    return "same" if same_street and no_a == no_b else "near"


def idf_of(companies: list[str]) -> dict[str, float]:
    """Rarity of each name word in this list: 'chicago' or 'school' say little, 'robertson' a lot.
    The weight of a word no other name has is under the key '' (what 'rare' is measured against)."""
    df = Counter(t for c in companies for t in _tokens(c))
    n = max(len(companies), 1)
    out = {t: math.log(1 + n / d) for t, d in df.items()}
    out[""] = math.log(1 + n)
    return out


def block_keys(r: pd.DataFrame, idf: dict[str, float]) -> list[tuple]:
    """(key arrays, secondary sort, window) of each blocking pass over organisations."""
    comp = r["company"].to_numpy(object)
    street = r["street"].to_numpy(object)
    number = r["address_no"].to_numpy(object)
    address = np.array([f"{n}|{s.split(' ')[0] if s else ''}" if n and s else "" for n, s in zip(number, street)],
                       dtype=object)
    # a word half the list's names share says little: only rarer ones make a block
    floor = 0.5 * idf.get("", 7.0)
    rare = [sorted((t for t in _tokens(c) if idf.get(t, 0.0) >= floor), key=lambda t: -idf.get(t, 0.0))[:2]
            for c in comp]
    rare1 = np.array([t[0] if t else "" for t in rare], dtype=object)
    rare2 = np.array([t[1] if len(t) > 1 else "" for t in rare], dtype=object)
    first = np.array([soundex(c.split(" ")[0]) + c[:2] if c else "" for c in comp], dtype=object)
    return [
        (comp, address, 40),
        (r["cdomain"].to_numpy(object), comp, 40),
        (r["phone_tail"].to_numpy(object), comp, 40),
        (address, comp, 40),
        ([rare1, rare2], comp, 5),  # the two rarest words of the name, name neighbours first
        (first, comp, 5),
    ]


def _codes(*columns: np.ndarray) -> list[np.ndarray]:
    allv = np.concatenate(columns)
    codes = pd.factorize(allv)[0]
    codes[allv == ""] = -1
    n = len(columns[0])
    return [codes[k * n:(k + 1) * n] for k in range(len(columns))]


def score_orgs(r: pd.DataFrame, i: np.ndarray, j: np.ndarray, idf: dict[str, float], evidence: frozenset[str],
               floor: float = 0.0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scores (0..1) of pairs of organisations and, per field, what the two records have ('same', ... or '').

    Phone, website and place are compared as codes for all pairs; street names and company names
    (the slow part) only where they could matter: the pairs that could reach ``floor`` with them.
    """
    n = len(i)
    col = {c: r[c].to_numpy(object) for c in ("company", "address_no", "street", "phone_tail")}
    short = r["phone_short"].to_numpy(bool)
    P, T = _codes(r["phone1"].to_numpy(object), col["phone_tail"])
    D, = _codes(r["cdomain"].to_numpy(object))
    CI, = _codes(r["city"].to_numpy(object))
    CT, = _codes(r["country"].to_numpy(object))
    NO, = _codes(col["address_no"])
    ST, = _codes(col["street"])
    CO, = _codes(col["company"])

    def kind(conditions: list[tuple[np.ndarray, str]]) -> np.ndarray:
        out = np.full(n, "", dtype=object)
        for mask, word in reversed(conditions):  # the first condition that holds wins
            out[mask] = word
        return out

    pa, pb = P[i], P[j]
    both_p = (pa >= 0) & (pb >= 0)
    local = both_p & (pa != pb) & (short[i] | short[j]) & (T[i] == T[j])
    v = {"phone": kind([(both_p & (pa == pb), "same"), (local, "same local"), (both_p, "different")])}
    da, db = D[i], D[j]
    v["website"] = kind([((da >= 0) & (da == db), "same"), ((da >= 0) & (db >= 0), "different")])
    ca, cb = CI[i], CI[j]
    other_country = (CT[i] >= 0) & (CT[j] >= 0) & (CT[i] != CT[j])
    city_diff = (ca >= 0) & (cb >= 0) & (ca != cb)
    if city_diff.any():  # 'new york' and 'new york city' are one
        idx = np.flatnonzero(city_diff)
        cities = r["city"].to_numpy(object)
        city_diff[idx] = [not (x.startswith(y) or y.startswith(x)) for x, y in zip(cities[i[idx]], cities[j[idx]])]
    v["city"] = kind([(other_country, "other country"), (city_diff, "different"), ((ca >= 0) & (cb >= 0), "same")])
    # addresses (as address_kind, for all pairs at once): streets compared by their core ('w ogden')
    sa, sb, na, nb = ST[i], ST[j], NO[i], NO[j]
    core = np.array([_street_core(x) for x in col["street"]], dtype=object)
    CR, = _codes(core)
    both_s = (sa >= 0) & (sb >= 0)
    same_street = both_s & ((sa == sb) | ((CR[i] >= 0) & (CR[i] == CR[j])))
    near_street = same_street.copy()
    maybe = both_s & ~same_street & (CR[i] >= 0) & (CR[j] >= 0)
    if maybe.any():
        idx = np.flatnonzero(maybe)
        same_no = (na[idx] >= 0) & (na[idx] == nb[idx])
        near_street[idx] = [streets_near(x, y, n) for x, y, n in zip(core[i[idx]], core[j[idx]], same_no)]
    other_no = near_street & (na >= 0) & (nb >= 0) & (na != nb)
    v["address"] = kind([(both_s & ~near_street, "different"), (other_no, "other number"),
                         (same_street & (na == nb), "same"), (near_street, "near")])

    weights = {"address": W_ADDRESS, "phone": W_PHONE, "website": W_SITE, "city": W_CITY}
    counted = {"address": "city", "phone": "phone", "website": "domain", "city": "city"}
    total = np.full(n, BASE)
    for field, table in weights.items():
        if counted[field] in evidence:  # as Settings dedupe_match_on says; the name always counts
            total += _weigh(v[field], table)
    # An address and a phone that agree make one place whatever the name says; a different city then
    # is the same place written otherwise (a district), not a contradiction.
    place = np.isin(v["address"], ("same", "near")) & np.isin(v["phone"], ("same", "same local"))
    if "city" in evidence:
        total += np.where(place & (v["city"] == "different"), -W_CITY["different"], 0.0)
    ka, kb = CO[i], CO[j]
    v["name"] = kind([((ka >= 0) & (ka == kb), "same")])
    todo = np.flatnonzero((ka >= 0) & (kb >= 0) & (ka != kb) & (total + W_NAME["same"] >= _logit(floor)))
    if len(todo):
        comp = col["company"]
        rare = 0.35 * idf.get("", 7.0)  # a third of the weight of a word no other name has (2.8 in 3,000)
        tokens = {c: _tokens(c) for c in set(comp[i[todo]]) | set(comp[j[todo]])}
        city = r["city"].to_numpy(object)
        city_words = {c: tuple(c.split()) for c in set(city[i[todo]]) | set(city[j[todo]])}
        for k in todo:
            x, y = comp[i[k]], comp[j[k]]
            tx, ty = tokens[x], tokens[y]
            places = tuple(city_words[c] for c in {city[i[k]], city[j[k]]} if c)
            if places:  # a city written in a name is where it is, not which one it is
                tx, ty = without_place(tx, places), without_place(ty, places)
                if (tx, ty) != (tokens[x], tokens[y]):
                    x, y = " ".join(tx), " ".join(ty)
            v["name"][k] = name_kind(tx, ty, idf, x, y, rare)
    v["name"][(ka >= 0) & (kb >= 0) & (v["name"] == "")] = "different"
    total += _weigh(v["name"], W_NAME)
    # Without an address (a list of companies pasted into Leads) the name and the number are all there
    # is: one name inside the other on one number is two strong fields agreeing.
    if "phone" in evidence:
        total += np.where((v["address"] == "") & (v["name"] == "contained") & (v["phone"] == "same"), NO_ADDRESS, 0.0)
    # A number no third record gives is one place's: with the name agreeing, another city is the same
    # place named by its district ('w. hollywood' / 'los angeles'); a chain's central number is given by
    # its many branches.
    if "city" in evidence:
        given = np.bincount(P[P >= 0]) if (P >= 0).any() else np.zeros(1, dtype=np.int64)
        own_number = both_p & (pa == pb) & (given[np.maximum(pa, 0)] <= 2)
        district = own_number & (v["city"] == "different") & ~place & np.isin(v["name"], ("same", "contained", "similar"))
        total += np.where(district, -W_CITY["different"], 0.0)
    score = 1.0 / (1.0 + np.exp(-total))
    return np.where(np.isin(v["name"], ASK_NAMES), np.minimum(score, 0.9), score), v


def _weigh(kinds: np.ndarray, table: dict[str, float]) -> np.ndarray:
    out = np.zeros(len(kinds))
    for word, w in table.items():
        out[kinds == word] = w
    return out


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p))) - 1e-9 if 0 < p < 1 else (-np.inf if p <= 0 else np.inf)


def reasons(v: dict[str, np.ndarray], k: int) -> tuple[str, ...]:
    out = []
    for field in ("name", "address", "phone", "website", "city"):
        kind = v[field][k]
        if kind:
            out.append(WORDS[field][kind])
    return tuple(out)
