"""The check job on small literal tables: each check, each fix, the messages, the Data Issues sheet."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pandas as pd
import pytest

from crm_sheets.jobs.check import check
from crm_sheets.model import Table, Tables, load_schema
from crm_sheets.model.tables import column_letter, dtype_for, empty_frame

NOW = datetime(2025, 3, 5, 9, 0)
SCHEMA = load_schema("sales")

TEAM = [
    {"id": "TM-00001", "name": "Camille Martin", "email": "camille@example.com", "role": "sales_rep"},
    {"id": "TM-00002", "name": "Noah Johnson", "email": "noah@example.com", "role": "manager"},
]
STAGES = [
    {"stage": "Prospecting", "order": 1, "probability": 0.1, "won": False, "lost": False},
    {"stage": "Proposal", "order": 2, "probability": 0.5, "won": False, "lost": False},
    {"stage": "Closed won", "order": 3, "probability": 1.0, "won": True, "lost": False},
    {"stage": "Closed lost", "order": 4, "probability": 0.0, "won": False, "lost": True},
]
CLEAN_LEAD = {
    "first_name": "Ana", "last_name": "Silva", "email": "ana@acme.com", "phone": "+12125550100",
    "company": "Acme", "website": "www.acme.com", "country": "United States", "city": "New York",
    "industry": "software", "company_size": "51-200", "source": "referral", "status": "new",
    "owner": "Camille Martin", "consent": True, "created": pd.Timestamp("2025-01-10"), "tags": "vip, newsletter",
}


def make_table(name: str, records: list[dict], sheet: str | None = None, invalid: dict | None = None) -> Table:
    ts = SCHEMA.tables[name]
    if ts.id_prefix:
        ids = [r["id"] for r in records]
    else:
        ids = [f"row{i + 2}" for i in range(len(records))]  # rule sheets: the reader keys rows by sheet row
    df = empty_frame(ts, ids)
    for f in ts.fields:
        if f.type == "id":
            continue
        values = [r.get(f.name) for r in records]
        df[f.name] = pd.Series(values, index=df.index, dtype=dtype_for(f.type))
    return Table(
        schema=ts,
        df=df,
        sheet=sheet or ts.sheet_name("en"),
        rows={rid: i + 2 for i, rid in enumerate(ids)},
        columns={f.name: column_letter(i) for i, f in enumerate(ts.fields)},
        invalid=dict(invalid or {}),
    )


def make_tables(lang: str = "en", settings: dict | None = None, **records: list[dict]) -> Tables:
    records.setdefault("team", TEAM)
    records.setdefault("stages", STAGES)
    tables = {name: make_table(name, rows) for name, rows in records.items()}
    return Tables(SCHEMA, tables, lang=lang, settings=dict({"locale": "en-US", "default_country": "US"} if settings is None else settings))


def lead(**changes) -> dict:
    return {**CLEAN_LEAD, **changes}


def leads(*rows: dict) -> list[dict]:
    return [{"id": f"L-{i + 1:05d}", **r} for i, r in enumerate(rows)]


def only(result, type_: str):
    found = [f for f in result.findings if f.type == type_]
    assert len(found) == 1, [f.message for f in result.findings]
    return found[0]


def test_clean_rows_have_no_findings():
    result = check(make_tables(leads=leads(lead(), lead(first_name="Bruno", email="bruno@acme.com"))), now=NOW)
    assert [f.message for f in result.findings] == []


def test_required_empty_cell_names_the_cell_and_the_column():
    result = check(make_tables(leads=leads(lead(last_name="  "))), now=NOW)
    f = only(result, "required")
    assert (f.severity, f.record_id, f.field, f.cell) == ("error", "L-00001", "last_name", "Leads!C2")
    assert f.message == "Leads!C2 (Last name): the cell is empty; fill it in: every row needs a Last name"


def test_email_typo_of_a_common_provider_is_fixed():
    result = check(make_tables(leads=leads(lead(email="Ana@GMIAL.com"), lead(email="bo@mail.com"))), now=NOW)
    f = only(result, "email-typo")
    assert f.message == 'Leads!D2 (Email): "Ana@GMIAL.com" looks like a typo of gmail.com; check --fix writes "ana@gmail.com"'
    assert (f.severity, f.fix, f.fixable) == ("warning", "ana@gmail.com", True)
    assert [u.value for u in check(make_tables(leads=leads(lead(email="ana@gmial.com"))), now=NOW, fix=True).changes.updates] == ["ana@gmail.com"]


def test_invalid_email_is_an_error_with_a_guess():
    f = only(check(make_tables(leads=leads(lead(email="ana@acme,com"))), now=NOW), "invalid-email")
    assert (f.severity, f.fix, f.fixable) == ("error", "ana@acme.com", False)
    assert '"ana@acme,com" is not an email address; correct it (perhaps "ana@acme.com")' in f.message


def test_fix_lower_cases_and_trims_emails_with_an_audit_entry():
    result = check(make_tables(leads=leads(lead(email=" Ana@Acme.COM "))), now=NOW, fix=True)
    [u] = result.changes.updates
    assert (u.table, u.record_id, u.field, u.before, u.value) == ("leads", "L-00001", "email", " Ana@Acme.COM ", "ana@acme.com")
    [a] = result.changes.audit
    assert (a.job, a.before, a.after, a.reason) == ("check", " Ana@Acme.COM ", "ana@acme.com", "wrote the email address in lower case, without spaces")
    assert result.findings == []  # what remains after the fix


def test_phone_is_rewritten_in_e164_for_the_rows_country():
    rows = leads(lead(phone="(212) 555-0100"), lead(phone="06 12 34 56 78", country="France"), lead(phone="12345"))
    result = check(make_tables(leads=rows), now=NOW)
    fixes = {f.record_id: f.fix for f in result.findings if f.type == "phone-format"}
    assert fixes == {"L-00001": "+12125550100", "L-00002": "+33612345678"}
    bad = only(result, "invalid-phone")
    assert (bad.record_id, bad.severity) == ("L-00003", "error")
    assert bad.message.startswith('Leads!E4 (Phone): "12345" is not a valid phone number (read as a US number)')


def test_phone_with_an_extension_is_not_rewritten():
    result = check(make_tables(leads=leads(lead(phone="+1 212 555 0100 ext. 12"))), now=NOW)
    assert result.findings == []


def test_country_codes_and_variants_become_the_usual_name_in_the_workbook_language():
    rows = leads(lead(country="US"), lead(country="deutschland"), lead(country="Narnia"))
    result = check(make_tables(leads=rows), now=NOW)
    assert {f.record_id: f.fix for f in result.findings if f.type == "country-format"} == {"L-00001": "United States", "L-00002": "Germany"}
    assert only(result, "invalid-country").record_id == "L-00003"
    fr = check(make_tables(lang="fr", leads=leads(lead(country="DE"), lead(country="Allemagne"))), now=NOW)
    assert [(f.record_id, f.fix) for f in fr.findings if f.type == "country-format"] == [("L-00001", "Allemagne")]


def test_names_in_capitals_or_lower_case_get_title_case_and_spaces_are_trimmed():
    rows = leads(lead(first_name="JEAN-PIERRE", last_name="de la tour"), lead(company="  Acme   Corp "), lead(last_name="McDonald"))
    result = check(make_tables(leads=rows), now=NOW)
    fixes = {(f.record_id, f.field): (f.type, f.fix) for f in result.findings}
    assert fixes == {
        ("L-00001", "first_name"): ("name-case", "Jean-Pierre"),
        ("L-00001", "last_name"): ("name-case", "De la Tour"),
        ("L-00002", "company"): ("extra-spaces", "Acme Corp"),
    }


def test_a_number_typed_in_a_text_column_is_read_as_its_text_and_only_messy_texts_are_tidied():
    # a City column holding a postcode as a number, blanks and a text with spaces around it
    rows = leads(lead(city=75001), lead(city="  Paris "), lead(city="   "), lead(city=None), lead(city=" 12 "))
    result = check(make_tables(leads=rows), now=NOW)
    found = {(f.record_id, f.field): (f.type, f.value, f.fix) for f in result.findings}
    assert found == {
        ("L-00002", "city"): ("extra-spaces", "  Paris ", "Paris"),
        ("L-00005", "city"): ("extra-spaces", " 12 ", "12"),
    }


def test_title_case_can_be_switched_off_in_settings():
    tables = make_tables(settings={"check_title_case": "FALSE"}, leads=leads(lead(first_name="ANA")))
    assert check(tables, now=NOW).findings == []


def test_dropdown_value_spelt_differently_is_fixed_to_the_option_key():
    result = check(make_tables(leads=leads(lead(status="QUALIFIED!"))), now=NOW)
    f = only(result, "option-spelling")
    assert (f.fix, f.fixable, f.severity) == ("qualified", True, "warning")
    assert f.message == 'Leads!N2 (Status): "QUALIFIED!" is spelt differently from the option "Qualified"; check --fix writes "Qualified"'


def test_a_dropdown_typo_that_can_only_mean_one_option_is_fixed():
    f = only(check(make_tables(leads=leads(lead(industry="Sofware"))), now=NOW), "unknown-option")
    assert (f.severity, f.fix, f.fixable) == ("warning", "software", True)
    assert f.message == 'Leads!K2 (Industry): "Sofware" is not in the Industry list, and can only mean "Software"; check --fix writes "Software"'


def test_an_unknown_dropdown_value_that_could_mean_two_options_is_only_suggested():
    result = check(make_tables(leads=leads(lead(status="Qualifid"), lead(status="Unqualifid"), lead(status="Banana"))), now=NOW)
    found = {f.record_id: (f.fix, f.fixable) for f in result.findings if f.type == "unknown-option"}
    assert found == {"L-00001": ("qualified", True), "L-00002": ("unqualified", True), "L-00003": (None, False)}
    f = next(f for f in result.findings if f.record_id == "L-00003")
    assert f.message == 'Leads!N4 (Status): "Banana" is not in the Lead status list; choose a value of the list (New, Contacted, Qualified, Unqualified, Converted) or add it to the Lists sheet'


def test_french_workbook_messages_use_french_option_labels_and_headers():
    f = only(check(make_tables(lang="fr", leads=leads(lead(industry="Logiciels"))), now=NOW), "unknown-option")
    assert f.fix == "software"
    assert '(Secteur): "Logiciels" is not in the Secteur list, and can only mean "Logiciel"' in f.message


def test_deal_stage_must_be_a_stage_of_the_stages_sheet():
    deals = [
        {"id": "D-00001", "name": "Big one", "stage": "proposal", "close_date": pd.Timestamp("2025-06-01")},
        {"id": "D-00002", "name": "Other", "stage": "Negociation", "close_date": pd.Timestamp("2025-06-01")},
    ]
    result = check(make_tables(deals=deals), now=NOW)
    spelt = only(result, "option-spelling")
    assert (spelt.record_id, spelt.fix, spelt.fixable) == ("D-00001", "Proposal", True)
    unknown = only(result, "unknown-option")
    assert unknown.record_id == "D-00002" and "is not a Stage of the Stages sheet" in unknown.message


def test_tags_are_checked_against_their_list():
    rows = leads(lead(tags="VIP;Newsletter"), lead(tags="vip, golf"))
    result = check(make_tables(leads=rows), now=NOW)
    assert only(result, "tag-spelling").fix == "vip, newsletter"
    f = only(result, "unknown-tag")
    assert f.record_id == "L-00002" and '"golf" is not in the Tags list' in f.message


def test_minimum_and_maximum_with_percent_shown_as_percent():
    deals = [
        {"id": "D-00001", "name": "A", "stage": "Proposal", "amount": -5.0, "close_date": pd.Timestamp("2025-06-01")},
        {"id": "D-00002", "name": "B", "stage": "Proposal", "probability": 60.0, "close_date": pd.Timestamp("2025-06-01")},
    ]
    result = check(make_tables(deals=deals), now=NOW)
    assert only(result, "below-minimum").message == "Deals!G2 (Amount): -5 is below the minimum of 0; type a value of at least 0"
    above = only(result, "above-maximum")
    assert (above.fix, above.fixable) == (0.6, False)
    assert "6000% is above the maximum of 100%; type it with a % sign (60%)" in above.message


def test_pattern_constraint_on_a_rule_sheet():
    fields = [{"table": "leads", "name": "Budget Size", "type": "number"}]
    f = only(check(make_tables(fields=fields), now=NOW), "pattern-mismatch")
    assert f.table == "fields" and "lower_case_with_underscores" in f.message


def test_unique_values_and_duplicate_ids():
    team = TEAM + [{"id": "TM-00003", "name": "camille  martin", "email": "other@example.com"}]
    result = check(make_tables(team=team, leads=leads(lead())), now=NOW)
    dup = only(result, "duplicate-value")
    assert dup.record_id == "TM-00003"
    assert "is also in Team!B2 (TM-00001)" in dup.message
    rows = leads(lead(), lead())
    rows[1]["id"] = "L-00001"
    assert only(check(make_tables(leads=rows), now=NOW), "duplicate-id").record_id == "L-00001"


def test_references_must_exist_and_loose_ids_are_written_in_full():
    accounts = [{"id": "A-00042", "name": "Acme"}]
    deals = [
        {"id": "D-00001", "name": "A", "stage": "Proposal", "account": "a-42", "close_date": pd.Timestamp("2025-06-01")},
        {"id": "D-00002", "name": "B", "stage": "Proposal", "account": "A-00999", "close_date": pd.Timestamp("2025-06-01")},
    ]
    tasks = [{"id": "T-00001", "title": "Call", "status": "open", "related": "D-00002"}, {"id": "T-00002", "title": "Call", "status": "open", "related": "Q-00001"}]
    result = check(make_tables(accounts=accounts, deals=deals, tasks=tasks), now=NOW)
    assert only(result, "reference-format").fix == "A-00042"
    unknown = {f.record_id: f.message for f in result.findings if f.type == "unknown-reference"}
    assert set(unknown) == {"D-00002", "T-00002"}
    assert '"A-00999" is not an ID in Accounts' in unknown["D-00002"]


def test_owner_must_be_a_team_member():
    rows = leads(lead(owner="camille martin"), lead(owner="Camile Martin"), lead(owner="Zoe"))
    result = check(make_tables(leads=rows), now=NOW)
    assert only(result, "user-spelling").fix == "Camille Martin"
    unknown = {f.record_id: f.fix for f in result.findings if f.type == "unknown-user"}
    assert unknown == {"L-00002": "Camille Martin", "L-00003": None}


def test_dates_that_make_no_sense_are_warnings():
    deals = [
        {"id": "D-00001", "name": "Stale", "stage": "Proposal", "close_date": pd.Timestamp("2025-02-01")},
        {"id": "D-00002", "name": "Won", "stage": "Closed won", "close_date": pd.Timestamp("2025-02-01")},
        {"id": "D-00003", "name": "Odd", "stage": "Proposal", "close_date": pd.Timestamp("2025-06-01"),
         "created": pd.Timestamp("2025-02-10"), "closed": pd.Timestamp("2025-02-01")},
    ]
    result = check(make_tables(deals=deals, leads=leads(lead(created=pd.Timestamp("2025-04-01")))), now=NOW)
    stale = only(result, "stale-close-date")
    assert stale.record_id == "D-00001"
    assert stale.message == "Deals!J2 (Close date): 2025-02-01 has passed but the deal is still open (stage Proposal); move the close date to when you now expect to close, or set the stage to won or lost"
    assert only(result, "future-date").message.startswith("Leads!S2 (Created): 2025-04-01 is in the future (today is 2025-03-05)")
    assert only(result, "date-order").record_id == "D-00003"


def test_unreadable_cells_are_reported_and_unambiguous_ones_converted():
    tables = make_tables(leads=leads(lead(), lead(), lead()))
    tables["leads"].invalid = {("L-00001", "created"): "March 3, 2025", ("L-00002", "created"): "31/02/2025", ("L-00003", "consent"): "maybe"}
    result = check(tables, now=NOW)
    conv = only(result, "date-as-text")
    assert (conv.record_id, conv.fix, conv.fixable) == ("L-00001", pd.Timestamp("2025-03-03"), True)
    errors = {f.record_id: f.message for f in result.findings if f.type.startswith("invalid-")}
    assert errors["L-00002"] == 'Leads!S3 (Created): "31/02/2025" is not a date; type a date such as 2025-03-31'
    assert errors["L-00003"].startswith('Leads!Q4 (Email consent): "maybe" is not TRUE or FALSE')


def test_dates_numbers_and_boxes_the_reader_read_from_text_are_fixable_tidy_ups():
    tables = make_tables(leads=leads(lead(created=pd.Timestamp("2025-02-14"), engagement=1234.5, consent=True), lead()))
    tables["leads"].typed_text = {("L-00001", "created"): "14 February 2025", ("L-00001", "engagement"): "1,234.5",
                                  ("L-00001", "consent"): "yes"}
    result = check(tables, now=NOW, fix=True)
    assert sorted((u.field, u.before, u.value, u.reason) for u in result.changes.updates) == [
        ("consent", "yes", True, "converted text to a ticked or unticked box"),
        ("created", "14 February 2025", pd.Timestamp("2025-02-14"), "converted a date typed as text to a real date"),
        ("engagement", "1,234.5", 1234.5, "converted a number typed as text to a real number"),
    ]
    assert [(a.field, a.before, a.after) for a in result.changes.audit] == [(u.field, u.before, u.value) for u in result.changes.updates]
    assert result.findings == [] and result.stats["fixed"] == 3  # what remains after the fix: nothing
    found = check(tables, now=NOW).findings
    assert {(f.type, f.severity, f.fixable) for f in found} == {
        ("date-as-text", "info", True), ("number-as-text", "info", True), ("checkbox-as-text", "info", True),
    }
    date = next(f for f in found if f.field == "created")
    assert date.message == ('Leads!S2 (Created): "14 February 2025" is a date typed as text, so Excel sorts, filters and sums it '
                            "as text; check --fix writes it as 2025-02-14")
    result.changes.apply_to(tables)
    tables["leads"].typed_text = {}  # as the store reads the cells back: real values now
    assert check(tables, now=NOW, fix=True).changes.updates == []


def test_ambiguous_dates_are_never_guessed_without_a_locale():
    tables = make_tables(settings={}, leads=leads(lead()))
    tables["leads"].invalid = {("L-00001", "created"): "03/04/2025"}
    f = only(check(tables, now=NOW, fix=True), "invalid-date")
    assert f.fixable is False and "could be read two ways" in f.message


def test_bad_rules_are_errors_not_crashes():
    scoring = [
        {"rule": "Typo", "field": "industy", "operator": "in", "value": "Software", "points": 10},
        {"rule": "Bad op", "field": "industry", "operator": "roughly", "value": "Software", "points": 10},
        {"rule": "Fine", "field": "engagement", "operator": "greater_than", "value": "10", "points": 10},
        {"rule": "Not a number", "field": "engagement", "operator": "greater_than", "value": "lots", "points": 5},
        {"rule": "Never matches", "field": "industry", "operator": "in", "value": "Software, Banking", "points": 5},
    ]
    assignment = [{"order": 1, "table": "leads", "field": "country", "operator": "in", "value": "FR", "assign_to": "Camille Martin, Ghost"}]
    automations = [{"name": "Mail", "table": "deals", "trigger": "field_changed", "trigger_field": "stag", "action": "send_email", "template": "nope"}]
    result = check(make_tables(scoring_rules=scoring, assignment_rules=assignment, automations=automations, email_templates=[{"key": "welcome", "subject": "Hi", "body": "Hello"}]), now=NOW)
    bad = sorted((f.table, f.record_id, f.field, f.severity) for f in result.findings if f.type == "bad-rule")
    assert bad == [
        ("assignment_rules", "row2", "assign_to", "error"),
        ("automations", "row2", "template", "error"),
        ("automations", "row2", "trigger_field", "error"),
        ("scoring_rules", "row2", "field", "error"),
        ("scoring_rules", "row3", "operator", "error"),
        ("scoring_rules", "row5", "value", "error"),
        ("scoring_rules", "row6", "value", "warning"),
    ]
    field = next(f for f in result.findings if f.field == "field")
    assert field.message == "'Scoring Rules'!B2 (Field): \"industy\" is not a column of Leads; use \"industry\""


def test_stages_need_exactly_one_won_and_one_lost():
    stages = [dict(s, won=False) for s in STAGES]
    f = only(check(make_tables(stages=stages), now=NOW), "bad-rule")
    assert f.field == "won" and "0 stages are ticked Won" in f.message


def test_template_rule_rows_are_clean():
    rows = {}
    for name in ("scoring_rules", "assignment_rules", "automations", "email_templates", "stages"):
        ts = SCHEMA.tables[name]
        rows[name] = [{k: _as_read(ts, k, v) for k, v in r.items()} for r in ts.rows]
    people = ["Hugo Bernard", "Olivia Smith", "Emma Davis", "Liam Wilson"]
    team = TEAM + [{"id": f"TM-0000{i}", "name": n, "email": f"p{i}@example.com"} for i, n in enumerate(people, 3)]
    result = check(make_tables(team=team, **rows), now=NOW)
    assert [f.message for f in result.findings] == []


def _as_read(ts, field_name, value):
    """A template cell as the store reads it: English text, dropdown labels turned into option keys."""
    from crm_sheets.model.values import fold_option, option_lookup

    value = value.get("en") if isinstance(value, dict) else value
    f = ts.field(field_name)
    if f.type == "dropdown" and f.list and isinstance(value, str) and value:
        return option_lookup(SCHEMA.lists[f.list]).get(fold_option(value), value)
    return value


def test_settings_with_impossible_values_are_reported():
    settings_rows = [{"setting": "default_country", "value": "Atlantis"}, {"setting": "currency", "value": "USD"}]
    tables = make_tables(settings={"locale": "en-US", "default_country": "Atlantis", "currency": "USD"})
    tables.tables["settings"] = make_table("settings", settings_rows)
    f = only(check(tables, now=NOW), "bad-setting")
    assert f.cell == "Settings!B2" and "default_country" in f.message


MESSY = leads(
    lead(email=" Ana@Acme.COM", phone="(212) 555-0100", country="usa", first_name="ANA", status="Qualified ", tags="VIP ; newsletter"),
    lead(email="bo@gmial.com", owner="noah johnson", company="Acme  Corp", industry="Sofware"),
    lead(last_name=None, website="not a site", phone="555"),
    lead(),
)


def test_applying_the_fixes_then_checking_again_finds_nothing_new_and_nothing_fixable():
    tables = make_tables(leads=MESSY)
    tables["leads"].invalid = {("L-00004", "created"): "2025-02-03"}
    first = check(tables, now=NOW, fix=True)
    assert first.stats["fixed"] == len(first.changes.updates) == len(first.changes.audit) == 11
    before = {(f.type, f.record_id, f.field) for f in check(tables, now=NOW).findings if not f.fixable}
    first.changes.apply_to(tables)
    again = check(tables, now=NOW, fix=True)
    assert again.changes.updates == []
    assert [f for f in again.findings if f.fixable] == []
    after = {(f.type, f.record_id, f.field) for f in again.findings}
    assert after == before == {(f.type, f.record_id, f.field) for f in first.findings}
    assert tables["leads"].df.loc["L-00001", ["email", "phone", "country", "first_name", "status", "tags"]].tolist() == [
        "ana@acme.com", "+12125550100", "United States", "Ana", "qualified", "vip, newsletter",
    ]
    assert tables["leads"].df.loc["L-00004", "created"] == pd.Timestamp("2025-02-03")


def test_the_data_issues_sheet_lists_findings_worst_first_with_links_to_the_cells():
    result = check(make_tables(leads=MESSY), now=NOW)
    [sheet] = result.changes.sheets
    assert (sheet.name, sheet.key) == ("Data Issues", "data_issues")
    header = next(i for i, row in enumerate(sheet.rows) if row and row[0].value == "Severity")
    assert [c.value for c in sheet.rows[header]] == ["Severity", "Table", "Record ID", "Cell", "Column", "Value", "Problem", "Suggested fix"]
    body = sheet.rows[header + 1:]
    assert len(body) == len(result.findings)
    assert [r[0].value for r in body] == sorted((r[0].value for r in body), key=["Error", "Warning", "Tidy-up"].index)
    assert [c.value for c in body[0][:6]] == ["Error", "Leads", "L-00003", "Leads!C4", "Last name", ""]
    typo = next(r for r in body if r[5].value == "Sofware")
    assert [c.value for c in typo] == [
        "Warning", "Leads", "L-00002", "Leads!K3", "Industry", "Sofware",
        'Leads!K3 (Industry): "Sofware" is not in the Industry list, and can only mean "Software"; check --fix writes "Software"',
        "Software",
    ]
    assert typo[3].link == "Leads!K3" and typo[0].style == "warn"
    assert sheet.autofilter == f"A{header + 1}:H{len(sheet.rows)}" and sheet.freeze == (header + 1, 0)
    assert "errors" in sheet.rows[1][0].value


def test_the_data_issues_sheet_is_the_same_whatever_order_the_findings_come_in():
    import random

    from crm_sheets.jobs.check.sheet import data_issues_sheet

    tables = make_tables(leads=MESSY)
    findings = check(tables, now=NOW).findings
    twins = [replace(f, message=f.message + " (again)") for f in findings[:3]]  # same kind, same cell
    rows = [[c.value for c in r] for r in data_issues_sheet(tables, findings + twins, NOW).rows]
    shuffled = findings + twins
    random.Random(4).shuffle(shuffled)
    assert [[c.value for c in r] for r in data_issues_sheet(tables, shuffled, NOW).rows] == rows


def test_the_data_issues_sheet_is_in_french_for_a_french_workbook():
    result = check(make_tables(lang="fr", leads=leads(lead(industry="Sofware"))), now=NOW)
    [sheet] = result.changes.sheets
    assert sheet.name == "Problèmes de données"
    header = next(row for row in sheet.rows if row and row[0].value == "Gravité")
    assert [c.value for c in header][-1] == "Correction proposée"


def test_a_clean_workbook_gets_a_short_data_issues_sheet():
    [sheet] = check(make_tables(leads=leads(lead())), now=NOW).changes.sheets
    assert [[c.value for c in row] for row in sheet.rows] == [["Data Issues"], ["Checked 2025-03-05 09:00: no problems found."]]


# ---------------------------------------------------------------------------------------------
# On the sample data: the generator knows every error it planted.

ERROR_TABLES = ("leads", "contacts", "deals")  # the tables the generator plants errors in
# Tidy-ups the generator does not count as errors: phones written for people (+33 6 12 34 56 78),
# and duplicates' addresses typed in capitals.
TIDY_UPS = ("phone-format", "email-format")


@pytest.fixture(scope="module")
def sample():
    from crm_sheets.sample import DEFAULT_NOW, generate

    data = generate("sales", leads=1500, seed=11)
    tables = data.to_tables()
    for t in tables.tables.values():  # the reader knows each field's column; to_tables does not
        t.columns = {f.name: column_letter(i) for i, f in enumerate(t.schema.fields)}
    for e in data.truth.errors:  # nor which values it read from text: the reader keeps them in typed_text
        t = tables[e.table]
        if e.kind in ("date-as-text", "number-as-text") and (e.record_id, e.field) not in t.invalid:
            t.typed_text[(e.record_id, e.field)] = e.raw
    return data, tables, DEFAULT_NOW


def _visible(error, tables) -> bool:
    """Every planted error shows, now that text read as a date or number is kept in typed_text."""
    return True


@pytest.mark.slow
def test_every_planted_error_is_found_at_its_cell(sample):
    data, tables, now = sample
    found: dict[tuple, list] = {}
    for f in check(tables, now=now).findings:
        found.setdefault((f.table, f.record_id, f.field), []).append(f)
    planted = [e for e in data.truth.errors if _visible(e, tables)]
    assert len(planted) > 50
    for e in planted:
        at = found.get((e.table, e.record_id, e.field))
        assert at, f"not found: {e}"
        assert {f.cell for f in at} == {tables[e.table].cell(e.record_id, e.field)}
        if e.fixable:
            assert [f.fix for f in at if f.fixable] == [e.expected_fix], (e, at)
        else:
            assert not any(f.fixable for f in at), (e, at)


@pytest.mark.slow
def test_no_problem_is_reported_on_the_sample_rows_left_clean(sample):
    data, tables, now = sample
    planted = {(e.table, e.record_id, e.field) for e in data.truth.errors}
    duplicates = data.truth.duplicate_records()
    result = check(tables, now=now)
    for f in result.findings:
        if f.table not in ERROR_TABLES or (f.table, f.record_id, f.field) in planted:
            continue
        if f.type == "stale-close-date":
            assert f.record_id in data.truth.stale_deals
        elif f.type == "email-format":
            assert (f.table, f.record_id) in duplicates, f.message
        else:
            assert f.type in TIDY_UPS, f.message
    stale = {f.record_id for f in result.findings if f.type == "stale-close-date"}
    no_stage = set(tables["deals"].df.index[tables["deals"].df["stage"].isna()])
    assert stale == data.truth.stale_deals - no_stage


@pytest.mark.slow
def test_fix_repairs_the_sample_and_a_second_run_is_clean_and_idempotent(sample):
    data, tables, now = sample
    from dataclasses import replace

    tables = replace(tables, tables={n: replace(t, df=t.df.copy(), invalid=dict(t.invalid), typed_text=dict(t.typed_text))
                                     for n, t in tables.tables.items()})
    first = check(tables, now=now, fix=True)
    first.changes.apply_to(tables)
    for u in first.changes.updates:  # as the store reads the written cells back: real values, no text
        tables[u.table].typed_text.pop((u.record_id, u.field), None)
    for e in data.truth.errors:
        if e.fixable and _visible(e, tables):
            assert tables[e.table].df.at[e.record_id, e.field] == e.expected_fix, e
    second = check(tables, now=now, fix=True)
    assert second.changes.updates == [] and not any(f.fixable for f in second.findings)
    assert sorted(f.message for f in second.findings) == sorted(f.message for f in first.findings)


def test_an_unknown_option_the_reader_also_lists_as_unreadable_is_reported_once():
    tables = make_tables(leads=leads(lead(status="Banana")))
    tables["leads"].invalid = {("L-00001", "status"): "Banana"}
    assert [f.type for f in check(tables, now=NOW).findings] == ["unknown-option"]


def test_every_canonical_country_name_reads_back_as_the_same_country_in_both_languages():
    import pycountry

    from crm_sheets.model.normalize import country, country_name

    for c in pycountry.countries:
        for lang in ("en", "fr"):
            assert country(country_name(c.alpha_2, lang))[0] == c.alpha_2, (c.alpha_2, lang)


def test_real_domains_near_a_provider_are_not_taken_for_typos():
    from crm_sheets.model.normalize import domain_typo

    assert [domain_typo(d) for d in ("mail.com", "gmx.com", "live.com", "acme.co", "cloud.com", "yahoo.fr", "gmail.co.uk")] == [None] * 7
    assert [domain_typo(d) for d in ("gmial.com", "gmail.co", "hotmial.com", "yaho.com", "outlok.com")] == [
        "gmail.com", "gmail.com", "hotmail.com", "yahoo.com", "outlook.com",
    ]


# ---------------------------------------------------------------------------------------------
# The phone verdicts kept between runs (result.state, saved by the runner beside the workbook)


def _as_saved(state: dict) -> dict:
    import json

    return json.loads(json.dumps(state))  # what the runner reads back from the outbox file


@pytest.mark.slow
def test_findings_and_fixes_are_the_same_with_the_phone_verdicts_of_an_earlier_run(sample):
    data, tables, now = sample
    for fix in (False, True):
        fresh = check(tables, now=now, fix=fix)
        cached = check(tables, now=now, fix=fix, state=_as_saved(fresh.state))
        assert cached.findings == fresh.findings
        assert cached.changes.updates == fresh.changes.updates
        assert cached.state == fresh.state


@pytest.mark.slow
def test_a_check_with_the_earlier_verdicts_parses_no_phone_number_again(sample, monkeypatch):
    from crm_sheets.model import normalize

    data, tables, now = sample
    fresh = check(tables, now=now)
    state = _as_saved(fresh.state)
    assert sum(len(texts) for texts in state["phones"]["verdicts"].values()) > 1000

    def no_parse(*args):
        raise AssertionError("parsed a phone number the state already had")

    monkeypatch.setattr(normalize, "_parse_phone", no_parse)
    assert check(tables, now=now, state=state).findings == fresh.findings


def test_the_state_keeps_only_the_phone_numbers_of_this_run():
    first = check(make_tables(leads=leads(lead(phone="(212) 555-0100"), lead(phone="12345"))), now=NOW)
    assert first.state["phones"]["verdicts"] == {"US": {"(212) 555-0100": "+12125550100", "12345": None}}
    second = check(make_tables(leads=leads(lead(phone="+1 212 555 0100 ext. 12"))), now=NOW, state=_as_saved(first.state))
    assert second.state["phones"]["verdicts"] == {"US": {"+1 212 555 0100 ext. 12": ["+12125550100", "12"]}}


def test_verdicts_saved_with_other_phonenumbers_metadata_are_not_used():
    import phonenumbers

    tables = make_tables(leads=leads(lead(phone="12345")))
    lie = {"format": 1, "phonenumbers": phonenumbers.__version__, "verdicts": {"US": {"12345": "+12125550100"}}}
    assert only(check(tables, now=NOW, state={"phones": lie}), "phone-format").fix == "+12125550100"  # trusted as is
    for stale in (dict(lie, phonenumbers="0.0.1"), dict(lie, format=0), {"verdicts": 3}, None):
        result = check(tables, now=NOW, state={"phones": stale})
        assert only(result, "invalid-phone").value == "12345"
        assert result.state["phones"]["phonenumbers"] == phonenumbers.__version__


# The column-wise paths (emails and text decided in bulk, findings made per column, the Data Issues
# order from arrays) must say exactly what the per-value deciders say.
TRICKY_EMAILS = [
    "ana@acme.com", "ana@acme.com\n", "Ana@acme.com", " ana@acme.com", "ana @acme.com", "mailto:ana@acme.com",
    "ana@gmial.com", "bo@gmail.co", "cy@hotmail.con", "1@2.fr", "ana@acme,com", "no-at-sign", "ana@acme.com\u00a0",
    "ana@mail.com", "ana@GMAIL.com",
]
TRICKY_NAMES = ["Ana", "ANA", "ana", "Ana  Silva", " Ana", "Ana ", "Ana\tSilva", "Ana\u00a0Silva", "A", "ÉLODIE", "de la Tour", "Jean-Pierre"]


def test_bulk_email_and_text_verdicts_match_the_per_value_deciders():
    from crm_sheets.jobs.check.fields import _email, _tidy

    rows = [lead(email=e) for e in TRICKY_EMAILS] + [lead(first_name=n, city=n) for n in TRICKY_NAMES]
    result = check(make_tables(leads=leads(*rows)), now=NOW)
    got = {(f.record_id, f.field): (f.type, f.severity, f.fix, f.fixable, f.message.split(": ", 1)[1]) for f in result.findings
           if f.field in ("email", "first_name", "city") and f.type != "duplicate-value"}
    want = {}
    for i, e in enumerate(TRICKY_EMAILS):
        v = _email(e)
        if v:
            kind, severity, what, todo, fix, fixable = v[1] or v[0]
            want[(f"L-{i + 1:05d}", "email")] = (kind, severity, fix, fixable, f"{what}; {todo}")
    for i, n in enumerate(TRICKY_NAMES, start=len(TRICKY_EMAILS)):
        for field, title in (("first_name", True), ("city", False)):
            v = _tidy(n, title)
            if v:
                kind, severity, what, todo, fix, fixable = v
                want[(f"L-{i + 1:05d}", field)] = (kind, severity, fix, fixable, f"{what}; {todo}")
    assert got == want
    assert ("L-00002", "email") in got and ("L-00017", "first_name") in got  # the trailing newline; ANA


def test_the_data_issues_rows_follow_the_findings_sort_key():
    from crm_sheets.jobs.check.sheet import sort_key

    tables = make_tables(leads=MESSY)
    result = check(tables, now=NOW)
    order = {n: i for i, n in enumerate(tables.schema.tables)}
    expected = sorted(result.findings, key=sort_key(tables, order))
    [sheet] = result.changes.sheets
    header = next(i for i, row in enumerate(sheet.rows) if row and row[0].value == "Severity")
    assert [r[6].value for r in sheet.rows[header + 1:]] == [f.message for f in expected]


def test_what_check_fix_leaves_is_what_a_check_of_the_fixed_data_finds():
    # The fix trims a Team name: the owner typed a little off is then compared with the name as fixed, and the
    # owner column no fix wrote gets its findings made again (Data Issues suggests the name as Team now spells it).
    team = [{**TEAM[0], "name": "Camille  Martin"}, TEAM[1]]
    tables = make_tables(team=team, leads=leads(lead(owner="Camile Martin"), lead(owner="Noah Johnson", email="b@acme.com")))
    result = check(tables, now=NOW, fix=True)
    assert [(u.table, u.field, u.value) for u in result.changes.updates] == [("team", "name", "Camille Martin")]
    assert only(result, "unknown-user").fix == "Camille Martin"
    assert 'choose "Camille Martin"' in only(result, "unknown-user").message
    fixed = make_tables(team=TEAM, leads=leads(lead(owner="Camile Martin"), lead(owner="Noah Johnson", email="b@acme.com")))
    assert result.findings == check(fixed, now=NOW).findings


def test_data_issues_shows_each_date_as_its_own_even_when_many_look_alike():
    # Dates repeat across thousands of findings; each row still shows (and the sheet's digest still tells apart)
    # its own day and time, whatever time unit the value came in.
    from crm_sheets.jobs.check.sheet import data_issues_digest

    days = [pd.Timestamp("2025-04-01"), pd.Timestamp("2025-04-02"), pd.Timestamp("2025-04-01 10:30"),
            pd.Timestamp("2025-04-01").as_unit("s"), pd.Timestamp("2025-04-01 00:00:00.000001")]
    rows = [lead(created=d, email=f"p{i}@acme.com") for i, d in enumerate(days)]
    tables = make_tables(leads=leads(*rows))
    result = check(tables, now=NOW)
    [sheet] = result.changes.sheets
    shown = {r[2].value: r[5].value for r in sheet.rows if len(r) == 8 and r[4].value == "Created"}
    assert shown == {"L-00001": "2025-04-01", "L-00002": "2025-04-02", "L-00003": "2025-04-01 10:30",
                     "L-00004": "2025-04-01", "L-00005": "2025-04-01 00:00"}
    future = [f for f in result.findings if f.type == "future-date"]
    assert len(future) == 5
    digests = [data_issues_digest(tables, [replace(future[0], value=d)]) for d in days]
    assert len(set(digests)) == 4 and digests[0] == digests[3]  # the same day in seconds shows the same
    assert data_issues_digest(tables, [replace(future[0], value=d) for d in days]) != \
        data_issues_digest(tables, [replace(future[0], value=d) for d in days[:1] * 5])


def test_findings_made_a_column_at_a_time_are_plain_frozen_findings():
    # Many findings are made column-wise (phone tidy-ups, future dates): they are Findings like any other, equal to
    # and hashed as the same Finding built field by field, and cannot be changed afterwards.
    import dataclasses

    from crm_sheets.model import Finding

    rows = [lead(phone="+1 212 555 0100", email=f"p{i}@acme.com", created=pd.Timestamp("2025-04-01")) for i in range(3)]
    found = check(make_tables(leads=leads(*rows)), now=NOW).findings
    assert {f.type for f in found} == {"phone-format", "future-date"}
    for f in found:
        twin = Finding(*(getattr(f, x.name) for x in dataclasses.fields(Finding)))
        assert type(f) is Finding and f == twin and hash(f) == hash(twin) and repr(f) == repr(twin)
        with pytest.raises(dataclasses.FrozenInstanceError):
            f.fix = "changed"


def test_the_data_issues_digest_streamed_into_its_hash_is_the_one_a_whole_pickle_gives():
    # The digest kept in a workbook's state decides whether Data Issues is laid out and written again: hashing the
    # findings' pickle as it is written (never held whole) must give the digest the whole pickle gave, across many
    # of the pickler's frames, or every workbook's sheet would be rewritten once after an upgrade.
    import hashlib
    import io
    import pickle

    from crm_sheets.jobs.check.sheet import finding_fields, pickled_into

    rows = [lead(email=f"p{i}@acme", created=pd.Timestamp("2031-01-01") + pd.Timedelta(days=i % 40),
                 notes="x" * (i % 700)) for i in range(1200)]
    findings = check(make_tables(leads=leads(*rows)), now=NOW).findings
    fields = [finding_fields(f) for f in findings]
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=5)
    pickler.fast = True
    pickler.dump(fields)
    assert len(buf.getvalue()) > 4 * 65536  # (several frames)
    whole = hashlib.sha256(b"head")
    whole.update(buf.getvalue())
    start = hashlib.sha256(b"head")
    assert pickled_into(start, fields).hexdigest() == whole.hexdigest()
    assert start.hexdigest() == hashlib.sha256(b"head").hexdigest()  # the hash given is left as it was
    assert pickled_into(start, [lambda: None]) is None
