"""A ChangeSet as a backend-neutral write plan: per table, the values to write addressed by record ID and
field (in the workbook's form: option labels, dates as dates), the rows to append, the records to archive
and restore, plus the owned sheets, columns, tables, list options and _crm_meta keys to write.

Every backend writes a Plan; only how a value reaches a cell (XML, an API request) is its own. The plan
holds no medium's details: no style indices, no shared strings, no XML, no cell addresses.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

from crm_sheets.errors import CrmSheetsError
from crm_sheets.model.changeset import ChangeSet, ColumnAdd, RowAppend, RowArchive, RowRestore, TableAdd
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.limits import too_long
from crm_sheets.model.schema import Field
from crm_sheets.model.sheets import SheetSpec
from crm_sheets.model.tables import Tables
from crm_sheets.model.values import is_missing
from crm_sheets.store.core.archive import ArchivedRow, dumps

DATE_FORMAT = "yyyy-mm-dd"  # a date written into a cell without a number format of its own
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


def field_value(f: Field | None, value: Any, tables: Tables, labels_of: dict[str, Any] | None = None) -> Any:
    """A job's value as the workbook shows it: option keys become labels in the workbook language.

    ``labels_of`` (a dict the caller keeps for one plan) remembers each list's labels, so a plan of tens of
    thousands of values builds them once per list instead of once per value."""
    if f is None or is_missing(value):
        return value
    ftype = field_type(f.type)
    if type(value) is str and not ftype.boolean and not (ftype.options and f.list):
        return value  # most values of a plan (the Audit Log's): nothing below changes a plain string
    if ftype.options and f.list and isinstance(value, str):
        labels = labels_of.get(f.list) if labels_of is not None else None
        if labels is None:
            try:
                lst = tables.list(f.list)
            except KeyError:
                return value
            labels = {o.key: o.label(tables.lang) for o in lst.options}
            if labels_of is not None:
                labels_of[f.list] = labels
        if ftype.multiple:
            return ", ".join(labels.get(k.strip(), k.strip()) for k in value.split(",") if k.strip())
        return labels.get(value, value)
    if ftype.boolean:
        return bool(value)
    if ftype.whole and isinstance(value, float) and value == int(value):
        return int(value)
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if ftype.temporal and not ftype.with_time and isinstance(value, dt.datetime) and value == dt.datetime(value.year, value.month, value.day):
        return value.date()
    return value


def number_format(value: Any) -> str | None:
    """The number format a value needs when its cell has none: dates are shown as dates, not serial numbers."""
    if isinstance(value, dt.datetime):
        return DATETIME_FORMAT
    if isinstance(value, dt.date):
        return DATE_FORMAT
    return None


@dataclass(frozen=True)
class ArchiveMove:
    """Record ``record_id`` of ``table`` leaves its sheet for a new row of ``archive`` (e.g. Merged): the
    backend captures the whole sheet row as an ArchivedRow and appends ``archive_values(move, row)``."""

    table: str
    record_id: str
    archive: str
    info: Mapping[str, Any] = field(default_factory=dict)  # the archive row's other fields (merged_into, reason)


@dataclass
class TablePlan:
    """What a plan writes into one table. Values are in the workbook's form (field_value): write them as they are."""

    table: str
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)  # record ID -> field -> value (None clears)
    appends: list[dict[str, Any]] = field(default_factory=list)  # new rows, field -> value ("id" included), in order
    columns: list[ColumnAdd] = field(default_factory=list)  # columns to add before any value is written

    def __bool__(self) -> bool:
        return bool(self.updates or self.appends or self.columns)


@dataclass
class Plan:
    """A change set as the operations a backend performs, in this order: tables added, columns added,
    updates, archives (capture, then remove the source rows), restores (find the latest archived copy,
    remove it, append the row back), appends, list options, owned sheets, _crm_meta keys."""

    tables: dict[str, TablePlan] = field(default_factory=dict)  # table name -> its updates, appends, columns
    tables_added: list[TableAdd] = field(default_factory=list)
    archives: list[ArchiveMove] = field(default_factory=list)
    restores: list[RowRestore] = field(default_factory=list)
    options: dict[str, list[str]] = field(default_factory=dict)  # list name -> labels to add, in order
    sheets: list[SheetSpec] = field(default_factory=list)  # owned sheets replaced whole
    meta: dict[str, Any] = field(default_factory=dict)  # _crm_meta keys to set (seq.<table>, schema_version...)

    def table(self, name: str) -> TablePlan:
        if name not in self.tables:
            self.tables[name] = TablePlan(name)
        return self.tables[name]


def make_plan(cs: ChangeSet, tables: Tables) -> Plan:
    """The plan of a change set over the tables it was made from (``tables`` as the jobs read them).

    An update to a record appended by the same change set goes into its new row; an update or archive of a
    record the workbook does not have is a CrmSheetsError (read again and re-run the job).
    """
    plan = Plan(tables_added=list(cs.tables), restores=list(cs.restores), sheets=list(cs.sheets))
    for c in cs.columns:
        plan.table(c.table).columns.append(c)
    appends = list(cs.appends)
    # where each record's last append is (an update to it goes there): one look-up per update, not a scan of
    # every append (a first run at 100k leads appends and updates tens of thousands of rows)
    appended = {(a.table, a.record_id): i for i, a in enumerate(appends)}
    fields = _fields(tables)
    labels_of: dict[str, Any] = {}
    not_plain = _labelled_or_boolean(fields)
    same = _SameValues(fields, tables, labels_of)
    # the table of the update before, its rows, its fields not written as plain strings and its plan's updates (None
    # until one is planned): a change set's updates come table by table (a first run updates ~48,000 rows at 30k)
    name, rows, special, planned = None, None, frozenset(), None
    for u in cs.updates:
        if u.table != name or rows is None:
            t = tables.get(u.table)
            if t is None:
                raise _no_table(tables, u.table)
            name, rows, special, planned = u.table, t.rows, not_plain(u.table), None
        if u.record_id not in rows:
            at = appended.get((u.table, u.record_id))
            if at is not None:  # an update to a row appended by the same change set
                values = dict(appends[at].values)
                values[u.field] = u.value
                appends[at] = RowAppend(u.table, u.record_id, values)
                continue
            raise CrmSheetsError(f"{u.table}: record {u.record_id} is not in the workbook",
                                 hint="read the workbook again and re-run the job")
        if planned is None:
            planned = plan.table(name).updates
        row = planned.setdefault(u.record_id, {})
        v = u.value  # later updates of a cell win; a plain string as for appends below
        row[u.field] = v if type(v) is str and u.field not in special else same(name, u.field, v)
    for a in cs.archives:
        t = tables.get(a.table)
        if t is None:
            raise _no_table(tables, a.table)
        if a.record_id not in t.rows:
            raise CrmSheetsError(f"{a.table}: record {a.record_id} to archive is not in the workbook",
                                 hint="read the workbook again and re-run the job")
        plan.archives.append(ArchiveMove(a.table, a.record_id, a.archive, dict(a.info)))
    for a in appends:
        schema_fields = fields(a.table)
        values = dict(a.values)
        if schema_fields and "id" in schema_fields:
            values["id"] = a.record_id
        # a plain string is kept as it is (field_value's own first answer) unless its field shows labels or is a
        # boolean: no call per value (a first run at 30k leads appends ~70,000 rows, most of them text)
        special = not_plain(a.table)
        table = a.table
        plan.table(table).appends.append({k: v if type(v) is str and k not in special else same(table, k, v)
                                          for k, v in values.items()})
    for add in cs.options:
        labels = plan.options.setdefault(add.list, [])
        if add.label not in labels:
            labels.append(add.label)
    for table, number in cs.sequences.items():
        plan.meta[f"seq.{table}"] = int(number)
    plan.meta.update(cs.meta)
    return plan


# Types whose equal values (with the same time zone) are the same value in every respect field_value reads: its
# answer for one is its answer for all. Not float: -0.0 equals 0.0 and is written otherwise.
_SAME_WHEN_EQUAL = frozenset({int, bool, dt.datetime, dt.date, pd.Timestamp})


class _SameValues:
    """field_value of a plan's values, worked out once per field and distinct value of the types above: a first run at
    30k sample leads appends ~40,000 Audit Log rows stamped with the run's one time, and scores ~30,000 leads."""

    def __init__(self, fields, tables: Tables, labels_of: dict[str, Any]) -> None:
        self._fields, self._tables, self._labels_of = fields, tables, labels_of
        self._seen: dict[tuple, Any] = {}

    def __call__(self, table: str, name: str, value: Any) -> Any:
        kind = type(value)
        if kind not in _SAME_WHEN_EQUAL:
            return field_value(self._fields(table).get(name), value, self._tables, self._labels_of)
        key = (table, name, kind, value, getattr(value, "tzinfo", None))
        got = self._seen.get(key, self)
        if got is self:
            got = self._seen[key] = field_value(self._fields(table).get(name), value, self._tables, self._labels_of)
        return got


def archive_values(move: ArchiveMove | RowArchive, row: ArchivedRow, tables: Tables) -> dict[str, Any]:
    """The archive table's row for a captured record: record, table, the move's info and the Original row
    (``data``), each in the workbook's form. Refused before anything is written when the Original row is
    longer than a cell can hold (cut, it could never be restored)."""
    fields = _fields(tables)(move.archive)
    values = {"record": move.record_id, "table": move.table, **dict(move.info), "data": dumps(row)}
    if too_long(values["data"]):
        raise CrmSheetsError(
            f"{move.table}: record {move.record_id} holds more text than one cell of {move.archive} can keep "
            f"({len(values['data']):,} characters), so it cannot be archived",
            hint="shorten its longest cells (crm-sheets check lists cells over 32,767 characters) and run again",
        )
    return {k: field_value(fields.get(k), v, tables) for k, v in values.items()}


def is_archived_copy(res: RowRestore, record: Any, table: Any) -> bool:
    """Whether an archive row (its Record and Table cells) is the archived copy ``res`` restores; the backend
    looks from the last row up: the latest copy wins."""
    if record is None or str(record) != res.record_id:
        return False
    return table is None or str(table) in ("", res.table)


def _fields(tables: Tables):
    cache: dict[str, dict[str, Field]] = {}

    def of(table: str) -> dict[str, Field]:
        if table not in cache:
            t = tables.get(table)
            cache[table] = {f.name: f for f in t.schema.fields} if t is not None else {}
        return cache[table]

    return of


def _labelled_or_boolean(fields):
    """Per table, the fields whose plain string values field_value changes (option lists, booleans)."""
    cache: dict[str, frozenset[str]] = {}

    def of(table: str) -> frozenset[str]:
        if table not in cache:
            cache[table] = frozenset(name for name, f in fields(table).items()
                                     if field_type(f.type).boolean or field_type(f.type).options and f.list)
        return cache[table]

    return of


def _no_table(tables: Tables, name: str) -> CrmSheetsError:
    where = tables.source.rsplit("/", 1)[-1] if tables.source else "the workbook"
    return CrmSheetsError(f"{where}: the change set writes to table {name!r}, which this workbook does not have",
                          hint="run `crm-sheets upgrade` to add the missing sheets")
