"""Where everything goes in a new workbook: sheet names and order, column letters, how far validation
reaches, and the defined names that validations and highlights refer to. Plain data, no file format.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from crm_sheets.builder.texts import SHEET_TITLES
from crm_sheets.errors import SchemaError
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Schema, TableSchema, localize, normalize_header
from crm_sheets.model.tables import META_SHEET, column_index, column_letter, quote_sheet  # noqa: F401  (column_index: importable from here as before)

KIND_ORDER = ("data", "rules", "settings", "archive", "log")
# Rows below the data that keep validation and highlights, so rows typed under the table behave alike.
SPARE_ROWS = {"data": 1000}
DEFAULT_SPARE = 200
MAX_ROWS = 1_048_576  # Excel's last row


@dataclass(frozen=True)
class TablePlan:
    schema: TableSchema
    sheet: str
    rows: int  # data rows written
    last_row: int  # 1-based last row that carries validation and highlights
    columns: Mapping[str, str]  # field name -> column letter

    def ref(self, field_name: str, first: int = 2, last: int | None = None) -> str:
        """Absolute A1 range of a column, e.g. ``'Prospects'!$B$2:$B$1001``."""
        col = self.columns[field_name]
        return f"{quote_sheet(self.sheet)}!${col}${first}:${col}${last or self.last_row}"


@dataclass
class Plan:
    schema: Schema
    lang: str
    start_sheet: str
    lists_sheet: str
    tables: dict[str, TablePlan]
    order: list[str]  # table names in sheet order
    list_columns: dict[str, str] = field(default_factory=dict)  # list name -> column letter on Lists
    names: dict[str, str] = field(default_factory=dict)  # defined name -> formula
    setting_rows: dict[str, int] = field(default_factory=dict)  # setting key -> 1-based row on Settings
    currency: str | None = None  # the Settings currency, for money columns without their own

    def list_name(self, list_name: str) -> str:
        return f"list_{list_name}"


def name_part(text: str) -> str:
    """A setting key or table name as part of a defined name (letters, digits and _ only)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def sheet_title(schema: Schema, key: str, lang: str) -> str:
    """Name of a builder sheet (Start, Lists): the template's title, else our own translation."""
    owned = schema.owned_sheets.get(key)
    if owned and (lang in owned.title or lang == "en"):
        return owned.sheet_name(lang)
    return SHEET_TITLES[key].get(lang) or SHEET_TITLES[key]["en"]


def make_plan(schema: Schema, lang: str, rows: Mapping[str, int], settings: list[tuple[str, Any, Any]]) -> Plan:
    """Lay out the workbook; ``rows`` counts the data rows of each table, ``settings`` the Settings rows."""
    order = sorted(schema.tables, key=lambda n: KIND_ORDER.index(schema.tables[n].kind))
    tables: dict[str, TablePlan] = {}
    for name in order:
        t = schema.tables[name]
        n = rows.get(name, 0)
        spare = SPARE_ROWS.get(t.kind, DEFAULT_SPARE)
        columns = {f.name: column_letter(i) for i, f in enumerate(t.fields)}
        tables[name] = TablePlan(t, t.sheet_name(lang), n, min(MAX_ROWS, 1 + max(n, 1) + spare), columns)
    plan = Plan(schema, lang, sheet_title(schema, "start", lang), sheet_title(schema, "lists", lang), tables, order)
    plan.currency = next((str(v) for k, v, _ in settings if k == "currency" and v), None)
    _check_sheet_names(plan)
    _define_names(plan, settings)
    return plan


def _check_sheet_names(plan: Plan) -> None:
    seen: dict[str, str] = {}
    for what, sheet in [("start", plan.start_sheet), ("lists", plan.lists_sheet), ("meta", META_SHEET)] + [
        (n, p.sheet) for n, p in plan.tables.items()
    ]:
        other = seen.setdefault(normalize_header(sheet), what)
        if other != what:
            raise SchemaError(
                f"{plan.schema.source or plan.schema.name}: sheet name {sheet!r} ({plan.lang}) is used by both {other!r} and {what!r}",
                hint="give one of them another title in the template",
            )


def _define_names(plan: Plan, settings: list[tuple[str, Any, Any]]) -> None:
    schema = plan.schema
    lists_sheet = quote_sheet(plan.lists_sheet)
    for i, (name, lst) in enumerate(schema.lists.items()):
        col = column_letter(i)
        plan.list_columns[name] = col
        plan.names[plan.list_name(name)] = f"={lists_sheet}!${col}$2:${col}${1 + max(len(lst.options), 1)}"
    for name, tp in plan.tables.items():
        if tp.schema.id_prefix:
            plan.names[f"ids_{name}"] = "=" + tp.ref("id")
    team = plan.tables.get("team")
    if team is not None:
        name_field = "name" if "name" in team.columns else next(
            (f.name for f in team.schema.fields if field_type(f.type).free_text and not field_type(f.type).wrap), None
        )
        if name_field:
            plan.names["team_names"] = "=" + team.ref(name_field)
    for t in schema.tables.values():
        for f in t.fields:
            if f.options_from:
                src_table, _, src_field = f.options_from.partition(".")
                src = plan.tables[src_table]
                plan.names[f"col_{src_table}_{src_field}"] = "=" + src.ref(src_field)
                # The won/lost ticks of the options' table tell open stages from closed ones.
                for flag in ("won", "lost"):
                    if flag in src.columns:
                        plan.names[f"col_{src_table}_{flag}"] = "=" + src.ref(flag)
    st = plan.tables.get("settings")
    if st is not None and "value" in st.columns:
        for row, (key, _value, _desc) in enumerate(settings, start=2):
            plan.setting_rows[key] = row
            col = st.columns["value"]
            plan.names[f"setting_{name_part(key)}"] = f"={quote_sheet(st.sheet)}!${col}${row}"


def template_rows(table: TableSchema, lang: str) -> list[dict[str, Any]]:
    """The rows a template ships for a rule sheet, each value in the workbook language."""
    return [{k: localize(v, lang) for k, v in row.items()} for row in table.rows]
