"""The writer's quick paths give what its general paths give: a row split at C speed reads the same cells as the
regular expression, and a plan's new rows written by layout are the same bytes as rows made cell by cell."""
from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from pathlib import Path

import pytest

from crm_sheets.model import ChangeSet, RowAppend, RowArchive
from crm_sheets.model.values import Text
from crm_sheets.store.xlsx import sheet as sheet_module
from crm_sheets.store.xlsx import writer as writer_module
from crm_sheets.store.xlsx.sheet import SheetEdit
from crm_sheets.store.xlsx.writer import apply_changeset
from test_writer import build_workbook, leads_tables
from helpers import grid

ROWS = [
    '<row r="2"><c r="A2" s="3" t="inlineStr"><is><t>Ana</t></is></c><c r="C2"><v>1.5</v></c><c r="D2" s="4"/></row>',
    '<row r="2" spans="1:3" ht="20" customHeight="1"><c r="A2" t="s"><v>0</v></c><c r="AB2"><f>A1&lt;2</f><v>1</v></c></row>',
    # rich text: <color> and <charset> start like a cell
    '<row r="2"><c r="A2" t="inlineStr"><is><r><rPr><color rgb="FFFF0000"/><charset val="1"/></rPr><t>x</t></r></is></c>'
    '<c r="B2"><v>2</v></c></row>',
    '<row r="2"><c r="A2"><v>1</v></c><c><v>2</v></c><c s="1"/></row>',  # cells without r=""
    '<row r="2"><c s="1" r="A2"><v>1</v></c><c r="B2"><v>2</v></c></row>',  # r="" not first
    '<row r="2">\n  <c r="A2"><v>1</v></c>\n  <c r="B2"><v>2</v></c>\n</row>',  # white space between cells
    '<row r="2"><c r="A2"><v>1</v></c><extLst><ext uri="x"/></extLst></row>',
    '<row r="2"><c r="A2"/><c r="B2" s="2"/></row>',
    '<row r="2"><c r="a2"><v>1</v></c></row>',  # not a reference this writer knows: the general reader's answer
    '<row r="2"/>',
    '<row r="2"><c r="A2"><v>1</v></c><c r="Z7"><v>2</v></c></row>',  # a cell numbered for another row
    # columns whose letters begin with an asked one (Z, B, C, AB): not that column, numbered or not
    '<row r="2"><c r="A2"><v>1</v></c><c r="BA2"><v>2</v></c><c r="CZ2"/><c r="ZZ2"><v>3</v></c><c r="ABC2"/></row>',
]


def _sheet(row: str, p: str = "") -> SheetEdit:
    if p:
        row = row.replace("<row", f"<{p}row").replace("</row>", f"</{p}row>").replace("<c ", f"<{p}c ") \
            .replace("<c>", f"<{p}c>").replace("</c>", f"</{p}c>").replace("<c/>", f"<{p}c/>")
        root = f'<{p}worksheet xmlns:{p[:-1]}="urn:x"><{p}sheetData>{row}</{p}sheetData></{p}worksheet>'
    else:
        root = f"<worksheet><sheetData>{row}</sheetData></worksheet>"
    return SheetEdit("xl/worksheets/sheet1.xml", root.encode())


@pytest.mark.parametrize("p", ["", "x:"])
@pytest.mark.parametrize("row", ROWS)
def test_a_row_of_any_shape_reads_the_same_cells_by_either_path(row: str, p: str, monkeypatch):
    quick = _sheet(row, p)
    found = quick.raw_cells(2)
    monkeypatch.setattr(sheet_module, "_split_cells", lambda row, p: None)
    general = _sheet(row, p)
    assert found == general.raw_cells(2)
    for sheet in (quick, general):  # and an update of the row writes the same row
        sheet._parsed = None
        sheet.put_cells(2, {"B": f'<{p}c r="B2"><v>9</v></{p}c>', "Z": f'<{p}c r="Z2"><v>8</v></{p}c>'})
    assert quick.to_bytes() == general.to_bytes()


def _changes() -> ChangeSet:
    cs = ChangeSet()
    cs.appends.append(RowAppend("leads", "L-00006", {"first_name": "Fay", "last_name": "Wu", "status": "new", "score": 5,
                                                       "created": dt.date(2025, 1, 2), "consent": True}))
    cs.appends.append(RowAppend("leads", "L-00007", {"last_name": Text("=1+1"), "status": "contacted", "email": None,
                                                       "created": dt.datetime(2025, 1, 2, 9, 30), "score": 2.5}))
    cs.appends.append(RowAppend("leads", "L-00008", {"first_name": "Gil", "created": dt.date(2025, 1, 2),
                                                       "not_a_field": "kept out"}))
    cs.appends.append(RowAppend("leads", "L-00009", {"first_name": "Hal", "created": dt.date(2025, 1, 2)}))
    cs.archives.append(RowArchive("leads", "L-00002", "merged", {"merged_into": "L-00001", "reason": "dup"}))
    cs.update("leads", "L-00004", "score", 41)
    cs.update("leads", "L-00003", "email", "cleo@new.example")
    return cs


def _without_the_note(book: Path, out: Path) -> Path:
    """The test workbook without the person's note below the table (new rows then go past every row)."""
    with zipfile.ZipFile(book) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<row r="9".*?</row>', b"", data, flags=re.S)
            dst.writestr(info.filename, data)
    return out


@pytest.mark.parametrize("note", [True, False])
def test_new_rows_written_by_layout_are_the_bytes_of_rows_made_cell_by_cell(note: bool, tmp_path: Path, monkeypatch):
    book = build_workbook(tmp_path / "crm.xlsx")
    if not note:
        book = _without_the_note(book, tmp_path / "plain.xlsx")
    quick, general = tmp_path / "quick.xlsx", tmp_path / "general.xlsx"
    layouts = []
    row_layout = writer_module._Patch._row_layout
    monkeypatch.setattr(writer_module._Patch, "_row_layout", lambda self, *a: layouts.append(a) or row_layout(self, *a))
    apply_changeset(book, quick, _changes(), leads_tables())
    assert len(layouts) == (0 if note else 4)  # one per set of fields; with the note moved down, the general path

    def cells_of(self, st, rows):  # each plan row as cells by column, the general path of _append_rows
        for k, values in enumerate(rows):
            rows[k] = None
            yield self._append_cells(st, values)

    monkeypatch.setattr(writer_module._Patch, "_cells_of", cells_of)
    apply_changeset(book, general, _changes(), leads_tables())
    with zipfile.ZipFile(quick) as a, zipfile.ZipFile(general) as b:
        assert {i.filename: a.read(i) for i in a.infolist()} == {i.filename: b.read(i) for i in b.infolist()}
        sheet = a.read("xl/worksheets/sheet1.xml").decode()
    assert "L-00009" in sheet and "kept out" not in sheet


def test_a_large_sheet_deflated_by_isal_holds_the_parts_zlib_writes(tmp_path: Path, monkeypatch):
    """Large written parts are deflated by ISA-L when it is installed: other compressed bytes, the same parts (content,
    CRC, size), read back cold as the rows written, and not much larger than zlib's level 1."""
    from crm_sheets.store.xlsx import deflate

    assert deflate.fast()  # isal is a dependency: this test would say nothing without it
    book = _without_the_note(build_workbook(tmp_path / "crm.xlsx"), tmp_path / "plain.xlsx")

    def many() -> ChangeSet:  # ~3 MB of new rows: a large part
        cs = ChangeSet()
        for k in range(6, 12006):
            cs.appends.append(RowAppend("leads", f"L-{k:05d}", {"first_name": f"Name {k}", "last_name": "Lastname",
                                                                 "email": f"person{k}@example.com", "status": "new",
                                                                 "created": dt.date(2025, 1, 2), "score": k % 97}))
        return cs

    fast, plain = tmp_path / "fast.xlsx", tmp_path / "zlib.xlsx"
    apply_changeset(book, fast, many(), leads_tables())
    monkeypatch.setattr(deflate, "_isal", None)
    apply_changeset(book, plain, many(), leads_tables())
    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(fast) as a, zipfile.ZipFile(plain) as b:
        assert a.testzip() is None
        assert {i.filename: (i.CRC, i.file_size) for i in a.infolist()} == {i.filename: (i.CRC, i.file_size) for i in b.infolist()}
        assert {i.filename: a.read(i) for i in a.infolist()} == {i.filename: b.read(i) for i in b.infolist()}
        assert a.getinfo(sheet).file_size > 1 << 20
        assert a.read(sheet) != b"" and a.getinfo(sheet).compress_size <= 1.05 * b.getinfo(sheet).compress_size
    rows = grid(fast, "Leads")
    assert len(rows) == 1 + 5 + 12000
    assert rows[-1][:4] == ["L-12005", "Name 12005", "Lastname", "person12005@example.com"]


@pytest.mark.parametrize("cols", [("A", "Z", "AC"), ("B", "C", "AB")])
@pytest.mark.parametrize("p", ["", "x:"])
@pytest.mark.parametrize("row", ROWS)
def test_an_update_written_into_the_rows_text_is_the_row_put_cells_writes(row: str, p: str, cols: tuple[str, ...]):
    """Cells found in the row's text and replaced there (or added where they go: between others or after the last)
    give the row that splitting it into cells gives; a row written otherwise (white space between cells, no r=""
    or not first, anything after the last cell) has no quick answer and takes put_cells."""
    update = {col: f'<{p}c r="{col}2"><v>{k}</v></{p}c>' for k, col in enumerate(cols[:2])} | {cols[2]: None}
    quick, general = _sheet(row, p), _sheet(row, p)
    found = quick.cell_spans(2, update)
    k = ROWS.index(row)
    assert found is not None if k in (0, 1, 2, 7, 11) else found is None if k != 4 else True  # 4: when A is not asked for
    if found is None:
        return
    quick.splice_cells(2, *found, update)
    general.put_cells(2, update)
    assert quick.to_bytes() == general.to_bytes()


def _with_a_formula(wb) -> None:
    wb.get_worksheet_by_name("Leads").write_formula("E6", "=H5*2")  # L-00005's note doubles L-00004's score


def test_updates_below_an_archived_row_land_on_their_rows_and_the_archived_copy_holds_its_update(tmp_path: Path, monkeypatch):
    book = build_workbook(tmp_path / "crm.xlsx", extras=_with_a_formula)
    cs = ChangeSet()
    cs.archives.append(RowArchive("leads", "L-00002", "merged", {"merged_into": "L-00001", "reason": "dup"}))
    cs.update("leads", "L-00002", "score", 99)
    cs.update("leads", "L-00004", "score", 41)
    cs.update("leads", "L-00005", "email", "eve@new.example")
    cs.update("leads", "L-00005", "tags", "VIP")  # a cell the row does not have yet
    cs.update("leads", "L-00001", "first_name", "Anna")
    quick, general = tmp_path / "quick.xlsx", tmp_path / "general.xlsx"
    apply_changeset(book, quick, cs, leads_tables())
    rows = grid(quick, "Leads")
    assert [r[0] for r in rows[1:5]] == ["L-00001", "L-00003", "L-00004", "L-00005"]
    assert rows[1][1] == "Anna" and rows[3][7] == 41 and rows[4][3] == "eve@new.example" and rows[4][8] == "VIP"
    with zipfile.ZipFile(quick) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>H4*2</f>" in sheet  # the formula moved up with its row and follows the row it names
    merged = grid(quick, "Merged")
    assert merged[1][0] == "L-00002" and json.loads(merged[1][5])["Score"] == 99
    # the same package as each updated row split into its cells
    monkeypatch.setattr(SheetEdit, "cell_spans", lambda self, r, cols: None)
    apply_changeset(book, general, cs, leads_tables())
    with zipfile.ZipFile(quick) as a, zipfile.ZipFile(general) as b:
        assert {i.filename: a.read(i) for i in a.infolist()} == {i.filename: b.read(i) for i in b.infolist()}


def test_a_value_written_into_many_rows_keeps_each_rows_own_cell_look(tmp_path: Path, monkeypatch):
    """One value written into every row (a first run scores and grades every lead) is the cell each row split into
    its cells gives: a styled cell keeps its look, a missing cell gets none, a value too long for a cell is not
    written and its cell stays as it was."""
    book = build_workbook(tmp_path / "crm.xlsx")
    cs = ChangeSet()
    for k in range(1, 6):
        rid = f"L-{k:05d}"
        cs.update("leads", rid, "score", 77)
        cs.update("leads", rid, "tags", "VIP")
        cs.update("leads", rid, "first_name", "x" * 40_000 if k == 3 else "Same")
    quick, general = tmp_path / "quick.xlsx", tmp_path / "general.xlsx"
    apply_changeset(book, quick, cs, leads_tables())
    rows = grid(quick, "Leads")
    assert [r[7] for r in rows[1:6]] == [77] * 5 and [r[8] for r in rows[1:6]] == ["VIP"] * 5
    assert [r[1] for r in rows[1:6]] == ["Same", "Same", "Cleo", "Same", "Same"]
    monkeypatch.setattr(SheetEdit, "cell_spans", lambda self, r, cols: None)
    apply_changeset(book, general, cs, leads_tables())
    with zipfile.ZipFile(quick) as a, zipfile.ZipFile(general) as b:
        assert {i.filename: a.read(i) for i in a.infolist()} == {i.filename: b.read(i) for i in b.infolist()}
    styles = re.findall(r'<c r="H[2-6]"( s="\d+")?', part_of(quick, "xl/worksheets/sheet1.xml"))
    assert len(styles) == 5 and all(styles)  # the scores keep their money look


def part_of(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name).decode("utf-8")


@pytest.mark.parametrize("p", ["", "x:"])
def test_rows_are_found_by_their_number_however_their_tag_writes_it(p: str):
    """A row's number is read from r="N" wherever its tag has it (first, after other attributes, on another line);
    a row without one follows the row before it."""
    rows = ['<row r="2"><c r="A2"><v>2</v></c></row>', '<row spans="1:1" r="4"><c r="A4"><v>4</v></c></row>',
            '<row><c r="A5"><v>5</v></c></row>', '<row\n r="7" ht="20"><c r="A7"><v>7</v></c></row>',
            '<row r="9"/>', '<row r="10" x="1"><c r="A10"><v>10</v></c></row>']
    sheet = _sheet("".join(rows), p)
    assert [r for r, _ in sheet.iter_rows(text=False)] == [2, 4, 5, 7, 9, 10]
    for n in (2, 4, 5, 7, 10):
        assert f">{n}</" in sheet.row_text(n)
    assert sheet.row_text(3) is None and sheet.row_text(9).endswith("/>")


def test_rows_written_in_batches_read_back_as_rows_written_one_by_one():
    """WrittenRows.extend (a batch of new rows past the others) and raw_run (rows read back a stretch at a time) give
    what setting and reading each row gives, with rows held as text, in the file, written again or out of order."""
    import random

    from crm_sheets.store.xlsx.spool import WrittenRows

    rng = random.Random(11)
    for budget in (0, 200, 10_000):
        batched, single = WrittenRows(budget=budget), WrittenRows(budget=budget)
        r = 0
        for k in range(40):
            if k % 7 == 6:  # a batch that is not past every row (or out of order): one by one
                batch = [(rng.randint(1, max(r, 1)), f"again {k}"), (rng.randint(1, max(r, 1)), "é" * k)]
            else:
                batch = []
                for _ in range(rng.randint(0, 9)):
                    r += rng.randint(1, 3)
                    batch.append((r, f'<row r="{r}"><c r="A{r}"><v>{k}</v></c></row>' + "é" * rng.randint(0, 2)))
            batched.extend(batch)
            for n, text in batch:
                single[n] = text
        assert sorted(batched) == sorted(single) and len(batched) == len(single)
        numbers = sorted(single)
        assert batched.raw_run(numbers) == b"".join(single.raw(n) for n in numbers)
        assert all(batched[n] == single[n] for n in numbers)
        batched.close()
        single.close()


@pytest.mark.parametrize("xml", [
    '<c r="B2" t="inlineStr"><is><t>Ana</t></is></c>',
    '<c r="C2" s="4"><v>45000</v></c>',
    '<c r="D2" t="b"><v>1</v></c>',
    '<c r="E2"><f>A1&lt;2</f><v>1</v></c>',
    '<c r="F2" t="e"><v>#N/A</v></c>',
])
def test_an_archived_cell_is_the_cell_the_archive_format_makes_field_for_field(xml: str):
    """The writer makes archived cells without the frozen dataclass's __init__: equal, hashed, pickled and
    dumped into the Original row as cells made by it."""
    import pickle
    from dataclasses import astuple, replace

    from crm_sheets.store.core.archive import ArchivedCell, ArchivedRow, dumps
    from crm_sheets.store.xlsx.cells import archived_cell
    from crm_sheets.store.xlsx.sheet import CellXml

    quick = archived_cell("Header", CellXml(xml[6], xml), ["x"], "yyyy-mm-dd" if 's="4"' in xml else None, False)
    made = ArchivedCell(*astuple(quick))
    assert quick == made and hash(quick) == hash(made) and pickle.dumps(quick) == pickle.dumps(made)
    assert dumps(ArchivedRow((quick,))) == dumps(ArchivedRow((made,)))
    assert replace(quick, key="Other") == replace(made, key="Other")
    with pytest.raises(AttributeError):
        quick.value = "changed"  # still frozen
