"""Render a ``SheetSpec`` (an owned sheet described as data) onto a new XlsxWriter worksheet.

Used for the Start sheet; any owned sheet can be written the same way into a new workbook.
Text is always written as text: only ``Cell.formula`` makes a formula.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

from crm_sheets.builder.formats import Formats, money_format
from crm_sheets.model.sheets import Cell, SheetSpec


def render_sheet(workbook: Any, formats: Formats, spec: SheetSpec) -> Any:
    ws = workbook.add_worksheet(spec.name)
    for r, row in enumerate(spec.rows):
        for c, item in enumerate(row):
            cell = item if isinstance(item, Cell) else Cell(item)
            _write(ws, formats, r, c, cell)
    for col, width in spec.widths.items():
        ws.set_column(col, col, width)
    for r, row in enumerate(spec.rows):
        height = _wrapped_height(row, spec.widths)
        if height:
            ws.set_row(r, height)
    if spec.freeze:
        ws.freeze_panes(*spec.freeze)
    if spec.autofilter:
        ws.autofilter(spec.autofilter)
    if spec.tab_color:
        ws.set_tab_color("#" + spec.tab_color.lstrip("#"))
    if spec.landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    if spec.hidden:
        ws.hide()
    return ws


_WRAPPED = ("wrap", "card")
_LINE_HEIGHT = 15.0
_DEFAULT_WIDTH = 8.43
_CHARS_PER_UNIT = 1.1  # a width unit is one digit; average text is narrower


def _wrapped_height(row: list[Any], widths: dict[int, float]) -> float | None:
    """Height of a row holding wrapped text. LibreOffice keeps the default height of rows it did not
    measure and Excel only measures some, so long texts would overlap the next row without this."""
    lines = 1
    for c, item in enumerate(row):
        if isinstance(item, Cell) and item.style in _WRAPPED and isinstance(item.value, str):
            # A column width counts digits; average text is a little narrower.
            per_line = max(1.0, widths.get(c, _DEFAULT_WIDTH) * _CHARS_PER_UNIT)
            n = sum(max(1, math.ceil(len(part) / per_line)) for part in item.value.split("\n"))
            lines = max(lines, n)
    return lines * _LINE_HEIGHT + 2 if lines > 1 else None


def _write(ws: Any, formats: Formats, r: int, c: int, cell: Cell) -> None:
    num = money_format(cell.currency, formats.lang) if cell.currency and cell.style in ("money", "kpi_money") else None
    fmt = formats.named(cell.style, num)
    v = cell.value
    if cell.formula:
        ws.write_formula(r, c, cell.formula, fmt)
    elif cell.link:
        target = cell.link if cell.link.startswith(("http://", "https://", "mailto:")) else "internal:" + cell.link
        ws.write_url(r, c, target, fmt, "" if v is None else str(v))
    elif v is None or v == "":
        if fmt is not None:
            ws.write_blank(r, c, None, fmt)
    elif isinstance(v, bool):
        ws.write_boolean(r, c, v, fmt)
    elif isinstance(v, (int, float)):
        ws.write_number(r, c, v, fmt)
    elif isinstance(v, (dt.date, dt.datetime)):
        ws.write_datetime(r, c, v, fmt or formats.named("date"))
    else:
        ws.write_string(r, c, str(v), fmt)
