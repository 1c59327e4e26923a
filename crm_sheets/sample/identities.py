"""Vectorised building blocks for sample people and companies: names, cities, emails, phone numbers.

Every number and address handed out goes through a `Registry`, so two different people never share
an email address or a mobile number by accident (the duplicates the truth records are the only ones).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from crm_sheets.sample import pools

NANP = {"US", "CA"}
# Exchanges (the 3 digits after a North American area code) that phonenumbers accepts.
_EXCHANGES = np.array([e for e in range(200, 1000) if e % 100 != 11 and e != 555])


def slug(text: str) -> str:
    """ASCII letters and digits only: for email local parts and domains."""
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "", s)


_LEGAL_FORMS = frozenset({"inc", "llc", "ltd", "sas", "sarl", "gmbh", "ag", "bv", "sa", "spa", "co", "corp", "plc", "dac",
                          "nv", "srl", "sl"})


def mailbox(email: str) -> str:
    """The mailbox an address delivers to: lower case; Gmail ignores dots and +tags in the local part."""
    local, _, domain = email.lower().partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        return f"{local.partition('+')[0].replace('.', '')}@gmail.com"
    return f"{local}@{domain}"


def person_key(first, last, company) -> tuple[str, str, str]:
    """Who a person is to a reader: folded first and last name, and the company without case, punctuation
    and legal form ("Doyle Capital B.V." is "Doyle Capital")."""
    co = ""
    if isinstance(company, str):
        folded = unicodedata.normalize("NFKD", company.replace(".", "")).encode("ascii", "ignore").decode("ascii")
        co = " ".join(w for w in re.sub(r"[^a-z0-9]+", " ", folded.lower()).split() if w not in _LEGAL_FORMS)
    return slug(first or ""), slug(last or ""), co


def pick(rng: np.random.Generator, values, n: int, p=None) -> np.ndarray:
    """n values drawn from ``values`` (an object array, so strings keep their Python type)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    if p is not None:
        p = np.asarray(p, dtype=float)
        p = p / p.sum()
    return arr[rng.choice(len(arr), size=n, p=p)] if n else arr[:0]


def countries(rng: np.random.Generator, n: int, weights: dict[str, float] | None = None) -> np.ndarray:
    weights = weights or pools.COUNTRY_WEIGHTS
    return pick(rng, list(weights), n, list(weights.values()))


def by_country(rng: np.random.Generator, codes: np.ndarray, table: dict[str, list]) -> np.ndarray:
    """One value per row from ``table[country]``."""
    out = np.empty(len(codes), dtype=object)
    for c in sorted(set(codes.tolist())):
        idx = np.flatnonzero(codes == c)
        out[idx] = pick(rng, table[c], len(idx))
    return out


def names(rng: np.random.Generator, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first = by_country(rng, codes, {c: v[0] for c, v in pools.NAMES.items()})
    last = by_country(rng, codes, {c: v[1] for c, v in pools.NAMES.items()})
    return first, last


def country_names(codes: np.ndarray) -> np.ndarray:
    """English country names ('France'), as people type them in a location cell."""
    from crm_sheets.model.normalize import country_name

    lookup = {c: country_name(c) for c in set(codes.tolist())}
    return np.array([lookup[c] for c in codes.tolist()], dtype=object)


def cities(rng: np.random.Generator, codes: np.ndarray) -> np.ndarray:
    return by_country(rng, codes, {c: list(v) for c, v in pools.CITIES.items()})


# ---------------------------------------------------------------------------------------------
# Phone numbers


@dataclass(frozen=True)
class Plan:
    """A block of valid numbers: national significant numbers starting with ``prefix``."""

    country: str
    prefix: str
    length: int
    groups: tuple[int, ...]


PLANS: list[Plan] = []
_LANDLINE: dict[tuple[str, str], int] = {}  # (country, city) -> plan index
_MOBILE: dict[str, list[int]] = {}
for _c, _cities in pools.CITIES.items():
    for _city, (_p, _l, _g) in _cities.items():
        _LANDLINE[(_c, _city)] = len(PLANS)
        PLANS.append(Plan(_c, _p, _l, _g))
for _c, _plans in pools.MOBILES.items():
    for _p, _l, _g in _plans:
        _MOBILE.setdefault(_c, []).append(len(PLANS))
        PLANS.append(Plan(_c, _p, _l, _g))
for _c in NANP:  # North American mobiles share the landline plans of their city
    _MOBILE[_c] = [_LANDLINE[(_c, city)] for city in pools.CITIES[_c]]

# How people write a number. NATIONAL styles are only clean in the workbook's default country
# (phonenumbers cannot place "06 12 34 56 78" without it).
E164, INTL, INTL00, NATIONAL, NATIONAL_DOTS, NATIONAL_DASHES, NANP_PARENS = range(7)
INTERNATIONAL_STYLES = (E164, INTL, INTL00)
NATIONAL_STYLES = (NATIONAL, NATIONAL_DOTS, NATIONAL_DASHES, NANP_PARENS)


def national_ok(country: str, default_region: str) -> bool:
    return country == default_region or (country in NANP and default_region in NANP)


def format_number(plan_index: int, nsn: str, style: int) -> str:
    plan = PLANS[plan_index]
    cc, trunk = pools.DIALING[plan.country]
    parts, pos = [], 0
    for g in plan.groups:
        parts.append(nsn[pos:pos + g])
        pos += g
    if plan.country in NANP:
        a, b, c = parts
        return {E164: f"+1{nsn}", INTL: f"+1 {a}-{b}-{c}", INTL00: f"+1 ({a}) {b}-{c}", NATIONAL: f"{a} {b} {c}",
                NATIONAL_DOTS: f"{a}.{b}.{c}", NATIONAL_DASHES: f"{a}-{b}-{c}", NANP_PARENS: f"({a}) {b}-{c}"}[style]
    if style == E164:
        return f"+{cc}{nsn}"
    if style == INTL:
        return f"+{cc} " + " ".join(parts)
    if style == INTL00:
        return f"00{cc} " + " ".join(parts)
    sep = {NATIONAL: " ", NATIONAL_DOTS: ".", NATIONAL_DASHES: "-", NANP_PARENS: " "}[style]
    return trunk + sep.join(parts)


class Registry:
    """Hands out emails and phone numbers that nobody else in the sample has."""

    def __init__(self, rng: np.random.Generator, default_region: str):
        self.rng = rng
        self.default_region = default_region
        self.emails: set[str] = set()  # addresses as written, and as first drawn before a mailbox clash
        self.mailboxes: set[str] = set()  # what they deliver to (see `mailbox`)
        self.numbers: set[str] = set()  # plan index + ':' + nsn

    def _digits(self, plan: Plan, n: int) -> list[str]:
        rest = plan.length - len(plan.prefix)
        if plan.country in NANP:  # prefix is the area code: exchange then 4 digits
            ex = _EXCHANGES[self.rng.integers(0, len(_EXCHANGES), n)]
            line = self.rng.integers(0, 10_000, n)
            return [f"{plan.prefix}{e}{x:04d}" for e, x in zip(ex.tolist(), line.tolist())]
        vals = self.rng.integers(0, 10**rest, n)
        return [f"{plan.prefix}{v:0{rest}d}" for v in vals.tolist()]

    def numbers_for(self, plan_idx: np.ndarray) -> np.ndarray:
        """A fresh national significant number for each plan index."""
        out = np.empty(len(plan_idx), dtype=object)
        todo = np.arange(len(plan_idx))
        while len(todo):
            retry = []
            for p in sorted(set(plan_idx[todo].tolist())):
                rows = todo[plan_idx[todo] == p]
                for row, nsn in zip(rows.tolist(), self._digits(PLANS[p], len(rows))):
                    key = f"{p}:{nsn}"
                    if key in self.numbers:
                        retry.append(row)
                    else:
                        self.numbers.add(key)
                        out[row] = nsn
            todo = np.array(retry, dtype=int)
        return out

    def styles(self, codes: np.ndarray, national_share: float = 0.7) -> np.ndarray:
        """A writing style per number: national when that is clean, else international."""
        n = len(codes)
        intl = np.array(INTERNATIONAL_STYLES)[self.rng.choice(3, size=n, p=[0.25, 0.65, 0.10])]
        nat = np.array(NATIONAL_STYLES)[self.rng.choice(4, size=n, p=[0.45, 0.15, 0.15, 0.25])]
        ok = np.array([national_ok(c, self.default_region) for c in codes.tolist()], dtype=bool)
        use_nat = ok & (self.rng.random(n) < national_share)
        return np.where(use_nat, nat, intl)

    def unique_emails(self, local: np.ndarray, domain: np.ndarray, drawn: tuple[np.ndarray, np.ndarray] | None = None
                      ) -> np.ndarray:
        """local@domain, unique by mailbox (`mailbox`: Gmail's dots and +tags do not make another one).

        An address taken as written gets random digits ("ana.diaz47@"), as it always has. ``drawn`` is the
        (local, domain) the person had before the name and company checks changed them: the random digits
        are drawn as for those, so that a changed person does not change everyone after them. An address
        whose mailbox is taken but not its text gets the digits 2, 3... (no random number drawn).
        """
        drawn_local, drawn_domain = drawn if drawn is not None else (local, domain)
        out = np.empty(len(local), dtype=object)
        for i, (lp, dom, dlp, ddom) in enumerate(zip(local.tolist(), domain.tolist(), drawn_local.tolist(),
                                                     drawn_domain.tolist())):
            email = f"{dlp}@{ddom}"
            while email in self.emails:
                email = f"{dlp}{int(self.rng.integers(2, 1000))}@{ddom}"
            self.emails.add(email)
            if (lp, dom) != (dlp, ddom):
                email = f"{lp}{email.partition('@')[0][len(dlp):]}@{dom}"
            written, k = email.partition("@"), 2
            while mailbox(email) in self.mailboxes:
                email = f"{written[0]}{k}@{written[2]}"
                k += 1
            self.mailboxes.add(mailbox(email))
            out[i] = email
        return out


def landline_plans(codes: np.ndarray, city: np.ndarray) -> np.ndarray:
    return np.array([_LANDLINE[(c, t)] for c, t in zip(codes.tolist(), city.tolist())], dtype=int)


def mobile_plans(rng: np.random.Generator, codes: np.ndarray, city: np.ndarray) -> np.ndarray:
    out = np.empty(len(codes), dtype=int)
    u = rng.random(len(codes))
    for c in sorted(set(codes.tolist())):
        idx = np.flatnonzero(codes == c)
        if c in NANP:
            out[idx] = landline_plans(codes[idx], city[idx])
        else:
            plans = np.array(_MOBILE[c])
            out[idx] = plans[(u[idx] * len(plans)).astype(int)]
    return out


@dataclass
class Phones:
    """Numbers as typed (``text``) and what is needed to type them again another way."""

    plan: np.ndarray
    nsn: np.ndarray
    style: np.ndarray
    text: np.ndarray

    def e164(self, i: int) -> str:
        return f"+{pools.DIALING[PLANS[self.plan[i]].country][0]}{self.nsn[i]}"


def phones(reg: Registry, plan: np.ndarray, codes: np.ndarray) -> Phones:
    nsn = reg.numbers_for(plan)
    style = reg.styles(codes)
    text = np.array([format_number(p, s, st) for p, s, st in zip(plan.tolist(), nsn.tolist(), style.tolist())], dtype=object)
    return Phones(plan, nsn, style, text)


# ---------------------------------------------------------------------------------------------
# Emails


_SLUGS: dict[str, str] = {}


def slugs(values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values.tolist()):
        s = _SLUGS.get(v)
        if s is None:
            s = _SLUGS[v] = slug(v)
        out[i] = s
    return out


def email_locals(rng: np.random.Generator, first: np.ndarray, last: np.ndarray, personal: np.ndarray,
                 drawn_last: np.ndarray | None = None):
    """first.last, flast, first_last... as people's addresses look; personal ones vary more.

    With ``drawn_last`` (last names before a change), returns (locals, locals with those last names).
    """
    pat = rng.choice(5, size=len(first), p=[0.55, 0.2, 0.1, 0.1, 0.05])
    num = rng.integers(1, 99, len(first))
    out = _locals(first, last, personal, pat, num)
    return out if drawn_last is None else (out, _locals(first, drawn_last, personal, pat, num))


def _locals(first, last, personal, pat, num) -> np.ndarray:
    f, l = slugs(first), slugs(last)
    out = np.empty(len(f), dtype=object)
    for i in range(len(f)):
        a, b, p = f[i], l[i], pat[i]
        if p == 0:
            s = f"{a}.{b}"
        elif p == 1:
            s = f"{a[:1]}{b}"
        elif p == 2:
            s = f"{a}_{b}"
        elif p == 3:
            s = f"{a}{b}"
        else:
            s = f"{a}.{b[:1]}"
        if personal[i] and p != 0 and num[i] < 60:
            s = f"{s}{num[i]}"
        out[i] = s
    return out


def personal_domains(rng: np.random.Generator, codes: np.ndarray) -> np.ndarray:
    return by_country(rng, codes, pools.PERSONAL_DOMAINS)
