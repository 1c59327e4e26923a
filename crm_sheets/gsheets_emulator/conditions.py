"""What the API checks beyond the discovery schema in validation rules, conditional formats and charts: a
condition type the feature supports, the number of values it takes, formulas that start with "=", a dropdown's
range on a sheet that exists, chart data and anchors inside existing grids.

The supported types follow the ConditionType reference ("Supported by data validation, conditional formatting
and filters"); the messages are in the API's `Invalid requests[i].kind: ...` shape, in our own words.
"""
from __future__ import annotations

from typing import Any

from . import a1
from .errors import ApiError
from .model import Spreadsheet
from .resource import grid_range, sheet_for

NO_VALUES = {"BLANK", "NOT_BLANK", "DATE_IS_VALID", "TEXT_IS_EMAIL", "TEXT_IS_URL"}
TWO_VALUES = {"NUMBER_BETWEEN", "NUMBER_NOT_BETWEEN", "DATE_BETWEEN", "DATE_NOT_BETWEEN"}
ANY_VALUES = {"ONE_OF_LIST"}  # one or more
UP_TO_TWO = {"BOOLEAN"}  # none, or the checked (and unchecked) values
NOT_FOR_VALIDATION = {"BLANK", "NOT_BLANK", "TEXT_STARTS_WITH", "TEXT_ENDS_WITH", "TEXT_NOT_EQ", "DATE_NOT_EQ",
                      "FILTER_EXPRESSION"}
ONLY_FOR_VALIDATION = {"ONE_OF_RANGE", "ONE_OF_LIST", "DATE_IS_VALID", "BOOLEAN", "TEXT_IS_EMAIL", "TEXT_IS_URL"}


def check_condition(book: Spreadsheet, cond: dict, where: str, *, validation: bool) -> None:
    """Raise ApiError when ``cond`` (a BooleanCondition) is one the API refuses for this feature."""
    kind = cond.get("type") or "CONDITION_TYPE_UNSPECIFIED"
    feature = "data validation" if validation else "conditional formatting"
    if kind == "CONDITION_TYPE_UNSPECIFIED":
        raise ApiError(400, f"{where}A condition needs a type.")
    if validation and kind in NOT_FOR_VALIDATION or not validation and kind in ONLY_FOR_VALIDATION:
        raise ApiError(400, f"{where}Invalid condition type {kind} for {feature}.")
    values = cond.get("values") or []
    wanted = 0 if kind in NO_VALUES else 2 if kind in TWO_VALUES else None if kind in ANY_VALUES | UP_TO_TWO else 1
    if wanted is not None and len(values) != wanted or kind in ANY_VALUES and not values or kind in UP_TO_TWO and len(values) > 2:
        raise ApiError(400, f"{where}Invalid number of condition values for {kind}: {len(values)}.")
    for v in values:
        if "relativeDate" in v and not kind.startswith("DATE_"):
            raise ApiError(400, f"{where}A relative date is only valid for a date condition, not {kind}.")
    if kind == "CUSTOM_FORMULA" and not str(values[0].get("userEnteredValue", "")).startswith("="):
        raise ApiError(400, f"{where}Invalid CUSTOM_FORMULA: a custom formula must start with '='.")
    if kind == "ONE_OF_RANGE":
        text = str(values[0].get("userEnteredValue", ""))
        if not text.startswith("="):
            raise ApiError(400, f"{where}Invalid ONE_OF_RANGE: the range must start with '='.")
        check_range_text(book, text[1:], where)


def check_range_text(book: Spreadsheet, text: str, where: str) -> None:
    """An A1 range (absolute or not) or a named range that names an existing sheet or named range."""
    try:
        ref = a1.parse(text.replace("$", ""))
    except ValueError as e:
        raise ApiError(400, f"{where}{e}") from None
    if ref.name is not None:
        if ref.name in {n.get("name") for n in book.named_ranges} or book.sheet_by_title(ref.name) is not None:
            return
        raise ApiError(400, f"{where}Unable to parse range: {text}")
    if ref.sheet is not None and book.sheet_by_title(ref.sheet) is None:
        raise ApiError(400, f"{where}Unable to parse range: {text}")


def check_chart_spec(book: Spreadsheet, spec: dict, where: str) -> None:
    """Every source range of a chart's data on an existing sheet and inside its grid."""
    for rng in _sources(spec):
        grid_range(book, rng, where=where)


def check_chart_position(book: Spreadsheet, position: dict, where: str) -> None:
    anchor = (position.get("overlayPosition") or {}).get("anchorCell")
    if anchor is None:
        return
    sheet = sheet_for(book, anchor.get("sheetId"), where)
    r, c = int(anchor.get("rowIndex") or 0), int(anchor.get("columnIndex") or 0)
    if r >= sheet.row_count or c >= sheet.column_count:
        raise ApiError(400, f"{where}The chart's anchor cell is outside the grid of sheet {sheet.id}.")


def _sources(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "sourceRange" and isinstance(value, dict):
                yield from value.get("sources") or []
            else:
                yield from _sources(value)
    elif isinstance(node, list):
        for item in node:
            yield from _sources(item)
