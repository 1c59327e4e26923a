"""Conditions shared by scoring, assignment, automations and sequences: a field, an operator, a value.

People type rules in sheets, in any language: a rule is compiled once against the schema (field by name
or header, value read as the field's type, option labels mapped to keys) and then evaluated as a
vectorised mask over a whole table. A rule that cannot be compiled raises BadRule, which callers turn
into a 'bad-rule' finding and skip.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from crm_sheets.model import Field, Finding, Table, Tables, TableSchema
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import country_code, fold
from crm_sheets.model.schema import normalize_header
from crm_sheets.model.values import cell_text, fold_option, is_blank, option_lookup, parse_checkbox, parse_datetime, parse_number, read_context

OPERATORS = (
    "equals", "not_equals", "in", "contains", "greater_than", "less_than", "between",
    "is_empty", "is_not_empty", "within_days",
)
# What people type in a Condition cell or an Operator cell besides the list's labels.
SYMBOLS = {
    "=": "equals", "==": "equals", "is": "equals", "est": "equals", "!=": "not_equals", "<>": "not_equals",
    ">": "greater_than", "<": "less_than", "in": "in", "parmi": "in", "contains": "contains", "contient": "contains",
}
_NO_VALUE = {"is_empty", "is_not_empty"}
_LIST_SPLIT = re.compile(r"\s*[,;]\s*")
_BETWEEN_SPLIT = re.compile(r"\s*(?:,|;|\band\b|\bet\b|\.\.|(?<=\d)\s*-\s*(?=[\d-]))\s*", re.IGNORECASE)
_CONDITION = re.compile(
    r"^\s*(?P<field>[^=<>!]+?)\s*(?P<op>==|!=|<>|=|>|<|\s(?:in|parmi|contains|contient|is not empty|is empty|est vide|n'est pas vide)\b)\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_AND = re.compile(r"\s+(?:and|et)\s+|\s*;\s*", re.IGNORECASE)


class BadRule(Exception):
    """A rule cell that cannot be understood: which column, what was found, what to do."""

    def __init__(self, field: str, value: Any, what: str, todo: str):
        super().__init__(what)
        self.field, self.value, self.what, self.todo = field, value, what, todo


def text(value: Any) -> str:
    """A rule cell as stripped text ('' for empty, 10.0 -> '10'): the model's ``cell_text(strip=True)``,
    the same reading the check job gives the rule sheets."""
    return cell_text(value, strip=True)


def rule_rows(table: Table | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(row id, {field: value}) of a rule sheet, in sheet order; fully blank rows are left out."""
    if table is None:
        return
    df = table.df
    cols = list(df.columns)
    for rid, values in zip(df.index, df.itertuples(index=False, name=None)):
        row = dict(zip(cols, values))
        if any(text(v) for v in row.values()):
            yield str(rid), row


def is_active(row: dict[str, Any]) -> bool:
    """A rule runs unless its Active box is explicitly unticked (a new row typed without ticking runs)."""
    v = row.get("active")
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return True
    parsed = parse_checkbox(v)
    return parsed is not False


def ticked(value: Any) -> bool:
    """A checkbox cell is ticked (empty, <NA> and unreadable count as unticked)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return False
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return parse_checkbox(value) is True


def slug(name: str) -> str:
    """A stable, readable rule identity for idempotency keys: 'Welcome new leads' -> 'welcome-new-leads'."""
    return re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-") or "rule"


def row_number(table: Table, rid: str) -> int | None:
    if rid in table.rows:
        return table.rows[rid]
    m = re.match(r"^row(\d+)$", rid)
    return int(m.group(1)) if m else None


def bad_rule(table: Table, rid: str, exc: BadRule, lang: str = "en") -> Finding:
    """The 'bad-rule' warning: sheet, row and column, what was found, what to do; the rule is skipped."""
    sheet = table.sheet or table.schema.sheet_name(lang)
    header = table.schema.field(exc.field).header(lang) if table.schema.has_field(exc.field) else exc.field
    n = row_number(table, rid)
    cell = table.cell(rid, exc.field) if table.columns.get(exc.field) and rid in table.rows else None
    where = cell or (f"{sheet} row {n}" if n else sheet)
    skipped = "la règle est ignorée" if lang == "fr" else "the rule is skipped until then"
    return Finding(
        type="bad-rule", severity="warning", table=table.name, record_id=rid, field=exc.field, value=exc.value,
        message=f"{where} ({header}): {exc.what}; {exc.todo} ({skipped})", cell=cell,
    )


_FIELDS_BY_NAME: dict[int, tuple[TableSchema, dict[str, Field]]] = {}


def find_field(schema: TableSchema, name: str) -> Field | None:
    """The field a rule names by its key or any of its headers/aliases, in any language."""
    key = normalize_header(name)
    if not key:
        return None
    # Called once per record by some actions: index the names once per schema (the first field wins, as before).
    hit = _FIELDS_BY_NAME.get(id(schema))
    if hit is None or hit[0] is not schema:
        if len(_FIELDS_BY_NAME) > 64:
            _FIELDS_BY_NAME.clear()
        names: dict[str, Field] = {}
        for f in schema.fields:
            for n in f.names():
                names.setdefault(n, f)
        hit = _FIELDS_BY_NAME[id(schema)] = (schema, names)
    return hit[1].get(key)


def require_field(schema: TableSchema, name: str, column: str, lang: str = "en") -> Field:
    f = find_field(schema, name)
    if f is None:
        some = ", ".join(x.name for x in schema.fields[1:8])
        raise BadRule(column, name, f'"{name}" is not a column of {schema.sheet_name(lang)}', f"use a column such as {some}")
    return f


def operator_key(tables: Tables, raw: Any) -> str | None:
    """The operator key of what a rule's Operator cell holds (key, label in any language or symbol)."""
    s = text(raw)
    if not s:
        return None
    if s in OPERATORS:
        return s
    if s.lower() in SYMBOLS:
        return SYMBOLS[s.lower()]
    if "rule_operator" in tables.schema.lists:
        return option_lookup(tables.list("rule_operator")).get(fold_option(s))
    return None


def _fold_text(value: Any) -> str:
    s = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    return " ".join(s.lower().split())


def per_value(col: pd.Series, test: Callable[[Any], bool]) -> np.ndarray:
    """``test`` on every cell, called once per distinct value (100,000 leads have a few thousand job
    titles); empty cells are False."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    verdicts = np.array([bool(test(v)) for v in uniques] + [False], dtype=bool)
    return verdicts[codes]  # code -1 (empty) picks the trailing False


def _blank(col: pd.Series) -> np.ndarray:
    na = col.isna().to_numpy()
    if col.dtype == object:
        na = na | per_value(col, lambda v: isinstance(v, str) and not v.strip())
    return na


@dataclass(frozen=True)
class Condition:
    """One compiled test on one field; ``mask`` evaluates it on every row of a table at once."""

    field: str
    op: str
    test: Callable[[pd.Series, pd.Timestamp], np.ndarray]
    label: str  # as typed, for the "why" column

    def mask(self, df: pd.DataFrame, now: datetime) -> np.ndarray:
        if self.field not in df.columns:
            return np.zeros(len(df), dtype=bool)
        today = pd.Timestamp(now).normalize()
        return np.asarray(self.test(df[self.field], today), dtype=bool)


def compile_condition(tables: Tables, schema: TableSchema, field_name: str, op_raw: Any, value_raw: Any,
                      *, field_column: str = "field", op_column: str = "operator", value_column: str = "value") -> Condition:
    """Compile a (field, operator, value) rule against ``schema``; raises BadRule with what to fix."""
    lang = tables.lang or "en"
    f = require_field(schema, field_name, field_column, lang)
    op = operator_key(tables, op_raw)
    if op is None:
        labels = ", ".join(tables.list("rule_operator").labels(lang)) if "rule_operator" in tables.schema.lists else ", ".join(OPERATORS)
        raise BadRule(op_column, text(op_raw) or None, f'"{text(op_raw)}" is not an operator' if text(op_raw) else "the rule has no operator", f"use one of {labels}")
    value = text(value_raw)
    if op not in _NO_VALUE and not value:
        raise BadRule(value_column, None, f"the operator {op} needs a value", "fill in Value")
    test = _compile(tables, f, op, value, value_column)
    label = f"{field_name} {op.replace('_', ' ')} {value}".strip()
    return Condition(f.name, op, test, label)


def _compile(tables: Tables, f: Field, op: str, value: str, column: str) -> Callable[[pd.Series, pd.Timestamp], np.ndarray]:
    if op == "is_empty":
        return lambda col, today: _blank(col)
    if op == "is_not_empty":
        return lambda col, today: ~_blank(col)
    if op == "within_days":
        days = parse_number(value)
        if days is None or not float(days).is_integer() or days < 0:
            raise BadRule(column, value, f'"{value}" is not a whole number of days', "write a number of days such as 30")
        if not field_type(f.type).temporal:
            raise BadRule(column, value, f"within N days needs a date column, and {f.name} is {f.type}", "choose a date column")
        span = pd.Timedelta(days=int(days))

        def within(col: pd.Series, today: pd.Timestamp) -> np.ndarray:
            d = pd.to_datetime(col, errors="coerce")
            return ((d - today).abs() <= span).fillna(False).to_numpy()
        return within
    reader = value_reader(tables, f, column)
    if op == "between":
        parts = [p for p in _BETWEEN_SPLIT.split(value) if p]
        if len(parts) != 2:
            raise BadRule(column, value, f'"{value}" is not two values', "write two values such as 10, 50")
        lo, hi = reader(parts[0]), reader(parts[1])
        if lo > hi:
            lo, hi = hi, lo
        return lambda col, today: _ordered(f, col).between(lo, hi).fillna(False).to_numpy(dtype=bool)
    if op in ("greater_than", "less_than"):
        if not _ordered_type(f):
            raise BadRule(column, value, f"{op.replace('_', ' ')} compares numbers or dates, and {f.name} is {f.type}", "use equals, in or contains")
        bound = reader(value)
        if op == "greater_than":
            return lambda col, today: (_ordered(f, col) > bound).fillna(False).to_numpy(dtype=bool)
        return lambda col, today: (_ordered(f, col) < bound).fillna(False).to_numpy(dtype=bool)
    parts = [p for p in _LIST_SPLIT.split(value) if p] if op in ("in", "contains") else [value]
    if field_type(f.type).multiple:
        wanted = {reader(p) for p in parts}
        hit = lambda col, today: per_value(col, lambda v: bool(wanted & _tags(v)))  # noqa: E731
        return (lambda col, today: ~hit(col, today)) if op == "not_equals" else hit
    if op == "contains" and not _ordered_type(f) and not field_type(f.type).boolean:
        needles = [_fold_text(p) for p in parts]
        return lambda col, today: per_value(col, lambda v: not is_blank(v) and any(n in _fold_text(v) for n in needles))
    wanted = [reader(p) for p in parts]
    key = _key_fn(f)
    keys = {key(w) for w in wanted}

    def equal(col: pd.Series, today: pd.Timestamp) -> np.ndarray:
        if _ordered_type(f):
            return _ordered(f, col).isin(wanted).to_numpy(dtype=bool)
        return per_value(col, lambda v: not is_blank(v) and key(v) in keys)
    if op == "not_equals":
        return lambda col, today: ~equal(col, today)
    return equal


def _tags(v: Any) -> set[str]:
    return {t.strip() for t in str(v).split(",") if t.strip()} if not is_blank(v) else set()


def _ordered_type(f: Field) -> bool:
    """Numbers and dates: compared by order (greater than, between), not as text."""
    return field_type(f.type).numeric or field_type(f.type).temporal


def _ordered(f: Field, col: pd.Series) -> pd.Series:
    if field_type(f.type).temporal:
        return pd.to_datetime(col, errors="coerce")
    return pd.to_numeric(col, errors="coerce").astype("float64")


def _key_fn(f: Field) -> Callable[[Any], Any]:
    """How a cell and a rule value are compared for equals/in: keys, checkboxes, countries, folded text."""
    ftype = field_type(f.type)
    if ftype.boolean:
        return lambda v: parse_checkbox(v) if not isinstance(v, bool) else v
    if ftype.place:
        return lambda v: country_code(str(v)) or _fold_text(v)
    if ftype.options and not ftype.multiple and f.list:
        return lambda v: str(v)
    return _fold_text


def value_reader(tables: Tables, f: Field, column: str) -> Callable[[str], Any]:
    """Reads one rule value as ``f``'s type, or raises BadRule saying what the value should be."""
    ftype = field_type(f.type)
    if ftype.numeric:
        def number(s: str) -> float:
            n = parse_number(s, read_context(tables.settings).decimal) if tables.settings else parse_number(s)
            if n is None:
                n = parse_number(s)
            if n is None:
                raise BadRule(column, s, f'"{s}" is not a number', f"{f.name} holds numbers: write one such as 10")
            return n
        return number
    if ftype.temporal:
        order = read_context(tables.settings).date_order

        def when(s: str) -> pd.Timestamp:
            d = parse_datetime(s, order)
            if d is None:
                raise BadRule(column, s, f'"{s}" is not a date', f"{f.name} holds dates: write one such as 2026-03-31")
            return pd.Timestamp(d)
        return when
    if ftype.boolean:
        def box(s: str) -> bool:
            b = parse_checkbox(s)
            if b is None:
                raise BadRule(column, s, f'"{s}" is not TRUE or FALSE', f"{f.name} is a checkbox: write TRUE or FALSE")
            return b
        return box
    if ftype.options and f.list:
        lst = tables.list(f.list)
        lookup = option_lookup(lst)
        lang = tables.lang or "en"

        def option(s: str) -> str:
            k = lookup.get(fold_option(s))
            if k is None:
                raise BadRule(column, s, f'"{s}" is not in the {lst.label(lang)} list, so the rule would never match',
                              f"use one of {', '.join(lst.labels(lang))}")
            return k
        return option
    return lambda s: s


def parse_conditions(tables: Tables, schema: TableSchema, raw: Any, column: str = "condition") -> list[Condition]:
    """A Condition cell: 'consent = TRUE', 'status = Contacté and amount > 1000' (and/et/; join tests)."""
    s = text(raw)
    if not s:
        return []
    out = []
    for part in _AND.split(s):
        part = part.strip()
        if not part:
            continue
        m = _CONDITION.match(part)
        if not m:
            raise BadRule(column, s, f'"{part}" is not a condition', "write field, operator and value, e.g. consent = TRUE or status = Contacted")
        op_text = m.group("op").strip().lower()
        op = {"is empty": "is_empty", "est vide": "is_empty", "is not empty": "is_not_empty", "n'est pas vide": "is_not_empty"}.get(op_text) or SYMBOLS.get(op_text, op_text)
        out.append(compile_condition(tables, schema, m.group("field").strip(), op, m.group("value"),
                                     field_column=column, op_column=column, value_column=column))
    return out


def all_match(conditions: list[Condition], df: pd.DataFrame, now: datetime) -> np.ndarray:
    mask = np.ones(len(df), dtype=bool)
    for c in conditions:
        mask &= c.mask(df, now)
    return mask
