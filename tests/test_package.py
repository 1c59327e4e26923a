"""open_package: what a workbook package holds, and hostile or wrong files refused with a clear error."""
from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import pytest

from crm_sheets.errors import NotAWorkbook, UnsafeWorkbook
from crm_sheets.model import ChangeSet
from crm_sheets.store.xlsx.package import open_package
from crm_sheets.store.xlsx.writer import apply_changeset
from test_writer import build_workbook, leads_tables

WORKBOOK = (
    b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    b'<sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets>'
    b'<sheet name="&lol3;" sheetId="1"/></sheets></workbook>'
)


def make_zip(path: Path, parts: dict[str, bytes] | list[tuple[str, bytes]]) -> Path:
    items = parts.items() if isinstance(parts, dict) else parts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we write on purpose
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in items:
                zf.writestr(name, data)
    return path


def test_the_package_lists_sheets_tables_content_types_and_defined_names(tmp_path: Path):
    def extras(wb):
        wb.define_name("Hot", "=Leads!$H$2:$H$6")

    book = build_workbook(tmp_path / "crm.xlsx", extras)
    with open_package(book) as pkg:
        assert [(s.name, s.sheet_id, s.state) for s in pkg.sheets] == [
            ("Leads", 1, "visible"), ("Merged", 2, "visible"), ("_crm_meta", 3, "hidden")]
        leads = pkg.sheet("leads")  # Excel sheet names are case-insensitive
        assert leads is not None and leads.part == "xl/worksheets/sheet1.xml" and leads.rid.startswith("rId")
        (table,) = pkg.tables(leads)
        assert (table.part, table.name, table.display_name, table.ref) == ("xl/tables/table1.xml", "Leads", "Leads", "A1:J6")
        assert pkg.content_types.type_of("xl/worksheets/sheet1.xml").endswith("worksheet+xml")
        assert pkg.content_types.type_of("xl/_rels/workbook.xml.rels").endswith("relationships+xml")
        assert [(d.name, d.value) for d in pkg.defined_names] == [("Hot", "Leads!$H$2:$H$6")]
        assert pkg.date1904 is False


@pytest.mark.slow
def test_a_zip_bomb_is_refused_without_inflating_it(tmp_path: Path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", WORKBOOK)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(200):  # 200 MB of zeros, about 200 KB once compressed
                f.write(chunk)
    with pytest.raises(UnsafeWorkbook, match=r"sheet1\.xml inflates .* times .*zip bomb"):
        open_package(path)


def test_more_than_a_thousand_parts_are_refused(tmp_path: Path):
    path = make_zip(tmp_path / "many.xlsx", {"xl/workbook.xml": WORKBOOK, **{f"xl/x{i}.xml": b"<x/>" for i in range(1000)}})
    with pytest.raises(UnsafeWorkbook, match="1001 parts"):
        open_package(path)


def test_duplicate_part_names_are_refused(tmp_path: Path):
    path = make_zip(tmp_path / "dup.xlsx", [("xl/workbook.xml", WORKBOOK), ("xl/workbook.xml", LAUGHS)])
    with pytest.raises(UnsafeWorkbook, match="xl/workbook.xml appears twice"):
        open_package(path)


def test_xml_with_entities_is_refused(tmp_path: Path):
    path = make_zip(tmp_path / "laughs.xlsx", {"xl/workbook.xml": LAUGHS})
    with pytest.raises(UnsafeWorkbook, match="DTD or entities"):
        open_package(path)


def test_a_worksheet_with_a_dtd_is_refused_before_it_is_patched(tmp_path: Path):
    book = build_workbook(tmp_path / "crm.xlsx")
    with zipfile.ZipFile(book) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY e "boom">]>', 1)
    hostile = make_zip(tmp_path / "hostile.xlsx", parts)
    cs = ChangeSet()
    cs.update("leads", "L-00001", "score", 1)
    with pytest.raises(UnsafeWorkbook, match="sheet1.xml"):
        apply_changeset(hostile, tmp_path / "out.xlsx", cs, leads_tables())


def test_a_text_file_named_xlsx_is_not_a_workbook(tmp_path: Path):
    path = tmp_path / "notes.xlsx"
    path.write_text("name,email\nAna,ana@example.com\n")
    with pytest.raises(NotAWorkbook, match="not a zip package") as err:
        open_package(path)
    assert not isinstance(err.value, UnsafeWorkbook)
    assert "save it as .xlsx" in str(err.value)


def test_a_zip_without_a_workbook_part_is_not_a_workbook(tmp_path: Path):
    path = make_zip(tmp_path / "doc.xlsx", {"word/document.xml": b"<w/>"})
    with pytest.raises(NotAWorkbook, match="no xl/workbook.xml"):
        open_package(path)


def test_a_missing_file_and_an_encrypted_workbook_say_what_to_do(tmp_path: Path):
    with pytest.raises(NotAWorkbook, match="no such file"):
        open_package(tmp_path / "nope.xlsx")
    ole = tmp_path / "locked.xlsx"
    ole.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024))
    with pytest.raises(NotAWorkbook, match="password-protected"):
        open_package(ole)
