"""A table's rules (number formats, validation, highlights: the builder's plain data, derived from the schema)
as native Sheets requests: setDataValidation (ONE_OF_LIST, ONE_OF_RANGE, NUMBER_*, DATE_IS_VALID,
CUSTOM_FORMULA, BOOLEAN for checkboxes), addConditionalFormatRule with a CUSTOM_FORMULA, and repeatCell of
a numberFormat. Used by push and new (whole tables) and by upgrade (the columns and tables it adds).

Sheets differs from Excel in three ways this module absorbs: validation is warning-only here (a team's new
value is kept and check reports it; a job's write is never refused), a conditional format cannot read another
sheet or a defined name directly (names go through INDIRECT("name")), and a dropdown's source is a range,
so a defined name is resolved to the range it names.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable, Mapping, Sequence

from crm_sheets.store.gsheets import batch

_MESSAGE_MAX = 255
_NUMBER_CONDITIONS = {"between": "NUMBER_BETWEEN", "not between": "NUMBER_NOT_BETWEEN", ">=": "NUMBER_GREATER_THAN_EQ",
                      "greater than or equal to": "NUMBER_GREATER_THAN_EQ", "<=": "NUMBER_LESS_THAN_EQ",
                      "less than or equal to": "NUMBER_LESS_THAN_EQ", ">": "NUMBER_GREATER",
                      "greater than": "NUMBER_GREATER", "<": "NUMBER_LESS", "less than": "NUMBER_LESS",
                      "==": "NUMBER_EQ", "equal to": "NUMBER_EQ", "!=": "NUMBER_NOT_EQ", "not equal to": "NUMBER_NOT_EQ"}
_DATE_CONDITIONS = {"between": "DATE_BETWEEN", "not between": "DATE_NOT_BETWEEN", ">=": "DATE_ON_OR_AFTER",
                    ">": "DATE_AFTER", "<=": "DATE_ON_OR_BEFORE", "<": "DATE_BEFORE", "==": "DATE_EQ"}
_FORMULA_VALIDATIONS = {"custom"}


def sheets_format(excel_format: str | None) -> dict | None:
    """An Excel number format as a Sheets numberFormat (the pattern syntax is shared); None for General."""
    if not excel_format or excel_format == "General":
        return None
    if excel_format == "@":
        return {"type": "TEXT", "pattern": "@"}
    from openpyxl.styles.numbers import is_date_format

    if is_date_format(excel_format):
        timed = bool(re.search(r"h|s", re.sub(r'"[^"]*"|\[[^\]]*\]', "", excel_format), re.I))
        return {"type": "DATE_TIME" if timed else "DATE", "pattern": excel_format}
    if "%" in excel_format:
        return {"type": "PERCENT", "pattern": excel_format}
    if re.search(r'[$€£¥]|"[A-Z]{3}"|\[\$', excel_format) and "0" in excel_format:
        return {"type": "CURRENCY", "pattern": excel_format}  # an amount with its currency symbol or code
    return {"type": "NUMBER", "pattern": excel_format}


def with_names(formula: str, names: Mapping[str, Any]) -> str:
    """A formula whose defined names are read through INDIRECT("name"): Sheets' conditional formats and custom
    validations cannot point at another sheet directly, and a named range is one. Quoted text is left alone."""
    if not names:
        return formula
    pattern = re.compile(r'"(?:[^"]|"")*"|(?<![A-Za-z0-9_.$!\'])(' + "|".join(
        re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")(?![A-Za-z0-9_.(!])")
    return pattern.sub(lambda m: m.group(0) if m.group(1) is None else f'INDIRECT("{m.group(1)}")', formula)


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) and abs(value) < 1e16 else str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.strftime("%Y-%m-%d")
    return str(value)


def condition(rule: Mapping[str, Any], resolve: Callable[[str], str | None], names: Mapping[str, Any]) -> dict | None:
    """A builder validation rule (XlsxWriter's options) as a Sheets BooleanCondition; None when Sheets has no
    such rule (input messages alone) or its source cannot be found."""
    kind = str(rule.get("validate", "any"))
    if kind == "list":
        source = rule.get("source")
        if isinstance(source, (list, tuple)):
            options = [str(o) for o in source]
            if sorted(o.upper() for o in options) == ["FALSE", "TRUE"]:
                return {"type": "BOOLEAN"}
            return {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": o} for o in options]}
        if isinstance(source, str):
            text = source.lstrip("=").strip()
            a1 = resolve(text) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", text) else text
            if a1:
                return {"type": "ONE_OF_RANGE", "values": [{"userEnteredValue": "=" + a1.lstrip("=")}]}
        return None
    if kind in ("integer", "decimal", "date"):
        criteria = str(rule.get("criteria", "between"))
        table = _DATE_CONDITIONS if kind == "date" else _NUMBER_CONDITIONS
        if kind == "date" and criteria == "between" and _is_any_date(rule):
            return {"type": "DATE_IS_VALID"}
        ctype = table.get(criteria)
        if ctype is None:
            return None
        values = [rule.get("minimum"), rule.get("maximum")] if "BETWEEN" in ctype else [rule.get("value")]
        if any(v is None for v in values):
            return None
        if kind == "date":
            return {"type": ctype, "values": [{"userEnteredValue": _number(v)} for v in values]}
        return {"type": ctype, "values": [{"userEnteredValue": _number(v)} for v in values]}
    if kind in _FORMULA_VALIDATIONS:
        formula = str(rule.get("value") or "").strip()
        if not formula:
            return None
        formula = formula if formula.startswith("=") else "=" + formula
        return {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": with_names(formula, names)}]}
    return None


def _is_any_date(rule: Mapping[str, Any]) -> bool:
    lo, hi = rule.get("minimum"), rule.get("maximum")
    return isinstance(lo, dt.date) and isinstance(hi, dt.date) and lo.year <= 1900 and hi.year >= 9999


def validation(sheet_id: int, start_row: int, end_row: int | None, col: int, rule: Mapping[str, Any],
               resolve: Callable[[str], str | None], names: Mapping[str, Any]) -> dict | None:
    """setDataValidation of a builder rule over rows [start_row, end_row) of a column (end None: to the grid's
    end); warning-only, with the rule's message as the help text."""
    cond = condition(rule, resolve, names)
    if cond is None:
        return None
    out: dict[str, Any] = {"condition": cond, "strict": False}
    if cond["type"] in ("ONE_OF_LIST", "ONE_OF_RANGE"):
        out["showCustomUi"] = True
    message = str(rule.get("error_message") or rule.get("input_message") or "").strip()
    if message:
        out["inputMessage"] = message[:_MESSAGE_MAX]
    return {"setDataValidation": {"range": batch.grid_range(sheet_id, start_row, end_row, col, col + 1), "rule": out}}


def cell_look(look: Mapping[str, Any]) -> dict:
    """XlsxWriter format options (a highlight's colours) as the CellFormat Sheets conditional formats accept:
    background, text colour, bold, italic, strikethrough, underline."""
    fmt: dict[str, Any] = {}
    text: dict[str, Any] = {}
    if look.get("bg_color"):
        fmt["backgroundColorStyle"] = {"rgbColor": batch.rgb(str(look["bg_color"]))}
    if look.get("font_color"):
        text["foregroundColorStyle"] = {"rgbColor": batch.rgb(str(look["font_color"]))}
    for key, name in (("bold", "bold"), ("italic", "italic"), ("font_strikeout", "strikethrough"), ("underline", "underline")):
        if look.get(key):
            text[name] = True
    if text:
        fmt["textFormat"] = text
    return fmt


def highlight(sheet_id: int, start_row: int, end_row: int | None, start_col: int, end_col: int, formula: str,
              look: Mapping[str, Any], names: Mapping[str, Any], index: int = 0) -> dict:
    """addConditionalFormatRule: rows where ``formula`` (relative to the range's first row) holds take ``look``."""
    formula = formula if formula.startswith("=") else "=" + formula
    return {"addConditionalFormatRule": {"index": index, "rule": {
        "ranges": [batch.grid_range(sheet_id, start_row, end_row, start_col, end_col)],
        "booleanRule": {"condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": with_names(formula, names)}]},
                        "format": cell_look(look)}}}}


def column_format(sheet_id: int, start_row: int, end_row: int | None, col: int, pattern: str | None,
                  field_type: str = "") -> dict | None:
    """repeatCell of a column's number format (money, dates, percent...); checkboxes need none in Sheets."""
    if field_type == "checkbox":
        return None
    fmt = sheets_format(pattern)
    if fmt is None:
        return None
    if field_type == "money" and fmt["type"] == "NUMBER":
        fmt = {**fmt, "type": "CURRENCY"}  # an amount in the Settings currency, shown without a symbol
    return batch.format_cells(sheet_id, start_row, end_row, col, col + 1, fmt)


def table_requests(rules: Any, sheet_id: int, header_row: int, end_row: int | None, names: Mapping[str, str],
                   col_index: Callable[[str], int], *, index: int = 0) -> list[dict]:
    """A TableRules (crm_sheets.builder.structure) on a sheet whose header is 0-based ``header_row``: the
    number format and validation of every column over its data rows, and the highlights over the table's
    columns, as far as ``end_row`` (None: the grid's end). ``names``: defined name -> A1 range."""
    out: list[dict] = []
    first = header_row + 1
    resolve = names.get
    for c in rules.columns:
        col = col_index(c.column)
        fmt = column_format(sheet_id, first, end_row, col, c.num_format, c.field_type)
        if fmt is not None:
            out.append(fmt)
        if c.validation is not None:
            req = validation(sheet_id, first, end_row, col, c.validation, resolve, names)
            if req is not None:
                out.append(req)
    for i, (kind, formula, look) in enumerate(rules.highlights):
        out.append(highlight(sheet_id, first, end_row, 0, col_index(rules.last_column) + 1, formula, look, names, index + i))
    return out


def kept_requests(requests: Sequence[dict]) -> int:
    """How many of ``requests`` are validation or highlight rules (for a push's message)."""
    return sum(1 for r in requests if "setDataValidation" in r or "addConditionalFormatRule" in r)


_ROW_NUMBERS = re.compile(r"(\$?[A-Z]{1,3}\$)\d+")


def _comparable(rule: Mapping[str, Any] | None) -> dict | None:
    """A builder rule (or a file's, read back) in a form where the schema's rule and the same rule as a workbook
    stores it compare equal: absolute row numbers left out (the table's last row differs), dates as serials."""
    if not rule:
        return None
    out: dict[str, Any] = {"validate": rule.get("validate"), "criteria": rule.get("criteria", "between")}
    for key in ("source", "value", "minimum", "maximum"):
        v = rule.get(key)
        if v is None:
            continue
        if isinstance(v, str):
            v = _ROW_NUMBERS.sub(r"\1", v.replace(" ", "")).upper()
        elif isinstance(v, (list, tuple)):
            v = [str(x).strip() for x in v]
        elif isinstance(v, (dt.date, dt.datetime)):
            v = batch.serial(v)
        elif isinstance(v, (int, float)):
            v = float(v)
        out[key] = v
    if out["validate"] in ("list", "custom"):
        out.pop("criteria")
    return out


def same_rule(theirs: Mapping[str, Any] | None, ours: Mapping[str, Any] | None) -> bool:
    """Whether a validation read from a file is the schema's own rule for that column (as the builder wrote it),
    rather than one a person set there."""
    return _comparable(theirs) == _comparable(ours)
