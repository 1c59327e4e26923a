"""Sheets v4 batchUpdate requests built from typed values: pure functions, no I/O.

A value from data is always a typed CellData (stringValue for any text, so "=1+1" stays text), dates are
serial numbers with a DATE/DATE_TIME format; structure (validation, formats, frozen header, warning-only
protection, developer metadata) is requests of the same batch. Rows and columns are 0-based here.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from typing import Any, Iterable, Iterator, Mapping, Sequence

from crm_sheets.model.tables import column_index  # noqa: F401  (importable from here as before)
from crm_sheets.model.values import Text, is_missing

EPOCH = dt.datetime(1899, 12, 30)  # serial day 0 of Google Sheets (and of Excel's 1900 system)
DATE_PATTERN = "yyyy-mm-dd"
DATETIME_PATTERN = "yyyy-mm-dd hh:mm"
TIME_PATTERN = "hh:mm"
MAX_BATCH_BYTES = 8_000_000  # one batchUpdate body at most this big; past it the write is split
ROWS_PER_REQUEST = 2_000  # rows of one updateCells of a block (~2 MB for 28 columns), so batches can be split
# Sheets a command writes whole that people then correct by hand (adopt's Mapping sheet): marked as ours so a
# rename is followed, but read on every run and never protected as "regenerated".
EDITED_BY_PEOPLE = frozenset({"mapping"})
PLAIN_TEXT = {"type": "TEXT"}  # Format > Number > Plain text
META_PREFIX = "crm_sheets."  # developer metadata keys we own


# ---------------------------------------------------------------------------------------------
# Cells


def _plain(value: Any) -> Any:
    """numpy and pandas scalars as Python values."""
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__.startswith("numpy"):
        return item()
    to_py = getattr(value, "to_pydatetime", None)
    if to_py is not None:
        return to_py()
    return value


def serial(value: dt.date | dt.datetime | dt.time) -> float:
    """A date, datetime or time as a Sheets serial number (days since 1899-12-30; a time is a day's fraction)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        delta = value - EPOCH
        return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    if isinstance(value, dt.date):
        return float((value - EPOCH.date()).days)
    if isinstance(value, dt.time):
        return (value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6) / 86400
    raise TypeError(f"not a date: {value!r}")


def number_format(value: Any) -> dict | None:
    """The numberFormat a value needs to read back as what it is (dates), else None. Text from outside that
    looks like a formula (model.values.Text) gets the Plain text format: Sheets keeps what a person types
    into such a cell as text, so editing it (double-click, Enter) never turns it into a formula (the role
    Excel's quotePrefix plays in the file)."""
    if type(value) is Text:
        return dict(PLAIN_TEXT)
    value = _plain(value)
    if isinstance(value, dt.datetime):
        if value.hour or value.minute or value.second or value.microsecond:
            return {"type": "DATE_TIME", "pattern": DATETIME_PATTERN}
        return {"type": "DATE", "pattern": DATE_PATTERN}  # a date held as a midnight timestamp (pandas)
    if isinstance(value, dt.date):
        return {"type": "DATE", "pattern": DATE_PATTERN}
    if isinstance(value, dt.time):
        return {"type": "TIME", "pattern": TIME_PATTERN}
    return None


class Formula(str):
    """A formula copied from a workbook's own formula cell (``push``); the only value ever sent as a formula.
    Text from data is a plain ``str`` and always goes as text."""


def extended_value(value: Any) -> dict | None:
    """The userEnteredValue of a typed value; None for a blank (the cell is cleared).

    Text is always a stringValue: nothing from data is ever sent as a formula or parsed as a number."""
    if is_missing(value):
        return None
    if type(value) is Formula:
        return {"formulaValue": str(value)}
    value = _plain(value)
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, (int, float, decimal.Decimal)):
        number = float(value)
        if math.isinf(number) or math.isnan(number):
            return {"stringValue": str(value)}
        return {"numberValue": int(value) if isinstance(value, int) and abs(value) < 2**53 else number}
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return {"numberValue": serial(value)}
    if isinstance(value, (list, tuple, set)):
        return {"stringValue": ", ".join(str(v) for v in value)}
    return {"stringValue": str(value)}


def cell_data(value: Any, *, with_format: bool = False) -> dict:
    """A CellData: the value, plus its date format when ``with_format``."""
    cell: dict[str, Any] = {}
    ev = extended_value(value)
    if ev is not None:
        cell["userEnteredValue"] = ev
    if with_format:
        fmt = number_format(value)
        if fmt is not None:
            cell["userEnteredFormat"] = {"numberFormat": fmt}
    return cell


def grid_range(sheet_id: int, start_row: int | None = None, end_row: int | None = None,
               start_col: int | None = None, end_col: int | None = None) -> dict:
    """A GridRange (0-based, ends exclusive); a bound left out is unbounded."""
    out: dict[str, Any] = {"sheetId": sheet_id}
    for key, value in (("startRowIndex", start_row), ("endRowIndex", end_row),
                       ("startColumnIndex", start_col), ("endColumnIndex", end_col)):
        if value is not None:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# Values


def update_cells(sheet_id: int, cells: Iterable[tuple[int, int, Any]]) -> list[dict]:
    """updateCells requests writing single cells (row, column, value): adjacent cells of a row share a request;
    a date carries its format, other cells keep theirs (the fields mask names only what is sent)."""
    by_row: dict[int, dict[int, Any]] = {}
    for row, col, value in cells:
        by_row.setdefault(row, {})[col] = value  # a later update of a cell wins
    runs: list[tuple[int, list[tuple[int, Any]]]] = []  # (row, cells of one run of adjacent columns)
    for row in sorted(by_row):
        cols = by_row[row]
        run: list[tuple[int, Any]] = []
        for col in sorted(cols):
            value = cols[col]
            if run and (col != run[-1][0] + 1 or _dated(value) != _dated(run[-1][1])):
                runs.append((row, run))
                run = []
            run.append((col, value))
        if run:
            runs.append((row, run))
    # Runs of the same columns on consecutive rows (a job's column over many records) make one rectangle.
    out: list[dict] = []
    block: list[tuple[int, list[tuple[int, Any]]]] = []
    for row, run in runs:
        if block and (row != block[-1][0] + 1 or [c for c, _ in run] != [c for c, _ in block[-1][1]]
                      or _dated(run[0][1]) != _dated(block[-1][1][0][1])):
            out.append(_block_request(sheet_id, block))
            block = []
        block.append((row, run))
    if block:
        out.append(_block_request(sheet_id, block))
    return out


def _dated(value: Any) -> bool:
    return number_format(value) is not None if not is_missing(value) else False


def _block_request(sheet_id: int, block: list[tuple[int, list[tuple[int, Any]]]]) -> dict:
    dated = _dated(block[0][1][0][1])
    return {"updateCells": {
        "rows": [{"values": [cell_data(v, with_format=dated) for _, v in run]} for _, run in block],
        "fields": "userEnteredValue,userEnteredFormat.numberFormat" if dated else "userEnteredValue",
        "start": {"sheetId": sheet_id, "rowIndex": block[0][0], "columnIndex": block[0][1][0][0]},
    }}


def write_block(sheet_id: int, start_row: int, start_col: int, rows: Sequence[Sequence[Any]]) -> list[dict]:
    """A block of rows written at (start_row, start_col): one updateCells of the values (formats kept, so new
    rows keep the look they inherited), then one repeatCell per run of dates in a column for their format."""
    if not rows:
        return []
    # Several updateCells of at most ROWS_PER_REQUEST rows: one request of 100k rows is ~80 MB, past the API's
    # 10 MiB body, and split_batches can only cut between requests.
    out = [{"updateCells": {
        "rows": [{"values": [cell_data(v) for v in row]} for row in rows[i:i + ROWS_PER_REQUEST]],
        "fields": "userEnteredValue",
        "start": {"sheetId": sheet_id, "rowIndex": start_row + i, "columnIndex": start_col},
    }} for i in range(0, len(rows), ROWS_PER_REQUEST)]
    width = max(len(r) for r in rows)
    for c in range(width):
        run_start = run_fmt = None
        last = None
        for r, row in enumerate(rows):
            value = row[c] if c < len(row) else None
            fmt = number_format(value) if not is_missing(value) else None
            if fmt is not None and fmt == run_fmt:
                last = r
                continue
            if fmt is None and is_missing(value) and run_fmt is not None:
                continue  # a blank inside a run of dates takes the date format too
            if run_fmt is not None:
                out.append(format_cells(sheet_id, start_row + run_start, start_row + last + 1, start_col + c,
                                        start_col + c + 1, run_fmt))
            run_start, run_fmt, last = (r, fmt, r) if fmt is not None else (None, None, None)
        if run_fmt is not None:
            out.append(format_cells(sheet_id, start_row + run_start, start_row + last + 1, start_col + c,
                                    start_col + c + 1, run_fmt))
    return out


def append_cells(sheet_id: int, rows: Sequence[Sequence[Any]]) -> dict:
    """appendCells: rows after the last row holding data (archives and logs), dates with their format."""
    return {"appendCells": {
        "sheetId": sheet_id,
        "rows": [{"values": [cell_data(v, with_format=True) for v in row]} for row in rows],
        "fields": "userEnteredValue,userEnteredFormat.numberFormat",
    }}


def clear_values(sheet_id: int, start_row: int, end_row: int, start_col: int | None = None,
                 end_col: int | None = None) -> dict:
    """updateCells with no rows: the values of the range are cleared, formats and validation kept."""
    return {"updateCells": {"range": grid_range(sheet_id, start_row, end_row, start_col, end_col),
                            "fields": "userEnteredValue"}}


# ---------------------------------------------------------------------------------------------
# Rows, sheets


def insert_rows(sheet_id: int, start: int, count: int) -> dict:
    """Rows inserted at ``start`` (what lies below moves down), looking like the row above them."""
    return {"insertDimension": {"range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": start,
                                          "endIndex": start + count}, "inheritFromBefore": start > 0}}


def append_rows(sheet_id: int, count: int) -> dict:
    """More rows at the end of the grid."""
    return {"appendDimension": {"sheetId": sheet_id, "dimension": "ROWS", "length": count}}


def delete_rows(sheet_id: int, rows: Iterable[int]) -> list[dict]:
    """deleteDimension requests for these 0-based rows, contiguous runs merged, bottom-up so that each
    request's indexes are still right when it runs."""
    ordered = sorted(set(rows), reverse=True)
    out: list[dict] = []
    i = 0
    while i < len(ordered):
        end = ordered[i] + 1
        start = ordered[i]
        while i + 1 < len(ordered) and ordered[i + 1] == start - 1:
            i += 1
            start = ordered[i]
        out.append({"deleteDimension": {"range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": start,
                                                  "endIndex": end}}})
        i += 1
    return out


def add_sheet(title: str, *, sheet_id: int | None = None, index: int | None = None, rows: int = 1000,
              cols: int = 26, frozen_rows: int = 0, hidden: bool = False, tab_color: str | None = None) -> dict:
    props: dict[str, Any] = {"title": title, "gridProperties": {"rowCount": max(rows, 1), "columnCount": max(cols, 1)}}
    if frozen_rows:
        props["gridProperties"]["frozenRowCount"] = frozen_rows
    if sheet_id is not None:
        props["sheetId"] = sheet_id
    if index is not None:
        props["index"] = index
    if hidden:
        props["hidden"] = True
    if tab_color:
        props["tabColorStyle"] = {"rgbColor": rgb(tab_color)}
    return {"addSheet": {"properties": props}}


def delete_sheet(sheet_id: int) -> dict:
    return {"deleteSheet": {"sheetId": sheet_id}}


def resize_sheet(sheet_id: int, rows: int | None = None, cols: int | None = None) -> dict:
    props: dict[str, Any] = {}
    fields = []
    if rows is not None:
        props["rowCount"] = rows
        fields.append("gridProperties.rowCount")
    if cols is not None:
        props["columnCount"] = cols
        fields.append("gridProperties.columnCount")
    return {"updateSheetProperties": {"properties": {"sheetId": sheet_id, "gridProperties": props},
                                      "fields": ",".join(fields)}}


def freeze(sheet_id: int, rows: int = 1, cols: int = 0) -> dict:
    """A frozen header (rows) and frozen leading columns."""
    return {"updateSheetProperties": {
        "properties": {"sheetId": sheet_id, "gridProperties": {"frozenRowCount": rows, "frozenColumnCount": cols}},
        "fields": "gridProperties.frozenRowCount,gridProperties.frozenColumnCount"}}


def rgb(hex_color: str) -> dict:
    """'1F4E79' -> a Sheets Color (0..1 floats)."""
    h = hex_color.lstrip("#")[-6:]
    return {"red": int(h[0:2], 16) / 255, "green": int(h[2:4], 16) / 255, "blue": int(h[4:6], 16) / 255}


# ---------------------------------------------------------------------------------------------
# Formats, validation, protection, metadata


def format_cells(sheet_id: int, start_row: int, end_row: int | None, start_col: int, end_col: int,
                 fmt: Mapping[str, Any]) -> dict:
    """repeatCell of a numberFormat over a range (a column's data cells, a run of dates)."""
    return {"repeatCell": {"range": grid_range(sheet_id, start_row, end_row, start_col, end_col),
                           "cell": {"userEnteredFormat": {"numberFormat": dict(fmt)}},
                           "fields": "userEnteredFormat.numberFormat"}}


def header_style(sheet_id: int, row: int, start_col: int, end_col: int, fill: str = "1F4E79",
                 color: str = "FFFFFF") -> dict:
    """The header row's look: bold, white on a dark fill."""
    return {"repeatCell": {"range": grid_range(sheet_id, row, row + 1, start_col, end_col),
                           "cell": {"userEnteredFormat": {"backgroundColorStyle": {"rgbColor": rgb(fill)},
                                                          "textFormat": {"bold": True,
                                                                         "foregroundColorStyle": {"rgbColor": rgb(color)}}}},
                           "fields": "userEnteredFormat.backgroundColorStyle,userEnteredFormat.textFormat"}}


def field_number_format(type_name: str, pattern: str | None = None) -> dict | None:
    """The numberFormat of a schema field type's cells, the field-type registry's (an Excel-style pattern is
    taken as it is: Sheets reads the same syntax for the formats the builder uses)."""
    from crm_sheets.model.fieldtypes import field_type

    fmt = field_type(type_name).sheets_number_format()
    if fmt is None:
        return None
    kind, default = fmt
    return {"type": kind, "pattern": pattern or default if kind != "TEXT" else default}


def one_of_list(sheet_id: int, start_row: int, end_row: int | None, col: int, options: Sequence[str],
                strict: bool = False) -> dict:
    """A dropdown of these options (warning only unless ``strict``: a team's new value is kept, check reports it)."""
    return _validation(sheet_id, start_row, end_row, col, {
        "type": "ONE_OF_LIST", "values": [{"userEnteredValue": str(o)} for o in options]}, strict)


def one_of_range(sheet_id: int, start_row: int, end_row: int | None, col: int, a1: str, strict: bool = False) -> dict:
    """A dropdown of the values in a range (a column of the Lists sheet): ``'Lists'!$B$2:$B$40``."""
    return _validation(sheet_id, start_row, end_row, col, {
        "type": "ONE_OF_RANGE", "values": [{"userEnteredValue": "=" + a1.lstrip("=")}]}, strict)


def checkbox(sheet_id: int, start_row: int, end_row: int | None, col: int) -> dict:
    """A checkbox (warning only: a text typed there is kept, and check reports it)."""
    return _validation(sheet_id, start_row, end_row, col, {"type": "BOOLEAN"}, False, show_ui=False)


def _validation(sheet_id: int, start_row: int, end_row: int | None, col: int, condition: dict, strict: bool,
                show_ui: bool = True) -> dict:
    rule: dict[str, Any] = {"condition": condition, "strict": strict}
    if show_ui:
        rule["showCustomUi"] = True
    return {"setDataValidation": {"range": grid_range(sheet_id, start_row, end_row, col, col + 1), "rule": rule}}


def protect(sheet_id: int, description: str, start_col: int | None = None, end_col: int | None = None,
            start_row: int | None = None) -> dict:
    """A warning-only protected range: people editing a sheet or column a job owns are told, not blocked."""
    return {"addProtectedRange": {"protectedRange": {
        "range": grid_range(sheet_id, start_row, None, start_col, end_col),
        "description": description, "warningOnly": True}}}


def delete_protected_range(protected_range_id: int) -> dict:
    return {"deleteProtectedRange": {"protectedRangeId": protected_range_id}}


def sheet_metadata(sheet_id: int, key: str, value: str) -> dict:
    """Developer metadata on a whole sheet (``crm_sheets.table`` = the table it holds)."""
    return {"createDeveloperMetadata": {"developerMetadata": {
        "metadataKey": META_PREFIX + key, "metadataValue": value, "location": {"sheetId": sheet_id},
        "visibility": "DOCUMENT"}}}


def row_metadata(sheet_id: int, row: int, key: str, value: str) -> dict:
    """Developer metadata on one row (a table's header row): it moves with the row when people insert above."""
    return {"createDeveloperMetadata": {"developerMetadata": {
        "metadataKey": META_PREFIX + key, "metadataValue": value,
        "location": {"dimensionRange": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": row,
                                        "endIndex": row + 1}},
        "visibility": "DOCUMENT"}}}


def spreadsheet_metadata(key: str, value: str) -> dict:
    """Developer metadata on the spreadsheet (the write marks and the lock)."""
    return {"createDeveloperMetadata": {"developerMetadata": {
        "metadataKey": META_PREFIX + key, "metadataValue": value, "location": {"spreadsheet": True},
        "visibility": "DOCUMENT"}}}


def delete_metadata(key: str) -> dict:
    """Every developer metadata entry of this key, wherever it is."""
    return {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataKey": META_PREFIX + key}}}}


def delete_metadata_id(metadata_id: int) -> dict:
    return {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": metadata_id}}}}


# ---------------------------------------------------------------------------------------------
# Batches


def request_size(request: Mapping[str, Any]) -> int:
    return len(json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def split_batches(requests: Iterable[Mapping[str, Any]], limit: int = MAX_BATCH_BYTES) -> list[list[Mapping[str, Any]]]:
    """The requests as one batch, or as several in order when one body would pass ``limit`` bytes (the API
    refuses very large bodies). Each batch is atomic on its own."""
    return list(iter_batches(requests, limit))


def iter_batches(requests: Iterable[Mapping[str, Any]], limit: int = MAX_BATCH_BYTES) -> Iterator[list[Mapping[str, Any]]]:
    """split_batches, each batch given as soon as it is full (the requests may be made while batches are sent);
    at least one batch, empty when there are no requests."""
    current: list[Mapping[str, Any]] = []
    size = 0
    given = False
    for request in requests:
        n = request_size(request) + 1
        if current and size + n > limit:
            given = True
            yield current
            current, size = [], 0
        current.append(request)
        size += n
    if current or not given:
        yield current


def pack_groups(groups: Sequence[Sequence[Mapping[str, Any]]], limit: int = MAX_BATCH_BYTES) -> list[list[Mapping[str, Any]]]:
    """Groups of requests that must land together (the records' changes; one owned sheet's delete, add and
    content) packed into as few batches as fit under ``limit``, never splitting a group across batches unless
    the group alone is larger than the limit."""
    batches: list[list[Mapping[str, Any]]] = []
    size = limit + 1
    for group in groups:
        if not group:
            continue
        n = sum(request_size(r) + 1 for r in group)
        if n > limit:
            batches.extend(split_batches(group, limit))
            size = limit + 1
            continue
        if size + n > limit:
            batches.append([])
            size = 0
        batches[-1].extend(group)
        size += n
    return batches or [[]]


def a1(sheet: str, start_row: int, start_col: int, end_row: int | None = None, end_col: int | None = None) -> str:
    """An A1 range of a sheet from 0-based bounds (ends exclusive): ``'Leads'!A2:C9``."""
    from crm_sheets.model.tables import column_letter

    quoted = "'" + sheet.replace("'", "''") + "'"
    first = f"{column_letter(start_col)}{start_row + 1}"
    if end_row is None and end_col is None:
        return f"{quoted}!{first}"
    last_col = column_letter((end_col or start_col + 1) - 1)
    last = f"{last_col}{end_row}" if end_row is not None else last_col
    return f"{quoted}!{first}:{last}"
