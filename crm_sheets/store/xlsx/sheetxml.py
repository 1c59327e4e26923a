"""Cell values as SpreadsheetML, and a SheetSpec as a whole worksheet part with its drawing and charts.

Strings are always inline strings (never formulas, whatever they start with); dates are serial
numbers in the workbook's date system; charts are native DrawingML parts Excel and LibreOffice draw.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping
from xml.sax.saxutils import escape, quoteattr

from crm_sheets.model.sheets import Cell, ChartSpec, SheetSpec
from crm_sheets.model.limits import MAX_CELL_CHARS, cell_length, too_long
from crm_sheets.model.tables import column_index, column_letter
from crm_sheets.model.values import is_missing
from crm_sheets.store.xlsx.package import CT_CHART, CT_DRAWING, REL_CHART, REL_DRAWING, REL_HYPERLINK

_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPE_LIKE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
_CELL_REF = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)$")
# anything xml_text changes: a text without these is written as it is (most values: one search, no copies)
_TEXT_WORK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff&<>_]")
TEXT_WORK = _TEXT_WORK  # text that xml_text must change (the writer's quick path for new rows asks too)
_INF = (math.inf, -math.inf)
CUT_MARK = " … [cut: {n:,} characters, more than a cell holds]"


def excel_serial(value: dt.date | dt.datetime, date1904: bool = False) -> float:
    """A date or datetime as an Excel serial number (1900 or 1904 date system)."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    delta = value - (_EPOCH_1904 if date1904 else _EPOCH_1900)
    serial = delta.days + delta.seconds / 86400 + delta.microseconds / 86400e6
    return float(int(serial)) if serial == int(serial) else round(serial, 10)


def xml_text(text: str) -> str:
    """Text for a <t> element: XML-escaped, with characters XML 1.0 cannot hold in Excel's _xHHHH_ form."""
    if _TEXT_WORK.search(text) is None:
        return text
    text = _ESCAPE_LIKE.sub(r"_x005F_\1", text)
    text = _INVALID_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return escape(text)


def number_text(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def fit_cell(text: str) -> str:
    """Our own text cut to what a cell holds, with a mark saying so (a message quoting a person's long value,
    an audit entry, an outbox error). People's values over the limit are never written back: see writer._set."""
    if not too_long(text):
        return text
    mark = CUT_MARK.format(n=cell_length(text))
    keep = MAX_CELL_CHARS - len(mark)
    head = text[:keep]
    while cell_length(head) > keep:  # astral characters count two: drop at least half the excess each time
        excess = cell_length(head) - keep
        head = head[: len(head) - max(1, (excess + 1) // 2)]
    if head and "\ud800" <= head[-1] <= "\udbff":
        head = head[:-1]
    return head + mark


def inline_string(ref: str, text: str, style: int | None) -> str:
    s = f' s="{style}"' if style else ""
    if len(text) * 2 > MAX_CELL_CHARS:  # what too_long tests first: the usual short text skips fit_cell
        text = fit_cell(text)
    # str.isspace and str.strip share one idea of white space: this is text != text.strip(), without a copy
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() or "\n" in text else ""
    body = text if _TEXT_WORK.search(text) is None else xml_text(text)
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{body}</t></is></c>'


def cell_xml(ref: str, value: Any, style: int | None = None, date1904: bool = False) -> str:
    """One <c> element for a plain value; a blank value keeps only the style (or nothing)."""
    t = type(value)
    if t is str:  # the common kinds first (a write encodes a cell per value): same output as below
        return inline_string(ref, value, style)
    if t is float:
        if value != value or value in _INF:
            return f'<c r="{ref}" s="{style}"/>' if style else ""
        return f'<c r="{ref}" s="{style}"><v>{number_text(value)}</v></c>' if style else f'<c r="{ref}"><v>{number_text(value)}</v></c>'
    s = f' s="{style}"' if style else ""
    if is_missing(value):
        return f'<c r="{ref}"{s}/>' if style else ""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return f'<c r="{ref}"{s}/>' if style else ""
        return f'<c r="{ref}"{s}><v>{number_text(value)}</v></c>'
    if isinstance(value, (dt.date, dt.datetime)):
        return f'<c r="{ref}"{s}><v>{number_text(excel_serial(value, date1904))}</v></c>'
    if isinstance(value, dt.time):
        frac = (value.hour * 3600 + value.minute * 60 + value.second) / 86400
        return f'<c r="{ref}"{s}><v>{number_text(frac)}</v></c>'
    return inline_string(ref, str(value), style)


def split_ref(ref: str) -> tuple[str, int]:
    m = _CELL_REF.match(ref.strip())
    if not m:
        raise ValueError(f"not a cell reference: {ref!r}")
    return m.group(1), int(m.group(2))


# ---------------------------------------------------------------------------------------------
# SheetSpec -> worksheet


@dataclass
class RenderedSheet:
    body: bytes | list[bytes]  # the worksheet XML, or its pieces in order (a large sheet: never joined when deflated)
    rels: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (id, type, target, external)
    parts: dict[str, bytes] = field(default_factory=dict)  # drawing, its rels, charts
    content_types: dict[str, str] = field(default_factory=dict)  # part -> content type

    @property
    def xml(self) -> bytes:
        """The worksheet XML whole (its pieces joined once, when asked for)."""
        if isinstance(self.body, list):
            self.body = b"".join(self.body)
        return self.body

    @xml.setter
    def xml(self, data: bytes) -> None:
        self.body = data

    @property
    def size(self) -> int:
        return len(self.body) if isinstance(self.body, bytes) else sum(map(len, self.body))


def _as_cell(v: Any) -> Cell:
    return v if isinstance(v, Cell) else Cell(value=v)


def styles_needed(spec: SheetSpec) -> set[tuple[str, str | None]]:
    """The (style, currency) pairs a sheet uses, for styles.ensure_styles."""
    out: set[tuple[str, str | None]] = set()
    for row in spec.rows:
        for v in row:
            if type(v) is Cell:
                key = _style_key(v)
                if key:
                    out.add(key)
            elif isinstance(v, dt.date):  # a plain value: only a date needs a style (see _style_key)
                out.add(("datetime" if isinstance(v, dt.datetime) else "date", None))
            elif isinstance(v, Cell):
                key = _style_key(v)
                if key:
                    out.add(key)
    return out


def _style_key(c: Cell) -> tuple[str, str | None] | None:
    style = c.style
    if style is None and c.link:
        style = "link"
    if style is None and isinstance(c.value, dt.datetime):
        style = "datetime"
    elif style is None and isinstance(c.value, dt.date):
        style = "date"
    if style is None:
        return None
    return style, (c.currency if style in ("money", "kpi_money") else None)


def render_sheet(
    spec: SheetSpec,
    sheet_name: str,
    xfs: Mapping[tuple[str, str | None], int],
    date1904: bool = False,
    drawing_part: str | None = None,
    chart_parts: list[str] | None = None,
) -> RenderedSheet:
    """The worksheet XML of a SheetSpec; with charts, also its drawing and chart parts (paths given)."""
    out = RenderedSheet(b"")
    # the rows' XML as UTF-8, a batch of rows at a time: the text of a 170,000-row Data Issues sheet is over
    # 100 MB, and joined as a str, joined again with the rest and then encoded it was held three or four times
    rows_xml: list[bytes] = []
    batch: list[str] = []
    links: list[str] = []
    max_col = 0
    letters: list[str] = []  # column letters, computed once per column, not per cell
    date_xfs = {name: xfs.get((name, None)) for name in ("date", "datetime")}
    search = _TEXT_WORK.search
    for r, row in enumerate(spec.rows, start=1):
        cells = []
        if len(row) > len(letters):
            letters.extend(column_letter(i) for i in range(len(letters), len(row)))
        for ci, v in enumerate(row):
            if type(v) is str:  # plain text (most cells of Data Issues): inline_string(ref, v, None), without the calls
                if len(v) * 2 > MAX_CELL_CHARS:
                    v = fit_cell(v)
                space = ' xml:space="preserve"' if v[:1].isspace() or v[-1:].isspace() or "\n" in v else ""
                body = v if search(v) is None else xml_text(v)
                cells.append(f'<c r="{letters[ci]}{r}" t="inlineStr"><is><t{space}>{body}</t></is></c>')
                continue
            ref = f"{letters[ci]}{r}"
            if not isinstance(v, Cell):  # a plain value (most cells): what Cell(value=v) would give, without one
                style = (date_xfs["datetime" if isinstance(v, dt.datetime) else "date"]
                         if isinstance(v, dt.date) else None)
                x = cell_xml(ref, v, style, date1904)
                if x:
                    cells.append(x)
                continue
            c = v
            key = _style_key(c)
            style = xfs.get(key) if key else None
            if c.formula:
                s = f' s="{style}"' if style else ""
                f = c.formula[1:] if c.formula.startswith("=") else c.formula
                cells.append(f'<c r="{ref}"{s}><f>{escape(f)}</f></c>')
            else:
                x = cell_xml(ref, c.value, style, date1904)
                if x:
                    cells.append(x)
            if c.link:
                links.append(_hyperlink(ref, c.link, out))
        max_col = max(max_col, len(row))
        height = spec.heights.get(r - 1)
        ht = f' ht="{height:g}" customHeight="1"' if height else ""
        if cells or ht:
            batch.append(f'<row r="{r}"{ht}>{"".join(cells)}</row>')
            if len(batch) >= 2000:
                rows_xml.append("".join(batch).encode("utf-8"))
                batch = []
    if batch:
        rows_xml.append("".join(batch).encode("utf-8"))
    del batch
    dim = f"A1:{column_letter(max(max_col, 1) - 1)}{max(len(spec.rows), 1)}"
    parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
             'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">']
    pr = ""
    if spec.tab_color:
        pr += f'<tabColor rgb="FF{spec.tab_color.lstrip("#").upper()[-6:]}"/>'
    if spec.landscape:
        pr += '<pageSetUpPr fitToPage="1"/>'
    if pr:
        parts.append(f"<sheetPr>{pr}</sheetPr>")
    parts.append(f'<dimension ref="{dim}"/>')
    parts.append(sheet_views(spec))
    parts.append('<sheetFormatPr defaultRowHeight="15"/>')
    if spec.widths:
        cols = "".join(
            f'<col min="{i + 1}" max="{i + 1}" width="{w:g}" customWidth="1"/>' for i, w in sorted(spec.widths.items())
        )
        parts.append(f"<cols>{cols}</cols>")
    head = "".join(parts).encode("utf-8")
    parts = []
    if not rows_xml:
        parts.append("<sheetData/>")
    if spec.autofilter:
        parts.append(f"<autoFilter ref={quoteattr(spec.autofilter)}/>")
    if spec.merges:
        merges = "".join(f"<mergeCell ref={quoteattr(m)}/>" for m in spec.merges)
        parts.append(f'<mergeCells count="{len(spec.merges)}">{merges}</mergeCells>')
    if links:
        parts.append(f"<hyperlinks>{''.join(links)}</hyperlinks>")
    parts.append('<pageMargins left="0.5" right="0.5" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>')
    if spec.landscape:
        parts.append('<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>')
    if spec.charts and drawing_part and chart_parts:
        rid = f"rId{len(out.rels) + 1}"
        out.rels.append((rid, REL_DRAWING, drawing_part, False))
        parts.append(f'<drawing r:id="{rid}"/>')
        _render_charts(spec, sheet_name, drawing_part, chart_parts, out)
    parts.append("</worksheet>")
    tail = "".join(parts).encode("utf-8")
    if rows_xml:
        out.body = [head, b"<sheetData>", *rows_xml, b"</sheetData>", tail]
    else:
        out.xml = head + tail
    return out


def sheet_views(spec: SheetSpec) -> str:
    if not spec.freeze or spec.freeze == (0, 0):
        return '<sheetViews><sheetView workbookViewId="0"/></sheetViews>'
    rows, cols = spec.freeze
    top_left = f"{column_letter(cols)}{rows + 1}"
    pane_name = "bottomRight" if rows and cols else ("bottomLeft" if rows else "topRight")
    split = (f' xSplit="{cols}"' if cols else "") + (f' ySplit="{rows}"' if rows else "")
    return (
        f'<sheetViews><sheetView workbookViewId="0"><pane{split} topLeftCell="{top_left}" '
        f'activePane="{pane_name}" state="frozen"/><selection pane="{pane_name}" activeCell="{top_left}" '
        f'sqref="{top_left}"/></sheetView></sheetViews>'
    )


def _hyperlink(ref: str, link: str, out: RenderedSheet) -> str:
    if "://" in link or link.startswith("mailto:"):
        rid = f"rId{len(out.rels) + 1}"
        out.rels.append((rid, REL_HYPERLINK, link, True))
        return f'<hyperlink ref="{ref}" r:id="{rid}"/>'
    place = quoteattr(link.lstrip("#"))  # shown as it is named: quoted once (Data Issues links every finding's cell)
    return f'<hyperlink ref="{ref}" location={place} display={place}/>'


# ---------------------------------------------------------------------------------------------
# Charts

_NS_C = "http://schemas.openxmlformats.org/drawingml/2006/chart"
_NS_A = "http://schemas.openxmlformats.org/drawingml/2006/main"
_NS_XDR = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
_NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _render_charts(spec: SheetSpec, sheet_name: str, drawing_part: str, chart_parts: list[str], out: RenderedSheet) -> None:
    import posixpath

    anchors = []
    rels = []
    for i, (chart, part) in enumerate(zip(spec.charts, chart_parts), start=1):
        col_letters, row = split_ref(chart.anchor)
        col = column_index(col_letters)
        anchors.append(
            f'<xdr:twoCellAnchor editAs="oneCell"><xdr:from><xdr:col>{col}</xdr:col><xdr:colOff>0</xdr:colOff>'
            f"<xdr:row>{row - 1}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to><xdr:col>{col + chart.width_cols}"
            f"</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>{row - 1 + chart.height_rows}</xdr:row><xdr:rowOff>0</xdr:rowOff>"
            f'</xdr:to><xdr:graphicFrame macro=""><xdr:nvGraphicFramePr><xdr:cNvPr id="{i + 1}" name="Chart {i}"/>'
            '<xdr:cNvGraphicFramePr/></xdr:nvGraphicFramePr><xdr:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/></xdr:xfrm>'
            f'<a:graphic><a:graphicData uri="{_NS_C}"><c:chart xmlns:c="{_NS_C}" xmlns:r="{_NS_R}" r:id="rId{i}"/>'
            "</a:graphicData></a:graphic></xdr:graphicFrame><xdr:clientData/></xdr:twoCellAnchor>"
        )
        target = posixpath.relpath(part, posixpath.dirname(drawing_part))
        rels.append(f'<Relationship Id="rId{i}" Type="{REL_CHART}" Target="{target}"/>')
        out.parts[part] = chart_xml(chart, sheet_name, spec.rows).encode("utf-8")
        out.content_types[part] = CT_CHART
    out.parts[drawing_part] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<xdr:wsDr xmlns:xdr="{_NS_XDR}" xmlns:a="{_NS_A}">{"".join(anchors)}</xdr:wsDr>'
    ).encode("utf-8")
    out.content_types[drawing_part] = CT_DRAWING
    d, name = posixpath.split(drawing_part)
    out.parts[posixpath.join(d, "_rels", name + ".rels")] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(rels) + "</Relationships>"
    ).encode("utf-8")


def _range_values(rng: str, rows: list[list[Any]]) -> list[Any]:
    a, _, b = rng.partition(":")
    c1, r1 = split_ref(a)
    c2, r2 = split_ref(b or a)
    out = []
    for r in range(r1, r2 + 1):
        for c in range(column_index(c1), column_index(c2) + 1):
            row = rows[r - 1] if r - 1 < len(rows) else []
            v = row[c] if c < len(row) else None
            out.append(v.value if isinstance(v, Cell) else v)
    return out


def _abs_range(sheet_name: str, rng: str) -> str:
    a, _, b = rng.partition(":")
    c1, r1 = split_ref(a)
    c2, r2 = split_ref(b or a)
    quoted = "'" + sheet_name.replace("'", "''") + "'"  # always quoted: names like R1C1 or A1 need it
    return f"{quoted}!${c1}${r1}:${c2}${r2}"


# Styles of the cells a value axis reads -> the axis' number format (money and counts without decimals:
# an axis reads 300,000 rather than 300000.00 or 300000).
_AXIS_FORMATS = {"money": "#,##0", "kpi_money": "#,##0", "number": "#,##0", "integer": "#,##0", "kpi_value": "#,##0",
                 "percent": "0%", "kpi_percent": "0%"}


def _value_axis_format(chart: ChartSpec, rows: list[list[Any]]) -> str:
    styles = set()
    for s in chart.series:
        a, _, b = s.values.partition(":")
        c1, r1 = split_ref(a)
        c2, r2 = split_ref(b or a)
        for r in range(r1, r2 + 1):
            row = rows[r - 1] if r - 1 < len(rows) else []
            for c in range(column_index(c1), column_index(c2) + 1):
                v = row[c] if c < len(row) else None
                if isinstance(v, Cell) and v.style:
                    styles.add(v.style)
    codes = {_AXIS_FORMATS[s] for s in styles if s in _AXIS_FORMATS}
    if len(codes) != 1:
        return '<c:numFmt formatCode="General" sourceLinked="1"/>'
    return f"<c:numFmt formatCode={quoteattr(codes.pop())} sourceLinked=\"0\"/>"


def chart_xml(chart: ChartSpec, sheet_name: str, rows: list[list[Any]]) -> str:
    """One chart part (c:chartSpace) with cached values so it draws before any recalculation."""
    kind = chart.kind if chart.kind in ("bar", "column", "line", "pie") else "column"
    series = []
    for i, s in enumerate(chart.series):
        cats = _range_values(s.categories, rows)
        vals = _range_values(s.values, rows)
        str_pts = "".join(f'<c:pt idx="{j}"><c:v>{escape(str(v))}</c:v></c:pt>' for j, v in enumerate(cats) if not is_missing(v))
        num_pts = "".join(
            f'<c:pt idx="{j}"><c:v>{number_text(v)}</c:v></c:pt>'
            for j, v in enumerate(vals) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        )
        series.append(
            f'<c:ser><c:idx val="{i}"/><c:order val="{i}"/><c:tx><c:v>{escape(s.name)}</c:v></c:tx>'
            + ('<c:invertIfNegative val="0"/>' if kind in ("bar", "column") else "")
            + ('<c:marker><c:symbol val="circle"/></c:marker>' if kind == "line" else "")
            + f"<c:cat><c:strRef><c:f>{escape(_abs_range(sheet_name, s.categories))}</c:f><c:strCache>"
            f'<c:ptCount val="{len(cats)}"/>{str_pts}</c:strCache></c:strRef></c:cat>'
            f"<c:val><c:numRef><c:f>{escape(_abs_range(sheet_name, s.values))}</c:f><c:numCache>"
            f'<c:formatCode>General</c:formatCode><c:ptCount val="{len(vals)}"/>{num_pts}</c:numCache></c:numRef></c:val>'
            + ('<c:smooth val="0"/>' if kind == "line" else "")
            + "</c:ser>"
        )
    ser = "".join(series)
    axes = '<c:axId val="50010001"/><c:axId val="50010002"/>'
    if kind == "pie":
        plot = f'<c:pieChart><c:varyColors val="1"/>{ser}<c:firstSliceAng val="0"/></c:pieChart>'
    elif kind == "line":
        plot = f'<c:lineChart><c:grouping val="standard"/><c:varyColors val="0"/>{ser}<c:marker val="1"/>{axes}</c:lineChart>'
    else:
        bar_dir = "bar" if kind == "bar" else "col"
        plot = (
            f'<c:barChart><c:barDir val="{bar_dir}"/><c:grouping val="clustered"/><c:varyColors val="0"/>{ser}'
            f'<c:gapWidth val="80"/>{axes}</c:barChart>'
        )
    if kind != "pie":
        cat_pos, val_pos = ("l", "b") if kind == "bar" else ("b", "l")
        plot += (
            f'<c:catAx><c:axId val="50010001"/><c:scaling><c:orientation val="minMax"/></c:scaling><c:delete val="0"/>'
            f'<c:axPos val="{cat_pos}"/><c:numFmt formatCode="General" sourceLinked="1"/><c:tickLblPos val="nextTo"/>'
            '<c:crossAx val="50010002"/><c:crosses val="autoZero"/><c:auto val="1"/><c:lblAlgn val="ctr"/>'
            '<c:lblOffset val="100"/><c:noMultiLvlLbl val="0"/></c:catAx>'
            f'<c:valAx><c:axId val="50010002"/><c:scaling><c:orientation val="minMax"/></c:scaling><c:delete val="0"/>'
            f'<c:axPos val="{val_pos}"/><c:majorGridlines/>{_value_axis_format(chart, rows)}'
            '<c:tickLblPos val="nextTo"/><c:crossAx val="50010001"/><c:crosses val="autoZero"/>'
            '<c:crossBetween val="between"/></c:valAx>'
        )
    title = (
        f"<c:title><c:tx><c:rich><a:bodyPr/><a:lstStyle/><a:p><a:pPr><a:defRPr sz=\"1400\" b=\"1\"/></a:pPr>"
        f'<a:r><a:rPr lang="en-US" sz="1400" b="1"/><a:t>{escape(chart.title)}</a:t></a:r></a:p></c:rich></c:tx>'
        '<c:overlay val="0"/></c:title><c:autoTitleDeleted val="0"/>'
        if chart.title else '<c:autoTitleDeleted val="1"/>'
    )
    legend = '<c:legend><c:legendPos val="b"/><c:overlay val="0"/></c:legend>' if (kind == "pie" or len(chart.series) > 1) else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<c:chartSpace xmlns:c="{_NS_C}" xmlns:a="{_NS_A}" xmlns:r="{_NS_R}"><c:roundedCorners val="0"/>'
        f"<c:chart>{title}<c:plotArea><c:layout/>{plot}</c:plotArea>{legend}"
        '<c:plotVisOnly val="1"/><c:dispBlanksAs val="gap"/></c:chart></c:chartSpace>'
    )
