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


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def parse_a1(ref: str) -> tuple[int, int, int, int]:
    """'A5:C10' -> (first row, first col, end row, end col), 0-based, ends exclusive."""
    m = _A1.match(ref.split("!")[-1].strip())
    if not m:
        raise ValueError(f"not an A1 range: {ref!r}")
    r0, c0 = int(m.group(2)) - 1, _col(m.group(1))
    r1, c1 = (int(m.group(4)), _col(m.group(3)) + 1) if m.group(3) else (r0 + 1, c0 + 1)
    return r0, c0, r1, c1


def _format(cell: Cell) -> dict[str, Any]:
    fmt = {k: (dict(v) if isinstance(v, dict) else v) for k, v in STYLE_FORMATS.get(cell.style or "", {}).items()}
    if cell.style in ("money", "kpi_money") and cell.currency:
        pattern = ("#,##0" if cell.style == "kpi_money" else "#,##0.00") + f' "{cell.currency}"'
        fmt["numberFormat"] = {"type": "NUMBER", "pattern": pattern}
    return fmt


def cell_data(item: Any, sheet_ids: dict[str, int]) -> dict:
    """One cell of a SheetSpec row: a plain value, or a Cell with its style, link or (our own) formula."""
    if not isinstance(item, Cell):
        return batch.cell_data(item, with_format=True)
    out = batch.cell_data(batch.Formula(cell_formula(item.formula)) if item.formula else item.value, with_format=True)
    fmt = _format(item)
    if item.link:
        fmt.setdefault("textFormat", {})["link"] = {"uri": link_uri(item.link, sheet_ids)}
    if fmt:
        merged = dict(out.get("userEnteredFormat", {}))
        merged.update(fmt)
        out["userEnteredFormat"] = merged
    return out


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


def _fields(cells: list[dict]) -> str:
    return "userEnteredValue,userEnteredFormat"


def sheet_requests(spec: SheetSpec, sheet_id: int, sheet_ids: dict[str, int]) -> list[dict]:
    """The requests that fill an empty sheet (made just before) with ``spec``."""
    out: list[dict] = []
    if spec.rows:
        out.append({"updateCells": {
            "rows": [{"values": [cell_data(c, sheet_ids) for c in row]} for row in spec.rows],
            "fields": "userEnteredValue,userEnteredFormat",
            "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0}}})
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
        out.append(chart_request(chart, sheet_id))
    return out


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
    return max(rows + 20, 100), max(cols + 2, 26)


def chart_request(chart: Any, sheet_id: int) -> dict:
    """A report chart as a native Sheets chart (bar, column, line, pie), anchored where the spec says."""
    def source(ref: str) -> dict:
        r0, c0, r1, c1 = parse_a1(ref)
        return {"sourceRange": {"sources": [batch.grid_range(sheet_id, r0, r1, c0, c1)]}}

    r0, c0, _, _ = parse_a1(chart.anchor)
    position = {"overlayPosition": {"anchorCell": {"sheetId": sheet_id, "rowIndex": r0, "columnIndex": c0},
                                    "widthPixels": 64 * chart.width_cols, "heightPixels": 20 * chart.height_rows}}
    if chart.kind == "pie" and chart.series:
        s = chart.series[0]
        spec = {"title": chart.title, "pieChart": {"legendPosition": "RIGHT_LEGEND", "domain": source(s.categories),
                                                    "series": source(s.values)}}
    else:
        kind = {"bar": "BAR", "column": "COLUMN", "line": "LINE"}.get(chart.kind, "COLUMN")
        domains = [{"domain": source(chart.series[0].categories)}] if chart.series else []
        spec = {"title": chart.title, "basicChart": {
            "chartType": kind, "legendPosition": "BOTTOM_LEGEND" if len(chart.series) > 1 else "NO_LEGEND",
            "domains": domains, "series": [{"series": source(s.values), "targetAxis": "LEFT_AXIS" if kind != "BAR" else "BOTTOM_AXIS"}
                                           for s in chart.series], "headerCount": 0}}
    return {"addChart": {"chart": {"spec": spec, "position": position}}}
