"""Sample companies: unique names, their country, city, industry, size, web domain and switchboard.

Accounts, the companies leads work at and company clients all come from here, so a lead at an
existing account has exactly that account's name, domain and switchboard number.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crm_sheets.sample import identities, pools

_SECOND_BY_INDUSTRY = {k: v for k, v in pools.COMPANY_SECOND.items()}


@dataclass
class Companies:
    base: np.ndarray  # name without legal suffix ("Northwind Analytics")
    suffix: np.ndarray  # legal suffix of the country ("Ltd"), kept apart for duplicate variants
    country: np.ndarray
    city: np.ndarray
    industry: np.ndarray
    size: np.ndarray  # company_size option key
    employees: np.ndarray
    domain: np.ndarray
    phones: identities.Phones  # the switchboard
    address: np.ndarray

    def __len__(self) -> int:
        return len(self.base)

    def name(self, with_suffix: np.ndarray | bool = True) -> np.ndarray:
        """Display names; ``with_suffix`` per row says whether the legal suffix is written."""
        flag = np.broadcast_to(np.asarray(with_suffix, dtype=bool), (len(self.base),))
        return np.array([f"{b} {s}" if w else b for b, s, w in zip(self.base.tolist(), self.suffix.tolist(), flag.tolist())],
                        dtype=object)

    def website(self) -> np.ndarray:
        return np.array([f"https://www.{d}" for d in self.domain.tolist()], dtype=object)


def _names(rng: np.random.Generator, n: int, industry: np.ndarray) -> np.ndarray:
    """n distinct company names whose second word fits the industry."""
    surnames = sorted({s for _, (_, last) in pools.NAMES.items() for s in last if " " not in s and "'" not in s})
    first_pool = np.array(list(pools.COMPANY_FIRST) + surnames, dtype=object)
    second = np.empty(n, dtype=object)
    for ind in sorted(set(industry.tolist())):
        idx = np.flatnonzero(industry == ind)
        second[idx] = identities.pick(rng, _SECOND_BY_INDUSTRY[ind], len(idx))
    out = np.empty(n, dtype=object)
    todo = np.arange(n)
    used: set[str] = set()
    for attempt in range(40):
        a = first_pool[rng.integers(0, len(first_pool), len(todo))]
        if attempt < 2:
            cand = [f"{x} {y}" for x, y in zip(a.tolist(), second[todo].tolist())]
        else:  # the two-word space is crowded: "Dubois & Martin Consulting"
            b = first_pool[rng.integers(0, len(first_pool), len(todo))]
            cand = [f"{x} & {z} {y}" for x, z, y in zip(a.tolist(), b.tolist(), second[todo].tolist())]
        retry = []
        for i, name in zip(todo.tolist(), cand):
            if name in used:
                retry.append(i)
            else:
                used.add(name)
                out[i] = name
        if not retry:
            break
        todo = np.array(retry, dtype=int)
    return out


def companies(rng: np.random.Generator, reg: identities.Registry, n: int, codes: np.ndarray | None = None,
              weights: dict[str, float] | None = None) -> Companies:
    codes = identities.countries(rng, n, weights) if codes is None else codes
    city = identities.cities(rng, codes)
    industry = identities.pick(rng, list(pools.INDUSTRY_WEIGHTS), n, list(pools.INDUSTRY_WEIGHTS.values()))
    size_i = rng.choice(len(pools.SIZES), size=n, p=pools.SIZE_WEIGHTS)
    size = np.array(pools.SIZES, dtype=object)[size_i]
    lo = np.array([pools.SIZE_EMPLOYEES[i][0] for i in size_i])
    hi = np.array([pools.SIZE_EMPLOYEES[i][1] for i in size_i])
    employees = (lo + (hi - lo) * rng.random(n) ** 2).astype(int)
    base = _names(rng, n, industry)
    suffix = identities.by_country(rng, codes, pools.LEGAL_SUFFIX)
    domain = np.empty(n, dtype=object)
    seen: set[str] = set()
    for i, (b, c) in enumerate(zip(base.tolist(), codes.tolist())):
        d = f"{identities.slug(b)}.{pools.TLD[c]}"
        k = 2
        while d in seen:  # "Müller Data" and "Muller Data" fold alike
            d = f"{identities.slug(b)}{k}.{pools.TLD[c]}"
            k += 1
        seen.add(d)
        domain[i] = d
    phones = identities.phones(reg, identities.landline_plans(codes, city), codes)
    street = identities.by_country(rng, codes, pools.STREETS)
    num = rng.integers(1, 200, n)
    address = np.array([f"{k} {s}, {t}" for k, s, t in zip(num.tolist(), street.tolist(), city.tolist())], dtype=object)
    return Companies(base, suffix, codes, city, industry, size, employees, domain, phones, address)
