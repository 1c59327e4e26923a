"""The spreadsheets.values methods: get, batchGet, update, batchUpdate, append, clear, batchClear."""
from __future__ import annotations

import copy
from typing import Any

from . import a1
from .cellvalues import input_entry, render
from .errors import ApiError
from .model import MAX_CELL_CHARS, MAX_CELLS, Cell, Sheet, Spreadsheet, entry_format, is_empty
from .resource import a1_of, check_in_grid, resolve


def _one(params: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    return values[-1] if values else default


def value_range(book: Spreadsheet, text: str, params: dict[str, list[str]]) -> dict:
    value_option = _one(params, "valueRenderOption", "FORMATTED_VALUE")
    date_option = _one(params, "dateTimeRenderOption", "SERIAL_NUMBER")
    major = _one(params, "majorDimension", "ROWS")
    sheet, r0, r1, c0, c1 = resolve(book, text, check_grid=False)
    if r0 >= sheet.row_count and sheet.row_count or c0 >= sheet.column_count and sheet.column_count:
        check_in_grid(sheet, r0, r1, c0, c1)
    r1, c1 = min(r1, sheet.row_count), min(c1, sheet.column_count)
    out: dict[str, Any] = {"range": a1_of(sheet, r0, r1, c0, c1), "majorDimension": major}
    rows = read(sheet, r0, r1, c0, c1, value_option, date_option)
    if major == "COLUMNS":
        width = max((len(r) for r in rows), default=0)
        rows = [[row[c] if c < len(row) else "" for row in rows] for c in range(width)]
        for col in rows:
            while col and col[-1] == "":
                col.pop()
        while rows and not rows[-1]:
            rows.pop()
    if rows:
        out["values"] = rows
    return out


def read(sheet: Sheet, r0: int, r1: int, c0: int, c1: int, value_option: str, date_option: str) -> list[list]:
    """The rendered values of the cells, trailing empty cells and rows trimmed as the API does."""
    rows: list[list] = []
    grid = sheet.rows
    for r in range(r0, min(r1, len(grid))):
        row = grid[r]
        if not row:
            rows.append([])
            continue
        values = [render(row[c], value_option, date_option) for c in range(c0, min(c1, len(row)))]
        while values and values[-1] == "":
            values.pop()
        rows.append(values)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def batch_get(book: Spreadsheet, params: dict[str, list[str]]) -> dict:
    out: dict[str, Any] = {"spreadsheetId": book.id}
    if params.get("ranges"):
        out["valueRanges"] = [value_range(book, text, params) for text in params["ranges"]]
    return out


def input_option(option: str | None) -> str:
    if option not in ("RAW", "USER_ENTERED"):
        raise ApiError(400, "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
    return option


def write(book: Spreadsheet, text: str, body: dict, option: str, *, check_range: str | None = None) -> dict:
    """values.update of one ValueRange; returns the UpdateValuesResponse."""
    option = input_option(option)
    if check_range is not None and body.get("range") and body["range"] != check_range:
        raise ApiError(400, f"Requested writing within range [{check_range}], but tried writing within "
                            f"range [{body['range']}]")
    sheet, r0, r1, c0, c1 = resolve(book, text, check_grid=False)
    rows = _as_rows(body)
    height = len(rows)
    width = max((len(r) for r in rows), default=0)
    if height and width:
        rows_end, cols_end = _bounds(text)
        if rows_end and cols_end and r1 - r0 == 1 and c1 - c0 == 1:
            rows_end = cols_end = False  # one cell is only where the values start
        if rows_end and height > r1 - r0:
            raise ApiError(400, f"Requested writing within range [{text}], but tried writing to row [{r0 + height}]")
        if cols_end and width > c1 - c0:
            raise ApiError(400, f"Requested writing within range [{text}], but tried writing to column "
                                f"[{a1.col_letters(c0 + width - 1)}]")
        check_in_grid(sheet, r0, r0 + height, c0, c0 + width)
        put_rows(sheet, r0, c0, rows, option)
    return _updated(book, sheet, r0, c0, height, width)


def _bounds(text: str) -> tuple[bool, bool]:
    """Whether the range names its last row, and its last column (A:B names columns only)."""
    try:
        parsed = a1.parse(text)
    except ValueError:
        return False, False
    if parsed.name is not None or parsed.start_row is None:
        return False, False
    return parsed.end_row is not None, parsed.end_col is not None


def a1_bounded(text: str) -> bool:
    """Whether the range names both its last row and last column (A1:B2, not A:B, A2:B or Sheet1)."""
    try:
        parsed = a1.parse(text)
    except ValueError:
        return False
    return parsed.end_row is not None and parsed.end_col is not None and parsed.name is None


def _as_rows(body: dict) -> list[list]:
    rows = body.get("values") or []
    if body.get("majorDimension") == "COLUMNS":
        height = max((len(c) for c in rows), default=0)
        rows = [[col[r] if r < len(col) else None for col in rows] for r in range(height)]
    return rows


def put_rows(sheet: Sheet, r0: int, c0: int, rows: list[list], option: str) -> None:
    for i, row in enumerate(rows):
        for j, value in enumerate(row or []):
            old = sheet.get(r0 + i, c0 + j)
            if (option == "USER_ENTERED" and isinstance(value, str) and value
                    and (_number_format(old) or {}).get("type") == "TEXT"):
                entry: Any = value  # a Plain text cell keeps what is typed as text: no formula, no number
            else:
                entry = input_entry(value, option)
            if entry is None:
                continue
            if entry.__class__ is str and len(entry) > MAX_CELL_CHARS:
                raise ApiError(400, f"Your input contains more than the maximum of {MAX_CELL_CHARS} characters "
                                    "in a single cell.")
            sheet.put(r0 + i, c0 + j, keep_cell_data(old, None if entry == "" else entry))


def _number_format(entry: Any) -> dict | None:
    return (entry_format(entry) or {}).get("numberFormat")


def keep_cell_data(old: Any, new: Any) -> Any:
    """A values write changes the value only: the cell's format, validation and note stay (a format the typed
    value implies, e.g. a date's, is taken only by a cell with no number format of its own), as in Sheets."""
    if not isinstance(old, Cell) or not old.data:
        return new
    data = old.data  # shared with other cells (model.SHARED): never changed in place
    implied = _number_format(new)
    if implied is not None and _number_format(old) is None:
        data = copy.deepcopy(data)
        data.setdefault("userEnteredFormat", {})["numberFormat"] = implied
    if isinstance(new, Cell):
        return Cell(new.value, new.formula, data)
    return Cell(new, None, data)


def _updated(book: Spreadsheet, sheet: Sheet, r0: int, c0: int, height: int, width: int) -> dict:
    out: dict[str, Any] = {"spreadsheetId": book.id,
                           "updatedRange": a1_of(sheet, r0, r0 + max(height, 1), c0, c0 + max(width, 1))}
    if height and width:
        out.update(updatedRows=height, updatedColumns=width, updatedCells=height * width)
    return out


def batch_update(book: Spreadsheet, body: dict) -> dict:
    option = input_option(body.get("valueInputOption"))
    responses = [write(book, item.get("range", ""), item, option) for item in body.get("data", [])]
    sheets = {r["updatedRange"].rsplit("!", 1)[0] for r in responses if r.get("updatedCells")}
    out: dict[str, Any] = {"spreadsheetId": book.id}
    totals = {"totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
              "totalUpdatedColumns": sum(r.get("updatedColumns", 0) for r in responses),
              "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
              "totalUpdatedSheets": len(sheets)}
    out.update({k: v for k, v in totals.items() if v})
    out["responses"] = responses
    return out


def append(book: Spreadsheet, text: str, body: dict, params: dict[str, list[str]]) -> dict:
    """values.append: the rows go after the last row with data in the range's columns; the grid grows."""
    option = input_option(_one(params, "valueInputOption"))
    insert = _one(params, "insertDataOption", "OVERWRITE") == "INSERT_ROWS"
    sheet, r0, r1, c0, c1 = resolve(book, text, check_grid=False)
    rows = _as_rows(body)
    width = max((len(r) for r in rows), default=0)
    last, table_end = r0 - 1, c0 + 1
    for r in range(r0, min(len(sheet.rows), r1 if a1_bounded(text) else len(sheet.rows))):
        row = sheet.rows[r]
        filled = [c for c in range(c0, min(c1, len(row or []))) if not is_empty(row[c])]
        if filled:
            last, table_end = r, max(table_end, filled[-1] + 1)
    table_range = a1_of(sheet, r0, last + 1, c0, table_end) if last >= r0 else None
    at = last + 1
    if insert and rows:
        grow_rows(sheet, at, len(rows))
    needed_rows = at + len(rows) - sheet.row_count
    if needed_rows > 0:
        sheet.grid["rowCount"] = sheet.row_count + needed_rows
    if c0 + width > sheet.column_count:
        sheet.grid["columnCount"] = c0 + width
    if book.cell_count() > MAX_CELLS:
        raise ApiError(400, f"This action would increase the number of cells in the workbook above the limit of "
                            f"{MAX_CELLS} cells.")
    put_rows(sheet, at, c0, rows, option)
    out: dict[str, Any] = {"spreadsheetId": book.id}
    if table_range:
        out["tableRange"] = table_range
    out["updates"] = _updated(book, sheet, at, c0, len(rows), width)
    return out


def grow_rows(sheet: Sheet, at: int, count: int) -> None:
    """Insert `count` empty rows before row `at` (the grid gets taller)."""
    if at < len(sheet.rows):
        sheet.rows[at:at] = [None] * count
    sheet.grid["rowCount"] = sheet.row_count + count


def clear(book: Spreadsheet, text: str) -> dict:
    sheet, r0, r1, c0, c1 = resolve(book, text, check_grid=False)
    r1, c1 = min(r1, sheet.row_count), min(c1, sheet.column_count)
    for r in range(r0, min(r1, len(sheet.rows))):
        row = sheet.rows[r]
        for c in range(c0, min(c1, len(row or []))):
            entry = row[c]
            if entry is None:
                continue
            row[c] = _without_value(entry)
    return {"spreadsheetId": book.id, "clearedRange": a1_of(sheet, r0, r1, c0, c1)}


def _without_value(entry: Any) -> Any:
    """values.clear keeps formats, notes and validation: only the value goes."""
    if isinstance(entry, Cell) and entry.data:
        return Cell(None, None, entry.data)
    return None


def batch_clear(book: Spreadsheet, body: dict) -> dict:
    cleared = [clear(book, text)["clearedRange"] for text in body.get("ranges", [])]
    return {"spreadsheetId": book.id, "clearedRanges": cleared}
