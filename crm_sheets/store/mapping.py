"""The Mapping sheet `crm-sheets adopt` writes into a team's workbook: one row per column of their sheets,
saying which of our tables and fields it is. A person corrects it in place; the reader follows it (which
sheet is which table, on which header row, which column is which field) instead of guessing again.

A column whose Field is a name of the team's own (``region``, Found by ``custom``) is a custom field of the
table, typed by the Type column (text, number, date, datetime...): an adopted workbook needs no Fields sheet.
A Field of ``last_name, first_name`` says the column holds "Last, First": read as both, its cells never rewritten.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from crm_sheets.model.fieldtypes import field_type, known_types
from crm_sheets.model.schema import Field, Schema, normalize_header
from crm_sheets.model.tables import column_index  # noqa: F401  (importable from here as before)
from crm_sheets.model.values import as_text, is_empty

SHEET = "Mapping"
HEADERS = ("Sheet", "Header row", "Column", "Header", "Table", "Field", "Found by", "Example", "Type")
_NEEDED = 8  # a Mapping sheet written before the Type column existed reads the same
WHOLE_NAME = "last_name, first_name"  # the Field of a "Last, First" column
WHOLE_KEY = "last_name_first"  # its key among a TableMapping's columns, split by split_whole_names
# The types a team's own column may be given in the Mapping sheet: any a person may pick in the Fields sheet,
# except those that need a list or a place's rules (dropdown, tags, location).
CUSTOM_TYPES = tuple(t for t in known_types() if field_type(t).custom and not field_type(t).options
                     and not field_type(t).place)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class TableMapping:
    sheet: str
    header_row: int  # 1-based
    columns: dict[str, int] = field(default_factory=dict)  # field name -> 0-based column
    listed: set[int] = field(default_factory=set)  # every column the sheet lists, mapped or not
    custom: dict[str, tuple[str, str]] = field(default_factory=dict)  # the team's own field -> (title, type)
    types: dict[str, str] = field(default_factory=dict)  # a date field holding times -> "datetime" (and back)


def header_index(grid: list[list[Any]]) -> int | None:
    """The 0-based row of a Mapping sheet's headers (None: not a Mapping sheet)."""
    want = [normalize_header(h) for h in HEADERS[:_NEEDED]]
    return next((r for r, row in enumerate(grid[:5])
                 if [normalize_header(as_text(c)) for c in row[:_NEEDED]] == want), None)


def read_mapping(grid: list[list[Any]], schema: Schema) -> dict[str, TableMapping]:
    """table name -> where it is, from the Mapping sheet's rows (tables and fields by name or title; a row
    whose Table or Field is empty maps nothing). Empty when the sheet is not a Mapping sheet."""
    head = header_index(grid)
    if head is None:
        return {}
    typed = len(grid[head]) > _NEEDED and normalize_header(as_text(grid[head][_NEEDED])) == "type"
    out: dict[str, TableMapping] = {}
    for row in grid[head + 1:]:
        cells = [("" if is_empty(c) else as_text(c).strip()) for c in (list(row) + [""] * len(HEADERS))[: len(HEADERS)]]
        sheet, hrow, col, header, table, fname = cells[:6]
        ftype = normalize_header(cells[8]) if typed else ""
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
        if not fname or j in m.columns.values():
            continue
        if normalize_header(fname) in (normalize_header(WHOLE_NAME), "lastfirst"):
            if t.has_field("last_name") and t.has_field("first_name"):
                m.columns.setdefault(WHOLE_KEY, j)
            continue
        f = next((f for f in t.fields if f.name == fname or normalize_header(fname) in f.names()), None)
        if f is not None:
            if f.name not in m.columns:
                m.columns[f.name] = j
                if ftype in known_types() and ftype != f.type and field_type(ftype).temporal \
                        and field_type(f.type).temporal:  # a date column of theirs holds times, or the other way
                    m.types[f.name] = ftype
            continue
        name = fname.strip()
        if _NAME_RE.match(name) and name not in m.columns:  # the team's own field
            m.columns[name] = j
            m.custom[name] = (header or name.replace("_", " ").capitalize(), ftype if ftype in CUSTOM_TYPES else "text")
    return out


def mapped_schema(schema: Schema, mapping: dict[str, TableMapping], lang: str) -> Schema:
    """The schema with what the Mapping sheet says of the team's columns: their own fields (custom fields)
    and date fields that hold a time (a datetime column stays one)."""
    tables = dict(schema.tables)
    for name, m in mapping.items():
        t = tables[name]
        if m.types:
            t = replace(t, fields=tuple(replace(f, type=m.types[f.name]) if f.name in m.types else f for f in t.fields))
        own = [Field(name=n, type=ftype, title={"en": title, lang: title}, custom=True)
               for n, (title, ftype) in m.custom.items() if not t.has_field(n)]
        tables[name] = replace(t, fields=(*t.fields, *own)) if own else t
    return replace(schema, tables=tables)


def split_whole_names(columns: dict[str, int], cells: dict[str, Any]) -> None:
    """A "Last, First" column read as the last and first name (in place). The column is no field's, so no
    job writes a part of a name over the whole; it stays among the table's columns under WHOLE_KEY, where
    an import writes a new person's "Last, First"."""
    raws = cells.pop(WHOLE_KEY, None)
    if raws is None:
        return
    import numpy as np

    firsts, lasts = np.full(len(raws), "", dtype=object), np.full(len(raws), "", dtype=object)
    for i, raw in enumerate(raws):
        if is_empty(raw):
            continue
        last, _, first = " ".join(as_text(raw).split()).partition(",")
        firsts[i], lasts[i] = first.strip(), last.strip()
    for name, parts in (("last_name", lasts), ("first_name", firsts)):
        own = cells.get(name)  # a First name column added since (rows written by import) wins where it is filled
        if own is not None:
            parts = np.where(np.fromiter((is_empty(v) for v in own), dtype=bool, count=len(own)), parts, own)
        cells[name] = parts
