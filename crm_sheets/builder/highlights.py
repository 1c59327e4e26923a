"""Conditional formats a team expects to see without running anything: overdue tasks, hot leads,
stalled deals, opted-out people, and amounts shown in their row's currency.

Each rule is found from the schema (a ``due`` date beside a ``status``, a ``score``, a stage taken from
a stages table with won/lost ticks, an ``opted_out`` tick), so any template gets the ones that fit.
Thresholds are read live from the Settings sheet through defined names.
"""
from __future__ import annotations

from typing import Any

from crm_sheets.builder.formats import Formats, money_format
from crm_sheets.builder.layout import Plan, TablePlan
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Field

CLOSED_KEYS = ("done", "cancelled", "canceled", "completed", "closed")
DUE_FIELDS = ("due", "due_date")
CLOSE_DATE_FIELDS = ("close_date", "expected_close")


def highlight_table(worksheet: Any, formats: Formats, plan: Plan, table: TablePlan) -> list[str]:
    """Add this table's conditional formats; returns the kinds added (for the Start sheet legend)."""
    last_col = table.columns[table.schema.fields[-1].name]
    rows = f"A2:{last_col}{table.last_row}"
    added = []
    for kind, formula in row_rules(plan, table):
        worksheet.conditional_format(rows, {"type": "formula", "criteria": formula, "format": formats.highlight(kind)})
        added.append(kind)
    for f in table.schema.fields:
        if field_type(f.type).per_currency and f.currency_field and not f.currency:
            _row_currency(worksheet, formats, plan, table, f)
    return added


def row_rules(plan: Plan, table: TablePlan) -> list[tuple[str, str]]:
    t = table.schema
    col = table.columns
    out: list[tuple[str, str]] = []
    due = next((f for f in t.fields if f.name in DUE_FIELDS and field_type(f.type).temporal), None)
    if due is not None:
        cond = [f"ISNUMBER(${col[due.name]}2)", f"${col[due.name]}2<TODAY()"]
        status = _status_field(t.fields)
        if status is not None and status.list:
            lst = plan.schema.lists[status.list]
            closed = [o for o in lst.options if o.key in CLOSED_KEYS]
            words = sorted({w for o in closed for w in (o.key, o.label(plan.lang))})
            cond += [f'${col[status.name]}2<>"{_q(w)}"' for w in words]
        out.append(("overdue", f"=AND({','.join(cond)})"))
    stage = next((f for f in t.fields if f.options_from), None)
    close = next((f for f in t.fields if f.name in CLOSE_DATE_FIELDS and field_type(f.type).temporal), None)
    if stage is not None and close is not None and "setting_stalled_deal_days" in plan.names:
        src_table, _, src_field = stage.options_from.partition(".")
        names = f"col_{src_table}_{src_field}"
        s, c = f"${col[stage.name]}2", f"${col[close.name]}2"
        closed = "+".join(
            f"COUNTIFS({names},{s},col_{src_table}_{flag},TRUE)"
            for flag in ("won", "lost") if f"col_{src_table}_{flag}" in plan.names
        ) or "0"
        out.append(("stalled", f'=AND(ISNUMBER({c}),{s}<>"",{c}<TODAY()-setting_stalled_deal_days,{closed}=0)'))
    score = next((f for f in t.fields if f.name == "score" and _points(field_type(f.type))), None)
    if score is not None and "setting_hot_lead_score" in plan.names:
        s = f"${col[score.name]}2"
        out.append(("hot", f"=AND(ISNUMBER({s}),ISNUMBER(setting_hot_lead_score),{s}>=setting_hot_lead_score)"))
    opted = next((f for f in t.fields if f.name == "opted_out" and field_type(f.type).boolean), None)
    if opted is not None:
        out.append(("opted_out", f"=${col[opted.name]}2=TRUE"))
    return out


def _status_field(fields: tuple[Field, ...]) -> Field | None:
    return next((f for f in fields if f.name == "status" and field_type(f.type).options and not field_type(f.type).multiple), None)


def _row_currency(worksheet: Any, formats: Formats, plan: Plan, table: TablePlan, money: Field) -> None:
    """Show an amount in the currency its row names (the column's own format is the Settings currency)."""
    cur = table.schema.field(money.currency_field)
    codes = plan.schema.lists[cur.list].options if cur.list else ()
    target = f"{table.columns[money.name]}2:{table.columns[money.name]}{table.last_row}"
    cell = f"${table.columns[cur.name]}2"
    for o in codes:
        fmt = formats.make(num_format=money_format(o.key, plan.lang))
        worksheet.conditional_format(target, {"type": "formula", "criteria": f'={cell}="{_q(o.label(plan.lang))}"', "format": fmt})


def _q(s: str) -> str:
    return s.replace('"', '""')


def _points(ftype: Any) -> bool:
    """A lead score counts points: a plain number (not a share of something, not an amount)."""
    return ftype.numeric and not (ftype.percent or ftype.per_currency)
