"""Which rows under a table's headers are records: a team's sheet also holds rows that are not.

Formulas filled down the sheet show their fallbacks ("-", "N/A", 0) on rows nobody typed; a totals row
sums a column; a legend or a note sits under the table after a blank row. These rows are left as they are:
never read as records, never checked, never given an ID. Vectorised over the columns, so a 100,000-row
table costs a few column scans.
"""
from __future__ import annotations

import re
from itertools import repeat
from typing import Any, Mapping

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import TableSchema

# What a formula shows when it has nothing to show (and what people type to mean "nothing").
FALLBACKS = frozenset({"-", "--", "–", "—", "n/a", "#n/a", "na", "n.a.", "none", "null", "#value!", "#ref!",
                       "#div/0!", "#name?", "#num!", "#null!"})
_LONGEST_FALLBACK = max(map(len, FALLBACKS))
TOTAL_RE = (r"^\s*(?:(?:grand|sub)[\s-]?totals?|totals?|sum|gesamt(?:summe)?|summe|total\s+g[ée]n[ée]ral)"
             r"\s*(?:\([^)]*\))?\s*:?\s*$")  # the whole cell: "Total", "Grand total:", "Sum (EUR)"; not "Total Energies"
SOLID_CELLS = 3  # a row under the table with this many real cells is a record, whatever it looks like


def _texts(cells: Any) -> pd.Series:
    """The cells as a series of str ("" for every cell that is not text); no Python loop for a text column."""
    series = pd.Series(cells, dtype=object)
    if infer_dtype(cells, skipna=False) == "string":
        return series
    return series.map(lambda c: c if type(c) is str else "")


def _real(cells: Any) -> np.ndarray:
    """Which cells hold a value that is not blank, spaces, a formula fallback, 0 or FALSE."""
    if infer_dtype(cells, skipna=False) == "string":  # the usual column: only short cells can be fallbacks
        n = len(cells)
        out = np.fromiter(map(len, cells), dtype=np.int64, count=n) > _LONGEST_FALLBACK
        out[out] = ~np.fromiter(map(str.isspace, cells[out]), dtype=bool, count=int(out.sum()))
        for i in np.flatnonzero(np.fromiter(map(len, cells), dtype=np.int64, count=n) <= _LONGEST_FALLBACK):
            c = cells[i].strip()
            out[i] = bool(c) and c.casefold() not in FALLBACKS
        return out
    out = np.zeros(len(cells), dtype=bool)
    for i, c in enumerate(cells):
        if type(c) is str:
            t = c.strip()
            out[i] = bool(t) and t.casefold() not in FALLBACKS
        elif c is None or isinstance(c, (bool, np.bool_)):
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
    return _texts(cells).str.contains(pattern, case=False, regex=True).to_numpy(dtype=bool)


def records(data: Any, columns: Mapping[str, int], keep: np.ndarray, t: TableSchema) -> tuple[np.ndarray, list[int]]:
    """(the rows of ``keep`` that are records, the 0-based rows of ``data`` that are not, for a note).

    ``data``: the cells under the header row (2-D object array); ``keep``: rows with something in a
    field column; ``columns``: field name -> column index. A row holding an ID of the table is a record
    whatever else it holds: only rows without one are looked at closely (in a crm-sheets workbook, none).
    """
    if not len(keep) or t.kind != "data":
        return keep, []
    cols = [j for j in columns.values() if j < data.shape[1]]
    has_id = np.zeros(len(keep), dtype=bool)
    if "id" in columns and columns["id"] < data.shape[1] and t.id_prefix:
        head = t.id_prefix + "-"
        ids = data[keep, columns["id"]]
        if infer_dtype(ids, skipna=False) == "string":  # every cell text: the usual ID column, checked in C first
            has_id = np.fromiter(map(str.startswith, ids, repeat(head)), dtype=bool, count=len(ids))
            for i in np.flatnonzero(~has_id).tolist():  # an ID with spaces in front
                has_id[i] = ids[i].lstrip().startswith(head)
        else:
            has_id = np.fromiter((type(v) is str and v.lstrip().startswith(head) for v in ids), dtype=bool, count=len(ids))
    rest = np.flatnonzero(~has_id)  # positions in keep of the rows without an ID
    is_record = np.ones(len(keep), dtype=bool)
    solid = has_id.copy()
    if len(rest):
        rows = keep[rest]
        real = np.zeros(len(rest), dtype=bool)
        count = np.zeros(len(rest), dtype=np.int64)
        for j in cols:  # the first columns settle most rows: later ones only look at rows not yet seen as solid
            todo = np.flatnonzero(count < SOLID_CELLS)
            if not len(todo):
                break
            hit = _real(data[rows[todo], j])
            count[todo[hit]] += 1
            real[todo[hit]] = True
        email = np.zeros(len(rest), dtype=bool)
        for f in t.fields:
            if field_type(f.type).text_check == "email" and f.name in columns and columns[f.name] < data.shape[1]:
                email |= _contains(data[rows, columns[f.name]], "@")
        ok = real.copy()  # rows showing only fallbacks are not records
        first = min(cols, default=0)
        for j in range(first, min(first + 2, data.shape[1])):  # a totals row is labelled in its first cells
            ok &= ~(_contains(data[rows, j], TOTAL_RE) & ~email)  # (a person called Total has an email)
        thin = np.flatnonzero((count < SOLID_CELLS) & ~email & ok)  # or anywhere, with only a sum or two beside it
        for j in cols if len(thin) else ():  # ("Total" under Stage, the sum under Amount)
            ok[thin[_contains(data[rows[thin], j], TOTAL_RE)]] = False
        is_record[rest] = ok
        solid[rest] = (count >= SOLID_CELLS) | email
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
