"""apply_changeset: cell updates, appends, archives and restores written into the sheet XML itself."""
from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from crm_sheets.errors import CrmSheetsError
from crm_sheets.model import ChangeSet, RowAppend, RowArchive, RowRestore, Table, Tables, load_schema
from crm_sheets.model.tables import empty_frame
from crm_sheets.store.xlsx.writer import apply_changeset
from helpers import fresh_copy, grid

LEAD_HEADERS = ["ID", "First name", "Last name", "Email", "My notes", "Status", "Created", "Score", "Tags", "Consent"]
LEAD_FIELDS = {"id": "A", "first_name": "B", "last_name": "C", "email": "D", "status": "F", "created": "G",
               "score": "H", "tags": "I", "consent": "J"}
LEADS = [
    ["L-00001", "Ana", "Silva", "ana@example.com", "met at fair", "New", dt.date(2024, 1, 5), 10, "VIP", True],
    ["L-00002", "Ben", "Jones", "ben@example.com", "", "Contacted", dt.date(2024, 2, 6), 20, "", False],
    ["L-00003", "Cleo", "Martin", "cleo@example.com", "call back", "Qualified", dt.date(2024, 3, 7), 30, "", True],
    ["L-00004", "Dan", "Brown", "dan@example.com", "", "New", dt.date(2024, 4, 8), 40, "Newsletter", False],
    ["L-00005", "Eve", "Stone", "eve@example.com", "likes golf", "New", dt.date(2024, 5, 9), 50, "", True],
]
MERGED_HEADERS = ["Record", "Table", "Merged into", "Merged at", "Reason", "Original row"]


def build_workbook(path: Path, extras=None) -> Path:
    """A crm-sheets shaped workbook: Leads (with a person's own column), Merged, a hidden _crm_meta."""
    wb = xlsxwriter.Workbook(str(path))
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    mine = wb.add_format({"bg_color": "#FFF2CC", "italic": True})
    money = wb.add_format({"num_format": "#,##0", "bold": True})
    ws = wb.add_worksheet("Leads")
    ws.add_table(0, 0, len(LEADS), len(LEAD_HEADERS) - 1, {
        "name": "Leads", "style": "Table Style Medium 2",
        "columns": [{"header": h} for h in LEAD_HEADERS],
    })
    for r, row in enumerate(LEADS, start=1):
        for c, v in enumerate(row):
            if isinstance(v, dt.date):
                ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), date)
            elif c == 4:
                ws.write_string(r, c, v, mine)
            elif c == 7:
                ws.write_number(r, c, v, money)
            else:
                ws.write(r, c, v)
    ws.write(8, 0, "Below the table: a person's note")
    ws.conditional_format("H2:H1000", {"type": "cell", "criteria": ">", "value": 25, "format": mine})
    ws.data_validation("F2:F1000", {"validate": "list", "source": ["New", "Contacted", "Qualified"]})
    ws.set_column("A:J", 14)
    ms = wb.add_worksheet("Merged")
    ms.add_table(0, 0, 1, len(MERGED_HEADERS) - 1, {"name": "Merged", "columns": [{"header": h} for h in MERGED_HEADERS]})
    meta = wb.add_worksheet("_crm_meta")
    for r, row in enumerate([["Key", "Value"], ["template", "sales"], ["lang", "en"], ["seq.leads", 6]]):
        meta.write_row(r, 0, row)
    meta.hide()
    if extras:
        extras(wb)
    wb.close()
    return path


def leads_tables(lang: str = "en") -> Tables:
    schema = load_schema("sales")
    ids = [r[0] for r in LEADS]
    leads = Table(schema.table("leads"), empty_frame(schema.table("leads"), ids), sheet="Leads",
                  rows={rid: i + 2 for i, rid in enumerate(ids)}, columns=dict(LEAD_FIELDS), next_id=6)
    merged_cols = {f: chr(65 + i) for i, f in enumerate(["record", "table", "merged_into", "merged_at", "reason", "data"])}
    merged = Table(schema.table("merged"), empty_frame(schema.table("merged")), sheet="Merged", columns=merged_cols)
    return Tables(schema, {"leads": leads, "merged": merged}, lang=lang, meta={"template": "sales", "seq.leads": 6})




def part(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name).decode("utf-8")


@pytest.fixture(scope="module")
def empty_book(tmp_path_factory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("writer") / "crm.xlsx")


@pytest.fixture
def book(empty_book: Path, tmp_path: Path) -> Path:
    """A new empty sales workbook, built once for this file; each test changes its own copy."""
    return fresh_copy(empty_book, tmp_path)


def test_updates_write_values_of_their_type_and_keep_each_cells_style(book: Path, tmp_path: Path):
    cs = ChangeSet()
    cs.update("leads", "L-00002", "score", 77)
    cs.update("leads", "L-00002", "status", "qualified")
    cs.update("leads", "L-00003", "created", dt.date(2025, 12, 31))
    cs.update("leads", "L-00004", "consent", True)
    cs.update("leads", "L-00005", "tags", "vip, at_risk")
    cs.update("leads", "L-00001", "email", None)
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, cs, leads_tables())
    rows = grid(out, "Leads")
    assert rows[2][7] == 77 and rows[2][5] == "Qualified"
    assert rows[3][6] == dt.date(2025, 12, 31)
    assert rows[4][9] is True
    assert rows[5][8] == "VIP, At risk"
    assert rows[1][3] == ""
    before, after = part(book, "xl/worksheets/sheet1.xml"), part(out, "xl/worksheets/sheet1.xml")
    style_h3 = re.search(r'<c r="H3" s="(\d+)"', before).group(1)
    assert f'<c r="H3" s="{style_h3}"><v>77</v></c>' in after
    assert re.search(r'<c r="G4" s="\d+"><v>46022</v></c>', after)  # 2025-12-31 as a 1900-system serial


def test_dropdown_keys_are_written_as_labels_in_the_workbook_language(book: Path, tmp_path: Path):
    cs = ChangeSet()
    cs.update("leads", "L-00002", "status", "qualified")
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, cs, leads_tables(lang="fr"))
    assert grid(out, "Leads")[2][5] == "Qualifié"


def test_a_string_starting_with_equals_is_text_never_a_formula(book: Path, tmp_path: Path):
    cs = ChangeSet()
    cs.update("leads", "L-00001", "first_name", "=HYPERLINK(\"http://evil\",\"x\")")
    cs.update("leads", "L-00002", "first_name", "+1 555 0100")
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, cs, leads_tables())
    xml = part(out, "xl/worksheets/sheet1.xml")
    assert "<f>" not in xml
    assert grid(out, "Leads")[1][1] == '=HYPERLINK("http://evil","x")'
    assert grid(out, "Leads")[2][1] == "+1 555 0100"


def test_dates_follow_the_1904_date_system_when_the_workbook_uses_it(tmp_path: Path):
    def to_1904(path: Path) -> None:
        src = zipfile.ZipFile(path)
        parts = {i.filename: src.read(i) for i in src.infolist()}
        src.close()
        wb = parts["xl/workbook.xml"].decode()
        parts["xl/workbook.xml"] = re.sub(r"<workbookPr\b", '<workbookPr date1904="1"', wb, count=1).encode()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in parts.items():
                zf.writestr(name, data)

    book = build_workbook(tmp_path / "crm.xlsx")
    to_1904(book)
    cs = ChangeSet()
    cs.update("leads", "L-00001", "created", dt.date(2025, 12, 31))
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, cs, leads_tables())
    assert re.search(r'<c r="G2" s="\d+"><v>44560</v></c>', part(out, "xl/worksheets/sheet1.xml"))


def test_appended_rows_extend_the_table_with_the_last_rows_styles(book: Path, tmp_path: Path):
    cs = ChangeSet()
    cs.appends.append(RowAppend("leads", "L-00006", {"first_name": "Fay", "last_name": "Wu", "status": "new",
                                                       "score": 5, "created": dt.date(2025, 1, 2)}))
    cs.appends.append(RowAppend("leads", "L-00007", {"last_name": "Zed", "status": "contacted"}))
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, cs, leads_tables())
    rows = grid(out, "Leads")
    assert rows[6][:4] == ["L-00006", "Fay", "Wu", ""] and rows[6][5] == "New" and rows[6][7] == 5
    assert rows[7][0] == "L-00007" and rows[7][5] == "Contacted"
    assert rows[8][0] == "Below the table: a person's note"  # people's rows below are left where they are
    table = part(out, "xl/tables/table1.xml")
    assert 'ref="A1:J8"' in table and '<autoFilter ref="A1:J8"' in table
    xml = part(out, "xl/worksheets/sheet1.xml")
    style_e6 = re.search(r'<c r="E6" s="(\d+)"', xml).group(1)
    assert f'<c r="E7" s="{style_e6}"/>' in xml  # the person's column keeps its look on new rows
    assert '<dimension ref="A1:J9"/>' in xml


def test_many_appended_rows_keep_every_text_as_typed_whatever_the_rows_around_it(book: Path, tmp_path: Path):
    # new rows are made a column at a time where a column's texts need no escaping: a text with an ampersand, an
    # underscore, spaces at its ends, a line break or letters beyond ASCII among plain ones must still read back
    # as typed, in batches of any size and at any place among them
    odd = ["R&D <team>", "  two spaces", "trailing ", "line\nbreak", "Zoë Ñúñez", "snake_case _x0041_", "a | b",
           "tab\there", "\u00a0nbsp"]
    n = 1100
    cs = ChangeSet()
    expected = {}
    for k in range(n):
        rid = f"L-{k + 6:05d}"
        last = odd[k // 97 % len(odd)] if k % 97 == 0 or 300 <= k < 310 else f"Name {k}"
        first = "" if k % 513 == 0 else f"First{k}"
        cs.appends.append(RowAppend("leads", rid, {"first_name": first, "last_name": last, "status": "new",
                                                   "created": dt.date(2025, 1, 1) + dt.timedelta(days=k % 40)}))
        expected[rid] = (first, last, dt.date(2025, 1, 1) + dt.timedelta(days=k % 40))
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, cs, leads_tables())
    rows = grid(out, "Leads")
    got = {row[0]: (row[1], row[2], row[6]) for row in rows[6:6 + n]}
    assert got == expected
    xml = part(out, "xl/worksheets/sheet1.xml")
    assert re.search(r'<c r="C\d+"[^>]*t="inlineStr"><is><t xml:space="preserve">  two spaces</t>', xml)
    assert "R&amp;D &lt;team&gt;" in xml and "snake_case _x005F_x0041_" in xml


def test_archived_row_moves_whole_to_merged_and_rows_below_move_up(book: Path, tmp_path: Path):
    cs = ChangeSet()
    cs.archives.append(RowArchive("leads", "L-00002", "merged", {
        "merged_into": "L-00001", "merged_at": dt.datetime(2025, 3, 1, 9, 30), "reason": "same email"}))
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, cs, leads_tables())
    rows = grid(out, "Leads")
    assert [r[0] for r in rows[1:6]] == ["L-00001", "L-00003", "L-00004", "L-00005", ""]
    assert rows[2][4] == "call back"  # the person's column moved with its row
    assert rows[8][0] == "Below the table: a person's note"
    assert 'ref="A1:J5"' in part(out, "xl/tables/table1.xml")
    merged = grid(out, "Merged")
    assert merged[1][:3] == ["L-00002", "leads", "L-00001"]
    assert merged[1][3] == dt.datetime(2025, 3, 1, 9, 30)
    data = json.loads(merged[1][5])
    assert data["Email"] == "ben@example.com" and data["Score"] == 20 and data["My notes"] == ""
    # the neutral archive format: plain values, type tags and number formats, no style or shared-string index
    assert data["_format"] == 2 and data["Created"] == "2024-02-06"
    assert data["_cells"]["Score"] == {"c": "H", "t": "number", "nf": "#,##0"}
    assert data["_cells"]["Created"] == {"c": "G", "t": "date", "nf": "yyyy-mm-dd"}
    assert data["_cells"]["Consent"] == {"c": "J", "t": "bool"}
    assert 'ref="A1:F2"' in part(out, "xl/tables/table2.xml")


def cells_of_row(path: Path, sheet: str, row: int) -> list[tuple]:
    """(value or formula, number format) of each cell of a sheet row, as a spreadsheet program shows them."""
    import openpyxl

    ws = openpyxl.load_workbook(path)[sheet]
    return [(c.value, c.number_format) for c in ws[row]]


def test_archive_then_restore_gives_back_the_same_values_formulas_and_number_formats(tmp_path: Path):
    def a_formula(wb):  # a person's formula in their own column of the archived row
        wb.get_worksheet_by_name("Leads").write_formula(3, 4, '=B4&" "&C4', None, "Cleo Martin")

    book = build_workbook(tmp_path / "crm.xlsx", a_formula)
    archived = tmp_path / "archived.xlsx"
    cs = ChangeSet(archives=[RowArchive("leads", "L-00003", "merged", {"merged_into": "L-00001", "reason": "dup"})])
    apply_changeset(book, archived, cs, leads_tables())
    data = json.loads(grid(archived, "Merged")[1][5])
    assert data["_cells"]["My notes"] == {"c": "E", "t": "text", "f": 'B4&" "&C4'}
    tables = leads_tables()
    tables["leads"].rows = {"L-00001": 2, "L-00002": 3, "L-00004": 4, "L-00005": 5}
    tables["merged"].rows = {}
    restored = tmp_path / "restored.xlsx"
    apply_changeset(archived, restored, ChangeSet(restores=[RowRestore("merged", "L-00003", "leads")]), tables)
    assert cells_of_row(restored, "Leads", 6) == cells_of_row(book, "Leads", 4)
    assert grid(restored, "Leads")[5] == grid(book, "Leads")[3]  # the formula's value too
    assert cells_of_row(book, "Leads", 4)[6] == (dt.datetime(2024, 3, 7), "yyyy-mm-dd")
    assert grid(restored, "Merged")[1:] == [] or all(v == "" for v in grid(restored, "Merged")[1])
    assert 'ref="A1:J6"' in part(restored, "xl/tables/table1.xml")


# The Original row of L-00003 as the .xlsx writer recorded it before the neutral format (style and
# shared-string indices of this very workbook).
OLD_ARCHIVED_ROW = (
    '{"ID":"L-00003","First name":"Cleo","Last name":"Martin","Email":"cleo@example.com","My notes":"call back",'
    '"Status":"Qualified","Created":45358,"Score":30,"Consent":true,"_cells":{"ID":{"c":"A","t":"text","i":23},'
    '"First name":{"c":"B","t":"text","i":24},"Last name":{"c":"C","t":"text","i":25},"Email":{"c":"D","t":"text",'
    '"i":26},"My notes":{"c":"E","s":1,"t":"text","i":27},"Status":{"c":"F","t":"text","i":28},"Created":{"c":"G",'
    '"s":2,"t":"n"},"Score":{"c":"H","s":3,"t":"n"},"Consent":{"c":"J","t":"b"}}}'
)


def test_a_row_archived_in_the_old_xlsx_format_still_restores_exactly(tmp_path: Path):
    def old_archive(wb):
        wb.get_worksheet_by_name("Merged").write_row(1, 0, ["L-00003", "leads", "L-00001", None, "dup", OLD_ARCHIVED_ROW])

    book = build_workbook(tmp_path / "crm.xlsx", old_archive)
    tables = leads_tables()
    restored = tmp_path / "restored.xlsx"
    apply_changeset(book, restored, ChangeSet(restores=[RowRestore("merged", "L-00003", "leads")]), tables)
    original_row = re.search(r'<row r="4"[^>]*>(.*?)</row>', part(book, "xl/worksheets/sheet1.xml")).group(1)
    new_row = re.search(r'<row r="7"[^>]*>(.*?)</row>', part(restored, "xl/worksheets/sheet1.xml")).group(1)
    assert new_row == original_row.replace('4"', '7"')  # same values, styles and shared strings
    assert cells_of_row(restored, "Leads", 7) == cells_of_row(book, "Leads", 4)
    assert grid(restored, "Merged")[1:] == [] or all(v == "" for v in grid(restored, "Merged")[1])


def test_sequences_update_the_meta_sheet(book: Path, tmp_path: Path):
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, ChangeSet(sequences={"leads": 42, "deals": 3}), leads_tables())
    rows = {r[0]: r[1] for r in grid(out, "_crm_meta")}
    assert rows["seq.leads"] == 42 and rows["seq.deals"] == 3 and rows["template"] == "sales"


def test_an_update_to_a_missing_record_is_a_clear_error(book: Path, tmp_path: Path):
    cs = ChangeSet()
    cs.update("leads", "L-09999", "score", 1)
    with pytest.raises(CrmSheetsError, match="L-09999"):
        apply_changeset(book, tmp_path / "out.xlsx", cs, leads_tables())


@pytest.mark.slow
def test_read_apply_and_read_back_a_workbook_built_by_crm_sheets(tmp_path: Path):
    import pandas as pd

    from crm_sheets.builder.build import build_workbook as new_workbook
    from crm_sheets.store import read_workbook

    ids = [f"L-{i:05d}" for i in range(1, 21)]
    df = pd.DataFrame({"first_name": [f"Name{i}" for i in range(20)], "last_name": [f"Last{i}" for i in range(20)],
                       "status": ["new"] * 20}, index=pd.Index(ids, name="id"))
    book = new_workbook(tmp_path / "crm.xlsx", "sales", lang="fr", data={"leads": df})
    tables = read_workbook(book)
    leads = tables["leads"]
    cs = ChangeSet()
    cs.update("leads", "L-00003", "status", "qualified")
    cs.update("leads", "L-00004", "score", 88)
    new_id = leads.allocate_id()
    cs.appends.append(RowAppend("leads", new_id, {"last_name": "=Nouveau", "status": "contacted"}))
    cs.archives.append(RowArchive("leads", "L-00010", "merged", {"merged_into": "L-00001", "reason": "doublon"}))
    cs.sequences["leads"] = leads.next_id
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, cs, tables)
    again = read_workbook(out)
    df2 = again["leads"].df
    assert df2.loc["L-00003", "status"] == "qualified" and df2.loc["L-00004", "score"] == 88
    assert df2.loc[new_id, "last_name"] == "=Nouveau" and df2.loc[new_id, "status"] == "contacted"
    assert "L-00010" not in df2.index and len(df2) == 20
    assert again["merged"].df["record"].tolist() == ["L-00010"]
    assert int(again.meta["seq.leads"]) == leads.next_id
    assert grid(out, "Prospects")[3][[h for h in grid(out, "Prospects")[0]].index("Statut")] == "Qualifié"


# ---------------------------------------------------------------------------------------------
# Large sheets: streamed, never whole in memory


def _edit_both_ways(data: bytes):
    from crm_sheets.store.xlsx.sheet import SheetEdit

    whole = SheetEdit("xl/worksheets/sheet1.xml", data)
    pieces = SheetEdit("xl/worksheets/sheet1.xml", chunks=[data[i:i + 7] for i in range(0, len(data), 7)],
                       size_hint=1 << 40)  # as large as can be: spooled to a temporary file
    assert pieces.spooled and not whole.spooled
    return whole, pieces


def test_a_worksheet_read_in_small_pieces_gives_the_same_rows_and_output_as_read_whole(book: Path):
    data = part(book, "xl/worksheets/sheet1.xml").encode()
    whole, pieces = _edit_both_ways(data)
    assert list(pieces.rows.items()) == list(whole.rows.items()) and len(whole.rows) == 7
    assert (pieces.head, pieces.tail) == (whole.head, whole.tail)
    assert pieces.to_bytes() == whole.to_bytes()
    for sheet in (whole, pieces):
        sheet.put_cells(3, {"H": '<c r="H3"><v>99</v></c>'})
        sheet.move_rows({2: None, 3: 2, 4: 3, 5: 4, 6: 5})
        sheet.put_cells(6, {"A": '<c r="A6" t="inlineStr"><is><t>L-00006</t></is></c>'})
    assert pieces.to_bytes() == whole.to_bytes()
    rows = list(pieces.chunks(block=200))[1:-1]  # between the head and the tail: rows, about 200 bytes at a time
    assert len(rows) > 1 and max(map(len, rows)) < 200 + max(len(r) for _, r in pieces.rows.items())
    out = whole.to_bytes().decode()
    assert '<row r="2"' in out and '<c r="H2"><v>99</v></c>' in out and "L-00002" not in out
    assert '<row r="9"' in out and '<row r="7"' not in out  # rows below the table keep their place
    whole.close()
    pieces.close()


def test_an_unchanged_stretch_of_rows_is_copied_byte_for_byte(book: Path):
    data = part(book, "xl/worksheets/sheet1.xml").encode()
    whole, pieces = _edit_both_ways(data)
    pieces.put_cells(4, {"H": '<c r="H4"><v>1</v></c>'})
    out = pieces.to_bytes()
    rows = re.findall(rb"<row\b.*?</row>", data, re.S)
    assert rows[0] + rows[1] + rows[2] in out and rows[4] + rows[5] in out and rows[3] not in out


def test_a_large_sheet_is_spooled_and_written_like_a_small_one(book: Path, tmp_path: Path, monkeypatch):
    """Spooled: the part read back from a temporary file, and the rows written (updated, moved, appended) kept
    in one instead of in memory."""
    from crm_sheets.store.xlsx import spool

    cs = lambda: ChangeSet(  # noqa: E731
        updates=[],
        appends=[RowAppend("leads", "L-00006", {"last_name": "Wu", "status": "new"})],
        archives=[RowArchive("leads", "L-00002", "merged", {"merged_into": "L-00001", "reason": "dup"})],
    )
    small, large = tmp_path / "small.xlsx", tmp_path / "large.xlsx"
    changes = cs()
    changes.update("leads", "L-00004", "score", 41)
    apply_changeset(book, small, changes, leads_tables())
    monkeypatch.setattr(spool, "SPOOL_IN_MEMORY", 0)
    changes = cs()
    changes.update("leads", "L-00004", "score", 41)
    apply_changeset(book, large, changes, leads_tables())
    with zipfile.ZipFile(small) as a, zipfile.ZipFile(large) as b:
        assert a.testzip() is None and b.testzip() is None
        assert {i.filename: a.read(i) for i in a.infolist()} == {i.filename: b.read(i) for i in b.infolist()}
    assert grid(large, "Leads")[3][7] == 41


def test_rows_out_of_order_or_without_numbers_are_written_in_order():
    from crm_sheets.store.xlsx.sheet import SheetEdit

    xml = (b'<worksheet><dimension ref="A1:B3"/><sheetData><row r="3"><c r="A3"><v>3</v></c></row>'
           b'<row r="1"><c r="A1"><v>1</v></c></row><row><c><v>2</v></c></row></sheetData></worksheet>')
    sheet = SheetEdit("xl/worksheets/sheet1.xml", xml)
    assert [r for r, _ in sheet.rows.items()] == [1, 2, 3]
    sheet.put_cells(2, {"B": '<c r="B2"><v>9</v></c>'})
    out = sheet.to_bytes().decode()
    assert re.findall(r'<row r="(\d)"', out) == ["1", "2", "3"]
    assert '<row r="2"><c r="A2"><v>2</v></c><c r="B2"><v>9</v></c></row>' in out


def test_formula_looking_text_from_outside_gets_its_cells_look_plus_the_quote_prefix(book: Path, tmp_path: Path):
    import openpyxl

    from crm_sheets.model.values import literal

    cs = ChangeSet()
    cs.update("leads", "L-00001", "first_name", literal('=HYPERLINK("http://evil","x")'))
    cs.update("leads", "L-00002", "first_name", "Bob")  # ordinary text of the same run
    cs.appends.append(RowAppend("leads", "L-00006", {"first_name": literal("@Fay"), "last_name": literal("-Wu-")}))
    cs.appends.append(RowAppend("leads", "L-00007", {"first_name": "Gus", "last_name": literal("+Zed")}))
    out = tmp_path / "out.xlsx"
    apply_changeset(book, out, cs, leads_tables())
    ws = openpyxl.load_workbook(out)["Leads"]
    for ref, value in (("B2", '=HYPERLINK("http://evil","x")'), ("B7", "@Fay"), ("C7", "-Wu-"), ("C8", "+Zed")):
        assert (ws[ref].value, ws[ref].data_type, ws[ref].quotePrefix) == (value, "s", True), ref
    for ref in ("B3", "B8", "C6"):
        assert not ws[ref].quotePrefix, ref
    assert part(out, "xl/styles.xml").count('quotePrefix="1"') == 1  # one derived format for the one look these cells had


def test_updates_named_in_any_row_order_write_the_same_file_as_in_the_change_sets_order(book: Path, tmp_path: Path):
    """Rows are updated in row order, but the cell formats updates add to styles.xml (a quote prefix for text that
    starts like a formula, a date format) come in the order the change set names them, as they always did: the
    same change set writes the same bytes whichever rows are plain."""
    from crm_sheets.model.values import literal

    def updates(plain_first: bool) -> ChangeSet:
        cs = ChangeSet()
        if plain_first:
            cs.update("leads", "L-00004", "score", 41)
        cs.update("leads", "L-00004", "first_name", "Dana")
        cs.update("leads", "L-00005", "score", literal("-5"))  # the money format prefixed: added first
        cs.update("leads", "L-00003", "first_name", literal("+b"))  # a cell without a format: prefixed second
        cs.update("leads", "L-00002", "score", 21)
        cs.update("leads", "L-00001", "email", "ana@example.org")
        if not plain_first:
            cs.update("leads", "L-00004", "score", 41)
        return cs

    outs = []
    for k, plain_first in enumerate((True, False)):
        out = tmp_path / f"out{k}.xlsx"
        apply_changeset(book, out, updates(plain_first), leads_tables())
        outs.append(out)
    xml = part(outs[0], "xl/worksheets/sheet1.xml")
    assert part(outs[1], "xl/worksheets/sheet1.xml") == xml
    assert part(outs[1], "xl/styles.xml") == part(outs[0], "xl/styles.xml")
    style = {ref: int(s) for ref, s in re.findall(r'<c r="([A-Z]+\d+)" s="(\d+)"', xml)}
    assert style["H6"] < style["B4"]  # added in the order of the change set, not of the rows
    rows = grid(outs[0], "Leads")
    assert (rows[5][7], rows[3][1], rows[4][1], rows[4][7], rows[2][7]) == ("-5", "+b", "Dana", 41, 21)


@pytest.mark.slow
def test_a_restored_cell_holding_formula_looking_text_keeps_its_look_and_gets_the_quote_prefix(tmp_path: Path):
    import openpyxl

    def notes(wb):  # a person's text in their own italic column, starting like a formula
        mine = wb.add_format({"bg_color": "#FFF2CC", "italic": True})
        wb.get_worksheet_by_name("Leads").write_string(3, 4, "=call back", mine)

    book = build_workbook(tmp_path / "crm.xlsx", notes)
    archived = tmp_path / "archived.xlsx"
    cs = ChangeSet(archives=[RowArchive("leads", "L-00003", "merged", {"merged_into": "L-00001", "reason": "dup"})])
    apply_changeset(book, archived, cs, leads_tables())
    tables = leads_tables()
    tables["leads"].rows = {"L-00001": 2, "L-00002": 3, "L-00004": 4, "L-00005": 5}
    tables["merged"].rows = {}
    restored = tmp_path / "restored.xlsx"
    apply_changeset(archived, restored, ChangeSet(restores=[RowRestore("merged", "L-00003", "leads")]), tables)
    cell = openpyxl.load_workbook(restored)["Leads"]["E6"]
    assert (cell.value, cell.data_type, cell.quotePrefix, cell.font.i) == ("=call back", "s", True, True)
    assert not openpyxl.load_workbook(restored)["Leads"]["B6"].quotePrefix


def test_the_quote_prefixed_format_is_a_copy_appended_once_and_found_again_in_a_prefixed_styles_part():
    from crm_sheets.store.xlsx.styles import ensure_quote_prefix

    styles = (
        '<x:styleSheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<x:cellXfs count="2"><x:xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<x:xf numFmtId="14" fontId="1" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
        '<x:alignment vertical="top"/></x:xf></x:cellXfs></x:styleSheet>'
    ).encode()
    once, i = ensure_quote_prefix(styles, 1)
    assert i == 2 and b'<x:cellXfs count="3">' in once
    assert b'<x:xf quotePrefix="1" numFmtId="14" fontId="1" fillId="0" borderId="0" xfId="0" applyAlignment="1">' \
           b'<x:alignment vertical="top"/></x:xf></x:cellXfs>' in once
    assert ensure_quote_prefix(once, 1) == (once, 2)  # a later run finds it again
    assert ensure_quote_prefix(once, 2) == (once, 2)  # already quoted: itself
    _, plain = ensure_quote_prefix(once, None)
    assert plain == 3


def test_the_quote_prefix_stays_with_its_value_not_with_the_column_or_the_next_rows(book: Path, tmp_path: Path):
    import openpyxl

    from crm_sheets.model.values import literal

    first = ChangeSet()
    first.appends.append(RowAppend("leads", "L-00006", {"first_name": literal("=Fay"), "last_name": "Wu"}))
    once = tmp_path / "once.xlsx"
    apply_changeset(book, once, first, leads_tables())
    tables = leads_tables()
    tables["leads"].rows["L-00006"] = 7
    second = ChangeSet()
    second.update("leads", "L-00006", "first_name", "Fay")  # corrected by hand: ordinary text again
    second.appends.append(RowAppend("leads", "L-00007", {"last_name": "Zed"}))  # copies L-00006's looks
    twice = tmp_path / "twice.xlsx"
    apply_changeset(once, twice, second, tables)
    assert openpyxl.load_workbook(once)["Leads"]["B7"].quotePrefix
    ws = openpyxl.load_workbook(twice)["Leads"]
    assert ws["B7"].value == "Fay" and not ws["B7"].quotePrefix
    assert ws["C8"].value == "Zed" and not ws["B8"].quotePrefix  # an empty cell a person may type a formula into


def test_rows_written_to_the_temporary_file_in_any_order_read_back_as_written():
    """Rows written past the text budget (in order, out of order, written again) read back as the last text given,
    with the same numbers and count as a dict of them."""
    import random

    from crm_sheets.store.xlsx.spool import WrittenRows

    rng = random.Random(7)
    for budget in (0, 50):
        rows, kept = WrittenRows(budget=budget), {}
        for n in range(400):
            r = n if n < 150 else rng.randint(0, 300)  # ascending first, as a first run writes, then anywhere
            text = f'<row r="{r}"><c r="A{r}"><v>{n}</v></c></row>' + "é" * rng.randint(0, 3)
            rows[r] = text
            kept[r] = text
        assert len(rows) == len(kept) and sorted(rows) == sorted(kept)
        assert dict(rows.items()) == kept and all(rows.raw(r) == kept[r].encode() for r in kept)
        assert 301 not in rows and -1 not in rows
        # the part is streamed out in row order, whatever order the rows went into the file in
        order = sorted(kept)
        assert rows.raw_run(order) == "".join(kept[r] for r in order).encode()
        assert rows.raw_run(order[::3]) == "".join(kept[r] for r in order[::3]).encode()
        rows.close()


def test_removing_rows_renumbers_as_the_dict_of_every_move_did():
    """Removal (the moves of removed rows worked out on demand) gives each row's new number and its inverse as the
    dict of every moved row did."""
    import random

    from crm_sheets.store.xlsx.sheet import Removal

    rng = random.Random(3)
    for _ in range(500):
        end = rng.randint(1, 30)
        gone = sorted(rng.sample(range(1, end + 1), rng.randint(1, end)))
        moves: dict[int, int | None] = {}
        shift = 0
        for r in range(gone[0], end + 1):
            if r in gone:
                moves[r], shift = None, shift + 1
            else:
                moves[r] = r - shift
        inverse = {new: old for old, new in moves.items() if new is not None}
        removal = Removal(gone, end)
        assert dict(removal.items()) == moves
        for r in range(end + 3):
            assert (r in removal) == (r in moves) and removal.get(r, r) == moves.get(r, r)
            assert removal.inverse.get(r) == inverse.get(r)
