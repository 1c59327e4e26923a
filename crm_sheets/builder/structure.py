"""The rules a table's sheet carries besides its values, as plain data any backend can render: per column its
number format and data validation (builder/validation.py), and the table's highlight rules (builder/highlights.py).
The xlsx builder writes these with XlsxWriter; the Google Sheets backend turns the same data into native
validation and conditional format rules, so a file and a Sheet follow one schema.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from crm_sheets.builder.formats import HIGHLIGHTS, number_format
from crm_sheets.builder.highlights import row_rules
from crm_sheets.builder.layout import Plan, TablePlan, make_plan
from crm_sheets.builder.settings import settings_rows
from crm_sheets.builder.validation import column_rule
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Schema

_CELL_ROW2 = re.compile(r"(?<![A-Za-z0-9_.\"])(\$?[A-Z]{1,3}\$?)2(?![0-9A-Za-z_(])")


@dataclass(frozen=True)
class ColumnRules:
    field: str
    column: str  # column letter
    field_type: str
    num_format: str | None  # an Excel-style pattern, e.g. '"$"#,##0.00'
    validation: Mapping[str, Any] | None  # XlsxWriter data_validation options (plain data), formulas from the first data row


@dataclass(frozen=True)
class TableRules:
    table: str
    first_row: int  # 1-based first data row
    last_row: int  # 1-based last row the rules reach
    last_column: str  # letter of the table's last column
    columns: tuple[ColumnRules, ...]
    # (kind, formula from the first data row, look as XlsxWriter format options), e.g. ("hot", "=AND(...)", {...})
    highlights: tuple[tuple[str, str, Mapping[str, Any]], ...]


def shift_rows(formula: str, first_row: int) -> str:
    """The builder's formulas speak of row 2 (the first data row under a header on row 1): move every relative
    row-2 reference to ``first_row``."""
    if first_row == 2:
        return formula
    return _CELL_ROW2.sub(lambda m: f"{m.group(1)}{first_row}", formula)


def table_rules(schema: Schema, lang: str, table: str, columns: Mapping[str, str], *, header_row: int = 1,
                last_row: int = 1001, names: Iterable[str] = (), currency: str | None = None,
                sheet: str | None = None) -> TableRules:
    """The number formats, validations and highlights of ``table`` laid out in ``columns`` (field -> letter)
    under a header on ``header_row``, as far as ``last_row``. Rules that need a defined name the workbook lacks
    (``names``: those it has) are left out, as the builder leaves them out."""
    plan = _plan(schema, lang, names)
    ts = schema.tables[table]
    tp = TablePlan(ts, sheet or ts.sheet_name(lang), 0, last_row, dict(columns))
    plan.tables[table] = tp
    first = header_row + 1
    out = []
    for f in ts.fields:
        letter = columns.get(f.name)
        if letter is None:
            continue
        cur = (f.currency or currency) if field_type(f.type).per_currency else None
        rule = column_rule(f, letter, plan, tp)
        if rule is not None:
            rule = {k: (shift_rows(v, first) if isinstance(v, str) and k in ("value", "source") else v)
                    for k, v in rule.items()}
        out.append(ColumnRules(f.name, letter, f.type, number_format(f.type, str(cur).strip().upper() if cur else None, lang),
                               rule))
    highlights = tuple((kind, shift_rows(formula, first), dict(HIGHLIGHTS.get(kind, {})))
                       for kind, formula in row_rules(plan, tp))
    last_col = max(columns.values(), key=lambda c: (len(c), c)) if columns else "A"
    return TableRules(table, first, last_row, last_col, tuple(out), highlights)


def _plan(schema: Schema, lang: str, names: Iterable[str]) -> Plan:
    plan = make_plan(schema, lang, {}, settings_rows(schema, lang))
    have = set(names)
    plan.names = {n: f for n, f in plan.names.items() if n in have}
    return plan


__all__ = ["ColumnRules", "TableRules", "shift_rows", "table_rules"]
