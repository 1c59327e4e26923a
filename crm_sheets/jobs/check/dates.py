"""Dates that make sense: nothing created in the future, no end before its start, no open deal whose close
date has passed (a stale forecast). Warnings: the dates are readable, only unlikely.
"""
from __future__ import annotations

from itertools import repeat

import numpy as np
import pandas as pd

from crm_sheets.jobs.check.common import Collector, show, text_values
from crm_sheets.jobs.check.options import sure_match
from crm_sheets.model import Table
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import fold

# Dates that record something that already happened: one in the future is a typo.
PAST_FIELDS = frozenset({"created", "last_contacted", "completed", "closed", "responded"})
# (earlier, later) pairs on the same row.
ORDERED = (("created", "closed"), ("created", "completed"), ("start", "end"), ("added", "responded"))


def reads(table: Table) -> frozenset[str]:
    """The columns check_dates reads of a row (besides the day and the Stages sheet, in check's table digest): a
    row whose other cells alone changed keeps its dates' findings (memory.py)."""
    names = set(PAST_FIELDS).union(*ORDERED)
    if table.name == "deals":
        names |= {"close_date", "stage"}
    return frozenset(names)


def _dates(table: Table, name: str) -> pd.Series | None:
    if name not in table.df.columns or not table.schema.has_field(name):
        return None
    if not field_type(table.schema.field(name).type).temporal:
        return None
    return pd.to_datetime(table.df[name], errors="coerce")


def check_dates(out: Collector, table: Table) -> None:
    today = out.ctx.today
    tomorrow = today + pd.Timedelta(days=1)
    for name in sorted(PAST_FIELDS):  # in one order in every process (a set's follows string hashing)
        col = _dates(table, name)
        if col is None:
            continue
        future = (col >= tomorrow).fillna(False).to_numpy()
        if not future.any():
            continue
        # Column-wise: a sample dated after `now` has one per row (40,000 at 30k leads), and dates repeat, so
        # each is shown once
        hit = col[future]
        codes, uniques = pd.factorize(hit)
        days = np.empty(len(uniques), dtype=object)
        days[:] = list(uniques)  # each date a Timestamp once, shared by its rows (not one made per row)
        said = np.array([f"{show(v)} is in the future (today is {show(today)})" for v in days], dtype=object)
        out.add_many("future-date", "warning", table, hit.index, name, days[codes].tolist(), said[codes],
                     repeat("correct the date", len(hit)))
    for early, late in ORDERED:
        a, b = _dates(table, early), _dates(table, late)
        if a is None or b is None:
            continue
        wrong = (b.dt.normalize() < a.dt.normalize()).fillna(False).to_numpy()
        for rid, before, after in zip(b.index[wrong], a[wrong], b[wrong]):
            header = table.schema.field(early).header(out.ctx.lang)
            out.add("date-order", "warning", table, rid, late, after, f"{show(after)} is before the {header} date {show(before)}", "correct one of the two dates")
    if table.name == "deals":
        check_stale_deals(out, table)


def _open_stages(out: Collector) -> dict[str, bool] | None:
    """Folded stage name -> open (neither won nor lost); None when there is no Stages sheet."""
    df = out.ctx.rule_rows("stages")
    if df is None or "stage" not in df.columns:
        return None
    closed = pd.Series(False, index=df.index)
    for flag in ("won", "lost"):
        if flag in df.columns:
            closed = closed | df[flag].fillna(False).astype(bool)
    return {fold(str(s)): not c for s, c in zip(df["stage"], closed) if isinstance(s, str) and s.strip()}


def check_stale_deals(out: Collector, table: Table) -> None:
    open_stages = _open_stages(out)
    dates = _dates(table, "close_date")
    if open_stages is None or dates is None or "stage" not in table.df.columns:
        return
    stage = table.df["stage"]
    text = text_values(stage)
    # A typo that can only mean one stage counts as that stage; anything else is not guessed open.
    fuzzy = {k: k for k in open_stages}
    verdict = {v: open_stages.get(fold(v), open_stages.get(sure_match(v, fuzzy) or "", False)) for v in text.unique()}
    is_open = text.map(verdict).reindex(stage.index).fillna(False).astype(bool)
    today = out.ctx.today
    stale = (is_open & (dates < today)).fillna(False).to_numpy()
    for rid, v, st in zip(table.df.index[stale], dates[stale], stage[stale]):
        out.add(
            "stale-close-date", "warning", table, rid, "close_date", v,
            f"{show(v)} has passed but the deal is still open (stage {st})",
            "move the close date to when you now expect to close, or set the stage to won or lost",
        )
