"""`crm-sheets import` and `export` on files shaped as the vendors export them (headers from Salesforce's
object reference, HubSpot's default properties, Pipedrive's "Entity - Field" export), plus a plain CSV
of deals that name their account. Every value arrives typed, every relation resolves or is named,
a second import changes nothing, an updated export updates in place, and export -> import round-trips.
"""
from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.imports import export_workbook, import_files
from crm_sheets.imports.sources import read_csv
from crm_sheets.store import open_store
from crm_sheets.workbook import new_workbook
from helpers import as_file, content_version, fresh_copy

TZ = "Europe/Paris"
NOW = datetime(2024, 8, 1, 9, 0)

SF_ACCOUNT = """Id,IsDeleted,MasterRecordId,Name,Type,ParentId,BillingStreet,BillingCity,BillingState,BillingPostalCode,BillingCountry,Phone,Website,Industry,AnnualRevenue,NumberOfEmployees,Description,OwnerId,CreatedDate,CreatedById,LastModifiedDate,SystemModstamp,Region__c
0015g00000AbCdEAAV,0,,Acme Corporation,Customer - Direct,,1 Main St,Springfield,IL,62701,United States,+1 217 555 0100,https://www.acme.com,Manufacturing,5000000,250,Key account,0055g00000XyZ12AAB,2023-01-10T09:30:00.000+0000,0055g00000XyZ12AAB,2024-02-01T10:00:00.000+0000,2024-02-01T10:00:00.000+0000,EMEA
0015g00000AbCdFAAV,0,,Globex GmbH,Prospect,0015g00000AbCdEAAV,Hauptstr. 5,Berlin,,10115,Germany,+49 30 1234567,globex.de,Technology,,40,,0055g00000XyZ12AAB,2023-05-02T16:45:10.000+0000,0055g00000XyZ12AAB,2024-02-01T10:00:00.000+0000,2024-02-01T10:00:00.000+0000,DACH
"""
SF_CONTACT = """Id,IsDeleted,AccountId,LastName,FirstName,Salutation,Name,MailingCity,MailingCountry,Phone,MobilePhone,Email,Title,Department,LeadSource,HasOptedOutOfEmail,Description,OwnerId,CreatedDate
0035g00000Q1w2eAAB,0,0015g00000AbCdEAAV,Doe,Jane,Ms.,Jane Doe,Springfield,United States,+1 217 555 0101,+1 217 555 0199,jane.doe@acme.com,CFO,Finance,Online Form,0,"=HYPERLINK(""http://evil.example"",""click"")",0055g00000XyZ12AAB,2023-02-11T08:00:00.000Z
0035g00000Q1w2fAAB,0,0015g00000AbCdFAAV,Schmidt,Max,Herr,Max Schmidt,Berlin,Germany,,,max@globex.de,CTO,IT,Partner Referral,1,+49 call first,0055g00000XyZ12AAB,2023-06-01T12:00:00.000Z
0035g00000Q1w2gAAB,0,0015g00000ZZZZZAAV,Nobody,Ann,,Ann Nobody,,,,,ann@nowhere.org,,,Web,false,-,0055g00000XyZ12AAB,2023-06-01T12:00:00.000Z
"""
SF_LEAD = """Id,IsDeleted,LastName,FirstName,Salutation,Name,Title,Company,Street,City,State,PostalCode,Country,Phone,MobilePhone,Email,Website,Description,LeadSource,Status,Industry,Rating,AnnualRevenue,NumberOfEmployees,OwnerId,HasOptedOutOfEmail,IsConverted,ConvertedDate,ConvertedAccountId,ConvertedContactId,ConvertedOpportunityId,CreatedDate,Product_Interest__c
00Q5g00000L1a2bEAB,0,Martin,Claire,Mme,Claire Martin,Buyer,Initech,,Paris,,,France,+33 1 23 45 67 89,,claire@initech.fr,initech.fr,@mention on call,Online Form,Open - Not Contacted,Software,Hot,,75,0055g00000XyZ12AAB,false,false,,,,,2024-03-05T14:22:10.000+0000,GC5000 series
00Q5g00000L1a2cEAB,0,Lee,Sam,,Sam Lee,,Umbrella,,London,,,United Kingdom,,+44 7700 900123,sam@umbrella.co.uk,,"	tab first",Trade Show,Disqualified,Biotechnology,Cold,,12,0055g00000XyZ12AAB,true,false,,,,,2024-03-06T09:00:00.000-0500,
"""
SF_OPPORTUNITY = """Id,IsDeleted,AccountId,Name,Description,StageName,Amount,Probability,CloseDate,Type,NextStep,LeadSource,IsClosed,IsWon,ForecastCategory,CurrencyIsoCode,OwnerId,CreatedDate
0065g00000D1e2fAAB,0,0015g00000AbCdEAAV,Acme - 500 widgets,,Proposal/Price Quote,120000,75,2024-06-30,New Customer,Send quote,Web,0,0,Pipeline,USD,0055g00000XyZ12AAB,2024-01-15T10:00:00.000+0000
0065g00000D1e2gAAB,0,0015g00000AbCdEAAV,Acme - renewal,,Closed Won,80000,100,2024-03-31,Existing Customer - Upgrade,,,1,1,Closed,USD,0055g00000XyZ12AAB,2023-11-15T10:00:00.000+0000
0065g00000D1e2hAAB,0,0015g00000AbCdFAAV,Globex pilot,,Id. Decision Makers,15000,60,2024-07-15,New Customer,,,0,0,Pipeline,USD,0055g00000XyZ12AAB,2024-02-20T10:00:00.000+0000
"""

HS_COMPANIES = """Record ID,Company name,Company Domain Name,Website URL,Phone Number,City,Country/Region,Industry,Number of Employees,Annual Revenue,Company owner,Create Date,Type,Lifecycle Stage
5501,Initrode,initrode.com,https://initrode.com,+1 555 0111,Austin,United States,Computer Software,120,3000000,Dana Scully,2023-04-01 10:15,Prospect,Lead
5502,Vandelay Industries,vandelay.com,,+1 555 0122,New York,United States,Import/Export,15,,Dana Scully,2023-04-02 11:00,Customer,Customer
"""
HS_CONTACTS = """Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,Job Title,Contact owner,Create Date,Last Activity Date,Lifecycle Stage,Lead Status,City,Country/Region,Associated Company,Marketing contact status
901,Art,Vandelay,art@vandelay.com,+1 555 0123,,Importer,Dana Scully,2023-05-01 09:00,2024-01-02 10:00,Customer,Connected,New York,United States,Vandelay Industries,Marketing contact
902,Peter,Gibbons,peter@initrode.com,,+1 555 0188,Engineer,Dana Scully,2023-05-03 14:30,,Lead,New,Austin,United States,initrode.com,Non-marketing contact
903,Milton,Waddams,milton@example.org,,,Collator,,2023-05-04 08:00,,Subscriber,,,,Bobs Consulting,Non-marketing contact
"""


def write(directory: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = directory / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def workbook(built_book, tmp_path, on_backend) -> Path:
    """A new sales workbook to import into (built once per session; each test changes its own copy): the file,
    or the Google Sheet it was pushed to (tests/backends.py)."""
    return on_backend(fresh_copy(built_book(), tmp_path))


@pytest.fixture
def workbook_file(built_book, tmp_path) -> Path:
    """A new workbook file, for what only a file has (Excel's quote prefix, another program's lock file)."""
    return fresh_copy(built_book(), tmp_path)


@pytest.fixture
def salesforce(tmp_path) -> list[Path]:
    d = tmp_path / "sf"
    d.mkdir()
    return [write(d, "Account.csv", SF_ACCOUNT), write(d, "Contact.csv", SF_CONTACT), write(d, "Lead.csv", SF_LEAD),
            write(d, "Opportunity.csv", SF_OPPORTUNITY)]


def tables_of(path: Path):
    return open_store(path).read()


def by_ext(t, ext: str) -> pd.Series:
    df = t.df
    return df[df["external_id"] == ext].iloc[0]


@pytest.mark.slow
def test_a_salesforce_export_of_four_objects_arrives_with_its_relations_types_and_picklists(workbook, salesforce):
    report = import_files(workbook, salesforce, now=NOW, time_zone=TZ)
    assert report.written
    assert {t: (c.created, c.updated, c.skipped) for t, c in report.counts.items()} == {
        "accounts": (2, 0, 0), "contacts": (3, 0, 0), "leads": (2, 0, 0), "deals": (3, 0, 0)}
    tables = tables_of(workbook)
    acme = by_ext(tables["accounts"], "salesforce:0015g00000AbCdEAAV")
    globex = by_ext(tables["accounts"], "salesforce:0015g00000AbCdFAAV")
    assert (acme["name"], acme["city"], acme["country"], acme["employees"], acme["annual_revenue"]) == (
        "Acme Corporation", "Springfield", "United States", 250, 5_000_000)
    assert acme["type"] == "customer" and acme["industry"] == "manufacturing"  # Customer - Direct, by meaning
    assert globex["parent"] == acme.name  # ParentId -> our Account ID
    jane = by_ext(tables["contacts"], "salesforce:0035g00000Q1w2eAAB")
    assert jane["account"] == acme.name and jane["mobile"] == "+1 217 555 0199" and jane["source"] == "web_form"
    assert jane["opted_out"] is False or jane["opted_out"] == False  # noqa: E712  "0" is false
    max_ = by_ext(tables["contacts"], "salesforce:0035g00000Q1w2fAAB")
    assert max_["account"] == globex.name and bool(max_["opted_out"]) and max_["source"] == "partner"
    assert jane["owner"] == "0055g00000XyZ12AAB"  # OwnerId kept: no owner name in the export, said once
    assert sum("0055g00000XyZ12AAB" in n and "Team" in n for n in report.notes) == 1
    claire = by_ext(tables["leads"], "salesforce:00Q5g00000L1a2bEAB")
    assert (claire["status"], claire["source"], claire["company_size"]) == ("new", "web_form", "51-200")
    sam = by_ext(tables["leads"], "salesforce:00Q5g00000L1a2cEAB")
    assert sam["status"] == "Disqualified" and sam["phone"] == "+44 7700 900123"  # the team's status joins the list
    deals = {d["name"]: d for _, d in tables["deals"].df.iterrows()}
    assert deals["Acme - 500 widgets"]["stage"] == "Proposal" and deals["Acme - renewal"]["stage"] == "Closed won"
    assert deals["Acme - 500 widgets"]["probability"] == pytest.approx(0.75)
    assert deals["Acme - 500 widgets"]["account"] == acme.name and deals["Acme - 500 widgets"]["amount"] == 120000
    assert deals["Acme - 500 widgets"]["close_date"] == pd.Timestamp(2024, 6, 30)
    stages = list(tables["stages"].df["stage"])
    assert "Id. Decision Makers" in stages and "Proposal/Price Quote" not in stages
    lead_status = [o.key for o in tables.list("lead_status").options]
    assert "Disqualified" in lead_status
    # unmapped columns are custom fields, with their values
    assert acme["region"] == "EMEA" and claire["product_interest"] == "GC5000 series" and claire["rating"] == "Hot"
    # a relation to an account the export lacks: named, never dangling
    [problem] = report.problems
    assert (problem.file, problem.line, problem.column, problem.value) == ("Contact.csv", 4, "AccountId", "0015g00000ZZZZZAAV")
    ann = by_ext(tables["contacts"], "salesforce:0035g00000Q1w2gAAB")
    assert pd.isna(ann["account"])


def test_salesforce_datetimes_keep_their_time_in_the_team_time_zone(workbook, salesforce):
    import_files(workbook, salesforce, now=NOW, time_zone=TZ)
    ws = openpyxl.load_workbook(as_file(workbook))["Leads"]
    headers = [c.value for c in ws[1]]
    created = {ws.cell(r, headers.index("Email") + 1).value: ws.cell(r, headers.index("Created") + 1).value
               for r in range(2, ws.max_row + 1)}
    assert created["claire@initech.fr"] == datetime(2024, 3, 5, 15, 22, 10)  # 14:22:10 UTC is 15:22:10 in Paris
    assert created["sam@umbrella.co.uk"] == datetime(2024, 3, 6, 15, 0)  # 09:00 at -05:00


@pytest.mark.slow
def test_values_that_look_like_formulas_arrive_as_text(workbook, salesforce):
    import_files(workbook, salesforce, now=NOW, time_zone=TZ)
    wb = openpyxl.load_workbook(as_file(workbook))
    cells = [c for ws in (wb["Contacts"], wb["Leads"]) for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    texts = {c.value: c.data_type for c in cells}
    for value in ('=HYPERLINK("http://evil.example","click")', "+49 call first", "@mention on call", "-"):
        assert texts.get(value) == "s", value
    assert not any(c.data_type == "f" for c in cells)


@pytest.mark.slow
def test_imported_values_that_look_like_formulas_stay_text_when_a_person_edits_them(workbook_file, salesforce):
    workbook = workbook_file
    import_files(workbook, salesforce, now=NOW, time_zone=TZ)
    wb = openpyxl.load_workbook(workbook)
    cells = {c.value: c for ws in (wb["Contacts"], wb["Leads"]) for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    for value in ('=HYPERLINK("http://evil.example","click")', "+49 call first", "@mention on call", "-"):
        assert cells[value].quotePrefix, value  # Excel's quote prefix: F2 then Enter keeps the cell text
    for value in ("Jane", "Claire", "max@globex.de", "Initech"):
        assert not cells[value].quotePrefix, value  # ordinary text of the same import has none
    quoted = _quoted_formats(workbook)
    import_files(workbook, salesforce, now=NOW, time_zone=TZ)
    assert _quoted_formats(workbook) == quoted  # a second import adds no cell format


def _quoted_formats(book: Path) -> int:
    import zipfile

    with zipfile.ZipFile(book) as z:
        return z.read("xl/styles.xml").count(b'quotePrefix="1"')


@pytest.mark.slow
def test_a_second_import_of_the_same_files_changes_nothing(workbook, salesforce):
    import_files(workbook, salesforce, now=NOW, time_zone=TZ)
    before = content_version(workbook)
    again = import_files(workbook, salesforce, now=NOW, time_zone=TZ)
    assert not again.written and content_version(workbook) == before
    assert {t: (c.created, c.updated, c.unchanged) for t, c in again.counts.items()} == {
        "accounts": (0, 0, 2), "contacts": (0, 0, 3), "leads": (0, 0, 2), "deals": (0, 0, 3)}


@pytest.mark.slow
def test_an_updated_export_updates_records_in_place(workbook, salesforce, tmp_path):
    import_files(workbook, salesforce, now=NOW, time_zone=TZ)
    ids = set(tables_of(workbook)["deals"].df.index)
    newer = write(tmp_path, "Opportunity.csv", SF_OPPORTUNITY.replace("Proposal/Price Quote,120000,75", "Closed Won,125000,100"))
    contact = write(tmp_path, "Contact.csv", SF_CONTACT.replace("+1 217 555 0101", "+1 217 555 0111"))
    report = import_files(workbook, [newer, contact], now=NOW, time_zone=TZ)
    assert (report.counts["deals"].updated, report.counts["deals"].unchanged, report.counts["deals"].created) == (1, 2, 0)
    assert (report.counts["contacts"].updated, report.counts["contacts"].created) == (1, 0)
    tables = tables_of(workbook)
    assert set(tables["deals"].df.index) == ids
    deal = by_ext(tables["deals"], "salesforce:0065g00000D1e2fAAB")
    assert (deal["stage"], deal["amount"]) == ("Closed won", 125000)
    assert by_ext(tables["contacts"], "salesforce:0035g00000Q1w2eAAB")["phone"] == "+1 217 555 0111"
    log = tables["audit_log"].df
    assert ((log["job"] == "import") & (log["field"] == "amount") & (log["after"] == "125000")).any()


def test_a_hubspot_export_of_contacts_and_companies_links_contacts_to_companies_by_name_or_domain(workbook, tmp_path):
    files = [write(tmp_path, "hubspot-crm-exports-all-contacts-2024-08-01.csv", HS_CONTACTS),
             write(tmp_path, "hubspot-crm-exports-all-companies-2024-08-01.csv", HS_COMPANIES)]
    report = import_files(workbook, files, now=NOW, time_zone=TZ)
    assert [f["vendor"] for f in report.files] == ["hubspot", "hubspot"]
    assert [f["tables"] for f in report.files] == [["contacts"], ["accounts"]]
    tables = tables_of(workbook)
    vandelay = by_ext(tables["accounts"], "hubspot:5502")
    initrode = by_ext(tables["accounts"], "hubspot:5501")
    assert initrode["website"] == "initrode.com" and initrode["industry"] == "software" and initrode["owner"] == "Dana Scully"
    art = by_ext(tables["contacts"], "hubspot:901")
    assert (art["account"], art["phone"], art["country"], art["owner"]) == (vandelay.name, "+1 555 0123", "United States", "Dana Scully")
    assert art["created"] == pd.Timestamp(2023, 5, 1, 9, 0) or art["created"] == pd.Timestamp(2023, 5, 1)
    peter = by_ext(tables["contacts"], "hubspot:902")
    assert peter["account"] == initrode.name and peter["mobile"] == "+1 555 0188"  # by the company's domain
    assert art["lifecycle_stage"] == "Customer" and art["lead_status"] == "Connected"  # custom fields
    milton = [p for p in report.problems if p.value == "Bobs Consulting"]
    assert milton and milton[0].line == 4 and milton[0].column == "Associated Company"


SALES_ACCOUNTS = """account,sector,year_established,revenue,employees,office_location,subsidiary_of
Acme Corporation,technolgy,1996,1100.04,2822,United States,
Betasoloin,medical,1999,251.41,495,United States,
Cancity,retail,2001,718.62,2448,United States,
"""
SALES_PIPELINE = """opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value
1C1I7A6R,Moses Frase,GTX Plus Basic,Cancity,Won,2016-10-20,2017-03-01,1054
Z063OYW0,Darcel Schlecht,GTXPro,Isdom,Won,2016-10-25,2017-03-11,4514
EC4QE1BX,Darcel Schlecht,MG Special,Cancity,Won,2016-10-25,2017-03-07,50
MV1LWRNH,Moses Frase,GTX Basic,Betasoloin,Engaging,2016-10-25,,
PE84CX4O,Zane Levy,GTX Basic,Acme Corporation,Lost,2016-10-26,2017-03-15,0
ZZZZ0000,Zane Levy,GTX Basic,,Prospecting,2016-10-27,,
"""


@pytest.mark.slow
def test_deals_that_name_their_account_link_to_it_and_their_won_revenue_shows_in_the_report(workbook, tmp_path):
    from crm_sheets.jobs.report.metrics import compute

    files = [write(tmp_path, "accounts.csv", SALES_ACCOUNTS), write(tmp_path, "sales_pipeline.csv", SALES_PIPELINE)]
    report = import_files(workbook, files, now=NOW, time_zone=TZ)
    assert [f["tables"] for f in report.files] == [["accounts"], ["deals"]]
    tables = tables_of(workbook)
    acc = {r["name"]: rid for rid, r in tables["accounts"].df.iterrows()}
    deals = tables["deals"].df
    cancity = deals[deals["account"] == acc["Cancity"]]
    assert len(cancity) == 2 and set(cancity["stage"]) == {"Closed won"}
    assert set(deals[deals["stage"] == "Closed lost"]["account"]) == {acc["Acme Corporation"]}
    # Isdom is in no file: the deal is imported, its link left empty, and the row named
    [isdom] = [p for p in report.problems if p.value == "Isdom"]
    assert (isdom.file, isdom.line, isdom.column) == ("sales_pipeline.csv", 3, "account")
    figures = compute(tables_of(workbook), NOW)
    assert figures.dashboard.won_revenue == pytest.approx(1054 + 4514 + 50)
    again = import_files(workbook, files, now=NOW, time_zone=TZ)
    assert not again.written and all(c.created == 0 and c.updated == 0 for c in again.counts.values())


PIPEDRIVE_DEALS = """Deal - ID,Deal - Title,Deal - Value,Deal - Currency,Deal - Stage,Deal - Status,Deal - Owner,Deal - Expected close date,Deal - Won time,Deal - Deal created,Deal - Pipeline,Deal - Organization,Deal - Contact person,Person - Name,Person - Email - Work,Person - Phone - Work,Organization - Name,Organization - Address
17,Hooli cloud deal,42000,EUR,Proposal Made,open,Gavin Belson,2024-09-30,,2024-05-02 09:12:44,Default,Hooli,Erlich Bachman,Erlich Bachman,erlich@hooli.com,+1 650 555 0100,Hooli,"1 Hacker Way, Palo Alto"
18,Pied Piper seed,9000,EUR,Negotiations Started,won,Gavin Belson,2024-06-30,2024-06-20 16:00:00,2024-04-01 10:00:00,Default,Pied Piper,Richard Hendricks,Richard Hendricks,richard@piedpiper.com,,Pied Piper,
"""


def test_a_pipedrive_deals_export_makes_the_organization_person_and_deal_of_each_row(workbook, tmp_path):
    report = import_files(workbook, [write(tmp_path, "deals-export.csv", PIPEDRIVE_DEALS)], now=NOW, time_zone=TZ)
    assert report.files[0]["vendor"] == "pipedrive" and report.files[0]["tables"] == ["accounts", "contacts", "deals"]
    tables = tables_of(workbook)
    hooli = tables["accounts"].df[tables["accounts"].df["name"] == "Hooli"].index[0]
    erlich = tables["contacts"].df[tables["contacts"].df["email"] == "erlich@hooli.com"].iloc[0]
    assert (erlich["first_name"], erlich["last_name"], erlich["account"]) == ("Erlich", "Bachman", hooli)
    deals = tables["deals"].df.set_index("name")
    assert deals.at["Hooli cloud deal", "account"] == hooli and deals.at["Hooli cloud deal", "contact"] == erlich.name
    assert deals.at["Hooli cloud deal", "stage"] == "Proposal" and deals.at["Hooli cloud deal", "currency"] == "EUR"
    assert deals.at["Pied Piper seed", "stage"] == "Closed won"  # Deal - Status won
    assert deals.at["Hooli cloud deal", "external_id"] == "pipedrive:17"


@pytest.mark.slow
def test_a_person_without_email_is_matched_by_the_dedupe_rules(workbook, tmp_path):
    first = "Id,FirstName,LastName,Company,Phone,Email,Status\n00Q1,Claire,Martin,Initech,+33 1 23 45 67 89,claire@initech.fr,Open\n"
    import_files(workbook, [write(tmp_path, "Lead.csv", first)], now=NOW, time_zone=TZ)
    other = ("Record ID,First Name,Last Name,Company Name,Phone Number,Email,Lead Status,Job Title\n"
             "77,Claire,Martin,Initech,+33 1 23 45 67 89,,Connected,Buyer\n")
    report = import_files(workbook, [write(tmp_path, "leads-hubspot.csv", other)], now=NOW, time_zone=TZ)
    assert (report.counts["leads"].created, report.counts["leads"].updated) == (0, 1)
    leads = tables_of(workbook)["leads"].df
    assert len(leads) == 1 and leads.iloc[0]["job_title"] == "Buyer"  # a likely match fills what was empty...
    assert leads.iloc[0]["status"] == "new" and leads.iloc[0]["external_id"] == "salesforce:00Q1"  # ...and keeps the rest


def test_csv_files_in_windows_1252_with_semicolons_and_utf8_with_bom_and_tabs_are_read(tmp_path):
    a = write(tmp_path, "a.csv", "Nom;Prénom;Société;Courriel\nDurand;Élodie;Café Crème;elodie@cafe.fr\n", "cp1252")
    b = tmp_path / "b.csv"
    b.write_bytes(b"\xef\xbb\xbf" + "Name\tEmail\tCompany\n\"Müller, Jörg\"\tjoerg@example.de\tMüller AG\n".encode())
    fa, fb = read_csv(a), read_csv(b)
    assert (fa.encoding, fa.delimiter, fa.headers, fa.rows[0][1]) == ("cp1252", ";", ["Nom", "Prénom", "Société", "Courriel"],
                                                                      ["Durand", "Élodie", "Café Crème", "elodie@cafe.fr"])
    assert (fb.encoding, fb.delimiter, fb.headers[0], fb.rows[0][1][0]) == ("utf-8-sig", "\t", "Name", "Müller, Jörg")


def test_a_french_csv_of_no_known_vendor_goes_through_the_adopt_mapping(workbook, tmp_path):
    a = write(tmp_path, "prospects.csv", "Nom;Prénom;Société;Courriel;Statut;Humeur\nDurand;Élodie;Café Crème;elodie@cafe.fr;Nouveau;😀\n", "utf-8")
    report = import_files(workbook, [a], now=NOW, time_zone=TZ)
    assert report.files[0]["tables"] == ["leads"]
    lead = tables_of(workbook)["leads"].df.iloc[0]
    assert (lead["last_name"], lead["first_name"], lead["company"], lead["email"], lead["status"]) == (
        "Durand", "Élodie", "Café Crème", "elodie@cafe.fr", "new")
    assert lead["humeur"] == "😀"


def _same_tables(a: Path, b: Path) -> None:
    ta, tb = tables_of(a), tables_of(b)
    for name in ("accounts", "contacts", "leads", "deals"):
        da, db = ta[name].df, tb[name].df
        assert list(da.index) == list(db.index), name
        cols = [f.name for f in ta[name].schema.fields if f.name in da.columns and not f.owned_by_job]
        for c in cols:
            assert c in db.columns, (name, c)
            left = da[c].astype(object).where(da[c].notna(), None).tolist()
            right = db[c].astype(object).where(db[c].notna(), None).tolist()
            assert left == right, (name, c)


@pytest.mark.slow
@pytest.mark.parametrize("to", ["csv", "salesforce", "hubspot"])
def test_export_then_import_into_a_new_workbook_gives_the_same_tables(workbook, salesforce, tmp_path, to):
    import_files(workbook, salesforce, now=NOW, time_zone=TZ)
    out = export_workbook(workbook, to, tmp_path / f"out-{to}")
    names = sorted(Path(f["file"]).name for f in out.files)
    expected = {"csv": ["accounts.csv", "contacts.csv", "deals.csv", "leads.csv"],
                "salesforce": ["Account.csv", "Contact.csv", "Lead.csv", "Opportunity.csv"],
                "hubspot": ["companies.csv", "contacts.csv", "deals.csv", "leads.csv"]}[to]
    assert names == expected
    fresh = tmp_path / f"fresh-{to}.xlsx"
    report = import_files(fresh, [f["file"] for f in out.files], now=NOW, time_zone=TZ)
    assert report.created_workbook and not report.problems[1:]  # the dangling AccountId of the source stays named once
    _same_tables(workbook, fresh)
    if to != "csv":
        header = (tmp_path / f"out-{to}" / expected[0]).read_text(encoding="utf-8-sig").splitlines()[0]
        assert header.startswith("Id,Name," if to == "salesforce" else "Record ID,Company name,")


@pytest.mark.slow
def test_the_export_writes_formula_looking_text_so_a_spreadsheet_shows_it_as_text(workbook, salesforce, tmp_path):
    import_files(workbook, salesforce, now=NOW, time_zone=TZ)
    export_workbook(workbook, "salesforce", tmp_path / "out")
    text = (tmp_path / "out" / "Contact.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text and "'+49 call first" in text


@pytest.mark.slow
def test_cli_import_json_is_the_library_result_and_a_dry_run_writes_nothing(workbook, salesforce):
    before = content_version(workbook)
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(workbook), *map(str, salesforce), "--dry-run", "--json", "--time-zone", TZ])
    assert result.exit_code == 1, result.output  # the dangling AccountId is a data problem
    printed = json.loads(result.output)
    assert printed["counts"]["contacts"]["created"] == 3 and printed["dry_run"] and not printed["written"]
    assert content_version(workbook) == before
    result = runner.invoke(cli, ["import", str(workbook), *map(str, salesforce), "--time-zone", TZ])
    assert "created" in result.output and "Contact.csv, line 4" in result.output
    out = Path(salesforce[0]).parent.parent / "hs"
    result = runner.invoke(cli, ["export", str(workbook), "--to", "hubspot", str(out)])
    assert result.exit_code == 0 and (out / "contacts.csv").exists()


def test_an_unreadable_source_is_one_line_and_exit_2(workbook, tmp_path):
    result = CliRunner().invoke(cli, ["import", str(workbook), str(tmp_path / "missing.csv")])
    assert result.exit_code == 2 and "missing.csv" in result.output and "Traceback" not in result.output


def test_an_import_into_a_workbook_open_in_libreoffice_writes_nothing_and_leaves_nothing_pending(workbook_file, salesforce):
    from crm_sheets.store.pending import pending_path

    workbook = workbook_file
    (workbook.parent / f".~lock.{workbook.name}#").write_text("Ana Lopez,ana,host,01.08.2024 09:00,file:///home/ana;")
    before = workbook.read_bytes()
    result = CliRunner().invoke(cli, ["import", str(workbook), *map(str, salesforce)])
    assert result.exit_code == 3 and "nothing was imported" in result.output
    assert workbook.read_bytes() == before and not pending_path(workbook).exists()


@pytest.mark.slow
def test_an_xlsx_export_is_read_with_its_typed_cells(workbook, tmp_path):
    path = tmp_path / "hubspot-crm-exports-all-deals.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "All deals"
    ws.append(["Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Pipeline", "Deal owner", "Create Date",
               "Associated Company"])
    ws.append([7001, "Vandelay renewal", "Closed Won", 12500.5, datetime(2024, 5, 31), "Sales Pipeline", "Dana Scully",
               datetime(2024, 1, 2, 9, 30), "Vandelay Industries"])
    ws.append([7002, "Vandelay upsell", "Contract Sent", 3000, datetime(2024, 9, 30), "Sales Pipeline", "Dana Scully",
               datetime(2024, 2, 2, 9, 30), "Vandelay Industries"])
    wb.save(path)
    companies = write(tmp_path, "companies.csv", HS_COMPANIES)
    report = import_files(workbook, [companies, path], now=NOW, time_zone=TZ)
    assert report.files[1]["vendor"] == "hubspot" and report.files[1]["tables"] == ["deals"]
    deals = tables_of(workbook)["deals"].df.set_index("external_id")
    vandelay = by_ext(tables_of(workbook)["accounts"], "hubspot:5502").name
    assert deals.at["hubspot:7001", "stage"] == "Closed won" and deals.at["hubspot:7001", "amount"] == 12500.5
    assert deals.at["hubspot:7002", "stage"] == "Negotiation" and deals.at["hubspot:7002", "account"] == vandelay
    assert deals.at["hubspot:7001", "close_date"] == pd.Timestamp(2024, 5, 31)
    assert deals.at["hubspot:7001", "pipeline"] == "Sales Pipeline"  # a custom field


@pytest.mark.slow
def test_the_same_company_from_two_systems_is_one_account_found_by_name_or_domain(workbook, tmp_path):
    import_files(workbook, [write(tmp_path, "companies.csv", HS_COMPANIES)], now=NOW, time_zone=TZ)
    sf = ("Id,Name,Website,BillingCity,Industry\n"
          "0015g00000AAAAAAAA,\"INITRODE, Inc.\",,Austin,Software\n"
          "0015g00000BBBBBBBB,Vandelay Imports,https://www.vandelay.com/about,New York,\n")
    report = import_files(workbook, [write(tmp_path, "Account.csv", sf)], now=NOW, time_zone=TZ)
    assert (report.counts["accounts"].created, report.counts["accounts"].unchanged + report.counts["accounts"].updated) == (0, 2)
    accounts = tables_of(workbook)["accounts"].df
    assert len(accounts) == 2
    assert set(accounts["external_id"]) == {"hubspot:5501", "hubspot:5502"}  # the first system's ID is kept


def test_rows_that_are_no_record_are_skipped_with_their_line_and_reason(workbook, tmp_path):
    text = ("Id,FirstName,LastName,Company,Email,Status\n"
            "00Q1,,,Initech,,Open\n"
            "00Q2,Bill,Lumbergh,Initech,bill@initech.com,Open\n")
    report = import_files(workbook, [write(tmp_path, "Lead.csv", text)], now=NOW, time_zone=TZ)
    assert report.counts["leads"].created == 1 and report.counts["leads"].skipped == 1
    [skipped] = report.skipped
    assert (skipped.file, skipped.line) == ("Lead.csv", 2) and "neither a name nor an email" in skipped.problem


def test_table_names_the_table_of_a_file_whose_headers_fit_several(workbook, tmp_path):
    text = "Name,Email,Phone\n\"Lopez, Ana\",ana@example.com,+34 600 000 000\n"
    report = import_files(workbook, [write(tmp_path, "people.csv", text)], table="contacts", now=NOW, time_zone=TZ)
    assert report.files[0]["tables"] == ["contacts"]
    c = tables_of(workbook)["contacts"].df.iloc[0]
    assert (c["first_name"], c["last_name"], c["email"], c["phone"]) == ("Ana", "Lopez", "ana@example.com", "+34 600 000 000")


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_the_services_template_takes_companies_as_clients(tmp_path):
    book = new_workbook(tmp_path / "services.xlsx", template="services")
    files = [write(tmp_path, "hubspot-contacts.csv", HS_CONTACTS), write(tmp_path, "hubspot-companies.csv", HS_COMPANIES)]
    report = import_files(book, files, now=NOW, time_zone=TZ)
    assert [f["tables"] for f in report.files] == [["contacts"], ["clients"]]
    tables = tables_of(book)
    vandelay = by_ext(tables["clients"], "hubspot:5502")
    assert by_ext(tables["contacts"], "hubspot:901")["client"] == vandelay.name
    out = export_workbook(book, "hubspot", tmp_path / "out")
    assert sorted(Path(f["file"]).name for f in out.files) == ["companies.csv", "contacts.csv", "leads.csv"]
    fresh = tmp_path / "fresh.xlsx"
    import_files(fresh, [f["file"] for f in out.files], now=NOW, time_zone=TZ, template="services")
    again = tables_of(fresh)
    assert by_ext(again["contacts"], "hubspot:901")["client"] == by_ext(again["clients"], "hubspot:5502").name


SF_REPORT = """Lead ID,First Name,Last Name,Title,Company / Account,Lead Source,Lead Status,Lead Owner,Created Date,Email
00Q5g00000L9z9zEAB,Ana,Lopez,CEO,Tortilla SA,Web,Working - Contacted,Bob Smith,2024-02-01,ana@tortilla.es
"""


@pytest.mark.slow
def test_a_salesforce_report_export_with_labels_goes_through_the_mapping_and_keeps_its_ids(workbook, tmp_path):
    source = write(tmp_path, "report1712345678.csv", SF_REPORT)
    report = import_files(workbook, [source], table="leads", now=NOW, time_zone=TZ)
    assert report.files[0]["vendor"] == "csv"
    lead = tables_of(workbook)["leads"].df.iloc[0]
    assert (lead["first_name"], lead["email"], lead["status"], lead["source"], lead["owner"]) == (
        "Ana", "ana@tortilla.es", "contacted", "web_form", "Bob Smith")
    assert lead["external_id"] == "csv:00Q5g00000L9z9zEAB" and lead["company"] == "Tortilla SA"
    again = import_files(workbook, [source], table="leads", now=NOW, time_zone=TZ)
    assert not again.written and again.counts["leads"].unchanged == 1


def test_a_column_without_a_header_is_kept_under_its_letter(workbook, tmp_path):
    text = "Email,First Name,Last Name,\nzoe@example.com,Zoe,Adams,met at the fair\n"
    report = import_files(workbook, [write(tmp_path, "list.csv", text)], table="leads", now=NOW, time_zone=TZ)
    assert ("leads", "column_d", "Column D") in report.custom_fields
    assert tables_of(workbook)["leads"].df.iloc[0]["column_d"] == "met at the fair"


def test_a_company_name_that_looks_like_a_domain_still_links_by_name(workbook, tmp_path):
    accounts = "Record ID,Company name,Company Domain Name\n1,Startup.io,\n"
    contacts = "Record ID,First Name,Last Name,Email,Associated Company\n2,Bob,Smith,bob@mail.example,Startup.io\n"
    import_files(workbook, [write(tmp_path, "companies.csv", accounts), write(tmp_path, "contacts.csv", contacts)],
                 now=NOW, time_zone=TZ)
    tables = tables_of(workbook)
    assert by_ext(tables["contacts"], "hubspot:2")["account"] == by_ext(tables["accounts"], "hubspot:1").name


def test_the_personal_template_takes_contacts_as_people_with_their_company_name(tmp_path):
    book = new_workbook(tmp_path / "personal.xlsx", template="personal")
    report = import_files(book, [write(tmp_path, "hubspot-contacts.csv", HS_CONTACTS)], now=NOW, time_zone=TZ)
    assert report.files[0]["tables"] == ["people"] and not report.problems
    art = by_ext(tables_of(book)["people"], "hubspot:901")
    assert (art["first_name"], art["company"], art["contact_owner"]) == ("Art", "Vandelay Industries", "Dana Scully")


def test_a_dry_run_into_a_workbook_not_made_yet_makes_nothing_and_says_what_would_come(salesforce, tmp_path):
    path = tmp_path / "later.xlsx"
    report = import_files(path, salesforce, dry_run=True, now=NOW, time_zone=TZ)
    assert not path.exists() and not list(tmp_path.glob("*.xlsx")) and not report.written
    assert report.counts["deals"].created == 3 and ("accounts", "region", "Region") in report.custom_fields
    assert any("Id. Decision Makers" in n for n in report.notes)
