"""One table sheet: headers on row 1, data from row 2, an Excel table named after the schema table,
column widths and formats by type, frozen panes, validation, highlights and print setup.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from crm_sheets.builder.fastrows import add_table, attach
from crm_sheets.builder.formats import Formats
from crm_sheets.builder.highlights import highlight_table
from crm_sheets.builder.layout import Plan, TablePlan
from crm_sheets.builder.validation import validate_columns
from crm_sheets.errors import SchemaError
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Field

_MAX_AUTO = 40
_MAX_LONG = 64
_SAMPLE = 200  # rows looked at to size text columns
_MAX_LINES = 8  # a long note shows its first lines; the rest is one click away
_FIT_WIDTH = 200  # total column width (characters) still readable when shrunk to one landscape page
TABLE_STYLES = {
    "data": "Table Style Medium 2",
    "rules": "Table Style Medium 7",
    "settings": "Table Style Medium 7",
    "archive": "Table Style Light 1",
    "log": "Table Style Light 1",
}
TAB_COLOURS = {"data": "#1F4E78", "rules": "#548235", "settings": "#548235", "archive": "#A6A6A6", "log": "#A6A6A6"}


def write_table_sheet(
    workbook: Any,
    formats: Formats,
    plan: Plan,
    table: TablePlan,
    columns: dict[str, list[Any]],
    write_column: Callable[[Any], Callable[[int, int, list[Any]], None]],
    currency: str | None,
    fast: bool = True,
) -> Any:
    """Write a table sheet from its column values (field name -> cell values in row order).

    ``fast`` writes the rows straight into the sheet XML (fastrows.py); False uses XlsxWriter's own
    cell writers, which gives the same workbook, slower."""
    t = table.schema
    ws = workbook.add_worksheet(table.sheet)
    widths = [_width(f, plan, columns.get(f.name), longest=t.kind != "data") for f in t.fields]
    col_formats = []
    for col, f in enumerate(t.fields):
        fmt = formats.column(f.type, f.currency or currency, bool(f.owned_by_job),
                             align="left" if t.kind == "settings" else None)
        ws.set_column(col, col, widths[col], fmt)
        col_formats.append(fmt)
    values = [columns.get(f.name) for f in t.fields]
    cell_formats = [_cell_formats(f, t, columns, formats, currency) if columns.get(f.name) else None for f in t.fields]
    heights = _row_heights(t, columns, widths)
    if not (fast and attach(ws, values, col_formats, cell_formats, heights, table.rows)):
        write = write_column(ws)
        for col, vals in enumerate(values):
            if vals:
                write(1, col, vals, cell_formats[col])
        for row, height in heights.items():
            ws.set_row(row, height)
    last = max(table.rows, 1)
    result = add_table(ws, last, len(t.fields) - 1, {
        "name": t.excel_name,
        "style": TABLE_STYLES[t.kind],
        "columns": [{"header": f.header(plan.lang), "header_format": formats.header(f.required, bool(f.owned_by_job))}
                    for f in t.fields],
    }, fast)
    if result != 0:
        raise SchemaError(
            f"{plan.schema.source or plan.schema.name}: table {t.name!r} cannot be an Excel table named {t.excel_name!r}",
            hint="rename the table in the template (letters, digits and _; not like a cell address)",
        )
    ws.set_row(0, 20)
    ws.freeze_panes(1, 1 if t.kind == "data" and t.id_prefix else 0)
    validate_columns(ws, plan, table)
    highlight_table(ws, formats, plan, table)
    ws.set_tab_color(TAB_COLOURS[t.kind])
    print_setup(ws, plan.lang, repeat_id=t.kind == "data")
    if sum(widths) <= _FIT_WIDTH:
        ws.fit_to_pages(1, 0)  # a narrow table prints one page wide rather than split across pages
    return ws


def _cell_formats(
    f: Field, t: Any, columns: dict[str, list[Any]], formats: Formats, currency: str | None
) -> list[Any] | None:
    """Formats of single cells that differ from their column's: an amount in its row's currency,
    a tick typed in a text column (Settings values)."""
    values = columns[f.name]
    if field_type(f.type).per_currency and f.currency_field and not f.currency and f.currency_field in columns:
        owned = bool(f.owned_by_job)
        default = (currency or "").upper()
        out = []
        for code in columns[f.currency_field]:
            code = code.strip().upper() if isinstance(code, str) else ""
            out.append(formats.column(f.type, code, owned) if code and code != default else None)
        return out if any(x is not None for x in out) else None
    if field_type(f.type).free_text and any(v.__class__ is bool for v in values[:_SAMPLE]):
        tick = formats.column("checkbox", None, bool(f.owned_by_job), align="left")
        return [tick if v.__class__ is bool else None for v in values]
    return None


def _row_heights(t: Any, columns: dict[str, list[Any]], widths: list[float]) -> dict[int, float]:
    """Heights of rows whose long text wraps onto several lines (LibreOffice does not measure them)."""
    heights: dict[int, float] = {}
    for col, f in enumerate(t.fields):
        if not field_type(f.type).wrap or f.name not in columns:
            continue
        per_line = max(1.0, widths[col] * 1.1)
        for r, v in enumerate(columns[f.name], start=1):
            if v.__class__ is str and (len(v) > per_line or "\n" in v):
                lines = sum(max(1, math.ceil(len(p) / per_line)) for p in v.split("\n"))
                heights[r] = max(heights.get(r, 0), min(lines, _MAX_LINES) * 15.0 + 2)
    return heights


def _width(f: Field, plan: Plan, values: list[Any] | None, longest: bool = False) -> float:
    """Column width in characters: the schema's, else by type, widened to fit typical content
    (the longest on small rule sheets, the 90th percentile on data sheets) and the header."""
    if f.width:
        return f.width
    ftype = field_type(f.type)
    width = float(ftype.width)
    if ftype.options and f.list:
        width = max(width, min(_MAX_AUTO, 3 + max((len(x) for x in plan.schema.lists[f.list].labels(plan.lang)), default=0)))
    if ftype.fits_content and values:
        sample = sorted(len(v) for v in values[:_SAMPLE] if isinstance(v, str))
        if sample:
            typical = sample[-1] if longest else sample[max(0, int(len(sample) * 0.9) - 1)]
            cap = _MAX_LONG if ftype.wrap else _MAX_AUTO
            width = max(width, min(cap, typical + 2))
    # Room for the header and its filter button.
    return max(width, min(_MAX_AUTO, len(f.header(plan.lang)) * 1.1 + 4))


def print_setup(ws: Any, lang: str, repeat_id: bool = False, landscape: bool = True, repeat_header: bool = True) -> None:
    """Printed pages: paper of the language's usual country, headers repeated, page numbers."""
    ws.set_paper(9 if lang == "fr" else 1)  # A4 in France, Letter in the US
    if landscape:
        ws.set_landscape()
    if repeat_header:
        ws.repeat_rows(0)
    if repeat_id:
        ws.repeat_columns(0)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.set_footer("&L&8&A&R&8&P / &N")
