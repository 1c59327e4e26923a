"""Fidelity: applying a change set keeps every part it does not own byte for byte, and the result opens."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from crm_sheets.model import ChangeSet, RowAppend, RowArchive
from crm_sheets.model.sheets import Cell, ChartSeries, ChartSpec, SheetSpec
from crm_sheets.store.xlsx.package import open_package
from crm_sheets.store.xlsx.writer import apply_changeset
from helpers import grid
from test_writer import build_workbook, leads_tables, part

VBA_BYTES = bytes(range(256)) * 40  # not a real VBA project: the test checks it is copied, not run


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def rich_content(tmp_path: Path, vba: bool):
    png = tmp_path / "dot.png"
    png.write_bytes(tiny_png())
    vba_bin = tmp_path / "vbaProject.bin"
    vba_bin.write_bytes(VBA_BYTES)

    def add(wb):
        ws = wb.add_worksheet("Notes")
        bold = wb.add_format({"bold": True, "font_color": "#9C0006"})
        ws.write_row(0, 0, ["Month", "Revenue", "Cost"], bold)
        for i, (m, rev, cost) in enumerate([("Jan", 10, 4), ("Feb", 14, 6), ("Mar", 9, 5), ("Apr", 17, 7)], start=1):
            ws.write_row(i, 0, [m, rev, cost])
            ws.write_formula(i, 3, f"=B{i + 1}-C{i + 1}")
        chart = wb.add_chart({"type": "line"})
        chart.add_series({"name": "Revenue", "categories": "=Notes!$A$2:$A$5", "values": "=Notes!$B$2:$B$5"})
        ws.insert_chart("F2", chart)
        ws.insert_image("F20", str(png))
        ws.write_comment("A1", "A person's comment")
        ws.insert_textbox("K2", "A text box someone drew", {"width": 200, "height": 60})
        ws.add_sparkline("E2", {"range": "Notes!B2:C2"})
        ws.conditional_format("B2:B5", {"type": "data_bar"})
        ws.data_validation("C2:C5", {"validate": "integer", "criteria": ">", "value": 0})
        ws.set_landscape()
        ws.print_area("A1:D5")
        ws.repeat_rows(0)
        ws.set_header("&CCRM notes")
        wb.define_name("Revenue", "=Notes!$B$2:$B$5")
        if vba:
            wb.add_vba_project(str(vba_bin))
            ws.insert_button("H30", {"macro": "Refresh", "caption": "Refresh"})

    return add


def dashboard() -> SheetSpec:
    rows = [
        [Cell("Dashboard", "title")],
        [Cell("Refreshed by crm-sheets", "subtitle")],
        [],
        [Cell("Stage", "header"), Cell("Deals", "header"), Cell("Amount", "header")],
        ["Prospecting", 4, Cell(12000.5, "money", currency="EUR")],
        ["Proposal", 3, Cell(8000, "money", currency="EUR")],
        ["Won", 2, Cell(15000, "money", currency="EUR")],
        [Cell("Win rate", "kpi_label"), Cell(0.4, "kpi_percent")],
        [Cell("Open Leads", link="Leads!A1"), Cell("Docs", link="https://example.com/docs")],
        [Cell("=1+1 is text"), Cell(None, formula="SUM(B5:B7)")],
    ]
    return SheetSpec(
        name="Dashboard", key="dashboard", rows=rows, widths={0: 18, 1: 10, 2: 14}, freeze=(4, 0),
        autofilter="A4:C7", merges=["A1:C1"], tab_color="1F4E78",
        charts=[ChartSpec("column", "Amount by stage", (ChartSeries("Amount", "A5:A7", "C5:C7"),), "E2"),
                ChartSpec("pie", "Deals by stage", (ChartSeries("Deals", "A5:A7", "B5:B7"),), "E20")],
    )


def full_changeset() -> ChangeSet:
    cs = ChangeSet()
    cs.update("leads", "L-00001", "score", 99)
    cs.update("leads", "L-00004", "first_name", "=1+2")
    cs.appends.append(RowAppend("leads", "L-00006", {"first_name": "Fay", "last_name": "Wu", "status": "new"}))
    cs.archives.append(RowArchive("leads", "L-00002", "merged", {"merged_into": "L-00001", "reason": "same email"}))
    cs.sequences["leads"] = 7
    cs.sheets.append(dashboard())
    return cs


OWNED = {
    "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml",  # Leads, Merged, _crm_meta
    "xl/tables/table1.xml", "xl/tables/table2.xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
    "[Content_Types].xml", "docProps/app.xml", "xl/styles.xml",
}


@pytest.fixture
def rich_book(tmp_path: Path) -> Path:
    return build_workbook(tmp_path / "crm.xlsm", extras=rich_content(tmp_path, vba=True))


def test_every_part_the_change_set_does_not_own_is_copied_byte_for_byte(rich_book: Path, tmp_path: Path):
    out = tmp_path / "out.xlsm"
    apply_changeset(rich_book, out, full_changeset(), leads_tables())
    with zipfile.ZipFile(rich_book) as a, zipfile.ZipFile(out) as b:
        before = {i.filename: i for i in a.infolist()}
        after = {i.filename: i for i in b.infolist()}
        assert "xl/vbaProject.bin" in before and any(n.startswith("xl/drawings/vmlDrawing") for n in before)
        for name, info in before.items():
            if name in OWNED:
                continue
            assert name in after, f"{name} was lost"
            assert b.read(name) == a.read(name), f"{name} changed"
            assert (after[name].CRC, after[name].compress_size, after[name].compress_type) == (
                info.CRC, info.compress_size, info.compress_type), f"{name} was recompressed"
        assert b.read("xl/vbaProject.bin") == VBA_BYTES
        added = set(after) - set(before)
        assert {"xl/worksheets/sheet5.xml", "xl/drawings/drawing2.xml", "xl/charts/chart2.xml", "xl/charts/chart3.xml"} <= added
    # the list of sheets grew by one, at the end, and nothing else moved
    with open_package(out) as pkg:
        assert [s.name for s in pkg.sheets] == ["Leads", "Merged", "_crm_meta", "Notes", "Dashboard"]
        assert [s.state for s in pkg.sheets][2] == "hidden"
        assert {d.name for d in pkg.defined_names} >= {"Revenue", "_xlnm.Print_Area", "_xlnm.Print_Titles"}
    xml = part(out, "xl/worksheets/sheet1.xml")
    assert "<f>" not in xml
    assert 'fullCalcOnLoad="1"' in part(out, "xl/workbook.xml")
    assert "<vt:lpstr>Dashboard</vt:lpstr>" in part(out, "docProps/app.xml")


def test_the_changed_sheet_keeps_peoples_columns_validation_and_conditional_formats(rich_book: Path, tmp_path: Path):
    out = tmp_path / "out.xlsm"
    apply_changeset(rich_book, out, full_changeset(), leads_tables())
    before, after = part(rich_book, "xl/worksheets/sheet1.xml"), part(out, "xl/worksheets/sheet1.xml")
    for block in ("<conditionalFormatting", "<dataValidations", "<cols>", "<tableParts"):
        assert before[before.index(block):].split(">", 1)[0] == after[after.index(block):].split(">", 1)[0]
    assert before[before.index("<conditionalFormatting"):] == after[after.index("<conditionalFormatting"):]


def test_calamine_reads_the_new_values(rich_book: Path, tmp_path: Path):
    out = tmp_path / "out.xlsm"
    apply_changeset(rich_book, out, full_changeset(), leads_tables())
    leads = grid(out, "Leads")
    assert [r[0] for r in leads[1:6]] == ["L-00001", "L-00003", "L-00004", "L-00005", "L-00006"]
    assert leads[1][7] == 99 and leads[3][1] == "=1+2" and leads[5][5] == "New"
    assert leads[2][4] == "call back"
    assert grid(out, "Merged")[1][0] == "L-00002"
    assert {r[0]: r[1] for r in grid(out, "_crm_meta")}["seq.leads"] == 7
    dash = grid(out, "Dashboard")
    assert dash[0][0] == "Dashboard" and dash[4][2] == 12000.5 and dash[9][0] == "=1+1 is text"
    notes = grid(out, "Notes")
    assert notes[2][:3] == ["Feb", 14, 6]


def test_replacing_an_owned_sheet_twice_keeps_its_place_and_does_not_grow_styles(rich_book: Path, tmp_path: Path):
    once, twice = tmp_path / "once.xlsm", tmp_path / "twice.xlsm"
    cs = ChangeSet(sheets=[dashboard()])
    apply_changeset(rich_book, once, cs, leads_tables())
    apply_changeset(once, twice, ChangeSet(sheets=[dashboard()]), leads_tables())
    assert part(once, "xl/styles.xml") == part(twice, "xl/styles.xml")
    with open_package(once) as a, open_package(twice) as b:
        assert [(s.name, s.sheet_id, s.part) for s in a.sheets] == [(s.name, s.sheet_id, s.part) for s in b.sheets]
    with zipfile.ZipFile(twice) as zf:
        names = zf.namelist()
    assert sum(n.startswith("xl/charts/chart") for n in names) == 3  # Notes' chart + our two, not four
    assert sum(n.startswith("xl/drawings/drawing") and n.endswith(".xml") for n in names) == 2


@pytest.mark.slow
def test_a_replaced_sheet_keeps_its_chart_and_drawing_part_names_run_after_run(rich_book: Path, tmp_path: Path):
    once, twice, thrice = tmp_path / "once.xlsm", tmp_path / "twice.xlsm", tmp_path / "thrice.xlsm"
    apply_changeset(rich_book, once, ChangeSet(sheets=[dashboard()]), leads_tables())
    apply_changeset(once, twice, ChangeSet(sheets=[dashboard()]), leads_tables())
    apply_changeset(twice, thrice, ChangeSet(sheets=[dashboard()]), leads_tables())
    with zipfile.ZipFile(once) as a, zipfile.ZipFile(twice) as b, zipfile.ZipFile(thrice) as c:
        assert sorted(a.namelist()) == sorted(b.namelist()) == sorted(c.namelist())
        assert a.read("[Content_Types].xml") == b.read("[Content_Types].xml") == c.read("[Content_Types].xml")
        for name in b.namelist():
            if name.startswith(("xl/charts/", "xl/drawings/")):
                assert b.read(name) == c.read(name), name
    assert {"xl/charts/chart2.xml", "xl/charts/chart3.xml", "xl/drawings/drawing2.xml"} <= set(zipfile.ZipFile(thrice).namelist())


@pytest.mark.slow
def test_an_owned_sheet_that_renders_as_it_is_leaves_the_workbook_untouched(rich_book: Path, tmp_path: Path):
    once, twice = tmp_path / "once.xlsm", tmp_path / "twice.xlsm"
    apply_changeset(rich_book, once, ChangeSet(sheets=[dashboard()]), leads_tables())
    apply_changeset(once, twice, ChangeSet(sheets=[dashboard()]), leads_tables())
    assert twice.read_bytes() == once.read_bytes()
    changed = dashboard()
    changed.rows[4][1] = 5
    thrice = tmp_path / "thrice.xlsm"
    apply_changeset(twice, thrice, ChangeSet(sheets=[changed]), leads_tables())
    assert grid(thrice, "Dashboard")[4][1] == 5


def test_kpi_figures_line_up_with_their_captions_and_money_axes_read_without_decimals(rich_book: Path, tmp_path: Path):
    out = tmp_path / "out.xlsm"
    apply_changeset(rich_book, out, ChangeSet(sheets=[dashboard()]), leads_tables())
    with open_package(out) as pkg:
        sheet = part(out, pkg.sheet("Dashboard").part)
    xfs = re.findall(r"<xf\b[^>]*?(?:/>|>.*?</xf>)", re.search(r"<cellXfs.*?</cellXfs>", part(out, "xl/styles.xml"), re.S).group())
    for ref in ("A8", "B8"):  # "Win rate" (kpi_label) over 0.4 (kpi_percent)
        style = int(re.search(rf'<c r="{ref}" s="(\d+)"', sheet).group(1))
        assert 'horizontal="left"' in xfs[style]
    charts = [part(out, f"xl/charts/chart{i}.xml") for i in (2, 3)]
    money = next(c for c in charts if "Amount by stage" in c)
    assert re.search(r'<c:valAx>.*<c:numFmt formatCode="#,##0" sourceLinked="0"/>.*</c:valAx>', money)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_the_result_and_draws_the_new_chart_sheet(tmp_path: Path):
    book = build_workbook(tmp_path / "crm.xlsx", extras=rich_content(tmp_path, vba=False))
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, full_changeset(), leads_tables())
    profile = tmp_path / "lo-profile"
    pdf_dir = tmp_path / "pdf"
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf", "--outdir",
         str(pdf_dir), str(out)], check=True, capture_output=True, timeout=180,
    )
    pdf = pdf_dir / "out.pdf"
    assert pdf.exists() and pdf.stat().st_size > 5000
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
        pages = sorted(tmp_path.glob("page*.png"))
        assert pages
    # LibreOffice reads the workbook back: the dashboard values and the chart survive a round trip
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "xlsx", "--outdir",
         str(tmp_path / "lo"), str(out)], check=True, capture_output=True, timeout=180,
    )
    lo = tmp_path / "lo" / "out.xlsx"
    assert grid(lo, "Dashboard")[4][2] == 12000.5
    with zipfile.ZipFile(lo) as zf:
        charts = [n for n in zf.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) >= 3


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_a_workbook_saved_by_libreoffice_is_patched_as_well_as_our_own(tmp_path: Path):
    book = build_workbook(tmp_path / "crm.xlsx")
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}", "--headless", "--convert-to", "xlsx",
         "--outdir", str(tmp_path / "lo"), str(book)], check=True, capture_output=True, timeout=180,
    )
    lo = tmp_path / "lo" / "crm.xlsx"
    out = tmp_path / "out.xlsx"
    apply_changeset(lo, out, full_changeset(), leads_tables())
    leads = grid(out, "Leads")
    assert [r[0] for r in leads[1:6]] == ["L-00001", "L-00003", "L-00004", "L-00005", "L-00006"]
    assert leads[1][7] == 99 and leads[3][1] == "=1+2"
    assert grid(out, "Merged")[1][0] == "L-00002"
    assert grid(out, "Dashboard")[4][2] == 12000.5
