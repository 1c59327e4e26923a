"""The data rows of a table sheet, written straight into the worksheet XML when XlsxWriter saves it.

XlsxWriter keeps every cell as an object and serialises it through generic XML helpers: about 15 µs a
cell, over a minute for 100,000 leads and 200,000 activities. Here a column becomes cell XML in one
tight loop, in chunks of rows, with the same styles and row heights; text is written inline (as the
store writes it), which also spares the shared-string table millions of one-off emails and names.
It relies on XlsxWriter internals (``_write_rows``, ``fh``); ``attach`` says False when they are
missing and the caller writes the cells the public way instead.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from xlsxwriter.utility import xl_range

from crm_sheets.model.tables import column_letter

_CHUNK = 20_000  # rows turned into XML at a time: bounds memory on big sheets
_STR_MAX = 32_767  # Excel's longest cell text


def attach(
    ws: Any,
    columns: Sequence[list[Any] | None],
    column_formats: Sequence[Any],
    cell_formats: Sequence[list[Any] | None],
    heights: dict[int, float],
    rows: int,
) -> bool:
    """Arrange for ``columns`` (cell values from row 2 down) to be written when the workbook closes."""
    needed = ("_write_rows", "_check_dimensions", "dim_rowmax")
    if not all(hasattr(ws, a) for a in needed) or rows == 0:
        return False
    original = ws._write_rows

    def write_rows() -> None:
        # XlsxWriter writes what it holds itself (the header row), then our rows follow.
        last = ws.dim_rowmax
        ws.dim_rowmax = 0
        try:
            original()
        finally:
            ws.dim_rowmax = last
        _write_data(ws, columns, column_formats, cell_formats, heights, rows)

    ws._write_rows = write_rows
    ws._check_dimensions(rows, len(columns) - 1)  # the <dimension> covers our rows too
    return True


def add_table(ws: Any, last_row: int, last_col: int, options: dict[str, Any], fast: bool = True) -> int:
    """``ws.add_table`` over rows 1..last_row; the fast way skips XlsxWriter's cell-by-cell overlap check
    (seconds and a dict entry per cell on big sheets) by adding a one-row table and widening it."""
    if not fast or last_row <= 1 or not hasattr(ws, "tables"):
        return ws.add_table(0, 0, last_row, last_col, options)
    result = ws.add_table(0, 0, 1, last_col, options)
    if result == 0:
        small, full = xl_range(0, 0, 1, last_col), xl_range(0, 0, last_row, last_col)
        table = ws.tables[-1]
        for key, value in list(table.items()):
            if value == small:
                table[key] = full
    return result


def _write_data(
    ws: Any,
    columns: Sequence[list[Any] | None],
    column_formats: Sequence[Any],
    cell_formats: Sequence[list[Any] | None],
    heights: dict[int, float],
    rows: int,
) -> None:
    xfs = [fmt._get_xf_index() if fmt is not None else 0 for fmt in column_formats]
    letters = [column_letter(i) for i in range(len(columns))]
    fh = ws.fh
    for start in range(0, rows, _CHUNK):
        stop = min(rows, start + _CHUNK)
        first = start + 2  # 1-based row of the chunk's first value
        encoded = [
            _encode(values[start:stop], letters[c], first, xfs[c],
                    None if cell_formats[c] is None else cell_formats[c][start:stop])
            for c, values in enumerate(columns) if values
        ]
        out = []
        for i, parts in enumerate(zip(*encoded)):
            body = "".join(parts)
            r = first + i
            height = heights.get(r - 1)
            if height:
                out.append(f'<row r="{r}" ht="{height:g}" customHeight="1">{body}</row>')
            elif body:
                out.append(f'<row r="{r}">{body}</row>')
        fh.write("".join(out))


def _encode(values: list[Any], letter: str, first: int, xf: int, formats: list[Any] | None) -> list[str]:
    style = f' s="{xf}"' if xf else ""
    out: list[str] = []
    append = out.append
    for i, v in enumerate(values):
        if v is None:
            append("")
            continue
        s = style
        if formats is not None and formats[i] is not None:
            s = f' s="{formats[i]._get_xf_index()}"'
        cls = v.__class__
        if cls is str:
            if len(v) > _STR_MAX:
                v = v[:_STR_MAX]
            append(f'<c r="{letter}{first + i}"{s} t="inlineStr"><is><t xml:space="preserve">{_xml_text(v)}</t></is></c>')
        elif cls is bool:
            append(f'<c r="{letter}{first + i}"{s} t="b"><v>{1 if v else 0}</v></c>')
        elif cls is int:
            append(f'<c r="{letter}{first + i}"{s}><v>{v}</v></c>')
        else:
            append(f'<c r="{letter}{first + i}"{s}><v>{float(v)!r}</v></c>')
    return out


_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]|_x[0-9A-Fa-f]{4}_")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]|(?=_x[0-9A-Fa-f]{4}_)")


def _xml_text(s: str) -> str:
    if not _SPECIAL.search(s):
        return s
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Control characters are not allowed in XML 1.0: Excel spells them _xHHHH_, and so a typed "_x0041_"
    # must have its "_" spelled _x005F_ to survive.
    return _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_" if m.group() else "_x005F", s)
