"""A SheetSpec (a sheet a job owns: a report, Data Issues) rendered into a new sheet of the live book: all its
values in one write, then each named style's number format, font and fill over rectangles of cells sharing it
(a column of one style is one range), widths, merges, and charts through ``sheet.charts.add``."""
from __future__ import annotations

import re
from typing import Any

from crm_sheets.model.sheets import Cell, SheetSpec
from crm_sheets.store.excel.values import formula, to_excel

# Named style -> (number format, bold, italic, size, font colour, fill colour, wrap)
_GREY, _WHITE = (102, 102, 102), (255, 255, 255)
STYLE_LOOKS: dict[str, dict[str, Any]] = {
    "title": {"bold": True, "size": 16},
    "subtitle": {"italic": True, "font_color": _GREY},
    "header": {"bold": True, "font_color": _WHITE, "fill": (31, 78, 121)},
    "wrap": {"wrap": True},
    "integer": {"number_format": "#,##0"},
    "number": {"number_format": "#,##0.00"},
    "money": {"number_format": "#,##0.00"},
    "percent": {"number_format": "0.0%"},
    "date": {"number_format": "yyyy-mm-dd"},
    "datetime": {"number_format": "yyyy-mm-dd hh:mm"},
    "kpi_label": {"size": 9, "font_color": _GREY},
    "kpi_value": {"bold": True, "size": 18, "number_format": "#,##0"},
    "kpi_money": {"bold": True, "size": 18, "number_format": "#,##0"},
    "kpi_percent": {"bold": True, "size": 18, "number_format": "0.0%"},
    "good": {"fill": (198, 239, 206)},
    "bad": {"fill": (255, 199, 206)},
    "warn": {"fill": (255, 235, 156)},
    "muted": {"font_color": (128, 128, 128)},
    "link": {"font_color": (5, 99, 193)},
    "card": {"wrap": True, "fill": (242, 242, 242)},
}
_A1 = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?$")
CHART_TYPES = {"bar": "bar_clustered", "column": "column_clustered", "line": "line", "pie": "pie"}


def look(cell: Any) -> tuple:
    """A cell's look as a hashable key: (style, currency)."""
    if not isinstance(cell, Cell) or not cell.style:
        return ()
    return (cell.style, cell.currency if cell.style in ("money", "kpi_money") else None)


def look_attrs(key: tuple) -> dict[str, Any]:
    style, currency = key
    attrs = dict(STYLE_LOOKS.get(style, {}))
    if currency:
        attrs["number_format"] = ("#,##0" if style == "kpi_money" else "#,##0.00") + f' "{currency}"'
    return attrs


def values(spec: SheetSpec) -> list[list[Any]]:
    """The sheet's cells as one rectangular block of values for a single write."""
    width = max((len(r) for r in spec.rows), default=0)
    out = []
    for row in spec.rows:
        line = []
        for item in row:
            if isinstance(item, Cell):
                line.append(formula(item.formula) if item.formula else to_excel(item.value))
            else:
                line.append(to_excel(item))
        out.append(line + [None] * (width - len(line)))
    return out


def rectangles(spec: SheetSpec) -> dict[tuple, list[tuple[int, int, int, int]]]:
    """Look -> rectangles (first row, first col, last row, last col; 0-based, inclusive) of the cells having
    it: runs down each column, then runs of equal runs across neighbouring columns merged."""
    runs: dict[tuple, dict[tuple[int, int], list[int]]] = {}
    width = max((len(r) for r in spec.rows), default=0)
    for c in range(width):
        r = 0
        while r < len(spec.rows):
            key = look(spec.rows[r][c]) if c < len(spec.rows[r]) else ()
            end = r
            while end + 1 < len(spec.rows) and (look(spec.rows[end + 1][c]) if c < len(spec.rows[end + 1]) else ()) == key:
                end += 1
            if key:
                runs.setdefault(key, {}).setdefault((r, end), []).append(c)
            r = end + 1
    out: dict[tuple, list[tuple[int, int, int, int]]] = {}
    for key, spans in runs.items():
        for (r0, r1), cols in spans.items():
            start = prev = cols[0]
            for c in cols[1:] + [None]:
                if c is not None and c == prev + 1:
                    prev = c
                    continue
                out.setdefault(key, []).append((r0, start, r1, prev))
                if c is not None:
                    start = prev = c
    return out


def parse_a1(ref: str) -> tuple[int, int, int, int]:
    """'A5:C10' -> (first row, first col, last row, last col), 0-based, inclusive."""
    m = _A1.match(ref.split("!")[-1].strip().upper())
    if not m:
        raise ValueError(f"not an A1 range: {ref!r}")
    c0 = _col(m.group(1))
    r0 = int(m.group(2)) - 1
    if not m.group(3):
        return r0, c0, r0, c0
    return r0, c0, int(m.group(4)) - 1, _col(m.group(3))


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def render(sheet: Any, spec: SheetSpec) -> list[str]:
    """Write ``spec`` into the empty xlwings ``sheet``; returns notes on what could not be rendered."""
    notes: list[str] = []
    block = values(spec)
    if block and block[0]:
        sheet.range((1, 1), (len(block), len(block[0]))).value = block
    for key, rects in rectangles(spec).items():
        attrs = look_attrs(key)
        for r0, c0, r1, c1 in rects:
            _apply_look(sheet.range((r0 + 1, c0 + 1), (r1 + 1, c1 + 1)), attrs)
    for col, width in sorted(spec.widths.items()):
        sheet.range((1, col + 1)).column_width = width
    for row, height in sorted(spec.heights.items()):
        sheet.range((row + 1, 1)).row_height = height
    for ref in spec.merges:
        r0, c0, r1, c1 = parse_a1(ref)
        sheet.range((r0 + 1, c0 + 1), (r1 + 1, c1 + 1)).merge()
    for chart in spec.charts:
        notes.extend(_chart(sheet, chart))
    if spec.hidden:
        sheet.visible = False
    return notes


def _apply_look(rng: Any, attrs: dict[str, Any]) -> None:
    if "number_format" in attrs:
        rng.number_format = attrs["number_format"]
    if attrs.get("bold"):
        rng.font.bold = True
    if attrs.get("italic"):
        rng.font.italic = True
    if "size" in attrs:
        rng.font.size = attrs["size"]
    if "font_color" in attrs:
        rng.font.color = attrs["font_color"]
    if "fill" in attrs:
        rng.color = attrs["fill"]
    if attrs.get("wrap"):
        rng.wrap_text = True


def _chart(sheet: Any, chart: Any) -> list[str]:
    """A chart whose series share one block of categories and values (the report's charts): its source is that
    block. Other layouts are left out with a note."""
    try:
        boxes = [(parse_a1(s.categories), parse_a1(s.values)) for s in chart.series]
    except ValueError:
        return [f"{sheet.name}: chart {chart.title!r} left out (its ranges are not on this sheet)"]
    if not boxes:
        return []
    (cr0, cc0, cr1, _cc1), _ = boxes[0]
    cols = sorted({v[1] for _c, v in boxes})
    same_rows = all(c[0] == cr0 and c[2] == cr1 and c[1] == cc0 and v[0] == cr0 and v[2] == cr1 for c, v in boxes)
    if not same_rows or cols != list(range(cols[0], cols[0] + len(cols))) or cols[0] <= cc0:
        return [f"{sheet.name}: chart {chart.title!r} left out (its series do not share one block of rows)"]
    ar, ac, _, _ = parse_a1(chart.anchor)
    top = max(cr0 - 1, 0)
    cats = f"{_letter(cc0)}{top + 1}:{_letter(cc0)}{cr1 + 1}"
    vals = f"{_letter(cols[0])}{top + 1}:{_letter(cols[-1])}{cr1 + 1}"
    # From the header row above the block, so the series take their names from it; categories and values
    # not side by side are one range of two areas ("A4:A10,C4:D10"), as Excel's own chart dialog makes.
    address = f"{_letter(cc0)}{top + 1}:{_letter(cols[-1])}{cr1 + 1}" if cols[0] == cc0 + 1 else f"{cats},{vals}"
    try:
        source = sheet.range(address)
    except ValueError:  # an engine without ranges of several areas
        return [f"{sheet.name}: chart {chart.title!r} left out (this Excel cannot make a chart of {address})"]
    try:
        anchor = sheet.range((ar + 1, ac + 1))
        left, top_pt = anchor.left, anchor.top
    except NotImplementedError:  # an engine that cannot read positions: Excel's default column and row sizes
        left, top_pt = ac * 48.0, ar * 15.0
    made = sheet.charts.add(left=left, top=top_pt, width=chart.width_cols * 48, height=chart.height_rows * 15)
    made.chart_type = CHART_TYPES.get(chart.kind, "column_clustered")
    made.set_source_data(source)
    return []


def _letter(c: int) -> str:
    s, c = "", c + 1
    while c:
        c, rem = divmod(c - 1, 26)
        s = chr(65 + rem) + s
    return s
