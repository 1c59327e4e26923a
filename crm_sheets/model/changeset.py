"""ChangeSet: everything a job wants written, addressed by table, record ID and field — never by position.

A store applies a change set in one write. The runner also applies it to the in-memory tables so
that the next job sees the data as changed by the previous ones.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np
import pandas as pd

from crm_sheets.model.sheets import SheetSpec
from crm_sheets.model.tables import Tables, dtype_for


# The classes made by the ten thousand (updates, appends, audit entries) have slots: no dict per object
# (a first run at 100k leads makes ~300,000 of them).
@dataclass(frozen=True, slots=True)
class CellUpdate:
    table: str
    record_id: str
    field: str
    value: Any
    before: Any = None  # what the job saw, for the audit log
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RowAppend:
    table: str
    record_id: str  # allocated with Table.allocate_id()
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
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
class OptionAdd:
    """A value the team uses, added to a dropdown list of the workbook (its Lists sheet column)."""

    list: str  # the list's name, e.g. lead_status
    label: str  # as the team writes it; it is also the option's key


@dataclass(frozen=True, slots=True)
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
    options: list[OptionAdd] = field(default_factory=list)  # values added to the workbook's dropdown lists

    def is_empty(self) -> bool:
        return not (self.updates or self.appends or self.archives or self.restores or self.sheets or self.sequences
                    or self.columns or self.tables or self.meta or self.options)

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
        self.options.extend(o for o in other.options if o not in self.options)
        return self

    def tables_touched(self) -> set[str]:
        """The tables whose rows or cells this change set writes: updated, appended to, archived from or to,
        restored from or to, or given a next ID number."""
        out = {u.table for u in self.updates} | {a.table for a in self.appends} | set(self.sequences)
        out.update(x for a in self.archives for x in (a.table, a.archive))
        out.update(x for r in self.restores for x in (r.table, r.archive))
        return out

    def summary(self) -> dict[str, int]:
        return {
            "updated_cells": len(self.updates),
            "appended_rows": len(self.appends),
            "archived_rows": len(self.archives),
            "restored_rows": len(self.restores),
            "replaced_sheets": len(self.sheets),
        }

    def apply_to(self, tables: Tables) -> None:
        """Apply this change set to in-memory tables (the runner does this between jobs).

        Restored records come back first (their values read from the archive table's Original row,
        when that table is in memory; otherwise they reappear on the next read), then appended rows
        (one frame per table), then updates (one assignment per column, so an update of an appended
        row wins over its appended value and a later update of a cell over an earlier one), then
        archived rows go. Columns keep their dtype; one becomes ``object`` only when a value of
        another kind (a text in a date column, say) has to fit in it.
        """
        rows: dict[str, dict[str, dict[str, Any]]] = {}  # table -> record ID -> values of new rows
        for res in self.restores:
            values = _archived_values(tables, res)
            if values is not None:
                rows.setdefault(res.table, {})[res.record_id] = values
        for a in self.appends:
            rows.setdefault(a.table, {})[a.record_id] = {k: v for k, v in a.values.items() if k != "id"}
        columns: dict[tuple[str, str], dict[str, Any]] = {}  # (table, field) -> record ID -> value
        for u in self.updates:
            if u.field != "id":
                columns.setdefault((u.table, u.field), {})[u.record_id] = u.value
        for (name, field_name), values in columns.items():  # a field no row has yet becomes a column
            t = tables[name]
            if field_name not in t.df.columns:
                t.df[field_name] = pd.Series(index=t.df.index, dtype=dtype_for(t.schema.field(field_name).type))
            for record_id in _not_in_index(t.df.index, values):  # an update of a record not read nor appended
                if record_id not in rows.get(name, {}):  # adds it, as .loc would
                    rows.setdefault(name, {})[record_id] = {}
        for name, new in rows.items():
            _append_rows(tables[name], new)
        for (name, field_name), values in columns.items():
            t = tables[name]
            ids = pd.Index(list(values), dtype=object)
            t.df[field_name] = _assign(t.df[field_name], ids, list(values.values()))
            _forget_cells(t.invalid, values, field_name)
            _forget_cells(t.typed_text, values, field_name)  # written as a value: no longer text to convert
        archived: dict[str, list[str]] = {}
        for r in self.archives:
            archived.setdefault(r.table, []).append(r.record_id)
        for name, ids in archived.items():
            t = tables[name]
            gone = t.df.index.intersection(pd.Index(ids, dtype=object))
            if len(gone):
                t.df = t.df.drop(index=gone)
                # the raw text the reader kept of an archived record's cells leaves with it (a restore brings it
                # back): a later look at the table (check's second one) would report cells no longer in it
                left = set(gone)
                t.invalid = {k: v for k, v in t.invalid.items() if k[0] not in left}
                t.typed_text = {k: v for k, v in t.typed_text.items() if k[0] not in left}
        for name, number in self.sequences.items():
            if name in tables:
                tables[name].next_id = max(tables[name].next_id, number)
        tables.meta.update(self.meta)  # later jobs of the same run see the _crm_meta keys written
        _add_options(tables, self.options)


def _not_in_index(index: pd.Index, ids: dict[str, Any]) -> list[str]:
    """The IDs of ``ids`` (in order) that ``index`` does not hold: looked up in one go in a unique index (a first run
    updates a few columns of every lead, ~30,000 IDs a column at 30k, each asked of the index on its own before)."""
    if not index.is_unique or not len(index):
        return [record_id for record_id in ids if record_id not in index]
    where = index.get_indexer(pd.Index(list(ids), dtype=object))
    if not (where < 0).any():
        return []
    return [record_id for record_id, at in zip(ids, where) if at < 0]


def _forget_cells(kept: dict[tuple[str, str], Any], ids: dict[str, Any], field_name: str) -> None:
    """Drop the (ID, field) entries of ``ids`` from ``kept`` (the raw text a reader kept of cells now written as
    values): by the kept entries when they are fewer than the IDs (the same entries go, the rest keep their order)."""
    if not kept:
        return
    if type(kept) is dict and len(kept) < len(ids):
        for key in [k for k in kept if k[1] == field_name and k[0] in ids]:
            del kept[key]
        return
    for record_id in ids:
        kept.pop((record_id, field_name), None)


def _add_options(tables: Tables, adds: list[OptionAdd]) -> None:
    """Later jobs of the run see the values added to lists as options (key = the label, as the reader reads them)."""
    from crm_sheets.model.schema import Option
    from crm_sheets.model.values import fold_option, option_lookup

    for add in adds:
        lst = tables.lists.get(add.list) or tables.schema.lists.get(add.list)
        if lst is None or fold_option(add.label) in option_lookup(lst):
            continue
        labels = {"en": add.label, **({tables.lang: add.label} if tables.lang else {})}
        tables.lists[add.list] = replace(lst, options=(*lst.options, Option(add.label, labels)))


# ---------------------------------------------------------------------------------------------
# Typed columns in memory


def _typed(values: list[Any], dtype: Any) -> pd.Series | None:
    """The values as a series of ``dtype`` when every one of them fits it, else None."""
    kind = str(dtype)
    blank = [v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)) for v in values]
    present = [v for v, b in zip(values, blank) if not b]
    try:
        if kind == "object":
            return pd.Series(values, dtype=object)
        if kind in ("str", "string"):
            if not all(isinstance(v, str) for v in present):
                return None
            return pd.Series([None if b else v for v, b in zip(values, blank)], dtype=dtype)
        if kind.startswith("datetime64"):
            if not all(isinstance(v, (dt.date, np.datetime64)) for v in present):
                return None
            if any(getattr(v, "tzinfo", None) is not None for v in present):
                return None
            return pd.Series(pd.to_datetime(pd.Series([None if b else v for v, b in zip(values, blank)], dtype=object)),
                             dtype=dtype)
        if kind == "boolean":
            if not all(isinstance(v, (bool, np.bool_)) for v in present):
                return None
            return pd.Series(pd.array([None if b else bool(v) for v, b in zip(values, blank)], dtype="boolean"))
        if kind == "Int64":
            if not all(isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, (bool, np.bool_))
                       and float(v).is_integer() for v in present):
                return None
            return pd.Series(pd.array([None if b else int(v) for v, b in zip(values, blank)], dtype="Int64"))
        if kind.startswith(("float", "int")):
            if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                       for v in present):
                return None
            return pd.Series([math.nan if b else float(v) for v, b in zip(values, blank)], dtype="float64").astype(dtype)
    except (TypeError, ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return None
    return None


def _assign(column: pd.Series, ids: pd.Index, values: list[Any]) -> pd.Series:
    """``column`` with the rows ``ids`` set to ``values`` (its dtype kept when they fit, else object)."""
    typed = _typed(values, column.dtype)
    out = column.copy() if typed is not None else column.astype(object)
    new = typed if typed is not None else pd.Series(values, dtype=object)
    array = new.array if isinstance(new.dtype, pd.api.extensions.ExtensionDtype) else new.to_numpy()
    if out.index.is_unique:
        out.iloc[out.index.get_indexer(ids)] = array
    else:  # a hand-made sheet with an ID twice: every row of that ID
        for record_id, value in zip(ids, array):
            out.loc[record_id] = value
    return out


def _append_rows(t: Any, rows: dict[str, dict[str, Any]]) -> None:
    """New records at the end of a table: one frame, typed like the table's columns, concatenated once."""
    ids = pd.Index(list(rows), dtype=object, name=t.df.index.name)
    keep = ~ids.isin(t.df.index)  # a record already there (an append repeated) keeps its row
    if not keep.all():
        existing = {rid: v for rid, v in rows.items() if rid in t.df.index}
        for field_name in {k for v in existing.values() for k in v if k in t.df.columns}:
            vals = {rid: v[field_name] for rid, v in existing.items() if field_name in v}
            t.df[field_name] = _assign(t.df[field_name], pd.Index(list(vals), dtype=object), list(vals.values()))
        rows = {rid: v for rid, v in rows.items() if rid not in t.df.index}
        ids = pd.Index(list(rows), dtype=object, name=t.df.index.name)
    if not rows:
        return
    data = {}
    for name in t.df.columns:
        col = t.df[name]
        values = [v.get(name) for v in rows.values()]
        typed = _typed(values, col.dtype)
        if typed is None:
            t.df[name] = col.astype(object)
            typed = pd.Series(values, dtype=object)
        data[name] = typed.set_axis(ids)
    new = pd.DataFrame(data, index=ids, columns=t.df.columns)
    t.df = new if t.df.empty and not len(t.df.index) else pd.concat([t.df, new])


def _archived_values(tables: Tables, res: RowRestore) -> dict[str, Any] | None:
    """The field values of a record as it was archived (its Original row), when the archive table is in memory."""
    import json

    from crm_sheets.model.schema import normalize_header
    from crm_sheets.model.values import option_lookup, parse_value, read_context

    archive, table = tables.get(res.archive), tables.get(res.table)
    if archive is None or table is None or not {"record", "data"} <= set(archive.df.columns):
        return None
    df = archive.df
    match = df["record"].astype(object).eq(res.record_id)
    if "table" in df.columns:
        match &= df["table"].astype(object).isin([res.table, None, "", np.nan]) | df["table"].isna()
    if not match.any():
        return None
    label = df.index[match.to_numpy()][-1]  # the latest archived copy wins, as in the workbook
    try:
        data = json.loads(str(df.at[label, "data"]))
    except ValueError:
        return None
    archive.df = df.drop(index=[label])
    ctx = replace(read_context(tables.settings), date1904=tables.date1904)
    by_header = {}
    for f in table.schema.fields:
        for n in f.names():
            by_header.setdefault(n, f)
    values: dict[str, Any] = {}
    for key, raw in data.items():
        f = by_header.get(normalize_header(key)) if not key.startswith(("_", "[")) else None
        if f is None or f.type == "id" or f.name not in table.df.columns:
            continue
        options = option_lookup(tables.list(f.list)) if getattr(f, "list", None) else None
        value, ok = parse_value(f, raw, ctx, options)
        if ok:
            values[f.name] = value
        else:
            table.invalid[(res.record_id, f.name)] = raw
    return values
