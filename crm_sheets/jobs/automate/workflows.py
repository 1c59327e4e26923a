"""Workflow automations from the Automations sheet: when a trigger fires for a record and the condition
holds, the action runs once for that (rule, record, trigger value) — the idempotency key.

Triggers: record created, field changed (to a value), date reached (N days before/after a date
column), no activity for N days, form submitted (a new web-form lead), a weekly or daily schedule.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.jobs.automate import actions
from crm_sheets.jobs.automate.context import ACTIVITY_LINK, Run
from crm_sheets.jobs.automate.rules import BadRule, Condition, all_match, find_field, is_active, parse_conditions, rule_rows, slug, text
from crm_sheets.jobs.automate.snapshot import canonical, canonical_column, new_records, previous
from crm_sheets.jobs.automate.templates import TemplateProblem, cell, check_template
from crm_sheets.model import Field
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import fold
from crm_sheets.model.values import fold_option, option_lookup, parse_checkbox, parse_number

TRIGGERS = ("record_created", "field_changed", "date_reached", "no_activity", "form_submitted", "schedule")
ACTIONS = ("create_task", "set_field", "send_email", "notify_chat", "post_webhook", "add_to_campaign", "send_digest")
WEEKDAYS = {
    "monday": 0, "lundi": 0, "tuesday": 1, "mardi": 1, "wednesday": 2, "mercredi": 2, "thursday": 3, "jeudi": 3,
    "friday": 4, "vendredi": 4, "saturday": 5, "samedi": 5, "sunday": 6, "dimanche": 6,
}
DAILY = {"daily", "every day", "each day", "chaque jour", "tous les jours", "quotidien"}
BEFORE = {"before", "avant"}


@dataclass
class Automation:
    rid: str
    name: str
    key: str  # slug of the name: the rule part of every idempotency key
    table: str
    trigger: str
    trigger_field: Field | None = None
    trigger_values: set[str] | None = None  # canonical values that fire a field change (None: any change)
    days: int = 0
    weekday: int | None = None  # schedule: None = every day
    conditions: list[Condition] = field(default_factory=list)
    action: str = ""
    template: str = ""
    assign_to: str = ""
    due_in_days: int | None = None
    email: Any = None  # actions.EmailTemplate for send_email / send_digest (None: a digest to the chat only)
    chat: bool = False  # send_digest: post each digest to the team chat too
    set_to: tuple[str, Any] | None = None


def watched(automations: list[Automation]) -> dict[str, set[str]]:
    """Tables (and fields) the snapshot must keep for these automations."""
    out: dict[str, set[str]] = {}
    for a in automations:
        if a.trigger in ("record_created", "form_submitted", "field_changed"):
            out.setdefault(a.table, set())
        if a.trigger == "form_submitted":  # a form that updated an existing record logs an Activity
            out.setdefault("activities", set())
        if a.trigger == "field_changed" and a.trigger_field is not None:
            out[a.table].add(a.trigger_field.name)
    return out


def compile_automations(run: Run) -> list[Automation]:
    t = run.tables.get("automations")
    out: list[Automation] = []
    keys: set[str] = set()
    for rid, row in rule_rows(t):
        if not is_active(row):
            continue
        try:
            a = _compile(run, rid, row)
        except BadRule as exc:
            run.bad("automations", rid, exc)
            continue
        if a.key in keys:  # two rules with one name must not share idempotency keys
            a.key = f"{a.key}-{rid}"
        keys.add(a.key)
        out.append(a)
    return out


def _key(run: Run, list_name: str, raw: Any) -> str:
    s = text(raw)
    if list_name in run.tables.schema.lists:
        return option_lookup(run.tables.list(list_name)).get(fold_option(s), s)
    return s


def _compile(run: Run, rid: str, row: dict[str, Any]) -> Automation:
    name = text(row.get("name")) or rid
    table = _key(run, "rule_table", row.get("table"))
    if table not in run.tables or not run.tables[table].schema.id_prefix:
        raise BadRule("table", text(row.get("table")) or None, f'"{text(row.get("table"))}" is not a table of this workbook', "choose Leads, Contacts, Accounts, Deals or Tasks")
    schema = run.tables[table].schema
    trigger = _key(run, "automation_trigger", row.get("trigger"))
    if trigger not in TRIGGERS:
        raise BadRule("trigger", text(row.get("trigger")) or None, f'"{text(row.get("trigger"))}" is not a trigger', "choose one from the list")
    a = Automation(rid, name, slug(name), table, trigger)
    fname = text(row.get("trigger_field"))
    if trigger in ("field_changed", "date_reached"):
        if not fname:
            raise BadRule("trigger_field", None, f"the trigger {trigger} needs the column to watch", f"fill in Trigger field with a column of {schema.sheet_name(run.lang)}")
        a.trigger_field = find_field(schema, fname)
        if a.trigger_field is None:
            raise BadRule("trigger_field", fname, f'"{fname}" is not a column of {schema.sheet_name(run.lang)}', "write one of its column names")
    days = text(row.get("days"))
    if days:
        n = parse_number(days)
        if n is None or not float(n).is_integer():
            raise BadRule("days", days, f'"{days}" is not a whole number of days', "write a number such as 14")
        a.days = int(n)
    value = text(row.get("trigger_value"))
    if trigger == "field_changed" and value:
        a.trigger_values = _trigger_values(run, a.trigger_field, value)
    elif trigger == "date_reached":
        if not field_type(a.trigger_field.type).temporal:
            raise BadRule("trigger_field", fname, f"{a.trigger_field.name} is not a date column", "choose a date column such as close_date")
        if fold(value) in BEFORE:
            a.days = -abs(a.days)
    elif trigger == "no_activity" and not days:
        raise BadRule("days", None, "the trigger no_activity needs a number of days", "fill in Days, e.g. 14")
    elif trigger == "schedule":
        v = fold(value)
        if v and v not in DAILY and v not in WEEKDAYS:
            raise BadRule("trigger_value", value, f'"{value}" is not a day of the week', "write a day such as Monday, or daily")
        a.weekday = WEEKDAYS.get(v, 0 if not v else None)
    a.conditions = parse_conditions(run.tables, schema, row.get("condition"))
    a.action = _key(run, "automation_action", row.get("action"))
    if a.action not in ACTIONS:
        raise BadRule("action", text(row.get("action")) or None, f'"{text(row.get("action"))}" is not an action', "choose one from the list")
    a.template = text(row.get("template"))
    a.assign_to = text(row.get("assign_to"))
    due = text(row.get("due_in_days"))
    a.due_in_days = int(parse_number(due) or 0) if due else None
    if a.action == "send_email":
        a.email = actions.email_template(run, a.template)
    elif a.action == "send_digest":
        a.email, a.chat = actions.digest_channels(run, a.template)
    elif a.action in ("create_task", "notify_chat") and a.template:
        try:
            check_template(a.template)
        except TemplateProblem as exc:
            raise BadRule("template", a.template, str(exc), "fix the {{ merge fields }}") from None
    elif a.action == "set_field":
        a.set_to = actions.compile_set_field(run, table, a.template)
    elif a.action == "post_webhook":
        actions.check_url(a.template)
    elif a.action == "add_to_campaign":
        actions.check_campaign(run, a.template, table)
    if a.action == "create_task":
        actions.check_task_owner(run, a.assign_to, table)
    if a.action == "send_digest" and trigger != "schedule":
        raise BadRule("trigger", text(row.get("trigger")), "a digest goes out on a schedule", "choose the Every week trigger")
    return a


def _trigger_values(run: Run, f: Field, value: str) -> set[str]:
    """The values a field change must reach; dropdown labels of any language become keys."""
    listed = field_type(f.type).options and f.list
    parts = [value] if not listed else [p for p in re.split(r"\s*[,;]\s*", value) if p]
    out = set()
    for p in parts:
        if listed:
            k = option_lookup(run.tables.list(f.list)).get(fold_option(p))
            if k is None:
                lst = run.tables.list(f.list)
                raise BadRule("trigger_value", p, f'"{p}" is not in the {lst.label(run.lang)} list', f"use one of {', '.join(lst.labels(run.lang))}")
            out.add(canonical(k))
        elif field_type(f.type).boolean:
            b = parse_checkbox(p)
            if b is None:
                raise BadRule("trigger_value", p, f'"{p}" is not TRUE or FALSE', "write TRUE or FALSE")
            out.add(canonical(b))
        else:
            out.add(canonical(p))
    return out


# ---------------------------------------------------------------------------------------------
# Triggers: which records fire now, each with its trigger value (part of the idempotency key)


def firing(run: Run, a: Automation, prev_state: dict, memory: Any = None) -> list[tuple[str, str]]:
    """(record ID, trigger value) of the records rule ``a`` fires for now; ``memory`` (evaluated.py) narrows the
    records a no-activity or schedule rule looks at to those whose values or dates moved since the last run."""
    t = run.tables[a.table]
    df = t.df
    if a.trigger in ("record_created", "form_submitted"):
        new = new_records(run.tables, a.table, prev_state, run.now)
        if a.trigger == "form_submitted":
            new = {r for r in new if "source" in df.columns and cell(df, r, "source") == "web_form"}
            return [(r, "form") for r in df.index if r in new] + _form_activities(run, a, prev_state, new)
        return [(r, "created") for r in df.index if r in new]
    if a.trigger == "field_changed":
        return _changed(run, a, prev_state)
    if a.trigger == "date_reached":
        last = prev_state.get("last_run")
        since = pd.Timestamp(last).normalize() if last else run.today - pd.Timedelta(days=1)
        dates = pd.to_datetime(df[a.trigger_field.name], errors="coerce").dt.normalize()
        target = dates + pd.Timedelta(days=a.days)
        hit = ((target > since) & (target <= run.today)).fillna(False).to_numpy(dtype=bool)
        return [(r, canonical(d)) for r, d in zip(df.index[hit], dates[hit])]
    if a.trigger == "no_activity":
        last = last_touch(run, a.table)
        only = memory.candidates(a, last=last) if memory is not None else None
        if only is not None:
            last = last[last.index.isin(list(only))]
        quiet = (last <= run.today - pd.Timedelta(days=a.days)).fillna(False).to_numpy(dtype=bool)
        return list(zip(last.index[quiet], canonical_column(last[quiet])))
    if a.trigger == "schedule":
        period = _period(run, a)
        if period is None or a.action == "send_digest":
            return [("*", period)] if period else []
        only = memory.candidates(a, period=period) if memory is not None else None
        return [(r, period) for r in df.index if only is None or r in only]
    return []


def _form_activities(run: Run, a: Automation, prev_state: dict, new: set[str]) -> list[tuple[str, str]]:
    """Existing records a web form updated (the form's submission logged as a new "form" Activity): each
    submission fires once, its Activity ID being the trigger value. New records fire as created ("form")."""
    acts = run.tables.get("activities")
    if acts is None or "type" not in acts.df.columns:
        return []
    link = next((f.name for f in acts.schema.fields if field_type(f.type).links_to == "record" and f.reference == a.table), None)
    if link is None or link not in acts.df.columns:
        return []
    df = acts.df
    if previous(prev_state, "activities") is not None:
        fresh = new_records(run.tables, "activities", prev_state, run.now)
        mask = df.index.isin(list(fresh))
    elif "date" in df.columns:  # no snapshot of activities yet: the ones of today and yesterday are new
        dates = pd.to_datetime(df["date"], errors="coerce")
        mask = (dates >= run.today - pd.Timedelta(days=1)).fillna(False).to_numpy(dtype=bool)
    else:
        return []
    hit = df[mask & (df["type"].astype(object) == "form").to_numpy(dtype=bool)]
    records = run.tables[a.table].df.index
    return [(str(rec), str(aid)) for aid, rec in zip(hit.index, hit[link])
            if isinstance(rec, str) and rec in records and rec not in new]


def _period(run: Run, a: Automation) -> str | None:
    """This week's (or day's) period once its day has come; None before it. A missed day still fires later that week."""
    if a.weekday is None:
        return run.today.date().isoformat()
    if run.today.weekday() < a.weekday:
        return None
    year, week, _ = run.today.isocalendar()
    return f"{year}-W{week:02d}"


def _changed(run: Run, a: Automation, prev_state: dict) -> list[tuple[str, str]]:
    df = run.tables[a.table].df
    fname = a.trigger_field.name
    if fname not in df.columns:
        return []
    prev_table = previous(prev_state, a.table) or {}
    before = (prev_table.get("fields") or {}).get(fname)
    new = new_records(run.tables, a.table, prev_state, run.now)
    if before is None and (a.trigger_values is None or not new):
        return []  # no baseline for this field yet, and no new record that could reach a named value
    ids, values = df.index, canonical_column(df[fname])
    if a.trigger_values is not None:  # only the records at a named value can fire (a few of 100,000 leads)
        at = [i for i, v in enumerate(values) if v in a.trigger_values]
        ids, values = ids[at], [values[i] for i in at]
    out = []
    for rid, now_value in zip(ids, values):
        if rid in new:  # a new record arrives with its value: it reached it (only a named value fires)
            if a.trigger_values is not None:
                out.append((rid, now_value))
            continue
        if before is None:
            continue  # no baseline for this field yet: this run records it
        old = before.get(rid)
        if old is not None and old != now_value:
            out.append((rid, now_value))
    return out


def last_touch(run: Run, table: str) -> pd.Series:
    """The latest activity linked to each record; else its Last contacted, else its Created date."""
    df = run.tables[table].df
    last = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    acts = run.tables.get("activities")
    link = ACTIVITY_LINK.get(table)
    if acts is not None and link in acts.df.columns and "date" in acts.df.columns:
        dates = pd.to_datetime(acts.df["date"], errors="coerce")
        last = _latest_by_record(acts.df[link], dates, df.index)
        if last is None:
            a = acts.df[[link, "date"]].copy()
            a["date"] = dates
            latest = a.dropna().groupby(link)["date"].max()
            last = latest.reindex(df.index).astype("datetime64[ns]")
    for fallback in ("last_contacted", "created"):
        if fallback in df.columns:
            last = last.fillna(pd.to_datetime(df[fallback], errors="coerce"))
    return last.dt.normalize()


def _latest_by_record(links: pd.Series, dates: pd.Series, ids: pd.Index) -> pd.Series | None:
    """The latest of ``dates`` per record of ``ids`` its link names (NaT: none), as grouping the activities by their
    link, taking each group's latest date and reindexing by ``ids`` gives it, without grouping: each activity's
    record looked up in ``ids``, the latest kept by record in place (200,000 activities at 100k leads, every run).
    None when the dates are not plain datetime64[ns] or a record ID is there twice: the caller groups."""
    if dates.dtype != "datetime64[ns]" or not ids.is_unique:
        return None
    ok = (links.notna() & dates.notna()).to_numpy(dtype=bool)
    try:
        at = ids.get_indexer(links.to_numpy(dtype=object)[ok])
    except (TypeError, ValueError):
        return None
    when = dates.to_numpy()[ok].view(np.int64)
    found = at >= 0
    latest = np.full(len(ids), np.iinfo(np.int64).min, dtype=np.int64)  # (NaT's integer: below every date)
    np.maximum.at(latest, at[found], when[found])
    return pd.Series(latest.view("datetime64[ns]"), index=ids, name="date")


# ---------------------------------------------------------------------------------------------
# Running them


def run_automations(run: Run, automations: list[Automation], prev_state: dict, memory: Any = None) -> None:
    from crm_sheets.jobs.automate.reminders import send_digests

    task_keys = actions.existing_task_keys(run)
    for a in automations:
        run.flush()  # each rule sees the rows the rules before it added (tasks, activities, members)
        hits = firing(run, a, prev_state, memory)
        if not hits:
            continue
        if a.action == "send_digest":
            send_digests(run, a, hits[0][1])
            continue
        df = run.tables[a.table].df
        ok = set(df.index[all_match(a.conditions, df, run.now)]) if a.conditions else None
        for rid, value in hits:
            key = f"{a.key}:{rid}:{value}"
            if (ok is not None and rid not in ok) or run.has_fired(key) or key in task_keys:
                continue
            try:
                _act(run, a, rid, key, value)
            except TemplateProblem as exc:
                run.bad("automations", a.rid, BadRule("template", a.template, f"{exc} (record {rid})", "fix the {{ merge fields }}"))
                if memory is not None:
                    memory.problem(a)  # the next run tries every record of this rule again, as it would without memory
                continue
            run.mark(key)
            run.count("automations_fired")
    run.flush()


def _act(run: Run, a: Automation, rid: str, key: str, value: str) -> None:
    if a.action == "create_task":
        actions.create_task(run, a.template, a.assign_to, a.due_in_days, a.table, rid, key, a.name)
    elif a.action == "set_field":
        actions.set_field(run, a.table, rid, a.set_to[0], a.set_to[1], a.name)
    elif a.action == "send_email":
        actions.send_email(run, a.email, a.table, rid, key, a.name, marketing=a.table in actions.MARKETING_TABLES)
    elif a.action == "notify_chat":
        actions.notify_chat(run, a.template, a.table, rid, key, a.name)
    elif a.action == "post_webhook":
        actions.post_webhook(run, a.template, a.table, rid, key, a.name, a.trigger, value)
    elif a.action == "add_to_campaign":
        actions.add_to_campaign(run, a.template, a.table, rid)
