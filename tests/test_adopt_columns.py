"""`crm-sheets adopt` on a team's workbook in the shapes teams make: a merged title above the headers, a
VLOOKUP owner column and a mailto HYPERLINK, emoji stages and statuses, "Last, First" names, a Salesforce ID
and a HubSpot Record ID, datetimes, phones as the team writes them, columns of their own. Every source cell
and formula stays; every mapped value arrives; their own columns are read as custom fields; a second adopt
picks up what was added since and keeps the person's corrections; a second run changes nothing.
"""
from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from crm_sheets.adopt import adopt
from crm_sheets.cli import cli
from crm_sheets.store import read_workbook

NOW = dt.datetime(2026, 11, 2, 9, 0)
PEOPLE = [("Lopez, Ana", "ana@lopez.es", "Lopez SA", "+49 30 1234567", "🔥 Hot", "HS-101", 12000),
          ("Meier, Jo", "jo@meier.de", "Meier GmbH", "(030) 555-0101", "❄️ Cold", "HS-102", 800),
          ("Dupont, Marie", "marie@dupont.fr", "Dupont", "+33 1 42 68 53 00", "Disqualified", "HS-103", 2500),
          ("Smith, John", "john@smith.com", "Smith Ltd", "+1 415 555 0199", "🔥 Hot", "HS-104", 0)]
DEALS = [("Big one", "Lopez SA", "🟡 Negotiation", 12000, "Alice", "006A0000001"),
         ("Renewal", "Meier GmbH", "🟢 Won", 4000, "Bob", "006A0000002"),
         ("Pilot", "Dupont", "🔴 Lost", 2500, "Alice", "006A0000003")]


def team_book(path: Path) -> Path:
    """Prospects (title rows, merged title and a merged Region down two rows, mailto links), Pipeline (emoji
    stages, a VLOOKUP owner email, Created with times, a Salesforce ID), Team, and a notes sheet. Written
    with xlsxwriter, so formulas carry the values Excel would have saved with them."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    stamp = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    ws = wb.add_worksheet("Prospects")
    ws.merge_range("A1:I1", "Prospects 2026", wb.add_format({"bold": True}))
    ws.write("A2", "Keep one row per person")
    ws.write_row(3, 0, ["Name", "E-mail", "Company", "Phone", "Status", "Created", "HubSpot Record ID", "Budget", "Region"])
    for i, (name, email, company, phone, status, hs, budget) in enumerate(PEOPLE):
        r = 4 + i
        ws.write_row(r, 0, [name])
        ws.write_formula(r, 1, f'=HYPERLINK("mailto:{email}","{email}")', None, email)
        ws.write_row(r, 2, [company, phone, status])
        ws.write_datetime(r, 5, dt.datetime(2026, 3, 1 + i), day)
        ws.write_row(r, 6, [hs, budget])
        if i >= 2:
            ws.write(r, 8, "South")
    ws.merge_range("I5:I6", "North")  # one Region for the first two rows
    pipe = wb.add_worksheet("Pipeline")
    pipe.merge_range("A1:G1", "Pipeline")
    pipe.write_row(1, 0, ["Deal", "Client", "Stage", "Value (€)", "Owner", "Owner email", "Created", "Salesforce ID"])
    for i, (deal, client, stage, value, owner, sf) in enumerate(DEALS):
        r = 2 + i
        pipe.write_row(r, 0, [deal, client, stage, value, owner])
        pipe.write_formula(r, 5, f"=VLOOKUP(E{r + 1},Team!$A$2:$B$3,2,FALSE)", None, f"{owner.lower()}@acme.com")
        pipe.write_datetime(r, 6, dt.datetime(2026, 2, 1 + i, 9 + i, 30), stamp)
        pipe.write(r, 7, sf)
    team = wb.add_worksheet("Team")
    for r, row in enumerate([["Name", "Email", "Role"], ["Alice", "alice@acme.com", "Sales"], ["Bob", "bob@acme.com", "Sales"]]):
        team.write_row(r, 0, row)
    notes = wb.add_worksheet("Read me")
    notes.write("A1", "How we use this workbook")
    notes.write("A2", "Add a row per prospect; Jo keeps the pipeline.")
    wb.close()
    return path


def every_cell(path: Path) -> dict[str, dict[tuple[int, int], object]]:
    """Every sheet's cells as typed (formulas as formulas) and merged ranges."""
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets:
        out[ws.title] = {(c.row, c.column): c.value for row in ws.iter_rows() for c in row if c.value is not None}
        out[ws.title]["merged"] = sorted(str(m) for m in ws.merged_cells.ranges)
    return out


def unchanged(before: dict, after: dict, sheets=("Prospects", "Pipeline", "Team", "Read me")) -> None:
    for s in sheets:
        gone = {k: v for k, v in before[s].items() if after[s].get(k) != v}
        assert not gone, f"{s}: {gone} changed to {[after[s].get(k) for k in gone]}"


@pytest.fixture
def book(tmp_path) -> Path:
    return team_book(tmp_path / "team.xlsx")


def columns(report, sheet: str) -> dict[str, tuple[str | None, str, str]]:
    [s] = [s for s in report.sheets if s.sheet == sheet]
    return {c.header: (c.field, c.found_by, c.type) for c in s.columns}


@pytest.mark.slow
def test_own_columns_become_typed_custom_fields_and_ids_last_first_names_and_datetimes_are_recognised(book):
    report = adopt(book, dry_run=True)
    assert {s.sheet: s.table for s in report.mapped} == {"Prospects": "leads", "Pipeline": "deals", "Team": "team"}
    prospects, pipeline = columns(report, "Prospects"), columns(report, "Pipeline")
    assert prospects["Name"][:2] == ("last_name, first_name", "values")
    assert prospects["HubSpot Record ID"][0] == "external_id" and pipeline["Salesforce ID"][0] == "external_id"
    assert prospects["Budget"] == ("budget", "custom", "number")
    assert prospects["Region"] == ("region", "custom", "text")
    assert prospects["Created"] == ("created", "header", "date"), "a date stays a date"
    assert pipeline["Created"] == ("created", "header", "datetime"), "a datetime keeps its time"
    assert pipeline["Owner email"][1] == "custom", "the VLOOKUP column is the team's own"
    assert any("Budget" in n and "Region" in n and "your own fields" in n for n in report.notes)


@pytest.mark.slow
def test_every_mapped_and_custom_value_arrives_and_no_source_cell_or_formula_changes(book):
    before = every_cell(book)
    adopt(book)
    after = every_cell(book)
    unchanged(before, after)
    assert after["Prospects"]["merged"] == ["A1:I1", "I5:I6"]
    tables = read_workbook(book)
    leads = tables["leads"].df.sort_values("budget")
    assert list(tables["leads"].df["last_name"]) == ["Lopez", "Meier", "Dupont", "Smith"]
    assert list(tables["leads"].df["first_name"]) == ["Ana", "Jo", "Marie", "John"]
    assert list(tables["leads"].df["email"]) == [p[1] for p in PEOPLE], "the mailto link's text is the email"
    assert list(tables["leads"].df["external_id"]) == [p[5] for p in PEOPLE]
    assert list(leads["budget"]) == [0, 800, 2500, 12000]
    assert list(tables["leads"].df["region"]) == ["North", "North", "South", "South"], "a merged Region is every row's"
    assert [d.date() for d in tables["leads"].df["created"]] == [dt.date(2026, 3, 1 + i) for i in range(4)]
    deals = tables["deals"].df
    assert list(deals["stage"]) == [d[2] for d in DEALS] and list(deals["amount"]) == [d[3] for d in DEALS]
    assert [t.to_pydatetime() for t in deals["created"]] == [dt.datetime(2026, 2, 1 + i, 9 + i, 30) for i in range(3)]
    assert list(deals["external_id"]) == [d[5] for d in DEALS]
    assert list(deals["owner_email"]) == ["alice@acme.com", "bob@acme.com", "alice@acme.com"], "the VLOOKUP's values are read"
    assert tables["leads"].schema.field("budget").custom and tables["leads"].schema.field("budget").type == "number"
    assert "fields" not in tables, "no Fields sheet is needed: the Mapping sheet holds the team's own fields"


@pytest.mark.slow
def test_run_keeps_every_cell_phones_as_typed_names_whole_and_a_second_run_changes_nothing(book):
    before = every_cell(book)
    adopt(book)
    result = CliRunner().invoke(cli, ["run", str(book), "--now", NOW.isoformat()])
    assert result.exit_code in (0, 1), result.output
    after = every_cell(book)
    unchanged(before, after)
    assert [after["Prospects"][(5 + i, 4)] for i in range(4)] == [p[3] for p in PEOPLE], "phones stay as the team writes them"
    once = book.read_bytes()
    result = CliRunner().invoke(cli, ["run", str(book), "--now", NOW.isoformat()])
    assert result.exit_code in (0, 1), result.output
    assert book.read_bytes() == once, "a second run changes nothing"
    again = adopt(book)
    assert book.read_bytes() == once and again.existing, "a second adopt with nothing new changes nothing"


@pytest.mark.slow
def test_check_fix_writes_e164_only_for_numbers_that_say_their_country(book):
    adopt(book)
    dry = CliRunner().invoke(cli, ["check", str(book), "--now", NOW.isoformat(), "--json"])
    assert "phone-format" not in dry.output, "without --fix a team's phone format is not an issue"
    result = CliRunner().invoke(cli, ["check", str(book), "--fix", "--now", NOW.isoformat()])
    assert result.exit_code in (0, 1), result.output
    phones = [every_cell(book)["Prospects"][(5 + i, 4)] for i in range(4)]
    assert phones == ["+49301234567", "(030) 555-0101", "+33142685300", "+14155550199"]


@pytest.mark.slow
def test_a_second_adopt_adds_new_sheets_and_columns_and_keeps_the_persons_corrections(book):
    adopt(book)
    wb = openpyxl.load_workbook(book)
    for row in wb["Mapping"].iter_rows(min_row=2):
        if row[3].value == "Region":
            row[5].value = "territory_name"  # the person renames the custom field
        if row[3].value == "Budget":
            row[5].value = None  # and leaves this column unread
    ws = wb["Prospects"]
    ws["J4"] = "Lead score"
    for i in range(4):
        ws.cell(5 + i, 10, 10 * i)
    acc = wb.create_sheet("Accounts")
    acc.append(["Account Name", "Industry", "Website", "Employees"])
    acc.append(["Lopez SA", "Retail", "https://lopez.es", 40])
    acc.append(["Meier GmbH", "Manufacturing", "https://meier.de", 300])
    wb.save(book)
    before = every_cell(book)
    report = adopt(book)
    assert report.existing and report.written
    assert any("added since" in n for n in report.notes)
    mapping = every_cell(book)["Mapping"]
    rows = {mapping.get((r, 4)): (mapping.get((r, 5)), mapping.get((r, 6))) for r in range(2, 60) if mapping.get((r, 1))}
    assert rows["Region"] == ("leads", "territory_name") and rows["Budget"] == ("leads", None), "corrections kept"
    assert rows["Lead score"] == ("leads", "lead_score")
    assert rows["Account Name"] == ("accounts", "name") and rows["Industry"] == ("accounts", "industry")
    unchanged(before, every_cell(book), ("Prospects", "Pipeline", "Team", "Read me", "Accounts"))
    tables = read_workbook(book)
    assert list(tables["leads"].df["territory_name"]) == ["North", "North", "South", "South"]
    assert "budget" not in tables["leads"].df.columns and "Budget" in tables["leads"].extra_columns
    assert list(tables["leads"].df["lead_score"]) == [0, 10, 20, 30]
    assert list(tables["accounts"].df["name"]) == ["Lopez SA", "Meier GmbH"]
    once = book.read_bytes()
    assert adopt(book).existing and book.read_bytes() == once, "a third adopt finds nothing new"


@pytest.mark.slow
def test_adopt_after_a_run_finds_our_id_column_by_its_header_and_changes_nothing(book):
    adopt(book)
    CliRunner().invoke(cli, ["run", str(book), "--now", NOW.isoformat()])
    once = book.read_bytes()
    report = adopt(book)
    assert report.existing and not report.written and book.read_bytes() == once
    tables = read_workbook(book)
    assert tables["leads"].df.index.str.startswith("L-").all() and tables["leads"].columns["id"] == "J"
    CliRunner().invoke(cli, ["run", str(book), "--now", NOW.isoformat()])
    assert book.read_bytes() == once


def test_the_workbook_parts_stay_byte_for_byte_but_the_sheets_adopt_writes(book):
    with zipfile.ZipFile(book) as z:
        before = {n: z.read(n) for n in z.namelist()}
    adopt(book)
    with zipfile.ZipFile(book) as z:
        after = {n: z.read(n) for n in z.namelist()}
    for n in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml", "xl/worksheets/sheet4.xml"):
        assert after[n] == before[n], n


@pytest.mark.slow
def test_an_import_matches_the_teams_salesforce_id_column_and_updates_in_place(book, tmp_path):
    from crm_sheets.imports import import_files

    adopt(book)
    csv = tmp_path / "Opportunity.csv"
    csv.write_text("Id,Name,StageName,Amount,CloseDate\n006A0000002,Renewal,Negotiation/Review,5000,2026-12-01\n", encoding="utf-8")
    report = import_files(book, [csv], source="salesforce", now=NOW)
    assert report.counts["deals"].created == 0 and report.counts["deals"].updated == 1, report.as_dict()
    deals = read_workbook(book)["deals"].df
    [row] = deals[deals["external_id"] == "006A0000002"].to_dict("records")
    assert row["amount"] == 5000 and len(deals) == len(DEALS)
    assert every_cell(book)["Pipeline"][(4, 8)] == "006A0000002", "the team's ID cell stays as they wrote it"


@pytest.mark.slow
def test_an_import_into_an_adopted_last_first_sheet_writes_new_people_so_and_twice_is_once(book, tmp_path):
    from crm_sheets.imports import import_files

    adopt(book)
    csv = tmp_path / "contacts.csv"
    csv.write_text("Record ID,First Name,Last Name,Email\nHS-101,Ana,Lopez,ana@lopez.es\n999,New,Person,new@person.com\n",
                   encoding="utf-8")
    import_files(book, [csv], table="leads", now=NOW)
    leads = read_workbook(book)["leads"].df.set_index("email")
    assert leads.loc["jo@meier.de", ["first_name", "last_name"]].tolist() == ["Jo", "Meier"], "names read from Last, First"
    assert leads.loc["new@person.com", ["first_name", "last_name"]].tolist() == ["New", "Person"]
    prospects = every_cell(book)["Prospects"]
    assert prospects[(6, 1)] == "Meier, Jo" and prospects[(9, 1)] == "Person, New", "a new person is written as theirs are"
    assert "First name" not in prospects.values() and "Last name" not in prospects.values()
    once = book.read_bytes()
    report = import_files(book, [csv], table="leads", now=NOW)
    assert report.counts["leads"].updated == 0 and book.read_bytes() == once


@pytest.mark.slow
def test_a_mapping_sheet_of_an_earlier_adopt_gets_its_unread_columns_as_the_teams_own_fields(book):
    adopt(book)
    wb = openpyxl.load_workbook(book)
    ws = wb["Mapping"]
    ws.delete_cols(9)  # written before the Type column existed: unmapped columns had no Field, no Found by
    for row in ws.iter_rows(min_row=2):
        if row[6].value == "custom":
            row[5].value = row[6].value = None
    wb.save(book)
    assert "region" not in read_workbook(book)["leads"].df.columns
    report = adopt(book)
    assert report.written and any("left unread until now" in n for n in report.notes)
    leads = read_workbook(book)["leads"].df
    assert list(leads["region"]) == ["North", "North", "South", "South"] and list(leads["budget"]) == [12000, 800, 2500, 0]
    once = book.read_bytes()
    assert adopt(book).existing and book.read_bytes() == once
