"""DataFilters: the ranges an a1Range, a gridRange or a developerMetadataLookup selects, for the
*ByDataFilter methods (a lookup selects the rows, columns or sheet its matching metadata is on)."""
from __future__ import annotations

from .errors import ApiError
from .model import Spreadsheet
from .layout_requests import metadata_matches
from .resource import a1_of, grid_range, resolve


def filter_ranges(book: Spreadsheet, data_filter: dict) -> list[str]:
    """The A1 ranges (bounded, quoted as the API writes them) that `data_filter` selects."""
    if data_filter.get("a1Range"):
        return [a1_of(*resolve(book, data_filter["a1Range"], check_grid=False))]
    if data_filter.get("gridRange"):
        return [a1_of(*grid_range(book, data_filter["gridRange"]))]
    if data_filter.get("developerMetadataLookup") is None:
        raise ApiError(400, "A data filter needs one of a1Range, gridRange or developerMetadataLookup.")
    out = []
    for m in book.developer_metadata:
        if not metadata_matches(book, m, data_filter):
            continue
        location = m["location"]
        if location["locationType"] == "SHEET":
            sheet = book.sheet_by_id(location["sheetId"])
            out.append(a1_of(sheet, 0, sheet.row_count, 0, sheet.column_count))
        elif location["locationType"] in ("ROW", "COLUMN"):
            rng = location["dimensionRange"]
            sheet = book.sheet_by_id(rng["sheetId"])
            if rng["dimension"] == "ROWS":
                out.append(a1_of(sheet, rng["startIndex"], rng["endIndex"], 0, sheet.column_count))
            else:
                out.append(a1_of(sheet, 0, sheet.row_count, rng["startIndex"], rng["endIndex"]))
        else:  # the whole spreadsheet: every grid sheet
            out.extend(a1_of(s, 0, s.row_count, 0, s.column_count) for s in book.sheets)
    return out
