"""A macro workbook (.xlsm) keeps its real VBA project and its macro button when a job writes to it.

The VBA project is the one xlwings ships in its quickstart workbook (a real project, not stand-in
bytes); XlsxWriter builds a crm-sheets-shaped .xlsm around it with a button that calls a macro.
"""
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
import xlwings

from crm_sheets.model.changeset import CellUpdate, ChangeSet
from crm_sheets.store import open_store
from helpers import grid

QUICKSTART = Path(xlwings.__file__).parent / "quickstart.xlsm"


@pytest.fixture
def macro_book(tmp_path):
    with zipfile.ZipFile(QUICKSTART) as z:
        vba = z.read("xl/vbaProject.bin")
    (tmp_path / "vbaProject.bin").write_bytes(vba)
    path = tmp_path / "crm.xlsm"
    wb = xlsxwriter.Workbook(path, {"strings_to_formulas": False})
    leads = wb.add_worksheet("Leads")
    rows = [["L-00001", "Ana", "Lopez", "ana@example.com", "New"], ["L-00002", "Ben", "Stone", "ben@example.com", "Qualified"]]
    leads.add_table(0, 0, len(rows), 4, {"name": "Leads", "data": rows, "columns": [
        {"header": h} for h in ("ID", "First name", "Last name", "Email", "Status")]})
    leads.insert_button("H2", {"macro": "SampleCall", "caption": "Refresh", "width": 120, "height": 30})
    meta = wb.add_worksheet("_crm_meta")
    for i, (k, v) in enumerate([("Key", "Value"), ("template", "sales"), ("schema_version", 1), ("lang", "en"), ("seq.leads", 3)]):
        meta.write(i, 0, k)
        meta.write(i, 1, v)
    meta.hide()
    wb.add_vba_project(str(tmp_path / "vbaProject.bin"))
    wb.close()
    return path, vba


def _parts(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist()}


def test_a_job_writing_to_an_xlsm_keeps_the_vba_project_and_the_button(macro_book):
    path, vba = macro_book
    before = _parts(path)
    store = open_store(path)
    tables = store.read()
    assert list(tables["leads"].df.index) == ["L-00001", "L-00002"]
    store.apply(ChangeSet(updates=[CellUpdate("leads", "L-00002", "email", "=HYPERLINK(\"http://x\")")]), tables)
    after = _parts(path)
    assert after["xl/vbaProject.bin"] == vba == before["xl/vbaProject.bin"]
    assert "macroEnabled" in after["[Content_Types].xml"].decode()
    vml = [name for name in before if name.endswith(".vml")]
    assert vml and all(after[name] == before[name] for name in vml), "the button's drawing is kept"
    changed = {name for name in before if after.get(name) != before[name]}
    assert changed <= {"xl/worksheets/sheet1.xml", "xl/workbook.xml", "[Content_Types].xml", "xl/_rels/workbook.xml.rels"}
    assert "xl/worksheets/sheet1.xml" in changed
    sheet = after["xl/worksheets/sheet1.xml"].decode()
    assert "<legacyDrawing" in sheet, "the sheet still points at the button"
    rows = grid(path, "Leads")
    assert rows[2][3] == '=HYPERLINK("http://x")', "a string from a job is text, never a formula"
