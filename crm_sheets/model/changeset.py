"""ChangeSet: everything a job wants written, addressed by table, record ID and field — never by position.

A store applies a change set in one write. The runner also applies it to the in-memory tables so
that the next job sees the data as changed by the previous ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

from crm_sheets.model.sheets import SheetSpec
from crm_sheets.model.tables import Tables, dtype_for


@dataclass(frozen=True)
class CellUpdate:
    table: str
    record_id: str
    field: str
    value: Any
    before: Any = None  # what the job saw, for the audit log
    reason: str = ""


@dataclass(frozen=True)
class RowAppend:
    table: str
    record_id: str  # allocated with Table.allocate_id()
    values: Mapping[str, Any]


@dataclass(frozen=True)
class RowArchive:
    """Move a whole row (people's own columns included) to an archive table; nothing is deleted."""

    table: str
    record_id: str
    archive: str  # archive table name, e.g. "merged"
    info: Mapping[str, Any] = field(default_factory=dict)  # e.g. merged_into, merged_at, reason


@dataclass(frozen=True)
class RowRestore:
    """Move a row back from an archive table to its table, exactly as it was archived."""

    archive: str
    record_id: str
    table: str


@dataclass(frozen=True)
class ColumnAdd:
    """Add a field's column to its table's sheet (``crm-sheets upgrade``): header, cell look, validation.

    ``column`` is where it goes, decided by whoever planned the change from the sheet's layout; the
    store refuses a column that holds anything. ``validations`` are (A1 range, rule) pairs, each rule
    in the builder's terms (XlsxWriter's data_validation options: plain data).
    """

    table: str
    field: str
    column: str
    header: str
    required: bool = False  # the header looks like the other required headers
    owned: bool = False  # the header and cells look computed (a job writes this column)
    width: float | None = None
    num_format: str | None = None  # of the data cells, e.g. '#,##0.00 "€"'
    wrap: bool = False
    align: str | None = None  # horizontal alignment of the data cells
    validations: tuple[tuple[str, Mapping[str, Any]], ...] = ()


@dataclass(frozen=True)
class TableAdd:
    """Add a whole table sheet with its Excel table (``crm-sheets upgrade`` of an older workbook)."""

    table: str
    sheet: str  # the new sheet's name
    excel_name: str  # the Excel table (ListObject) name
    columns: tuple[ColumnAdd, ...]  # in order from column A; header on row 1
    rows: tuple[tuple[Any, ...], ...] = ()  # data rows shipped with the template (rule sheets)
    style: str = "TableStyleMedium2"
    tab_color: str | None = None  # "RRGGBB"
    freeze_cols: int = 0
    names: Mapping[str, str] = field(default_factory=dict)  # defined names to add (name -> formula)


@dataclass(frozen=True)
class AuditEntry:
    job: str
    table: str
    record_id: str
    field: str
    before: Any
    after: Any
    reason: str = ""


@dataclass
class ChangeSet:
    updates: list[CellUpdate] = field(default_factory=list)
    appends: list[RowAppend] = field(default_factory=list)
    archives: list[RowArchive] = field(default_factory=list)
    restores: list[RowRestore] = field(default_factory=list)
    sheets: list[SheetSpec] = field(default_factory=list)  # owned sheets replaced whole
    sequences: dict[str, int] = field(default_factory=dict)  # table -> next ID number
    audit: list[AuditEntry] = field(default_factory=list)
    columns: list[ColumnAdd] = field(default_factory=list)  # new columns (upgrade), written before any value
    tables: list[TableAdd] = field(default_factory=list)  # new table sheets (upgrade)
    meta: dict[str, Any] = field(default_factory=dict)  # _crm_meta keys to set, e.g. schema_version

    def is_empty(self) -> bool:
        return not (self.updates or self.appends or self.archives or self.restores or self.sheets or self.sequences
                    or self.columns or self.tables or self.meta)

    def update(self, table: str, record_id: str, field_name: str, value: Any, **kw: Any) -> None:
        self.updates.append(CellUpdate(table, record_id, field_name, value, **kw))

    def extend(self, other: "ChangeSet") -> "ChangeSet":
        """Add another change set's changes after ours (later updates of a cell win)."""
        self.updates.extend(other.updates)
        self.appends.extend(other.appends)
        self.archives.extend(other.archives)
        self.restores.extend(other.restores)
        names = {s.name for s in other.sheets}
        self.sheets = [s for s in self.sheets if s.name not in names] + list(other.sheets)
        for k, v in other.sequences.items():
            self.sequences[k] = max(v, self.sequences.get(k, 0))
        self.audit.extend(other.audit)
        self.columns.extend(other.columns)
        self.tables.extend(other.tables)
        self.meta.update(other.meta)
        return self

    def summary(self) -> dict[str, int]:
        return {
            "updated_cells": len(self.updates),
            "appended_rows": len(self.appends),
            "archived_rows": len(self.archives),
            "restored_rows": len(self.restores),
            "replaced_sheets": len(self.sheets),
        }

    def apply_to(self, tables: Tables) -> None:
        """Apply this change set to in-memory tables (the runner does this between jobs)."""
        by_table: dict[str, list[CellUpdate]] = {}
        for u in self.updates:
            by_table.setdefault(u.table, []).append(u)
        for name, updates in by_table.items():
            t = tables[name]
            for u in updates:
                if u.field == "id":
                    continue
                if u.field not in t.df.columns:
                    t.df[u.field] = pd.Series(index=t.df.index, dtype=dtype_for(t.schema.field(u.field).type))
                t.df.loc[u.record_id, u.field] = u.value
                t.invalid.pop((u.record_id, u.field), None)
        for a in self.appends:
            t = tables[a.table]
            row = {k: v for k, v in a.values.items() if k != "id" and k in t.df.columns}
            t.df.loc[a.record_id] = pd.Series(row, dtype=object).reindex(t.df.columns)
        for r in self.archives:
            t = tables[r.table]
            if r.record_id in t.df.index:
                t.df = t.df.drop(index=r.record_id)
        for name, number in self.sequences.items():
            if name in tables:
                tables[name].next_id = max(tables[name].next_id, number)
