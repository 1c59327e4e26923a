"""Drip sequences: a campaign with ordered steps (Sequence Steps sheet: campaign, step, template, delay).

Each member of such a campaign advances at most one step per run, when its next email is due: the
step's email is queued, Campaign Members step/next_due move on. A member stops when it replied (or
reached a Stop on status), unsubscribed or bounced; opted-out or non-consenting people never receive.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from crm_sheets.jobs.automate import actions
from crm_sheets.jobs.automate.context import Run
from crm_sheets.jobs.automate.rules import BadRule, is_active, per_value, rule_rows, text
from crm_sheets.model.normalize import fold
from crm_sheets.model.values import fold_option, option_lookup, parse_number

ALWAYS_STOP = {"unsubscribed", "bounced"}
INACTIVE_CAMPAIGN = {"completed", "cancelled"}


@dataclass(frozen=True)
class Step:
    number: int
    template: actions.EmailTemplate
    delay_days: int
    stop_on: frozenset[str]  # member or lead status keys; 'replied' also means a Responded date


def compile_sequences(run: Run, awaited: set[str] = frozenset()) -> dict[str, list[Step]]:
    """Campaign ID -> its steps in order. A bad step row is reported and its campaign is skipped.

    ``awaited``: folded names of campaigns an Add to campaign automation will create on first use;
    their steps wait quietly until then."""
    t = run.tables.get("sequence_steps")
    if t is None:
        return {}
    statuses = {}
    for lst in ("member_status", "lead_status"):
        if lst in run.tables.schema.lists:
            statuses.update(option_lookup(run.tables.list(lst)))
    steps: dict[str, list[Step]] = {}
    broken: set[str] = set()
    for rid, row in rule_rows(t):
        if not is_active(row):
            continue
        name = text(row.get("campaign"))
        cid = actions.find_campaign(run, name)
        if cid is None and fold(name) in awaited:
            continue
        try:
            if cid is None:
                raise BadRule("campaign", name or None, f'"{name}" is not a campaign yet' if name else "the step names no campaign",
                              "write a campaign's name or ID (an Add to campaign automation creates it on first use)")
            n = parse_number(text(row.get("step")))
            if n is None or not float(n).is_integer() or n < 1:
                raise BadRule("step", text(row.get("step")) or None, "the step has no number", "number the steps 1, 2, 3 ...")
            delay = parse_number(text(row.get("delay_days")) or "0")
            if delay is None or delay < 0:
                raise BadRule("delay_days", text(row.get("delay_days")), "the delay is not a number of days", "write the days to wait, e.g. 3")
            tpl = actions.email_template(run, text(row.get("template")))
            stop = set()
            for word in [w for w in re.split(r"\s*[,;]\s*", text(row.get("stop_on"))) if w]:
                k = statuses.get(fold_option(word))
                if k is None:
                    raise BadRule("stop_on", word, f'"{word}" is not a member or lead status', "write e.g. replied, converted")
                stop.add(k)
        except BadRule as exc:
            run.bad("sequence_steps", rid, exc)
            if cid is not None:
                broken.add(cid)
            continue
        steps.setdefault(cid, []).append(Step(int(n), tpl, int(delay), frozenset(stop)))
    return {cid: sorted(s, key=lambda x: x.number) for cid, s in steps.items() if cid not in broken}


def advance_sequences(run: Run, sequences: dict[str, list[Step]]) -> None:
    members = run.tables.get("campaign_members")
    if not sequences or members is None:
        return
    campaigns = run.tables["campaigns"].df
    df = members.df
    # Only members of a sequence's campaign: a look at every member of every campaign took seconds at 100k leads.
    # (text() once per distinct campaign cell, not once per member)
    in_sequence = per_value(df["campaign"], lambda v: text(v) in sequences) if "campaign" in df.columns else []
    # Their rows as plain dicts, read once (a row Series per member and a date parse per cell were most of the job's
    # time at 100k leads); what a member's steps stop on, and a campaign's status, once per campaign.
    sub = df[in_sequence] if len(in_sequence) else df.iloc[:0]
    rows = zip(sub.index, sub.to_dict("records"))
    stops = {cid: _stop_set(steps) for cid, steps in sequences.items()}
    active: dict[str, bool] = {}
    statuses: dict[str, Any] = {}
    for mid, m in rows:
        cid = text(m.get("campaign"))
        steps = sequences.get(cid)
        if not steps:
            continue
        if cid not in active:
            active[cid] = text(campaigns.at[cid, "status"] if "status" in campaigns.columns else "") not in INACTIVE_CAMPAIGN
        if not active[cid]:
            continue
        person_table, person = ("leads", text(m.get("lead"))) if text(m.get("lead")) else ("contacts", text(m.get("contact")))
        if not person or person_table not in run.tables or person not in run.tables[person_table].df.index:
            continue
        if _stopped(run, m, person_table, person, stops[cid], statuses):
            run.count("sequence_stopped")
            continue
        current = int(m.get("step")) if not pd.isna(m.get("step")) else 0
        upcoming = [s for s in steps if s.number > current]
        if not upcoming:
            continue
        step = upcoming[0]
        start = _when(m.get("added"))
        due = _when(m.get("next_due"))
        if pd.isna(due):
            due = (run.today if pd.isna(start) else start.normalize()) + pd.Timedelta(days=step.delay_days)
        if due > run.today:
            if pd.isna(m.get("next_due")):
                run.set("campaign_members", mid, "next_due", due, reason="sequence", audit=False)
            continue
        key = f"seq:{cid}:{mid}:{step.number}"
        if run.has_fired(key):
            continue
        name = text(campaigns.at[cid, "name"]) if "name" in campaigns.columns else cid
        sent = actions.send_email(run, step.template, person_table, person, key, name, marketing=True,
                                  extra={"campaign": name, "step": step.number})
        run.mark(key)
        if not sent:
            run.count("sequence_not_allowed")
            continue  # opted out or no consent: never sent, and the member does not move on
        later = [s for s in steps if s.number > step.number]
        run.set("campaign_members", mid, "step", step.number, reason="sequence", audit=False)
        run.set("campaign_members", mid, "next_due", run.today + pd.Timedelta(days=later[0].delay_days) if later else None, reason="sequence", audit=False)
        if text(m.get("status")) in ("", "added"):
            run.set("campaign_members", mid, "status", "sent", reason=f"sequence {name} step {step.number}")
        run.count("sequence_emails")


def _when(value: Any) -> Any:
    """pd.to_datetime(value, errors="coerce") of one cell, without its cost for a date the reader typed already."""
    if value.__class__ is pd.Timestamp:
        return value
    if value is None or value is pd.NaT:
        return pd.NaT
    return pd.to_datetime(value, errors="coerce")


def _stop_set(steps: list[Step]) -> tuple[set[str], set[str]]:
    """What a sequence's steps stop on, and the same folded (a person's status is compared folded)."""
    stop_on = set().union(*(s.stop_on for s in steps))
    return stop_on, {fold(s) for s in stop_on}


def _stopped(run: Run, m: Mapping[str, Any], person_table: str, person: str, stop: tuple[set[str], set[str]],
             statuses: dict[str, Any]) -> bool:
    status = text(m.get("status"))
    if status in ALWAYS_STOP:
        return True
    stop_on, folded = stop
    if "replied" in stop_on and not pd.isna(_when(m.get("responded"))):
        return True
    if status in stop_on:
        return True
    people = run.tables[person_table].df
    if "status" not in people.columns:
        return False
    if person_table not in statuses:  # one lookup table per person table, when its IDs are distinct
        statuses[person_table] = dict(zip(people.index, people["status"])) if people.index.is_unique else None
    known = statuses[person_table]
    person_status = text(known[person] if known is not None else people.at[person, "status"])
    return bool(person_status) and fold(person_status) in folded
