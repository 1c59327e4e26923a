"""Sample data for the services template: a UK coaching and consulting practice of four.

Clients (people and companies, with their contacts), enquiries with planted duplicates, packages,
engagements through the Stages sheet, the sessions of booked engagements, their invoices (paid, sent,
overdue), activities and tasks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crm_sheets.model.schema import Schema
from crm_sheets.sample import identities, pools
from crm_sheets.sample.companies import companies
from crm_sheets.sample.frames import DAY, Clock, ids, nat, stage_names, with_none
from crm_sheets.sample.person_rows import unique_names, compose, in_created_order, person_rows, truth_pairs
from crm_sheets.sample.sales import random_notes, random_tags, owners_by_country, team_columns
from crm_sheets.sample.truth import SampleTruth

TEAM = [
    ("Sarah Thompson", "admin", "GB, IE, US, CA", 1.0, "Leadership"),
    ("Daniel Okafor", "coach", "GB, IE, US, CA", 1.0, "Careers"),
    ("Julien Moreau", "consultant", "FR, BE, CH", 0.8, "Strategy"),
    ("Priya Shah", "coach", "DE, NL, ES, IT", 0.7, "Team workshops"),
]
WEIGHTS = {"GB": 0.5, "IE": 0.08, "FR": 0.12, "BE": 0.04, "CH": 0.04, "DE": 0.06, "NL": 0.04, "US": 0.08, "CA": 0.04}
PACKAGES = [
    # name, category, price, sessions, minutes, weeks
    ("Leadership coaching – 6 sessions", "coaching", 1800, 6, 60, 12),
    ("Career transition – 4 sessions", "coaching", 950, 4, 60, 8),
    ("Executive coaching – 10 sessions", "coaching", 4500, 10, 90, 24),
    ("Team workshop – half day", "workshop", 2400, 1, 240, 1),
    ("Strategy audit", "audit", 3500, 3, 120, 4),
    ("Monthly advisory retainer", "retainer", 1500, 0, 60, 4),
    ("Manager training – 3 days", "training", 5400, 3, 420, 3),
    ("Consulting day", "consulting", 1200, 1, 420, 1),
]
MESSAGES = ["I am moving into a management role and would like support.", "We need a workshop for our team in the spring.",
            "Looking for a career coach after a redundancy.", "Could you send your rates?", "Our leadership team needs an away day.",
            None, None]


def generate_services(schema: Schema, n_leads: int, rng: np.random.Generator, clock: Clock, reg: identities.Registry):
    truth = SampleTruth()
    cur = str(schema.setting("currency").value)
    names = [t[0] for t in TEAM]
    team4 = [t[:4] for t in TEAM]
    cols: dict[str, dict] = {"team": team_columns(rng, reg, team4, n_leads // 3, "clearpath-coaching.co.uk")}
    cols["team"]["specialty"] = [t[4] for t in TEAM]
    cols["team"]["hourly_rate"] = [150.0, 120.0, 180.0, 130.0]

    # ---------------------------------------------------------------- clients and contacts
    n_cl = max(10, n_leads // 3)
    n_lead_co = max(10, n_leads // 4)
    is_co = rng.random(n_cl) < 0.45
    comp = companies(rng, reg, n_cl + n_lead_co, weights=WEIGHTS)
    taken: set = set()
    person = person_rows(rng, reg, clock, n_cl, None, weights=WEIGHTS, taken=taken, days=(30, 700))
    code = np.where(is_co, comp.country[:n_cl], person["_code"])
    cl_created = np.sort(clock.days_ago(n_cl, 30, 700))
    owner = owners_by_country(rng, code, team4)
    billing = reg.unique_emails(np.full(n_cl, "accounts", dtype=object), comp.domain[:n_cl])
    cols["clients"] = {
        "name": np.where(is_co, comp.name(rng.random(len(comp)) < 0.6)[:n_cl],
                         np.array([f"{f} {l}" for f, l in zip(person["first_name"].tolist(), person["last_name"].tolist())], dtype=object)),
        "kind": np.where(is_co, "company", "person").astype(object),
        "status": identities.pick(rng, ["active", "paused", "former"], n_cl, [0.6, 0.1, 0.3]),
        "email": np.where(is_co, billing, person["email"]),
        "phone": np.where(is_co, comp.phones.text[:n_cl], person["phone"]),
        "website": with_none(comp.website()[:n_cl], ~is_co),
        "industry": np.where(is_co, np.where(np.isin(comp.industry[:n_cl], schema.lists["industry"].keys()), comp.industry[:n_cl], "other"),
                             "individual").astype(object),
        "country": np.where(is_co, identities.country_names(comp.country[:n_cl]), person["country"]),
        "city": np.where(is_co, comp.city[:n_cl], person["city"]),
        "address": with_none(comp.address[:n_cl], ~is_co & (rng.random(n_cl) < 0.5)),
        "owner": owner, "source": identities.pick(rng, schema.lists["lead_source"].keys(), n_cl),
        "consent": rng.random(n_cl) < 0.7, "opted_out": rng.random(n_cl) < 0.03,
        "nps": [int(x) if r < 0.4 else None for x, r in zip(np.clip(np.round(rng.normal(8.5, 1.5, n_cl)), 0, 10), rng.random(n_cl))],
        "tags": random_tags(rng, n_cl, schema.lists["tags"].keys(), 0.15), "created": cl_created, "notes": random_notes(rng, n_cl),
    }
    cols["clients"]["consent"] &= ~cols["clients"]["opted_out"]
    cl_ids = np.array(ids("CL", n_cl), dtype=object)
    co_idx = np.flatnonzero(is_co)
    per = rng.integers(1, 4, len(co_idx))
    con_cl = np.repeat(co_idx, per)
    n_con = len(con_cl)
    c_codes = comp.country[con_cl]
    first, last = identities.names(rng, c_codes)
    drawn_last, _ = unique_names(rng, c_codes, first, last, cols["clients"]["name"][con_cl], np.zeros(n_con, dtype=bool),
                                  taken)
    local, drawn_local = identities.email_locals(rng, first, last, np.zeros(n_con, dtype=bool), drawn_last)
    email = reg.unique_emails(local, comp.domain[con_cl], (drawn_local, comp.domain[con_cl]))
    mob = identities.phones(reg, identities.mobile_plans(rng, c_codes, comp.city[con_cl]), c_codes)
    has_mob = rng.random(n_con) < 0.7
    con_created = np.maximum(cl_created[con_cl], clock.days_ago(n_con, 0, 700))
    order = np.argsort(con_created, kind="stable")
    con_ids = np.empty(n_con, dtype=object)
    con_ids[order] = ids("C", n_con)
    titles = ["HR Director", "Head of People", "L&D Manager", "CEO", "Founder", "Operations Director", "Finance Manager", "DRH"]
    contacts = {
        "first_name": first, "last_name": last, "email": email, "phone": comp.phones.text[con_cl],
        "mobile": with_none(mob.text, ~has_mob), "job_title": identities.pick(rng, titles, n_con), "client": cl_ids[con_cl],
        "country": identities.country_names(c_codes), "city": comp.city[con_cl], "owner": owner[con_cl],
        "consent": rng.random(n_con) < 0.7, "opted_out": np.zeros(n_con, dtype=bool),
        "tags": random_tags(rng, n_con, schema.lists["tags"].keys(), 0.1), "created": con_created, "notes": random_notes(rng, n_con),
    }
    cols["contacts"] = {k: np.asarray(v)[order] for k, v in contacts.items()}

    # ---------------------------------------------------------------- enquiries
    lead_co = companies(rng, reg, n_lead_co, weights=WEIGHTS)

    def make(k: int, nm, keep) -> dict:
        rows = person_rows(rng, reg, clock, k, lead_co, company_share=0.5, business_email=0.6, names=nm,
                           keep_names=keep, taken=taken, weights=WEIGHTS)
        age = (clock.today - rows["created"]) // DAY
        st = identities.pick(rng, ["new", "contacted", "qualified", "unqualified", "converted"], k, [0.1, 0.3, 0.2, 0.2, 0.2])
        st = np.where(age < 10, "new", st).astype(object)
        interest = identities.pick(rng, schema.lists["package_category"].keys(), k)
        rows.update({
            "job_title": with_none(identities.pick(rng, titles + ["Manager", "Engineer", "Teacher", "Nurse"], k), rng.random(k) < 0.4),
            "interest": with_none(interest, rng.random(k) < 0.15),
            "budget": np.where(rng.random(k) < 0.5, np.round(np.exp(rng.uniform(np.log(300), np.log(8000), k)), -1), np.nan),
            "message": identities.pick(rng, MESSAGES, k), "source": identities.pick(rng, schema.lists["lead_source"].keys(), k),
            "status": st, "owner": with_none(owners_by_country(rng, rows["_code"], team4), (st == "new") & (rng.random(k) < 0.4)),
            "consent": rng.random(k) < 0.65, "opted_out": rng.random(k) < 0.03,
            "tags": random_tags(rng, k, schema.lists["tags"].keys(), 0.05), "notes": random_notes(rng, k, 0.1),
        })
        rows["consent"] &= ~rows["opted_out"]
        return rows

    cross = make(n_con, None, None)
    ordered = {k: np.asarray(v)[order] for k, v in {"first_name": first, "last_name": last, "email": email}.items()}
    sb = comp.phones
    for key, val in {"first_name": ordered["first_name"], "last_name": ordered["last_name"], "email": ordered["email"],
                     "phone": np.where(has_mob, mob.text, sb.text[con_cl])[order],
                     "company": cols["clients"]["name"][con_cl][order], "_company_base": comp.base[con_cl][order],
                     "_company_suffix": comp.suffix[con_cl][order], "country": cols["contacts"]["country"],
                     "city": cols["contacts"]["city"], "_code": c_codes[order]}.items():
        cross[key] = np.asarray(val, dtype=object)
    cross["_plan"] = np.where(has_mob, mob.plan, sb.plan[con_cl])[order]
    cross["_nsn"] = np.where(has_mob, mob.nsn, sb.nsn[con_cl])[order].astype(object)
    cross["_style"] = np.where(has_mob, mob.style, sb.style[con_cl])[order]
    cross["created"] = con_created[order]
    lead_rows = in_created_order(compose(rng, clock, n_leads, make, reg.default_region,
                                         cross=(cross, np.array(ids("C", n_con), dtype=object))))
    lead_ids = np.array(ids("L", len(lead_rows["created"])), dtype=object)
    dup, ns, verr = truth_pairs("leads", lead_rows, list(lead_ids), "contacts")
    truth.duplicate_pairs |= dup
    truth.distinct_pairs |= ns
    cols["leads"] = lead_rows

    # ---------------------------------------------------------------- packages and engagements
    n_pk = len(PACKAGES)
    cols["packages"] = {
        "name": [p[0] for p in PACKAGES], "category": [p[1] for p in PACKAGES], "price": [float(p[2]) for p in PACKAGES],
        "currency": [cur] * n_pk, "sessions": [p[3] for p in PACKAGES], "session_minutes": [p[4] for p in PACKAGES],
        "weeks": [p[5] for p in PACKAGES], "active": [True] * (n_pk - 1) + [False],
        "description": [f"{p[3]} sessions of {p[4]} minutes over {p[5]} weeks" if p[3] else "Monthly, billed in advance" for p in PACKAGES],
    }
    stages = stage_names(schema)
    won = next(s["stage"] for s in stages if s.get("won"))
    lost = next(s["stage"] for s in stages if s.get("lost"))
    open_st = [s["stage"] for s in stages if not s.get("won") and not s.get("lost")]
    n_e = max(8, n_leads // 3)
    e_cl = rng.integers(0, n_cl, n_e)
    pk = rng.integers(0, n_pk, n_e)
    e_created = np.sort(clock.days_ago(n_e, 0, 540))
    age = (clock.today - e_created) // DAY
    closed = rng.random(n_e) < np.clip(age / 60, 0.1, 0.9)
    is_won = closed & (rng.random(n_e) < 0.65)
    is_lost = closed & ~is_won
    stale = ~closed & (age > 40) & (rng.random(n_e) < 0.5)
    stage = np.where(is_won, won, np.where(is_lost, lost, identities.pick(rng, open_st, n_e))).astype(object)
    e_closed = np.minimum(e_created + rng.integers(5, 45, n_e) * DAY, clock.today)
    close_date = np.where(closed, e_closed, np.maximum(e_created + 30 * DAY, clock.today + rng.integers(2, 40, n_e) * DAY))
    close_date = np.where(stale, clock.today - rng.integers(15, 90, n_e) * DAY, close_date)
    start = e_closed + rng.integers(3, 21, n_e) * DAY
    weeks = np.array([PACKAGES[i][5] for i in pk.tolist()])
    end = start + weeks * 7 * DAY
    status = np.where(~is_won, np.where(is_lost, "cancelled", "proposed"),
                      np.where(end < clock.today, "completed", np.where(start > clock.today, "proposed", "active"))).astype(object)
    status[is_won & (status == "active") & (rng.random(n_e) < 0.07)] = "paused"
    price = np.array([PACKAGES[i][2] for i in pk.tolist()], dtype=float)
    e_code = np.where(is_co[e_cl], comp.country[e_cl], person["_code"][e_cl])
    e_cur = np.where(np.isin(e_code, ["FR", "BE", "DE", "NL", "IE", "ES", "IT"]) & (rng.random(n_e) < 0.7), "EUR", cur).astype(object)
    first_con = np.searchsorted(con_cl, e_cl, side="left")
    n_at = np.searchsorted(con_cl, e_cl, side="right") - first_con
    e_con = with_none(con_ids[np.minimum(first_con + (rng.random(n_e) * np.maximum(n_at, 1)).astype(int), max(n_con - 1, 0))]
                      if n_con else np.full(n_e, None, dtype=object), n_at == 0)
    conv = np.flatnonzero(lead_rows["status"] == "converted")
    e_lead = with_none(lead_ids[conv[rng.integers(0, max(len(conv), 1), n_e)] if len(conv) else np.zeros(n_e, dtype=int)],
                       (rng.random(n_e) > 0.3) | (len(conv) == 0))
    e_ids = np.array(ids("E", n_e), dtype=object)
    cols["engagements"] = {
        "name": np.array([f"{cols['clients']['name'][c]} – {PACKAGES[p][0].split(' – ')[0]}" for c, p in zip(e_cl.tolist(), pk.tolist())], dtype=object),
        "client": cl_ids[e_cl], "contact": e_con, "package": np.array(ids("PK", n_pk), dtype=object)[pk],
        "owner": owner[e_cl], "stage": stage, "status": status, "value": np.round(price * rng.choice([1.0, 1.0, 0.9, 1.1], n_e), 0),
        "currency": e_cur, "probability": np.full(n_e, np.nan), "close_date": close_date,
        "start": nat(start, ~is_won), "end": nat(end, ~is_won),
        "sessions_included": [PACKAGES[p][3] for p in pk.tolist()], "lead": e_lead,
        "next_step": with_none(identities.pick(rng, ["Book the discovery call", "Send the proposal", "Agree the dates"], n_e), closed),
        "created": e_created, "closed": nat(e_closed, ~closed),
        "lost_reason": with_none(identities.pick(rng, ["Price", "Timing", "Went with someone else", "No reply"], n_e), ~is_lost),
    }
    truth.stale_deals = set(e_ids[stale].tolist())

    # ---------------------------------------------------------------- sessions and invoices
    booked = np.flatnonzero(is_won)
    n_sess = np.array([max(PACKAGES[pk[i]][3], 0) for i in booked.tolist()], dtype=int)
    s_e = np.repeat(booked, n_sess)
    k = np.concatenate([np.arange(c) for c in n_sess]) if len(n_sess) else np.zeros(0, dtype=int)
    spacing = np.maximum(weeks[s_e] * 7 // np.maximum(n_sess.repeat(n_sess), 1), 1)
    s_day = start[s_e] + (k * spacing) * DAY
    s_date = s_day + rng.integers(8 * 4, 18 * 4, len(s_e)) * np.timedelta64(15, "m")
    past = s_date < clock.now
    s_status = np.where(past, identities.pick(rng, ["completed", "cancelled", "no_show", "rescheduled"], len(s_e), [0.85, 0.05, 0.04, 0.06]),
                        "scheduled").astype(object)
    s_order = np.argsort(s_date, kind="stable")
    cols["sessions"] = {key: np.asarray(v)[s_order] for key, v in {
        "date": s_date, "duration": [PACKAGES[pk[i]][4] for i in s_e.tolist()], "client": cl_ids[e_cl[s_e]],
        "engagement": e_ids[s_e], "contact": e_con[s_e], "owner": owner[e_cl[s_e]],
        "mode": identities.pick(rng, ["video", "in_person", "phone"], len(s_e), [0.6, 0.3, 0.1]), "status": s_status,
        "paid": (s_status == "completed") & (rng.random(len(s_e)) < 0.85),
        "notes": with_none(identities.pick(rng, ["Good progress", "Set goals for next time", "Worked on feedback"], len(s_e)), rng.random(len(s_e)) < 0.6),
    }.items()}
    n_inv = np.where(rng.random(len(booked)) < 0.4, 2, 1)
    i_e = np.repeat(booked, n_inv)
    part = np.concatenate([np.arange(c) for c in n_inv]) if len(n_inv) else np.zeros(0, dtype=int)
    issue = np.minimum(e_closed[i_e] + part * 30 * DAY, clock.today)
    due = issue + 30 * DAY
    paid = (due < clock.today + 10 * DAY) & (rng.random(len(i_e)) < 0.8)
    i_status = np.where(paid, "paid", np.where(due < clock.today, "overdue", "sent")).astype(object)
    i_status[(rng.random(len(i_e)) < 0.02)] = "cancelled"
    i_order = np.argsort(issue, kind="stable")
    value = cols["engagements"]["value"]
    inv = {
        "client": cl_ids[e_cl[i_e]], "engagement": e_ids[i_e], "issue_date": issue, "due_date": due,
        "amount": np.round(value[i_e] / n_inv.repeat(n_inv), 2), "currency": e_cur[i_e], "status": i_status,
        "paid_on": nat(np.minimum(issue + rng.integers(3, 35, len(i_e)) * DAY, clock.today), i_status != "paid"),
        "notes": with_none(identities.pick(rng, ["Paid by bank transfer", "PO number required", "Paid by card"], len(i_e)), rng.random(len(i_e)) < 0.7),
    }
    cols["invoices"] = {key: np.asarray(v)[i_order] for key, v in inv.items()}
    years = pd.DatetimeIndex(cols["invoices"]["issue_date"]).year.to_numpy()
    cols["invoices"]["number"] = np.array([f"INV-{y}-{i + 1:05d}" for i, y in enumerate(years.tolist())], dtype=object)

    # ---------------------------------------------------------------- activities, tasks
    n_act = max(10, int(1.5 * n_leads))
    n_l = len(lead_ids)
    to_lead = rng.random(n_act) < 0.5
    li = rng.integers(0, n_l, n_act)
    ci = rng.integers(0, n_cl, n_act)
    a_start = np.where(to_lead, lead_rows["created"][li], cl_created[ci])
    a_date = clock.between(a_start)
    a_type = identities.pick(rng, ["email", "call", "meeting", "note", "chat"], n_act, [0.4, 0.25, 0.15, 0.15, 0.05])
    channel = np.select([a_type == "call", a_type == "email", a_type == "chat", a_type == "meeting"], ["phone", "email", "chat", "video"], None).astype(object)
    a_order = np.argsort(a_date, kind="stable")
    cols["activities"] = {key: np.asarray(v)[a_order] for key, v in {
        "date": a_date, "type": a_type, "channel": channel,
        "direction": with_none(identities.pick(rng, ["inbound", "outbound"], n_act), np.isin(a_type, ["note", "meeting"])),
        "subject": identities.pick(rng, ["Discovery call", "Proposal", "Scheduling", "Follow-up", "Feedback"], n_act),
        "summary": with_none(identities.pick(rng, pools.NOTES, n_act), rng.random(n_act) < 0.5),
        "lead": with_none(lead_ids[li], ~to_lead), "client": with_none(cl_ids[ci], to_lead),
        "owner": np.where(to_lead, identities.pick(rng, names, n_act), owner[ci]),
    }.items()}
    act = pd.DataFrame({"lead": cols["activities"]["lead"], "date": cols["activities"]["date"]}).dropna()
    last = act.groupby("lead")["date"].max().dt.normalize()
    lead_rows["last_contacted"] = pd.Series(lead_ids).map(last).to_numpy(dtype="datetime64[ns]")
    n_task = max(5, n_leads // 5)
    t_created = np.sort(clock.days_ago(n_task, 0, 90))
    t_status = identities.pick(rng, ["open", "in_progress", "done", "cancelled"], n_task, [0.35, 0.1, 0.5, 0.05])
    cols["tasks"] = {
        "title": identities.pick(rng, ["Send the invoice", "Prepare the session", "Call back", "Send the proposal", "Ask for a testimonial"], n_task),
        "due": t_created + rng.integers(1, 21, n_task) * DAY, "owner": identities.pick(rng, names, n_task), "status": t_status,
        "priority": identities.pick(rng, ["low", "normal", "high"], n_task, [0.25, 0.55, 0.2]),
        "related": np.where(rng.random(n_task) < 0.5, lead_ids[rng.integers(0, n_l, n_task)], cl_ids[rng.integers(0, n_cl, n_task)]).astype(object),
        "created": t_created, "completed": nat(np.minimum(t_created + rng.integers(0, 20, n_task) * DAY, clock.today), t_status != "done"),
    }
    extra = {"verr": verr, "person_table": "leads",
             "other_phone_keys": ("contacts", [f"{p}:{s}" for p, s in zip(sb.plan[con_cl][order].tolist(), sb.nsn[con_cl][order].tolist())])}
    return cols, truth, names, extra
