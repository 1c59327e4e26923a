"""Charts between a workbook and a Google spreadsheet: a report's ChartSpec or a file's chart (openpyxl) as a
native Sheets chart (addChart with a basicChart or pieChart spec), and a Sheets chart back as an XlsxWriter
chart for ``pull``. Series names travel as Sheets does it: the range starts one row higher, on the name
(headerCount 1), when the name is the cell above the values.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from crm_sheets.store.gsheets import batch

COL_PX, ROW_PX = 64, 20  # a column's and a row's default size, for a chart's size in cells
BASIC_TYPES = {"bar": "BAR", "column": "COLUMN", "line": "LINE", "area": "AREA", "scatter": "SCATTER"}
_REF = re.compile(r"^(?:(?:'((?:[^']|'')+)'|([^'!]+))!)?\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?$")


def parse_ref(ref: str) -> tuple[str | None, int, int, int, int] | None:
    """"'Sheet'!$A$2:$A$9" -> (sheet or None, first row, first col, end row, end col), 0-based, ends exclusive."""
    m = _REF.match(str(ref).strip().lstrip("="))
    if not m:
        return None
    sheet = (m.group(1) or "").replace("''", "'") or m.group(2)
    r0, c0 = int(m.group(4)) - 1, batch.column_index(m.group(3))
    r1, c1 = (int(m.group(6)), batch.column_index(m.group(5)) + 1) if m.group(5) else (r0 + 1, c0 + 1)
    return sheet, r0, c0, r1, c1


def _data(sheet_id: int, box: tuple[int, int, int, int]) -> dict:
    r0, c0, r1, c1 = box
    return {"sourceRange": {"sources": [batch.grid_range(sheet_id, r0, r1, c0, c1)]}}


def add_chart(kind: str, title: str, sheet_id: int, categories: tuple[int, int, int, int] | None,
              series: Sequence[tuple[int, int, int, int]], anchor: tuple[int, int], width_px: int, height_px: int,
              *, headers: bool = False, data_sheet_id: int | None = None) -> dict:
    """An addChart request: ``kind`` bar/column/line/area/scatter (a basicChart) or pie; boxes are 0-based
    (first row, first col, end row, end col) on ``data_sheet_id`` (default: the chart's sheet); with
    ``headers`` each box starts on its series' name."""
    data_id = sheet_id if data_sheet_id is None else data_sheet_id
    position = {"overlayPosition": {"anchorCell": {"sheetId": sheet_id, "rowIndex": anchor[0], "columnIndex": anchor[1]},
                                    "widthPixels": int(width_px), "heightPixels": int(height_px)}}
    if kind == "pie" and series:
        spec: dict[str, Any] = {"title": title, "pieChart": {"legendPosition": "RIGHT_LEGEND", "series": _data(data_id, series[0])}}
        if categories is not None:
            spec["pieChart"]["domain"] = _data(data_id, categories)
    else:
        ctype = BASIC_TYPES.get(kind, "COLUMN")
        axis = "BOTTOM_AXIS" if ctype == "BAR" else "LEFT_AXIS"
        basic: dict[str, Any] = {
            "chartType": ctype, "legendPosition": "BOTTOM_LEGEND" if len(series) > 1 else "NO_LEGEND",
            "domains": [{"domain": _data(data_id, categories)}] if categories is not None else [],
            "series": [{"series": _data(data_id, s), "targetAxis": axis} for s in series],
            "headerCount": 1 if headers else 0}
        spec = {"title": title, "basicChart": basic}
    return {"addChart": {"chart": {"spec": spec, "position": position}}}


def _cell_text(rows: Sequence[Sequence[Any]] | None, r: int, c: int) -> str | None:
    if rows is None or r < 0 or r >= len(rows) or c >= len(rows[r]):
        return None
    v = rows[r][c]
    v = getattr(v, "value", v)
    return None if v is None else str(v)


def from_spec(chart: Any, sheet_id: int, rows: Sequence[Sequence[Any]] | None = None) -> dict:
    """A report's ChartSpec (ranges on its own sheet) as a native chart; ``rows`` (the SheetSpec's cells) tell
    whether each series' name sits right above its values, so the legend can show it."""
    from crm_sheets.store.gsheets.render import parse_a1

    series = [parse_a1(s.values) for s in chart.series]
    cats = parse_a1(chart.series[0].categories) if chart.series else None
    headers = bool(series) and chart.kind != "pie" and all(
        _cell_text(rows, box[0] - 1, box[1]) == s.name for box, s in zip(series, chart.series))
    if headers:
        series = [(r0 - 1, c0, r1, c1) for r0, c0, r1, c1 in series]
        cats = (cats[0] - 1, cats[1], cats[2], cats[3]) if cats else None
    r0, c0, _, _ = parse_a1(chart.anchor)
    return add_chart(chart.kind, chart.title, sheet_id, cats, series, (r0, c0), COL_PX * chart.width_cols,
                     ROW_PX * chart.height_rows, headers=headers)


# ---------------------------------------------------------------------------------------------
# A file's chart (push)


def _openpyxl_title(chart: Any) -> str:
    title = getattr(chart, "title", None)
    if title is None:
        return ""
    if isinstance(title, str):
        return title
    rich = getattr(getattr(title, "tx", None), "rich", None)
    if rich is None:
        return ""
    return "".join(r.t or "" for p in rich.p or [] for r in (p.r or []))


def _openpyxl_kind(chart: Any) -> str | None:
    name = type(chart).__name__
    if name in ("BarChart", "BarChart3D"):
        return "bar" if getattr(chart, "barDir", "col") == "bar" else "column"
    return {"LineChart": "line", "LineChart3D": "line", "PieChart": "pie", "PieChart3D": "pie", "DoughnutChart": "pie",
            "AreaChart": "area", "AreaChart3D": "area", "ScatterChart": "scatter"}.get(name)


def from_openpyxl(chart: Any, sheet: str, ids: Mapping[str, int]) -> dict | None:
    """A chart read from a workbook file as a native chart on the sheet it sits on; None when Sheets has no basic
    chart of its kind or its series are not plain ranges of one sheet."""
    kind = _openpyxl_kind(chart)
    if kind is None or not chart.series:
        return None
    data_sheet = None
    cats = None
    boxes = []
    named = True
    for s in chart.series:
        cat_ref = getattr(s.cat, "numRef", None) or getattr(s.cat, "strRef", None) if s.cat is not None else None
        cat_ref = cat_ref or (getattr(s.xVal, "numRef", None) or getattr(s.xVal, "strRef", None) if getattr(s, "xVal", None) is not None else None)
        val_ref = getattr(s.val, "numRef", None) if getattr(s, "val", None) is not None else None
        val_ref = val_ref or (getattr(s.yVal, "numRef", None) if getattr(s, "yVal", None) is not None else None)
        val = parse_ref(val_ref.f) if val_ref is not None and val_ref.f else None
        if val is None:
            return None
        if data_sheet is None:
            data_sheet = val[0] or sheet
        if (val[0] or sheet) != data_sheet:
            return None
        boxes.append(val[1:])
        if cats is None and cat_ref is not None and cat_ref.f:
            cat = parse_ref(cat_ref.f)
            if cat is not None and (cat[0] or sheet) == data_sheet:
                cats = cat[1:]
        name_ref = getattr(getattr(s, "tx", None), "strRef", None)
        name = parse_ref(name_ref.f) if name_ref is not None and name_ref.f else None
        named = named and name is not None and (name[0] or sheet) == data_sheet and name[1] == val[1] - 1 and name[2] == val[2]
    if data_sheet not in ids or sheet not in ids:
        return None
    headers = named and kind != "pie"
    if headers:
        boxes = [(r0 - 1, c0, r1, c1) for r0, c0, r1, c1 in boxes]
        cats = (cats[0] - 1, cats[1], cats[2], cats[3]) if cats else None
    anchor = getattr(chart, "anchor", None)
    start = getattr(anchor, "_from", None)
    end = getattr(anchor, "to", None)
    row, col = (start.row, start.col) if start is not None else (0, 0)
    if start is not None and end is not None:
        width, height = max(end.col - start.col, 1) * COL_PX, max(end.row - start.row, 1) * ROW_PX
    else:
        width, height = int((chart.width or 15) * 37.8), int((chart.height or 7.5) * 37.8)
    return add_chart(kind, _openpyxl_title(chart), ids[sheet], cats, boxes, (row, col), width, height,
                     headers=headers, data_sheet_id=ids[data_sheet])


# ---------------------------------------------------------------------------------------------
# A Sheets chart into a workbook file (pull)


def _a1(title: str, rng: Mapping[str, Any], skip_rows: int = 0) -> str:
    from crm_sheets.model.tables import column_letter

    r0 = int(rng.get("startRowIndex", 0)) + skip_rows
    c0 = int(rng.get("startColumnIndex", 0))
    r1, c1 = int(rng.get("endRowIndex", r0 + 1)), int(rng.get("endColumnIndex", c0 + 1))
    quoted = "'" + title.replace("'", "''") + "'"
    first = f"${column_letter(c0)}${r0 + 1}"
    last = f"${column_letter(c1 - 1)}${r1}"
    return f"={quoted}!{first}" + (f":{last}" if last != first else "")


def _source(data: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    sources = ((data or {}).get("sourceRange") or {}).get("sources") or []
    return sources[0] if len(sources) == 1 else None


def to_xlsxwriter(workbook: Any, chart: Mapping[str, Any], titles: Callable[[int], str | None]) -> tuple[Any, int, int, dict] | None:
    """A Sheets chart (as spreadsheets.get gives it) as an XlsxWriter chart, with the cell it is anchored at
    and its insert options; None when it is not a basic or pie chart over plain ranges."""
    spec = chart.get("spec") or {}
    anchor = ((chart.get("position") or {}).get("overlayPosition") or {})
    cell = anchor.get("anchorCell") or {}
    if "basicChart" in spec:
        basic = spec["basicChart"]
        kind = {"BAR": "bar", "COLUMN": "column", "LINE": "line", "AREA": "area", "SCATTER": "scatter"}.get(basic.get("chartType"))
        domain = _source(((basic.get("domains") or [{}])[0]).get("domain"))
        series = [(_source(s.get("series")), s) for s in basic.get("series") or []]
        header = int(basic.get("headerCount") or 0)
        legend = basic.get("legendPosition") != "NO_LEGEND"
    elif "pieChart" in spec:
        pie = spec["pieChart"]
        kind, domain, series, header, legend = "pie", _source(pie.get("domain")), [(_source(pie.get("series")), {})], 0, True
    else:
        return None
    if kind is None or not series or any(s is None for s, _ in series):
        return None
    made = workbook.add_chart({"type": kind})
    for src, _ in series:
        title = titles(int(src.get("sheetId", 0)))
        if title is None:
            return None
        options: dict[str, Any] = {"values": _a1(title, src, header)}
        if header:
            options["name"] = _a1(title, {**src, "endRowIndex": int(src.get("startRowIndex", 0)) + 1,
                                          "endColumnIndex": int(src.get("startColumnIndex", 0)) + 1})
        if domain is not None and titles(int(domain.get("sheetId", 0))) is not None:
            options["categories"] = _a1(titles(int(domain.get("sheetId", 0))), domain, header)  # type: ignore[arg-type]
        made.add_series(options)
    if spec.get("title"):
        made.set_title({"name": spec["title"]})
    if not legend:
        made.set_legend({"none": True})
    width, height = anchor.get("widthPixels") or 480, anchor.get("heightPixels") or 288
    return made, int(cell.get("rowIndex", 0)), int(cell.get("columnIndex", 0)), {"x_scale": width / 480, "y_scale": height / 288}
