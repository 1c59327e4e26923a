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
    assert (found.rows, found.cols) == (3, 3)
    assert found.grid >= scan(_chunks(xml)).grid  # never less than the scan's bound


def test_a_cell_beyond_a_lying_dimension_is_found_by_the_full_scan(tmp_path):
    xml = _sheet(b"A1:B2", [(1, [b"A1", b"B1"]), (2, [b"XFD1048576"])])
    assert bounded(_chunks(xml)) is None
    path = tmp_path / "book.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xl/worksheets/sheet1.xml", xml)
    ext = scan_part(path, "xl/worksheets/sheet1.xml")
    assert ext.cols == 16384 and ext.rows == 1048576 and ext.too_spread()


def test_a_sheet_without_a_dimension_or_with_a_cell_placed_by_its_row_is_scanned():
    assert bounded(_chunks(_sheet(None, [(1, [b"A1"])]))) is None
    xml = HEAD + b'<dimension ref="A1:B2"/><sheetData><row r="1048576"><c><v>1</v></c></row></sheetData></worksheet>'
    assert bounded(_chunks(xml)) is None
    assert scan(_chunks(xml)).rows == 1048576


def test_a_cell_with_a_namespace_prefix_or_a_cell_tag_cut_by_a_chunk_is_seen():
    xml = _sheet(b"A1:B2", [(1, [b"A1"])]).replace(b"</sheetData>", b'<x:c r="XFD1048576"><x:v>1</x:v></x:c></sheetData>')
    assert bounded(_chunks(xml)) is None
    far = _sheet(b"A1:B2", [(1, [b"A1", b"B1"]), (2, [b"A2", b"B20000"])])
    for size in (1, 2, 3, 5, 7, 11, 64):
        assert bounded(_chunks(far, size)) is None
        assert bounded(_chunks(_sheet(b"A1:B2", [(1, [b"A1", b"B1"]), (2, [b"A2", b"B2"])]), size)) is not None


def test_a_row_element_far_below_holding_cells_inside_the_dimension_adds_nothing_to_the_parsed_grid(tmp_path):
    """The dimension bounds the grid the fast reader makes when every cell names its place inside it, whatever row
    elements hold them: what bounded() relies on, checked against the reader itself."""
    import openpyxl
    from python_calamine import CalamineWorkbook

    wb = openpyxl.Workbook()
    wb.active.title = "S"
    for r in (1, 2):
        for c in (1, 2):
            wb.active.cell(r, c).value = f"v{r}{c}"
    plain = tmp_path / "plain.xlsx"
    wb.save(plain)
    with zipfile.ZipFile(plain) as zf:
        xml = zf.read("xl/worksheets/sheet1.xml")
        members = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    assert b'<row r="2">' in xml and b'<dimension ref="A1:B2"' in xml
    members["xl/worksheets/sheet1.xml"] = xml.replace(b'<row r="2">', b'<row r="1048576">').replace(
        b"</sheetData>", b'<row r="1048000" spans="1:16384"/></sheetData>')
    odd = tmp_path / "odd.xlsx"
    with zipfile.ZipFile(odd, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    ext = scan_part(odd, "xl/worksheets/sheet1.xml")
    sheet = CalamineWorkbook.from_path(str(odd)).get_sheet_by_name("S")
    assert (ext.rows, ext.cols) == (2, 2)
    assert len(sheet.to_python(skip_empty_area=False)) <= ext.rows and sheet.width <= ext.cols


def test_a_cell_of_an_unusual_shape_is_scanned():
    xml = HEAD + b'<dimension ref="A1:B2"/><sheetData><row r="1"><c s="1" r="XFD1"><v>1</v></c></row></sheetData></worksheet>'
    assert bounded(_chunks(xml)) is None
    assert scan(_chunks(xml)).cols == 16384


def test_a_part_is_inflated_from_the_package_as_zipfile_reads_it_and_a_wrong_declared_size_is_scanned(tmp_path):
    import io
    import zlib

    from crm_sheets.store.xlsx.extent import _UNUSUAL, _inflate

    xml = _sheet(b"A1:B2", [(r, [b"A%d" % r, b"B%d" % r]) for r in range(1, 3)]) * 1  # a small part
    big = _sheet(b"A1:B40000", [(r, [b"A%d" % r, b"B%d" % r]) for r in range(1, 40001)])  # several chunks
    for data in (xml, big):
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = c.compress(data) + c.flush()
        assert b"".join(_inflate(io.BytesIO(packed), 0, len(packed), len(data), False)) == data
        assert b"".join(_inflate(io.BytesIO(data), 0, len(data), len(data), True)) == data
        for declared in (len(data) - 1, len(data) + 1):
            chunks = list(_inflate(io.BytesIO(packed), 0, len(packed), declared, False))
            assert chunks[-1] == _UNUSUAL and len(b"".join(chunks[:-1])) <= declared
            assert bounded(iter(chunks)) is None
    path = tmp_path / "stored.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", big)
    assert (scan_part(path, "xl/worksheets/sheet1.xml").rows, scan_part(path, "xl/worksheets/sheet1.xml").cols) == (40000, 2)


def test_a_cell_with_a_second_reference_or_any_prefix_is_bounded_by_the_reference_the_reader_takes():
    """The fast reader places a cell by its last r attribute (spaces around '=' or not), and reads <y:c> as a cell
    whatever its namespace: the bound check gives up on such a sheet and the scan's extent covers the cell."""
    for odd in (b'<c r="A2" r="XFD1048576"><v>1</v></c>', b'<c r="A2" t="n" r =  "XFD1048576"><v>1</v></c>',
                b'<y:c xmlns:y="urn:y" r="XFD1048576"><v>1</v></y:c>', b'<c r="A2" r=\'XFD1048576\'><v>1</v></c>'):
        xml = _sheet(b"A1:B2", [(1, [b"A1", b"B1"])]).replace(b"</sheetData>", b'<row r="2">' + odd + b"</row></sheetData>")
        for size in (5, 64, 1 << 20):
            assert bounded(_chunks(xml, size)) is None
            ext = scan(_chunks(xml, size))
            assert (ext.rows, ext.cols) == (1048576, 16384) and ext.too_spread()


def test_a_prefixed_row_without_references_and_a_row_beyond_the_sheets_limit_are_not_capped():
    xml = _sheet(b"A1:B2", [(1, [b"A1"])]).replace(b"</sheetData>", b'<y:row xmlns:y="urn:y" r="900000"><c><v>1</v></c></y:row></sheetData>')
    assert scan(_chunks(xml)).rows == 900000
    xml = _sheet(b"A1:B2", [(1, [b"A1"]), (2, [b"B99999999"])])
    assert bounded(_chunks(xml)) is None and scan(_chunks(xml)).rows == 99999999


def test_text_with_an_equals_sign_or_an_r_attribute_keeps_a_sheet_on_the_bound_check():
    """Only the cell tags are looked at: text that reads like an attribute r is no cell's reference."""
    for text in (b"size = 51-200", b'for r = 2, r="XFD1048576"'):
        xml = _sheet(b"A1:B2", [(1, [b"A1", b"B1"])]).replace(
            b"</sheetData>", b'<row r="2"><c r="A2" t="inlineStr"><is><t>%s</t></is></c></row></sheetData>' % text)
        for size in (5, 64, 1 << 20):
            found = bounded(_chunks(xml, size))
            assert found is not None and (found.rows, found.cols) == (2, 2)
        assert (scan(_chunks(xml)).rows, scan(_chunks(xml)).cols) == (2, 2)


def test_a_second_reference_in_a_tag_longer_than_a_chunk_or_after_a_quoted_gt_is_seen():
    """The usual shape is read to the tag's end: a tag cut by chunks, however long, or with a '>' inside a value,
    never hides an attribute r after it."""
    filler = b' x="' + b"y" * 200 + b'"'
    for odd in (b'<c r="A2" s="1"' + filler + b' r="XFD1048576"><v>1</v></c>', b'<c r="A2" x="a>b" r="XFD1048576"><v>1</v></c>',
                b'<c r="A2" x=">" r="XFD1048576"/>', b'<c r="A2" x=\'">\' r="XFD1048576"/>'):
        xml = _sheet(b"A1:B2", [(1, [b"A1", b"B1"])]).replace(b"</sheetData>", b'<row r="2">' + odd + b"</row></sheetData>")
        for size in (3, 7, 64, 1 << 20):
            assert bounded(_chunks(xml, size)) is None
            ext = scan(_chunks(xml, size))
            assert (ext.rows, ext.cols) == (1048576, 16384) and ext.too_spread()


def test_the_usual_cell_shapes_of_excel_libreoffice_and_openpyxl_stay_on_the_bound_check():
    cells = (b'<c r="A1" s="1" t="s"><v>0</v></c><c r="B1" s="3"/><c r="C1" s="2" t="n" /><c r="D1"><v>1</v></c>'
             b'<c r="E1" t="inlineStr"><is><t>r="XFD1" r = 2</t></is></c><c r="F1" t="str"><f>A1</f><v>x</v></c>')
    xml = HEAD + b'<dimension ref="A1:F1"/><sheetData><row r="1" spans="1:6">' + cells + b"</row></sheetData></worksheet>"
    for size in (5, 64, 1 << 20):
        found = bounded(_chunks(xml, size))
        assert found is not None and (found.rows, found.cols) == (1, 6)
