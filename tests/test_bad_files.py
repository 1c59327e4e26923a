"""Damaged and hostile workbooks get one clean line and exit 2, never a traceback, and are never modified;
a stray cell far from the table costs no memory and is not a record. The bad files are made from a real
small workbook built by `crm-sheets new`, one part damaged at a time.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.errors import DamagedWorkbook
from crm_sheets.store.xlsx import grid as xlsx_grids
from crm_sheets.store.xlsx.package import open_package
from crm_sheets.store import read_workbook
from crm_sheets.workbook import new_workbook

NOW = dt.datetime(2026, 11, 2, 9, 0)
LEADS = 50


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return new_workbook(tmp_path_factory.mktemp("pristine") / "crm.xlsx", sample_leads=LEADS, now=NOW)


def sheet_part(path: Path, sheet: str) -> str:
    with open_package(path) as pkg:
        return pkg.sheet(sheet).part


def rewrite_part(src: Path, dst: Path, part: str, change) -> Path:
    """A copy of the workbook with one part's bytes changed (every other part as it was)."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            data = zi.read(info)
            zo.writestr(info.filename, change(data) if info.filename == part else data)
    return dst


def first_cell_text(text: bytes):
    """Replace the sheet's first cell with an inline string holding ``text`` (raw XML bytes)."""
    def change(data: bytes) -> bytes:
        start = data.index(b"<c r=\"A1\"")
        end = data.index(b"</c>", start) + 4
        return data[:start] + b'<c r="A1" t="inlineStr"><is><t>' + text + b"</t></is></c>" + data[end:]
    return change


def add_cell(ref: str, row: int, text: str = "stray"):
    def change(data: bytes) -> bytes:
        cell = f'<row r="{row}"><c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c></row>'.encode()
        return data.replace(b"</sheetData>", cell + b"</sheetData>", 1)
    return change


def corrupt_deflate(src: Path, dst: Path, part: str) -> Path:
    shutil.copy(src, dst)
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo(part)
    with open(dst, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
        f.seek(at)
        chunk = f.read(32)
        f.seek(at)
        f.write(bytes(b ^ 0x5A for b in chunk))
    return dst


def understate_size(src: Path, dst: Path, part: str, size: int = 1000) -> Path:
    """The part inflates to more than its local and central headers declare."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo(part)
    struct.pack_into("<L", data, info.header_offset + 22, size)
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46: pos + 46 + name_len]) == part.encode():
            struct.pack_into("<L", data, pos + 24, size)
        pos = data.find(b"PK\x01\x02", pos + 4)
    dst.write_bytes(bytes(data))
    return dst


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def invoke(*args: str):
    return CliRunner().invoke(cli, [*args, "--now", NOW.isoformat()], catch_exceptions=True)


def assert_one_clean_line(result, path: Path, *words: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert path.name in lines[0] and "error:" in lines[0]
    for word in words:
        assert word in lines[0], lines[0]


DAMAGE = {
    "invalid-utf8": ("first_cell", b"caf\xff\xfe"),
    "nul-character": ("first_cell", b"a&#0;b"),
    "undefined-entity": ("first_cell", b"a&crm;b"),
    "corrupt-deflate": ("deflate", None),
    "part-larger-than-declared": ("size", None),
}


def damaged_copy(pristine: Path, tmp_path: Path, kind: str, part: str) -> Path:
    how, arg = DAMAGE[kind]
    dst = tmp_path / f"{kind}.xlsx"
    if how == "first_cell":
        return rewrite_part(pristine, dst, part, first_cell_text(arg))
    if how == "deflate":
        return corrupt_deflate(pristine, dst, part)
    return understate_size(pristine, dst, part)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(DAMAGE))
@pytest.mark.parametrize("command", [["check"], ["run", "--dry-run"], ["run"]])
def test_a_damaged_sheet_is_exit_2_with_one_line_naming_file_sheet_and_part_and_is_left_untouched(pristine, tmp_path, kind, command):
    part = sheet_part(pristine, "Leads")
    bad = damaged_copy(pristine, tmp_path, kind, part)
    before = digest(bad)
    result = invoke(*command, str(bad))
    assert_one_clean_line(result, bad, "'Leads'", part, "restore")
    assert digest(bad) == before
    assert not list(tmp_path.glob(".crm-backups/*")), "a refused file gets no backup and no write"


@pytest.mark.parametrize("kind", ["invalid-utf8", "nul-character", "undefined-entity", "corrupt-deflate"])
def test_a_damaged_shared_strings_part_is_named_in_the_error(pristine, tmp_path, kind):
    part = "xl/sharedStrings.xml"
    if DAMAGE[kind][0] == "first_cell":
        bad = rewrite_part(pristine, tmp_path / "bad.xlsx", part,
                           lambda d: d.replace(b"<t>", b"<t>" + DAMAGE[kind][1], 1))
    else:
        bad = damaged_copy(pristine, tmp_path, kind, part)
    result = invoke("check", str(bad))
    assert_one_clean_line(result, bad, part)


def test_the_cause_is_said_in_words_a_person_can_search(pristine, tmp_path):
    part = sheet_part(pristine, "Leads")
    with pytest.raises(DamagedWorkbook, match="undefined entity at line"):
        read_workbook(damaged_copy(pristine, tmp_path, "undefined-entity", part))
    with pytest.raises(DamagedWorkbook, match="Bad CRC-32"):
        read_workbook(damaged_copy(pristine, tmp_path, "corrupt-deflate", part))


def test_a_table_part_with_a_non_numeric_header_count_is_a_clean_error(pristine, tmp_path):
    bad = rewrite_part(pristine, tmp_path / "bad.xlsx", "xl/tables/table1.xml",
                       lambda d: d.replace(b"<table ", b'<table headerRowCount="x" ', 1)
                       if b"headerRowCount" not in d else d.replace(b'headerRowCount="1"', b'headerRowCount="x"'))
    result = invoke("check", str(bad))
    assert_one_clean_line(result, bad)


@pytest.mark.parametrize("ref,row", [("XFD1048576", 1048576), ("A1048576", 1048576)])
def test_a_stray_cell_far_from_the_table_is_not_a_lead_and_is_named(pristine, tmp_path, ref, row):
    bad = rewrite_part(pristine, tmp_path / "stray.xlsx", sheet_part(pristine, "Leads"), add_cell(ref, row))
    tables = read_workbook(bad)
    assert len(tables["leads"].df) == LEADS
    assert not (tables["leads"].df == "stray").any().any()
    assert any(f"Leads!{ref}" in note and "not read" in note for note in tables.notes), tables.notes


def read_as_without_worker(monkeypatch, stray: Path, damaged: Path):
    """Read ``stray`` and fail on ``damaged`` with sheets parsed ahead in a worker and with every sheet parsed in
    this thread; assert both give the same tables, notes, findings and error; return (notes, findings, error)."""
    seen = {}
    for threads in ("0", "1"):
        monkeypatch.setenv("CRM_SHEETS_READ_THREADS", threads)
        tables = read_workbook(stray)
        with pytest.raises(DamagedWorkbook) as failed:
            read_workbook(damaged)
        seen[threads] = ({n: t.df for n, t in tables.tables.items()}, tables.notes, tables.read_findings,
                         str(failed.value))
    (frames, *rest), (alone, *rest_alone) = seen["1"], seen["0"]
    assert list(frames) == list(alone) and rest == rest_alone
    for name, df in frames.items():
        pd.testing.assert_frame_equal(df, alone[name])
    return tuple(rest)


@pytest.mark.parametrize("sheet", ["Accounts", "Activities", "Orders"])
def test_sheets_parsed_ahead_in_a_worker_read_and_fail_as_when_parsed_one_by_one(pristine, tmp_path, monkeypatch, sheet):
    """The data sheets are parsed ahead in a worker thread (each checked for far-away cells first): a stray cell
    or a damaged part in any of them, early or late, reads and fails exactly as when every sheet is parsed here."""
    stray = rewrite_part(pristine, tmp_path / "stray.xlsx", sheet_part(pristine, sheet), add_cell("XFD1048576", 1048576))
    damaged = damaged_copy(pristine, tmp_path, "undefined-entity", sheet_part(pristine, sheet))
    notes, _findings, error = read_as_without_worker(monkeypatch, stray, damaged)
    assert any(f"{sheet}!XFD1048576" in note for note in notes), notes
    assert f"'{sheet}'" in error and "undefined entity" in error


@pytest.mark.parametrize("slow_worker", [False, True])
def test_strays_and_damage_in_several_sheets_read_and_fail_in_sheet_order_whichever_thread_parses_them(
        pristine, tmp_path, monkeypatch, slow_worker):
    """The large sheets are parsed first in a worker, the small ones before them here, and small sheets parsed here
    while a worker's parse is awaited (``slow_worker``: always): cells far away in several sheets are named in the
    order of the sheets, and of several damaged sheets the first is the one named, as when every sheet is parsed
    here in turn."""
    from crm_sheets.store.xlsx.grid import XlsxGrids

    if slow_worker:
        parse = XlsxGrids._parse_in_worker

        def slowly(self, sheet, spread):
            time.sleep(0.3)
            return parse(self, sheet, spread)

        monkeypatch.setattr(XlsxGrids, "_parse_in_worker", slowly)
    sheets = ["Accounts", "Leads", "Activities", "Products", "Orders"]  # in the order of their tables
    stray, damaged = pristine, pristine
    for i, sheet in enumerate(sheets):
        stray = rewrite_part(stray, tmp_path / f"stray{i}.xlsx", sheet_part(pristine, sheet),
                             add_cell("XFD1048576", 1048576, f"stray {sheet}"))
    for i, sheet in enumerate(reversed(sheets[1:])):
        damaged = rewrite_part(damaged, tmp_path / f"damaged{i}.xlsx", sheet_part(pristine, sheet),
                               first_cell_text(DAMAGE["undefined-entity"][1]))
    notes, _findings, error = read_as_without_worker(monkeypatch, stray, damaged)
    assert [next(s for s in sheets if f"{s}!XFD1048576" in note) for note in notes if "XFD1048576" in note] == sheets
    assert "'Leads'" in error and "undefined entity" in error


@pytest.mark.parametrize("cell", [
    b'<c foo=">" r="XFD1048576" t="inlineStr"><is><t>stray</t></is></c>',  # '>' in a value before r
    b"<c foo=' r=\"A1\"' r=\"XFD1048576\" t=\"inlineStr\"><is><t>stray</t></is></c>",  # a fake r in a value
    b'<c  r = "XFD1048576"  t="inlineStr"><is><t>stray</t></is></c>',  # spaces around =
])
def test_a_far_cell_hidden_behind_odd_attributes_is_still_found(pristine, tmp_path, cell):
    def change(data: bytes) -> bytes:
        return data.replace(b"</sheetData>", b'<row r="1048576">' + cell + b"</row></sheetData>", 1)

    bad = rewrite_part(pristine, tmp_path / "odd.xlsx", sheet_part(pristine, "Leads"), change)
    tables = read_workbook(bad)
    assert len(tables["leads"].df) == LEADS
    assert any("Leads!XFD1048576" in note for note in tables.notes), tables.notes


@pytest.mark.parametrize("ref", ["B200000", "AA150000"])  # past the grid a sheet may always have
def test_a_far_reference_inside_a_near_row_is_found_where_the_reader_would_place_it(pristine, tmp_path, ref):
    # The row element says row 3, the cell's own reference a row far below: the fast reader places the cell by
    # its reference, so a scan trusting the row element would let it build a grid down to that row
    def change(data: bytes) -> bytes:
        cell = f'<c r="{ref}" t="inlineStr"><is><t>stray</t></is></c>'.encode()
        return re.sub(rb'(<row r="3"[^>]*>.*?)(</row>)', lambda m: m.group(1) + cell + m.group(2), data, count=1, flags=re.S)

    bad = rewrite_part(pristine, tmp_path / "inside.xlsx", sheet_part(pristine, "Leads"), change)
    tables = read_workbook(bad)
    assert len(tables["leads"].df) == LEADS
    assert not (tables["leads"].df == "stray").any().any()
    assert any(f"Leads!{ref}" in note and "not read" in note for note in tables.notes), tables.notes


_CHILD_READ = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a grid of billions of cells fails at once
    from crm_sheets.store import read_workbook
    from crm_sheets.errors import CrmSheetsError
    try:
        tables = read_workbook(sys.argv[1])
    except CrmSheetsError as exc:
        print(json.dumps({"error": str(exc)}))
    else:
        df = tables["leads"].df
        print(json.dumps({"leads": len(df), "stray": bool((df == "stray").any().any()), "notes": list(tables.notes)}))
""")


def read_in_child(path: Path) -> dict:
    """The read of a crafted workbook in its own process: an abort there fails this test instead of ending the run."""
    done = subprocess.run([sys.executable, "-c", _CHILD_READ, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the read ended the process ({done.returncode}): {done.stderr[-300:]}"
    return json.loads(done.stdout)


_STRAY = b't="inlineStr"><is><t>stray</t></is></c>'


@pytest.mark.parametrize("cell, ref", [
    (b'<c r="B3" r="XFD1048576" ' + _STRAY, "XFD1048576"),  # the reader places a cell by its last r
    (b'<c r="B3" s="1" r = "XFD1048576" ' + _STRAY, "XFD1048576"),
    (b'<c r="B3"\n\tr\n=\n"XFD1048576" ' + _STRAY, "XFD1048576"),
    (b'<c r="B3"r="XFD1048576" ' + _STRAY, "XFD1048576"),  # no space: the reader still takes it
    (b'<c r="B3" t="inlineStr" r=\'XFD1048576\'><is><t>stray</t></is></c>', "XFD1048576"),
    (b'<c r="B3" s="1" x="a>b" r="XFD1048576" ' + _STRAY, "XFD1048576"),  # a '>' inside a value ends no tag
    (b'<x:c xmlns:x="urn:any" r="XFD1048576" t="inlineStr"><x:is><x:t>stray</x:t></x:is></x:c>', "XFD1048576"),
    (b'<c r="xfd1048576" ' + _STRAY, "XFD1048576"),
    (b'<c r="B99999999" ' + _STRAY, "B99999999"),  # beyond the sheet's last row
    (b'<c r="A4294967295" ' + _STRAY, "A4294967295"),  # ten digits and more: the reader's numbers wrap around
    (b'<c r="A99999999999999999999" ' + _STRAY, "A99999999999999999999"),
    (b'<c r="AAAAAAAAAAAAAAAA1" ' + _STRAY, "AAAAAAAAAAAAAAAA1"),  # more letters than any sheet has
])
def test_a_far_cell_placed_by_its_last_reference_or_with_any_prefix_is_found_and_not_read(pristine, tmp_path, cell, ref):
    # Each of these once made the fast reader ask for a grid of billions of cells (the process aborted)
    def change(data: bytes) -> bytes:
        return re.sub(rb'(<row r="3"[^>]*>.*?)(</row>)', lambda m: m.group(1) + cell + m.group(2), data, count=1, flags=re.S)

    bad = rewrite_part(pristine, tmp_path / "odd.xlsx", sheet_part(pristine, "Leads"), change)
    read = read_in_child(bad)
    assert read.get("leads") == LEADS, read
    assert not read["stray"]
    assert any(f"Leads!{ref}" in note and "not read" in note for note in read["notes"]), read["notes"]


@pytest.mark.parametrize("change, problem", [
    (lambda d: d.replace(b'<row r="3"', b'<row r="0"', 1), "row component"),
    (lambda d: re.sub(rb'(<row r="3"[^>]*>)', rb'\1<c r="A0"><v>1</v></c>', d, count=1), "row component"),
    (lambda d: re.sub(rb'(<row r="3"[^>]*>)', rb'\1<c r="A-5"><v>1</v></c>', d, count=1), "alphanumeric"),
    (lambda d: re.sub(rb'(<row r="3"[^>]*>)', rb'\1<c r="x!y"><v>1</v></c>', d, count=1), "alphanumeric"),
])
def test_a_row_or_cell_reference_the_reader_cannot_place_is_a_damaged_sheet_named_in_one_line(pristine, tmp_path, change, problem):
    read = read_in_child(rewrite_part(pristine, tmp_path / "odd.xlsx", sheet_part(pristine, "Leads"), change))
    assert "'Leads'" in read.get("error", "") and problem in read["error"], read


def test_cells_without_references_count_from_the_cell_before_them(pristine, tmp_path):
    # A row of 20,000 cells without r attributes placed after a far row: calamine places them one after the other
    cells = b'<c t="inlineStr"><is><t>x</t></is></c>' * 20_000

    def change(data: bytes) -> bytes:
        return data.replace(b"</sheetData>", b'<row r="1048576">' + cells + b"</row></sheetData>", 1)

    bad = rewrite_part(pristine, tmp_path / "rless.xlsx", sheet_part(pristine, "Leads"), change)
    tables = read_workbook(bad)
    assert len(tables["leads"].df) == LEADS
    assert any("Leads!A1048576" in note and "20,000 cells" in note for note in tables.notes), tables.notes


@pytest.mark.slow
def test_check_lists_the_far_away_cell_it_did_not_read_as_a_warning(pristine, tmp_path):
    bad = rewrite_part(pristine, tmp_path / "stray.xlsx", sheet_part(pristine, "Leads"), add_cell("XFD1048576", 1048576))
    result = invoke("check", "--dry-run", "--json", str(bad))
    assert result.exit_code in (0, 1), result.output
    findings = [f for job in json.loads(result.output)["results"] for f in job["findings"]]
    [far] = [f for f in findings if f["type"] == "cell-outside-table"]
    assert far["cell"] == "Leads!XFD1048576" and far["table"] == "leads" and far["severity"] == "warning"
    assert "ends near row 51, column AB" in far["message"] and "delete the rest" in far["message"]


def test_a_cell_far_right_on_a_short_sheet_is_read_as_it_is_cheap_and_is_no_field(pristine, tmp_path):
    # 52 rows x 16,384 columns is under a million cells: read as it is, and a column without a header is no field
    bad = rewrite_part(pristine, tmp_path / "right.xlsx", sheet_part(pristine, "Leads"), add_cell("XFD2", 2))
    tables = read_workbook(bad)
    assert len(tables["leads"].df) == LEADS
    assert not (tables["leads"].df == "stray").any().any()


def test_blank_rows_inside_a_table_and_rows_typed_a_little_below_it_are_still_records(pristine, tmp_path):
    part = sheet_part(pristine, "Leads")
    # A lead typed 40 rows below the table, past blank rows: part of the table, not a stray cell.
    bad = rewrite_part(pristine, tmp_path / "below.xlsx", part, add_cell("B100", 100, "Typed Below"))
    tables = read_workbook(bad)
    assert len(tables["leads"].df) == LEADS + 1
    assert tables.notes == [] or not any("not read" in n for n in tables.notes)


def test_a_lying_dimension_element_changes_nothing(pristine, tmp_path):
    part = sheet_part(pristine, "Leads")
    bad = rewrite_part(pristine, tmp_path / "dim.xlsx", part,
                       lambda d: __import__("re").sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', d, 1))
    assert len(read_workbook(bad)["leads"].df) == LEADS


def test_cells_spread_too_far_to_read_even_without_strays_are_refused_with_what_to_do(pristine, tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx_grids, "MAX_GRID", 100)
    bad = rewrite_part(pristine, tmp_path / "wide.xlsx", sheet_part(pristine, "Leads"), add_cell("A1048576", 1048576))
    with pytest.raises(DamagedWorkbook, match="too far apart to be read.*delete the empty rows"):
        read_workbook(bad)


@pytest.mark.slow
def test_a_real_run_keeps_the_stray_cell_where_it_was_and_adds_no_record(pristine, tmp_path):
    part = sheet_part(pristine, "Leads")
    bad = rewrite_part(pristine, tmp_path / "stray.xlsx", part, add_cell("A1048576", 1048576, "keep me"))
    result = invoke("run", str(bad))
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    with zipfile.ZipFile(bad) as zf:
        xml = zf.read(part)
    assert b'r="A1048576"' in xml and b"keep me" in xml
    clean = shutil.copy(pristine, tmp_path / "clean.xlsx")
    assert invoke("run", str(clean)).exit_code in (0, 1)
    assert list(read_workbook(bad)["leads"].df.index) == list(read_workbook(clean)["leads"].df.index)


@pytest.mark.slow
@pytest.mark.parametrize("ref", ["XFD1048576", "A1048576"])
def test_a_stray_cell_costs_bounded_memory_in_a_separate_process(pristine, tmp_path, ref):
    """Measured in a child process (calamine used to abort the whole process asking for 512 GB)."""
    bad = rewrite_part(pristine, tmp_path / "stray.xlsx", sheet_part(pristine, "Leads"), add_cell(ref, 1048576))
    # The child's own peak: VmHWM belongs to its own memory map. ru_maxrss is not: Linux keeps it across exec, so
    # a child started from a test process that has grown to 400 MB would report that process's size.
    script = textwrap.dedent(f"""
        import resource, sys
        from crm_sheets.store import read_workbook
        t = read_workbook({str(bad)!r})
        try:
            with open("/proc/self/status") as f:
                peak = int(next(l for l in f if l.startswith("VmHWM:")).split()[1])
        except OSError:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(len(t["leads"].df), peak)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    leads, peak_kb = map(int, done.stdout.split())
    assert leads == LEADS
    assert peak_kb < 400_000, f"peak memory {peak_kb / 1024:.0f} MB reading a {LEADS}-lead workbook"
