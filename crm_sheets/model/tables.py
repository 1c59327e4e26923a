"""Tables: what a store reads and what jobs work on — one typed DataFrame per table, keyed by record ID.

Plain data, no I/O. Each table also keeps the sheet row of every record (for messages and for the
store's writes), the raw text of every cell that could not be read as its type (and of every cell
typed as text that could), and the columns the sheet has that the schema does not know (people's
own columns, which nothing ever touches).
"""
from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import pandas as pd

from crm_sheets.model.schema import ListSchema, Schema, TableSchema
from crm_sheets.model.values import is_blank

@lru_cache(maxsize=None)
def dtype_for(field_type: str) -> str:
    """The pandas dtype of a column of this field type (text-like types are ``object``), from the registry."""
    from crm_sheets.model.fieldtypes import known_types, field_type as _type

    return _type(field_type).dtype if field_type in known_types() else "object"


def column_index(letters: str) -> int:
    """Excel column letters -> 0-based index ('A' -> 0, 'aa' -> 26); ValueError for anything but letters."""
    n = 0
    for ch in letters.strip().upper():
        if not "A" <= ch <= "Z":
            raise ValueError(letters)
        n = n * 26 + ord(ch) - 64
    return n - 1


def column_letter(index: int) -> str:
    """0-based column index -> Excel letters (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


# The hidden sheet of Key | Value rows (template, schema_version, lang, seq.<table>, job digests) that
# the builder writes, the reader reads into Tables.meta and the writer updates.
META_SHEET = "_crm_meta"


def format_id(prefix: str, number: int) -> str:
    """A record ID as people see it: ``L-00042`` (the number is never reused)."""
    return f"{prefix}-{number:05d}"


_ID_RE = re.compile(r"^([A-Z]{1,4})-(\d+)$")


def id_number(record_id: Any, prefix: str) -> int | None:
    """The sequence number of an ID of this prefix, or None when the ID has another shape."""
    m = _ID_RE.match(str(record_id))
    if m and m.group(1) == prefix:
        return int(m.group(2))
    return None


@dataclass
class Table:
    """One table of the workbook as jobs see it."""

    schema: TableSchema
    df: pd.DataFrame  # index: record ID (str); columns: the schema fields present, typed
    sheet: str = ""  # the sheet's name in this workbook
    rows: dict[str, int] = field(default_factory=dict)  # record ID -> 1-based sheet row
    columns: dict[str, str] = field(default_factory=dict)  # field name -> column letter
    invalid: dict[tuple[str, str], Any] = field(default_factory=dict)  # (ID, field) -> raw unreadable value
    # (ID, field) -> raw text of a cell of a typed column (date, number, checkbox...) that was text
    # but read as its type: the frame holds the value, check offers to write it as a real one.
    typed_text: dict[tuple[str, str], Any] = field(default_factory=dict)
    extra_columns: tuple[str, ...] = ()  # headers of people's own columns (kept, never touched)
    header_row: int = 0  # 1-based sheet row of the headers (0: not known; row 1 is assumed), below any title rows
    assigned_ids: tuple[str, ...] = ()  # IDs the reader gave to rows that had none (to be written)
    next_id: int = 1  # next sequence number for a new record (never reused)

    @property
    def name(self) -> str:
        return self.schema.name

    def __len__(self) -> int:
        return len(self.df)

    def cell(self, record_id: str, field_name: str) -> str:
        """The A1 address of a record's field, e.g. ``Leads!F12``, for messages and hyperlinks."""
        col = self.columns.get(field_name)
        row = self.rows.get(record_id)
        if col is None or row is None:
            return f"{self.sheet or self.schema.sheet_name()}"
        return f"{quote_sheet(self.sheet)}!{col}{row}"

    def allocate_id(self) -> str:
        """A fresh ID for a new record; the sequence only moves forward."""
        if not self.schema.id_prefix:
            raise ValueError(f"table {self.name} has no IDs")
        rid = format_id(self.schema.id_prefix, self.next_id)
        self.next_id += 1
        return rid


def quote_sheet(sheet: str) -> str:
    if re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", sheet):
        return sheet
    return "'" + sheet.replace("'", "''") + "'"


@dataclass
class Tables:
    """Every table of one workbook, plus its schema, language and settings."""

    schema: Schema
    tables: dict[str, Table]
    lang: str = "en"
    settings: dict[str, Any] = field(default_factory=dict)
    lists: dict[str, ListSchema] = field(default_factory=dict)  # schema lists plus options added on the Lists sheet
    meta: dict[str, Any] = field(default_factory=dict)  # the hidden _crm_meta sheet: template, schema_version, lang, seq.*
    source: str = ""  # where it was read from, for messages
    notes: list[str] = field(default_factory=list)  # what the reader had to assume (template recognised, sheet skipped)
    date1904: bool = False  # serial numbers count days from 1904 (the workbook's date system)
    sheet_names: tuple[str, ...] = ()  # every sheet of the workbook as read (a team's own sheets too)
    adopted: bool = False  # a workbook crm-sheets did not make (no template in _crm_meta): its values are its own
    read_findings: list[Any] = field(default_factory=list)  # Findings the reader made (cells far outside a table); check reports them

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]

    def __contains__(self, name: str) -> bool:
        return name in self.tables

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def get(self, name: str) -> Table | None:
        return self.tables.get(name)

    def df(self, name: str) -> pd.DataFrame:
        return self.tables[name].df

    def list(self, name: str) -> ListSchema:
        return self.lists.get(name) or self.schema.lists[name]

    def setting(self, key: str, default: Any = None) -> Any:
        value = self.settings.get(key)
        if is_blank(value):
            s = self.schema.setting(key)
            return s.value if s is not None and s.value is not None else default
        return value


def empty_frame(schema: TableSchema, index: list[str] | None = None) -> pd.DataFrame:
    """An empty typed DataFrame with the table's columns."""
    idx = pd.Index(index or [], dtype="object", name="id")
    data = {f.name: pd.Series(index=idx, dtype=dtype_for(f.type)) for f in schema.fields if f.type != "id"}
    return pd.DataFrame(data, index=idx)


def settings_from_rows(rows: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).strip(): v for k, v in rows.items() if k is not None and str(k).strip()}
