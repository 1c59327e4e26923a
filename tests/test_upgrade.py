"""upgrade: custom fields from the Fields sheet and the template's new tables added to an existing workbook,
every cell people have kept, the Excel tables and validations as the builder makes them, twice is once.
"""
from __future__ import annotations

import hashlib
import html
import re
import shutil
import struct
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from crm_sheets.builder import build_workbook
from crm_sheets.errors import SchemaError
from crm_sheets.model.changeset import ChangeSet, RowAppend
from crm_sheets.model.schema import load_schema
from crm_sheets.store.xlsx.package import member_bytes, open_package
from crm_sheets.store import read_workbook
from crm_sheets.store.xlsx import XlsxStore
from crm_sheets.upgrade import AddedColumn, AddedTable, upgrade
from helpers import calamine, fresh_copy, grids

LEADS = pd.DataFrame(
    {
        "first_name": ["Ana", "Bob", "Chloé"],
        "last_name": ["Lopez", "Martin", "Durand"],
        "email": ["ana@acme.io", "bob@globex.com", "chloe@initech.fr"],
        "company": ["Acme", "Globex", "Initech"],
        "engagement": [3.0, 0.0, 12.5],
    },
    index=pd.Index(["L-00001", "L-00002", "L-00003"], name="id"),
)

# One custom field of each type people can add: (name, title, type, options, required, description)
CUSTOM = [
    ("seats", "Seats", "number", None, False, "How many seats they need."),
    ("budget", "Budget", "money", None, False, "Yearly budget."),
    ("nickname", None, "text", None, False, None),
    ("mobile", "Mobile", "phone", None, False, None),
    ("billing_email", "Billing email", "email", None, False, None),
    ("hq", "Headquarters", "location", None, False, None),
    ("tier", "Tier", "dropdown", "Gold, Silver, Bronze", True, "Account tier."),
    ("vip", "VIP", "checkbox", None, False, None),
    ("met_on", "Met on", "date", None, False, None),
]


@pytest.fixture
def built(built_book) -> Path:
    return built_book(leads=LEADS)


@pytest.fixture
def workbook(built, tmp_path) -> Path:
    return fresh_copy(built, tmp_path)


def add_fields(path: Path, rows, table: str = "Leads") -> None:
    """Type rows into the Fields sheet the way a person would, through the store."""
    store = XlsxStore(path)
    tables = store.read()
    changes = ChangeSet()
    for i, (name, title, ftype, options, required, description) in enumerate(rows):
        changes.appends.append(RowAppend("fields", f"new{i}", {
            "table": table, "name": name, "title": title, "type": ftype, "options": options,
            "required": required, "description": description}))
    store.apply(changes, tables)


def sheet_xml(path: Path, sheet: str) -> str:
    with open_package(path) as pkg:
        return pkg.read(pkg.sheet(sheet).part).decode("utf-8")


def table_xml(path: Path, sheet: str) -> str:
    with open_package(path) as pkg:
        return pkg.read(pkg.tables(pkg.sheet(sheet))[0].part).decode("utf-8")


def validations(xml: str, column: str) -> list[str]:
    return [m.group() for m in re.finditer(r"<dataValidation\b[^>]*?(?:/>|>.*?</dataValidation>)", xml, re.S)
            if re.search(rf'sqref="{column}\d', m.group())]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def raw_members(path: Path, names: list[str]) -> dict[str, bytes]:
    """Zip members as stored (compressed), read from their local headers."""
    out = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        for name in names:
            info = zf.getinfo(name)
            f.seek(info.header_offset + 26)
            n, extra = struct.unpack("<HH", f.read(4))
            f.seek(info.header_offset + 30 + n + extra)
            out[name] = f.read(info.compress_size)
    return out


def col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def put_raw_cells(path: Path, sheet: str, cells: dict[str, str]) -> None:
    """A person's own text typed beside a table (written straight into the sheet XML, as Excel would)."""
    with open_package(path) as pkg:
        part = pkg.sheet(sheet).part
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    xml = members[part].decode("utf-8")
    for ref, text in cells.items():
        row = int(re.sub(r"[A-Z]", "", ref))
        cell = f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'
        m = re.search(rf'<row r="{row}"[^>]*?(/>|>.*?</row>)', xml, re.S)
        if m is None:
            nxt = next((mm for mm in re.finditer(r'<row r="(\d+)"', xml) if int(mm.group(1)) > row), None)
            at = nxt.start() if nxt else xml.index("</sheetData>")
            xml = xml[:at] + f'<row r="{row}">{cell}</row>' + xml[at:]
        elif m.group(1) == "/>":
            xml = xml[: m.end() - 2] + f">{cell}</row>" + xml[m.end():]
        else:
            xml = xml[: m.end() - len("</row>")] + cell + xml[m.end() - len("</row>"):]
    members[part] = xml.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_upgrade_adds_a_column_for_each_custom_field_type_inside_the_excel_table(workbook):
    add_fields(workbook, CUSTOM)
    report = upgrade(workbook)

    letters = ["AC", "AD", "AE", "AF", "AG", "AH", "AI", "AJ", "AK"]
    assert report.added_columns == [AddedColumn("leads", name, "Leads", col) for (name, *_), col in zip(CUSTOM, letters)]
    assert report.written and report.added_tables == []
    tables = read_workbook(workbook)
    leads = tables["leads"]
    assert {name: leads.columns[name] for name, *_ in CUSTOM} == dict(zip([c[0] for c in CUSTOM], letters))
    headers = [title or name.replace("_", " ").capitalize() for name, title, *_ in CUSTOM]
    assert grids(workbook)["Leads"][0][28:37] == headers
    book = calamine(workbook, tables=True)
    lo = book.get_table_by_name("Leads")
    assert lo.columns[-9:] == headers and lo.end[1] == 36
    xml = table_xml(workbook, "Leads")
    assert 'ref="A1:AK4"' in xml and '<autoFilter ref="A1:AK4"/>' in xml and 'tableColumns count="37"' in xml
    assert '<tableColumn id="37" name="Met on"/>' in xml


def test_upgrade_keeps_every_cell_and_every_untouched_part(workbook):
    add_fields(workbook, CUSTOM)
    before_cells, before_parts = grids(workbook), member_bytes(workbook)
    original = workbook.with_name("before.xlsx")
    shutil.copy(workbook, original)
    report = upgrade(workbook)
    after_cells, after_parts = grids(workbook), member_bytes(workbook)

    added = {col_index(c.column) for c in report.added_columns}
    assert list(after_cells) == list(before_cells)
    for sheet, rows in before_cells.items():
        after = after_cells[sheet]
        for r, row in enumerate(rows):
            assert [v for c, v in enumerate(after[r]) if c not in added][: len(row)] == row, (sheet, r)
        extra = [(r, c) for r, row in enumerate(after) for c, v in enumerate(row) if v != "" and
                 (r >= len(rows) or c >= len(rows[r])) and not (sheet == "Leads" and c in added)]
        assert extra == [], sheet
    with open_package(workbook) as pkg:
        leads = pkg.sheet("Leads")
        changed_ok = {leads.part, pkg.tables(leads)[0].part, "xl/workbook.xml", "xl/styles.xml"}
    assert set(after_parts) == set(before_parts)
    changed = {p for p in before_parts if before_parts[p] != after_parts[p]}
    assert changed <= changed_ok and leads.part in changed
    untouched = [p for p in before_parts if p not in changed]
    assert raw_members(original, untouched) == raw_members(workbook, untouched)  # compressed bytes too


def test_new_columns_get_the_builders_formats_validations_and_help(workbook):
    add_fields(workbook, CUSTOM)
    upgrade(workbook)
    xml = sheet_xml(workbook, "Leads")
    cols = dict(zip([c[0] for c in CUSTOM], ["AC", "AD", "AE", "AF", "AG", "AH", "AI", "AJ", "AK"]))

    tier = validations(xml, cols["tier"])
    assert 'promptTitle="Tier"' in tier[0] and "Account tier." in tier[0] and "Required" in tier[0]
    assert '<formula1>"Gold,Silver,Bronze"</formula1>' in tier[1] and 'sqref="AI2:AI1004"' in tier[1]
    assert '<formula1>"TRUE,FALSE"</formula1>' in validations(xml, cols["vip"])[1]
    assert 'type="date"' in validations(xml, cols["met_on"])[1]
    assert 'FIND("@",AG2)' in validations(xml, cols["billing_email"])[1]
    assert 'type="decimal"' in validations(xml, cols["seats"])[1]
    assert len(validations(xml, cols["nickname"])) == 1  # free text: only the header's help
    assert "Yearly budget." in validations(xml, cols["budget"])[0]
    assert re.search(r'<dataValidations count="(\d+)"', xml).group(1) == str(xml.count("<dataValidation "))
    # the cells of the table's rows and the column beyond show the type's number format
    with zipfile.ZipFile(workbook) as zf:
        styles = zf.read("xl/styles.xml").decode()
    xfs = re.findall(r"<xf\b[^>]*?(?:/>|>.*?</xf>)", styles.split("<cellXfs", 1)[1], re.S)
    formats = {i: html.unescape(code) for i, code in re.findall(r'<numFmt numFmtId="(\d+)" formatCode="([^"]*)"', styles)}

    def number_format(ref):
        s = int(re.search(rf'<c r="{ref}" s="(\d+)"', xml).group(1))
        return formats.get(re.search(r'numFmtId="(\d+)"', xfs[s]).group(1))

    assert number_format(f"{cols['met_on']}4") == "yyyy-mm-dd"
    assert number_format(f"{cols['budget']}2") == '"$"#,##0.00'
    assert number_format(f"{cols['vip']}3") == '"TRUE";"TRUE";"FALSE"'
    assert re.search(rf'<col min="{col_index(cols["met_on"]) + 1}" max="{col_index(cols["met_on"]) + 1}"[^>]*style=', xml)


@pytest.mark.slow
def test_jobs_write_and_read_back_typed_values_in_the_new_columns(workbook):
    add_fields(workbook, CUSTOM)
    upgrade(workbook)
    store = XlsxStore(workbook)
    tables = store.read()
    changes = ChangeSet()
    values = {"seats": 12.0, "budget": 25000.5, "nickname": "Ana L.", "mobile": "+33 6 12 34 56 78",
              "billing_email": "billing@acme.io", "hq": "Lyon, France", "tier": "Gold", "vip": True,
              "met_on": pd.Timestamp("2026-03-02")}
    for name, value in values.items():
        changes.update("leads", "L-00002", name, value)
    store.apply(changes, tables)

    df = read_workbook(workbook).df("leads")
    row = df.loc["L-00002"]
    assert {k: row[k] for k in values} == values
    assert df["budget"].dtype == "float64" and df["met_on"].dtype == "datetime64[ns]" and df["vip"].dtype == "boolean"
    assert pd.isna(df.loc["L-00001", "budget"])
    assert grids(workbook)["Leads"][2][col_index("AI")] == "Gold"


@pytest.mark.parametrize("row, problem", [
    (("colour", "Colour", "color", None, False, None), "unknown type 'color'"),
    (("Budget Total", None, "money", None, False, None), "must use lower-case letters"),
    (("tier", None, "dropdown", None, False, None), "needs its options"),
])
def test_a_malformed_fields_row_names_sheet_and_row_and_changes_nothing(workbook, row, problem):
    add_fields(workbook, [CUSTOM[0], row])
    before = digest(workbook)
    with pytest.raises(SchemaError) as exc:
        upgrade(workbook)
    assert exc.value.message.startswith("Fields, row 3:") and problem in exc.value.message
    assert digest(workbook) == before


@pytest.mark.slow
def test_a_second_upgrade_does_nothing(workbook):
    add_fields(workbook, CUSTOM[:3])
    first = upgrade(workbook)
    once = digest(workbook)
    second = upgrade(workbook)
    assert first.changed and not second.changed and not second.written
    assert second.added_columns == [] and second.added_tables == []
    assert digest(workbook) == once


@pytest.mark.slow
def test_dry_run_reports_the_same_and_writes_nothing(workbook):
    add_fields(workbook, CUSTOM)
    before = digest(workbook)
    dry = upgrade(workbook, dry_run=True)
    assert digest(workbook) == before and not dry.written and dry.dry_run
    real = upgrade(workbook)
    assert real.added_columns == dry.added_columns


@pytest.mark.slow
def test_a_column_beside_peoples_own_data_goes_past_it_outside_the_table(workbook):
    put_raw_cells(workbook, "Leads", {"AC1": "My notes", "AC3": "call back", "AD6": "loose note"})
    add_fields(workbook, [CUSTOM[1]])
    report = upgrade(workbook)

    assert report.added_columns == [AddedColumn("leads", "budget", "Leads", "AE")]
    assert any("AC:AD" in n and "outside the Excel table" in n for n in report.notes)
    cells = grids(workbook)["Leads"]
    assert cells[0][28:31] == ["My notes", "", "Budget"] and cells[2][28] == "call back" and cells[5][29] == "loose note"
    assert 'ref="A1:AB4"' in table_xml(workbook, "Leads")
    # jobs still write the column, and a new row keeps the Excel table as wide as its named columns
    store = XlsxStore(workbook)
    tables = store.read()
    assert tables["leads"].columns["budget"] == "AE"
    changes = ChangeSet()
    changes.update("leads", "L-00001", "budget", 900.0)
    changes.appends.append(RowAppend("leads", tables["leads"].allocate_id(), {"first_name": "Dev", "budget": 5.0}))
    store.apply(changes, tables)
    xml = table_xml(workbook, "Leads")
    assert 'ref="A1:AB5"' in xml and 'tableColumns count="28"' in xml
    df = read_workbook(workbook).df("leads")
    assert df["budget"].tolist()[:1] == [900.0] and df["budget"].iloc[-1] == 5.0
    assert grids(workbook)["Leads"][2][28] == "call back"


@pytest.mark.slow
def test_a_workbook_made_before_a_table_joined_the_template_gets_it(tmp_path):
    schema = load_schema("sales")
    older = replace(schema, tables={k: v for k, v in schema.tables.items() if k not in ("dedupe_decisions", "email_templates")},
                    lists={k: v for k, v in schema.lists.items() if k != "dedupe_decision"})
    path = tmp_path / "old.xlsx"
    build_workbook(path, older, "en", data={"leads": LEADS})
    before = grids(path)

    report = upgrade(path)
    assert report.added_tables == [AddedTable("email_templates", "Email Templates"),
                                   AddedTable("dedupe_decisions", "Duplicate Decisions")]
    tables = read_workbook(path)
    decisions, templates = tables["dedupe_decisions"], tables["email_templates"]
    assert decisions.sheet == "Duplicate Decisions" and len(decisions) == 0
    assert list(decisions.columns) == [f.name for f in schema.tables["dedupe_decisions"].fields]
    assert templates.df["key"].tolist() == [row["key"] for row in schema.tables["email_templates"].rows]
    assert templates.df.loc[templates.df["key"] == "welcome", "subject"].item() == "Welcome, {{ first_name }}"
    assert tables.meta["seq.dedupe_decisions"] == 1
    book = calamine(path, tables=True)
    assert {"DedupeDecisions", "EmailTemplates"} <= set(book.table_names)
    assert book.get_table_by_name("DedupeDecisions").columns[:3] == ["ID", "Record A", "Record A details"]
    xml = sheet_xml(path, "Duplicate Decisions")
    decision = validations(xml, "H")
    assert '<formula1>"Merge,Not duplicate"</formula1>' in decision[1]
    with open_package(path) as pkg:
        names = {d.name: d.value for d in pkg.defined_names}
    assert names["ids_dedupe_decisions"] == "'Duplicate Decisions'!$A$2:$A$202"
    after = grids(path)
    for sheet, rows in before.items():  # every cell kept; _crm_meta only gains the new table's sequence
        assert [row[: len(rows[0])] for row in after[sheet][: len(rows)]] == rows, sheet
        assert sheet == "_crm_meta" or len(after[sheet]) == len(rows)
    assert after["_crm_meta"][len(before["_crm_meta"]):] == [["seq.dedupe_decisions", 1.0]]
    # the new table takes rows like any other
    store = XlsxStore(path)
    tables = store.read()
    changes = ChangeSet()
    rid = tables["dedupe_decisions"].allocate_id()
    changes.appends.append(RowAppend("dedupe_decisions", rid, {"record_a": "L-00001", "record_b": "L-00002", "decision": "merge"}))
    store.apply(changes, tables)
    df = read_workbook(path).df("dedupe_decisions")
    assert df.loc["DUP-00001", ["record_a", "decision"]].tolist() == ["L-00001", "merge"]
    assert upgrade(path).changed is False


@pytest.mark.slow
def test_the_schema_version_rises_to_the_templates(workbook):
    store = XlsxStore(workbook)
    tables = store.read()
    store.apply(ChangeSet(meta={"schema_version": 0}), tables)
    assert read_workbook(workbook).meta["schema_version"] == 0

    report = upgrade(workbook)
    assert (report.schema_version_before, report.schema_version_after) == (0, 1)
    assert any("never" not in n and "version 0 -> 1" in n for n in report.notes)
    assert read_workbook(workbook).meta["schema_version"] == 1
    assert not upgrade(workbook).changed


@pytest.mark.slow
def test_the_french_workbook_gets_its_custom_fields_too(tmp_path):
    path = tmp_path / "crm-fr.xlsx"
    build_workbook(path, schema="sales", lang="fr", data={"leads": LEADS})
    add_fields(path, [("budget", "Budget annuel", "money", None, False, "Le budget."),
                      ("palier", "Palier", "dropdown", "Or, Argent", False, None),
                      ("vip", "VIP", "checkbox", None, False, None)], table="Prospects")
    report = upgrade(path)
    assert report.added_columns == [AddedColumn("leads", "budget", "Prospects", "AC"),
                                    AddedColumn("leads", "palier", "Prospects", "AD"),
                                    AddedColumn("leads", "vip", "Prospects", "AE")]
    assert grids(path)["Prospects"][0][28:31] == ["Budget annuel", "Palier", "VIP"]
    xml = sheet_xml(path, "Prospects")
    assert "Saisissez VRAI ou FAUX." in validations(xml, "AE")[1]
    assert "ne fait pas partie des options" in validations(xml, "AD")[1]
    store = XlsxStore(path)
    tables = store.read()
    changes = ChangeSet()
    changes.update("leads", "L-00003", "budget", 1500.0)
    changes.update("leads", "L-00003", "palier", "Or")
    changes.update("leads", "L-00003", "vip", False)
    store.apply(changes, tables)
    row = read_workbook(path).df("leads").loc["L-00003"]
    assert [row["budget"], row["palier"], row["vip"]] == [1500.0, "Or", False]
    assert not upgrade(path).changed


@pytest.mark.slow
def test_libreoffice_opens_the_upgraded_workbook(tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed")
    schema = load_schema("sales")
    older = replace(schema, tables={k: v for k, v in schema.tables.items() if k != "dedupe_decisions"},
                    lists={k: v for k, v in schema.lists.items() if k != "dedupe_decision"})
    path = tmp_path / "crm.xlsx"
    build_workbook(path, older, "en", data={"leads": LEADS})
    add_fields(path, CUSTOM)
    upgrade(path)
    out = tmp_path / "out"
    subprocess.run([soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(path)],
                   check=True, capture_output=True, timeout=180)
    converted = out / "crm.xlsx"
    cells = grids(converted)
    assert cells["Leads"][0][28:37] == [t or n.replace("_", " ").capitalize() for n, t, *_ in CUSTOM]
    assert cells["Duplicate Decisions"][0][:2] == ["ID", "Record A"]
    assert "DedupeDecisions" in calamine(converted, tables=True).table_names
