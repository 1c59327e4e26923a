"""Data validation of a table sheet, derived from the field types: dropdowns, dates, bounds, emails,
and an input message on every header saying what the column expects.

Excel keeps one validation per cell, so each column gets exactly one rule over its whole range.
Lists come from defined names (see layout.py), so renaming a sheet does not break them.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from crm_sheets.builder.layout import Plan, TablePlan
from crm_sheets.builder.texts import text
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Field

# Excel's limits on the texts of a validation; longer ones make XlsxWriter drop the whole rule.
_TITLE_MAX = 32
_MESSAGE_MAX = 255
_LIST_MAX = 255
_BIG = 1e15


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _fmt_bound(x: float, percent: bool = False) -> str:
    return f"{x * 100:g}%" if percent else f"{x:g}"


def field_help(field: Field, plan: Plan, table: TablePlan) -> str:
    """What a header's input message says: the help text, the type, and required/computed notes."""
    lang = plan.lang
    parts = []
    if field.owned_by_job:
        parts.append(text("owned", lang, job=field.owned_by_job))
    if field.help(lang):
        parts.append(field.help(lang))
    parts.append(_type_hint(field, plan, table))
    if field.required:
        parts.append(text("required", lang))
    if field.constraints.unique and (field_type(field.type).validation(field) or {}).get("kind") != "unique":
        parts.append(text("unique", lang))
    return " ".join(p for p in parts if p)


def _type_hint(field: Field, plan: Plan, table: TablePlan) -> str:
    """The field type's help (the registry's), told what this workbook calls the things it names."""
    lang, schema = plan.lang, plan.schema
    names: dict[str, Any] = {
        "currency": field.currency or plan.currency or "", "row_currency": bool(field.currency_field),
        "list": schema.lists[field.list].label(lang) if field.list in schema.lists
        else ", ".join(field.constraints.enum or ()),
        "table": plan.tables[field.reference].sheet if field.reference in plan.tables else None,
        "team": plan.tables["team"].sheet if "team" in plan.tables else None,
    }
    if field.options_from:
        names["options_from"] = plan.tables[field.options_from.partition(".")[0]].sheet
    return field_type(field.type).help_text(lang, **names)


def header_message(worksheet: Any, col: int, field: Field, plan: Plan, table: TablePlan) -> None:
    """An input message on the header cell: shown when someone clicks it."""
    add_validation(worksheet, 0, col, 0, col, {
        "validate": "any",
        "input_title": _clip(field.header(plan.lang), _TITLE_MAX),
        "input_message": _clip(field_help(field, plan, table), _MESSAGE_MAX),
    })


def column_rule(field: Field, col_letter: str, plan: Plan, table: TablePlan) -> dict[str, Any] | None:
    """The validation of a column's data cells, as XlsxWriter options (None: free text)."""
    lang = plan.lang
    first = f"{col_letter}2"
    col_range = f"${col_letter}$2:${col_letter}${table.last_row}"
    title = _clip(field.header(lang), _TITLE_MAX)
    ftype = field_type(field.type)
    spec = ftype.validation(field) or {}  # the registry's backend-neutral rule, as XlsxWriter options here
    kind = spec.get("kind")
    rule: dict[str, Any] | None = None
    if kind == "unique":
        rule = {"validate": "custom", "value": f"=COUNTIF({col_range},{first})<=1", "error_type": "warning",
                "error_message": text("err.unique", lang)}
    elif kind == "list":
        source = _list_source(field, plan)
        if source:
            rule = {"validate": "list", "source": source,
                    # Tags hold several values: picking one is helped, typing a list is allowed.
                    "error_type": "stop" if spec.get("strict") else "information",
                    "error_message": text("err.list", lang, lists=plan.lists_sheet)}
    elif kind == "reference":
        if field.reference in plan.tables:
            rule = {"validate": "list", "source": f"=ids_{field.reference}", "error_type": "warning",
                    "error_message": text("err.reference", lang, table=plan.tables[field.reference].sheet)}
    elif kind == "user":
        if "team_names" in plan.names:
            rule = {"validate": "list", "source": "=team_names", "error_type": "warning",
                    "error_message": text("err.user", lang, team=plan.tables["team"].sheet)}
    elif kind == "boolean":
        rule = {"validate": "list", "source": ["TRUE", "FALSE"], "error_type": "warning", "error_message": text("err.checkbox", lang)}
    elif kind == "date":
        rule = {"validate": "date", "criteria": "between", "minimum": dt.date(1900, 3, 1),
                "maximum": dt.date(9999, 12, 31), "error_message": text("err.date", lang)}
    elif kind in ("whole", "decimal"):
        rule = bounds_rule(field, lang)
    elif kind == "email":
        check = f'AND(ISNUMBER(FIND("@",{first})),ISNUMBER(FIND(".",{first})))'
        rule = {"validate": "custom", "value": f"={check}", "error_type": "warning",
                "error_message": text("err.email", lang)}
    elif kind == "note":
        rule = {"validate": "any", "input_title": title,
                "input_message": _clip(field.help(lang) or ftype.help_text(lang), _MESSAGE_MAX)}
    if rule is not None and field.constraints.unique and ftype.unique_rule:
        # One rule per cell: a unique email is checked for both.
        unique = f"COUNTIF({col_range},{first})<=1"
        inner = rule["value"][1:] if rule.get("validate") == "custom" else None
        rule = {"validate": "custom", "value": f"=AND({inner},{unique})" if inner else f"={unique}",
                "error_type": "warning", "error_message": _clip(
                    " ".join(filter(None, [rule.get("error_message"), text("err.unique", lang)])), _MESSAGE_MAX)}
    elif rule is None and field.constraints.unique and ftype.unique_rule:
        rule = {"validate": "custom", "value": f"=COUNTIF({col_range},{first})<=1", "error_type": "warning",
                "error_message": text("err.unique", lang)}
    if rule is not None and "error_message" in rule:
        rule.setdefault("error_title", _clip(title, _TITLE_MAX))
        rule["error_message"] = _clip(rule["error_message"], _MESSAGE_MAX)
    return rule


def _list_source(field: Field, plan: Plan) -> Any:
    if field.options_from:
        src_table, _, src_field = field.options_from.partition(".")
        return f"=col_{src_table}_{src_field}"
    if field.list:
        return f"={plan.list_name(field.list)}"
    enum = list(field.constraints.enum or ())
    if enum and len(",".join(enum)) <= _LIST_MAX:
        return enum
    return None


def bounds_rule(field: Field, lang: str) -> dict[str, Any]:
    spec = field_type(field.type).validation(field) or {}
    lo, hi = field.constraints.minimum, field.constraints.maximum
    # The type's own bounds (a rating: 1 to 5) hold whatever the field says; the field may narrow them.
    if spec.get("minimum") is not None:
        lo = spec["minimum"] if lo is None else max(lo, spec["minimum"])
    if spec.get("maximum") is not None:
        hi = spec["maximum"] if hi is None else min(hi, spec["maximum"])
    kind = "integer" if spec.get("kind") == "whole" else "number"
    pct = bool(spec.get("percent"))
    if lo is not None and hi is not None:
        rule = {"criteria": "between", "minimum": lo, "maximum": hi}
        bounds = text("bounds.between", lang, lo=_fmt_bound(lo, pct), hi=_fmt_bound(hi, pct))
    elif lo is not None:
        rule = {"criteria": ">=", "value": lo}
        bounds = text("bounds.min", lang, lo=_fmt_bound(lo, pct))
    elif hi is not None:
        rule = {"criteria": "<=", "value": hi}
        bounds = text("bounds.max", lang, hi=_fmt_bound(hi, pct))
    else:
        rule = {"criteria": "between", "minimum": -_BIG, "maximum": _BIG}
        bounds = ""
    rule["validate"] = "integer" if kind == "integer" else "decimal"
    rule["error_message"] = text(f"err.{kind}", lang, bounds=bounds)
    return rule


def validate_columns(worksheet: Any, plan: Plan, table: TablePlan) -> None:
    """Header messages and column rules for every field of a table sheet."""
    for col, f in enumerate(table.schema.fields):
        header_message(worksheet, col, f, plan, table)
        rule = column_rule(f, table.columns[f.name], plan, table)
        if rule is not None:
            add_validation(worksheet, 1, col, table.last_row - 1, col, rule)


def add_validation(worksheet: Any, r1: int, c1: int, r2: int, c2: int, options: dict[str, Any]) -> None:
    if worksheet.data_validation(r1, c1, r2, c2, options) != 0:
        raise RuntimeError(f"crm-sheets could not add validation {options!r} on {worksheet.name}")
