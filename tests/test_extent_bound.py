"""A sheet's extent is checked against its <dimension> element only when every row and cell lies inside it: a
dimension that lies (too small, missing, or a cell of an unusual shape) gets the full scan, so a far-away cell is
never missed."""
from __future__ import annotations

import zipfile

from crm_sheets.store.xlsx.extent import bounded, scan, scan_part

HEAD = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def _sheet(dimension: bytes | None, cells: list[tuple[int, bytes]]) -> bytes:
    rows = b"".join(b'<row r="%d">%s</row>' % (r, b"".join(b'<c r="%s"><v>1</v></c>' % c for c in cs))
                    for r, cs in cells)
    dim = b'<dimension ref="%s"/>' % dimension if dimension else b""
    return HEAD + dim + b"<sheetData>" + rows + b"</sheetData></worksheet>"


def _chunks(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_a_sheet_inside_its_dimension_takes_the_dimension_as_its_extent():
    xml = _sheet(b"A1:C3", [(1, [b"A1", b"C1"]), (3, [b"B3"])])
    found = bounded(_chunks(xml))
    assert (found.rows, found.cols, found.cells) == (3, 3, 3)
    assert found.grid >= scan(_chunks(xml)).grid  # never less than the scan's bound


def test_a_cell_beyond_a_lying_dimension_is_found_by_the_full_scan(tmp_path):
    xml = _sheet(b"A1:B2", [(1, [b"A1", b"B1"]), (2, [b"XFD1048576"])])
    assert bounded(_chunks(xml)) is None
    path = tmp_path / "book.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xl/worksheets/sheet1.xml", xml)
    ext = scan_part(path, "xl/worksheets/sheet1.xml")
    assert ext.cols == 16384 and ext.rows == 1048576 and ext.too_spread()


def test_a_row_beyond_the_dimension_or_a_sheet_without_one_is_scanned():
    assert bounded(_chunks(_sheet(b"A1:B2", [(1, [b"A1"]), (5, [b"A2"])]))) is None
    assert bounded(_chunks(_sheet(None, [(1, [b"A1"])]))) is None


def test_a_cell_of_an_unusual_shape_is_scanned():
    xml = HEAD + b'<dimension ref="A1:B2"/><sheetData><row r="1"><c s="1" r="XFD1"><v>1</v></c></row></sheetData></worksheet>'
    assert bounded(_chunks(xml)) is None
    assert scan(_chunks(xml)).cols == 16384
