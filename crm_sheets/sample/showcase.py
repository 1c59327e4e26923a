"""Sample records that make the sales template's example automations fire on a first run.

A first automate run counts records created today or yesterday as new (docs/design.md), so a few
clean records of the sample are moved to today: consenting web-form leads (welcome email, nurture
sequence), a deal at Proposal whose contact can receive email (follow-up task, proposal email), a deal
won today (chat note), and an open task due this week for each team member (weekly digest). Quiet
Contacted leads (nudge task) are already plentiful. Records carrying planted errors, duplicates or
look-alikes are never touched, and no random number is drawn, so the truth stays as planted.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crm_sheets.model.schema import Schema
from crm_sheets.sample.french import PHRASES
from crm_sheets.sample.frames import stage_names
from crm_sheets.sample.truth import SampleTruth

NEW_LEADS = 3
DIGEST_DAYS = 7


def plant_showcase(schema: Schema, tables: dict[str, pd.DataFrame], truth: SampleTruth, now: pd.Timestamp,
                   lang: str = "en") -> dict[str, list[str]]:
    """Move a few clean sales records to today; returns their IDs by purpose (for tests and docs)."""
    today = pd.Timestamp(now).normalize()
    spared = truth.duplicate_records() | {(t, i) for p in truth.distinct_pairs for t, i in (p[:2], p[2:])}
    spared |= {(e.table, e.record_id) for e in truth.errors}
    acts = tables.get("activities")
    touched = set(acts["lead"].dropna()) | set(acts["deal"].dropna()) if acts is not None else set()
    out = {"web_form_leads": _web_form_leads(tables["leads"], spared, touched, today)}
    out |= _deals(schema, tables, spared, touched, truth, today, lang)
    out["digest_tasks"] = _tasks_due_this_week(tables["tasks"], tables["team"], today)
    return out


def _clean(table: str, df: pd.DataFrame, spared: set, touched: set) -> list[str]:
    """Record IDs, latest first, free of anything planted and of any activity."""
    return [rid for rid in reversed(df.index.tolist()) if (table, rid) not in spared and rid not in touched]


def _web_form_leads(leads: pd.DataFrame, spared: set, touched: set, today: pd.Timestamp) -> list[str]:
    ok = leads["status"].eq("new") & leads["email"].map(lambda v: isinstance(v, str)) & leads["campaign"].isna()
    chosen = [rid for rid in _clean("leads", leads, spared, touched) if ok[rid]][:NEW_LEADS]
    for rid in chosen:
        leads.loc[rid, ["source", "consent", "opted_out"]] = ["web_form", True, False]
        leads.at[rid, "created"] = today
    return chosen


def _deals(schema: Schema, tables: dict[str, pd.DataFrame], spared: set, touched: set, truth: SampleTruth,
           today: pd.Timestamp, lang: str) -> dict[str, list[str]]:
    deals, contacts, accounts = tables["deals"], tables["contacts"], tables["accounts"]
    names = {s_en["stage"]: s["stage"] for s_en, s in zip(stage_names(schema), stage_names(schema, lang=lang))}
    won = next((s["stage"] for s in stage_names(schema, lang=lang) if s.get("won")), None)
    proposal = names.get("Proposal")
    ordered = set(tables["orders"]["deal"].dropna()) if "orders" in tables else set()
    candidates = [rid for rid in _clean("deals", deals, spared, touched) if rid not in ordered and rid not in truth.stale_deals]

    def reachable(cid) -> bool:  # a contact the proposal email can go to
        return (isinstance(cid, str) and cid in contacts.index and ("contacts", cid) not in spared
                and isinstance(contacts.at[cid, "email"], str) and bool(contacts.at[cid, "consent"])
                and not bool(contacts.at[cid, "opted_out"]))

    out: dict[str, list[str]] = {"proposal_deals": [], "won_deals": []}
    if proposal:
        rid = next((r for r in candidates if reachable(deals.at[r, "contact"])), None)
        if rid is not None:
            step = PHRASES["Follow up on pricing"] if lang == "fr" else "Follow up on pricing"
            _set(deals, rid, stage=proposal, created=today, closed=pd.NaT, close_date=today + pd.Timedelta(days=30),
                 probability=np.nan, lost_reason=None, next_step=step)
            out["proposal_deals"].append(rid)
    if won:
        customers = set(accounts.index[accounts["type"].eq("customer")])
        rest = [r for r in candidates if r not in out["proposal_deals"]]
        rid = next((r for r in rest if deals.at[r, "account"] in customers), rest[0] if rest else None)
        if rid is not None:
            _set(deals, rid, stage=won, created=today, closed=today, close_date=today, probability=np.nan,
                 lost_reason=None, next_step=None)
            out["won_deals"].append(rid)
    return out


def _set(df: pd.DataFrame, rid: str, **values) -> None:
    for k, v in values.items():
        if k in df.columns:
            df.at[rid, k] = v


def _tasks_due_this_week(tasks: pd.DataFrame, team: pd.DataFrame, today: pd.Timestamp) -> list[str]:
    """An open task due by Sunday for every team member who has none: each one gets a digest."""
    end = today + pd.Timedelta(days=6 - today.weekday())
    due = pd.to_datetime(tasks["due"], errors="coerce")
    open_ = tasks["status"].isin(["open", "in_progress"])
    chosen: list[str] = []
    latest = [rid for rid in reversed(tasks.index.tolist()) if not open_[rid] or due[rid] > end]
    for i, member in enumerate(team["name"].tolist()):
        if (open_ & tasks["owner"].eq(member) & (due <= end)).any() or not latest:
            continue
        rid = latest.pop(0)
        _set(tasks, rid, owner=member, status="open", due=today + pd.Timedelta(days=i % ((end - today).days + 1)),
             completed=pd.NaT)
        chosen.append(rid)
    return chosen
