"""A SheetSpec (a sheet a job owns: a report, Data Issues) as Sheets requests: cells with their named styles,
merges, widths, heights, frozen panes, and native Sheets charts for the report's ChartSpecs."""
from __future__ import annotations

import re
from typing import Any

from crm_sheets.model.sheets import Cell, SheetSpec
from crm_sheets.store.gsheets import batch

_GREY = batch.rgb("666666")
STYLE_FORMATS: dict[str, dict[str, Any]] = {
    "title": {"textFormat": {"bold": True, "fontSize": 16}},
    "subtitle": {"textFormat": {"italic": True, "foregroundColorStyle": {"rgbColor": _GREY}}},
    "header": {"textFormat": {"bold": True, "foregroundColorStyle": {"rgbColor": batch.rgb("FFFFFF")}},
               "backgroundColorStyle": {"rgbColor": batch.rgb("1F4E79")}},
    "text": {},
    "wrap": {"wrapStrategy": "WRAP", "verticalAlignment": "TOP"},
    "integer": {"numberFormat": {"type": "NUMBER", "pattern": "#,##0"}},
    "number": {"numberFormat": {"type": "NUMBER", "pattern": "#,##0.00"}},
    "money": {"numberFormat": {"type": "NUMBER", "pattern": "#,##0.00"}},
    "percent": {"numberFormat": {"type": "PERCENT", "pattern": "0.0%"}},
    "date": {"numberFormat": {"type": "DATE", "pattern": batch.DATE_PATTERN}},
    "datetime": {"numberFormat": {"type": "DATE_TIME", "pattern": batch.DATETIME_PATTERN}},
    "kpi_label": {"textFormat": {"fontSize": 9, "foregroundColorStyle": {"rgbColor": _GREY}}},
    "kpi_value": {"textFormat": {"bold": True, "fontSize": 18}, "numberFormat": {"type": "NUMBER", "pattern": "#,##0"}},
    "kpi_money": {"textFormat": {"bold": True, "fontSize": 18}, "numberFormat": {"type": "NUMBER", "pattern": "#,##0"}},
    "kpi_percent": {"textFormat": {"bold": True, "fontSize": 18}, "numberFormat": {"type": "PERCENT", "pattern": "0.0%"}},
    "good": {"backgroundColorStyle": {"rgbColor": batch.rgb("C6EFCE")}},
    "bad": {"backgroundColorStyle": {"rgbColor": batch.rgb("FFC7CE")}},
    "warn": {"backgroundColorStyle": {"rgbColor": batch.rgb("FFEB9C")}},
    "muted": {"textFormat": {"foregroundColorStyle": {"rgbColor": batch.rgb("808080")}}},
    "link": {"textFormat": {"underline": True, "foregroundColorStyle": {"rgbColor": batch.rgb("0563C1")}}},
    "card": {"wrapStrategy": "WRAP", "verticalAlignment": "TOP", "backgroundColorStyle": {"rgbColor": batch.rgb("F2F2F2")}},
}
_A1 = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?$")


def parse_a1(ref: str) -> tuple[int, int, int, int]:
    """'A5:C10' -> (first row, first col, end row, end col), 0-based, ends exclusive."""
    m = _A1.match(ref.split("!")[-1].strip())
    if not m:
        raise ValueError(f"not an A1 range: {ref!r}")
    r0, c0 = int(m.group(2)) - 1, batch.column_index(m.group(1))
    r1, c1 = (int(m.group(4)), batch.column_index(m.group(3)) + 1) if m.group(3) else (r0 + 1, c0 + 1)
    return r0, c0, r1, c1


def _format(cell: Cell) -> dict[str, Any]:
    fmt = {k: (dict(v) if isinstance(v, dict) else v) for k, v in STYLE_FORMATS.get(cell.style or "", {}).items()}
    if cell.style in ("money", "kpi_money") and cell.currency:
        pattern = ("#,##0" if cell.style == "kpi_money" else "#,##0.00") + f' "{cell.currency}"'
        fmt["numberFormat"] = {"type": "NUMBER", "pattern": pattern}
    return fmt


def _value(item: Any) -> Any:
    if not isinstance(item, Cell):
        return item
    return batch.Formula(cell_formula(item.formula)) if item.formula else item.value


def _style_key(item: Any) -> str | None:
    """What a cell looks like, as a key: its style (money with its currency), or a date's format."""
    if isinstance(item, Cell):
        if item.style in ("money", "kpi_money") and item.currency:
            return f"{item.style}:{item.currency}"
        if item.style:
            return item.style
        item = item.value
    fmt = batch.number_format(item) if item is not None and not isinstance(item, str) else None
    return fmt["type"].lower() if fmt else None


def _style_format(key: str) -> dict[str, Any]:
    style, _, currency = key.partition(":")
    if style in ("date_time",):
        style = "datetime"
    return _format(Cell(style=style, currency=currency or None))


def cell_formula(formula: str) -> str:
    return formula if formula.startswith("=") else "=" + formula


def link_uri(target: str, sheet_ids: dict[str, int]) -> str:
    """An internal 'Sheet!A1' target as the spreadsheet's own #gid link; an external URL as it is."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
        return target
    sheet, _, ref = target.rpartition("!")
    sheet = sheet.strip("'").replace("''", "'")
    gid = sheet_ids.get(sheet)
    if gid is None:
        return "#"
    return f"#gid={gid}" + (f"&range={ref}" if ref else "")


def _column_runs(grid: list[list[Any]], key) -> list[tuple[int, int, int, Any]]:
    """(column, first row, end row, key) for each run of equal non-None keys down each column."""
    out = []
    width = max((len(r) for r in grid), default=0)
    for c in range(width):
        start, current = 0, None
        for r in range(len(grid) + 1):
            k = key(grid[r][c]) if r < len(grid) and c < len(grid[r]) else None
            if k != current:
                if current is not None:
                    out.append((c, start, r, current))
                start, current = r, k
    return out


def content_requests(rows: list[list[Any]], sheet_id: int, sheet_ids: dict[str, int]) -> list[dict]:
    """A SheetSpec's cells: their values in one request, their looks as one repeatCell per run of a style down a
    column (a report's column is mostly one run), and their links per run: far smaller than a format per cell."""
    if not rows:
        return []
    # Values in slices of batch.ROWS_PER_REQUEST rows: one request for Data Issues at 100k leads is past the
    # API's 10 MiB body, and a batch can only be split between requests.
    step = batch.ROWS_PER_REQUEST
    out = [{"updateCells": {"rows": [{"values": [batch.cell_data(_value(c)) for c in row]} for row in rows[i:i + step]],
                            "fields": "userEnteredValue", "start": {"sheetId": sheet_id, "rowIndex": i, "columnIndex": 0}}}
           for i in range(0, len(rows), step)]
    for c, r0, r1, key in _column_runs(rows, _style_key):
        fmt = _style_format(key)
        if fmt:
            out.append({"repeatCell": {"range": batch.grid_range(sheet_id, r0, r1, c, c + 1),
                                       "cell": {"userEnteredFormat": fmt},
                                       "fields": ",".join(f"userEnteredFormat.{k}" for k in fmt)}})
    for c, r0, r1, _ in _column_runs(rows, lambda x: True if isinstance(x, Cell) and x.link else None):
        out.append({"updateCells": {
            "rows": [{"values": [{"userEnteredFormat": {"textFormat": {"link": {"uri": link_uri(rows[r][c].link, sheet_ids)}}}}]}
                     for r in range(r0, r1)],
            "fields": "userEnteredFormat.textFormat.link", "start": {"sheetId": sheet_id, "rowIndex": r0, "columnIndex": c}}})
    return out


def sheet_requests(spec: SheetSpec, sheet_id: int, sheet_ids: dict[str, int]) -> list[dict]:
    """The requests that fill an empty sheet (made just before) with ``spec``."""
    out: list[dict] = content_requests(spec.rows, sheet_id, sheet_ids)
    for col, width in sorted(spec.widths.items()):
        out.append({"updateDimensionProperties": {
            "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": col, "endIndex": col + 1},
            "properties": {"pixelSize": int(width * 7 + 5)}, "fields": "pixelSize"}})
    for row, height in sorted(spec.heights.items()):
        out.append({"updateDimensionProperties": {
            "range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": row, "endIndex": row + 1},
            "properties": {"pixelSize": int(height * 4 / 3)}, "fields": "pixelSize"}})
    for ref in spec.merges:
        r0, c0, r1, c1 = parse_a1(ref)
        out.append({"mergeCells": {"range": batch.grid_range(sheet_id, r0, r1, c0, c1), "mergeType": "MERGE_ALL"}})
    if spec.freeze:
        out.append(batch.freeze(sheet_id, spec.freeze[0], spec.freeze[1]))
    if spec.autofilter:
        r0, c0, r1, c1 = parse_a1(spec.autofilter)
        out.append({"setBasicFilter": {"filter": {"range": batch.grid_range(sheet_id, r0, r1, c0, c1)}}})
    for chart in spec.charts:
        out.append(chart_request(chart, sheet_id, spec.rows))
    return out


SPARE_ROWS = 20  # empty rows below a regenerated sheet's content


def grid_size(spec: SheetSpec) -> tuple[int, int]:
    """Rows and columns the sheet's grid needs (its cells, merges, charts' anchors)."""
    rows = len(spec.rows)
    cols = max((len(r) for r in spec.rows), default=0)
    for ref in [*spec.merges, *([spec.autofilter] if spec.autofilter else [])]:
        r0, c0, r1, c1 = parse_a1(ref)
        rows, cols = max(rows, r1), max(cols, c1)
    for chart in spec.charts:
        r0, c0, _, _ = parse_a1(chart.anchor)
        rows, cols = max(rows, r0 + chart.height_rows), max(cols, c0 + chart.width_cols)
        for s in chart.series:
            for ref in (s.categories, s.values):
                a, b, c, d = parse_a1(ref)
                rows, cols = max(rows, c), max(cols, d)
    # What the sheet holds and SPARE_ROWS more, its own columns: every cell counts against the spreadsheet's
    # 10 million (a regenerated sheet of 20k issues padded to 26 columns would take 520k).
    return rows + SPARE_ROWS, max(cols, 1)


def chart_request(chart: Any, sheet_id: int, rows: list[list[Any]] | None = None) -> dict:
    """A report chart as a native Sheets chart (bar, column, line, pie), anchored where the spec says; with the
    sheet's ``rows``, series named by the cell above their values show those names in the legend."""
    from crm_sheets.store.gsheets.charts import from_spec

    return from_spec(chart, sheet_id, rows)
