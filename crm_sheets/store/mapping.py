"""The Mapping sheet `crm-sheets adopt` writes into a team's workbook: one row per column of their sheets,
saying which of our tables and fields it is. A person corrects it in place; the reader follows it (which
sheet is which table, on which header row, which column is which field) instead of guessing again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crm_sheets.model.schema import Schema, normalize_header
from crm_sheets.model.values import as_text, is_empty

SHEET = "Mapping"
HEADERS = ("Sheet", "Header row", "Column", "Header", "Table", "Field", "Found by", "Example")


@dataclass
class TableMapping:
    sheet: str
    header_row: int  # 1-based
    columns: dict[str, int] = field(default_factory=dict)  # field name -> 0-based column
    listed: set[int] = field(default_factory=set)  # every column the sheet lists, mapped or not


def column_index(letters: str) -> int:
    n = 0
    for ch in letters.strip().upper():
        if not "A" <= ch <= "Z":
            raise ValueError(letters)
        n = n * 26 + ord(ch) - 64
    return n - 1


def read_mapping(grid: list[list[Any]], schema: Schema) -> dict[str, TableMapping]:
    """table name -> where it is, from the Mapping sheet's rows (tables and fields by name or title; a row
    whose Table or Field is empty or unknown maps nothing). Empty when the sheet is not a Mapping sheet."""
    head = next((r for r, row in enumerate(grid[:5])
                 if [normalize_header(as_text(c)) for c in row[: len(HEADERS)]] == [normalize_header(h) for h in HEADERS]), None)
    if head is None:
        return {}
    out: dict[str, TableMapping] = {}
    for row in grid[head + 1:]:
        cells = [("" if is_empty(c) else as_text(c).strip()) for c in (list(row) + [""] * len(HEADERS))[: len(HEADERS)]]
        sheet, hrow, col, _header, table, fname = cells[:6]
        if not (sheet and table and col):
            continue
        t = schema.tables.get(table) or schema.find_table(table)
        if t is None:
            continue
        try:
            r = int(float(hrow)) if hrow else 1
            j = column_index(col)
        except ValueError:
            continue
        m = out.setdefault(t.name, TableMapping(sheet, r))
        if m.sheet != sheet:
            continue
        m.listed.add(j)
        if not fname:
            continue
        f = next((f for f in t.fields if f.name == fname or normalize_header(fname) in f.names()), None)
        if f is not None and f.name not in m.columns:
            m.columns[f.name] = j
    return out
