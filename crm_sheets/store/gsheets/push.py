"""Copying a workbook file into a Google spreadsheet (``crm-sheets push`` and ``new gsheets://``): every sheet
with its values (formulas only where the file had a formula), number formats, dropdowns, frozen panes, widths,
merges, named ranges, and our marks (developer metadata naming each table and its header row; warning-only
protection on what jobs own). One spreadsheets.get, one values.batchGet (is it empty?), then batchUpdates of at
most 8 MB, each made while the previous one is sent (the cells of a big CRM as request dicts would take GBs).
Each sheet's grid is its columns and its rows plus SPARE_ROWS: every cell counts against Google's 10 million.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from crm_sheets.errors import NotAWorkbook, UsageError
from crm_sheets.model.tables import META_SHEET, column_index as _col_index, column_letter
from crm_sheets.store.gsheets import batch, charts, push_source, rules
from crm_sheets.store.gsheets.rules import sheets_format  # noqa: F401  (kept importable from here)
from crm_sheets.store.gsheets.client import Connection

EXCEL_MAX_ROW = 1_048_576
SPARE_ROWS = 200  # empty rows below the data, so people can type new records
_SIMPLE_REF = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?$")


@dataclass
class PushResult:
    spreadsheet_id: str
    sheets: list[str] = field(default_factory=list)
    cells: int = 0
    rules: int = 0  # validation and conditional format rules made
    charts: int = 0  # native charts made from the file's charts
    requests: int = 0
    calls: int = 0
    skipped: list[str] = field(default_factory=list)  # what could not be copied (kinds of validation, charts)
    kept: list[str] = field(default_factory=list)  # a person's own validation kept on a schema column

    @property
    def message(self) -> str:
        text = (f"copied {len(self.sheets)} sheets ({self.cells:,} cells) to gsheets://{self.spreadsheet_id} "
                f"in {self.calls} API calls")
        if self.rules or self.charts:
            text += f" ({self.rules:,} validation and highlight rules, {self.charts} charts)"
        if self.skipped:
            text += "; not copied: " + "; ".join(sorted(set(self.skipped)))
        if self.kept:
            text += ("; kept your own validation instead of the schema's on " + "; ".join(self.kept)
                     + " (check still checks those values by the schema)")
        return text


def _value(cell: Any) -> Any:
    """A cell's value as we send it: a workbook formula stays a formula, everything else is its typed value."""
    return push_source.cell_value(cell.value, cell.data_type)


def _table_marks(wb: Any) -> dict[str, dict[str, Any]]:
    """For each sheet: the schema table its Excel table (ListObject) holds, and its header row (0-based)."""
    from crm_sheets.model.schema import available_templates, load_schema

    template = None
    if META_SHEET in wb.sheetnames:
        for row in wb[META_SHEET].iter_rows(values_only=True):
            if row and row[0] == "template" and len(row) > 1:
                template = row[1]
    schema = load_schema(template) if template in available_templates() else None
    by_excel = {t.excel_name: t for t in schema.tables.values()} if schema else {}
    marks: dict[str, dict[str, Any]] = {}
    for ws in wb.worksheets:
        for name, table in ws.tables.items():
            ref = table.ref if hasattr(table, "ref") else table
            m = re.match(r"^\$?([A-Z]+)\$?(\d+)", str(ref))
            header = int(m.group(2)) - 1 if m else 0
            ts = by_excel.get(name)
            marks.setdefault(ws.title, {"excel": name, "table": ts.name if ts else None, "header": header,
                                        "schema": ts, "first_col": _col_index(m.group(1)) if m else 0})
    return {"schema": schema, **marks} if schema else marks


def plan_push(path: str | Path, first_sheet_id: int = 1, stream_over: int | None = push_source.STREAM_OVER
              ) -> tuple[list[dict], list[dict], PushResult]:
    """The batchUpdate requests that make a spreadsheet a copy of the workbook at ``path`` (new sheet IDs
    from ``first_sheet_id``): the new sheets, then their content; and what they copy."""
    structure, content, result = stream_push(path, first_sheet_id, stream_over)
    content_list = list(content)
    return structure, content_list, result


def stream_push(path: str | Path, first_sheet_id: int = 1, stream_over: int | None = push_source.STREAM_OVER
                ) -> tuple[list[dict], Iterator[dict], PushResult]:
    """As plan_push, with the content made sheet by sheet while it is sent: a 100k-lead CRM's cells as request
    dicts would take gigabytes at once (~360 bytes a cell). ``result`` counts cells and requests as the content
    is made, so it is complete once the iterator is. Sheets over ``stream_over`` bytes of XML are not loaded
    whole: their cells are streamed from the file (push_source; None loads every sheet whole)."""
    path = Path(path)
    try:
        source = push_source.open_source(path, stream_over)
        marks = _table_marks(source.wb)
        if not _streamable(source, marks):  # a table's header or the settings beyond the rows kept: load whole
            source.close()
            source = push_source.open_source(path, None)
            marks = _table_marks(source.wb)
    except Exception as e:  # openpyxl raises many kinds for a file that is not a workbook
        raise NotAWorkbook(f"{path}: cannot be read as a workbook ({type(e).__name__}: {e})") from None
    wb = source.wb
    result = PushResult("")
    schema = marks.pop("schema", None)
    structure: list[dict] = []
    ids: dict[str, int] = {}
    reach = _reach(wb)
    names = _names_a1(wb)
    currency = _currency(wb, marks)
    sizes: list[tuple[int, int, int]] = []
    for index, ws in enumerate(wb.worksheets):
        ids[ws.title] = first_sheet_id + index
    for index, ws in enumerate(wb.worksheets):
        sheet_id = first_sheet_id + index
        max_row = source.dimensions(ws)[0]
        rows = max_row if max_row and max_row > 1 or ws.cell(1, 1).value is not None else 0
        cols = source.dimensions(ws)[1] or 1
        frozen_rows = frozen_cols = 0
        if ws.freeze_panes:
            m = re.match(r"([A-Z]+)(\d+)", str(ws.freeze_panes))
            if m:
                frozen_cols, frozen_rows = _col_index(m.group(1)), int(m.group(2)) - 1
        tab = getattr(ws.sheet_properties.tabColor, "rgb", None) if ws.sheet_properties.tabColor else None
        need_rows, need_cols = reach.get(ws.title, (0, 0))
        # The grid is what the sheet needs: its columns (those a named range or table reaches included) and its
        # rows plus SPARE_ROWS, whatever the file's validations reach (they are cut at the grid's end): every
        # cell counts against the spreadsheet's 10 million, and people add rows and columns as they need.
        grid_rows = max(rows + SPARE_ROWS, need_rows)
        grid_cols = max(cols, need_cols, 1)
        sizes.append((rows, grid_cols, grid_rows))
        structure.append(batch.add_sheet(
            ws.title, sheet_id=sheet_id, index=index, rows=grid_rows, cols=grid_cols,
            hidden=ws.sheet_state != "visible", tab_color=tab if isinstance(tab, str) else None))
        if frozen_rows or frozen_cols:
            structure.append(batch.freeze(sheet_id, frozen_rows, frozen_cols))
        result.sheets.append(ws.title)
    result.requests = len(structure)

    def content() -> Iterator[dict]:
        try:
            for index, ws in enumerate(wb.worksheets):
                sheet_id = first_sheet_id + index
                rows, cols, grid_rows = sizes[index]
                for request in _content(ws, source, sheet_id, rows, cols, grid_rows, marks.get(ws.title), schema,
                                        names, currency, ids, result):
                    result.requests += 1
                    yield request
                if ws.title != META_SHEET:  # read again at the end (_owned_sheets)
                    ws._cells.clear()  # its cells are sent
            for request in [*_named_ranges(wb, ids, result), *_owned_sheets(wb, ids)]:
                result.requests += 1
                yield request
        finally:
            source.close()

    return structure, content(), result


def _streamable(source: push_source.Source, marks: dict[str, Any]) -> bool:
    """Whether what a push reads from a streamed sheet's cells (its tables' header rows; _crm_meta and the
    settings whole) is in the rows the loaded copy kept."""
    for title, streamed in source.streamed.items():
        mark = marks.get(title)
        if title == META_SHEET or (mark and mark.get("schema") is not None and mark["schema"].kind == "settings"):
            return False
        for ws_mark in [mark] if mark else []:
            if ws_mark["header"] + 1 >= streamed.first_dropped:
                return False
        for table in source.wb[title].tables.values():
            m = re.match(r"^\$?[A-Z]+\$?(\d+)", str(getattr(table, "ref", table)))
            if m and int(m.group(1)) >= streamed.first_dropped:
                return False
    return True


def _content(ws: Any, source: push_source.Source, sheet_id: int, rows: int, cols: int, grid_rows: int, mark: dict | None, schema: Any,
             names: dict[str, str], currency: str | None, ids: dict[str, int], result: PushResult) -> Iterator[dict]:
    """One sheet's content: rules, cells, widths, validations, highlights, merges, charts, our marks."""
    # The schema's rules first (number formats, validation, highlights over the whole column, spare rows
    # included); the cells' own formats from the file come after, so a cell a person formatted keeps its look.
    table_rules = _schema_rules(ws, mark, schema, names, currency, grid_rows) if mark and mark.get("schema") else None
    ours: set[str] = set()
    if table_rules is not None:
        made = rules.table_requests(table_rules, sheet_id, mark["header"], None, names, _col_index)
        yield from made
        result.rules += rules.kept_requests(made)
        ours = {f for _, f, _ in table_rules.highlights}
    yield from _sheet_content(ws, source, sheet_id, rows, cols, result)
    yield from _widths(ws, sheet_id)
    yield from _validations(ws, source.wb, sheet_id, grid_rows, result, names, table_rules, mark)
    yield from _conditional_formats(ws, sheet_id, grid_rows, result, names, ours)
    for merged in ws.merged_cells.ranges:
        yield {"mergeCells": {"range": batch.grid_range(
            sheet_id, merged.min_row - 1, merged.max_row, merged.min_col - 1, merged.max_col), "mergeType": "MERGE_ALL"}}
    for chart in ws._charts:
        made_chart = charts.from_openpyxl(chart, ws.title, ids)
        if made_chart is None:
            result.skipped.append("charts of a kind Sheets has no basic chart for")
        else:
            yield made_chart
            result.charts += 1
    if mark:
        yield batch.sheet_metadata(sheet_id, "excel_table", mark["excel"])
        yield batch.row_metadata(sheet_id, mark["header"], "header", mark["excel"])
        if mark["table"]:
            yield batch.sheet_metadata(sheet_id, "table", mark["table"])
            yield from _owned_columns(ws, sheet_id, mark)


def _reach(wb: Any) -> dict[str, tuple[int, int]]:
    """How many rows and columns each sheet's grid needs for the ranges that name it (defined names, Excel
    tables, validations), so none reaches past the grid (the API refuses that)."""
    out: dict[str, tuple[int, int]] = {}

    def grow(sheet: str, row: int, col: int) -> None:
        if row >= EXCEL_MAX_ROW:  # a whole column: the grid's end does
            row = 0
        r, c = out.get(sheet, (0, 0))
        out[sheet] = (max(r, row), max(c, col))

    names = wb.defined_names.values() if hasattr(wb.defined_names, "values") else []
    for dn in names:
        m = _SIMPLE_REF.match(dn.attr_text or "")
        if m:
            sheet = (m.group(1) or "").replace("''", "'") or m.group(2)
            grow(sheet, int(m.group(6) or m.group(4)), _col_index(m.group(5) or m.group(3)) + 1)
    for ws in wb.worksheets:
        for table in ws.tables.values():
            m = re.match(r"^\$?[A-Z]+\$?\d+:\$?([A-Z]+)\$?(\d+)$", str(getattr(table, "ref", table)))
            if m:
                grow(ws.title, int(m.group(2)), _col_index(m.group(1)) + 1)
        for chart in ws._charts:  # the cells a chart is anchored at and covers (the API wants its anchor in the grid)
            anchor = getattr(chart, "anchor", None)
            for corner in (getattr(anchor, "_from", None), getattr(anchor, "to", None)):
                if corner is not None:
                    grow(ws.title, corner.row + 1, corner.col + 1)
        for dv in ws.data_validations.dataValidation:
            for rng in dv.sqref.ranges:
                grow(ws.title, 0, rng.max_col)  # its rows are cut at the grid's end (the file's reach far below)
    return out


def _sheet_content(ws: Any, source: push_source.Source, sheet_id: int, rows: int, cols: int, result: PushResult
                   ) -> Iterator[dict]:
    """The sheet's cells in updateCells of ROWS_PER_REQUEST rows (each made when its rows are read), then
    the number formats as runs down each column and the look of the header cells."""
    if not rows:
        return
    looks: dict[str, dict | None] = {}  # one numberFormat dict per Excel format, not one per cell
    formats: list[tuple] = []
    header_fill: dict[tuple[int, int], tuple[str | None, str | None]] = {}  # bold cells near the top: headers
    counted = [0]
    if ws.title in source.streamed:
        made = push_source.streamed_rows(source, ws, rows, looks, header_fill, counted)
    else:
        made = push_source.loaded_rows(ws, rows, cols, looks, header_fill, counted)
    values: list[list[Any]] = []
    start = 0
    for vals, fmts in made:  # a batch may only be split between requests
        values.append(vals)
        formats.append(fmts)
        if len(values) == batch.ROWS_PER_REQUEST:
            yield _update_cells(sheet_id, start, values)
            start, values = start + len(values), []
    if values:
        yield _update_cells(sheet_id, start, values)
    result.cells += counted[0]
    yield from _format_runs(sheet_id, formats, cols)
    for (r, c), (fill, color) in header_fill.items():
        fmt: dict[str, Any] = {"textFormat": {"bold": True}}
        fields = ["userEnteredFormat.textFormat.bold"]
        if fill and len(fill) >= 6 and fill[-6:] != "000000":
            fmt["backgroundColorStyle"] = {"rgbColor": batch.rgb(fill)}
            fields.append("userEnteredFormat.backgroundColorStyle")
        if color and len(color) >= 6:
            fmt["textFormat"]["foregroundColorStyle"] = {"rgbColor": batch.rgb(color)}
            fields.append("userEnteredFormat.textFormat.foregroundColorStyle")
        yield {"repeatCell": {"range": batch.grid_range(sheet_id, r, r + 1, c, c + 1),
                              "cell": {"userEnteredFormat": fmt}, "fields": ",".join(fields)}}


def _update_cells(sheet_id: int, start: int, values: list[list[Any]]) -> dict:
    return {"updateCells": {"rows": [{"values": [batch.cell_data(v) for v in row]} for row in values],
                            "fields": "userEnteredValue", "start": {"sheetId": sheet_id, "rowIndex": start,
                                                                     "columnIndex": 0}}}


def _format_runs(sheet_id: int, formats: list[list[dict | None]], cols: int) -> list[dict]:
    """repeatCell per run of equal number formats down each column (a column is mostly one run)."""
    out: list[dict] = []
    for c in range(cols):
        start = 0
        current = None
        for r in range(len(formats) + 1):
            fmt = formats[r][c] if r < len(formats) and c < len(formats[r]) else None
            if fmt != current:
                if current is not None:
                    out.append(batch.format_cells(sheet_id, start, r, c, c + 1, current))
                start, current = r, fmt
    return out


def _widths(ws: Any, sheet_id: int) -> list[dict]:
    out = []
    for letters, dim in ws.column_dimensions.items():
        if dim.width and dim.customWidth:
            first = _col_index(letters) if dim.min is None else dim.min - 1
            last = (dim.max or first + 1) if dim.max else first + 1
            out.append({"updateDimensionProperties": {
                "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": first, "endIndex": max(last, first + 1)},
                "properties": {"pixelSize": int(dim.width * 7 + 5)}, "fields": "pixelSize"}})
    return out


_OPERATORS = {"between": "between", "notBetween": "not between", "greaterThanOrEqual": ">=",
              "lessThanOrEqual": "<=", "greaterThan": ">", "lessThan": "<", "equal": "==", "notEqual": "!="}


def _file_rule(dv: Any) -> dict | None:
    """A validation read from the file (openpyxl) in the builder's terms (XlsxWriter options), for rules.py."""
    f1, f2 = (dv.formula1 or "").strip(), (dv.formula2 or "").strip()
    criteria = _OPERATORS.get(dv.operator or "between", "between")
    if dv.type == "list" and f1:
        if f1.startswith('"'):
            return {"validate": "list", "source": [o.strip() for o in f1.strip('"').split(",")]}
        return {"validate": "list", "source": "=" + f1.lstrip("=")}
    if dv.type == "custom" and f1:
        return {"validate": "custom", "value": "=" + f1.lstrip("=")}
    if dv.type in ("whole", "decimal", "date"):
        try:
            lo, hi = float(f1), (float(f2) if f2 else None)
        except ValueError:
            return None  # a bound that is a formula: Sheets wants numbers or dates here
        rule: dict[str, Any] = {"validate": {"whole": "integer"}.get(dv.type, dv.type), "criteria": criteria}
        if dv.type == "date":
            from crm_sheets.model.values import from_serial

            lo_d, hi_d = from_serial(lo), (from_serial(hi) if hi is not None else None)
            lo, hi = (lo_d.date() if lo_d else lo), (hi_d.date() if hi_d else hi)
        if "between" in criteria:
            rule.update(minimum=lo, maximum=hi)
        else:
            rule["value"] = lo
        return rule
    return None


def _validations(ws: Any, wb: Any, sheet_id: int, grid_rows: int, result: PushResult, names: dict[str, str],
                 table_rules: Any = None, mark: dict | None = None) -> list[dict]:
    """The file's validations that the schema does not give (a team's own columns, the Settings values), as
    Sheets rules: the schema's columns got theirs from the schema (rules.table_requests). A rule a person set
    on a schema column (a stricter list, their own formula) is kept over the schema's on the cells it covers
    (it comes after the schema's in the batch), with its strictness, and named in the result: the schema is
    the source of truth for our columns, but a colleague's rule never vanishes silently."""
    out: list[dict] = []
    ruled = {_col_index(c.column): c for c in table_rules.columns} if table_rules is not None else {}
    first_data = (mark["header"] + 2) if mark else 0  # 1-based
    for dv in ws.data_validations.dataValidation:
        rule = _file_rule(dv)
        for rng in dv.sqref.ranges:
            r0, c0, r1, c1 = rng.min_row - 1, rng.min_col - 1, rng.max_row, rng.max_col
            if r0 >= grid_rows:
                continue  # only rows past the grid (the file reaches far below its data): nothing to rule
            end = None if r1 >= grid_rows else r1  # to the sheet's end, never past its grid
            for c in range(c0, c1):
                theirs = False
                if c in ruled and rng.min_row >= first_data and ruled[c].validation is not None:
                    if rule is None or rules.same_rule(rule, ruled[c].validation):
                        continue  # a schema column's rule: made from the schema
                    theirs = True  # a person's rule where the schema has one (where it has none, simply kept)
                if dv.type in (None, "none", "any") or (rule is None and not dv.type):
                    continue  # an input message only: Sheets has none
                req = rules.validation(sheet_id, r0, end, c, rule, names.get, names) if rule else None
                if req is None:
                    result.skipped.append(f"{dv.type or 'custom'} validations")
                    continue
                if theirs:
                    req["setDataValidation"]["rule"]["strict"] = bool(dv.showErrorMessage) and dv.errorStyle in (None, "stop")
                    letter = column_letter(c)
                    result.kept.append(f"{ws.title}!{letter}{rng.min_row}:{letter}{rng.max_row} ({ruled[c].field})")
                out.append(req)
                result.rules += 1
    return out


def _conditional_formats(ws: Any, sheet_id: int, grid_rows: int, result: PushResult, names: dict[str, str],
                         ours: set[str]) -> list[dict]:
    """The file's formula highlights the schema does not give (a team's own rules) as Sheets rules; a rule that
    changes a number format (an amount in its row's currency) has no Sheets counterpart and is listed."""
    out: list[dict] = []
    for cf in ws.conditional_formatting:
        for rule in cf.rules:
            formula = "=" + rule.formula[0].lstrip("=") if rule.type == "expression" and rule.formula else None
            if formula is not None and formula in ours:
                continue  # ours: made from the schema
            look = _dxf_look(rule.dxf)
            if formula is None or not look:
                kind = "number formats by row (amounts in their row's currency)" if rule.dxf is not None and \
                    rule.dxf.numFmt is not None else f"{rule.type} conditional formats"
                result.skipped.append(kind)
                continue
            for rng in cf.sqref.ranges:
                if rng.min_row - 1 >= grid_rows:
                    continue  # only rows past the grid
                end = None if rng.max_row >= grid_rows else rng.max_row
                out.append(rules.highlight(sheet_id, rng.min_row - 1, end, rng.min_col - 1, rng.max_col, formula, look,
                                           names, index=len(out)))
                result.rules += 1
    return out


def _dxf_look(dxf: Any) -> dict[str, Any]:
    """A conditional format's look (openpyxl DifferentialStyle) as XlsxWriter options: fill, font colour, bold,
    italic, strikethrough."""
    look: dict[str, Any] = {}
    if dxf is None:
        return look
    fill = dxf.fill
    if fill is not None:
        for color in (getattr(fill, "bgColor", None), getattr(fill, "fgColor", None)):
            rgb = getattr(color, "rgb", None)
            if isinstance(rgb, str) and len(rgb) >= 6 and rgb not in ("00000000",):
                look["bg_color"] = rgb[-6:]
                break
    font = dxf.font
    if font is not None:
        rgb = getattr(font.color, "rgb", None) if font.color is not None else None
        if isinstance(rgb, str) and len(rgb) >= 6:
            look["font_color"] = rgb[-6:]
        for key, attr in (("bold", "b"), ("italic", "i"), ("font_strikeout", "strike")):
            if getattr(font, attr, None):
                look[key] = True
    return look


def _names_a1(wb: Any) -> dict[str, str]:
    """Workbook-level defined names that name one range, as absolute A1 ranges (what a dropdown's source is)."""
    out = {}
    names = wb.defined_names.values() if hasattr(wb.defined_names, "values") else []
    for dn in names:
        if dn.localSheetId is None and _SIMPLE_REF.match(dn.attr_text or "") and not dn.name.startswith("_xlnm"):
            out[dn.name] = _absolute(dn.attr_text)
    return out


def _currency(wb: Any, marks: dict[str, Any]) -> str | None:
    """The Settings sheet's currency (money columns without their own show it)."""
    for title, mark in marks.items():
        ts = mark.get("schema") if isinstance(mark, dict) else None
        if ts is None or ts.kind != "settings" or title not in wb.sheetnames:
            continue
        for row in wb[title].iter_rows(min_row=mark["header"] + 2, max_col=2, values_only=True):
            if row and row[0] == "currency" and row[1]:
                return str(row[1])
    return None


def _schema_rules(ws: Any, mark: dict[str, Any], schema: Any, names: dict[str, str], currency: str | None,
                  grid_rows: int) -> Any:
    """The schema's rules of the table on this sheet, laid out as its header row says (crm_sheets.builder.structure)."""
    from crm_sheets.builder.structure import table_rules
    from crm_sheets.model.schema import normalize_header
    from crm_sheets.model.tables import column_letter

    ts = mark["schema"]
    by_header = {n: f.name for f in ts.fields for n in f.names()}
    columns: dict[str, str] = {}
    header = mark["header"] + 1
    for cell in (ws[header] if ws.max_row >= header else ()):
        name = by_header.get(normalize_header(str(cell.value))) if cell.value is not None else None
        if name is not None and name not in columns:
            columns[name] = column_letter(cell.column - 1)
    if not columns or schema is None:
        return None
    return table_rules(schema, _lang(ws.parent), ts.name, columns, header_row=header, last_row=grid_rows,
                       names=names, currency=currency, sheet=ws.title)


def _lang(wb: Any) -> str:
    if META_SHEET in wb.sheetnames:
        for row in wb[META_SHEET].iter_rows(max_col=2, values_only=True):
            if row and row[0] == "lang" and row[1]:
                return str(row[1])
    return "en"


def _absolute(ref: str) -> str:
    m = _SIMPLE_REF.match(ref)
    if not m:
        return ref
    sheet = (m.group(1) or "").replace("''", "'") or m.group(2)
    quoted = "'" + sheet.replace("'", "''") + "'"
    first = f"${m.group(3)}${m.group(4)}"
    return f"{quoted}!{first}" + (f":${m.group(5)}${m.group(6)}" if m.group(5) else "")


def _named_ranges(wb: Any, ids: dict[str, int], result: PushResult) -> list[dict]:
    out = []
    names = wb.defined_names.values() if hasattr(wb.defined_names, "values") else []
    for dn in names:
        m = _SIMPLE_REF.match(dn.attr_text or "")
        if not m or dn.localSheetId is not None:
            continue
        sheet = (m.group(1) or "").replace("''", "'") or m.group(2)
        if sheet not in ids or dn.name.startswith("_xlnm"):
            continue
        r0, c0 = int(m.group(4)) - 1, _col_index(m.group(3))
        r1, c1 = (int(m.group(6)), _col_index(m.group(5)) + 1) if m.group(5) else (r0 + 1, c0 + 1)
        out.append({"addNamedRange": {"namedRange": {"name": dn.name, "range": batch.grid_range(ids[sheet], r0, r1, c0, c1)}}})
    return out


def _owned_columns(ws: Any, sheet_id: int, mark: dict[str, Any]) -> list[dict]:
    """Warning-only protection on the columns a job owns (people are told, not blocked)."""
    from crm_sheets.model.schema import normalize_header

    ts = mark["schema"]
    if ts is None:
        return []
    by_header = {}
    for f in ts.fields:
        if f.owned_by_job:
            for n in f.names():
                by_header[n] = f
    out = []
    header = mark["header"] + 1
    for cell in ws[header] if ws.max_row >= header else ():
        f = by_header.get(normalize_header(str(cell.value))) if cell.value is not None else None
        if f is not None:
            out.append(batch.protect(sheet_id, f"{ts.name}.{f.name}: written by the {f.owned_by_job} job",
                                     cell.column - 1, cell.column, start_row=header))
    return out


def _owned_sheets(wb: Any, ids: dict[str, int]) -> list[dict]:
    """Warning-only protection and a mark on the sheets jobs regenerate whole (_crm_meta ``sheet.<key>``)."""
    out = []
    if META_SHEET not in wb.sheetnames:
        return out
    for row in wb[META_SHEET].iter_rows(values_only=True):
        if row and isinstance(row[0], str) and row[0].startswith("sheet.") and len(row) > 1 and row[1] in ids:
            sheet_id = ids[row[1]]
            out.append(batch.sheet_metadata(sheet_id, "owned", row[0][len("sheet."):]))
            if row[0][len("sheet."):] not in batch.EDITED_BY_PEOPLE:
                out.append(batch.protect(sheet_id, f"{row[1]}: regenerated by crm-sheets on every run"))
    return out


def push(path: str | Path, connection: Connection, spreadsheet_id: str, *, replace: bool = False) -> PushResult:
    """Copy the workbook at ``path`` into the spreadsheet: refused when the spreadsheet already holds values,
    unless ``replace`` (then its sheets are replaced)."""
    before = connection.stats.requests
    got = connection.get(spreadsheet_id, fields="spreadsheetId,sheets.properties(sheetId,title)")
    old = [s["properties"] for s in got.get("sheets", [])]
    if old and not replace:
        ranges = ["'" + p["title"].replace("'", "''") + "'" for p in old]
        filled = [vr for vr in connection.batch_get(spreadsheet_id, ranges) if any(any(c not in ("", None) for c in row)
                                                                                    for row in vr.get("values") or [])]
        if filled:
            names = ", ".join(vr.get("range", "?").split("!")[0] for vr in filled[:3])
            raise UsageError(f"gsheets://{spreadsheet_id} is not empty ({names} hold values); nothing was copied",
                             hint="push into a new, empty spreadsheet, or pass --replace to replace every sheet in it")
    first = max([p.get("sheetId", 0) for p in old] or [0]) + 1
    structure, content, result = stream_push(path, first_sheet_id=first)
    result.spreadsheet_id = spreadsheet_id
    # The old sheets step aside (a spreadsheet keeps at least one sheet), the new ones come, the old ones go.
    renames = [{"updateSheetProperties": {"properties": {"sheetId": p["sheetId"], "title": f"crm-sheets old {i}"},
                                          "fields": "title"}} for i, p in enumerate(old)]
    deletes = [batch.delete_sheet(p["sheetId"]) for p in old]

    def landed(marker: int) -> bool:  # a batch whose answer was lost: did its last sheet change arrive?
        seen = connection.get(spreadsheet_id, fields="sheets.properties.sheetId")
        return marker in {s["properties"]["sheetId"] for s in seen.get("sheets", [])}

    # Each batch is sent as soon as it is full, so only one batch of request dicts is held at a time.
    for i, part in enumerate(batch.iter_batches(itertools.chain(renames, structure, deletes, content))):
        connection.batch_update(spreadsheet_id, part, applied=(lambda: landed(first)) if i == 0 else None)
    result.calls = connection.stats.requests - before
    return result
