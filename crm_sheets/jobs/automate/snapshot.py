"""The snapshot of last-seen values: how 'record created' and 'field changed' know what is new.

Kept in the state between runs (the runner stores it beside the workbook): per watched table the
record IDs, and per watched field each record's value in a canonical text form. Without a snapshot
(a first run, or a rule watching a new field) existing records are the baseline and nothing fires for
them — except records created today or yesterday (their Created date), which count as new so that a
freshly built workbook shows its automations working.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.model import Tables
from crm_sheets.model.normalize import fold

FIRST_RUN_NEW_DAYS = 1  # on a first run, Created today or yesterday counts as new


def canonical(value: Any) -> str:
    """A value as compared between runs: '' for empty, folded text, ISO dates, 10 for 10.0.

    Not model.values.cell_text on purpose: a change of case or accents is no change here, datetimes keep the
    'T', and these texts are kept in the states between runs: another text for the same value would make
    'field changed' rules fire for values nobody changed."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if value != value:
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (pd.Timestamp, datetime, date)):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return canonical(value.item())
    return fold(str(value))


def canonical_column(col: pd.Series) -> list[str]:
    """canonical() of every cell, computed once per distinct value (a column of 100,000 leads)."""
    if col.dtype != object:  # typed: distinct values cannot mix kinds (True with 1), so factorize is exact
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        texts = [canonical(v) for v in uniques] + [""]
        return [texts[c] for c in codes]
    seen: dict[tuple[type, Any], str] = {}
    out = []
    for v in col:
        k = (type(v), v)
        if k not in seen:
            seen[k] = canonical(v)
        out.append(seen[k])
    return out


def previous(state: dict, table: str) -> dict | None:
    return (state.get("tables") or {}).get(table)


def new_records(tables: Tables, table: str, state: dict, now: datetime) -> set[str]:
    """IDs new since the last run; on a first run, those Created today or yesterday."""
    t = tables.get(table)
    if t is None:
        return set()
    prev = previous(state, table)
    if prev is not None and "ids" in prev:
        ids = t.df.index.astype(str)
        if _same_ids(ids, prev["ids"]):
            return set()
        return set(ids[~ids.isin(prev["ids"])])  # one hash table in C, not a set of 100,000 IDs per rule
    if "created" not in t.df.columns:
        return set()
    created = pd.to_datetime(t.df["created"], errors="coerce")
    since = pd.Timestamp(now).normalize() - pd.Timedelta(days=FIRST_RUN_NEW_DAYS)
    return {str(rid) for rid in t.df.index[(created >= since).fillna(False).to_numpy(dtype=bool)]}


def _same_ids(ids: pd.Index, before: Any) -> bool:
    """Whether ``ids`` are the IDs ``before`` lists, in its order: then no record is new. Most runs (a person edited
    some values) have the same records as the last run: compared in C, one by one, without hashing every ID into a
    table (several rules ask, each for a table of up to 200,000 activities)."""
    if not isinstance(before, list) or len(before) != len(ids):
        return False
    if not len(ids):
        return True
    try:
        kept = np.empty(len(before), dtype=object)
        kept[:] = before
        return bool((ids.to_numpy(dtype=object) == kept).all())
    except (TypeError, ValueError):
        return False


def take(tables: Tables, watch: dict[str, set[str]]) -> dict[str, dict]:
    """The snapshot of ``watch`` (table -> fields) as plain JSON-able data."""
    out: dict[str, dict] = {}
    for table, fields in watch.items():
        t = tables.get(table)
        if t is None:
            continue
        ids = t.df.index.tolist()  # (iterating a text Index makes its strings one by one)
        entry: dict[str, Any] = {"ids": [str(i) for i in ids], "fields": {}}
        for f in sorted(fields):
            if f in t.df.columns:
                entry["fields"][f] = {str(rid): c for rid, c in zip(ids, canonical_column(t.df[f]))}
        out[table] = entry
    return out
