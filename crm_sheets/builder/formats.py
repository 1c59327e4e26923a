"""Cell formats of a new workbook: one XlsxWriter format per look, made once and shared.

Number formats per field type (money with its currency), header looks (plain, required, computed),
the named styles of ``SheetSpec`` cells and the highlight colours of conditional formats.
"""
from __future__ import annotations

from typing import Any

from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook

from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.fieldtypes.formats import BOOLEAN_FORMATS, money_format  # noqa: F401 (used from here)

# The palette shared with the store's named styles (crm_sheets.store.xlsx.styles), so a regenerated sheet
# looks like one written here.
NAVY = "#1F4E78"
GRID = "#BFBFBF"
GREY_HEADER = "#7F7F7F"
ORANGE = "#ED7D31"
FONT = "Calibri"

# The named styles of report cells reuse the number formats of the field types of the same name.
NUMBER_FORMATS = {name: field_type(name).number_format() for name in ("integer", "number", "percent", "date", "datetime")}

# Highlights of conditional formats (light fill, dark text: readable in print and for colour-blind people).
HIGHLIGHTS = {
    "overdue": {"bg_color": "#FFC7CE", "font_color": "#9C0006"},
    "hot": {"bg_color": "#FCE4D6", "font_color": "#833C0B"},
    "stalled": {"bg_color": "#FFEB9C", "font_color": "#9C5700"},
    "opted_out": {"font_color": "#A6A6A6", "italic": True},
}

_BASE = {"font_name": FONT, "font_size": 11}
_HEADER = {**_BASE, "bold": True, "font_color": "#FFFFFF", "bg_color": NAVY, "border": 1, "border_color": GRID,
           "valign": "vcenter", "text_wrap": True}
_NAMED: dict[str, dict[str, Any]] = {
    "title": {**_BASE, "font_size": 18, "bold": True, "font_color": NAVY},
    "subtitle": {**_BASE, "font_size": 10, "italic": True, "font_color": "#7F7F7F"},
    "header": _HEADER,
    "section": {**_BASE, "font_size": 13, "bold": True, "font_color": NAVY, "bottom": 2, "bottom_color": NAVY},
    "label": {**_BASE, "bold": True, "valign": "top"},
    "text": {**_BASE, "valign": "top"},
    "wrap": {**_BASE, "valign": "top", "text_wrap": True},
    "integer": {**_BASE, "num_format": NUMBER_FORMATS["integer"]},
    "number": {**_BASE, "num_format": NUMBER_FORMATS["number"]},
    "money": {**_BASE, "num_format": "#,##0.00"},
    "percent": {**_BASE, "num_format": "0.0%"},
    "date": {**_BASE, "num_format": NUMBER_FORMATS["date"]},
    "datetime": {**_BASE, "num_format": NUMBER_FORMATS["datetime"]},
    "kpi_label": {**_BASE, "font_size": 9, "font_color": "#7F7F7F"},
    "kpi_value": {**_BASE, "font_size": 20, "bold": True, "num_format": "#,##0"},
    "kpi_money": {**_BASE, "font_size": 20, "bold": True, "num_format": "#,##0.00"},
    "kpi_percent": {**_BASE, "font_size": 20, "bold": True, "num_format": "0.0%"},
    "good": {**_BASE, "bg_color": "#C6EFCE", "font_color": "#006100"},
    "bad": {**_BASE, "bg_color": "#FFC7CE", "font_color": "#9C0006"},
    "warn": {**_BASE, "bg_color": "#FFEB9C", "font_color": "#9C5700"},
    "muted": {**_BASE, "font_color": "#7F7F7F"},
    "link": {**_BASE, "font_color": "#0563C1", "underline": 1, "valign": "top"},
    "card": {**_BASE, "bg_color": "#F2F2F2", "border": 1, "border_color": GRID, "valign": "top", "text_wrap": True},
    # Legend swatches on the Start sheet, matching the table sheets.
    "header_required": {**_HEADER, "bottom": 5, "bottom_color": ORANGE},
    "header_owned": {**_HEADER, "bg_color": GREY_HEADER, "italic": True},
    "overdue": {**_BASE, **HIGHLIGHTS["overdue"]},
    "hot": {**_BASE, **HIGHLIGHTS["hot"]},
    "stalled": {**_BASE, **HIGHLIGHTS["stalled"]},
    "opted_out": {**_BASE, **HIGHLIGHTS["opted_out"]},
}


def number_format(type_name: str, currency: str | None = None, lang: str = "en") -> str | None:
    """The number format of a column of this type (None for text-like columns): the registry's."""
    return field_type(type_name).number_format(currency, lang)


class Formats:
    """Makes each distinct look once per workbook (Excel has a limit on distinct formats)."""

    def __init__(self, workbook: Workbook, lang: str = "en"):
        self.workbook = workbook
        self.lang = lang
        self._cache: dict[tuple, Format] = {}

    def make(self, **props: Any) -> Format:
        key = tuple(sorted(props.items()))
        fmt = self._cache.get(key)
        if fmt is None:
            fmt = self._cache[key] = self.workbook.add_format(props)
        return fmt

    def named(self, style: str | None, num_format: str | None = None) -> Format | None:
        """A named SheetSpec style (crm_sheets.model.sheets.STYLES), optionally with another number format."""
        if not style:
            return self.make(num_format=num_format) if num_format else None
        props = dict(_NAMED.get(style, _BASE))
        if num_format:
            props["num_format"] = num_format
        return self.make(**props)

    def header(self, required: bool = False, owned: bool = False) -> Format:
        if owned:
            return self.named("header_owned")
        return self.named("header_required" if required else "header")

    def column(self, type_name: str, currency: str | None = None, owned: bool = False, align: str | None = None) -> Format:
        """The default look of a table column's cells: number format, wrapping, a tint when computed."""
        props: dict[str, Any] = {"font_name": FONT, "font_size": 11, "valign": "top"}
        ftype = field_type(type_name)
        num = ftype.number_format(currency, self.lang)
        if num:
            props["num_format"] = num
        if ftype.wrap:
            props["text_wrap"] = True
        if ftype.align:
            props["align"] = ftype.align
        if align:
            props["align"] = align
        if owned:
            props["bg_color"] = "#F2F2F2"
            props["font_color"] = "#595959"
        return self.make(**props)

    def highlight(self, kind: str, num_format: str | None = None) -> Format:
        """A conditional-format look (a dxf): only the properties that change."""
        props = dict(HIGHLIGHTS.get(kind, {}))
        if num_format:
            props["num_format"] = num_format
        return self.make(**props)
