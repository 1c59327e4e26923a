"""`crm-sheets adopt` on workbooks teams build: a lead sheet called CRM under title rows, German headers,
a column known only by its values. The proposal names sheets, header rows and fields; the Mapping sheet
it writes is followed by every run, corrections included; nothing else changes, and twice is once.
"""
from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from crm_sheets.adopt import adopt
from crm_sheets.cli import cli
from crm_sheets.store import read_workbook
from helpers import calamine, nonempty_cells
from test_team_workbook import FIRST, HEADERS, LAST, NOW, STATUSES, team_workbook


@pytest.fixture
def crm(tmp_path) -> Path:
    """The team workbook, its lead sheet named CRM (read as the personal template before adopt existed)."""
    path = team_workbook(tmp_path / "crm.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["Leads"].title = "CRM"
    wb.save(path)
    return path


def fields(report, sheet: str) -> dict[str, str | None]:
    [s] = [s for s in report.sheets if s.sheet == sheet]
    return {c.header: c.field for c in s.columns}


@pytest.mark.slow
def test_a_dry_run_proposes_the_crm_sheet_as_leads_on_its_real_header_row_and_writes_nothing(crm):
    before = crm.read_bytes()
    report = adopt(crm, dry_run=True)
    assert crm.read_bytes() == before and not report.written
    assert report.template == "sales"
    [leads] = [s for s in report.sheets if s.table == "leads"]
    assert (leads.sheet, leads.header_row) == ("CRM", 4)
    assert fields(report, "CRM") == {"First Name": "first_name", "Last Name": "last_name", "Company": "company",
                                     "Email": "email", "Phone": "phone", "Status": "status",
                                     "Last Contacted": "last_contacted", "Our notes": "our_notes"}
    assert [s.table for s in report.sheets if s.sheet == "Team"] == ["team"]
    assert "Dashboard" not in {s.sheet for s in report.mapped}


def test_german_headers_and_a_column_known_by_its_values_are_mapped(tmp_path):
    path = tmp_path / "kunden.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Kunden"
    ws.append(["Vorname", "Nachname", "Firma", "Telefon", "Status", "Kontakt", "Notizen"])
    for i in range(6):
        ws.append([f"Jo{i}", f"Meier{i}", f"Firma {i}", f"+49 30 1234 56{i}", "Qualified", f"jo{i}@firma{i}.de", ""])
    wb.save(path)
    report = adopt(path, dry_run=True)
    [s] = report.mapped
    assert s.table == "leads"
    assert fields(report, "Kunden") == {"Vorname": "first_name", "Nachname": "last_name", "Firma": "company",
                                        "Telefon": "phone", "Status": "status", "Kontakt": "email", "Notizen": "notes"}
    assert {c.header: c.found_by for c in s.columns}["Kontakt"] == "values"


@pytest.mark.slow
def test_adopt_writes_a_mapping_sheet_every_run_follows_and_twice_is_once(crm):
    sources = {s: nonempty_cells(crm, s) for s in ("CRM", "Team", "Dashboard")}
    report = adopt(crm)
    assert report.written
    book = calamine(crm)
    assert "Mapping" in book.sheet_names
    assert {s: nonempty_cells(crm, s) for s in sources} == sources, "adopt changes no cell of the team's sheets"
    tables = read_workbook(crm)
    assert tables.schema.name == "sales" and tables.adopted
    assert tables["leads"].sheet == "CRM" and len(tables["leads"]) == len(STATUSES)
    snapshot = crm.read_bytes()
    again = adopt(crm)
    assert again.existing and not again.written and crm.read_bytes() == snapshot

    result = CliRunner().invoke(cli, ["run", str(crm), "--now", NOW.isoformat(), "--json"])
    assert result.exit_code in (0, 1), result.output
    statuses = [nonempty_cells(crm, "CRM").get((r, 6)) for r in range(FIRST, LAST + 1)]
    assert statuses[:-1] == STATUSES[:-1], "the team's statuses are theirs"
    once = crm.read_bytes()
    CliRunner().invoke(cli, ["run", str(crm), "--now", NOW.isoformat()])
    assert crm.read_bytes() == once, "a second run changes nothing"
    ids = [k for k, v in nonempty_cells(crm, "CRM").items() if v == "ID"]
    assert ids == [(4, len(HEADERS) + 1)]


@pytest.mark.slow
def test_a_corrected_mapping_is_followed(crm):
    adopt(crm)
    wb = openpyxl.load_workbook(crm)
    ws = wb["Mapping"]
    for row in ws.iter_rows(min_row=2):
        if row[3].value == "Our notes":
            row[5].value = "notes"  # the person says: this column is the Notes field
        if row[3].value == "Company":
            row[5].value = None  # and this one is not ours to read
    wb.save(crm)
    leads = read_workbook(crm)["leads"]
    assert set(leads.df["notes"].dropna()) == {"keep"}
    assert leads.df["company"].isna().all() and "Company" in leads.extra_columns


@pytest.mark.slow
def test_the_cli_prints_the_proposal_and_its_json_is_the_library_result(crm):
    result = CliRunner().invoke(cli, ["adopt", str(crm), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "CRM" in result.output and "first_name" in result.output and "Dry run" in result.output
    as_json = json.loads(CliRunner().invoke(cli, ["adopt", str(crm), "--dry-run", "--json"]).stdout)
    assert as_json == json.loads(json.dumps(adopt(crm, dry_run=True).as_dict(), default=str))


def test_a_workbook_with_nothing_to_adopt_is_refused_with_no_file_beside_it(tmp_path):
    path = tmp_path / "inventory.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Part", "Qty"])
    wb.active.append(["bolt", 3])
    wb.save(path)
    result = CliRunner().invoke(cli, ["adopt", str(path)])
    assert result.exit_code == 2 and "no sheet has headers" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.xlsx"]


def macro_workbook(path: Path, tmp_path: Path) -> Path:
    """A team's macro workbook: a Pipeline sheet with a merged title over its headers, formulas (a VLOOKUP,
    a mailto HYPERLINK), and its own Dashboard with a button running its VBA."""
    import xlsxwriter

    from test_fidelity import VBA_BYTES

    vba = tmp_path / "vbaProject.bin"
    vba.write_bytes(VBA_BYTES)
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Pipeline")
    ws.merge_range("A1:F1", "Our pipeline 2026", wb.add_format({"bold": True, "font_size": 16}))
    ws.write_row(2, 0, ["Deal", "Account", "Stage", "Value", "Owner", "Owner email"])
    for i, (deal, stage, value, owner) in enumerate([("Big one", "Negotiation", 12000, "Alice"), ("Renewal", "Proposal", 4000, "Bob"),
                                                     ("Pilot", "🔥 Hot", 2500, "Alice")]):
        r = 3 + i
        ws.write_row(r, 0, [deal, f"Account {i}", stage, value, owner])
        ws.write_formula(r, 5, f'=HYPERLINK("mailto:"&VLOOKUP(E{r + 1},Team!$A$2:$B$3,2,FALSE),E{r + 1})',
                         None, f"{owner.lower()}@acme.com")
    team = wb.add_worksheet("Team")
    team.write_row(0, 0, ["Name", "Email"])
    team.write_row(1, 0, ["Alice", "alice@acme.com"])
    team.write_row(2, 0, ["Bob", "bob@acme.com"])
    dash = wb.add_worksheet("Dashboard")
    dash.write("A1", "Filled by our macro")
    dash.write_formula("B2", "=SUM(Pipeline!D4:D6)", None, 18500)
    dash.insert_button("D2", {"macro": "Refresh", "caption": "Refresh"})
    wb.add_vba_project(str(vba))
    wb.close()
    return path


@pytest.mark.slow
def test_a_macro_workbook_keeps_its_macros_button_formulas_and_dashboard_byte_for_byte(tmp_path):
    import zipfile

    path = macro_workbook(tmp_path / "team.xlsm", tmp_path)
    with zipfile.ZipFile(path) as z:
        before = {n: z.read(n) for n in z.namelist()}
    report = adopt(path)
    assert [(s.sheet, s.table, s.header_row) for s in report.mapped] == [("Pipeline", "deals", 3), ("Team", "team", 1)]
    assert {c.header: c.field for c in report.mapped[0].columns}["Stage"] == "stage"
    result = CliRunner().invoke(cli, ["run", str(path), "--now", NOW.isoformat()])
    assert result.exit_code in (0, 1), result.output
    with zipfile.ZipFile(path) as z:
        after = {n: z.read(n) for n in z.namelist()}
    assert after["xl/vbaProject.bin"] == before["xl/vbaProject.bin"]
    book = calamine(path)
    dash_part = "xl/worksheets/sheet3.xml"
    assert after[dash_part] == before[dash_part], "the team's Dashboard (and its button's drawing) stays as it was"
    for name in before:
        if name.startswith(("xl/drawings/", "xl/ctrlProps/", "xl/vbaProject")) or name.endswith("vmlDrawing1.vml"):
            assert after.get(name) == before[name], name
    assert "CRM Dashboard" in book.sheet_names
    pipeline = nonempty_cells(path, "Pipeline")
    assert pipeline[(1, 1)] == "Our pipeline 2026" and pipeline[(4, 6)] == "alice@acme.com"
    assert [pipeline[(r, 3)] for r in (4, 5, 6)] == ["Negotiation", "Proposal", "🔥 Hot"]
    assert "HYPERLINK" in after["xl/worksheets/sheet1.xml"].decode() and "VLOOKUP" in after["xl/worksheets/sheet1.xml"].decode()
    once = path.read_bytes()
    CliRunner().invoke(cli, ["run", str(path), "--now", NOW.isoformat()])
    assert path.read_bytes() == once


@pytest.mark.slow
@pytest.mark.parametrize("header", ["Full Name", "Contact Name"])
def test_a_whole_name_column_of_a_prospects_sheet_is_read_as_the_name_every_row_needs(tmp_path, header):
    path = tmp_path / "prospects.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Prospects"
    ws.append([header, "E-mail", "Organization", "Lead Source"])
    for i in range(4):
        ws.append([f"Ana Lopez {i}", f"ana{i}@acme.fr", "Acme", "Web"])
    wb.save(path)
    adopt(path)
    leads = read_workbook(path)["leads"]
    assert list(leads.df["last_name"]) == [f"Ana Lopez {i}" for i in range(4)]
    assert list(leads.df["company"]) == ["Acme"] * 4


def test_a_deal_sheet_with_unknown_headers_is_read_by_its_values(tmp_path):
    import datetime as dt

    path = tmp_path / "ventas.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Oportunidades"
    ws.append(["Oportunidad", "Etapa", "Importe", "Q4", "Xyz"])
    stages = ["Prospecting", "Proposal", "Negotiation", "Won"]
    for i in range(4):
        ws.append([f"Deal {i}", stages[i], 1000.0 * (i + 1), dt.datetime(2026, 12, 1 + i), f"x{i}"])
    wb.save(path)
    report = adopt(path, dry_run=True)
    [s] = report.mapped
    got = {c.header: (c.field, c.found_by) for c in s.columns}
    assert s.table == "deals"
    assert got["Etapa"] == ("stage", "alias") and got["Importe"] == ("amount", "alias")
    assert got["Oportunidad"][0] == "name" and got["Q4"] == ("close_date", "values") and got["Xyz"] == ("xyz", "custom")


@pytest.mark.slow
def test_a_deals_sheet_with_its_own_stages_gets_a_stages_sheet_listing_them_probability_left_blank(tmp_path):
    path = macro_workbook(tmp_path / "team.xlsm", tmp_path)
    report = adopt(path)
    assert any("🔥 Hot" in n for n in report.notes)
    stages = read_workbook(path)["stages"].df
    [row] = stages[stages["stage"] == "🔥 Hot"].to_dict("records")
    assert row["order"] == stages["order"].max() and row["probability"] != row["probability"]
    assert "Negotiation" in set(stages["stage"]), "the template's stages are there too"


@pytest.mark.slow
def test_before_adopt_a_lead_sheet_called_crm_under_title_rows_is_read_as_the_leads_it_plainly_is(crm):
    tables = read_workbook(crm)
    assert tables.schema.name == "sales" and tables["leads"].sheet == "CRM" and tables["leads"].header_row == 4
    assert [x.casefold() for x in tables["leads"].df["status"]][:-1] == [x.casefold() for x in STATUSES[:-1]]
    before = {s: nonempty_cells(crm, s) for s in ("CRM", "Team", "Dashboard")}
    result = CliRunner().invoke(cli, ["run", str(crm), "--now", NOW.isoformat()])
    assert result.exit_code in (0, 1), result.output
    once = crm.read_bytes()
    assert len(read_workbook(crm)["leads"]) == len(STATUSES), "the next read finds the same sheet and its IDs"
    CliRunner().invoke(cli, ["run", str(crm), "--now", NOW.isoformat()])
    assert crm.read_bytes() == once
    after = {s: nonempty_cells(crm, s) for s in before}
    assert {k: v for k, v in before["Team"].items() if after["Team"].get(k) != v} == {}


@pytest.mark.parametrize("sheet", ["Lead", "Leads", "Sheet1", "Kunden", "Prospects", "CRM"])
def test_a_lone_sheet_of_any_usual_name_whose_headers_are_plainly_leads_is_read_as_leads(tmp_path, sheet):
    path = tmp_path / "list.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    german = sheet == "Kunden"
    ws.append(["Vorname", "Nachname", "E-Mail", "Firma", "Telefon", "Status"] if german else
              ["First Name", "Last Name", "Email", "Company", "Phone", "Status"])
    for i in range(3):
        ws.append([f"Ana{i}", f"Lopez{i}", f"ana{i}@lopez.es", "Lopez SA", "+34 912 345 678", "New"])
    wb.save(path)
    leads = read_workbook(path)["leads"]
    assert leads.sheet == sheet and list(leads.df["email"]) == [f"ana{i}@lopez.es" for i in range(3)]
    assert list(leads.df["company"]) == ["Lopez SA"] * 3 and list(leads.df["first_name"]) == [f"Ana{i}" for i in range(3)]


@pytest.mark.slow
def test_a_last_first_name_column_is_read_as_both_names_without_adopt_and_its_cells_stay(tmp_path):
    path = tmp_path / "sheet1.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Name", "Email", "Company", "Status"])
    names = ["Lopez, Ana", "Meier, Jo", "Dupont, Marie"]
    for i, n in enumerate(names):
        ws.append([n, f"p{i}@x.com", "X", "New"])
    wb.save(path)
    leads = read_workbook(path)["leads"]
    assert list(leads.df["first_name"]) == ["Ana", "Jo", "Marie"] and list(leads.df["last_name"]) == ["Lopez", "Meier", "Dupont"]
    CliRunner().invoke(cli, ["run", str(path), "--now", NOW.isoformat()])
    assert [nonempty_cells(path, "Sheet")[(r, 1)] for r in (2, 3, 4)] == names


def test_a_sheet_whose_headers_look_like_deals_but_are_not_read_is_named_in_a_note_never_ignored_silently(tmp_path):
    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws.append(["First Name", "Last Name", "Email", "Company"])
    ws.append(["Ana", "Lopez", "ana@lopez.es", "Lopez SA"])
    other = wb.create_sheet("Sheet2")
    other.append(["Deal name", "Stage", "Amount", "Close date"])
    other.append(["Big one", "Proposal", 1000, "2026-12-01"])
    wb.save(path)
    tables = read_workbook(path)
    assert any(n.startswith("Sheet2: its headers look like") and "crm-sheets adopt" in n for n in tables.notes)
