"""The Spreadsheet resource as spreadsheets.get and spreadsheets.create return it, with grid data when asked."""
from __future__ import annotations

import copy
from typing import Any

from . import a1
from .cellvalues import effective_value, formatted
from .errors import ApiError
from .model import Cell, Sheet, Spreadsheet, entry_format, entry_to_data, entry_value

DEFAULT_ROWS, DEFAULT_COLUMNS = 1000, 26
ROW_PIXELS, COLUMN_PIXELS = 21, 100


def spreadsheet_resource(book: Spreadsheet, *, grid_ranges: list[tuple[Sheet, int, int, int, int]] | None = None,
                         only_sheets: list[Sheet] | None = None, with_data: bool = False) -> dict:
    sheets = only_sheets if only_sheets is not None else book.sheets
    out: dict[str, Any] = {"spreadsheetId": book.id, "properties": copy.deepcopy(book.properties), "sheets": []}
    for sheet in sheets:
        item = sheet_resource(book, sheet)
        if with_data:
            ranges = [g for g in (grid_ranges or []) if g[0] is sheet] or \
                [(sheet, 0, sheet.row_count, 0, sheet.column_count)]
            item["data"] = [grid_data(sheet, *g[1:]) for g in ranges]
        out["sheets"].append(item)
    if book.named_ranges:
        out["namedRanges"] = copy.deepcopy(book.named_ranges)
    located = [m for m in book.developer_metadata if m["location"].get("locationType") == "SPREADSHEET"]
    if located:
        out["developerMetadata"] = copy.deepcopy(located)
    out["spreadsheetUrl"] = f"https://docs.google.com/spreadsheets/d/{book.id}/edit"
    return out


def sheet_properties(sheet: Sheet) -> dict:
    """SheetProperties as the API answers them: false and zero defaults left out (proto3 JSON)."""
    props = copy.deepcopy(sheet.properties)
    for key in ("hidden", "rightToLeft"):
        if not props.get(key, True):
            del props[key]
    grid = props.get("gridProperties", {})
    for key in ("frozenRowCount", "frozenColumnCount", "hideGridlines", "rowGroupControlAfter", "columnGroupControlAfter"):
        if key in grid and not grid[key]:
            del grid[key]
    return props


def sheet_resource(book: Spreadsheet, sheet: Sheet) -> dict:
    item: dict[str, Any] = {"properties": sheet_properties(sheet)}
    for key, value in (("merges", sheet.merges), ("conditionalFormats", sheet.conditional_formats),
                       ("protectedRanges", sheet.protected_ranges), ("charts", sheet.charts),
                       ("bandedRanges", sheet.banded_ranges)):
        if value:
            item[key] = copy.deepcopy(value)
    if sheet.basic_filter:
        item["basicFilter"] = copy.deepcopy(sheet.basic_filter)
    if sheet.__dict__.get("filter_views"):
        item["filterViews"] = copy.deepcopy(sheet.__dict__["filter_views"])
    located = [m for m in book.developer_metadata
               if m["location"].get("locationType") == "SHEET" and m["location"].get("sheetId") == sheet.id]
    if located:
        item["developerMetadata"] = copy.deepcopy(located)
    return item


def grid_data(sheet: Sheet, r0: int, r1: int, c0: int, c1: int) -> dict:
    """GridData for the cells [r0, r1) x [c0, c1): rowData trimmed of trailing empty rows and cells."""
    rows: list[dict] = []
    for r in range(r0, min(r1, len(sheet.rows))):
        row = sheet.rows[r] or []
        values = [cell_data(row[c]) if c < len(row) else {} for c in range(c0, min(c1, len(row)))]
        while values and not values[-1]:
            values.pop()
        rows.append({"values": values} if values else {})
    while rows and not rows[-1]:
        rows.pop()
    data: dict[str, Any] = {}
    if r0:
        data["startRow"] = r0
    if c0:
        data["startColumn"] = c0
    if rows:
        data["rowData"] = rows
    data["rowMetadata"] = [_dimension(sheet.row_meta.get(r), ROW_PIXELS) for r in range(r0, r1)]
    data["columnMetadata"] = [_dimension(sheet.col_meta.get(c), COLUMN_PIXELS) for c in range(c0, c1)]
    return data


def _dimension(meta: dict | None, pixels: int) -> dict:
    out = {"pixelSize": pixels}
    if meta:
        out.update(copy.deepcopy(meta))
    return out


def cell_data(entry: Any) -> dict:
    if entry is None:
        return {}
    data = entry_to_data(entry)
    effective = effective_value(entry)
    if effective is not None:
        data["effectiveValue"] = effective
        data["formattedValue"] = formatted(entry_value(entry), entry_format(entry))
    elif isinstance(entry, Cell) and entry.formula is not None:
        data["formattedValue"] = ""
    if "userEnteredFormat" in data:
        data["effectiveFormat"] = copy.deepcopy(data["userEnteredFormat"])
    return data


# -- ranges ------------------------------------------------------------------------------------------

def resolve(book: Spreadsheet, text: str, *, check_grid: bool = True) -> tuple[Sheet, int, int, int, int]:
    """(sheet, r0, r1, c0, c1) for an A1 range; unbounded sides end at the grid's edge.

    Raises the API's 400 for ranges it cannot parse, unknown sheets and (with check_grid) ranges that
    start past the grid."""
    try:
        parsed = a1.parse(text)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    if parsed.name is not None:
        for named in book.named_ranges:
            if named.get("name") == parsed.name:
                return grid_range(book, named["range"])
        sheet = book.sheet_by_title(parsed.name)
        if sheet is None:
            raise ApiError(400, f"Unable to parse range: {text}")
        return sheet, 0, sheet.row_count, 0, sheet.column_count
    if parsed.sheet is None:
        if not book.sheets:
            raise ApiError(400, f"Unable to parse range: {text}")
        sheet = book.sheets[0]
    else:
        sheet = book.sheet_by_title(parsed.sheet)
        if sheet is None:
            raise ApiError(400, f"Unable to parse range: {text}")
    if parsed.start_row is None:
        return sheet, 0, sheet.row_count, 0, sheet.column_count
    r0, c0 = parsed.start_row, parsed.start_col or 0
    r1 = parsed.end_row if parsed.end_row is not None else sheet.row_count
    c1 = parsed.end_col if parsed.end_col is not None else sheet.column_count
    if check_grid:
        check_in_grid(sheet, r0, r1, c0, c1)
    return sheet, r0, max(r0, r1), c0, max(c0, c1)


def exceeds(sheet: Sheet, r: int, c: int) -> ApiError:
    title = sheet.title.replace("'", "''")
    return ApiError(400, f"Range ('{title}'!{a1.col_letters(c)}{r + 1}) exceeds grid limits. "
                         f"Max rows: {sheet.row_count}, max columns: {sheet.column_count}")


def check_in_grid(sheet: Sheet, r0: int, r1: int, c0: int, c1: int) -> None:
    if r1 > sheet.row_count:
        raise exceeds(sheet, max(r0, sheet.row_count), c0)
    if c1 > sheet.column_count:
        raise exceeds(sheet, r0, max(c0, sheet.column_count))


def grid_range(book: Spreadsheet, rng: dict, *, where: str = "") -> tuple[Sheet, int, int, int, int]:
    """(sheet, r0, r1, c0, c1) of a GridRange; unbounded sides end at the grid's edge."""
    sheet = sheet_for(book, rng.get("sheetId", 0), where)
    r0 = int(rng.get("startRowIndex", 0) or 0)
    c0 = int(rng.get("startColumnIndex", 0) or 0)
    r1 = int(rng["endRowIndex"]) if rng.get("endRowIndex") is not None else sheet.row_count
    c1 = int(rng["endColumnIndex"]) if rng.get("endColumnIndex") is not None else sheet.column_count
    if r0 < 0 or c0 < 0 or r1 < r0 or c1 < c0:
        raise ApiError(400, f"{where}Invalid range: start must be before end and not negative")
    if r1 > sheet.row_count or c1 > sheet.column_count:
        err = exceeds(sheet, max(r0, sheet.row_count) if r1 > sheet.row_count else r0,
                      max(c0, sheet.column_count) if c1 > sheet.column_count else c0)
        raise ApiError(400, where + err.message)
    return sheet, r0, r1, c0, c1


def sheet_for(book: Spreadsheet, sheet_id: Any, where: str = "") -> Sheet:
    sheet = book.sheet_by_id(int(sheet_id or 0))
    if sheet is None:
        raise ApiError(400, f"{where}No grid with id: {int(sheet_id or 0)}")
    return sheet


def a1_of(sheet: Sheet, r0: int, r1: int, c0: int, c1: int) -> str:
    return a1.format_range(sheet.title, r0, max(r1, r0 + 1), c0, max(c1, c0 + 1))
