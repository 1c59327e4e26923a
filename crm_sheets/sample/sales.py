"""Sample data for the sales template: a B2B team of six with 18 months of history.

Accounts (with branches), contacts sharing their company's domain and switchboard, leads with planted
duplicates, deals across the Stages sheet's stages (won/lost history, stale open deals), activities,
tasks, campaigns and members, products and orders (repeat buyers and churned customers).
Over 600 lines on purpose: one step per table, in the order each needs the earlier ones (one story of one team).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.model.schema import Schema
from crm_sheets.sample import identities, pools
from crm_sheets.sample.companies import Companies, companies
from crm_sheets.sample.frames import DAY, Clock, ids, nat, stage_names, with_none
from crm_sheets.sample.person_rows import unique_names, compose, in_created_order, person_rows, truth_pairs

TEAM = [
    # name, role, territory, share of the work
    ("Camille Martin", "admin", "FR, BE, CH", 0.8),
    ("Hugo Bernard", "sales_rep", "FR, BE, CH", 1.0),
    ("Olivia Smith", "sales_rep", "GB, IE", 1.0),
    ("Noah Johnson", "sales_rep", "US, CA", 1.2),
    ("Emma Davis", "sales_rep", "US, CA", 1.2),
    ("Liam Wilson", "manager", "DE, NL, ES, IT", 0.9),
]
TEAM_DOMAIN = "brightlane.io"


def owners_by_country(rng: np.random.Generator, codes: np.ndarray, team=TEAM) -> np.ndarray:
    """An owner from the team members whose territory covers each country (anyone when nobody does)."""
    cover: dict[str, list[str]] = {}
    for name, _, territory, _ in team:
        for c in territory.split(", "):
            cover.setdefault(c, []).append(name)
    everyone = [t[0] for t in team]
    return identities.by_country(rng, codes, {c: cover.get(c, everyone) for c in set(codes.tolist())})


def team_columns(rng, reg: identities.Registry, team, n_leads: int, domain: str) -> dict:
    n = len(team)
    total = sum(t[3] for t in team)
    codes = np.array([t[2].split(", ")[0] for t in team], dtype=object)
    city = identities.cities(rng, codes)
    ph = identities.phones(reg, identities.mobile_plans(rng, codes, city), codes)
    return {
        "name": [t[0] for t in team],
        "email": [f"{identities.slug(t[0].split()[0])}.{identities.slug(t[0].split()[1])}@{domain}" for t in team],
        "role": [t[1] for t in team],
        "territory": [t[2] for t in team],
        "capacity": [max(10, int(round(n_leads * 1.3 * t[3] / total, -1))) for t in team],
        "away": [False] * n,
        "phone": ph.text,
    }


def random_tags(rng, n: int, keys: list[str], share: float = 0.2) -> np.ndarray:
    """One or two tag keys for ``share`` of the rows, joined with ', ' as the tags type holds them."""
    out = np.full(n, None, dtype=object)
    has = np.flatnonzero(rng.random(n) < share)
    a = rng.integers(0, len(keys), len(has))
    b = rng.integers(0, len(keys), len(has))
    two = rng.random(len(has)) < 0.3
    for i, x, y, t in zip(has.tolist(), a.tolist(), b.tolist(), two.tolist()):
        out[i] = f"{keys[min(x, y)]}, {keys[max(x, y)]}" if t and x != y else keys[x]
    return out


def random_notes(rng, n: int, share: float = 0.15) -> np.ndarray:
    return with_none(identities.pick(rng, pools.NOTES, n), rng.random(n) >= share)


# The sales generator runs as a chain of steps, one per table (or two close tables). The steps draw from
# one random generator in a fixed order: reordering them, or a draw inside one, changes every sample
# workbook, so a new draw goes at the end of its step and a new step after the last one.


@dataclass
class _Run:
    """What every step shares: the template, the random source, the clock and the columns made so far."""

    schema: Schema
    n_leads: int
    rng: np.random.Generator
    clock: Clock
    reg: identities.Registry
    cur: str  # the workbook's currency
    names: list[str]  # Team member names
    truth: Any  # SampleTruth
    cols: dict[str, dict] = field(default_factory=dict)


@dataclass
class _Accounts:
    comp: Companies  # the accounts' companies first, then the companies of leads
    n: int
    ids: np.ndarray
    type: np.ndarray
    created: np.ndarray
    owner: np.ndarray


@dataclass
class _Contacts:
    n: int
    acc_of: np.ndarray  # account index of each contact, sorted (contacts are made by account)
    codes: np.ndarray  # country codes
    first: np.ndarray
    last: np.ndarray
    acc_name: np.ndarray
    email: np.ndarray
    board: np.ndarray  # has the account's switchboard number
    has_mob: np.ndarray
    mob: Any  # identities phones
    created: np.ndarray
    order: np.ndarray  # creation order: contact IDs follow it
    ids: np.ndarray
    taken: set  # names drawn so far, shared with the leads


@dataclass
class _Campaigns:
    n: int
    start: np.ndarray
    ids: np.ndarray


@dataclass
class _Products:
    n: int
    price: np.ndarray
    currency: np.ndarray


@dataclass
class _Leads:
    rows: dict
    ids: list[str]
    ids_arr: np.ndarray
    verr: list  # planted errors found while composing the rows


@dataclass
class _Deals:
    n: int
    ids: np.ndarray
    acc_sorted: np.ndarray  # account index of each deal, in ID order
    won_sorted: np.ndarray


def generate_sales(schema: Schema, n_leads: int, rng: np.random.Generator, clock: Clock, reg: identities.Registry):
    """(columns per table, truth, Team member names, extras for the caller) for the sales template."""
    from crm_sheets.sample.truth import SampleTruth

    cur = str(schema.setting("currency").value if schema.setting("currency") else "USD")
    run = _Run(schema, n_leads, rng, clock, reg, cur, [t[0] for t in TEAM], SampleTruth())
    run.cols["team"] = team_columns(rng, reg, TEAM, n_leads, TEAM_DOMAIN)
    acc = _accounts(run)
    con = _contacts(run, acc)
    camp = _campaigns(run)
    prod = _products(run)
    leads = _leads(run, acc, con, camp)
    deals = _deals(run, acc, con, camp)
    _activities(run, acc, con, leads, deals)
    _tasks(run, acc, con, leads, deals)
    _campaign_members(run, con, camp, leads)
    _orders(run, acc, con, prod, deals)
    return _finish(run, acc, con, leads)


def _accounts(run: _Run) -> _Accounts:
    """Accounts, the last twelfth of them branches of earlier ones; also draws the companies of leads."""
    rng, reg, clock, n_leads = run.rng, run.reg, run.clock, run.n_leads
    n_acc = max(10, n_leads // 5)
    n_lead_co = max(20, int(0.35 * n_leads))
    comp = companies(rng, reg, n_acc + n_lead_co)
    acc_type = identities.pick(rng, ["customer", "prospect", "partner", "former_customer"], n_acc, [0.35, 0.45, 0.05, 0.15])
    branch = np.zeros(n_acc, dtype=bool)
    parent = np.full(n_acc, None, dtype=object)
    acc_ids = np.array(ids("A", n_acc), dtype=object)
    n_branch = n_acc // 12
    if n_branch:
        # Branches are the last accounts (their parents exist before them, IDs follow creation).
        heads = rng.choice(n_acc - n_branch, size=n_branch, replace=True)
        for j, h in enumerate(heads.tolist()):
            i = n_acc - n_branch + j
            branch[i] = True
            parent[i] = acc_ids[h]
            comp.base[i] = f"{comp.base[h]} {comp.city[i]}"
            comp.industry[i] = comp.industry[h]
            comp.domain[i] = f"{identities.slug(comp.base[h])}-{identities.slug(comp.city[i])}.{pools.TLD[comp.country[i]]}"
            acc_type[i] = acc_type[h] if acc_type[h] != "former_customer" else "customer"
    acc_created = np.sort(clock.days_ago(n_acc, 60, 900))
    acc_owner = owners_by_country(rng, comp.country[:n_acc])
    emp = comp.employees[:n_acc]
    run.cols["accounts"] = {
        "name": None,
        "parent": parent,
        "type": acc_type,
        "industry": comp.industry[:n_acc],
        "size": comp.size[:n_acc],
        "employees": emp,
        "annual_revenue": np.round(emp * rng.uniform(80_000, 250_000, n_acc), -3),
        "website": comp.website()[:n_acc],
        "phone": comp.phones.text[:n_acc],
        "country": identities.country_names(comp.country[:n_acc]),
        "city": comp.city[:n_acc],
        "address": comp.address[:n_acc],
        "owner": acc_owner,
        "tags": random_tags(rng, n_acc, run.schema.lists["tags"].keys(), 0.15),
        "created": acc_created,
        "notes": random_notes(rng, n_acc),
    }
    run.cols["accounts"]["name"] = np.array(
        [f"{b} {s}" if r < 0.7 else b for b, s, r in zip(comp.base[:n_acc].tolist(), comp.suffix[:n_acc].tolist(), rng.random(n_acc).tolist())],
        dtype=object)
    return _Accounts(comp, n_acc, acc_ids, acc_type, acc_created, acc_owner)


def _contacts(run: _Run, acc: _Accounts) -> _Contacts:
    """Contacts at accounts (bigger customers have more), on their company's domain and switchboard."""
    rng, reg, clock, schema, comp = run.rng, run.reg, run.clock, run.schema, acc.comp
    n_acc, acc_type = acc.n, acc.type
    n_con = max(10, run.n_leads // 2)
    weight = np.select([acc_type == "customer", acc_type == "former_customer", acc_type == "partner"], [3.0, 2.0, 2.0], 1.0)
    weight = weight * (1 + np.log1p(comp.employees[:n_acc]) / 3)
    acc_of = rng.choice(n_acc, size=n_con, p=weight / weight.sum())
    acc_of[: min(n_acc, n_con)] = np.arange(min(n_acc, n_con))  # every account has someone to talk to
    acc_of = np.sort(acc_of)
    codes = np.where(rng.random(n_con) < 0.8, comp.country[acc_of], identities.countries(rng, n_con))
    first, last = identities.names(rng, codes)
    taken: set = set()

    acc_name = run.cols["accounts"]["name"][acc_of]
    drawn_last, _ = unique_names(rng, codes, first, last, acc_name, np.zeros(n_con, dtype=bool), taken)
    local, drawn_local = identities.email_locals(rng, first, last, np.zeros(n_con, dtype=bool), drawn_last)
    has_email = rng.random(n_con) < 0.93
    email = np.full(n_con, None, dtype=object)
    dom = comp.domain[acc_of][has_email]
    email[has_email] = reg.unique_emails(local[has_email], dom, (drawn_local[has_email], dom))
    sb = comp.phones
    board = rng.random(n_con) < 0.6
    has_mob = rng.random(n_con) < 0.6
    con_city = np.where(codes == comp.country[acc_of], comp.city[acc_of], identities.cities(rng, codes))
    mob = identities.phones(reg, identities.mobile_plans(rng, codes, con_city), codes)
    con_created = np.maximum(acc.created[acc_of], clock.days_ago(n_con, 0, 700))
    order = np.argsort(con_created, kind="stable")
    con_ids = np.empty(n_con, dtype=object)
    con_ids[order] = ids("C", n_con)
    nps = np.where((acc_type[acc_of] == "customer") & (rng.random(n_con) < 0.45),
                   np.clip(np.round(rng.normal(8, 2, n_con)), 0, 10), np.nan)
    run.cols["contacts"] = {
        "first_name": first, "last_name": last, "email": email,
        "phone": with_none(sb.text[acc_of], ~board), "mobile": with_none(mob.text, ~has_mob),
        "job_title": identities.pick(rng, pools.JOB_TITLES, n_con), "account": acc.ids[acc_of],
        "country": identities.country_names(codes),
        "city": con_city,
        "owner": acc.owner[acc_of], "source": identities.pick(rng, schema.lists["lead_source"].keys(), n_con),
        "consent": rng.random(n_con) < 0.65, "opted_out": rng.random(n_con) < 0.04,
        "nps": [None if np.isnan(x) else int(x) for x in nps], "tags": random_tags(rng, n_con, schema.lists["tags"].keys()),
        "created": con_created, "notes": random_notes(rng, n_con),
    }
    run.cols["contacts"]["consent"] &= ~run.cols["contacts"]["opted_out"]
    return _Contacts(n_con, acc_of, codes, first, last, acc_name, email, board, has_mob, mob, con_created, order,
                     con_ids, taken)


def _campaigns(run: _Run) -> _Campaigns:
    """Campaigns over the last 18 months and the next month, named after their theme and quarter."""
    rng, clock, schema = run.rng, run.clock, run.schema
    n_camp = int(np.clip(run.n_leads // 25, 8, 40))
    camp_start = np.sort(clock.days_ago(n_camp, -30, 540))
    camp_end = camp_start + rng.integers(14, 75, n_camp) * DAY
    camp_channel = identities.pick(rng, schema.lists["campaign_channel"].keys(), n_camp)
    themes = ["Spring webinar", "Trade show", "Product launch", "Newsletter", "Customer stories", "Partner day",
              "Year-end offer", "LinkedIn ads", "Roadshow", "Free trial push", "Data summit", "Onboarding series"]
    camp_name = [f"{themes[i % len(themes)]} {pd.Timestamp(s).year} Q{(pd.Timestamp(s).month - 1) // 3 + 1}"
                 + (f" #{i // len(themes) + 1}" if i >= len(themes) else "") for i, s in enumerate(camp_start)]
    status = np.where(camp_end < clock.today, "completed", np.where(camp_start > clock.today, "planned", "active")).astype(object)
    status[rng.random(n_camp) < 0.05] = "cancelled"
    camp_ids = np.array(ids("CP", n_camp), dtype=object)
    run.cols["campaigns"] = {
        "name": camp_name, "channel": camp_channel, "status": status, "start": camp_start, "end": camp_end,
        "cost": np.round(rng.uniform(500, 20_000, n_camp), -1), "owner": identities.pick(rng, ["Camille Martin", "Emma Davis", "Liam Wilson"], n_camp),
        "segment": identities.pick(rng, ["industry = Software", "company_size = 51-200", "country = France", "All customers", "Leads grade A"], n_camp),
        "description": [f"{c.replace('_', ' ').capitalize()} campaign" for c in camp_channel],
    }
    return _Campaigns(n_camp, camp_start, camp_ids)


def _products(run: _Run) -> _Products:
    """Products: licences, add-ons and services, most priced in the workbook's currency."""
    rng = run.rng
    n_prod = int(np.clip(run.n_leads // 20, 10, 30))
    prod_names = ["Starter licence", "Team licence", "Business licence", "Enterprise licence", "Analytics add-on",
                  "Integration pack", "Premium support", "Onboarding package", "Training day", "Consulting day",
                  "Data migration", "API access", "Extra storage", "Mobile add-on", "Security pack"]
    cats = ["Licence", "Licence", "Licence", "Licence", "Add-on", "Add-on", "Support", "Service", "Training", "Service",
            "Service", "Add-on", "Add-on", "Add-on", "Add-on"]
    prod_price = np.round(np.exp(rng.uniform(np.log(90), np.log(12_000), n_prod)), -1)
    prod_cur = np.where(rng.random(n_prod) < 0.85, run.cur, "EUR").astype(object)
    run.cols["products"] = {
        "name": [prod_names[i % 15] + ("" if i < 15 else f" {['Plus', 'Pro', 'Max'][i // 15 - 1]}") for i in range(n_prod)],
        "sku": [f"SKU-{1001 + i}" for i in range(n_prod)], "category": [cats[i % 15] for i in range(n_prod)],
        "unit_price": prod_price, "currency": prod_cur, "active": rng.random(n_prod) < 0.9,
    }
    return _Products(n_prod, prod_price, prod_cur)


def _lead_rows(run: _Run, comp: Companies, camp: _Campaigns, taken: set, k: int, nm, keep) -> dict:
    """``k`` clean lead rows (names forced where ``keep``), as `compose` asks its ``make`` for them."""
    rng, clock = run.rng, run.clock
    src_keys = run.schema.lists["lead_source"].keys()
    rows = person_rows(rng, run.reg, clock, k, comp, company_share=0.9, names=nm, keep_names=keep, taken=taken)
    co = rows["_company_idx"]
    has = co >= 0
    age = (clock.today - rows["created"]) // DAY
    st = identities.pick(rng, ["new", "contacted", "qualified", "unqualified", "converted"], k, [0.15, 0.35, 0.2, 0.18, 0.12])
    st = np.where(age < 14, identities.pick(rng, ["new", "contacted"], k, [0.7, 0.3]), st)
    owner = owners_by_country(rng, rows["_code"])
    owner = with_none(owner, (rng.random(k) < 0.12) & (st == "new") | (rng.random(k) < 0.03))
    source = identities.pick(rng, src_keys, k, [0.3, 0.12, 0.1, 0.08, 0.14, 0.1, 0.06, 0.1][: len(src_keys)])
    # A campaign that had started when the lead came in.
    c_idx = np.searchsorted(camp.start, rows["created"], side="right") - 1
    camp_ok = (c_idx >= 0) & np.isin(source, ["web_form", "event", "advertising", "linkedin"]) & (rng.random(k) < 0.6)
    c_pick = (rng.random(k) * np.maximum(c_idx + 1, 1)).astype(int)
    consent = rng.random(k) < 0.6
    opted = rng.random(k) < 0.05
    rows.update({
        "job_title": with_none(identities.pick(rng, pools.JOB_TITLES, k), rng.random(k) < 0.2),
        "website": with_none(comp.website()[np.maximum(co, 0)], ~has | (rng.random(k) < 0.6)),
        "industry": with_none(comp.industry[np.maximum(co, 0)], ~has | (rng.random(k) < 0.25)),
        "company_size": with_none(comp.size[np.maximum(co, 0)], ~has | (rng.random(k) < 0.3)),
        "source": source, "status": st, "owner": owner,
        "campaign": with_none(camp.ids[np.minimum(c_pick, camp.n - 1)], ~camp_ok),
        "consent": consent & ~opted, "opted_out": opted,
        "engagement": np.where(rng.random(k) < 0.5, np.round(rng.gamma(2, 6, k)), np.nan),
        "tags": random_tags(rng, k, run.schema.lists["tags"].keys(), 0.1), "notes": random_notes(rng, k),
    })
    return rows


def _contact_leads(run: _Run, acc: _Accounts, con: _Contacts, make) -> dict:
    """Lead-shaped copies of the contacts, for leads that duplicate a contact."""
    comp, n_con, acc_of, sb, mob = acc.comp, con.n, con.acc_of, acc.comp.phones, con.mob
    has_mob, board, contacts = con.has_mob, con.board, run.cols["contacts"]
    cross_rows = make(n_con, None, None)
    for key, val in {
        "first_name": con.first, "last_name": con.last, "email": con.email,
        "phone": np.where(has_mob, mob.text, np.where(board, sb.text[acc_of], None)),
        "_plan": np.where(has_mob, mob.plan, np.where(board, sb.plan[acc_of], -1)),
        "_nsn": np.where(has_mob, mob.nsn, np.where(board, sb.nsn[acc_of], None)),
        "_style": np.where(has_mob, mob.style, np.where(board, sb.style[acc_of], -1)),
        "company": con.acc_name, "_company_base": comp.base[acc_of],
        "_company_suffix": comp.suffix[acc_of], "country": contacts["country"], "city": contacts["city"],
        "job_title": contacts["job_title"], "created": con.created, "_code": con.codes,
    }.items():
        cross_rows[key] = np.array(val, dtype=cross_rows[key].dtype if key in ("_plan", "_style", "created") else object)
    cross_rows["campaign"] = np.full(n_con, None, dtype=object)
    cross_rows["website"] = with_none(comp.website()[acc_of], run.rng.random(n_con) < 0.6)
    cross_rows["industry"] = comp.industry[acc_of]
    cross_rows["company_size"] = comp.size[acc_of]
    return cross_rows


def _leads(run: _Run, acc: _Accounts, con: _Contacts, camp: _Campaigns) -> _Leads:
    """Leads with planted duplicates (of each other and of contacts), in creation order; records the truth."""
    make = partial(_lead_rows, run, acc.comp, camp, con.taken)
    cross_rows = _contact_leads(run, acc, con, make)
    cross_ok = ~run.cols["contacts"]["opted_out"]
    lead_rows = compose(run.rng, run.clock, run.n_leads, make, run.reg.default_region,
                        cross=({k: v[cross_ok] for k, v in cross_rows.items()}, con.ids[cross_ok]))
    lead_rows = in_created_order(lead_rows)
    lead_ids = ids("L", len(lead_rows["created"]))
    dup, names_pairs, verr = truth_pairs("leads", lead_rows, lead_ids, "contacts")
    run.truth.duplicate_pairs |= dup
    run.truth.distinct_pairs |= names_pairs
    return _Leads(lead_rows, lead_ids, np.array(lead_ids, dtype=object), verr)


def _deals(run: _Run, acc: _Accounts, con: _Contacts, camp: _Campaigns) -> _Deals:
    """Deals across the Stages sheet's stages: won and lost history, open deals, stale ones past their date."""
    rng, clock, schema, comp, names = run.rng, run.clock, run.schema, acc.comp, run.names
    acc_type, acc_of, con_ids, n_con = acc.type, con.acc_of, con.ids, con.n
    n_deal = max(8, run.n_leads // 4)
    stages = stage_names(schema)
    won = next(s["stage"] for s in stages if s.get("won"))
    lost = next(s["stage"] for s in stages if s.get("lost"))
    open_stages = [s for s in stages if not s.get("won") and not s.get("lost")]
    d_created = clock.days_ago(n_deal, 0, 540)
    age = (clock.today - d_created) // DAY
    closed_p = np.clip(age / 150, 0.05, 0.85)
    is_closed = rng.random(n_deal) < closed_p
    is_won = is_closed & (rng.random(n_deal) < 0.42)
    is_lost = is_closed & ~is_won
    stale = ~is_closed & (age > 75) & (rng.random(n_deal) < 0.5)
    stage = identities.pick(rng, [s["stage"] for s in open_stages], n_deal, [0.3, 0.25, 0.25, 0.2][: len(open_stages)])
    stage = np.where(is_won, won, np.where(is_lost, lost, stage)).astype(object)
    buyers = np.flatnonzero(np.isin(acc_type, ["customer", "former_customer"]))
    active = np.flatnonzero(acc_type != "former_customer")
    d_acc = np.where(is_won, buyers[rng.integers(0, len(buyers), n_deal)] if len(buyers) else 0,
                     active[rng.integers(0, len(active), n_deal)])
    # The deal's contact: someone at its account (contacts are sorted by account).
    first_con = np.searchsorted(acc_of, d_acc, side="left")
    n_at = np.searchsorted(acc_of, d_acc, side="right") - first_con
    d_con = first_con + (rng.random(n_deal) * np.maximum(n_at, 1)).astype(int)
    d_contact = with_none(con_ids[np.minimum(d_con, n_con - 1)], (n_at == 0) | (rng.random(n_deal) < 0.1))
    cycle = rng.integers(14, 150, n_deal)
    d_closed = np.minimum(d_created + cycle * DAY, clock.today)
    close_date = np.where(is_closed, d_closed, d_created + (cycle + rng.integers(0, 60, n_deal)) * DAY)
    close_date = np.where(~is_closed & ~stale, np.maximum(close_date, clock.today + rng.integers(3, 90, n_deal) * DAY), close_date)
    close_date = np.where(stale, clock.today - rng.integers(31, 150, n_deal) * DAY, close_date)
    d_country = comp.country[d_acc]
    d_cur = np.full(n_deal, run.cur, dtype=object)
    r = rng.random(n_deal)
    d_cur[np.isin(d_country, ["FR", "DE", "BE", "ES", "IT", "NL", "IE"]) & (r < 0.6)] = "EUR"
    d_cur[(d_country == "GB") & (r < 0.6)] = "GBP"
    size_factor = np.array([pools.SIZES.index(s) for s in comp.size[d_acc].tolist()])
    amount = np.round(np.exp(rng.normal(np.log(4000) + 0.6 * size_factor, 0.7)), -1)
    stage_prob = {s["stage"]: s.get("probability") for s in stages}
    prob = np.array([stage_prob[s] if x < 0.3 else np.nan for s, x in zip(stage.tolist(), rng.random(n_deal).tolist())])
    steps = ["Send proposal", "Book a demo", "Call the decision maker", "Send the contract", "Follow up on pricing",
             "Meet the technical team"]
    reasons = ["Price", "Chose a competitor", "No budget", "No decision", "Timing", "Missing feature"]
    deal_ids = np.array(ids("D", n_deal), dtype=object)
    d_order = np.argsort(d_created, kind="stable")
    deals = {
        "name": np.array([f"{run.cols['accounts']['name'][a]} – {pools_deal}" for a, pools_deal in
                          zip(d_acc.tolist(), identities.pick(rng, ["annual plan", "expansion", "renewal", "pilot", "new team", "platform"], n_deal).tolist())], dtype=object),
        "account": acc.ids[d_acc], "contact": d_contact,
        "owner": np.where(rng.random(n_deal) < 0.9, acc.owner[d_acc], identities.pick(rng, names, n_deal)),
        "stage": stage, "amount": amount, "currency": d_cur, "probability": prob, "close_date": close_date,
        "type": identities.pick(rng, ["new_business", "upsell", "renewal"], n_deal, [0.6, 0.25, 0.15]),
        "source": identities.pick(rng, schema.lists["lead_source"].keys(), n_deal),
        "campaign": with_none(identities.pick(rng, camp.ids, n_deal), rng.random(n_deal) > 0.2),
        "next_step": with_none(identities.pick(rng, steps, n_deal), is_closed | (rng.random(n_deal) < 0.2)),
        "created": d_created, "closed": nat(d_closed, ~is_closed),
        "lost_reason": with_none(identities.pick(rng, reasons, n_deal), ~is_lost),
    }
    deals = run.cols["deals"] = {k: np.asarray(v)[d_order] if not isinstance(v, list) else np.asarray(v, dtype=object)[d_order]
                                 for k, v in deals.items()}
    # Campaigns of deals must have started before the deal.
    d_camp = deals["campaign"]
    ok_start = dict(zip(camp.ids.tolist(), camp.start))
    for i, c in enumerate(d_camp.tolist()):
        if c is not None and ok_start[c] > deals["created"][i]:
            d_camp[i] = None
    run.truth.stale_deals = set(deal_ids[np.flatnonzero(stale[d_order])].tolist())
    return _Deals(n_deal, deal_ids, d_acc[d_order], is_won[d_order])


def _activities(run: _Run, acc: _Accounts, con: _Contacts, leads: _Leads, deals: _Deals) -> None:
    """Emails, calls, meetings, notes and chats with leads, contacts and deals; sets the leads' last contact."""
    rng, clock, names, lead_rows, deal_cols = run.rng, run.clock, run.names, leads.rows, run.cols["deals"]
    acc_of, con_ids, acc_ids, lead_ids_arr = con.acc_of, con.ids, acc.ids, leads.ids_arr
    n_act = 2 * run.n_leads
    kind = rng.choice(3, size=n_act, p=[0.45, 0.4, 0.15])  # lead, contact, deal
    a_lead = np.full(n_act, None, dtype=object)
    a_con = np.full(n_act, None, dtype=object)
    a_deal = np.full(n_act, None, dtype=object)
    a_acc = np.full(n_act, None, dtype=object)
    start = np.full(n_act, clock.today - 540 * DAY)
    a_owner = identities.pick(rng, names, n_act)
    active_leads = np.flatnonzero(lead_rows["status"] != "new")
    m = np.flatnonzero(kind == 0)
    if len(active_leads):
        li = active_leads[rng.integers(0, len(active_leads), len(m))]
        a_lead[m] = lead_ids_arr[li]
        start[m] = lead_rows["created"][li]
        lo = lead_rows["owner"][li]
        a_owner[m] = np.where(lo == None, a_owner[m], lo)  # noqa: E711 (element-wise)
    m = np.flatnonzero(kind == 1)
    ci = rng.integers(0, con.n, len(m))
    a_con[m] = con_ids[ci]
    a_acc[m] = acc_ids[acc_of[ci]]
    start[m] = con.created[ci]
    a_owner[m] = acc.owner[acc_of[ci]]
    m = np.flatnonzero(kind == 2)
    di = rng.integers(0, deals.n, len(m))
    a_deal[m] = deals.ids[di]
    a_acc[m] = deal_cols["account"][di]
    a_con[m] = deal_cols["contact"][di]
    start[m] = deal_cols["created"][di]
    a_owner[m] = deal_cols["owner"][di]
    end = np.full(n_act, clock.today)
    end[m] = np.where(np.isnat(deal_cols["closed"][di]), clock.today, deal_cols["closed"][di])
    a_date = clock.between(start, end)
    a_type = identities.pick(rng, ["email", "call", "meeting", "note", "chat"], n_act, [0.35, 0.25, 0.15, 0.15, 0.1])
    channel = np.select([a_type == "call", a_type == "email", a_type == "chat", a_type == "meeting"],
                        ["phone", "email", "chat", "video"], None).astype(object)
    channel[(a_type == "meeting") & (rng.random(n_act) < 0.4)] = "in_person"
    direction = with_none(identities.pick(rng, ["inbound", "outbound"], n_act, [0.35, 0.65]), np.isin(a_type, ["note", "meeting"]))
    subjects = {"email": ["Follow-up", "Proposal", "Pricing question", "Meeting notes", "Introduction"],
                "call": ["Discovery call", "Check-in call", "Pricing call", "Left a voicemail"],
                "meeting": ["Demo", "Kick-off meeting", "Quarterly review", "On-site visit"],
                "note": ["Internal note", "Budget info", "Org chart"], "chat": ["Quick question", "Chat follow-up"]}
    subject = np.empty(n_act, dtype=object)
    for t, opts in subjects.items():
        mm = np.flatnonzero(a_type == t)
        subject[mm] = identities.pick(rng, opts, len(mm))
    a_order = np.argsort(a_date, kind="stable")
    run.cols["activities"] = {k: v[a_order] for k, v in {
        "date": a_date, "type": a_type, "channel": channel, "direction": direction, "subject": subject,
        "summary": with_none(identities.pick(rng, pools.NOTES, n_act), rng.random(n_act) < 0.5),
        "contact": a_con, "lead": a_lead, "deal": a_deal, "account": a_acc, "owner": a_owner}.items()}
    # Leads were last contacted at their latest activity.
    act = pd.DataFrame({"lead": run.cols["activities"]["lead"], "date": run.cols["activities"]["date"]}).dropna()
    last = act.groupby("lead")["date"].max().dt.normalize()
    lead_rows["last_contacted"] = pd.Series(lead_ids_arr).map(last).to_numpy(dtype="datetime64[ns]")


def _tasks(run: _Run, acc: _Accounts, con: _Contacts, leads: _Leads, deals: _Deals) -> None:
    """Tasks on leads, deals, contacts and accounts; those due more than a week ahead are not done yet."""
    rng, clock = run.rng, run.clock
    n_task = max(5, run.n_leads // 5)
    t_created = clock.days_ago(n_task, 0, 120)
    due = t_created + rng.integers(1, 21, n_task) * DAY
    t_status = identities.pick(rng, ["open", "in_progress", "done", "cancelled"], n_task, [0.35, 0.1, 0.5, 0.05])
    t_status = np.where((due > clock.today + 7 * DAY) & (t_status == "done"), "open", t_status).astype(object)
    rel_kind = rng.choice(4, size=n_task, p=[0.4, 0.3, 0.2, 0.1])
    rel = np.where(rel_kind == 0, leads.ids_arr[rng.integers(0, len(leads.ids), n_task)],
                   np.where(rel_kind == 1, deals.ids[rng.integers(0, deals.n, n_task)],
                            np.where(rel_kind == 2, con.ids[rng.integers(0, con.n, n_task)], acc.ids[rng.integers(0, acc.n, n_task)]))).astype(object)
    titles = {0: ["Call back", "Qualify the lead", "Send the brochure"], 1: ["Send the proposal", "Prepare the contract", "Book the demo"],
              2: ["Check in", "Send the case study", "Invite to the webinar"], 3: ["Quarterly review", "Renewal check", "Update the account plan"]}
    t_title = np.array([titles[k][int(x * 3)] for k, x in zip(rel_kind.tolist(), rng.random(n_task).tolist())], dtype=object)
    t_order = np.argsort(t_created, kind="stable")
    completed = np.minimum(t_created + rng.integers(0, 20, n_task) * DAY, clock.today)
    run.cols["tasks"] = {k: np.asarray(v)[t_order] for k, v in {
        "title": t_title, "due": due, "owner": identities.pick(rng, run.names, n_task), "status": t_status,
        "priority": identities.pick(rng, ["low", "normal", "high"], n_task, [0.25, 0.55, 0.2]), "related": rel,
        "created": t_created, "completed": nat(completed, t_status != "done"), "notes": random_notes(rng, n_task, 0.1)}.items()}


def _campaign_members(run: _Run, con: _Contacts, camp: _Campaigns, leads: _Leads) -> None:
    """Campaign members: the leads a campaign brought in, and consenting contacts added to campaigns."""
    rng, clock, lead_rows, n_con, n_camp = run.rng, run.clock, leads.rows, con.n, camp.n
    consent = run.cols["contacts"]["consent"]
    lm = np.flatnonzero(lead_rows["campaign"] != None)  # noqa: E711
    n_cm_con = min(n_con, max(n_camp, n_con // 4))
    cm_con = rng.choice(np.flatnonzero(consent) if consent.any() else np.arange(n_con), size=n_cm_con, replace=True)
    cm_camp_con = rng.integers(0, n_camp, n_cm_con)
    pair_key = pd.Series(cm_con.astype(str)).str.cat(pd.Series(cm_camp_con.astype(str)), sep=":")
    keep = ~pair_key.duplicated().to_numpy()
    cm_con, cm_camp_con = cm_con[keep], cm_camp_con[keep]
    n_cm = len(lm) + len(cm_con)
    cm_status = identities.pick(rng, ["added", "sent", "opened", "replied", "converted", "unsubscribed", "bounced"], n_cm,
                                [0.1, 0.35, 0.25, 0.12, 0.08, 0.05, 0.05])
    lead_conv = lead_rows["status"][lm] == "converted"
    cm_status[: len(lm)] = np.where(lead_conv, "converted", np.where(lead_rows["opted_out"][lm], "unsubscribed", cm_status[: len(lm)]))
    # Contacts join a campaign when it starts, or today when it is still planned: they have had nothing
    # from it yet, so they are only "added" and have not responded.
    start_con = camp.start[cm_camp_con]
    added = np.concatenate([lead_rows["created"][lm], np.minimum(np.maximum(start_con, con.created[cm_con]), clock.today)])
    planned = np.concatenate([np.zeros(len(lm), dtype=bool), start_con > clock.today])
    cm_status[planned] = "added"
    responded = nat(clock.after(added, 1, 20), ~np.isin(cm_status, ["replied", "converted"]))
    members = {
        "campaign": np.concatenate([lead_rows["campaign"][lm], camp.ids[cm_camp_con]]).astype(object),
        "lead": np.concatenate([leads.ids_arr[lm], np.full(len(cm_con), None, dtype=object)]),
        "contact": np.concatenate([np.full(len(lm), None, dtype=object), con.ids[cm_con]]),
        "status": cm_status, "added": added, "responded": responded,
    }
    cm_order = np.argsort(added, kind="stable")
    run.cols["campaign_members"] = {k: np.asarray(v)[cm_order] for k, v in members.items()}


def _orders(run: _Run, acc: _Accounts, con: _Contacts, prod: _Products, deals: _Deals) -> None:
    """Orders of customers (repeat buyers; churned ones stopped a year ago); records the churned accounts."""
    rng, clock, acc_type, acc_of, con_ids, n_con = run.rng, run.clock, acc.type, con.acc_of, con.ids, con.n
    buyers_all = np.flatnonzero(np.isin(acc_type, ["customer", "former_customer"]))
    churned = (acc_type[buyers_all] == "former_customer") | (rng.random(len(buyers_all)) < 0.12)
    k_orders = 1 + np.minimum(rng.geometric(0.3, len(buyers_all)), 11)
    o_acc = np.repeat(buyers_all, k_orders)
    o_churn = np.repeat(churned, k_orders)
    n_o = len(o_acc)
    o_date = np.where(o_churn, clock.days_ago(n_o, 370, 540), clock.days_ago(n_o, 0, 540))
    # Every customer that has not churned bought something this year.
    first_of = np.concatenate([[0], np.cumsum(k_orders)[:-1]])
    fresh = first_of[~churned]
    o_date[fresh] = clock.days_ago(len(fresh), 0, 300)
    p = rng.integers(0, prod.n, n_o)
    qty = rng.integers(1, 21, n_o)
    o_status = identities.pick(rng, ["paid", "pending", "refunded", "cancelled"], n_o, [0.86, 0.04, 0.04, 0.06])
    o_status = np.where((o_status == "pending") & (o_date < clock.today - 30 * DAY), "paid", o_status).astype(object)
    # First orders of an account point to its latest won deal, when it has one.
    won_by_acc = {}
    for a, w, ds in zip(deals.acc_sorted.tolist(), deals.won_sorted.tolist(), deals.ids.tolist()):
        if w:
            won_by_acc[a] = ds
    o_deal = np.full(n_o, None, dtype=object)
    o_deal[first_of] = [won_by_acc.get(a) for a in buyers_all.tolist()]
    first_con_o = np.searchsorted(acc_of, o_acc, side="left")
    n_at_o = np.searchsorted(acc_of, o_acc, side="right") - first_con_o
    o_con = with_none(con_ids[np.minimum(first_con_o + (rng.random(n_o) * np.maximum(n_at_o, 1)).astype(int), n_con - 1)], n_at_o == 0)
    o_order = np.argsort(o_date, kind="stable")
    run.cols["orders"] = {k: np.asarray(v)[o_order] for k, v in {
        "date": o_date, "account": acc.ids[o_acc], "contact": o_con, "deal": o_deal, "product": np.array(ids("P", prod.n), dtype=object)[p],
        "quantity": qty, "amount": np.round(prod.price[p] * qty * rng.choice([1.0, 0.95, 0.9, 0.85], n_o), 2),
        "currency": prod.currency[p], "status": o_status}.items()}
    run.truth.churned_accounts = set(acc.ids[buyers_all[churned]].tolist())


def _finish(run: _Run, acc: _Accounts, con: _Contacts, leads: _Leads):
    """The leads' columns, contacts reordered to follow their IDs, and the extras `generate` reads."""
    cols, order, sb, acc_of, board = run.cols, con.order, acc.comp.phones, con.acc_of, con.board
    cols["leads"] = leads.rows
    # Contacts were generated by account; their IDs follow creation: reorder rows to match.
    cols["contacts"] = {k: np.asarray(v, dtype=object if k in ("nps",) else None)[order] for k, v in cols["contacts"].items()}
    extra = {"verr": leads.verr, "person_table": "leads", "other_phone_keys": ("contacts", [f"{p}:{s}" if s is not None else None for p, s in
                                                   zip(np.where(board, sb.plan[acc_of], -1)[order].tolist(),
                                                       np.where(board, sb.nsn[acc_of], None)[order].tolist())])}
    return cols, run.truth, run.names, extra
