"""How a value reaches an Excel cell through xlwings without Excel reading it as something else.

Excel parses what is assigned to a cell's Value: text starting with "=" becomes a formula, "007" a number,
"2025-03-14" a date. Text from data must stay text (values from outside never become formulas), so such text
is written with Excel's text prefix (an apostrophe, not part of the value). Dates go as datetimes.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

_NUMBERISH = re.compile(r"^\s*[-+(]?[\d.,\s]*\d[\d.,\s]*%?\)?\s*$|^\s*[-+]?\d+(\.\d*)?[eE][-+]?\d+\s*$")
_DATEISH = re.compile(r"^\s*\d{1,4}\s*[-/.]\s*\d{1,2}(\s*[-/.]\s*\d{1,4})?(\s+\d{1,2}:\d{2}(:\d{2})?)?\s*$|^\s*\d{1,2}:\d{2}(:\d{2})?\s*([aApP][mM])?\s*$")
ERRORS = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!")


def needs_prefix(text: str) -> bool:
    """Whether Excel would read this text as a formula, number, date, time, boolean or error."""
    if not text:
        return False
    if text[0] in "=+-@'" or text.strip().upper() in ("TRUE", "FALSE") or text.strip().upper() in ERRORS:
        return True
    return bool(_NUMBERISH.match(text) or _DATEISH.match(text))


def to_excel(value: Any) -> Any:
    """A plain value as it is assigned to a cell's Value (None leaves the cell empty)."""
    if value is None:
        return None
    if isinstance(value, str):
        return "'" + value if needs_prefix(value) else value
    if isinstance(value, bool):
        return value
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if value.__class__.__name__ in ("NaTType", "NAType"):
        return None
    return value


def formula(text: str) -> str:
    """A job's own formula (SheetSpec Cell.formula, an archived cell's formula) as Excel takes it."""
    return text if text.startswith("=") else "=" + text


def is_error(value: Any) -> bool:
    return isinstance(value, str) and value in ERRORS
