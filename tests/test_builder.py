"""crm-sheets new: the workbook a team opens first, in every template and language."""
from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from crm_sheets.store.safety import list_backups

import python_calamine as pc
from helpers import calamine, grid
from _builder_helpers import NOW, NS, cell, defined_names, sales_data, sheet_xml, validations
from crm_sheets.builder import build_workbook
from crm_sheets.builder.layout import META_SHEET
from crm_sheets.errors import UsageError
from crm_sheets.model.schema import LANGUAGES, available_templates, load_schema
from crm_sheets.model.tables import column_letter

TEMPLATES = available_templates()
# English in the quick loop (the French workbook has tests of its own there); every language in the full suite.
EVERY_LANGUAGE = [lang if lang == "en" else pytest.param(lang, marks=pytest.mark.slow) for lang in LANGUAGES]


@pytest.fixture(scope="module")
def sales_en(tmp_path_factory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("en") / "crm.xlsx", "sales", "en", sales_data(), now=NOW)


@pytest.fixture(scope="module")
def sales_fr(tmp_path_factory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("fr") / "crm.xlsx", "sales", "fr", sales_data(), now=NOW)


# ---------------------------------------------------------------------------------------------
# Every template, every language


@pytest.mark.slow
@pytest.mark.parametrize("lang", EVERY_LANGUAGE)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_builds_with_a_sheet_and_an_excel_table_per_schema_table(built_book, template, lang):
    schema = load_schema(template)
    path = built_book(template, lang, now=NOW)
    wb = calamine(path, tables=True)
    names = wb.sheet_names
    assert names[0] == ("Accueil" if lang == "fr" else "Start")
    assert names[-2:] == [("Listes" if lang == "fr" else "Lists"), META_SHEET]
    assert sorted(wb.table_names) == sorted(t.excel_name for t in schema.tables.values())
    for t in schema.tables.values():
        table = wb.get_table_by_name(t.excel_name)
        assert table.sheet == t.sheet_name(lang)
        assert table.columns == [f.header(lang) for f in t.fields]
        assert wb.get_sheet_by_name(t.sheet_name(lang)).to_python()[0] == [f.header(lang) for f in t.fields]


@pytest.mark.parametrize("lang", EVERY_LANGUAGE)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_typed_column_carries_validation(built_book, template, lang):
    schema = load_schema(template)
    path = built_book(template, lang, now=NOW)
    typed = {"id", "dropdown", "tags", "reference", "user", "checkbox", "date", "datetime", "integer", "number",
             "money", "percent", "email", "phone", "url"}
    for t in schema.tables.values():
        sheet = sheet_xml(path, t.sheet_name(lang))
        covered = {ref.split(":")[0].rstrip("0123456789") for dv in validations(sheet) for ref in dv.get("sqref").split()
                   if ref.split(":")[0].endswith("2")}
        headers = {ref for dv in validations(sheet) for ref in dv.get("sqref").split() if ref.endswith("1") and ":" not in ref}
        for i, f in enumerate(t.fields):
            letter = column_letter(i)
            assert f"{letter}1" in headers, f"{t.name}.{f.name}: no input message on the header"
            if f.type in typed and not (f.type == "reference" and f.reference == "*"):
                assert letter in covered, f"{t.name}.{f.name} ({f.type}): no validation on its cells"


def test_french_workbook_has_french_sheet_names_headers_and_labels_with_the_same_keys(sales_fr):
    wb = calamine(sales_fr, tables=True)
    assert {"Prospects", "Affaires", "Paramètres", "Listes", "Étapes"} <= set(wb.sheet_names)
    leads = wb.get_table_by_name("Leads").to_python()
    assert leads[0][:3] == ["L-00001", "Ana", "Lopez"]
    assert "Qualifié" in leads[0] and "Recommandation" in leads[0]
    lists = grid(sales_fr, "Listes")
    status_col = lists[0].index("Statut du prospect")
    assert [r[status_col] for r in lists[1:6]] == ["Nouveau", "Contacté", "Qualifié", "Non qualifié", "Converti"]
    settings = grid(sales_fr, "Paramètres")
    assert settings[0] == ["Paramètre", "Valeur", "Description"]
    assert ["hot_lead_score", 70.0] == settings[[r[0] for r in settings].index("hot_lead_score")][:2]
    assert "chauds" in settings[[r[0] for r in settings].index("hot_lead_score")][2]
    stages = wb.get_table_by_name("Stages").to_python()
    assert [r[0] for r in stages] == ["Prospection", "Qualification", "Proposition", "Négociation", "Gagnée", "Perdue"]


def test_unknown_language_is_refused_with_the_valid_ones(tmp_path):
    with pytest.raises(UsageError) as err:
        build_workbook(tmp_path / "crm.xlsx", "sales", "de")
    assert "'de'" in str(err.value) and "en, fr" in str(err.value)
    assert not (tmp_path / "crm.xlsx").exists()


# ---------------------------------------------------------------------------------------------
# Data as the jobs see it


@pytest.mark.slow
def test_dropdown_keys_are_written_as_labels_and_unknown_values_as_typed(sales_en):
    leads = calamine(sales_en, tables=True).get_table_by_name("Leads")
    rows = {r[0]: dict(zip(leads.columns, r)) for r in leads.to_python()}
    assert rows["L-00001"]["Status"] == "Qualified"
    assert rows["L-00001"]["Source"] == "Referral"
    assert rows["L-00003"]["Status"] == "Qualifed"  # a typo planted as bad data stays for check to find
    assert rows["L-00001"]["Tags"] == "VIP, Newsletter"
    assert rows["L-00003"]["Tags"] == "vip, unknown"


def test_typed_values_come_back_typed_and_bad_ones_as_the_text_typed(sales_en):
    wb = calamine(sales_en, tables=True)
    leads = {r[0]: r for r in wb.get_table_by_name("Leads").to_python()}
    cols = wb.get_table_by_name("Leads").columns
    assert leads["L-00002"][cols.index("Opted out")] is True
    assert leads["L-00001"][cols.index("Score")] == 85
    assert str(leads["L-00001"][cols.index("Created")]) == "2026-01-05"
    activities = {r[0]: r for r in wb.get_table_by_name("Activities").to_python()}
    assert str(activities["AC-00001"][1]) == "2026-02-27 10:15:00"
    assert activities["AC-00002"][1] == "next tuesday"


def test_a_value_starting_with_equals_stays_text_never_a_formula(sales_en):
    sheet = sheet_xml(sales_en, "Leads")
    assert sheet.find(".//m:f", NS) is None
    c = cell(sheet, "B4")
    assert c.get("t") in ("s", "inlineStr")
    assert calamine(sales_en, tables=True).get_table_by_name("Leads").to_python()[2][1] == '=HYPERLINK("http://evil")'


TRICKY_TEXTS = ["<r>not rich text</r>", "a < b & c > d", "bell\x07here", "typed _x0041_ literally",
                "  spaces kept  ", "line one\nline two", "=1+1", "@SUM(A1)", "+33 6 12 34 56 78", "é ü 中文 🙂"]


@pytest.mark.parametrize("fast", [True, False])
def test_any_text_comes_back_exactly_as_given(tmp_path, fast):
    n = len(TRICKY_TEXTS)
    leads = pd.DataFrame({"last_name": TRICKY_TEXTS, "notes": TRICKY_TEXTS},
                         index=pd.Index([f"L-{i:05d}" for i in range(1, n + 1)], name="id"))
    path = build_workbook(tmp_path / "crm.xlsx", data={"leads": leads}, now=NOW, fast=fast)
    table = calamine(path, tables=True).get_table_by_name("Leads")
    rows = table.to_python()
    col = table.columns.index("Last name")
    assert [r[col] for r in rows] == TRICKY_TEXTS
    assert [r[table.columns.index("Notes")] for r in rows] == TRICKY_TEXTS
    assert sheet_xml(path, "Leads").find(".//m:f", NS) is None


@pytest.mark.slow  # over a second
def test_the_fast_writer_gives_the_same_workbook_as_xlsxwriters_own(tmp_path):
    (tmp_path / "fast").mkdir()
    (tmp_path / "slow").mkdir()
    fast = build_workbook(tmp_path / "fast" / "crm.xlsx", "sales", "fr", sales_data(), now=NOW)
    slow = build_workbook(tmp_path / "slow" / "crm.xlsx", "sales", "fr", sales_data(), now=NOW, fast=False)
    a, b = calamine(fast, tables=True), calamine(slow, tables=True)
    assert a.sheet_names == b.sheet_names
    for name in a.sheet_names:
        assert a.get_sheet_by_name(name).to_python() == b.get_sheet_by_name(name).to_python(), name
    for name in a.table_names:
        ta, tb = a.get_table_by_name(name), b.get_table_by_name(name)
        assert (ta.start, ta.end, ta.columns) == (tb.start, tb.end, tb.columns), name

    def styles(path, sheet):
        return {c.get("r"): c.get("s") for c in sheet_xml(path, sheet).iter(f"{{{NS['m']}}}c")}

    assert styles(fast, "Affaires") == styles(slow, "Affaires")
    assert styles(fast, "Prospects") == styles(slow, "Prospects")


def test_money_shows_the_currency_of_its_row_or_of_the_settings(sales_en):
    with zipfile.ZipFile(sales_en) as z:
        styles = z.read("xl/styles.xml").decode()
    assert 'formatCode="&quot;€&quot;#,##0.00"' in styles
    assert 'formatCode="&quot;$&quot;#,##0.00"' in styles
    sheet = sheet_xml(sales_en, "Deals")
    assert cell(sheet, "G2").get("s") != cell(sheet, "G3").get("s")  # EUR row and USD row


def test_meta_sheet_is_hidden_and_holds_template_language_and_next_ids(sales_en):
    wb = calamine(sales_en, tables=True)
    assert wb.sheets_metadata[-1].visible == pc.SheetVisibleEnum.Hidden
    meta = dict(wb.get_sheet_by_name(META_SHEET).to_python()[1:])
    assert meta["template"] == "sales" and meta["lang"] == "en" and meta["schema_version"] == 1
    assert meta["created"] == "2026-03-02T09:30:00"
    assert meta["seq.leads"] == 10 and meta["seq.accounts"] == 8 and meta["seq.contacts"] == 1


@pytest.mark.slow
def test_rows_without_an_id_get_the_next_ones(tmp_path):
    leads = pd.DataFrame({"last_name": ["A", "B", "C"]}, index=pd.Index(["L-00004", None, ""], name="id"))
    path = build_workbook(tmp_path / "crm.xlsx", data={"leads": leads}, now=NOW)
    wb = calamine(path, tables=True)
    assert [r[0] for r in wb.get_table_by_name("Leads").to_python()] == ["L-00004", "L-00005", "L-00006"]
    assert dict(wb.get_sheet_by_name(META_SHEET).to_python()[1:])["seq.leads"] == 7


def test_data_for_a_table_the_template_lacks_is_refused(tmp_path):
    with pytest.raises(UsageError, match="'widgets'"):
        build_workbook(tmp_path / "crm.xlsx", data={"widgets": pd.DataFrame({"x": [1]})})


def test_settings_keep_their_english_keys_and_typed_values(sales_en):
    rows = {r[0]: r[1] for r in grid(sales_en, "Settings")[1:]}
    assert rows["currency"] == "USD"
    assert rows["check_title_case"] is True
    assert rows["dedupe_auto_threshold"] == 0.92
    assert rows["smtp_port"] == 587


def test_settings_given_with_the_data_replace_the_template_values(tmp_path):
    settings = pd.DataFrame({"setting": ["currency", "hot_lead_score"], "value": ["EUR", 80]})
    accounts = pd.DataFrame({"name": ["Acme"], "annual_revenue": [1000.0]}, index=pd.Index(["A-00001"], name="id"))
    path = build_workbook(tmp_path / "crm.xlsx", "sales", "fr", {"settings": settings, "accounts": accounts}, now=NOW)
    rows = {r[0]: r[1] for r in grid(path, "Paramètres")[1:]}
    assert rows["currency"] == "EUR" and rows["hot_lead_score"] == 80 and rows["locale"] == "en-US"
    with zipfile.ZipFile(path) as z:
        assert 'formatCode="#,##0.00 &quot;€&quot;"' in z.read("xl/styles.xml").decode()


def test_model_tables_are_accepted_as_data(tmp_path):
    from crm_sheets.model.tables import Table

    schema = load_schema("sales")
    leads = Table(schema.table("leads"), pd.DataFrame({"last_name": ["Lopez"]}, index=pd.Index(["L-00003"], name="id")))
    path = build_workbook(tmp_path / "crm.xlsx", schema, data={"leads": leads}, now=NOW)
    assert calamine(path, tables=True).get_table_by_name("Leads").to_python()[0][:3] == ["L-00003", "", "Lopez"]


@pytest.mark.slow
def test_an_empty_table_is_still_an_excel_table_with_one_blank_row(tmp_path):
    path = build_workbook(tmp_path / "crm.xlsx", now=NOW)
    with zipfile.ZipFile(path) as z:
        tables = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/tables/")]
    leads = next(t for t in tables if 'name="Leads"' in t)
    assert 'ref="A1:' in leads and leads.split('ref="A1:')[1].split('"')[0].endswith("2")


# ---------------------------------------------------------------------------------------------
# What the sheets do for the people typing in them


def test_dropdowns_offer_the_lists_and_references_offer_the_ids(sales_en):
    names = defined_names(sales_en)
    assert names["list_lead_status"] == "Lists!$" + names["list_lead_status"].split("!$")[1]
    assert names["ids_accounts"].startswith("Accounts!$A$2:$A$")
    assert names["team_names"].startswith("Team!$B$2:$B$")
    assert names["setting_hot_lead_score"].startswith("Settings!$B$")
    dvs = {dv.get("sqref"): dv for dv in validations(sheet_xml(sales_en, "Leads"))}
    status = next(dv for ref, dv in dvs.items() if ref.startswith("N2:"))
    assert status.get("type") == "list" and status.find("m:formula1", NS).text == "list_lead_status"
    assert next(dv for ref, dv in dvs.items() if ref.startswith("O2:")).find("m:formula1", NS).text == "team_names"
    account = next(dv for ref, dv in dvs.items() if ref.startswith("V2:"))
    assert account.find("m:formula1", NS).text == "ids_accounts"
    # validation reaches well below the data, so rows typed under the table are checked too
    assert int(status.get("sqref").split(":")[1][1:]) >= 1000


def test_stage_dropdown_takes_its_options_from_the_stages_sheet(sales_fr):
    names = defined_names(sales_fr)
    assert names["col_stages_stage"].startswith("'Étapes'!$A$2:$A$")
    dvs = validations(sheet_xml(sales_fr, "Affaires"))
    stage = next(dv for dv in dvs if dv.get("sqref").startswith("F2:"))
    assert stage.find("m:formula1", NS).text == "col_stages_stage"


def test_headers_explain_the_column_and_flag_computed_ones(sales_en):
    dvs = {dv.get("sqref"): dv for dv in validations(sheet_xml(sales_en, "Leads"))}
    leads = load_schema("sales").table("leads")
    score_col = column_letter(leads.field_names.index("score"))
    assert "computed by automate, do not edit" in dvs[f"{score_col}1"].get("prompt").lower()
    status_col = column_letter(leads.field_names.index("status"))
    assert "Required" in dvs[f"{status_col}1"].get("prompt")


def test_overdue_hot_stalled_and_opted_out_rows_are_highlighted(sales_en):
    def rules(sheet):
        return [r.find("m:formula", NS).text for r in sheet_xml(sales_en, sheet).iter(f"{{{NS['m']}}}cfRule")
                if r.find("m:formula", NS) is not None]

    assert any("TODAY()" in f and '"Done"' in f and '"Cancelled"' in f for f in rules("Tasks"))
    assert any(">=setting_hot_lead_score" in f for f in rules("Leads"))
    assert any("=TRUE" in f for f in rules("Leads"))
    assert any("setting_stalled_deal_days" in f and "col_stages_won" in f for f in rules("Deals"))


def test_start_sheet_links_to_every_sheet(sales_en):
    schema = load_schema("sales")
    rows = grid(sales_en, "Start")
    assert rows[0][0] == "Sales CRM"
    first_col = [r[0] for r in rows]
    for t in schema.tables.values():
        assert t.sheet_name() in first_col
    with zipfile.ZipFile(sales_en) as z:
        start = z.read("xl/worksheets/sheet1.xml").decode()
    assert start.count("<hyperlink ") == len(schema.tables) + 1
    assert "location=\"'Campaign Members'!A1\"" in start


def test_document_properties_name_the_template(sales_en):
    with zipfile.ZipFile(sales_en) as z:
        core = z.read("docProps/core.xml").decode()
    assert "<dc:title>Sales CRM</dc:title>" in core and "crm-sheets sales" in core


# ---------------------------------------------------------------------------------------------
# Never losing a file


def test_an_existing_file_is_not_replaced_without_force(tmp_path):
    path = tmp_path / "crm.xlsx"
    path.write_bytes(b"my precious workbook")
    with pytest.raises(UsageError) as err:
        build_workbook(path, now=NOW)
    assert str(path) in str(err.value) and "--force" in str(err.value)
    assert path.read_bytes() == b"my precious workbook"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.xlsx"]


@pytest.mark.slow  # over a second
def test_force_keeps_a_backup_of_the_replaced_file(tmp_path):
    path = tmp_path / "crm.xlsx"
    path.write_bytes(b"my precious workbook")
    build_workbook(path, force=True, now=NOW)
    backups = list_backups(path)
    assert [b.read_bytes() for b in backups] == [b"my precious workbook"]
    assert "Start" in calamine(path, tables=True).sheet_names
    build_workbook(path, force=True, now=NOW)  # a second backup, the first one kept
    assert len(list_backups(path)) == 2 and backups[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".crm-backups", "crm.xlsx"]


def test_a_failed_build_leaves_no_file_behind(tmp_path):
    bad = pd.DataFrame({"no_such_field": [1]}, index=pd.Index(["L-00001"], name="id"))
    with pytest.raises(UsageError, match="no_such_field"):
        build_workbook(tmp_path / "crm.xlsx", data={"leads": bad})
    assert list(tmp_path.iterdir()) == []


def test_a_name_that_is_not_xlsx_is_refused(tmp_path):
    with pytest.raises(UsageError, match=r"\.xlsx"):
        build_workbook(tmp_path / "crm.xls")


# ---------------------------------------------------------------------------------------------
# Real spreadsheet programs


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["pdf", "ods"])
def test_libreoffice_opens_and_converts_the_workbook(sales_fr, tmp_path, fmt):
    out = tmp_path / "out"
    done = subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless", "--convert-to", fmt,
         "--outdir", str(out), str(sales_fr)],
        capture_output=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()
    converted = out / f"crm.{fmt}"
    assert converted.exists() and converted.stat().st_size > 10_000
