"""Assignment: route unassigned leads and deals to Team members by the Assignment Rules sheet.

Rules are tried in Order; the first matching rule with someone available wins (a rule whose people
are all away or full lets the record fall through to the next). Methods: round robin (its position
is kept in the state, so it continues across runs), least loaded, fixed. Capacity counts open leads.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_sheets.jobs.automate.context import Run
from crm_sheets.jobs.automate.rules import BadRule, Condition, compile_condition, is_active, rule_rows, slug, text, ticked
from crm_sheets.jobs.automate.templates import team_member
from crm_sheets.model.normalize import fold
from crm_sheets.model.values import fold_option, option_lookup, parse_number

TABLES = ("leads", "deals")
CLOSED_LEAD = {"converted", "unqualified"}


@dataclass
class Rule:
    rid: str
    order: float
    table: str
    condition: Condition | None  # None: every remaining record
    people: list[str]  # Team names, as spelt in Team
    method: str
    label: str


def assign_owners(run: Run) -> None:
    rules_table = run.tables.get("assignment_rules")
    if rules_table is None or "team" not in run.tables:
        return
    team = run.tables["team"].df
    names = {fold(str(n)): str(n) for n in team.get("name", pd.Series(dtype=object)).dropna()}
    rules = _compile(run, names)
    if not rules:
        return
    robin = run.state.setdefault("round_robin", {})
    for table in TABLES:
        t = run.tables.get(table)
        mine = [r for r in rules if r.table == table]
        if t is None or not mine or "owner" not in t.df.columns:
            continue
        df = t.df
        unassigned = df.index[df["owner"].map(lambda v: not (isinstance(v, str) and v.strip())).to_numpy(dtype=bool)]
        if not len(unassigned):
            continue
        matches = {r.rid: set(df.index[r.condition.mask(df, run.now)]) if r.condition else None for r in mine}
        load = _load(run, table)
        for rid in unassigned:
            for r in mine:
                hits = matches[r.rid]
                if hits is not None and rid not in hits:
                    continue
                person = _pick(run, r, load, robin, table)
                if person is None:
                    continue  # everyone in this rule is away or full: try the next rule
                load[person] = load.get(person, 0) + 1
                run.set(table, rid, "owner", person, reason=f"assignment rule {r.label}")
                run.count(f"assigned_{table}")
                break
            else:
                run.count(f"unassigned_{table}")


def _compile(run: Run, names: dict[str, str]) -> list[Rule]:
    lang = run.lang
    tables_list = option_lookup(run.tables.list("rule_table")) if "rule_table" in run.tables.schema.lists else {}
    methods = option_lookup(run.tables.list("assignment_method")) if "assignment_method" in run.tables.schema.lists else {}
    out = []
    for rid, row in rule_rows(run.tables["assignment_rules"]):
        if not is_active(row):
            continue
        try:
            raw_table = text(row.get("table"))
            table = tables_list.get(fold_option(raw_table), raw_table) if raw_table else ""
            if table not in TABLES or table not in run.tables:
                raise BadRule("table", raw_table or None, f'"{raw_table}" is not a table assignment can route' if raw_table else "the rule has no table",
                              "choose Leads or Deals")
            schema = run.tables[table].schema
            field_name = text(row.get("field"))
            cond = None
            if field_name or text(row.get("operator")):
                cond = compile_condition(run.tables, schema, field_name, row.get("operator"), row.get("value"))
            people = []
            for person in [p for p in re.split(r"\s*[,;]\s*", text(row.get("assign_to"))) if p]:
                if fold(person) not in names:
                    raise BadRule("assign_to", person, f'"{person}" is not a name in {run.tables["team"].sheet or "Team"}', "use names from the Team sheet")
                people.append(names[fold(person)])
            if not people:
                raise BadRule("assign_to", None, "the rule assigns to nobody", "write one or more Team names, comma separated")
            raw_method = text(row.get("method"))
            method = methods.get(fold_option(raw_method), raw_method) if raw_method else "round_robin"
            if method not in ("round_robin", "least_loaded", "fixed"):
                raise BadRule("method", raw_method, f'"{raw_method}" is not an assignment method', "use Round robin, Least loaded or Fixed")
        except BadRule as exc:
            run.bad("assignment_rules", rid, exc)
            continue
        order = parse_number(text(row.get("order"))) if text(row.get("order")) else None
        label = f"{text(row.get('order')) or rid}: " + (cond.label if cond else ("tous les autres" if lang == "fr" else "everyone else"))
        out.append(Rule(rid, float("inf") if order is None else order, table, cond, people, method, label))
    return sorted(out, key=lambda r: r.order)  # stable: equal orders keep sheet order


def _load(run: Run, table: str) -> dict[str, int]:
    """Open records per owner: what least loaded balances and capacity limits."""
    df = run.tables[table].df
    if table == "leads" and "status" in df.columns:
        open_ = ~df["status"].isin(CLOSED_LEAD).to_numpy()
    elif table == "deals" and "stage" in df.columns and "stages" in run.tables:
        st = run.tables["stages"].df
        closed = {fold(str(s)) for s, w, lo in zip(st.get("stage", []), st.get("won", []), st.get("lost", [])) if ticked(w) or ticked(lo)}
        open_ = ~df["stage"].map(lambda v: fold(str(v)) in closed).to_numpy(dtype=bool)
    else:
        open_ = np.ones(len(df), dtype=bool)
    owners = df["owner"][open_].dropna()
    return {str(k): int(v) for k, v in owners.value_counts().items()}


def _available(run: Run, person: str, load: dict[str, int], table: str) -> bool:
    r = team_member(run.tables, person)
    if r is None:
        return False
    if ticked(r.get("away")):
        return False
    cap = r.get("capacity")
    if table == "leads" and cap is not None and not pd.isna(cap) and load.get(person, 0) >= int(cap):
        return False
    return True


def _pick(run: Run, rule: Rule, load: dict[str, int], robin: dict, table: str) -> str | None:
    free = [p for p in rule.people if _available(run, p, load, table)]
    if not free:
        return None
    if rule.method == "fixed":
        return free[0]
    if rule.method == "least_loaded":
        return min(free, key=lambda p: (load.get(p, 0), rule.people.index(p)))
    # Round robin over the rule's whole list, skipping who is unavailable; the position survives runs.
    key = f"{table}:{slug(rule.label.split(':', 1)[0])}:{'|'.join(rule.people)}"
    pos = int(robin.get(key, 0))
    n = len(rule.people)
    for step in range(n):
        person = rule.people[(pos + step) % n]
        if person in free:
            robin[key] = (pos + step + 1) % n
            return person
    return None
