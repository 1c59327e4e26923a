"""`adopt` then `run` on workbooks in other shapes teams have: a German customer list under a title with
a totals row, national phone numbers and postcodes typed as text; a quarter's pipeline with emoji stages,
a VLOOKUP owner and a totals row; a HubSpot export saved as Sheet1 with date-times typed as text. Every
cell stays, the rows that are records (and only they) are read, and twice is once.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner

from crm_sheets.adopt import adopt
from crm_sheets.api import run
from crm_sheets.cli import cli
from crm_sheets.store import read_workbook

NOW = dt.datetime(2026, 11, 2, 9, 0)
KUNDEN = [("Müller GmbH", "Müller, Hans", "Hauptstr. 1", "01234", "0351 / 123 456", "h.mueller@mueller-gmbh.de", 12500.5, "Aktiv"),
          ("Schmidt & Söhne KG", "Schmidt, Petra", "Bahnhofstr. 7", "10115", "+49 30 9876543", "petra@schmidt-soehne.de", 8300, "Aktiv"),
          ("Weber AG", "Weber, Klaus", "Ring 3", "20095", "040-5556667", "k.weber@weber.ag", 0, "Inaktiv"),
          ("Fischer e.K.", "Fischer, Anna", "Am Markt 2", "04109", "0341 7778889", "anna.fischer@fischer-ek.de", 4100, "Aktiv")]
DEALS = [("ACME renewal", "ACME", "🟢 Closed Won", 24000, "R1", "Dana Scully"),
         ("Globex pilot", "Globex", "🟡 Proposal", 8000, "R2", "Fox Mulder"),
         ("Initech", "Initech", "🔴 Closed Lost", 12000, "R1", "Dana Scully")]


def every_cell(path: Path) -> dict[str, dict[tuple[int, int], object]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: {(c.row, c.column): c.value for row in ws.iter_rows() for c in row if c.value is not None}
            for ws in wb.worksheets}


def changed(before: dict, after: dict) -> dict:
    return {(s, k): (v, after[s].get(k)) for s in before for k, v in before[s].items() if after[s].get(k) != v}


def kunden(path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    euro, day = wb.add_format({"num_format": "#,##0.00 €"}), wb.add_format({"num_format": "dd.mm.yyyy"})
    ws = wb.add_worksheet("Kunden")
    ws.merge_range("A1:J1", "Kundenliste Vertrieb Nord", wb.add_format({"bold": True}))
    ws.write("A2", "Stand: 01.10.2026")
    ws.write_row(3, 0, ["Firma", "Ansprechpartner", "Straße", "PLZ", "Telefon", "E-Mail", "Umsatz 2025", "Status",
                        "Kunde seit", "Bemerkung"])
    for i, row in enumerate(KUNDEN):
        ws.write_row(4 + i, 0, row[:6])
        ws.write_number(4 + i, 6, row[6], euro)
        ws.write(4 + i, 7, row[7])
        ws.write_datetime(4 + i, 8, dt.datetime(2019 + i, 3, 1), day)
    ws.write(9, 0, "Summe")
    ws.write_formula(9, 6, "=SUM(G5:G8)", euro, sum(r[6] for r in KUNDEN))
    wb.add_worksheet("Tabelle2").write("A1", "Notizen")
    wb.close()
    return path


def pipeline(path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Q4 Pipeline")
    ws.write_row(0, 0, ["Opportunity", "Account", "Stage", "Amount", "Rep ID", "Owner"])
    for i, (deal, account, stage, amount, rep, owner) in enumerate(DEALS):
        ws.write_row(1 + i, 0, [deal, account, stage, amount, rep])
        ws.write_formula(1 + i, 5, f"=VLOOKUP(E{i + 2},Reps!$A$2:$B$3,2,FALSE)", None, owner)
    ws.write(5, 2, "Total")
    ws.write_formula(5, 3, "=SUM(D2:D4)", None, sum(d[3] for d in DEALS))
    reps = wb.add_worksheet("Reps")
    reps.write_row(0, 0, ["Rep ID", "Name", "Email"])
    reps.write_row(1, 0, ["R1", "Dana Scully", "dana@example.com"])
    reps.write_row(2, 0, ["R2", "Fox Mulder", "fox@example.com"])
    wb.close()
    return path


@pytest.mark.slow
def test_a_german_customer_list_keeps_its_cells_its_totals_row_and_its_national_phones(tmp_path):
    path = kunden(tmp_path / "kunden.xlsx")
    before = every_cell(path)
    report = adopt(path)
    assert any("DE numbers" in n for n in report.notes)
    leads = read_workbook(path)["leads"]
    assert len(leads) == len(KUNDEN), "the Summe row is no customer"
    assert list(leads.df["company"]) == [k[0] for k in KUNDEN]
    assert list(leads.df["last_name"]) == ["Müller", "Schmidt", "Weber", "Fischer"]
    assert list(leads.df["first_name"]) == ["Hans", "Petra", "Klaus", "Anna"]
    assert list(leads.df["plz"]) == [k[3] for k in KUNDEN], "postcodes typed as text keep their leading zero"
    assert list(leads.df["umsatz_2025"]) == [k[6] for k in KUNDEN]
    assert list(leads.df["strasse"]) == [k[2] for k in KUNDEN]
    result = run(path, now=NOW)
    assert not [f for f in result.findings if f.type == "invalid-phone"], "German numbers read as German"
    assert changed(before, every_cell(path)) == {}
    after = every_cell(path)["Kunden"]
    assert after[(10, 1)] == "Summe" and (10, 11) not in after, "no ID in the totals row"
    assert [after[(r, 11)] for r in range(5, 9)] == ["L-00001", "L-00002", "L-00003", "L-00004"]
    once = path.read_bytes()
    run(path, now=NOW)
    adopt(path)
    assert path.read_bytes() == once


@pytest.mark.slow
def test_a_pipeline_with_emoji_stages_a_vlookup_owner_and_a_total_is_read_and_reported_as_it_means(tmp_path):
    path = pipeline(tmp_path / "pipeline.xlsx")
    before = every_cell(path)
    report = adopt(path)
    assert {s.sheet: s.table for s in report.mapped} == {"Q4 Pipeline": "deals", "Reps": "team"}
    assert not any("lists your stages" in n for n in report.notes), "🟢 Closed Won is Closed won, not a new stage"
    tables = read_workbook(path)
    deals = tables["deals"].df
    assert len(deals) == len(DEALS) and list(deals["owner"]) == [d[5] for d in DEALS]
    result = run(path, now=NOW)
    assert [f for f in result.findings if f.severity == "error"] == []
    assert changed(before, every_cell(path)) == {}
    assert (6, 7) not in every_cell(path)["Q4 Pipeline"], "no ID in the totals row"
    from crm_sheets.jobs.report.prep import deals_of, money_of, stages_of

    tables = read_workbook(path)
    shown = deals_of(tables, money_of(tables)[0], stages_of(tables), NOW)
    assert list(shown["status"]) == ["won", "open", "lost"]
    once = path.read_bytes()
    CliRunner().invoke(cli, ["run", str(path), "--now", NOW.isoformat()])
    assert path.read_bytes() == once


@pytest.mark.slow
def test_an_export_saved_as_sheet1_keeps_its_text_date_times_and_reads_their_time(tmp_path):
    path = tmp_path / "contacts.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Contact owner", "Create Date", "Lead Status"])
    for i in range(4):
        ws.append([str(51000 + i), f"Ann{'abcd'[i]}", f"Lee{'wxyz'[i]}", f"ann{i}@corp{i}.com", f"+1 (415) 555-01{i:02d}",
                   "Jane Roe", f"2025-03-1{i} 10:3{i}", ["NEW", "OPEN", "IN_PROGRESS", "NEW"][i]])
    wb.save(path)
    before = every_cell(path)
    report = adopt(path)
    [s] = report.mapped
    assert {c.header: (c.field, c.type) for c in s.columns}["Create Date"] == ("created", "datetime")
    leads = read_workbook(path)["leads"].df
    assert [t.to_pydatetime() for t in leads["created"]] == [dt.datetime(2025, 3, 10 + i, 10, 30 + i) for i in range(4)]
    assert list(leads["external_id"]) == [str(51000 + i) for i in range(4)]
    run(path, now=NOW)
    assert changed(before, every_cell(path)) == {}, "run leaves the text date-times and phones as they are"
    once = path.read_bytes()
    run(path, now=NOW)
    assert path.read_bytes() == once


def numbered(path: Path, sheet: str) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(["ID", "Name", "Email", "Company", "Status", "Source"])
    for i in range(4):
        ws.append([i + 1, f"Person {i}", f"p{i}@c{i}.com", f"C{i}", "New", "Web"])
    wb.save(path)
    return path


@pytest.mark.slow
def test_a_teams_own_numbering_under_id_is_kept_as_theirs_and_our_ids_go_beside_it(tmp_path):
    path = numbered(tmp_path / "numbered.xlsx", "Leads 2026")
    before = every_cell(path)
    report = adopt(path)
    assert {c.header: c.field for c in report.mapped[0].columns}["ID"] == "external_id"
    result = run(path, now=NOW)
    assert not [f for f in result.findings if f.type == "invalid-id"], "their numbers are not our IDs to clear"
    assert changed(before, every_cell(path)) == {}
    cells = every_cell(path)["Leads 2026"]
    assert cells[(1, 7)] == "ID" and [cells[(r, 7)] for r in range(2, 6)] == ["L-00001", "L-00002", "L-00003", "L-00004"]
    leads = read_workbook(path)["leads"]
    assert list(leads.df.index) == ["L-00001", "L-00002", "L-00003", "L-00004"]
    assert list(leads.df["external_id"]) == ["1", "2", "3", "4"]
    once = path.read_bytes()
    run(path, now=NOW)
    assert path.read_bytes() == once


@pytest.mark.slow
def test_without_adopt_a_lead_sheet_numbered_under_id_gets_our_ids_beside_and_twice_is_once(tmp_path):
    path = numbered(tmp_path / "sheet1.xlsx", "Sheet1")
    before = every_cell(path)
    result = run(path, now=NOW)
    assert not [f for f in result.findings if f.type == "invalid-id"]
    assert changed(before, every_cell(path)) == {}
    leads = read_workbook(path)["leads"]
    assert list(leads.df.index) == ["L-00001", "L-00002", "L-00003", "L-00004"] and leads.columns["id"] == "G"
    once = path.read_bytes()
    run(path, now=NOW)
    assert path.read_bytes() == once


@pytest.mark.slow
def test_a_french_prospect_list_keeps_its_country_names_capitals_and_day_first_dates(tmp_path):
    path = tmp_path / "prospects.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Prospects")
    ws.write("A1", "Suivi commercial — ne pas trier")
    ws.write_row(2, 0, ["Nom", "Prénom", "Société", "Téléphone", "E-mail", "Statut", "Date de création", "Pays"])
    rows = [("DUPONT", "Marie", "Dupont SARL", "06 12 34 56 78", "marie@dupont.fr", "À relancer", "14/03/2025", "France"),
            ("MARTIN", "Paul", "Martin & Fils", "01 42 68 53 00", "paul@martin.fr", "Gagné", "02/04/2025", "France"),
            ("BERNARD", "Julie", "Bernard SA", "+32 2 555 12 34", "julie@bernard.be", "Perdu", "25/04/2025", "Belgique")]
    for i, r in enumerate(rows):
        ws.write_row(3 + i, 0, r)
    ws.data_validation("F4:F100", {"validate": "list", "source": ["À relancer", "Gagné", "Perdu"]})
    ws.autofilter("A3:H6")
    wb.close()
    before = every_cell(path)
    report = adopt(path)
    assert any("fr-FR" in n for n in report.notes) and any("FR numbers" in n for n in report.notes)
    leads = read_workbook(path)["leads"].df
    assert [d.date() for d in leads["created"]] == [dt.date(2025, 3, 14), dt.date(2025, 4, 2), dt.date(2025, 4, 25)]
    result = run(path, now=NOW)
    assert [f for f in result.findings if f.severity != "info"] == []
    assert changed(before, every_cell(path)) == {}, "Belgique, DUPONT, 06 12 34 56 78 and 14/03/2025 stay as written"
    once = path.read_bytes()
    run(path, now=NOW)
    assert path.read_bytes() == once
    with __import__("zipfile").ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<dataValidation" in sheet and "<autoFilter" in sheet


@pytest.mark.slow
def test_an_excel_table_with_a_chart_and_a_name_keeps_them_and_a_missing_status_is_said_once(tmp_path):
    import zipfile

    path = tmp_path / "table.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Sheet1")
    data = [["Smith, John", "john@smith.com", "Smith Ltd", "Hot", 1200], ["Doe, Jane", "jane@doe.io", "Doe Inc", "Cold", 300],
            ["Roe, Ann", "ann@roe.co", "Roe LLC", "Hot", 800]]
    ws.add_table("A1:E4", {"name": "tblLeads", "data": data,
                           "columns": [{"header": h} for h in ["Contact", "Email", "Company", "Temperature", "Budget"]]})
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "=Sheet1!$E$2:$E$4"})
    ws.insert_chart("H2", chart)
    wb.define_name("Budgets", "=Sheet1!$E$2:$E$4")
    wb.close()
    with zipfile.ZipFile(path) as z:
        before = {n: z.read(n) for n in z.namelist()}
    cells = every_cell(path)
    adopt(path)
    leads = read_workbook(path)["leads"].df
    assert list(leads["first_name"]) == ["John", "Jane", "Ann"] and list(leads["last_name"]) == ["Smith", "Doe", "Roe"]
    result = run(path, now=NOW)
    assert [(f.type, f.severity, f.field) for f in result.findings if f.severity != "info"] == [("missing-column", "warning", "status")]
    assert changed(cells, every_cell(path)) == {}
    with zipfile.ZipFile(path) as z:
        after = {n: z.read(n) for n in z.namelist()}
    for name in before:
        if name.startswith(("xl/charts/", "xl/drawings/")):
            assert after[name] == before[name], name
    assert b'name="Budgets"' in after["xl/workbook.xml"] and b'name="tblLeads"' in after["xl/tables/table1.xml"]
    once = path.read_bytes()
    run(path, now=NOW)
    assert path.read_bytes() == once


def test_a_second_sheet_of_leads_is_left_as_it_is_with_a_note_never_read_as_contacts(tmp_path):
    path = tmp_path / "years.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Leads 2025"
    for title in ("Leads 2025", "Leads 2026"):
        ws = wb[title] if title in wb.sheetnames else wb.create_sheet(title)
        ws.append(["Name", "Email", "Company", "Status"])
        for i in range(3):
            ws.append([f"P{i}", f"p{i}@{title[-4:]}.com", "C", "New"])
    wb.save(path)
    report = adopt(path, dry_run=True)
    assert [(s.sheet, s.table) for s in report.sheets] == [("Leads 2025", "leads"), ("Leads 2026", None)]
    assert any(n.startswith("Leads 2026 looks like leads too") for n in report.notes)


def test_a_next_call_date_is_the_teams_own_column_and_mixed_countries_name_no_default(tmp_path):
    path = tmp_path / "crm.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("CRM")
    bold, day = wb.add_format({"bold": True}), wb.add_format({"num_format": "d mmm yyyy"})
    ws.merge_range("A1:C1", "Contact", bold)  # a group header row above the real one
    ws.merge_range("D1:F1", "Deal", bold)
    ws.write_row(1, 0, ["Name", "Email", "Phone", "Company", "Stage", "Value", "Next call", "Newsletter"], bold)
    people = [("Ana Lopez", "ana@lopez.es", "+34 912 345 678", "Lopez SA", "Qualified", 1200, True),
              ("Jo Meier", "jo@meier.de", "+49 30 1234567", "Meier GmbH", "Contacted", 300, False),
              ("Marie Dupont", "marie@dupont.fr", "+33 1 42 68 53 00", "Dupont", "New", 0, True)]
    for i, p in enumerate(people):
        ws.write_row(2 + i, 0, p[:6])
        ws.write_datetime(2 + i, 6, dt.datetime(2026, 11, 10 + i), day)
        ws.write_boolean(2 + i, 7, p[6])
    wb.close()
    report = adopt(path, dry_run=True)
    [s] = report.mapped
    got = {c.header: (c.field, c.type) for c in s.columns}
    assert s.header_row == 2 and got["Next call"] == ("next_call", "date") and got["Newsletter"] == ("newsletter", "checkbox")
    assert not any("numbers without a country code" in n for n in report.notes), "three countries: none is the default"
