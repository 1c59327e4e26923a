"""SheetSpec: a whole sheet a job owns (a report, Data Issues, Duplicates Review), described as data.

The store turns a SheetSpec into worksheet XML (and drawings for charts); jobs never see a file
format. Styles are named, not formatted by hand, so every backend renders them its own way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

# Named cell styles every store knows how to render.
STYLES = (
    "title",  # big bold sheet title
    "subtitle",  # grey italic note under the title
    "header",  # bold on a coloured fill, bordered: column headers of a block
    "text",
    "wrap",  # text wrapping in its cell
    "integer",  # #,##0
    "number",  # #,##0.00
    "money",  # #,##0.00 with the currency given in Cell.currency (or none)
    "percent",  # 0.0%
    "date",  # yyyy-mm-dd
    "datetime",  # yyyy-mm-dd hh:mm
    "kpi_label",  # small grey caption of a KPI tile
    "kpi_value",  # large bold number of a KPI tile
    "kpi_money",  # large bold money of a KPI tile
    "kpi_percent",  # large bold percent of a KPI tile
    "good",  # green fill
    "bad",  # red fill
    "warn",  # amber fill
    "muted",  # grey text
    "link",  # blue underlined (hyperlinks)
    "card",  # a board card: wrapped text in a light box
)


# slots: no dict per cell (Data Issues at 100k leads lays out over a million of them)
@dataclass(frozen=True, slots=True)
class Cell:
    value: Any = None  # str is always written as text, never as a formula
    style: str | None = None
    link: str | None = None  # internal target "Sheet!A1" or an external URL
    currency: str | None = None  # with style "money"/"kpi_money": the ISO code shown in the format
    formula: str | None = None  # an explicit formula (jobs only; never from outside data)


@dataclass(frozen=True)
class ChartSeries:
    name: str
    categories: str  # A1 range on this sheet, e.g. "A5:A10"
    values: str  # A1 range on this sheet, e.g. "B5:B10"


@dataclass(frozen=True)
class ChartSpec:
    kind: str  # "bar", "column", "line", "pie"
    title: str
    series: tuple[ChartSeries, ...]
    anchor: str  # top-left cell, e.g. "H2"
    width_cols: int = 8
    height_rows: int = 15


@dataclass
class SheetSpec:
    """A sheet replaced whole on each run."""

    name: str  # the sheet name as shown (localised)
    key: str  # stable internal key, e.g. "data_issues", "dashboard": finds the sheet after renames
    rows: list[list[Cell | Any]] = field(default_factory=list)  # from A1; plain values get no style
    widths: dict[int, float] = field(default_factory=dict)  # 0-based column -> width in characters
    heights: dict[int, float] = field(default_factory=dict)  # 0-based row -> height in points (board cards, calendar days)
    freeze: tuple[int, int] | None = None  # (rows, cols) frozen at the top/left
    autofilter: str | None = None  # A1 range with a filter, e.g. "A3:H120"
    merges: list[str] = field(default_factory=list)  # A1 ranges
    charts: list[ChartSpec] = field(default_factory=list)
    tab_color: str | None = None  # "RRGGBB"
    landscape: bool = True  # print setup
    hidden: bool = False


def owned_sheet_name(key: str, name: str, meta: Mapping[str, Any], sheets: Iterable[str]) -> str:
    """Where a job's own sheet goes in a workbook with these sheets: the sheet _crm_meta marks as ours
    (``sheet.<key>``); else ``name`` when no sheet is called so; else "CRM <name>", "CRM <name> 2"...
    A sheet of that name without our mark is the team's (their own Dashboard): it is never replaced."""
    taken = {str(s).casefold() for s in sheets}
    mapped = meta.get(f"sheet.{key}") if key else None
    if mapped and str(mapped).casefold() in taken:
        return str(mapped)
    if not key or name.casefold() not in taken:
        return name
    base = f"CRM {name}"[:31]  # Excel's limit on sheet names
    candidate, n = base, 2
    while candidate.casefold() in taken:
        candidate = f"{base[:31 - len(str(n)) - 1]} {n}"
        n += 1
    return candidate
