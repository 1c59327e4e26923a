"""Rows of people (leads, enquiries, personal contacts) with their planted duplicates and namesakes.

`person_rows` makes clean people; `compose` adds varied copies of some of them (same table), copies
of people from another table (a lead who is already a contact), and pairs of namesakes, marking each
row with hidden columns (_cluster, _xref, _namesake, _verr) that the template generator turns into the
truth once rows are sorted and have their IDs.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from crm_sheets.sample import duplicates, identities, pools
from crm_sheets.sample.companies import Companies
from crm_sheets.sample.duplicates import Rows
from crm_sheets.sample.frames import DAY, Clock
from crm_sheets.sample.truth import Pair, cluster_pairs, pair


def objects(values: list) -> np.ndarray:
    """A 1-d object array of ``values`` (np.array would make a 2-d array of equal-length lists)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


SATURATED = 1000  # clashes left after a redraw that mean the name space is full, not unlucky


def unique_names(rng, codes, first, last, company, keep: np.ndarray, taken: set) -> tuple[np.ndarray, list[int]]:
    """Make first + last name + company unique (also against ``taken``).

    Returns the last names before the folded check (for `Registry.unique_emails`) and the kept rows
    that clash.

    First names are redrawn while the names as written clash; then names that clash once folded, at the
    same company without its legal form ("Doyle Capital" / "Doyle Capital B.V."), get the next last name
    of their country's list, with no random number drawn (the other records stay as they were). Kept
    names (namesakes) are not changed: the caller moves those rows to another company.
    """
    _redraw_first_names(rng, codes, first, last, company, keep, taken)
    drawn_last = last.copy()
    clashing = []
    for i in range(len(first)):
        key = ("person", *identities.person_key(first[i], last[i], company[i]))
        if not key[3]:
            continue  # no company: namesakes without one are different people, as before
        if key in taken and keep[i]:
            clashing.append(i)
            continue
        if key in taken:
            pool = pools.NAMES[codes[i]][1]
            start = pool.index(last[i]) if last[i] in pool else -1
            for j in range(1, len(pool) + 1):
                cand = ("person", *identities.person_key(first[i], pool[(start + j) % len(pool)], company[i]))
                if cand not in taken:
                    last[i], key = pool[(start + j) % len(pool)], cand
                    break
        taken.add(key)
    return drawn_last, clashing


def _redraw_first_names(rng, codes, first, last, company, keep: np.ndarray, taken: set) -> None:
    """Redraw first names until no two people share first + last name + company as written."""
    todo = np.arange(len(first))
    for _ in range(30):
        clash = []
        for i in todo.tolist():
            key = f"{first[i]}|{last[i]}|{company[i]}"
            if key in taken and not keep[i]:
                clash.append(i)
            else:
                taken.add(key)
        if not clash:
            return
        if len(clash) > SATURATED and 2 * len(clash) > len(todo):
            return  # a country's names are used up (people without a company): redrawing cannot help
        todo = np.array(clash, dtype=int)
        first[todo] = identities.names(rng, codes[todo])[0]


def person_rows(
    rng: np.random.Generator,
    reg: identities.Registry,
    clock: Clock,
    k: int,
    comp: Companies | None,
    company_share: float = 0.85,
    business_email: float = 0.7,
    switchboard_share: float = 0.22,
    names: tuple[np.ndarray, np.ndarray] | None = None,
    keep_names: np.ndarray | None = None,
    taken: set | None = None,
    days: tuple[float, float] = (0, 548),
    weights: dict[str, float] | None = None,
) -> Rows:
    """k clean people, some working at a company of ``comp``."""
    has_co = (rng.random(k) < company_share) if comp is not None and len(comp) else np.zeros(k, dtype=bool)
    co = rng.integers(0, len(comp), k) if comp is not None and len(comp) else np.zeros(k, dtype=int)
    codes = identities.countries(rng, k, weights)
    if comp is not None and len(comp):
        same = has_co & (rng.random(k) < 0.85)
        codes = np.where(same, comp.country[co], codes)
    city = identities.cities(rng, codes)
    if comp is not None and len(comp):
        city = np.where(same, comp.city[co], city)
    first, last = identities.names(rng, codes)
    keep = np.zeros(k, dtype=bool) if keep_names is None else keep_names
    if names is not None:
        first = np.where(keep, names[0], first)
        last = np.where(keep, names[1], last)
    with_suffix = rng.random(k) < 0.5
    company = np.full(k, None, dtype=object)
    base = np.full(k, None, dtype=object)
    suffix = np.full(k, None, dtype=object)
    if comp is not None and len(comp):
        names_co = np.where(with_suffix, comp.name(True)[co], comp.base[co])
        company = np.where(has_co, names_co, None)
        base = np.where(has_co, comp.base[co], None)
        suffix = np.where(has_co, comp.suffix[co], None)
    taken = taken if taken is not None else set()
    drawn_last, clashing = unique_names(rng, codes, first, last, company, keep, taken)
    drawn_co = co.copy()
    for i in clashing:
        # A kept name (a namesake) already at this company: the person works at the next free company.
        for j in range(1, len(comp)):
            c = (co[i] + j) % len(comp)
            name = f"{comp.base[c]} {comp.suffix[c]}" if with_suffix[i] else comp.base[c]
            key = ("person", *identities.person_key(first[i], last[i], name))
            if key not in taken:
                co[i], company[i], base[i], suffix[i] = c, name, comp.base[c], comp.suffix[c]
                taken.add(key)
                break

    # Emails: at the company's domain, at a provider, or none.
    r = rng.random(k)
    business = has_co & (r < business_email)
    personal = ~business & (r < 0.95)
    domain = drawn_domain = identities.personal_domains(rng, codes)
    if comp is not None and len(comp):
        domain, drawn_domain = np.where(business, comp.domain[co], domain), np.where(business, comp.domain[drawn_co], domain)
    local, drawn_local = identities.email_locals(rng, first, last, personal, drawn_last)
    email = np.full(k, None, dtype=object)
    has_email = business | personal
    email[has_email] = reg.unique_emails(local[has_email], domain[has_email],
                                         (drawn_local[has_email], drawn_domain[has_email]))

    # Phones: a mobile, the company switchboard, or none.
    r = rng.random(k)
    board = has_co & (r < switchboard_share)
    mobile = ~board & (r < 0.85)
    plan = np.full(k, -1, dtype=int)
    nsn = np.full(k, None, dtype=object)
    style = np.full(k, -1, dtype=int)
    phone = np.full(k, None, dtype=object)
    if mobile.any():
        m = np.flatnonzero(mobile)
        ph = identities.phones(reg, identities.mobile_plans(rng, codes[m], city[m]), codes[m])
        plan[m], nsn[m], style[m], phone[m] = ph.plan, ph.nsn, ph.style, ph.text
    if board.any():
        b = np.flatnonzero(board)
        sb = comp.phones
        plan[b], nsn[b], style[b], phone[b] = sb.plan[co[b]], sb.nsn[co[b]], sb.style[co[b]], sb.text[co[b]]

    created = clock.days_ago(k, *days)
    return {
        "first_name": first, "last_name": last, "email": email, "phone": phone, "company": company,
        "country": identities.country_names(codes), "city": city, "created": created,
        "_code": codes, "_plan": plan, "_nsn": nsn, "_style": style, "_company_base": base, "_company_suffix": suffix,
        "_company_idx": np.where(has_co, co, -1),
    }


def compose(
    rng: np.random.Generator,
    clock: Clock,
    n_total: int,
    make: Callable[[int, tuple | None, np.ndarray | None], Rows],
    default_region: str,
    cross: tuple[Rows, np.ndarray] | None = None,
    dup_share: float = 0.06,
    cross_share: float = 0.02,
    namesake_share: float = 0.01,
) -> Rows:
    """``n_total`` rows: clean people plus planted copies, cross-table copies and namesakes.

    ``make(k, names, keep)`` builds k clean rows (names forced where ``keep``). ``cross`` is (rows of
    another table already in lead shape, their record IDs). Hidden columns: _cluster (duplicate cluster
    number or -1), _xref (the other table's record this row copies), _namesake (pair number or -1),
    _verr (errors planted by the variations).
    """
    n_dup = round(dup_share * n_total)
    n_cross = round(cross_share * n_total) if cross is not None and len(cross[1]) else 0
    n_ns = max(1, round(namesake_share * n_total)) if n_total >= 20 else 0
    n_base = n_total - n_dup - n_cross - n_ns
    common = [pools.COMMON_NAMES[i % len(pools.COMMON_NAMES)] for i in range(n_ns)]
    ns_first = np.array([c[0] for c in common], dtype=object)
    ns_last = np.array([c[1] for c in common], dtype=object)

    # Namesakes: the first n_ns base rows and n_ns extra rows carry the same common names.
    keep = np.zeros(n_base, dtype=bool)
    keep[:n_ns] = True
    f0 = np.full(n_base, None, dtype=object)
    l0 = np.full(n_base, None, dtype=object)
    f0[:n_ns], l0[:n_ns] = ns_first, ns_last
    base = make(n_base, (f0, l0), keep)
    extra = make(n_ns, (ns_first, ns_last), np.ones(n_ns, dtype=bool)) if n_ns else None
    if extra is not None and "company" in base:
        same_co = extra["company"] == base["company"][:n_ns]
        extra["company"][same_co] = None  # namesakes at one company would be a real puzzle, not a negative
        extra["_company_base"][same_co] = None
    base["_namesake"] = np.where(np.arange(n_base) < n_ns, np.arange(n_base), -1)
    base["_cluster"] = np.full(n_base, -1)
    base["_xref"] = np.full(n_base, None, dtype=object)
    base["_verr"] = np.full(n_base, None, dtype=object)
    parts = [base]
    if extra is not None:
        extra["_namesake"] = np.arange(n_ns)
        extra["_cluster"] = np.full(n_ns, -1)
        extra["_xref"] = np.full(n_ns, None, dtype=object)
        extra["_verr"] = np.full(n_ns, None, dtype=object)
        parts.append(extra)

    # Copies within the table: pairs, and some triples (two copies of one person).
    if n_dup:
        eligible = np.arange(n_ns, n_base)
        n_src = max(1, round(n_dup / 1.15))
        src = rng.choice(eligible, size=min(n_src, len(eligible)), replace=False)
        src = np.concatenate([src, src[: n_dup - len(src)]])[:n_dup]
        base["_cluster"][src] = src
        dup, errs = duplicates.copies(rng, base, src, default_region)
        dup["_cluster"] = src.copy()
        dup["_namesake"] = np.full(len(src), -1)
        dup["_verr"] = objects(errs)
        dup["created"] = clock.after(base["created"][src], 1, 150)
        parts.append(dup)

    # Copies of people of another table (a lead who is already a contact).
    if n_cross:
        rows, xids = cross
        src = rng.choice(len(xids), size=min(n_cross, len(xids)), replace=False)
        xc, errs = duplicates.copies(rng, rows, src, default_region)
        start = n_base + 1_000_000  # cluster numbers apart from the within-table ones
        xc["_cluster"] = start + np.arange(len(src))
        xc["_namesake"] = np.full(len(src), -1)
        xc["_xref"] = objects(list(xids[src]))
        xc["_verr"] = objects(errs)
        xc["created"] = clock.after(xc["created"], 1, 200)
        parts.append({k: xc[k] for k in base})
    return duplicates.concat(*parts)


def in_created_order(rows: Rows) -> Rows:
    order = np.argsort(rows["created"], kind="stable")
    return duplicates.take(rows, order)


def truth_pairs(table: str, rows: Rows, ids: list[str], cross_table: str | None = None) -> tuple[set[Pair], set[Pair], list]:
    """(duplicate pairs, namesake pairs, variant errors as (table, id, field, kind, raw, fix)) of sorted rows."""
    clusters: dict[int, list[tuple[str, str]]] = {}
    for rid, c, x in zip(ids, rows["_cluster"].tolist(), rows["_xref"].tolist()):
        if c >= 0:
            members = clusters.setdefault(c, [])
            members.append((table, rid))
            if x is not None:
                members.append((cross_table, x))
    dup: set[Pair] = set()
    for members in clusters.values():
        dup |= cluster_pairs(members)
    ns: dict[int, list[str]] = {}
    for rid, k in zip(ids, rows["_namesake"].tolist()):
        if k >= 0:
            ns.setdefault(k, []).append(rid)
    names = {pair(table, a[0], table, a[1]) for a in ns.values() if len(a) == 2}
    errs = [(table, rid, *e) for rid, es in zip(ids, rows["_verr"].tolist()) if es for e in es]
    return dup, names, errs


def stale_dates(clock: Clock, n: int) -> np.ndarray:
    return clock.today - clock.rng.integers(31, 150, n) * DAY
