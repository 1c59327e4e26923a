"""What every check shares: the run's context (tables, now, language, region) and the finding collector.

The collector writes the messages, so every finding says where (sheet, cell, column), what was
found and what to do in the same shape: `Leads!F12 (Email): "ana@gmial.com" looks like ...; fix it`.
"""
from __future__ import annotations

from itertools import repeat
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.model import Finding, Table, Tables
from crm_sheets.model.tables import quote_sheet
from crm_sheets.model.normalize import PhoneBook, country_code
from crm_sheets.model.values import is_missing

SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


def _finding_maker():
    """A maker of Finding objects equal to ``Finding(...)``'s, for the findings made a column at a time (a first
    check at 30k sample leads makes 150,000 over its two passes) and those check's memory makes again: the frozen
    dataclass's __init__ sets each field through object.__setattr__; this sets its slots directly (half the time a
    finding)."""
    new = object.__new__
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = (Finding.__dict__[f.name].__set__ for f in fields(Finding))

    def make(type_, severity, table, record_id, field, value, message, cell, fix, fixable) -> Finding:
        f = new(Finding)
        s0(f, type_), s1(f, severity), s2(f, table), s3(f, record_id), s4(f, field)
        s5(f, value), s6(f, message), s7(f, cell), s8(f, fix), s9(f, fixable)
        return f

    return make


make_finding = _finding_maker()


@dataclass
class Context:
    tables: Tables
    now: datetime
    lang: str = "en"
    region: str = "US"  # default phone region (Settings default_country)
    title_case: bool = True  # Settings check_title_case
    value_context: Any = None  # values.read_context(settings), when values.py is available
    # Of the whole run, shared by check --fix's two passes: each phone number parsed and validated once.
    phones: PhoneBook = field(default_factory=PhoneBook)
    verdicts: dict = field(default_factory=dict)  # (check, value, ...) -> verdict, for checks costly per value
    known_ids: dict = field(default_factory=dict)  # target tables -> their record IDs, for this pass's references
    # "ours": phones go to E.164, text dates to dates; an adopted workbook's are "keep" (left as typed,
    # not listed) or, with check --fix, "asked" (rewritten; phones only when they say their country)
    formats: str = "ours"

    @classmethod
    def build(cls, tables: Tables, now: datetime, phones: PhoneBook | None = None, verdicts: dict | None = None) -> "Context":
        region = country_code(str(tables.setting("default_country", "US") or "US")) or "US"
        ctx = cls(tables, now, tables.lang or "en", region, truthy(tables.setting("check_title_case", True)),
                  phones=phones if phones is not None else PhoneBook(),
                  verdicts=verdicts if verdicts is not None else {})
        try:
            from crm_sheets.model.values import read_context

            ctx.value_context = read_context(tables.settings)
            if getattr(tables, "date1904", False):  # serial numbers as the reader read them
                from dataclasses import replace

                ctx.value_context = replace(ctx.value_context, date1904=True)
        except Exception:  # values.py missing or unhappy with the settings: no text parsing, no crash
            ctx.value_context = None
        return ctx

    def rule_rows(self, table_name: str) -> pd.DataFrame | None:
        """A rule sheet's rows: the workbook's, or the template's (in the workbook language) when the sheet is absent."""
        t = self.tables.get(table_name)
        if t is not None:
            return t.df
        ts = self.tables.schema.tables.get(table_name)
        if ts is None or not ts.rows:
            return None
        from crm_sheets.model.schema import localize

        return pd.DataFrame([{k: localize(v, self.lang) for k, v in r.items()} for r in ts.rows])

    @property
    def today(self) -> pd.Timestamp:
        return naive(self.now).normalize()


@dataclass
class Collector:
    """Findings of one run, with messages that name the cell and say what to do."""

    ctx: Context
    items: list[Finding] = field(default_factory=list)
    _where: dict = field(default_factory=dict, repr=False)
    # Which check of a data table made each finding (mark, beside items): its findings are put in one order
    # whether a row was checked now or remembered (memory.py).
    mark: Any = None
    marks: list = field(default_factory=list, repr=False)

    def add(
        self,
        type: str,
        severity: str,
        table: Table,
        record_id: Any,
        field_name: str | None,
        value: Any,
        what: str,
        todo: str,
        *,
        fix: Any = None,
        fixable: bool = False,
    ) -> None:
        cell, where = self._locate(table, record_id, field_name)
        self.marks.append(self.mark)
        self.items.append(
            Finding(
                type=type,
                severity=severity,
                table=table.name,
                record_id=None if record_id is None else str(record_id),
                field=field_name,
                value=value,
                message=f"{where}: {what}; {todo}",
                cell=cell,
                fix=fix,
                fixable=fixable,
            )
        )

    def add_many(
        self,
        type: Any,
        severity: Any,
        table: Table,
        record_ids: Any,
        field_name: str,
        values: Any,
        whats: Any,
        todos: Any,
        *,
        fixes: Any = None,
        fixable: Any = False,
    ) -> None:
        """Many findings of one column at once (a 100k-lead check makes 135,000 phone tidy-ups): the same
        findings as one add() per row, with cells and messages made column-wise.

        record_ids, values, whats and todos are aligned sequences; type, severity, fixes and fixable are
        either one value for all rows or sequences of their own.
        """
        n = len(record_ids)
        if not n:
            return
        rids = [r if r.__class__ is str else str(r) for r in record_ids]  # (`type` is the argument here)
        cells, wheres = self._locate_many(table, rids, field_name)
        messages = [f"{w}: {a}; {b}" for w, a, b in zip(wheres, whats, todos)]
        each = lambda x: x if isinstance(x, (list, tuple, np.ndarray)) else repeat(x, n)  # noqa: E731
        self.marks.extend(repeat(self.mark, n))
        self.items.extend(map(
            make_finding, each(type), each(severity), repeat(table.name, n), rids, repeat(field_name, n),
            values, messages, cells, each(fixes), each(fixable),
        ))

    def _locate_many(self, table: Table, record_ids: list, field_name: str) -> tuple[list, list]:
        """_locate for many records of one column: (cells, wheres)."""
        key = (table.name, field_name)
        if key not in self._where:
            self._locate(table, None, field_name)
        sheet, quoted, col, header = self._where[key]
        rows = table.rows
        found = [rows.get(r) for r in record_ids]
        if col is not None:
            prefix = f"{quoted}!{col}"
            cells = [f"{prefix}{row}" if row is not None else table.cell(r, field_name) for r, row in zip(record_ids, found)]
        else:
            cells = [table.cell(r, field_name) for r in record_ids]
        wheres = [f"{c} ({header})" for c in cells] if header else cells
        return cells, wheres

    def _locate(self, table: Table, record_id: Any, field_name: str | None) -> tuple[str, str]:
        """(cell address, where for the message), e.g. ("Leads!F12", "Leads!F12 (Email)")."""
        key = (table.name, field_name)
        parts = self._where.get(key)
        if parts is None:  # once per column: 100,000 findings must not look the schema up 100,000 times
            sheet = table.sheet or table.schema.sheet_name(self.ctx.lang)
            header = table.schema.field(field_name).header(self.ctx.lang) if field_name and table.schema.has_field(field_name) else None
            parts = self._where[key] = (sheet, quote_sheet(sheet), table.columns.get(field_name or ""), header)
        sheet, quoted, col, header = parts
        row = table.rows.get(record_id) if record_id is not None else None
        if record_id is None:
            cell = base = sheet
        elif field_name and col is not None and row is not None:
            cell = base = f"{quoted}!{col}{row}"
        elif field_name:
            cell = base = table.cell(record_id, field_name)
        else:
            cell, base = sheet, f"{sheet} ({record_id})"
        return cell, (f"{base} ({header})" if header else base)


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "vrai", "oui", "x")
    return bool(value) and not is_missing(value)


def naive(moment: Any) -> pd.Timestamp:
    ts = pd.Timestamp(moment)
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def show(value: Any) -> str:
    """A value as a person would read it in a message or a cell."""
    if type(value) is str:
        return value
    if is_missing(value):
        return ""
    if isinstance(value, (pd.Timestamp, datetime)):
        ts = pd.Timestamp(value)
        if ts.year >= 1000:  # strftime through datetime costs 40 µs a call, and 100,000 findings show dates
            midnight = not (ts.hour or ts.minute or ts.second or ts.microsecond or ts.nanosecond)
            day = f"{ts.year}-{ts.month:02d}-{ts.day:02d}"
            return day if midnight else f"{day} {ts.hour:02d}:{ts.minute:02d}"
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def quote(value: Any) -> str:
    text = show(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f'"{text}"'


def text_values(col: pd.Series) -> pd.Series:
    """The non-empty cells of a text-like column, as str (numbers typed in a text column become text)."""
    return text_codes(col)[0]


def text_codes(col: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """text_values(col), with each of its cells' code into the column's distinct texts and those texts (an array
    that may hold blank texts no cell of it has): a check that looks every value up in a set or another table's IDs
    looks up each distinct text once (at 100k leads, 225,000 activities name 43,000 contacts)."""
    # (masks and values as arrays: a Series asked for an attribute it lacks, as infer_dtype and numpy ask, looks the
    # name up among its index's labels, which hashes every record ID of a fresh index: 0.1 ms a call at 30k leads)
    s = col[col.notna().to_numpy()]
    if not len(s):
        return s.astype(object), np.zeros(0, dtype=np.intp), np.zeros(0, dtype=object)
    if s.dtype != object or pd.api.types.infer_dtype(s.to_numpy(), skipna=False) != "string":
        s = s.astype(str).astype(object)  # object: iterating the problem rows is then plain Python
    codes, uniques = pd.factorize(s)  # blank-or-not once per distinct value
    uniques = np.asarray(uniques, dtype=object)
    blank = np.array([not u.strip() for u in uniques], dtype=bool)
    if blank.any():
        keep = ~blank[codes]
        return s[keep], codes[keep], uniques
    return s, codes, uniques


def texts_not_in(col: pd.Series, known: Any) -> pd.Series:
    """The cells of text_values(col) whose text is not in ``known`` (a set of texts, or an Index of them), in row
    order: ``s[~s.isin(known)]``, each distinct text looked up once."""
    return not_in(*text_codes(col), known)


def not_in(s: pd.Series, codes: np.ndarray, uniques: np.ndarray, known: Any) -> pd.Series:
    """texts_not_in of the text_codes ``s, codes, uniques`` of a column."""
    if not len(s):
        return s
    if isinstance(known, pd.Index):
        missing = known.get_indexer(uniques) < 0  # (the index's hash table is built once, not per column)
    else:
        missing = np.fromiter((u not in known for u in uniques), dtype=bool, count=len(uniques))
    return s[missing[codes]]
