"""batchUpdate kinds behind what people do by hand in a Sheet's menus, so a test can replay them as the API
takes them: copy and paste (copyPaste, pasteData), cut and paste (cutPaste), Find and replace (findReplace),
Insert cells (insertRange), Data cleanup (trimWhitespace, deleteDuplicates), Randomize range, and row/column
groups (accepted; a group changes how the sheet looks, not its cells). Registered with the other handlers
(requests.HANDLERS) when the emulator's API module is imported.

Approximations: a pasted formula keeps its text (Sheets moves its relative references); Find and replace
looks at text values and, with includeFormulas, formula text (not at numbers shown as text).
"""
from __future__ import annotations

import random
import re
from typing import Any

from .cellvalues import input_entry
from .errors import ApiError
from .model import Cell, Sheet, Spreadsheet, entry_value, is_empty
from .requests import handler, shifted_range
from .resource import grid_range, sheet_for
from .values import keep_cell_data


def _block(sheet: Sheet, r0: int, r1: int, c0: int, c1: int) -> list[list[Any]]:
    return [[sheet.get(r, c) for c in range(c0, c1)] for r in range(r0, r1)]


def _value_part(entry: Any) -> Any:
    """The value (or formula) of a grid entry, without its format and rules."""
    if isinstance(entry, Cell):
        if entry.formula is None and entry.value is None:
            return None
        return Cell(entry.value, entry.formula) if entry.formula is not None else entry.value
    return entry


def _data_part(entry: Any) -> dict | None:
    return entry.data if isinstance(entry, Cell) and entry.data else None


def _paste(sheet: Sheet, r: int, c: int, entry: Any, paste_type: str) -> None:
    old = sheet.get(r, c)
    if paste_type in ("PASTE_VALUES", "PASTE_FORMULA"):
        sheet.put(r, c, keep_cell_data(old, _value_part(entry)))
    elif paste_type in ("PASTE_FORMAT", "PASTE_DATA_VALIDATION", "PASTE_CONDITIONAL_FORMATTING"):
        data = _data_part(entry)
        value = _value_part(old)
        if isinstance(value, Cell):
            sheet.put(r, c, Cell(value.value, value.formula, data))
        else:
            sheet.put(r, c, Cell(value, None, data) if data else value)
    else:  # PASTE_NORMAL, PASTE_NO_BORDERS: everything
        sheet.put(r, c, entry)


@handler("copyPaste")
def copy_paste(book: Spreadsheet, body: dict, where: str) -> dict:
    if body.get("source") is None or body.get("destination") is None:
        raise ApiError(400, f"{where}source and destination are required")
    src, r0, r1, c0, c1 = grid_range(book, body["source"], where=where)
    dst, d0, d1, e0, e1 = grid_range(book, body["destination"], where=where)
    block = _block(src, r0, min(r1, max(len(src.rows), r0)), c0, c1)
    height, width = r1 - r0, c1 - c0
    if body.get("pasteOrientation") == "TRANSPOSE":
        block = [list(col) for col in zip(*block)] if block else []
        height, width = width, height
    if not height or not width:
        return {}
    # A destination larger than the source repeats it, as Sheets does; a smaller one still takes it whole.
    rows = max(d1 - d0, height) if (d1 - d0) % height else d1 - d0
    cols = max(e1 - e0, width) if (e1 - e0) % width else e1 - e0
    rows, cols = max(rows, height), max(cols, width)
    if d0 + rows > dst.row_count or e0 + cols > dst.column_count:
        raise ApiError(400, f"{where}The paste would go past the grid's edge")
    paste_type = body.get("pasteType") or "PASTE_NORMAL"
    for i in range(rows):
        for j in range(cols):
            row = block[i % height] if i % height < len(block) else []
            entry = row[j % width] if j % width < len(row) else None
            _paste(dst, d0 + i, e0 + j, entry, paste_type)
    return {}


@handler("cutPaste")
def cut_paste(book: Spreadsheet, body: dict, where: str) -> dict:
    if body.get("source") is None or body.get("destination") is None:
        raise ApiError(400, f"{where}source and destination are required")
    src, r0, r1, c0, c1 = grid_range(book, body["source"], where=where)
    coordinate = body["destination"]
    dst = sheet_for(book, coordinate.get("sheetId", 0), where)
    d0, e0 = int(coordinate.get("rowIndex", 0) or 0), int(coordinate.get("columnIndex", 0) or 0)
    if d0 + (r1 - r0) > dst.row_count or e0 + (c1 - c0) > dst.column_count:
        raise ApiError(400, f"{where}The paste would go past the grid's edge")
    block = _block(src, r0, r1, c0, c1)
    for r in range(r0, r1):
        for c in range(c0, c1):
            src.put(r, c, None)
    paste_type = body.get("pasteType") or "PASTE_NORMAL"
    for i, row in enumerate(block):
        for j, entry in enumerate(row):
            _paste(dst, d0 + i, e0 + j, entry, paste_type)
    return {}


@handler("pasteData")
def paste_data(book: Spreadsheet, body: dict, where: str) -> dict:
    coordinate = body.get("coordinate")
    if coordinate is None:
        raise ApiError(400, f"{where}coordinate is required")
    if body.get("html"):
        raise ApiError(501, f"{where}pasteData of HTML is part of the Sheets API but not implemented by the "
                            "crm-sheets emulator")
    sheet = sheet_for(book, coordinate.get("sheetId", 0), where)
    r0, c0 = int(coordinate.get("rowIndex", 0) or 0), int(coordinate.get("columnIndex", 0) or 0)
    delimiter = body.get("delimiter") or ","
    lines = str(body.get("data") or "").split("\n")
    rows = [line.split(delimiter) for line in lines]
    if r0 + len(rows) > sheet.row_count or c0 + max(len(r) for r in rows) > sheet.column_count:
        raise ApiError(400, f"{where}The paste would go past the grid's edge")
    paste_type = body.get("type") or "PASTE_NORMAL"
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            entry = input_entry(text, "USER_ENTERED")
            _paste(sheet, r0 + i, c0 + j, None if entry == "" else entry, "PASTE_VALUES" if paste_type == "PASTE_NORMAL" else paste_type)
    return {}


@handler("findReplace")
def find_replace(book: Spreadsheet, body: dict, where: str) -> dict:
    find = body.get("find")
    if not find:
        raise ApiError(400, f"{where}find must not be empty")
    replacement = str(body.get("replacement") or "")
    flags = 0 if body.get("matchCase") else re.IGNORECASE
    pattern = find if body.get("searchByRegex") else re.escape(find)
    if body.get("matchEntireCell"):
        pattern = f"^(?:{pattern})$"
    try:
        rx = re.compile(pattern, flags)
    except re.error:
        raise ApiError(400, f"{where}Invalid regular expression: {find}") from None
    repl = replacement if body.get("searchByRegex") else replacement.replace("\\", "\\\\")
    if body.get("range") is not None:
        sheet, r0, r1, c0, c1 = grid_range(book, body["range"], where=where)
        targets = [(sheet, r0, r1, c0, c1)]
    elif body.get("sheetId") is not None:
        sheet = sheet_for(book, body["sheetId"], where)
        targets = [(sheet, 0, sheet.row_count, 0, sheet.column_count)]
    elif body.get("allSheets"):
        targets = [(s, 0, s.row_count, 0, s.column_count) for s in book.sheets]
    else:
        raise ApiError(400, f"{where}One of range, sheetId or allSheets is required")
    counts = {"valuesChanged": 0, "formulasChanged": 0, "rowsChanged": 0, "sheetsChanged": 0, "occurrencesChanged": 0}
    for sheet, r0, r1, c0, c1 in targets:
        sheet_changed = False
        for r in range(r0, min(r1, len(sheet.rows))):
            row_changed = False
            for c in range(c0, c1):
                entry = sheet.get(r, c)
                formula = entry.formula if isinstance(entry, Cell) else None
                if formula is not None:
                    if not body.get("includeFormulas"):
                        continue
                    new, n = rx.subn(repl, formula)
                    if n:
                        sheet.put(r, c, Cell(None, new, entry.data))
                        counts["formulasChanged"] += 1
                else:
                    value = entry_value(entry)
                    if not isinstance(value, str):
                        continue
                    new, n = rx.subn(repl, value)
                    if n:
                        sheet.put(r, c, Cell(new, None, entry.data) if isinstance(entry, Cell) else new)
                        counts["valuesChanged"] += 1
                if n:
                    counts["occurrencesChanged"] += n
                    row_changed = sheet_changed = True
            counts["rowsChanged"] += row_changed
        counts["sheetsChanged"] += sheet_changed
    return {"findReplace": counts}


@handler("insertRange")
def insert_range(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, r0, r1, c0, c1, shift = shifted_range(book, body, where)
    if shift == "ROWS":
        n = r1 - r0
        last = len(sheet.rows)
        if any(not is_empty(sheet.get(r, c)) for r in range(max(sheet.row_count - n, r0), last) for c in range(c0, c1)):
            sheet.grid["rowCount"] = sheet.row_count + n  # cells pushed past the last row make room
        for c in range(c0, c1):
            for r in range(last - 1, r0 - 1, -1):
                sheet.put(r + n, c, sheet.get(r, c))
            for r in range(r0, r1):
                sheet.put(r, c, None)
    else:
        n = c1 - c0
        for r in range(r0, min(r1, len(sheet.rows))):
            row = sheet.rows[r]
            if row and c0 < len(row):
                row[c0:c0] = [None] * n
                if len(row) > sheet.column_count:
                    sheet.grid["columnCount"] = len(row)
    return {}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@handler("trimWhitespace")
def trim_whitespace(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, r0, r1, c0, c1 = grid_range(book, body.get("range") or {}, where=where)
    changed = 0
    for r in range(r0, min(r1, len(sheet.rows))):
        for c in range(c0, c1):
            entry = sheet.get(r, c)
            value = entry_value(entry)
            if not isinstance(value, str) or (isinstance(entry, Cell) and entry.formula is not None):
                continue
            new = " ".join(value.split())
            if new != value:
                sheet.put(r, c, keep_cell_data(entry, new or None))
                changed += 1
    return {"trimWhitespace": {"cellsChangedCount": changed}}


@handler("deleteDuplicates")
def delete_duplicates(book: Spreadsheet, body: dict, where: str) -> dict:
    """Rows of the range equal to an earlier one (in the compared columns, all when none are given) go; the
    rows below them in the range move up, the range's last rows are left empty."""
    sheet, r0, r1, c0, c1 = grid_range(book, body.get("range") or {}, where=where)
    columns: list[int] = []
    for dim in body.get("comparisonColumns") or []:
        columns.extend(range(int(dim.get("startIndex", 0) or 0), int(dim.get("endIndex", c1) or c1)))
    columns = [c for c in columns if c0 <= c < c1] or list(range(c0, c1))
    r1 = min(r1, len(sheet.rows))
    block = _block(sheet, r0, r1, c0, c1)
    seen: set = set()
    kept = []
    for row in block:
        key = tuple(_text(entry_value(row[c - c0])).casefold() for c in columns)
        if key in seen:
            continue
        seen.add(key)
        kept.append(row)
    for i in range(len(block)):
        for j in range(c1 - c0):
            sheet.put(r0 + i, c0 + j, kept[i][j] if i < len(kept) else None)
    return {"deleteDuplicates": {"duplicatesRemovedCount": len(block) - len(kept)}}


@handler("randomizeRange")
def randomize_range(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, r0, r1, c0, c1 = grid_range(book, body.get("range") or {}, where=where)
    r1 = min(r1, len(sheet.rows))
    block = _block(sheet, r0, r1, c0, c1)
    random.Random(len(block)).shuffle(block)  # the same order each time: tests can repeat it
    for i, row in enumerate(block):
        for j, entry in enumerate(row):
            sheet.put(r0 + i, c0 + j, entry)
    return {}


@handler("addDimensionGroup")
def add_dimension_group(book: Spreadsheet, body: dict, where: str) -> dict:
    rng = body.get("range") or {}
    sheet = sheet_for(book, rng.get("sheetId", 0), where)
    groups = sheet.__dict__.setdefault("dimension_groups", [])
    groups.append({"range": dict(rng), "depth": 1, "collapsed": False})
    return {"addDimensionGroup": {"dimensionGroups": [dict(g) for g in groups]}}


@handler("deleteDimensionGroup")
def delete_dimension_group(book: Spreadsheet, body: dict, where: str) -> dict:
    rng = body.get("range") or {}
    sheet = sheet_for(book, rng.get("sheetId", 0), where)
    groups = sheet.__dict__.setdefault("dimension_groups", [])
    left = [g for g in groups if g["range"] != rng]
    if len(left) == len(groups):
        raise ApiError(400, f"{where}No group found for the range")
    groups[:] = left
    return {"deleteDimensionGroup": {"dimensionGroups": [dict(g) for g in groups]}}
