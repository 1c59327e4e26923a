"""An in-memory Excel behind exactly the xlwings calls the live store (crm_sheets/store/excel) makes, with the
semantics of xlwings on Excel's COM engine: writes land at once, text assigned to a cell is parsed as Excel
parses typed input ("=..." a formula, "007" a number, a leading apostrophe keeps text), numbers read back as
floats and dates as datetimes, whole-row deletes and inserts move the cells (and Excel tables) below.

No xlwings engine drives a live book on Linux (the remote engine only records actions for a client to apply,
and cannot read formulas or settings back), so the store's tests run on this; tests/test_excel_live.py checks
that every call used here exists with the same signature in the installed xlwings.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")
_ROWS = re.compile(r"^\$?(\d+):\$?(\d+)$")
MAX_COL = 16384


def _col(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _letter(c: int) -> str:
    s, c = "", c + 1
    while c:
        c, rem = divmod(c - 1, 26)
        s = chr(65 + rem) + s
    return s


def typed(value: Any) -> tuple[Any, str | None]:
    """What Excel keeps when a value is assigned to a cell: (value, formula)."""
    if isinstance(value, str):
        if value.startswith("'"):
            return value[1:], None
        if value.startswith("="):
            return None, value
        text = value.strip()
        if text.upper() in ("TRUE", "FALSE"):
            return text.upper() == "TRUE", None
        try:
            if text and not text.startswith("0x"):
                return float(text.replace(",", "")), None
        except ValueError:
            pass
        if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            return dt.datetime.fromisoformat(text), None
        return (value if value != "" else None), None
    if isinstance(value, bool) or value is None:
        return value, None
    if isinstance(value, int):
        return float(value), None
    if isinstance(value, dt.datetime):
        return value, None
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day), None
    return value, None


class FakeFont:
    def __init__(self, rng: "FakeRange"):
        self._rng = rng

    def _set(self, key: str, value: Any) -> None:
        self._rng.sheet.log.append(("font." + key, self._rng.address))
        for cell in self._rng.cells():
            self._rng.sheet.looks.setdefault(cell, {})["font." + key] = value

    bold = property(lambda self: None, lambda self, v: self._set("bold", v))
    italic = property(lambda self: None, lambda self, v: self._set("italic", v))
    size = property(lambda self: None, lambda self, v: self._set("size", v))
    color = property(lambda self: None, lambda self, v: self._set("color", v))


class FakeRange:
    def __init__(self, sheet: "FakeSheet", r0: int, c0: int, r1: int, c1: int, options: dict | None = None):
        self.sheet, self.r0, self.c0, self.r1, self.c1 = sheet, r0, c0, r1, c1
        self._options = options or {}

    def cells(self):
        for r in range(self.r0, self.r1 + 1):
            for c in range(self.c0, min(self.c1, MAX_COL - 1) + 1):
                yield r, c

    # position
    row = property(lambda self: self.r0 + 1)
    column = property(lambda self: self.c0 + 1)
    shape = property(lambda self: (self.r1 - self.r0 + 1, self.c1 - self.c0 + 1))
    left = property(lambda self: 48.0 * self.c0)
    top = property(lambda self: 15.0 * self.r0)

    @property
    def address(self) -> str:
        return f"${_letter(self.c0)}${self.r0 + 1}:${_letter(self.c1)}${self.r1 + 1}"

    def options(self, convert=None, **options) -> "FakeRange":
        return FakeRange(self.sheet, self.r0, self.c0, self.r1, self.c1, {**self._options, **options})

    # values
    @property
    def value(self):
        self.sheet.book.app.reads += 1
        err = self._options.get("err_to_str", False)
        rows = []
        for r in range(self.r0, self.r1 + 1):
            line = []
            for c in range(self.c0, self.c1 + 1):
                v = self.sheet.cells.get((r, c))
                if isinstance(v, int) and not isinstance(v, bool) and v < -2146820000 and err:
                    v = "#N/A"
                line.append(v)
            rows.append(line)
        if self._options.get("ndim") == 2:
            return rows
        if len(rows) == 1 and len(rows[0]) == 1:
            return rows[0][0]
        if len(rows) == 1:
            return rows[0]
        if all(len(r) == 1 for r in rows):
            return [r[0] for r in rows]
        return rows

    @value.setter
    def value(self, data):
        sheet = self.sheet
        sheet.book.app.check_not_broken()
        sheet.writes += 1
        sheet.log.append(("value", self.address))
        if not isinstance(data, (list, tuple)):
            data = [[data] * self.shape[1]] * self.shape[0]
        elif data and not isinstance(data[0], (list, tuple)):
            data = [list(data)]
        for i, line in enumerate(data):
            for j, v in enumerate(line):
                value, formula = typed(v)
                key = (self.r0 + i, self.c0 + j)
                sheet.formulas.pop(key, None)
                if formula is not None:
                    sheet.formulas[key] = formula
                    sheet.cells[key] = sheet.evaluate(formula)
                elif value is None:
                    sheet.cells.pop(key, None)
                else:
                    sheet.cells[key] = value

    @property
    def formula(self):
        self.sheet.book.app.reads += 1
        rows = []
        for r in range(self.r0, self.r1 + 1):
            line = []
            for c in range(self.c0, self.c1 + 1):
                f = self.sheet.formulas.get((r, c))
                v = self.sheet.cells.get((r, c))
                line.append(f if f is not None else ("" if v is None else str(v)))
            rows.append(tuple(line))
        if len(rows) == 1 and len(rows[0]) == 1:
            return rows[0][0]
        return tuple(rows)

    # looks
    def _look(self, key: str, value: Any) -> None:
        self.sheet.log.append((key, self.address))
        for cell in self.cells():
            self.sheet.looks.setdefault(cell, {})[key] = value

    number_format = property(lambda self: self.sheet.looks.get((self.r0, self.c0), {}).get("number_format", "General"),
                             lambda self, v: self._look("number_format", v))
    color = property(lambda self: None, lambda self, v: self._look("color", v))
    wrap_text = property(lambda self: None, lambda self, v: self._look("wrap_text", v))
    column_width = property(lambda self: None, lambda self, v: self._look("column_width", v))
    row_height = property(lambda self: None, lambda self, v: self._look("row_height", v))
    font = property(lambda self: FakeFont(self))

    def merge(self, across=False):
        self.sheet.log.append(("merge", self.address))
        self.sheet.merges.append(self.address)

    # whole rows
    def _whole_rows(self) -> None:
        if self.c0 != 0 or self.c1 != MAX_COL - 1:
            raise NotImplementedError("the fake moves whole rows only")

    def delete(self, shift=None):
        if getattr(self, "areas", None):  # several whole-row areas: deleted together, as Excel does
            self.sheet.book.app.check_not_broken()
            self.sheet.writes += 1
            self.sheet.log.append(("delete", self.areas))
            gone: set[int] = set()
            for area in self.areas.split(","):
                box = self.sheet.range(area.strip())
                box._whole_rows()
                gone.update(range(box.r0, box.r1 + 1))
            self.sheet.remove_rows(gone)
            return
        self._whole_rows()
        self.sheet.book.app.check_not_broken()
        self.sheet.writes += 1
        self.sheet.log.append(("delete", self.address))
        self.sheet.move_rows(self.r1 + 1, -(self.r1 - self.r0 + 1))

    def insert(self, shift=None, copy_origin="format_from_left_or_above"):
        self._whole_rows()
        self.sheet.writes += 1
        self.sheet.log.append(("insert", self.address))
        self.sheet.move_rows(self.r0, self.r1 - self.r0 + 1)


class FakeTable:
    def __init__(self, sheet: "FakeSheet", name: str, r0: int, c0: int, r1: int, c1: int):
        self.sheet, self.name, self.box = sheet, name, [r0, c0, r1, c1]

    @property
    def range(self) -> FakeRange:
        return FakeRange(self.sheet, *self.box)

    def resize(self, range):
        self.sheet.log.append(("resize", range.address))
        self.box = [range.r0, range.c0, range.r1, range.c1]


class FakeTables(list):
    def __init__(self, sheet=None):
        super().__init__()
        self.sheet = sheet

    def __getitem__(self, key):
        if isinstance(key, str):
            return next(t for t in self if t.name == key)
        return list.__getitem__(self, key)

    def add(self, source=None, name=None, source_type=None, link_source=None, has_headers=True, destination=None,
            table_style_name="TableStyleMedium2"):
        table = FakeTable(self.sheet, name, source.r0, source.c0, source.r1, source.c1)
        self.append(table)
        return table


class FakeChart:
    def __init__(self, charts=None):
        self.chart_type = "column_clustered"
        self.source = None
        self._charts = charts

    def delete(self):
        self._charts.remove(self)

    def set_source_data(self, source):
        self.source = getattr(source, "areas", None) or source.address


class FakeCharts(list):
    def add(self, left=0, top=0, width=355, height=211):
        chart = FakeChart(self)
        self.append(chart)
        return chart


class FakeSheet:
    def __init__(self, book: "FakeBook", name: str):
        self.book, self.name = book, name
        self.cells: dict[tuple[int, int], Any] = {}
        self.formulas: dict[tuple[int, int], str] = {}
        self.looks: dict[tuple[int, int], dict] = {}
        self.tables = FakeTables(self)
        self.charts = FakeCharts()
        self.merges: list[str] = []
        self.visible = True
        self.buttons: list[str] = []  # form buttons drawn on the sheet (shapes: kept by clear)
        self.writes = 0  # calls that change cells (value, clear, row insert/delete)
        self.log: list[tuple[str, str]] = []

    def evaluate(self, formula: str) -> Any:
        return None  # the fake computes nothing: a formula cell reads as empty until "Excel" computes it

    @property
    def used_range(self) -> FakeRange:
        keys = set(self.cells) | set(self.formulas)
        if not keys:
            return FakeRange(self, 0, 0, 0, 0)
        return FakeRange(self, min(r for r, _ in keys), min(c for _, c in keys), max(r for r, _ in keys), max(c for _, c in keys))

    def range(self, cell1, cell2=None) -> FakeRange:
        if isinstance(cell1, tuple):
            r0, c0 = cell1[0] - 1, cell1[1] - 1
            r1, c1 = (cell2[0] - 1, cell2[1] - 1) if cell2 is not None else (r0, c0)
            return FakeRange(self, r0, c0, r1, c1)
        text = str(cell1)
        m = _ROWS.match(text)
        if m:
            return FakeRange(self, int(m.group(1)) - 1, 0, int(m.group(2)) - 1, MAX_COL - 1)
        if "," in text:  # a range of several areas (a chart's source): its bounding box, its address kept
            areas = [self.range(part.strip()) for part in text.split(",")]
            rng = FakeRange(self, min(a.r0 for a in areas), min(a.c0 for a in areas), max(a.r1 for a in areas),
                            max(a.c1 for a in areas))
            rng.areas = text
            return rng
        parts = text.split(":")
        a = _CELL.match(parts[0])
        b = _CELL.match(parts[-1])
        return FakeRange(self, int(a.group(2)) - 1, _col(a.group(1)), int(b.group(2)) - 1, _col(b.group(1)))

    def move_rows(self, start: int, by: int) -> None:
        """Rows from ``start`` down move by ``by`` (negative: the rows above ``start`` are deleted)."""
        gone = range(start + by, start) if by < 0 else range(0)

        def moved(store: dict) -> dict:
            out = {}
            for (r, c), v in store.items():
                if r in gone:
                    continue
                out[(r + by, c) if r >= start else (r, c)] = v
            return out

        self.cells, self.formulas, self.looks = moved(self.cells), moved(self.formulas), moved(self.looks)
        for t in self.tables:
            r0, c0, r1, c1 = t.box
            if by < 0:
                lost = len([r for r in gone if r0 <= r <= r1])
                t.box = [r0, c0, r1 - lost if r1 >= start + by else r1, c1]
            elif start <= r1:
                t.box = [r0 + by if start <= r0 else r0, c0, r1 + by, c1]

    def remove_rows(self, gone: set[int]) -> None:
        """Whole rows deleted at once: every row below moves up by the number of deleted rows above it."""
        import bisect

        order = sorted(gone)

        def moved(store: dict) -> dict:
            return {(r - bisect.bisect_left(order, r), c): v for (r, c), v in store.items() if r not in gone}

        self.cells, self.formulas, self.looks = moved(self.cells), moved(self.formulas), moved(self.looks)
        for t in self.tables:
            r0, c0, r1, c1 = t.box
            t.box = [r0 - bisect.bisect_left(order, r0), c0, r1 - bisect.bisect_right(order, r1), c1]

    def delete(self):
        self.book.sheets._list.remove(self)

    def clear(self):
        """Contents and formats go (merges too); shapes such as buttons stay, as in Excel."""
        self.writes += 1
        self.log.append(("clear", self.name))
        self.cells, self.formulas, self.looks, self.merges = {}, {}, {}, []

    def __repr__(self):
        return f"<FakeSheet {self.name}>"


class FakeSheets:
    def __init__(self, book: "FakeBook"):
        self.book = book
        self._list: list[FakeSheet] = []

    def __iter__(self):
        return iter(list(self._list))

    def __len__(self):
        return len(self._list)

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._list[key]
        for s in self._list:
            if s.name.casefold() == str(key).casefold():
                return s
        raise KeyError(key)

    def add(self, name=None, before=None, after=None):
        sheet = FakeSheet(self.book, name or f"Sheet{len(self._list) + 1}")
        if before is not None:
            self._list.insert(self._list.index(before), sheet)
        elif after is not None:
            self._list.insert(self._list.index(after) + 1, sheet)
        else:
            self._list.insert(0, sheet)  # as Excel does: before the active sheet
        return sheet


class FakeName:
    def __init__(self, name: str, refers_to: str):
        self.name, self.refers_to = name, refers_to


class FakeNames(dict):
    def add(self, name, refers_to):
        if name in self:
            raise ValueError(f"name {name} exists")
        self[name] = FakeName(name, refers_to)
        return self[name]


class FakeApi:
    Date1904 = False


class FakeApp:
    def __init__(self):
        self.screen_updating = True
        self.calculation = "automatic"
        self.alerts: list[tuple[str, str]] = []
        self.reads = 0
        self.break_after: int | None = None  # the n-th write raises, as Excel does when a cell is locked
        self._writes = 0

    def check_not_broken(self) -> None:
        self._writes += 1
        if self.break_after is not None and self._writes > self.break_after:
            raise RuntimeError("Excel refused the write (the fake's injected failure)")

    def alert(self, prompt, title=None, buttons="ok", mode=None, callback=None):
        self.alerts.append((title, prompt))
        return "ok"


class FakeBook:
    def __init__(self, fullname: str):
        self.fullname = fullname
        self.name = fullname.replace("\\", "/").rsplit("/", 1)[-1]
        self.app = FakeApp()
        self.sheets = FakeSheets(self)
        self.names = FakeNames()
        self.api = FakeApi()

    @classmethod
    def from_xlsx(cls, path, fullname: str | None = None) -> "FakeBook":
        """A book holding a workbook file's sheets as Excel shows them when it opens it: cached values, formulas,
        Excel tables and defined names."""
        import openpyxl
        from python_calamine import CalamineWorkbook

        book = cls(fullname or str(path))
        values = CalamineWorkbook.from_path(str(path))
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            sheet = FakeSheet(book, ws.title)
            book.sheets._list.append(sheet)
            for r, row in enumerate(values.get_sheet_by_name(ws.title).to_python(skip_empty_area=False)):
                for c, v in enumerate(row):
                    if v == "" or v is None:
                        continue
                    sheet.cells[(r, c)] = typed(v)[0] if not isinstance(v, str) else v
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and cell.value.startswith("="):
                        sheet.formulas[(cell.row - 1, cell.column - 1)] = cell.value
            for t in ws.tables.values():
                a, b = t.ref.split(":")
                ma, mb = _CELL.match(a), _CELL.match(b)
                sheet.tables.append(FakeTable(sheet, t.name, int(ma.group(2)) - 1, _col(ma.group(1)),
                                              int(mb.group(2)) - 1, _col(mb.group(1))))
            sheet.visible = ws.sheet_state == "visible"
        for name, dn in wb.defined_names.items():
            book.names[name] = FakeName(name, "=" + str(dn.attr_text))
        return book

    def grid(self, sheet: str) -> list[list[Any]]:
        """A sheet's values from A1 as rows (None for empty), for assertions."""
        s = self.sheets[sheet]
        if not s.cells:
            return []
        rows, cols = max(r for r, _ in s.cells) + 1, max(c for _, c in s.cells) + 1
        return [[s.cells.get((r, c)) for c in range(cols)] for r in range(rows)]
