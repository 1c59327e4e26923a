"""The workbook a push copies, read without holding its big sheets: openpyxl loads a copy of the package whose
big sheets keep only their first rows (everything else of them — validations, highlights, merges, charts,
widths, tables — is kept), and those sheets' cells are streamed from the file: the usual cell shapes read by
one regex, every other cell by openpyxl's own parse_cell, so each value is the one a whole load gives.

A 100k-lead CRM loaded whole by openpyxl is ~2.4 GB of Cell objects; this way a push holds one batch of cells.
"""
from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

# A sheet part bigger than this (uncompressed) is streamed; smaller ones are loaded as they are.
STREAM_OVER = 1 << 20
KEEP_ROWS = 64  # rows a streamed sheet keeps in the loaded copy (its header rows are among them)
_CHUNK = 4 << 20

_ROOT = re.compile(rb'<([\w.-]+:)?worksheet\b')
_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})(\d{1,7})"')
_ROW_TAG = re.compile(rb'<row(?=[\s/>])')
_ROW_R = re.compile(rb'<row r="(\d{1,7})"')
_SHEET_DATA_END = re.compile(rb'</sheetData\s*>')
# A cell with its reference first, its style and type (in that order) and anything else; empty or with content
_CELL = re.compile(rb'<c r="([A-Z]{1,3})(\d{1,7})"(?: s="(\d+)")?(?: t="(\w+)")?([^>]*?)(/>|>(.*?)</c>)', re.S)
_INLINE = re.compile(rb'<is><t(?: xml:space="preserve")?>([^<&\r]*)</t></is>')
_VALUE = re.compile(rb'<v>([^<&\r]*)</v>')
_SLOW = object()


def _column(columns: dict[bytes, int], letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    columns[letters] = n
    return n


@dataclass
class Streamed:
    """A big sheet whose cells are streamed: the extent of its cells and the first row left out of the copy."""

    part: str
    rows: int  # the last row holding a <c> element (1-based), as openpyxl's max_row counts cells
    cols: int
    first_dropped: int  # rows from here on are only in the file


@dataclass
class Source:
    wb: Any  # openpyxl workbook: every sheet whole except the streamed ones' rows from first_dropped on
    path: Path
    streamed: dict[str, Streamed] = field(default_factory=dict)
    shared_strings: list = field(default_factory=list)  # the package's, as openpyxl read them for wb

    def close(self) -> None:
        self.shared_strings = []

    def dimensions(self, ws: Any) -> tuple[int, int]:
        """(max_row, max_column) of the sheet as openpyxl counts them on the whole file."""
        s = self.streamed.get(ws.title)
        if s is None:
            return ws.max_row, ws.max_column
        return max(ws.max_row, s.rows), max(ws.max_column, s.cols)

    def cells(self, title: str) -> Iterator[tuple[int, int, Any, str, int]]:
        """The cells of a streamed sheet in file order as (row, column, value, data type, style id), each what
        openpyxl's sheet parser makes of it: the usual shapes (a number, a shared or inline text without
        entities, a boolean, an empty styled cell) read here, every other cell (formulas, rich text,
        entities, dates as text, errors) given to openpyxl's own parse_cell."""
        from xml.etree.ElementTree import fromstring

        from openpyxl.utils.datetime import from_excel
        from openpyxl.worksheet._reader import WorkSheetParser

        wb = self.wb  # its styles, dates and epoch are the file's (the copy changed only sheets' rows)
        parser = WorkSheetParser(None, self.shared_strings, data_only=False, epoch=wb.epoch,
                                 date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats,
                                 rich_text=False)
        strings, dates, spans, epoch = self.shared_strings, wb._date_formats, wb._timedelta_formats, wb.epoch
        columns: dict[bytes, int] = {}
        with zipfile.ZipFile(self.path) as zf, zf.open(self.streamed[title].part) as src:
            carry = b""
            while True:
                chunk = src.read(_CHUNK)
                data = carry + chunk
                if chunk:
                    cut = data.rfind(b"</row>")
                    if cut == -1:
                        carry = data
                        continue
                    data, carry = data[:cut + 6], data[cut + 6:]
                for m in _CELL.finditer(data):
                    letters, row, sid, kind, rest, inner = m.group(1, 2, 3, 4, 5, 7)
                    style = int(sid) if sid else 0
                    value: Any = None
                    if not rest:
                        if inner is None:  # <c r="B2" s="3"/>
                            yield int(row), columns.get(letters) or _column(columns, letters), None, \
                                (kind or b"n").decode(), style
                            continue
                        if kind == b"inlineStr":
                            t = _INLINE.fullmatch(inner)
                            if t is not None:
                                yield int(row), columns.get(letters) or _column(columns, letters), \
                                    t.group(1).decode("utf-8"), "s", style
                                continue
                        else:
                            v = _VALUE.fullmatch(inner)
                            if v is not None:
                                text = v.group(1)
                                if not text:
                                    value = None
                                elif kind is None or kind == b"n":
                                    number = float(text) if (b"." in text or b"E" in text or b"e" in text) \
                                        else int(text)
                                    if style in dates:
                                        try:
                                            value = from_excel(number, epoch, timedelta=style in spans)
                                        except (OverflowError, ValueError):
                                            value = _SLOW  # openpyxl warns and makes it an error cell
                                        else:
                                            yield int(row), columns.get(letters) or _column(columns, letters), \
                                                value, "d", style
                                            continue
                                    else:
                                        value = number
                                elif kind == b"s":
                                    value = strings[int(text)]
                                elif kind == b"b":
                                    value = bool(int(text))
                                else:
                                    value = _SLOW
                                if value is not _SLOW:
                                    yield int(row), columns.get(letters) or _column(columns, letters), value, \
                                        "s" if kind == b"s" else (kind or b"n").decode(), style
                                    continue
                    # Any other shape: openpyxl's own reading of the element
                    try:
                        element = fromstring(b'<c xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
                                             + m.group(0)[2:])
                        cell = parser.parse_cell(element)
                    except Exception as e:  # what a whole load would have refused up front
                        from crm_sheets.errors import NotAWorkbook

                        ref = (letters + row).decode()
                        raise NotAWorkbook(f"{self.path}: {title}!{ref} cannot be read ({type(e).__name__}: {e}); "
                                           "the sheets before it were copied") from None
                    yield cell["row"], cell["column"], cell["value"], cell["data_type"], cell["style_id"]
                if not chunk:
                    break


def open_source(path: Path, stream_over: int | None = STREAM_OVER) -> Source:
    """The workbook at ``path`` loaded by openpyxl with its sheets over ``stream_over`` bytes cut to their first
    rows (None: nothing cut, the whole workbook loaded). Raises what openpyxl or zipfile raise."""
    import openpyxl
    from openpyxl.reader.excel import ExcelReader

    if stream_over is None:
        return Source(openpyxl.load_workbook(path, data_only=False, rich_text=False), path)
    with zipfile.ZipFile(path) as zf:
        parts = _sheet_parts(zf)
        big = {title: part for title, part in parts.items()
               if part in zf.NameToInfo and zf.NameToInfo[part].file_size > stream_over}
        if not big:
            return Source(openpyxl.load_workbook(path, data_only=False, rich_text=False), path)
        streamed: dict[str, Streamed] = {}
        cut: dict[str, bytes] = {}
        for title, part in big.items():
            made = _cut(zf, part)
            if made is not None:
                cut[part], streamed[title] = made[0], Streamed(part, *made[1:])
        if not cut:
            return Source(openpyxl.load_workbook(path, data_only=False, rich_text=False), path)
        copy = tempfile.TemporaryFile()
        with zipfile.ZipFile(copy, "w", zipfile.ZIP_STORED) as out:
            for info in zf.infolist():
                if info.filename in cut:
                    out.writestr(info.filename, cut[info.filename])
                else:
                    with zf.open(info) as src, out.open(info.filename, "w", force_zip64=True) as dst:
                        while chunk := src.read(_CHUNK):
                            dst.write(chunk)
        del cut
    copy.seek(0)
    # As openpyxl.load_workbook, keeping the shared strings it read (the copy's are the file's) for the streaming
    reader = ExcelReader(copy, read_only=False, data_only=False, rich_text=False)
    reader.read()
    copy.close()
    return Source(reader.wb, Path(path), streamed, reader.shared_strings)


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Each worksheet's title and its part in the package, found as openpyxl finds them."""
    from openpyxl.packaging.manifest import Manifest
    from openpyxl.reader.excel import _find_workbook_part
    from openpyxl.reader.workbook import WorkbookParser
    from openpyxl.xml.constants import ARC_CONTENT_TYPES
    from openpyxl.xml.functions import fromstring

    package = Manifest.from_tree(fromstring(zf.read(ARC_CONTENT_TYPES)))
    parser = WorkbookParser(zf, _find_workbook_part(package).PartName[1:])
    parser.parse()
    return {sheet.name: rel.target for sheet, rel in parser.find_sheets() if rel.Type.endswith("/worksheet")}


def _cut(zf: zipfile.ZipFile, part: str) -> tuple[bytes, int, int, int] | None:
    """The sheet's XML with only its first KEEP_ROWS row elements, the extent of its cells and the first row
    left out; None when the sheet cannot be streamed safely (cells without their own reference first, rows out
    of order, a namespace prefix, no more rows than kept): it is then loaded whole."""
    out: list[bytes] = []
    phase = "head"  # head: rows kept; skip: rows left out; tail: after </sheetData>
    rows_seen = 0
    first_dropped = 0
    last_row = 0
    max_letters = b""
    carry = b""
    first = True
    with zf.open(part) as f:
        while True:
            chunk = f.read(_CHUNK)
            data = carry + chunk if carry else chunk
            if first:
                root = _ROOT.search(data[:1 << 16])
                if root is None or root.group(1):
                    return None
                first = False
            if chunk:
                cut = data.rfind(b"<")
                if cut <= 0:
                    cut = len(data)
                data, carry = data[:cut], data[cut:]
            else:
                carry = b""
            if data and phase != "tail":
                # Every cell names itself first (<c r="B12"), in rows that never go back: then the last
                # row and the widest column are exactly openpyxl's max_row and max_column of the cells.
                refs = _CELL_REF.findall(data)
                if len(refs) != data.count(b"<c ") + data.count(b"<c>") + data.count(b"<c/>"):
                    return None
                if refs:
                    letters, numbers = zip(*refs)
                    rows = list(map(int, numbers))
                    if rows[0] < last_row or rows != sorted(rows):
                        return None
                    last_row = rows[-1]
                    top = max(set(letters), key=lambda x: (len(x), x))
                    if (len(top), top) > (len(max_letters), max_letters):
                        max_letters = top
            start = 0
            if phase == "head" and data:
                for m in _ROW_TAG.finditer(data):
                    rows_seen += 1
                    if rows_seen > KEEP_ROWS:
                        r = _ROW_R.match(data, m.start())
                        if r is None:
                            return None
                        first_dropped = int(r.group(1))
                        out.append(data[:m.start()])
                        phase, start = "skip", m.start()
                        break
                else:
                    out.append(data)
            if phase == "skip" and data:
                end = _SHEET_DATA_END.search(data, start)
                if end is not None:
                    out.append(data[end.start():])
                    phase = "tail"
            elif phase == "tail" and data:
                out.append(data)
            if not chunk:
                break
    if phase != "tail":
        return None  # all rows kept (or a sheet without an end): nothing to gain
    cols = 0
    for ch in max_letters:
        cols = cols * 26 + ch - 64
    return b"".join(out), last_row, cols, first_dropped


def cell_value(value: Any, data_type: str | None) -> Any:
    """A cell's value as a push sends it: a workbook formula stays a formula, everything else is its typed value."""
    from crm_sheets.store.gsheets import batch

    if data_type == "f" and isinstance(value, str):
        return batch.Formula(value)
    if getattr(value, "__class__", None).__name__ == "ArrayFormula":
        return batch.Formula(getattr(value, "text", "") or "")
    return value


def _plain_text(looks: dict[str, Any]) -> dict:
    """Sheets' Plain text format, for a text cell the file marks with Excel's quotePrefix ("keep as text": what
    the writer gives text from outside that looks like a formula, model.values.Text): in the Sheet, what a person
    types into it stays text too. One dict for the push (``looks``), as for every other format."""
    from crm_sheets.store.gsheets.batch import PLAIN_TEXT

    return looks.setdefault("\x00quotePrefix", dict(PLAIN_TEXT))


def loaded_rows(ws: Any, rows: int, cols: int, looks: dict[str, Any], header_fill: dict, counted: list[int]
                 ) -> Iterator[tuple[list, list]]:
    """A loaded sheet's rows as (values, number formats), trailing empty cells cut; bold cells of the first
    12 rows go to ``header_fill``; ``counted[0]`` adds up the cells holding a value."""
    from crm_sheets.store.gsheets import batch
    from crm_sheets.store.gsheets.rules import sheets_format

    for r, row in enumerate(ws.iter_rows(min_row=1, max_row=rows, max_col=cols)):
        vals = []
        fmts = []
        for c, cell in enumerate(row):
            v = cell_value(cell.value, cell.data_type)
            vals.append(v)
            if v is not None:
                counted[0] += 1
            number_format = cell.number_format
            if isinstance(v, str) and type(v) is not batch.Formula and cell.quotePrefix:
                fmts.append(_plain_text(looks))  # Excel's "keep as text" mark: Sheets' Plain text
            elif number_format == "General":
                fmts.append(None)
            else:
                if number_format not in looks:
                    looks[number_format] = sheets_format(number_format)
                fmts.append(looks[number_format])
            if r < 12 and cell.font is not None and cell.font.b and v is not None:
                fill = cell.fill.fgColor.rgb if cell.fill is not None and cell.fill.fill_type == "solid" else None
                color = cell.font.color.rgb if cell.font.color is not None else None
                header_fill[(r, c)] = (fill if isinstance(fill, str) else None, color if isinstance(color, str) else None)
        while vals and vals[-1] is None and fmts[-1] is None:
            vals.pop()
            fmts.pop()
        yield vals, fmts


def streamed_rows(source: Source, ws: Any, rows: int, looks: dict[str, Any], header_fill: dict, counted: list[int]
                  ) -> Iterator[tuple[list, tuple]]:
    """A streamed sheet's rows 1..rows as (values, number formats), trailing empty cells cut, exactly as the
    loaded sheet's cells give them (loaded_rows): merged-over cells are empty as openpyxl makes them;
    bold cells of the first 12 rows go to ``header_fill``; ``counted[0]`` adds up the cells holding a value."""
    from openpyxl.cell.cell import Cell

    from crm_sheets.store.gsheets.rules import sheets_format

    styles = source.wb._cell_styles
    formats: dict[int, Any] = {}
    heads: dict[int, tuple[bool, Any, Any]] = {}
    merged: dict[int, list[tuple[int, int, int, int]]] = {}
    for rng in ws.merged_cells.ranges:
        for r in range(rng.min_row, rng.max_row + 1):
            merged.setdefault(r, []).append((rng.min_row, rng.min_col, rng.max_row, rng.max_col))
    shapes: dict[tuple, tuple] = {}  # one tuple per distinct row of formats (a column is mostly one format)

    def number_format(sid: int) -> Any:
        if sid not in formats:
            fmt = Cell(ws, style_array=styles[sid]).number_format
            if fmt == "General":
                formats[sid] = None
            else:
                if fmt not in looks:
                    looks[fmt] = sheets_format(fmt)
                formats[sid] = looks[fmt]
        return formats[sid]

    def head(sid: int) -> tuple[bool, Any, Any]:
        if sid not in heads:
            cell = Cell(ws, style_array=styles[sid])
            bold = bool(cell.font is not None and cell.font.b)
            fill = cell.fill.fgColor.rgb if cell.fill is not None and cell.fill.fill_type == "solid" else None
            color = cell.font.color.rgb if cell.font is not None and cell.font.color is not None else None
            heads[sid] = (bold, fill if isinstance(fill, str) else None, color if isinstance(color, str) else None)
        return heads[sid]

    def finish(r: int, vals: list, fmts: list, sids: list) -> tuple[list, tuple]:
        if r <= 12:
            for c, v in enumerate(vals):
                if v is not None:
                    bold, fill, color = head(sids[c])
                    if bold:
                        header_fill[(r - 1, c)] = (fill, color)
        while vals and vals[-1] is None and fmts[-1] is None:
            vals.pop()
            fmts.pop()
        counted[0] += len(vals) - vals.count(None)
        shape = tuple(fmts)  # its dicts are those in ``looks``, alive through the push: their ids are keys
        return vals, shapes.setdefault(tuple(map(id, shape)), shape)

    nxt = 1  # the next row to give
    cur = 0
    vals: list = []
    fmts: list = []
    sids: list = []
    for r, c, value, data_type, sid in source.cells(ws.title):
        c -= 1
        if r != cur:
            if cur:
                yield finish(cur, vals, fmts, sids)
                nxt = cur + 1
            while nxt < r:
                yield [], ()
                nxt += 1
            cur, vals, fmts, sids = r, [], [], []
        if len(vals) <= c:
            grow = c + 1 - len(vals)
            vals.extend([None] * grow)
            fmts.extend([None] * grow)
            sids.extend([0] * grow)
        if r in merged and any(r0 <= r <= r1 and c0 <= c + 1 <= c1 and (r, c + 1) != (r0, c0)
                               for r0, c0, r1, c1 in merged[r]):
            vals[c], fmts[c], sids[c] = None, None, 0  # openpyxl's MergedCell: no value, General
            continue
        vals[c] = v = cell_value(value, data_type)
        fmts[c] = _plain_text(looks) if type(v) is str and styles[sid].quotePrefix else number_format(sid)
        sids[c] = sid
    if cur:
        yield finish(cur, vals, fmts, sids)
        nxt = cur + 1
    while nxt <= rows:
        yield [], ()
        nxt += 1
