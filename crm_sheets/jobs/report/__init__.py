"""The report job: regenerates the owned report sheets (dashboard, pipeline, forecast, leads, customers,
campaigns, activity, geography, satisfaction) and the board and calendar views. Pure: tables in, sheets out.

`compute` gives the figures as plain data (for tests and `--json`); `report` lays them out as SheetSpecs.
A sheet's subtitle says when what it shows last changed (its state keeps a digest and that time per sheet),
so a run whose figures come out the same renders every sheet exactly as it is and the workbook is not written.
The state also keeps a digest of what the sheets are made from (the figures, the day, the lists and settings):
when it is the same and the sheets are all there, they are not laid out at all and the change set holds none.
Before that, a digest of what the figures are computed from (memory.py: the columns compute reads, its settings
and lists, the day) and the figures themselves: when that digest is the same, nothing is computed either.
"""
from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime

from crm_sheets.jobs.report import memory
from crm_sheets.jobs.report.figures import ReportFigures
from crm_sheets.jobs.report.metrics import compute
from crm_sheets.jobs.report.sheets import build_sheets
from crm_sheets.model import ChangeSet, Finding, JobResult, Tables
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.result import next_midnight
from crm_sheets.model.stamp import stamped, still_shown

__all__ = ["ReportFigures", "compute", "report"]


def report(tables: Tables, *, now: datetime, state: dict | None = None) -> JobResult:
    """Every report sheet, replaced whole; findings say which money was left out of the totals and why.

    ``state`` is what the last run returned: per sheet, a digest of what it showed and since when. A sheet
    showing the same as then keeps that time in its subtitle (so it renders byte for byte as it is); a sheet
    whose content changed says ``now``. It also keeps a digest of what the figures are computed from
    (memory.reads_digest) and the figures themselves: when that digest is the same, the figures are the kept
    ones (as of ``now``), equal to what computing them would give, and nothing is computed."""
    state = state or {}
    until = _holds_until(tables, now)
    parts: dict = {}
    reads = memory.reads_digest(tables, now, by_day=until is not None, parts=state.get("parts"), into=parts)
    fig = _kept(state, reads, now)
    # the figures' part of the sheets' digest: the same as last time when the figures are the kept ones
    shown = state["shown"] if fig is not None else None
    if fig is None:
        fig = compute(tables, now)
        shown = figures_digest(fig)
    inputs = inputs_digest(shown, tables)
    if still_shown(state, inputs, tables):
        # The sheets would show exactly what they show: nothing to lay out, render or compare.
        sheets, new_state, count = [], dict(state), len(state["sheets"])
    else:
        sheets, new_state = stamped(build_sheets(fig, tables), now, state)
        new_state["inputs"], count = inputs, len(sheets)
    if new_state.get("reads") != reads or reads is None:
        kept = memory.figures_json(fig) if reads is not None else None
        new_state.pop("figures", None)
        new_state.pop("reads", None)
        if kept is not None and reads is not None:
            new_state["reads"], new_state["figures"] = reads, kept
    new_state["shown"] = shown
    new_state.pop("parts", None)
    if parts and reads is not None:
        new_state["parts"] = parts  # each table's digest beside the read's key of the table it was made of
    return JobResult(
        job="report",
        changes=ChangeSet(sheets=sheets),
        findings=_findings(fig),
        stats={"sheets": count, "won_revenue": fig.dashboard.won_revenue, "open_deals": fig.dashboard.open_deals,
               "currency": fig.currency},
        state=new_state,
        data=fig,
        holds_until=until,
    )


def _kept(state: dict, reads: str, now: datetime) -> ReportFigures | None:
    """The figures of the last run when what they are computed from is the same now."""
    if reads is None or state.get("reads") != reads or not isinstance(state.get("figures"), str) or not isinstance(state.get("shown"), str):
        return None
    return memory.figures_from_json(state["figures"], now)


def _holds_until(tables: Tables, now: datetime) -> datetime | None:
    """The figures read dates by the day (ages, overdue, periods), except a customer's standing, which compares
    the last order with ``now`` itself: by the day too while order dates have no time, else unknown."""
    orders = tables.schema.tables.get("orders")
    date = next((f for f in orders.fields if f.name == "date"), None) if orders is not None else None
    return None if date is not None and field_type(date.type).with_time else next_midnight(now)


def figures_digest(fig: ReportFigures) -> str:
    """A digest of the figures as the sheets show them: as of the day (the calendar marks today)."""
    shown = dataclasses.replace(fig, now=fig.now.date()) if hasattr(fig, "now") else fig
    return hashlib.sha256(repr(shown).encode("utf-8")).hexdigest()


def inputs_digest(shown: str, tables: Tables) -> str:
    """A digest of everything the report sheets are laid out from besides the time stamp: the figures
    (``shown``, their figures_digest), the workbook language, its lists (labels) and settings."""
    parts = (shown, tables.lang, repr(sorted(tables.lists.items())), repr(sorted(tables.settings.items(), key=str)))
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def _findings(fig: ReportFigures) -> list[Finding]:
    out = [
        Finding("invalid-exchange-rate", "warning", "settings", None, "exchange_rates", item,
                f"Settings exchange_rates: {item!r} is not a rate; write it as EUR=1.08 (one unit in {fig.currency})")
        for item in fig.bad_rates
    ]
    missing = sorted({c for part in (fig.dashboard.apart, fig.customers.apart) for c in part})
    for code in missing:
        out.append(Finding(
            "missing-exchange-rate", "warning", "settings", None, "exchange_rates", code,
            f"Settings exchange_rates has no rate for {code}: amounts in {code} are listed apart on the reports, "
            f"not in the totals; add {code}=<value of 1 {code} in {fig.currency}>",
        ))
    return out
