"""A small canvas to lay report sheets out: cells placed by (row, column), blocks of headed tables,
and the A1 ranges charts need. Turns into a SheetSpec; knows nothing about the figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from crm_sheets.model import Cell, ChartSeries, ChartSpec, SheetSpec
from crm_sheets.model.tables import column_letter

DASH = "—"


def a1(row: int, col: int) -> str:
    """0-based (row, col) -> 'B3'."""
    return f"{column_letter(col)}{row + 1}"


@dataclass(frozen=True)
class Block:
    """Where a table landed: its header row and data rows (0-based), first column and width."""

    header_row: int
    first: int
    last: int  # inclusive; last < first when the table has no rows
    col: int
    width: int
    total: bool = False  # a total row sits under the data (charts stop at the last data row)

    @property
    def end_row(self) -> int:
        return max(self.header_row, self.last) + (1 if self.total else 0)

    def column(self, i: int, last: int | None = None) -> str:
        """The A1 range of data column i of the block (optionally stopping at row ``last``)."""
        c = self.col + i
        return f"{a1(self.first, c)}:{a1(self.last if last is None else last, c)}"

    @property
    def empty(self) -> bool:
        return self.last < self.first


def value_cell(value: Any, style: str | None = None, currency: str | None = None) -> Cell:
    """None and NaN become '—' (a zero denominator is never an error)."""
    if value is None or (isinstance(value, float) and value != value):
        return Cell(DASH, "muted")
    return Cell(value, style, currency=currency if style in ("money", "kpi_money") else None)


class Canvas:
    def __init__(self, name: str, key: str):
        self.name, self.key = name, key
        self.cells: dict[tuple[int, int], Cell] = {}
        self.widths: dict[int, float] = {}
        self.heights: dict[int, float] = {}
        self.merges: list[str] = []
        self.charts: list[ChartSpec] = []

    def put(self, row: int, col: int, value: Any, style: str | None = None, currency: str | None = None) -> None:
        self.cells[(row, col)] = value if isinstance(value, Cell) else value_cell(value, style, currency)

    def width(self, col: int, chars: float) -> None:
        self.widths[col] = max(self.widths.get(col, 0), chars)

    def height(self, row: int, points: float) -> None:
        self.heights[row] = max(self.heights.get(row, 0), points)

    def fit_lines(self, row: int, text: str, line_points: float = 12.5, minimum: float = 15) -> None:
        """Make a row tall enough for a wrapped multi-line cell (spreadsheets do not grow rows on open)."""
        self.height(row, max(minimum, (str(text).count("\n") + 1) * line_points + 4))

    def heading(self, title: str, subtitle: str) -> None:
        self.put(0, 0, title, "title")
        self.height(0, 24)
        self.put(1, 0, subtitle, "subtitle")

    def note(self, row: int, col: int, text: str) -> int:
        self.put(row, col, text, "muted")
        return row + 1

    def table(self, row: int, col: int, title: str | None, headers: Sequence[str], rows: Sequence[Sequence[Any]],
              styles: Sequence[str | None], currency: str | None = None, total: Sequence[Any] | None = None) -> Block:
        """A block: optional title, a header row, data rows with a style per column, an optional total row."""
        if title:
            self.put(row, col, title, "kpi_label")
            row += 1
        for i, h in enumerate(headers):
            self.put(row, col + i, h, "header")
        header = row
        for r, values in enumerate(rows):
            for i, v in enumerate(values):
                self.put(header + 1 + r, col + i, v, styles[i], currency)
        last = header + len(rows)
        if total is not None:
            for i, v in enumerate(total):
                self.put(last + 1, col + i, v if i else Cell(v, "header"), styles[i] if i else None, currency)
        return Block(header, header + 1, last, col, len(headers), total is not None)

    def chart(self, kind: str, title: str, block: Block, value_cols: Sequence[int], names: Sequence[str], anchor: tuple[int, int],
              width_cols: int = 7, height_rows: int = 15) -> int:
        """A native chart over a block's data rows; returns the row under the chart. No rows: no chart."""
        if block.empty:
            return anchor[0]
        series = tuple(ChartSeries(n, block.column(0), block.column(i)) for i, n in zip(value_cols, names))
        self.charts.append(ChartSpec(kind, title, series, a1(*anchor), width_cols, height_rows))
        return anchor[0] + height_rows

    def sheet(self, freeze: tuple[int, int] | None = (3, 0), tab_color: str | None = None) -> SheetSpec:
        n_rows = max((r for r, _c in self.cells), default=-1) + 1
        n_cols = max((c for _r, c in self.cells), default=-1) + 1
        rows: list[list[Any]] = [[None] * n_cols for _ in range(n_rows)]
        for (r, c), cell in self.cells.items():
            rows[r][c] = cell
        for r in rows:  # trailing empty cells are noise in the XML
            while r and r[-1] is None:
                r.pop()
        return SheetSpec(name=self.name, key=self.key, rows=rows, widths=dict(self.widths), heights=dict(self.heights), freeze=freeze,
                         merges=list(self.merges), charts=list(self.charts), tab_color=tab_color, landscape=True)

