"""Finding a table in a sheet's grid: its header row (by the schema's titles and aliases, in the first rows
people may have put titles above), its columns by name, its data rows (blank rows and rows that are not
records left alone) and merged cells filled down. store/core/read.py turns a Layout into a typed Table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Mapping

import numpy as np
from pandas.api.types import infer_dtype

from crm_sheets.model.schema import TableSchema, normalize_header
from crm_sheets.model.values import as_text, is_empty
from crm_sheets.store.records import records

HEADER_SCAN_ROWS = 10  # title rows people put above a table's headers


@dataclass
class Layout:
    header_row: int  # 0-based
    columns: dict[str, int]  # field name -> 0-based column
    extras: tuple[str, ...]  # headers of people's own columns
    sheet_rows: list[int]  # 1-based sheet row of each non-blank data row
    cells: dict[str, Any]  # field name -> raw cells of the non-blank data rows (object arrays)
    skipped: list[int] = field(default_factory=list)  # 1-based sheet rows that are not records (left alone)


def header_lookup(t: TableSchema, lang: str) -> dict[str, str]:
    """Folded header -> field name; the workbook language's titles win over names, other titles, aliases."""
    out: dict[str, str] = {}
    for f in t.fields:
        out.setdefault(normalize_header(f.header(lang)), f.name)
    for f in t.fields:
        out.setdefault(normalize_header(f.name), f.name)
    for f in t.fields:
        for title in f.title.values():
            out.setdefault(normalize_header(title), f.name)
    for f in t.fields:
        for alias in f.aliases:
            out.setdefault(normalize_header(alias), f.name)
    out.pop("", None)
    return out


def header_matches(row: list[Any], lookup: Mapping[str, str]) -> tuple[int, int]:
    """(cells naming a field, non-empty cells) of a candidate header row."""
    names = [normalize_header(c) for c in row if isinstance(c, str) and c.strip()]
    non_empty = sum(1 for c in row if not is_empty(c))
    return len({lookup[n] for n in names if n in lookup}), non_empty


def find_header(grid: list[list[Any]], t: TableSchema, lookup: Mapping[str, str], hint: int | None) -> int | None:
    need = min(2, len(t.fields))
    if hint is not None and 0 <= hint < len(grid) and header_matches(grid[hint], lookup)[0] >= 1:
        return hint
    best, best_m = None, 0
    for r in range(min(HEADER_SCAN_ROWS, len(grid))):
        m, n = header_matches(grid[r], lookup)
        if m >= need and 2 * m >= n:  # most of its cells name fields: this is the header row
            return r
        if m > best_m:
            best, best_m = r, m
    return best if best_m >= need else None


def _block(rows: list[list[Any]]) -> Any:
    """Rows of cells as a 2-D object array (calamine's rows all have the sheet's width)."""
    widths = set(map(len, rows))
    if len(widths) == 1:  # the cells in one flat pass: 2-3 times faster than numpy's nested-list assignment
        width = widths.pop()
        flat = np.fromiter(chain.from_iterable(rows), dtype=object, count=len(rows) * width)
        return flat.reshape(len(rows), width)
    block = np.full((len(rows), max(widths, default=0)), "", dtype=object)
    for i, r in enumerate(rows):
        block[i, : len(r)] = r
    return block


def table_layout(grid: list[list[Any]], t: TableSchema, lang: str, hint: int | None, probe: bool = False,
            merged: Any = (), fixed: Mapping[str, int] | None = None, listed: Any = None) -> Layout | None:
    lookup = header_lookup(t, lang)
    h = hint if fixed is not None and hint is not None and 0 <= hint < len(grid) else find_header(grid, t, lookup, hint)
    if h is None:
        return None
    if probe:
        return Layout(h, {}, (), [], {})
    columns: dict[str, int] = {}
    extras: list[str] = []
    for j, cell in enumerate(grid[h]):
        if fixed is not None:  # the Mapping sheet says which column is which field
            name = next((n for n, c in fixed.items() if c == j), None)
            if name is None and j not in (listed or ()) and not is_empty(cell):  # a column added since (our ID)
                name = lookup.get(normalize_header(as_text(cell)))
                name = None if name in fixed else name
            if name is not None and name not in columns:
                columns[name] = j
            elif not is_empty(cell):
                extras.append(as_text(cell))
            continue
        if is_empty(cell):
            continue
        name = lookup.get(normalize_header(as_text(cell)))
        if name is not None and name not in columns:
            columns[name] = j
        else:  # people's own column (or a second column with a field's header): kept, never read
            extras.append(as_text(cell))
    data = _block(grid[h + 1:])
    _fill_down(data, merged, h + 1)
    arrays = {name: (data[:, j] if j < data.shape[1] else np.full(len(data), "", dtype=object)) for name, j in columns.items()}
    # A row is a record when any field cell holds something; blank rows inside the table (cells
    # holding only spaces count as blank) and people's notes beside it (only in their own columns)
    # are not records.
    field_cols = [j for j in columns.values() if j < data.shape[1]]
    keep = np.flatnonzero(_filled_rows(data, field_cols))
    keep, skipped = records(data, columns, keep, t)  # fallbacks, totals, a legend under the table: not records
    cells = arrays if len(keep) == len(data) else {name: arr[keep] for name, arr in arrays.items()}
    sheet_rows = (keep + h + 2).tolist()
    return Layout(h, columns, tuple(extras), sheet_rows, cells, [r + h + 2 for r in skipped])


def _filled_rows(data: Any, field_cols: list[int]) -> Any:
    """Which rows hold something other than blanks in a field column (vectorised: 100,000s of rows).

    Column by column, only over the rows not yet known to be filled: the first column (the ID)
    usually settles nearly every row, so the later columns only look at a handful of cells.
    """
    filled = np.zeros(len(data), dtype=bool)
    for j in field_cols:
        todo = np.flatnonzero(~filled)
        if not len(todo):
            break
        cells = data[todo, j]
        some = np.flatnonzero(cells != "")
        if len(some):
            cells = cells[some]
            if infer_dtype(cells, skipna=False) == "string":  # a non-empty str is blank when all spaces
                blank = np.fromiter(map(str.isspace, cells), dtype=bool, count=len(some))
            else:
                blank = np.fromiter((type(c) is str and c.isspace() for c in cells), dtype=bool, count=len(some))
            filled[todo[some[~blank]]] = True
    return filled


def _fill_down(data: Any, merged: Any, first_row: int) -> None:
    """A range merged across rows shows its top cell's value on every row: give it to each record.

    Only down a column: a range merged across columns (a note spanning several cells of one row)
    is not copied into the neighbouring fields. Ranges reaching above the data (titles, headers)
    are left alone.
    """
    for (r0, c0), (r1, _c1) in merged:
        if r1 <= r0 or r0 < first_row or c0 >= data.shape[1]:
            continue
        top, last = r0 - first_row, min(r1 - first_row, len(data) - 1)
        if top >= len(data):
            continue
        below = data[top + 1: last + 1, c0]
        below[below == ""] = data[top, c0]  # a value left in a hidden cell of the range is kept as it is
