"""Sample data for the personal template: someone in France keeping in touch with the people they know.

People (mostly in France, with friends abroad) with planted duplicates, birthdays and keep-in-touch
intervals; interactions over 18 months (last contacted follows from them); reminders.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crm_sheets.model.schema import Schema
from crm_sheets.model.tables import format_id
from crm_sheets.sample import identities, pools
from crm_sheets.sample.companies import companies
from crm_sheets.sample.frames import DAY, Clock, nat, with_none
from crm_sheets.sample.person_rows import compose, in_created_order, person_rows, truth_pairs
from crm_sheets.sample.sales import random_tags, team_columns
from crm_sheets.sample.truth import SampleTruth

OWNER = "Alex Morgan"
WEIGHTS = {"FR": 0.7, "BE": 0.05, "CH": 0.05, "GB": 0.06, "DE": 0.04, "ES": 0.03, "IT": 0.03, "US": 0.03, "CA": 0.01}
HOW_WE_MET = ["School", "University", "Work", "Through friends", "Neighbours", "Tennis club", "A wedding", "Travelling",
              "Our kids' school", "A conference", "Choir", None]
INTERACTION_NOTES = ["Caught up over coffee", "Birthday call", "Talked about the new job", "Planned a trip", "Sent photos",
                     "Dinner at their place", "Helped with the move", "Quick chat", None]
REMINDERS = ["Send a birthday card", "Call to catch up", "Return the book", "Invite for dinner", "Ask about the new job",
             "Congratulate on the baby", "Send the photos"]


def generate_personal(schema: Schema, n_people: int, rng: np.random.Generator, clock: Clock, reg: identities.Registry):
    truth = SampleTruth()
    cols: dict[str, dict] = {"team": team_columns(rng, reg, [(OWNER, "admin", "FR", 1.0)], n_people, "example.org")}
    del cols["team"]["territory"], cols["team"]["capacity"], cols["team"]["away"]
    employers = companies(rng, reg, max(10, n_people // 10), weights=WEIGHTS)
    taken: set = set()
    rel_keys = schema.lists["relationship"].keys()

    def make(k: int, nm, keep) -> dict:
        rows = person_rows(rng, reg, clock, k, employers, company_share=0.4, business_email=0.15, switchboard_share=0.0,
                           names=nm, keep_names=keep, taken=taken, days=(0, 900), weights=WEIGHTS)
        age_years = rng.uniform(18, 80, k)
        birthday = (clock.today - (age_years * 365.25).astype(int) * DAY).astype("datetime64[D]").astype("datetime64[ns]")
        first = rows["first_name"]
        nick = np.array([pools.NICKNAMES.get(f) if r < 0.5 else None for f, r in zip(first.tolist(), rng.random(k).tolist())], dtype=object)
        rows.update({
            "nickname": nick, "birthday": nat(birthday, rng.random(k) < 0.35),
            "how_we_met": identities.pick(rng, HOW_WE_MET, k), "relationship": identities.pick(rng, rel_keys, k),
            "tags": random_tags(rng, k, schema.lists["tags"].keys(), 0.3),
            "keep_in_touch_days": [int(x) if r < 0.5 else None for x, r in
                                   zip(identities.pick(rng, [14, 30, 60, 90, 180, 365], k).tolist(), rng.random(k).tolist())],
            "opted_out": rng.random(k) < 0.02,
            "notes": with_none(identities.pick(rng, ["Two kids", "Loves hiking", "Vegetarian", "Moved abroad last year", "Plays the cello"], k),
                               rng.random(k) < 0.7),
        })
        return rows

    rows = in_created_order(compose(rng, clock, n_people, make, reg.default_region))
    pids = np.array([format_id("P", i + 1) for i in range(len(rows["created"]))], dtype=object)
    dup, ns, verr = truth_pairs("people", rows, list(pids))
    truth.duplicate_pairs |= dup
    truth.distinct_pairs |= ns
    cols["people"] = rows
    n = len(pids)

    n_int = 3 * n_people
    who = rng.integers(0, n, n_int)
    when = clock.between(rows["created"][who])
    order = np.argsort(when, kind="stable")
    cols["interactions"] = {k: np.asarray(v)[order] for k, v in {
        "date": when, "person": pids[who], "channel": identities.pick(rng, schema.lists["channel"].keys(), n_int),
        "notes": identities.pick(rng, INTERACTION_NOTES, n_int), "follow_up": rng.random(n_int) < 0.1}.items()}
    last = pd.Series(cols["interactions"]["date"]).groupby(cols["interactions"]["person"]).max().dt.normalize()
    rows["last_contacted"] = pd.Series(pids).map(last).to_numpy(dtype="datetime64[ns]")

    n_rem = max(5, n_people // 4)
    r_date = clock.today + rng.integers(-60, 60, n_rem) * DAY
    r_order = np.argsort(r_date, kind="stable")
    cols["reminders"] = {k: np.asarray(v)[r_order] for k, v in {
        "date": r_date, "person": with_none(pids[rng.integers(0, n, n_rem)], rng.random(n_rem) < 0.1),
        "what": identities.pick(rng, REMINDERS, n_rem), "done": (r_date < clock.today) & (rng.random(n_rem) < 0.8),
        "repeat": identities.pick(rng, ["none", "yearly", "monthly"], n_rem, [0.7, 0.2, 0.1]), "owner": np.full(n_rem, OWNER, dtype=object)}.items()}
    return cols, truth, [OWNER], {"verr": verr, "person_table": "people"}
