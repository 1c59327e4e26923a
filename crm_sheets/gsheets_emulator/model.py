"""The spreadsheets the emulator holds in memory: sheets, their grids of cells, and the objects on them.

A grid is a list of rows, each a list of entries: None (empty), a plain str/number/bool (a value with no
format, the common case kept small for 100k-row sheets) or a Cell. Entries are never changed in place, so
a batchUpdate works on a cheap copy (`Spreadsheet.copy`) and is swapped in only if every request succeeded.
"""
from __future__ import annotations

import copy
import random
import threading
import secrets
from typing import Any, Iterator

# The parts of CellData a client can write and the emulator keeps (the rest are output or not stored).
MAX_CELLS = 10_000_000  # per spreadsheet, across its grid sheets
MAX_CELL_CHARS = 50_000
WRITABLE = ("userEnteredValue", "userEnteredFormat", "note", "dataValidation", "textFormatRuns", "pivotTable")


class Cell:
    """A cell that is more than a plain value: a formula, a format, a note, a validation rule."""

    __slots__ = ("value", "formula", "data")

    def __init__(self, value: Any = None, formula: str | None = None, data: dict | None = None):
        self.value = value      # the entered value, or for a formula the cached result (None: not computed)
        self.formula = formula  # "=SUM(A1:A3)"
        self.data = data        # the other WRITABLE fields of CellData, e.g. {"userEnteredFormat": {...}}


def entry_to_data(entry: Any) -> dict:
    """The writable CellData of a grid entry (a new dict)."""
    if entry is None:
        return {}
    if not isinstance(entry, Cell):
        return {"userEnteredValue": extended_value(entry)}
    out = dict(entry.data) if entry.data else {}
    if entry.formula is not None:
        out["userEnteredValue"] = {"formulaValue": entry.formula}
        if entry.value is not None:  # the cached result travels with the formula
            out["effectiveValue"] = extended_value(entry.value)
    elif entry.value is not None:
        out["userEnteredValue"] = extended_value(entry.value)
    return out


def data_to_entry(data: dict) -> Any:
    """The compact grid entry for writable CellData `data` (whose keys are WRITABLE ones)."""
    value = data.get("userEnteredValue") or {}
    formula = value.get("formulaValue")
    scalar = None
    if formula is None:
        for key in ("stringValue", "numberValue", "boolValue"):
            if value.get(key) is not None:
                scalar = value[key]
                if key == "numberValue":
                    scalar = to_number(scalar)
                break
    else:
        cached = data.get("effectiveValue")  # emulator extension: a cached formula result
        if isinstance(cached, dict):
            for key in ("stringValue", "numberValue", "boolValue"):
                if cached.get(key) is not None:
                    scalar = cached[key]
    rest = {k: v for k, v in data.items() if k in WRITABLE and k != "userEnteredValue" and v not in (None, {}, [])}
    if formula is None and not rest:
        return None if scalar.__class__ is str and scalar == "" else scalar  # an empty string leaves the cell empty
    memo = getattr(SHARED, "memo", None)
    if rest and memo is not None:
        # A rule or format given to a whole column is one object in the request: the cells that get it share
        # one dict of it (and blank cells one Cell), rather than a copy each (GBs over a 100k-row table).
        key = tuple((k, id(v)) for k, v in rest.items())
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = (rest, Cell(None, None, rest))  # holds the values, so their ids stay theirs
        if formula is None and scalar is None:
            return hit[1]
        rest = hit[0]
    return Cell(scalar, formula, rest or None)


# While a batch is applied (requests.apply_all, in this thread): the cell data made so far, by the identity
# of its values.
SHARED = threading.local()


def to_number(value: Any) -> float | int:
    if isinstance(value, str):
        value = float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


def extended_value(value: Any) -> dict:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, (int, float)):
        return {"numberValue": value}
    return {"stringValue": value}


def entry_value(entry: Any) -> Any:
    """The value a cell shows (a formula's cached result, None when it has none)."""
    return entry.value if isinstance(entry, Cell) else entry


def entry_format(entry: Any) -> dict | None:
    if isinstance(entry, Cell) and entry.data:
        return entry.data.get("userEnteredFormat")
    return None


def is_empty(entry: Any) -> bool:
    if entry is None:
        return True
    if isinstance(entry, Cell):
        return entry.value is None and entry.formula is None
    return False


class Sheet:
    def __init__(self, properties: dict):
        self.properties = properties
        self.rows: list[list | None] = []  # may be shorter than rowCount; rows may be shorter than columnCount
        self.protected_ranges: list[dict] = []
        self.merges: list[dict] = []
        self.conditional_formats: list[dict] = []
        self.basic_filter: dict | None = None
        self.charts: list[dict] = []
        self.banded_ranges: list[dict] = []
        self.row_meta: dict[int, dict] = {}
        self.col_meta: dict[int, dict] = {}

    @property
    def id(self) -> int:
        return self.properties["sheetId"]

    @property
    def title(self) -> str:
        return self.properties["title"]

    @property
    def grid(self) -> dict:
        return self.properties.setdefault("gridProperties", {})

    @property
    def row_count(self) -> int:
        return self.grid.get("rowCount", 0)

    @property
    def column_count(self) -> int:
        return self.grid.get("columnCount", 0)

    def get(self, r: int, c: int) -> Any:
        if r < len(self.rows):
            row = self.rows[r]
            if row is not None and c < len(row):
                return row[c]
        return None

    def put(self, r: int, c: int, entry: Any) -> None:
        rows = self.rows
        if r >= len(rows):
            if entry is None:
                return
            rows.extend([None] * (r + 1 - len(rows)))
        row = rows[r]
        if row is None:
            if entry is None:
                return
            row = rows[r] = []
        if c >= len(row):
            if entry is None:
                return
            row.extend([None] * (c + 1 - len(row)))
        row[c] = entry

    def data_extent(self) -> tuple[int, int]:
        """(rows, columns) up to the last non-empty value."""
        last_row, last_col = 0, 0
        for r, row in enumerate(self.rows):
            if not row:
                continue
            for c in range(len(row) - 1, -1, -1):
                if not is_empty(row[c]):
                    last_row = r + 1
                    last_col = max(last_col, c + 1)
                    break
        return last_row, last_col

    def copy(self) -> "Sheet":
        other = Sheet.__new__(Sheet)
        other.__dict__.update({k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "rows"})
        other.rows = [list(row) if row is not None else None for row in self.rows]
        return other


class Spreadsheet:
    def __init__(self, spreadsheet_id: str, properties: dict):
        self.id = spreadsheet_id
        self.properties = properties
        self.sheets: list[Sheet] = []
        self.named_ranges: list[dict] = []
        self.developer_metadata: list[dict] = []  # every piece, wherever located
        self.next_id = 1

    def sheet_by_id(self, sheet_id: int) -> Sheet | None:
        for sheet in self.sheets:
            if sheet.id == sheet_id:
                return sheet
        return None

    def sheet_by_title(self, title: str) -> Sheet | None:
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        lowered = title.lower()  # sheet names are case-insensitive in ranges
        for sheet in self.sheets:
            if sheet.title.lower() == lowered:
                return sheet
        return None

    def new_sheet_id(self) -> int:
        taken = {s.id for s in self.sheets}
        while True:
            candidate = random.randint(1, 2 ** 31 - 1)
            if candidate not in taken:
                return candidate

    def new_object_id(self) -> int:
        """An id for protected ranges, metadata, charts (unique in the spreadsheet, like the API's)."""
        self.next_id += random.randint(1, 1000)
        return self.next_id

    def cell_count(self) -> int:
        return sum(s.row_count * s.column_count for s in self.sheets if s.properties.get("sheetType", "GRID") == "GRID")

    def reindex(self) -> None:
        for i, sheet in enumerate(self.sheets):
            sheet.properties["index"] = i

    def copy(self) -> "Spreadsheet":
        other = Spreadsheet(self.id, copy.deepcopy(self.properties))
        other.sheets = [s.copy() for s in self.sheets]
        other.named_ranges = copy.deepcopy(self.named_ranges)
        other.developer_metadata = copy.deepcopy(self.developer_metadata)
        other.next_id = self.next_id
        return other

    def iter_ranges(self) -> Iterator[dict]:
        """Every GridRange stored on objects, so inserts and deletes of rows/columns can move them."""
        for sheet in self.sheets:
            for p in sheet.protected_ranges:
                if "range" in p:
                    yield p["range"]
                yield from p.get("unprotectedRanges", [])
            yield from sheet.merges
            for rule in sheet.conditional_formats:
                yield from rule.get("ranges", [])
            if sheet.basic_filter and "range" in sheet.basic_filter:
                yield sheet.basic_filter["range"]
            for view in sheet.__dict__.get("filter_views", ()):  # emulator/moves.py
                if "range" in view:
                    yield view["range"]
            for banded in sheet.banded_ranges:
                if "range" in banded:
                    yield banded["range"]
        for named in self.named_ranges:
            if "range" in named:
                yield named["range"]


def new_spreadsheet_id() -> str:
    return secrets.token_urlsafe(33)[:44]
