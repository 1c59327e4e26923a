"""Cells longer than a spreadsheet cell can hold (Excel: 32,767 characters): found, never fixed.

Excel cuts such a cell when it opens the file, or refuses the file; crm-sheets never writes one
(store.sheetxml cuts its own text, the writer leaves such a person's cell as it is), so check says
where each one is and what to do, and no fix ever rewrites it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.jobs.check.common import Collector
from crm_sheets.model import Finding, Table
from crm_sheets.model.limits import MAX_CELL_CHARS, cell_length, too_long

SHOWN_CHARS = 80  # the start of the text shown in the finding (the Data Issues sheet is read by people)


def check_cell_limits(out: Collector, table: Table) -> None:
    """One error per cell of the table (typed value or raw text kept for an unreadable one) over the limit."""
    df = table.df
    seen: set[tuple[str, str]] = set()
    for name in df.columns:
        col = df[name]
        if col.dtype != object and str(col.dtype) not in ("string", "str"):
            continue
        # One pass in plain Python over the values (the .str accessor first infers the column's type, then
        # maps): only a text of more than half the limit in characters can be over it in UTF-16 units
        values = col.to_numpy(dtype=object, copy=False)
        long = maybe_long(values)
        if long is None:
            continue
        for rid in col.index[long]:
            value = col.at[rid] if col.index.is_unique else col.loc[rid].iloc[0]
            if too_long(value):
                seen.add((str(rid), name))
                _add(out, table, rid, name, value)
    for (rid, name), raw in (*table.invalid.items(), *table.typed_text.items()):
        if (str(rid), name) not in seen and too_long(raw):
            seen.add((str(rid), name))
            _add(out, table, rid, name, raw)


def maybe_long(values: np.ndarray) -> np.ndarray | None:
    """Which values may be over the limit (too_long decides): a text of more than half of it in characters; None
    when none is. The lengths of the cells that hold something are taken by C code (a column of texts); a value
    without a length (a number in a text column) makes it one test per value."""
    half = MAX_CELL_CHARS // 2
    held = ~pd.isna(values)
    try:
        lengths = np.fromiter(map(len, values[held]), dtype=np.int64, count=int(held.sum()))
    except TypeError:
        long = np.fromiter((isinstance(v, str) and len(v) > half for v in values), dtype=bool, count=len(values))
        return long if long.any() else None
    if not len(lengths) or lengths.max() <= half:
        return None
    long = np.zeros(len(values), dtype=bool)
    long[np.flatnonzero(held)[lengths > half]] = True
    return long


def _add(out: Collector, table: Table, rid: Any, name: str, value: str) -> None:
    n = cell_length(value)
    out.add(
        "cell-too-long", "error", table, rid, name, value[:SHOWN_CHARS] + "…",
        f"{n:,} characters, more than the {MAX_CELL_CHARS:,} a spreadsheet cell can hold (Excel cuts the rest when it opens the file)",
        "shorten it, or keep the long text in a document and put its link here; crm-sheets will not rewrite this cell",
    )


def over_limit(finding: Finding) -> bool:
    """A finding whose value or fix is too long to be written back (its fix would rewrite the cell)."""
    return too_long(finding.fix) or too_long(finding.value)
