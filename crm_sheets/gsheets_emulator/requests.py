"""spreadsheets.batchUpdate: one handler per Request kind, each changing the (copied) spreadsheet and
returning its reply as the real API does ({} for kinds without a reply). Sheets and cells are here; the
layout requests (rows and columns, protection, merges, formats, charts, metadata) in layout_requests.py."""
from __future__ import annotations

import copy
from typing import Any, Callable

from .conditions import check_condition
from .errors import ApiError
from .fields import merge, update_paths
from .model import (MAX_CELL_CHARS, MAX_CELLS, WRITABLE, Cell, Sheet, Spreadsheet, data_to_entry, entry_to_data,
                    entry_value)
from .resource import DEFAULT_COLUMNS, DEFAULT_ROWS, exceeds, grid_range, sheet_for, sheet_properties

Handler = Callable[[Spreadsheet, dict, str], dict]
HANDLERS: dict[str, Handler] = {}
# Kinds accepted and remembered nowhere: they change only how the sheet looks in a browser.
NO_OPS = {"autoResizeDimensions", "updateBorders"}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn
    return register


_DISCOVERY: list = []  # the document of the running batch (set by apply_all), to check update masks


def apply_all(book: Spreadsheet, requests: list[dict], discovery: Any = None) -> list[dict]:
    from . import model

    model.SHARED.memo = {}  # cells given one rule or format share it (model.data_to_entry)
    try:
        return _apply_all(book, requests, discovery)
    finally:
        model.SHARED.memo = None


def _apply_all(book: Spreadsheet, requests: list[dict], discovery: Any = None) -> list[dict]:
    _DISCOVERY[:] = [discovery] if discovery is not None else []
    replies = []
    for i, request in enumerate(requests):
        kinds = [k for k, v in request.items() if v is not None]
        if not kinds:
            raise ApiError(400, f"Invalid requests[{i}]: No request set.")
        kind = kinds[0]
        where = f"Invalid requests[{i}].{kind}: "
        if kind in NO_OPS:
            replies.append({})
            continue
        fn = HANDLERS.get(kind)
        if fn is None:
            raise ApiError(501, f"requests[{i}].{kind} is part of the Sheets API but not implemented by the "
                                "crm-sheets emulator")
        replies.append(fn(book, request[kind], where))
        if book.cell_count() > MAX_CELLS:
            raise ApiError(400, f"{where}This action would increase the number of cells in the workbook above the "
                                f"limit of {MAX_CELLS} cells.")
    return replies


def field_paths(body: dict, where: str, schema: str) -> list[list[str]]:
    """The paths of the request's `fields`, each checked to name a field of `schema`."""
    try:
        paths = update_paths(body.get("fields") or "")
    except ApiError:
        raise ApiError(400, f"{where}Invalid field mask: {body.get('fields')!r}") from None
    if not paths:
        raise ApiError(400, f"{where}At least one field must be updated, but none were specified")
    if _DISCOVERY:
        tree: dict = {}
        for path in paths:
            node = tree
            for name in path[:-1]:
                node = node.setdefault(name, {})
            node[path[-1]] = None
        bad = _DISCOVERY[0].check_mask(schema, tree)
        if bad:
            raise ApiError(400, f"{where}Invalid field mask: Cannot find matching fields for path '{bad}'.")
    return paths


# -- sheets ------------------------------------------------------------------------------------------

def _check_title(book: Spreadsheet, title: str, where: str, sheet_id: int | None = None) -> None:
    for other in book.sheets:
        if other.title.lower() == title.lower() and other.id != sheet_id:
            raise ApiError(400, f'{where}A sheet with the name "{title}" already exists. Please enter another name.')
    if not title.strip():
        raise ApiError(400, f"{where}The sheet name cannot be empty.")


def new_sheet(book: Spreadsheet, properties: dict, where: str = "") -> Sheet:
    props = copy.deepcopy(properties)
    if props.get("title") is None:
        n = len(book.sheets) + 1
        while book.sheet_by_title(f"Sheet{n}") is not None:
            n += 1
        props["title"] = f"Sheet{n}"
    _check_title(book, props["title"], where)
    if props.get("sheetId") is None:
        props["sheetId"] = book.new_sheet_id() if book.sheets else 0
    elif book.sheet_by_id(int(props["sheetId"])) is not None:
        raise ApiError(400, f"{where}A sheet with id {props['sheetId']} already exists.")
    props["sheetId"] = int(props["sheetId"])
    props.setdefault("sheetType", "GRID")
    grid = props.setdefault("gridProperties", {})
    grid["rowCount"] = int(grid.get("rowCount") or DEFAULT_ROWS)
    grid["columnCount"] = int(grid.get("columnCount") or DEFAULT_COLUMNS)
    for key in ("frozenRowCount", "frozenColumnCount"):
        if key in grid:
            grid[key] = int(grid[key])
    sheet = Sheet(props)
    index = props.pop("index", None)
    index = len(book.sheets) if index is None else max(0, min(int(index), len(book.sheets)))
    book.sheets.insert(index, sheet)
    book.reindex()
    return sheet


@handler("addSheet")
def add_sheet(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet = new_sheet(book, body.get("properties") or {}, where)
    return {"addSheet": {"properties": sheet_properties(sheet)}}


@handler("duplicateSheet")
def duplicate_sheet(book: Spreadsheet, body: dict, where: str) -> dict:
    source = sheet_for(book, body.get("sourceSheetId"), where)
    title = body.get("newSheetName") or f"Copy of {source.title}"
    props = copy.deepcopy(source.properties)
    props.update(title=title, sheetId=body.get("newSheetId"), index=body.get("insertSheetIndex"))
    sheet = new_sheet(book, props, where)
    twin = source.copy()
    sheet.rows = twin.rows
    sheet.merges, sheet.conditional_formats, sheet.charts = twin.merges, twin.conditional_formats, []
    sheet.basic_filter, sheet.row_meta, sheet.col_meta = twin.basic_filter, twin.row_meta, twin.col_meta
    for rng in [*sheet.merges, *(r for rule in sheet.conditional_formats for r in rule.get("ranges", []))]:
        rng["sheetId"] = sheet.id
    if sheet.basic_filter and "range" in sheet.basic_filter:
        sheet.basic_filter["range"]["sheetId"] = sheet.id
    return {"duplicateSheet": {"properties": sheet_properties(sheet)}}


@handler("deleteSheet")
def delete_sheet(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet = sheet_for(book, body.get("sheetId"), where)
    if len(book.sheets) == 1:
        raise ApiError(400, f"{where}You can't remove all the sheets in a document.")
    book.sheets.remove(sheet)
    book.reindex()
    book.developer_metadata = [m for m in book.developer_metadata if _metadata_sheet(m) != sheet.id]
    book.named_ranges = [n for n in book.named_ranges if int(n.get("range", {}).get("sheetId", 0) or 0) != sheet.id]
    return {}


@handler("updateSheetProperties")
def update_sheet_properties(book: Spreadsheet, body: dict, where: str) -> dict:
    given = body.get("properties") or {}
    sheet = sheet_for(book, given.get("sheetId"), where)
    paths = field_paths(body, where, "SheetProperties")
    updated = copy.deepcopy(sheet.properties)
    merge(updated, given, [p for p in paths if p != ["sheetId"]] if paths != [["*"]] else [["*"]])
    updated["sheetId"] = sheet.id
    updated.setdefault("title", sheet.title)
    if updated["title"] != sheet.title:
        _check_title(book, updated["title"], where, sheet.id)
    grid = updated.setdefault("gridProperties", {})
    for key in ("rowCount", "columnCount"):
        grid[key] = int(grid.get(key) or sheet.grid.get(key))
    for key in ("frozenRowCount", "frozenColumnCount"):
        if grid.get(key) is not None:
            grid[key] = int(grid[key])
            if grid[key] < 0 or grid[key] > grid["rowCount" if key == "frozenRowCount" else "columnCount"]:
                raise ApiError(400, f"{where}{key} out of range: {grid[key]}")
    if updated.get("hidden") and not any(not s.properties.get("hidden") for s in book.sheets if s is not sheet):
        raise ApiError(400, f"{where}You can't hide all the sheets in a document.")
    index = updated.pop("index", sheet.properties.get("index"))
    sheet.properties = updated
    _truncate(sheet)
    if index is not None and index != book.sheets.index(sheet):
        book.sheets.remove(sheet)
        book.sheets.insert(max(0, min(int(index), len(book.sheets))), sheet)
    book.reindex()
    return {}


def _truncate(sheet: Sheet) -> None:
    del sheet.rows[sheet.row_count:]
    for row in sheet.rows:
        if row is not None:
            del row[sheet.column_count:]


@handler("updateSpreadsheetProperties")
def update_spreadsheet_properties(book: Spreadsheet, body: dict, where: str) -> dict:
    merge(book.properties, body.get("properties") or {}, field_paths(body, where, "SpreadsheetProperties"))
    return {}


# -- cells ---------------------------------------------------------------------------------------------

def cell_writer(paths: list[list[str]]) -> Callable[[Any, dict], Any]:
    """A function (old entry, CellData) -> new entry for the update mask `paths`, made once per request
    because a 100k-row updateCells calls it for every cell."""
    if paths == [["*"]]:
        def write_all(old: Any, data: dict) -> Any:
            current = {k: v for k, v in data.items() if k in WRITABLE}
            if "effectiveValue" in data:
                current["effectiveValue"] = data["effectiveValue"]
            return _entry(current)
        return write_all
    paths = [p for p in paths if p[0] in WRITABLE or p[0] == "effectiveValue"]
    top = {p[0] for p in paths}
    if all(len(p) == 1 for p in paths):  # whole top-level fields: replace them, keep the rest of the cell
        if top == {"userEnteredValue"}:
            def write_value(old: Any, data: dict) -> Any:
                value = data.get("userEnteredValue")
                if not isinstance(old, Cell):
                    return _entry({"userEnteredValue": value} if value else {})
                current = entry_to_data(old)
                current.pop("userEnteredValue", None)
                if value:
                    current["userEnteredValue"] = value
                return _entry(current)
            return write_value

        def write_top(old: Any, data: dict) -> Any:
            current = entry_to_data(old)
            for name in top:
                value = data.get(name)
                if value is None:
                    current.pop(name, None)
                else:
                    current[name] = value
            return _entry(current)
        return write_top

    value_in_mask = ["userEnteredValue"] in paths

    def write_paths(old: Any, data: dict) -> Any:
        if value_in_mask and old.__class__ is not Cell and len(data) == 1 and "userEnteredValue" in data:
            return data_to_entry(data)  # the common cell: a plain value over a plain value or nothing
        current = entry_to_data(old)
        merge(current, data, paths)
        return _entry(current)
    return write_paths


_entry = data_to_entry


def write_rows(sheet: Sheet, r0: int, c0: int, rows: list[dict], paths: list[list[str]],
               bounds: tuple[int, int] | None = None) -> None:
    write = cell_writer(paths)
    r_end, c_end = bounds if bounds else (None, None)
    for i, row in enumerate(rows):
        r = r0 + i
        if r_end is not None and r >= r_end:
            break
        for j, data in enumerate((row or {}).get("values") or []):
            c = c0 + j
            if c_end is not None and c >= c_end:
                break
            entry = write(sheet.get(r, c), data or {})
            if entry.__class__ is str and len(entry) > MAX_CELL_CHARS:
                raise too_long()
            sheet.put(r, c, entry)


def too_long() -> ApiError:
    return ApiError(400, f"Your input contains more than the maximum of {MAX_CELL_CHARS} characters in a single cell.")


@handler("updateCells")
def update_cells(book: Spreadsheet, body: dict, where: str) -> dict:
    paths = field_paths(body, where, "CellData")
    rows = body.get("rows") or []
    if body.get("start") is not None and body.get("range") is not None:
        raise ApiError(400, f"{where}Only one of start or range may be set.")
    if body.get("range") is not None:
        sheet, r0, r1, c0, c1 = grid_range(book, body["range"], where=where)
        width = max((len((row or {}).get("values") or []) for row in rows), default=0)
        if len(rows) > r1 - r0 or width > c1 - c0:  # data the range cannot hold is refused, never dropped
            raise ApiError(400, f"{where}The rows given ({len(rows)} x {width}) do not fit in the range "
                                f"({r1 - r0} x {c1 - c0}).")
        write = cell_writer(paths)
        for r in range(r0, r1):  # the cells of the range that `rows` does not cover are cleared (per fields)
            row = rows[r - r0] if r - r0 < len(rows) else {}
            values = (row or {}).get("values") or []
            if not values and r >= len(sheet.rows):
                if r - r0 >= len(rows):
                    break
                continue
            for c in range(c0, c1):
                data = values[c - c0] if c - c0 < len(values) else {}
                if not data and sheet.get(r, c) is None:
                    continue
                sheet.put(r, c, write(sheet.get(r, c), data or {}))
        return {}
    start = body.get("start")
    if start is None:
        raise ApiError(400, f"{where}Either start or range must be set.")
    sheet = sheet_for(book, start.get("sheetId"), where)
    r0, c0 = int(start.get("rowIndex") or 0), int(start.get("columnIndex") or 0)
    height = len(rows)
    width = max((len((row or {}).get("values") or []) for row in rows), default=0)
    if r0 + height > sheet.row_count and height:
        raise ApiError(400, where + exceeds(sheet, max(r0, sheet.row_count), c0).message)
    if c0 + width > sheet.column_count and width:
        raise ApiError(400, where + exceeds(sheet, r0, max(c0, sheet.column_count)).message)
    write_rows(sheet, r0, c0, rows, paths)
    return {}


@handler("appendCells")
def append_cells(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet = sheet_for(book, body.get("sheetId"), where)
    paths = field_paths(body, where, "CellData")
    rows = body.get("rows") or []
    at = sheet.data_extent()[0]
    width = max((len((row or {}).get("values") or []) for row in rows), default=0)
    if width > sheet.column_count:
        raise ApiError(400, where + exceeds(sheet, at, sheet.column_count).message)
    if at + len(rows) > sheet.row_count:
        sheet.grid["rowCount"] = at + len(rows)
    write_rows(sheet, at, 0, rows, paths)
    return {}


@handler("repeatCell")
def repeat_cell(book: Spreadsheet, body: dict, where: str) -> dict:
    paths = field_paths(body, where, "CellData")
    sheet, r0, r1, c0, c1 = grid_range(book, body.get("range") or {}, where=where)
    data = body.get("cell") or {}
    write = cell_writer(paths)
    for r in range(r0, r1):
        for c in range(c0, c1):
            sheet.put(r, c, write(sheet.get(r, c), data))
    return {}


@handler("setDataValidation")
def set_data_validation(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, r0, r1, c0, c1 = grid_range(book, body.get("range") or {}, where=where)
    if body.get("rule"):
        check_condition(book, body["rule"].get("condition") or {}, where, validation=True)
    data = {"dataValidation": body["rule"]} if body.get("rule") else {}
    write = cell_writer([["dataValidation"]])
    for r in range(r0, r1):
        for c in range(c0, c1):
            sheet.put(r, c, write(sheet.get(r, c), data))
    return {}


def shifted_range(book: Spreadsheet, body: dict, where: str) -> tuple:
    """(sheet, r0, r1, c0, c1, shift) of an insertRange/deleteRange body: its range and its shiftDimension."""
    sheet, r0, r1, c0, c1 = grid_range(book, body.get("range") or {}, where=where)
    shift = body.get("shiftDimension")
    if shift not in ("ROWS", "COLUMNS"):
        raise ApiError(400, f"{where}shiftDimension must be ROWS or COLUMNS")
    return sheet, r0, r1, c0, c1, shift


@handler("deleteRange")
def delete_range(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, r0, r1, c0, c1, shift = shifted_range(book, body, where)
    if shift == "ROWS":
        n = r1 - r0
        for c in range(c0, c1):
            for r in range(r0, len(sheet.rows)):
                sheet.put(r, c, sheet.get(r + n, c))
    else:
        n = c1 - c0
        for r in range(r0, min(r1, len(sheet.rows))):
            row = sheet.rows[r]
            if row and c0 < len(row):
                del row[c0:c1]
    return {}


@handler("sortRange")
def sort_range(book: Spreadsheet, body: dict, where: str) -> dict:
    """Sort the rows of the range by the given columns; the cells move, row properties and metadata stay."""
    sheet, r0, r1, c0, c1 = grid_range(book, body.get("range") or {}, where=where)
    specs = body.get("sortSpecs") or []
    if not specs:
        raise ApiError(400, f"{where}At least one sort spec is required.")
    r1 = min(r1, len(sheet.rows))
    block = [[sheet.get(r, c) for c in range(c0, c1)] for r in range(r0, r1)]

    def key_of(column: int):
        def key(row: list):
            value = entry_value(row[column - c0]) if 0 <= column - c0 < len(row) else None
            if value is None or value == "":
                return (1, 0, 0)  # blanks last, in either order
            if isinstance(value, bool):
                return (0, 2, value)
            if isinstance(value, (int, float)):
                return (0, 0, value)
            return (0, 1, str(value).lower())
        return key

    for spec in reversed(specs):
        column = int(spec.get("dimensionIndex") or 0)
        descending = spec.get("sortOrder") == "DESCENDING"
        key = key_of(column)
        filled = [row for row in block if key(row)[0] == 0]
        blank = [row for row in block if key(row)[0] == 1]
        filled.sort(key=key, reverse=descending)
        block = filled + blank
    for i, row in enumerate(block):
        for j, entry in enumerate(row):
            sheet.put(r0 + i, c0 + j, entry)
    return {}


# -- rows and columns -----------------------------------------------------------------------------


def _metadata_sheet(m: dict) -> int | None:
    location = m["location"]
    if location.get("sheetId") is not None:
        return int(location["sheetId"])
    if location.get("dimensionRange"):
        return int(location["dimensionRange"].get("sheetId", 0) or 0)
    return None
