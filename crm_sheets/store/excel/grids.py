"""XlwingsGrids: an open Excel book as the store core's GridSource, each sheet read in one call.

A sheet's cells come from ``sheet.used_range.options(ndim=2, err_to_str=True).value`` (one round trip to
Excel per sheet), placed from A1 and put into the core's conventions: None -> "", a datetime at midnight ->
a date (xlwings gives every date as a datetime), error values as their text ("#N/A").
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from crm_sheets.model.schema import normalize_header


def plain(value: Any) -> Any:
    """One xlwings cell value in the grid conventions of crm_sheets.store.core.grid."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        if (value.year, value.month, value.day) == (1899, 12, 30) and value.time() != dt.time(0, 0):
            return value.time()  # a time of day: Excel's day 0 with a time
        return value.date() if value.time() == dt.time(0, 0) else value
    return value


def read_block(sheet: Any) -> tuple[int, int, list[list[Any]]]:
    """(first row, first column, rows of raw xlwings values) of the sheet's used range: one call for the
    values (its position costs two cheap property reads). 0-based; an empty sheet gives (0, 0, [])."""
    used = sheet.used_range
    values = used.options(ndim=2, err_to_str=True).value or []
    if len(values) == 1 and all(v is None for v in values[0]):
        return 0, 0, []  # Excel's used range of an empty sheet is A1
    return used.row - 1, used.column - 1, [list(r) for r in values]


def from_a1(r0: int, c0: int, values: list[list[Any]], convert=plain) -> list[list[Any]]:
    """The block placed from A1: ``r0`` empty rows above it, ``c0`` empty cells left of each row."""
    pad = [""] * c0
    return [[] for _ in range(r0)] + [pad + [convert(v) for v in row] for row in values]


class XlwingsGrids:
    """An xlwings Book (live in Excel) as a GridSource. Sheets are read when first asked for, once; the raw
    values stay (``raw``) so the store can compare them with a re-read before it writes."""

    def __init__(self, book: Any, *, name: str | None = None, source: str | None = None):
        self.book = book
        self.name = name or str(book.name)
        self.source = source or f"excel:{book.fullname}"
        self._sheets = {s.name: s for s in book.sheets}
        self.sheet_names = tuple(self._sheets)
        self.date1904 = _date1904(book)
        self.raw: dict[str, list[list[Any]]] = {}  # sheet -> raw values from A1 (None for empty)
        self._grids: dict[str, list[list[Any]]] = {}
        self.calls = 0  # value reads sent to Excel

    def table_locations(self) -> dict[str, tuple[str, int]]:
        """The Excel tables (ListObjects): folded name -> (sheet, 0-based header row)."""
        out: dict[str, tuple[str, int]] = {}
        for title, sheet in self._sheets.items():
            try:
                found = list(sheet.tables)
            except Exception:  # an engine without tables: found by header search instead
                continue
            for t in found:
                out[normalize_header(t.name)] = (title, t.range.row - 1)
        return out

    def __getitem__(self, sheet: str) -> list[list[Any]]:
        if sheet not in self._grids:
            if sheet not in self._sheets:
                raise KeyError(sheet)
            r0, c0, values = read_block(self._sheets[sheet])
            self.calls += 1
            self.raw[sheet] = from_a1(r0, c0, values, convert=lambda v: v)
            self._grids[sheet] = from_a1(r0, c0, values)
        return self._grids[sheet]

    def merged(self, sheet: str):
        return ()  # xlwings has no bulk list of merged areas; one call per cell is what this store avoids

    def read_ahead(self, sheets: list[str]) -> None:
        pass  # each sheet is one call when asked for

    def forget(self, sheet: str) -> None:
        pass  # kept: apply compares what it re-reads with what was read

    def strays(self) -> list[tuple[str, str, str]]:
        return []

    def close(self) -> None:
        pass


def _date1904(book: Any) -> bool:
    try:
        return bool(getattr(book.api, "Date1904", False))  # the COM workbook's date system
    except Exception:
        return False
