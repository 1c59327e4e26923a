"""Which rows under a table's headers are records: a team's sheet also holds rows that are not.

Formulas filled down the sheet show their fallbacks ("-", "N/A", 0) on rows nobody typed; a totals row
sums a column; a legend or a note sits under the table after a blank row. These rows are left as they are:
never read as records, never checked, never given an ID. Vectorised over the columns, so a 100,000-row
table costs a few column scans.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np
import pandas as pd

from crm_sheets.model.schema import TableSchema

# What a formula shows when it has nothing to show (and what people type to mean "nothing").
FALLBACKS = frozenset({"-", "--", "–", "—", "n/a", "#n/a", "na", "n.a.", "none", "null", "#value!", "#ref!",
                       "#div/0!", "#name?", "#num!", "#null!"})
_TOTAL_RE = r"^\s*(?:grand\s+|sub[\s-]?)?totals?\b|^\s*sum\b|^\s*(?:gesamt|summe|total\s+g[ée]n[ée]ral)"
SOLID_CELLS = 3  # a row under the table with this many real cells is a record, whatever it looks like


def _real(cells: Any) -> np.ndarray:
    """Which cells hold a value that is not blank, spaces, a formula fallback, 0 or FALSE."""
    out = np.zeros(len(cells), dtype=bool)
    for i, c in enumerate(cells):
        if type(c) is str:
            s = c.strip()
            out[i] = bool(s) and s.casefold() not in FALLBACKS
        elif c is None or c is False or isinstance(c, bool):
            out[i] = bool(c)
        elif isinstance(c, (int, float)):
            out[i] = c == c and c != 0
        else:
            out[i] = True
    return out


_LABEL_RE = re.compile(r"^\s*(legend|key|notes?|nb|n\.b\.|sources?|comments?|remarks?|l[ée]gende|remarques?)\b\W*$|:\s*$|[<>]=?|=", re.I)
_NUMERIC = frozenset({"number", "money", "percent", "integer", "date", "datetime"})


def _a_note(row: Any, types: Mapping[int, str]) -> bool:
    """Whether the few cells of a row under the table read as a legend or a note rather than a record:
    a label ("Legend", "Note:", "Days Until Next Action (>=)"), text where a phone, an email, a date or a
    number belongs, or a sentence in a short text column."""
    for j, kind in types.items():
        c = row[j]
        if type(c) is not str or not c.strip() or c.strip().casefold() in FALLBACKS:
            continue
        text = c.strip()
        if _LABEL_RE.search(text):
            return True
        digits = sum(ch.isdigit() for ch in text)
        if (kind == "phone" and digits < 5) or (kind == "email" and "@" not in text) \
                or (kind in _NUMERIC and not digits):
            return True
        if kind == "text" and len(text.split()) >= 6:
            return True
    return False


def _contains(cells: Any, pattern: str) -> np.ndarray:
    """Which cells are text matching ``pattern`` (a regular expression, case ignored)."""
    s = pd.Series(cells, dtype=object)
    text = s.map(lambda c: c if type(c) is str else "")
    return text.str.contains(pattern, case=False, regex=True).to_numpy(dtype=bool)


def records(data: Any, columns: Mapping[str, int], keep: np.ndarray, t: TableSchema) -> tuple[np.ndarray, list[int]]:
    """(the rows of ``keep`` that are records, the 0-based rows of ``data`` that are not, for a note).

    ``data``: the cells under the header row (2-D object array); ``keep``: rows with something in a
    field column; ``columns``: field name -> column index.
    """
    if not len(keep) or t.kind != "data":
        return keep, []
    cols = [j for j in columns.values() if j < data.shape[1]]
    real = np.zeros(len(keep), dtype=bool)
    count = np.zeros(len(keep), dtype=np.int64)
    for j in cols:  # the first columns settle most rows: later ones only look at rows not yet seen as solid
        todo = np.flatnonzero(count < SOLID_CELLS)
        if not len(todo):
            break
        hit = _real(data[keep[todo], j])
        count[todo[hit]] += 1
        real[todo[hit]] = True
    has_id = np.zeros(len(keep), dtype=bool)
    if "id" in columns and columns["id"] < data.shape[1] and t.id_prefix:
        ids = pd.Series(data[keep, columns["id"]], dtype=object)
        has_id = ids.map(lambda v: isinstance(v, str) and v.strip().startswith(t.id_prefix + "-")).to_numpy(dtype=bool)
    is_record = real | has_id  # rows showing only fallbacks are not records
    first = min(cols, default=0)
    for j in range(first, min(first + 2, data.shape[1])):  # a totals row is labelled in its first cells
        total = _contains(data[keep, j], _TOTAL_RE)
        is_record &= ~(total & ~has_id)
    solid = (count >= SOLID_CELLS) | has_id
    emails = [columns[f.name] for f in t.fields if f.type == "email" and f.name in columns and columns[f.name] < data.shape[1]]
    for j in emails:
        solid |= _contains(data[keep, j], "@")
    # Under the last solid record, after a blank row: a legend or notes, unless a row is solid itself.
    last = np.flatnonzero(solid)
    if len(last):
        end = keep[last[-1]]
        tail = np.flatnonzero(keep > end)
        if len(tail):
            blank = next((r for r in range(end + 1, keep[tail[-1]]) if not _real(data[r]).any()), None)
            if blank is not None:  # a row with nothing real (blank, or only fallbacks) ends the table
                types = {j: t.field(name).type for name, j in columns.items() if j < data.shape[1] and t.has_field(name)}
                for i in tail[keep[tail] > blank]:
                    if not solid[i] and _a_note(data[keep[i]], types):
                        is_record[i] = False
    return keep[is_record], keep[~is_record].tolist()
