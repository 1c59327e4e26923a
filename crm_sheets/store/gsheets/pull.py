"""Copying a Google spreadsheet into a workbook file (``crm-sheets pull gsheets://ID crm.xlsx``): every sheet's
values (dates as dates where the cell's format is a date), number formats, validation rules, conditional
formats, charts, frozen panes, widths, merges, named ranges, and an Excel table (ListObject) wherever our
marks say a table is — what the xlsx reader finds tables by. Four calls: the sheets and marks, every value, every
value again as entered (formulas as formulas, date cells as their text), and the formats and dropdowns (cell by
cell on small sheets; on a table's sheet, whose columns look alike all the way down, the first rows and each
column's first non-blank cell, so a column blank at the top still gets its dates' format).

A cell longer than the 32,767 characters a workbook cell holds is cut to that length and named in the result
(sheet, cell, column, length): the copy says so, never silently.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_sheets.errors import UsageError
from crm_sheets.store.gsheets.batch import EPOCH, META_PREFIX
from crm_sheets.store.gsheets.client import Connection
from crm_sheets.store.gsheets.snapshot import pad, quote

META_FIELDS = (
    "sheets(properties(sheetId,title,index,hidden,gridProperties(rowCount,columnCount,frozenRowCount,"
    "frozenColumnCount)),merges,developerMetadata(metadataKey,metadataValue),charts(chartId,spec,position),"
    "conditionalFormats),"
    "namedRanges(name,range)"
)
FORMAT_FIELDS = (
    "sheets(properties(sheetId,title),data(startRow,startColumn,columnMetadata(pixelSize),"
    "rowData(values(userEnteredFormat(numberFormat),dataValidation))))"
)
WHOLE_SHEET_ROWS = 500  # a sheet this small has its formats read cell by cell; a larger one by its first rows
SAMPLE_ROWS = 3  # the header row and two data rows: the look of a table's column
XLSX_MAX_CHARS = 32_767  # what one workbook cell holds (a Sheets cell holds 50,000)


@dataclass
class PullResult:
    path: Path
    sheets: list[str] = field(default_factory=list)
    cells: int = 0
    calls: int = 0
    charts: int = 0  # native charts made again as the file's charts
    cut: list[CutCell] = field(default_factory=list)  # cells longer than a workbook cell holds

    @property
    def message(self) -> str:
        charts = f" and {self.charts} charts" if self.charts else ""
        text = (f"copied {len(self.sheets)} sheets ({self.cells:,} cells){charts} to {self.path.name} in "
                f"{self.calls} API calls")
        if self.cut:
            text += (f"; {len(self.cut)} cells hold more than the {XLSX_MAX_CHARS:,} characters a workbook cell "
                     "holds and were cut to that length in the file (the Sheet keeps them whole): "
                     + "; ".join(c.describe() for c in self.cut))
        return text


@dataclass(frozen=True)
class CutCell:
    """A cell whose text was cut to XLSX_MAX_CHARS in the file."""

    sheet: str
    row: int  # 1-based, as the sheet shows it
    column: int  # 0-based
    header: str  # what row 1 of its column says ("" when nothing)
    length: int  # characters in the Sheet

    @property
    def cell(self) -> str:
        return f"{quote_if_needed(self.sheet)}!{_col(self.column)}{self.row}"

    def describe(self) -> str:
        named = f" ({self.header})" if self.header else ""
        return f"{self.cell}{named}, row {self.row}, column {_col(self.column)}: {self.length:,} characters"


def quote_if_needed(title: str) -> str:
    return title if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", title) else quote(title)


def _from_serial(value: float, kind: str) -> Any:
    when = EPOCH + dt.timedelta(days=float(value))
    when = when.replace(microsecond=0) if when.microsecond < 500_000 else (when + dt.timedelta(seconds=1)).replace(microsecond=0)
    if kind == "DATE":
        return when.date()
    if kind == "TIME":
        return when.time()
    return when


_DATE_KINDS = ("DATE", "DATE_TIME", "TIME")


def _is_formula(shown: Any, value: Any) -> bool:
    """A formula cell: the FORMULA rendering starts with '=' and is not the cell's value (a text that only
    looks like a formula renders the same both ways)."""
    return isinstance(shown, str) and shown.startswith("=") and len(shown) > 1 and shown != value


def _cell_kind(nf: dict | None, value: float, dated: bool) -> dict | None:
    """The number format of one numeric cell, told by the cell itself: ``dated`` when the API rendered it as a
    date's text. A date in a column that looks like numbers gets a date format; a plain number in a column of
    dates loses the date format."""
    kind = (nf or {}).get("type")
    if dated:  # the column's look names the kind only when the value fits it (a time alone is not a date)
        own = "TIME" if 0 <= value < 1 else "DATE" if float(value).is_integer() else "DATE_TIME"
        fits = kind == own or (own == "DATE" and kind == "DATE_TIME")
        return nf if fits else {"type": own}
    return None if kind in _DATE_KINDS else nf


def _excel_format(fmt: dict | None) -> str | None:
    if not fmt:
        return None
    pattern = fmt.get("pattern")
    kind = fmt.get("type")
    if pattern:
        return "@" if kind == "TEXT" else pattern
    return {"DATE": "yyyy-mm-dd", "DATE_TIME": "yyyy-mm-dd hh:mm", "TIME": "hh:mm", "PERCENT": "0%",
            "TEXT": "@"}.get(kind or "")


def _col(n: int) -> str:
    from crm_sheets.model.tables import column_letter

    return column_letter(n)


def pull(connection: Connection, spreadsheet_id: str, path: str | Path, *, force: bool = False) -> PullResult:
    """Write the spreadsheet as a workbook file at ``path`` (refused when the file exists, unless ``force``)."""
    import xlsxwriter

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise UsageError(f"{path}: pull writes an .xlsx workbook", hint="give a path ending in .xlsx")
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; nothing was written", hint="give a new path, or --force to replace it")
    before = connection.stats.requests
    meta = connection.get(spreadsheet_id, fields=META_FIELDS)
    sheets = sorted(meta.get("sheets") or [], key=lambda s: s.get("properties", {}).get("index", 0))
    titles = [s["properties"]["title"] for s in sheets]
    values = {t: pad(vr.get("values") or []) for t, vr in zip(titles, connection.batch_get(spreadsheet_id, [quote(t) for t in titles]))}
    # The same cells once more with formulas as formulas and date cells as their text: a formula of the team's
    # is copied as a formula (its value as the cached result), and a cell is a date by its own format, not by
    # its column's look (a column of numbers that goes on with dates, or the other way round).
    entered = {t: vr.get("values") or [] for t, vr in zip(titles, connection.batch_get(
        spreadsheet_id, [quote(t) for t in titles], render="FORMULA", dates="FORMATTED_STRING"))}
    sampled, looks = _read_looks(connection, spreadsheet_id, sheets, values)
    result = PullResult(path)
    tmp = path.with_name(f".{path.name}.pull-tmp")
    wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
                                        "nan_inf_to_errors": True})
    try:
        formats: dict[tuple[str | None, bool], Any] = {}

        def fmt(pattern: str | None) -> Any:
            if pattern is None:
                return None
            if (pattern, False) not in formats:
                formats[(pattern, False)] = wb.add_format({"num_format": pattern})
            return formats[(pattern, False)]

        names = {str(nr.get("name")) for nr in meta.get("namedRanges") or []}
        for sheet in sheets:
            props = sheet["properties"]
            title = props["title"]
            ws = wb.add_worksheet(title)
            result.sheets.append(title)
            if props.get("hidden"):
                ws.hide()
            grid = values.get(title, [])
            look = looks.get(title) or _Looks()
            row_formats, validations = look.grids(len(grid) if title in sampled else None)
            typed = entered.get(title, [])
            for r, row in enumerate(grid):
                typed_row = typed[r] if r < len(typed) else ()
                for c, v in enumerate(row):
                    nf = row_formats[r][c] if r < len(row_formats) and c < len(row_formats[r]) else None
                    shown = typed_row[c] if c < len(typed_row) else ""
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and not _is_formula(shown, v):
                        nf = _cell_kind(nf, v, isinstance(shown, str))
                    excel = _excel_format(nf)
                    if _is_formula(shown, v):
                        result.cells += 1
                        ws.write_formula(r, c, shown, fmt(excel), "" if v is None else v)
                        continue
                    if v == "" or v is None:
                        if excel:
                            ws.write_blank(r, c, None, fmt(excel))
                        continue
                    result.cells += 1
                    kind = (nf or {}).get("type")
                    if isinstance(v, bool):
                        ws.write_boolean(r, c, v, fmt(excel))
                    elif isinstance(v, (int, float)) and kind in ("DATE", "DATE_TIME", "TIME"):
                        ws.write_datetime(r, c, _from_serial(v, kind), fmt(excel))
                    elif isinstance(v, (int, float)):
                        ws.write_number(r, c, v, fmt(excel))
                    else:
                        text = str(v)
                        if len(text) > XLSX_MAX_CHARS:
                            header = grid[0][c] if grid and c < len(grid[0]) and r else ""
                            result.cut.append(CutCell(title, r + 1, c, str(header or ""), len(text)))
                            text = text[:XLSX_MAX_CHARS]
                        ws.write_string(r, c, text, fmt(excel))
            for c, cm in enumerate(look.column_metadata):
                px = cm.get("pixelSize")
                if px and px != 100:
                    ws.set_column(c, c, max((px - 5) / 7, 1))
            _validations(ws, validations, names)
            grid_props = props.get("gridProperties", {})
            _conditional_formats(wb, ws, sheet.get("conditionalFormats") or [], names,
                                 int(grid_props.get("rowCount") or len(grid) or 1), int(grid_props.get("columnCount") or 26))
            frozen = props.get("gridProperties", {})
            if frozen.get("frozenRowCount") or frozen.get("frozenColumnCount"):
                ws.freeze_panes(frozen.get("frozenRowCount", 0), frozen.get("frozenColumnCount", 0))
            for m in sheet.get("merges") or []:
                ws.merge_range(m.get("startRowIndex", 0), m.get("startColumnIndex", 0), m.get("endRowIndex", 1) - 1,
                               m.get("endColumnIndex", 1) - 1, _top_left(grid, m))
            marks = {str(md.get("metadataKey", ""))[len(META_PREFIX):]: md.get("metadataValue")
                     for md in sheet.get("developerMetadata") or [] if str(md.get("metadataKey", "")).startswith(META_PREFIX)}
            if marks.get("excel_table") and grid:
                _excel_table(ws, grid, str(marks["excel_table"]))
        ids = {s["properties"].get("sheetId"): s["properties"]["title"] for s in sheets}
        result.charts = _charts(wb, sheets, ids)
        for nr in meta.get("namedRanges") or []:
            rng = nr.get("range", {})
            title = ids.get(rng.get("sheetId", 0))
            if title is None or not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", nr.get("name", "")):
                continue
            first = f"${_col(rng.get('startColumnIndex', 0))}${rng.get('startRowIndex', 0) + 1}"
            last = f"${_col(rng.get('endColumnIndex', 1) - 1)}${rng.get('endRowIndex', 1)}"
            wb.define_name(nr["name"], "=" + quote(title) + "!" + first + (":" + last if last != first else ""))
        wb.close()
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    result.calls = connection.stats.requests - before
    return result


@dataclass
class _Looks:
    """The number formats and validation rules read of one sheet: cells by (row, column), 0-based; for a
    table's sheet, the look of each column's data (its first non-blank cell's format, row 2's rule)."""

    cells: dict[tuple[int, int], dict] = field(default_factory=dict)
    column_metadata: list[dict] = field(default_factory=list)

    def grids(self, sampled_rows: int | None) -> tuple[list[list[dict | None]], list[list[dict | None]]]:
        """(number formats, validations) as rows of cells; ``sampled_rows``: the sheet's rows when only its
        first rows and each column's first non-blank cell were read (their look goes down the column)."""
        height = max((r + 1 for r, _ in self.cells), default=0)
        width = max((c + 1 for _, c in self.cells), default=0)
        formats = [[_number_format(self.cells.get((r, c))) for c in range(width)] for r in range(height)]
        rules = [[(self.cells.get((r, c)) or {}).get("dataValidation") for c in range(width)] for r in range(height)]
        if sampled_rows is None or height < 2:
            return formats, rules
        column = []
        for c in range(width):
            below = sorted(r for r, cc in self.cells if cc == c and r >= 1 and _number_format(self.cells[(r, cc)]))
            column.append(_number_format(self.cells.get((below[0], c))) if below else None)
        last = max(sampled_rows, 2)
        return formats[:1] + [column] * (last - 1), rules[:1] + [rules[1]] * (last - 1)


def _number_format(cell: dict | None) -> dict | None:
    return ((cell or {}).get("userEnteredFormat") or {}).get("numberFormat")


def _read_looks(connection: Connection, spreadsheet_id: str, sheets: list[dict],
                values: dict[str, list[list[Any]]]) -> tuple[set[str], dict[str, _Looks]]:
    """One getByDataFilter: every cell of a small sheet (Settings, rule sheets); of a larger one (a table's) the
    first SAMPLE_ROWS rows and, for each column blank in its first data rows, its first non-blank cell below:
    an own date column blank at the top still reads as dates. Not a grid-data read of 100k rows."""
    filters: list[dict] = []
    sampled: set[str] = set()
    for sheet in sheets:
        props = sheet["properties"]
        sid, title = props.get("sheetId", 0), props["title"]
        if props.get("gridProperties", {}).get("rowCount", 0) <= WHOLE_SHEET_ROWS:
            filters.append({"gridRange": {"sheetId": sid}})
            continue
        sampled.add(title)
        filters.append({"gridRange": {"sheetId": sid, "startRowIndex": 0, "endRowIndex": SAMPLE_ROWS}})
        grid = values.get(title) or []
        for c in range(max((len(r) for r in grid), default=0)):
            if any(grid[r][c] not in ("", None) for r in range(1, min(SAMPLE_ROWS, len(grid)))):
                continue
            first = next((r for r in range(SAMPLE_ROWS, len(grid)) if grid[r][c] not in ("", None)), None)
            if first is not None:
                filters.append({"gridRange": {"sheetId": sid, "startRowIndex": first, "endRowIndex": first + 1,
                                              "startColumnIndex": c, "endColumnIndex": c + 1}})
    got = connection.get_by_data_filter(spreadsheet_id, filters, fields=FORMAT_FIELDS) if filters else {}
    looks: dict[str, _Looks] = {}
    for sheet in got.get("sheets") or []:
        look = looks.setdefault(str((sheet.get("properties") or {}).get("title", "")), _Looks())
        for data in sheet.get("data") or []:
            r0, c0 = int(data.get("startRow", 0)), int(data.get("startColumn", 0))
            if r0 == 0 and c0 == 0 and data.get("columnMetadata"):
                look.column_metadata = list(data["columnMetadata"])
            for i, rd in enumerate(data.get("rowData") or []):
                for j, cell in enumerate(rd.get("values") or []):
                    if cell:
                        look.cells[(r0 + i, c0 + j)] = cell
    return sampled, looks


def _charts(wb: Any, sheets: list[dict], ids: dict[Any, str]) -> int:
    """The spreadsheet's charts (the report's, and any a colleague made) as the file's own charts, where the
    Sheet has them; a chart Sheets-only in kind (no basic or pie chart over plain ranges) is left out."""
    from crm_sheets.store.gsheets.charts import to_xlsxwriter

    made = 0
    for sheet in sheets:
        ws = wb.get_worksheet_by_name(sheet["properties"]["title"])
        for chart in sheet.get("charts") or []:
            got = to_xlsxwriter(wb, chart, lambda sheet_id: ids.get(sheet_id))
            if got is not None:
                xl_chart, row, col, options = got
                ws.insert_chart(row, col, xl_chart, options)
                made += 1
    return made


def _top_left(grid: list[list[Any]], m: dict) -> Any:
    r, c = m.get("startRowIndex", 0), m.get("startColumnIndex", 0)
    v = grid[r][c] if r < len(grid) and c < len(grid[r]) else ""
    return "" if v is None else v


def _excel_table(ws: Any, grid: list[list[Any]], name: str) -> None:
    """An Excel table over the sheet's header row (row 1) and the rows under it down to the last one holding
    anything, so the xlsx reader finds the table by its name as in a workbook crm-sheets built."""
    header = grid[0]
    width = max((c + 1 for c, h in enumerate(header) if h not in ("", None)), default=0)
    if not width:
        return
    last = 0
    for r in range(1, len(grid)):
        if any(v not in ("", None) for v in grid[r][:width]):
            last = r
    seen: set[str] = set()
    columns = []
    for c in range(width):
        h = str(header[c]) if header[c] not in ("", None) else f"Column{c + 1}"
        while h.casefold() in seen:
            h += "_"
        seen.add(h.casefold())
        columns.append({"header": h})
    ws.add_table(0, 0, max(last, 1), width - 1, {"name": name, "columns": columns, "style": "Table Style Medium 2"})


_INDIRECT = re.compile(r'INDIRECT\("([A-Za-z_][A-Za-z0-9_.]*)"\)')
_CELL_CRITERIA = {"NUMBER_GREATER": ">", "NUMBER_GREATER_THAN_EQ": ">=", "NUMBER_LESS": "<", "NUMBER_LESS_THAN_EQ": "<=",
                  "NUMBER_EQ": "==", "NUMBER_NOT_EQ": "!=", "NUMBER_BETWEEN": "between", "NUMBER_NOT_BETWEEN": "not between"}
_DATE_CRITERIA = {"DATE_BEFORE": "<", "DATE_AFTER": ">", "DATE_ON_OR_BEFORE": "<=", "DATE_ON_OR_AFTER": ">=",
                  "DATE_EQ": "==", "DATE_BETWEEN": "between", "DATE_NOT_BETWEEN": "not between"}


def excel_formula(formula: str, names: set[str]) -> str:
    """A Sheets rule's formula as the file's: INDIRECT("name") of a defined name is the name again (push wrote
    it so because Sheets' rules cannot read another sheet directly; Excel's can)."""
    return _INDIRECT.sub(lambda m: m.group(1) if m.group(1) in names else m.group(0), formula)


def _bound(text: str, date: bool = False) -> Any:
    try:
        if date:
            return dt.date.fromisoformat(text)
        number = float(text)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    except ValueError:
        return "=" + text.lstrip("=")


def _validations(ws: Any, validations: list[list[dict | None]], names: set[str] | None = None) -> None:
    """Dropdowns, checkboxes, numbers, dates and formula rules per run of equal rules down each column."""
    width = max((len(r) for r in validations), default=0)
    for c in range(width):
        start, current = 0, None
        for r in range(len(validations) + 1):
            rule = validations[r][c] if r < len(validations) and c < len(validations[r]) else None
            if rule != current:
                if current is not None:
                    _validation(ws, start, r - 1, c, current, names or set())
                start, current = r, rule


def _validation(ws: Any, first: int, last: int, col: int, rule: dict, names: set[str] | None = None) -> None:
    cond = rule.get("condition", {})
    kind = cond.get("type")
    vals = [v.get("userEnteredValue", "") for v in cond.get("values") or []]
    options: dict[str, Any] = {"error_type": "stop" if rule.get("strict") else "warning"}
    if rule.get("inputMessage"):
        options["error_message"] = str(rule["inputMessage"])[:255]
    if kind == "ONE_OF_LIST":
        options.update(validate="list", source=vals)
    elif kind == "ONE_OF_RANGE" and vals:
        options.update(validate="list", source=vals[0])
    elif kind == "BOOLEAN":
        options.update(validate="list", source=["TRUE", "FALSE"])
    elif kind == "DATE_IS_VALID":
        options.update(validate="date", criteria="between", minimum=dt.date(1900, 3, 1), maximum=dt.date(9999, 12, 31))
    elif kind in _CELL_CRITERIA or kind in _DATE_CRITERIA:
        date = kind in _DATE_CRITERIA
        criteria = (_DATE_CRITERIA if date else _CELL_CRITERIA)[kind]
        options.update(validate="date" if date else "decimal", criteria=criteria)
        if "between" in criteria and len(vals) == 2:
            options.update(minimum=_bound(vals[0], date), maximum=_bound(vals[1], date))
        elif vals:
            options["value"] = _bound(vals[0], date)
        else:
            return
    elif kind == "CUSTOM_FORMULA" and vals:
        options.update(validate="custom", value=excel_formula(vals[0], names or set()))
    else:
        return
    try:
        ws.data_validation(first, col, last, col, options)
    except Exception:  # a list longer than Excel allows inline: left out rather than refusing the copy
        pass


def _conditional_formats(wb: Any, ws: Any, rules: list[dict], names: set[str], grid_rows: int, grid_cols: int) -> int:
    """The Sheet's formula and number highlights as the file's conditional formats (a colour scale is left out)."""
    made = 0
    for rule in rules:
        boolean = rule.get("booleanRule") or {}
        cond = boolean.get("condition") or {}
        vals = [v.get("userEnteredValue", "") for v in cond.get("values") or []]
        kind = cond.get("type")
        if kind == "CUSTOM_FORMULA" and vals:
            options: dict[str, Any] = {"type": "formula", "criteria": excel_formula(vals[0], names)}
        elif kind in _CELL_CRITERIA and vals:
            criteria = _CELL_CRITERIA[kind]
            options = {"type": "cell", "criteria": criteria}
            if "between" in criteria and len(vals) == 2:
                options.update(minimum=_bound(vals[0]), maximum=_bound(vals[1]))
            else:
                options["value"] = _bound(vals[0])
        else:
            continue
        options["format"] = wb.add_format(_look(boolean.get("format") or {}))
        for rng in rule.get("ranges") or []:
            r0, c0 = int(rng.get("startRowIndex", 0)), int(rng.get("startColumnIndex", 0))
            r1 = int(rng["endRowIndex"]) if rng.get("endRowIndex") is not None else grid_rows
            c1 = int(rng["endColumnIndex"]) if rng.get("endColumnIndex") is not None else grid_cols
            ws.conditional_format(r0, c0, max(r1, r0 + 1) - 1, max(c1, c0 + 1) - 1, dict(options))
            made += 1
    return made


def _hex(color: dict | None) -> str | None:
    rgb = (color or {}).get("rgbColor") if isinstance(color, dict) and "rgbColor" in color else color
    if not isinstance(rgb, dict) or not rgb:
        return None
    return "#" + "".join(f"{round(float(rgb.get(k, 0)) * 255):02X}" for k in ("red", "green", "blue"))


def _look(fmt: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    bg = _hex(fmt.get("backgroundColorStyle") or fmt.get("backgroundColor"))
    if bg:
        out["bg_color"] = bg
    text = fmt.get("textFormat") or {}
    fg = _hex(text.get("foregroundColorStyle") or text.get("foregroundColor"))
    if fg:
        out["font_color"] = fg
    for key, name in (("bold", "bold"), ("italic", "italic"), ("strikethrough", "font_strikeout"), ("underline", "underline")):
        if text.get(key):
            out[name] = True
    return out
