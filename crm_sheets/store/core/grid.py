"""GridSource: what the store core needs from a backend to read a workbook, and MemoryGrids, the smallest one.

A backend (an .xlsx file, a live Excel book, a Google Sheet) only turns its medium into grids of plain
values; header matching, typing and IDs live once in crm_sheets.store.core.read. MemoryGrids (sheets given
as lists of rows) is the reference implementation other backends mirror, and what tests build workbooks from.

Value conventions of a grid cell (what python-calamine gives for an .xlsx, and what every backend must give):
- an empty cell is ``""`` (not None: blank rows are found by comparing with "");
- text is ``str``, as typed: text that looks like a number ('007', '+1 415...') stays ``str``;
- a number is ``float`` (whole numbers too: 3.0) or ``int``; a checkbox or TRUE/FALSE is ``bool``;
- a date is ``datetime.date``, a date with a time ``datetime.datetime``, a time of day ``datetime.time``,
  a duration ``datetime.timedelta`` (a backend that gets serial numbers converts those of date-formatted
  cells itself; serials typed into a date column without a date format stay numbers and are read with
  ``date1904``);
- a formula cell gives its last computed value; an error value (#N/A, #REF!) its text, e.g. ``"#N/A"``.
Rows are lists from column A; they may be ragged (shorter than the widest row) and the grid may stop at the
last row holding anything. Row and column numbers everywhere here are 0-based from A1 (row 0 is sheet row 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

Grid = list[list[Any]]
MergedRange = tuple[tuple[int, int], tuple[int, int]]  # ((first row, first col), (last row, last col)), 0-based, inclusive


@dataclass(frozen=True)
class ContentFingerprint:
    """What a live backend's read saw (a hash of every value read), as the runner keys job states by it; the
    file store's Fingerprint has the same fields (size and mtime are 0 here: there is no file)."""

    sha256: str
    size: int = 0
    mtime_ns: int = 0

    def same_content(self, other: Any) -> bool:
        return other is not None and getattr(other, "sha256", None) == self.sha256


@runtime_checkable
class GridSource(Protocol):
    """A workbook as grids of cell values, for ``crm_sheets.store.core.read.read_tables``."""

    name: str  # how messages name the workbook: "crm.xlsx", a spreadsheet's title
    source: str  # what Tables.source says: the file's path, or the store's identity
    sheet_names: Sequence[str]  # every sheet in workbook order, hidden ones (_crm_meta) included
    date1904: bool  # serial numbers typed into date columns count from 1904 (an .xlsx option; False elsewhere)

    def table_locations(self) -> Mapping[str, tuple[str, int]]:
        """Where the workbook's named tables are: ``normalize_header(table name)`` -> (sheet, 0-based header
        row). Excel tables (ListObjects) for .xlsx; a backend without named tables returns {} (tables are then
        found by sheet name and header search)."""

    def __getitem__(self, sheet: str) -> Grid:
        """The sheet's cells as rows of values from A1 (see the module's conventions). KeyError for an unknown sheet."""

    def merged(self, sheet: str) -> Sequence[MergedRange]:
        """The sheet's merged ranges, 0-based and inclusive; () when it has none."""

    def read_ahead(self, sheets: list[str]) -> None:
        """A hint: these sheets will be asked for, in this order (fetch them in one go or in the background)."""

    def forget(self, sheet: str) -> None:
        """A hint: the sheet's cells are no longer needed (free them)."""

    def strays(self) -> list[tuple[str, str, str]]:
        """(sheet, message, first cell as 'Sheet'!A1) per sheet whose far-away cells were left unread; [] if none."""


class MemoryGrids:
    """A workbook given as data: sheet name -> rows of values (None counts as an empty cell).

    ``tables`` places named tables (folded name -> (sheet, 0-based header row)); ``merged`` gives each
    sheet's merged ranges.
    """

    def __init__(self, sheets: Mapping[str, Iterable[Iterable[Any]]], *, name: str = "memory",
                 source: str | None = None, tables: Mapping[str, tuple[str, int]] | None = None,
                 merged: Mapping[str, Sequence[MergedRange]] | None = None, date1904: bool = False):
        self.name = name
        self.source = source if source is not None else f"memory:{name}"
        self.sheet_names = tuple(sheets)
        self.date1904 = date1904
        self._sheets = {s: [["" if v is None else v for v in row] for row in rows] for s, rows in sheets.items()}
        self._tables = dict(tables or {})
        self._merged = {s: tuple(m) for s, m in (merged or {}).items()}

    def table_locations(self) -> dict[str, tuple[str, int]]:
        return dict(self._tables)

    def __getitem__(self, sheet: str) -> Grid:
        return self._sheets[sheet]

    def merged(self, sheet: str) -> Sequence[MergedRange]:
        return self._merged.get(sheet, ())

    def read_ahead(self, sheets: list[str]) -> None:
        pass  # already in memory

    def forget(self, sheet: str) -> None:
        pass  # the caller's data: kept

    def strays(self) -> list[tuple[str, str, str]]:
        return []
