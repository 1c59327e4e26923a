"""Web forms without a server: definitions from the Forms sheet, validation and neutralising, the
journal, the applier (exactly once, dedupe, busy workbooks) and the automate trigger it feeds."""
from __future__ import annotations

import copy
import csv
import re
import secrets
import subprocess
import zipfile
from datetime import datetime

import pytest

from crm_sheets.forms.applier import META_KEY, apply_waiting
from crm_sheets.forms.definitions import load_forms
from crm_sheets.forms.journal import Journal, journal_path
from crm_sheets.forms.render import form_page
from crm_sheets.forms.validation import neutralise, validate
from crm_sheets.forms.web import TokenBucket, Tokens
from crm_sheets.model.values import Text
from crm_sheets.store import open_store
from crm_sheets.workbook import new_workbook
from helpers import fresh_copy

NOW = datetime(2026, 11, 2, 9, 0)


@pytest.fixture
def book(built_book, tmp_path):
    """A workbook with 50 sample leads, built once per session; each test changes its own copy."""
    return fresh_copy(built_book(sample_data=50, now=NOW), tmp_path)


def read(path):
    return open_store(path).read()


def submit(journal, fields, form="contact-us", table="leads"):
    entry, _ = journal.append(token=secrets.token_hex(8), form=form,
                              values={"table": table, "title": "Contact us", "fields": fields})
    return entry


@pytest.mark.slow
def test_the_template_ships_a_contact_form_with_fields_in_order_and_labels_in_both_languages(book):
    form = load_forms(read(book)).forms["contact-us"]
    assert [f.name for f in form.fields][:3] == ["first_name", "last_name", "email"]
    email = form.field("email")
    assert email.required and email.label("en") == "Email" and email.label("fr") == "E-mail"
    assert form.field("notes").label("fr") == "Votre message"
    assert form.title("fr") == "Contactez-nous" and form.thanks("en").startswith("Thank you")


@pytest.mark.slow
def test_a_form_naming_a_field_the_table_lacks_is_reported_not_served(tmp_path):
    from crm_sheets.model.changeset import ChangeSet

    path = new_workbook(tmp_path / "crm.xlsx", now=NOW)
    store = open_store(path)
    tables = store.read()
    rid = tables["forms"].df.index[0]
    changes = ChangeSet()
    changes.update("forms", rid, "fields", "first_name, last_name, shoe_size")
    store.apply(changes, tables)
    found = load_forms(read(path))
    assert "contact-us" not in found.forms
    assert 'no field "shoe_size"' in found.problems[0].message


@pytest.mark.slow
def test_dropdowns_offer_the_options_of_the_workbook_lists(book):
    from crm_sheets.model.changeset import ChangeSet

    store = open_store(book)
    tables = store.read()
    changes = ChangeSet()
    changes.update("forms", tables["forms"].df.index[0], "fields", "first_name, last_name, email, industry")
    store.apply(changes, tables)
    form = load_forms(read(book)).forms["contact-us"]
    page = form_page(form, lang="fr", token="t", action="/forms/contact-us")
    assert '<select id="crm-form-contact-us-industry" name="industry"' in page
    assert '<option value="software">Logiciel</option>' in page


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\n"])
def test_formula_looking_text_is_kept_exactly_as_typed_and_marked_text(start):
    value = neutralise(start + "1+1")
    assert value == start + "1+1" and isinstance(value, Text)  # no apostrophe added to what the person typed
    assert not isinstance(neutralise("Zoé"), Text)


def test_control_characters_never_reach_the_workbook():
    value = neutralise("\x00=cmd|' /C calc'!A0")
    assert value == "=cmd|' /C calc'!A0" and isinstance(value, Text)
    assert neutralise("Ann\x07e") == "Anne"


def test_validation_uses_the_check_rules_and_speaks_french(book):
    tables = read(book)
    form = load_forms(tables).forms["contact-us"]
    sub = validate(form, tables, {"first_name": ["Zoé"], "last_name": ["Roux"], "email": ["zoe@"], "phone": ["12"]}, lang="fr")
    assert sub.errors == {"email": "Veuillez saisir une adresse e-mail valide.",
                          "phone": "Veuillez saisir un numéro de téléphone valide, avec l'indicatif (+33 …)."}
    sub = validate(form, tables, {"last_name": ["Roux"]}, lang="en")
    assert sub.errors["first_name"] == "Please fill in this field."


def test_valid_values_are_typed_and_neutralised(book):
    tables = read(book)
    form = load_forms(tables).forms["contact-us"]
    sub = validate(form, tables, {"first_name": ["=HYPERLINK(\"http://x\")"], "last_name": ["@Roux"],
                                  "email": [" Zoe@Example.FR "], "phone": ["+33 6 12 34 56 78"],
                                  "consent": ["on"], "notes": ["-1\nhello"]})
    assert sub.ok, sub.errors
    assert sub.values == {"first_name": "=HYPERLINK(\"http://x\")", "last_name": "@Roux", "email": "zoe@example.fr",
                          "phone": "+33612345678", "consent": True, "notes": "-1\nhello"}
    assert all(isinstance(sub.values[k], Text) for k in ("first_name", "last_name", "notes"))


def test_the_form_page_labels_every_field_and_puts_errors_next_to_them(book):
    tables = read(book)
    form = load_forms(tables).forms["contact-us"]
    page = form_page(form, lang="fr", token="tok", action="/forms/contact-us", errors={"email": "Veuillez saisir une adresse e-mail valide."})
    assert '<html lang="fr">' in page and "Contactez-nous" in page
    for f in form.fields:
        assert f'<label for="crm-form-contact-us-{f.name}">' in page
    assert 'aria-invalid="true" aria-describedby="crm-form-contact-us-email-error"' in page
    assert '<p class="error" id="crm-form-contact-us-email-error">Veuillez saisir une adresse e-mail valide.</p>' in page
    assert 'type="email"' in page and 'type="tel"' in page and "<textarea" in page


def test_a_token_posted_twice_is_one_entry(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    first = journal.append(token="t1", form="contact-us", values={"a": 1})
    again = journal.append(token="t1", form="contact-us", values={"a": 1})
    assert first == (1, True) and again == (1, False)
    journal.close()
    assert Journal(tmp_path / "j.sqlite").count() == 1


def test_tokens_are_signed_per_form_and_expire():
    tokens = Tokens(b"k" * 32, max_age=3600)
    t = tokens.make("contact-us", now=1000)
    assert tokens.check(t, "contact-us", now=1010)
    assert not tokens.check(t, "other", now=1010)
    assert not tokens.check(t, "contact-us", now=1000 + 3601)
    assert not tokens.check(t[:-1] + ("0" if t[-1] != "0" else "1"), "contact-us", now=1010)
    assert not Tokens(b"x" * 32, 3600).check(t, "contact-us", now=1010)


def test_a_token_bucket_refuses_past_its_burst_and_says_when_to_come_back():
    bucket = TokenBucket(2, 60)
    assert bucket.take("ip", now=0) == 0 and bucket.take("ip", now=0) == 0
    wait = bucket.take("ip", now=0)
    assert wait == pytest.approx(30)
    assert bucket.take("other", now=0) == 0
    assert bucket.take("ip", now=31) == 0


def test_the_applier_adds_the_lead_and_an_activity_and_remembers_the_last_entry(book):
    journal = Journal.beside(book)
    entry = submit(journal, {"first_name": "Zoé", "last_name": "=1+1", "email": "zoe@exemple.fr", "consent": True})
    outcome = apply_waiting(book, journal, now=NOW)
    assert outcome.created == ["L-00051"]
    tables = read(book)
    lead = tables["leads"].df.loc["L-00051"]
    assert (lead["last_name"], lead["source"], lead["status"], bool(lead["consent"])) == ("=1+1", "web_form", "new", True)
    acts = tables["activities"].df
    act = acts[acts["lead"] == "L-00051"].iloc[0]
    assert act["type"] == "form" and act["subject"] == f"Contact us (form entry {entry})"
    assert tables.meta[META_KEY] == f"{journal.ident()}:{entry}"
    assert journal.count("waiting") == 0 and journal.entries("applied")[0].record == "L-00051"


@pytest.mark.slow
def test_a_formula_looking_value_is_a_text_cell_holding_exactly_what_was_typed(book):
    import openpyxl

    typed = '=HYPERLINK("http://evil.example","click")'
    journal = Journal.beside(book)
    submit(journal, {"first_name": typed, "last_name": "Roux", "email": "r@exemple.fr"})
    apply_waiting(book, journal, now=NOW)
    ws = openpyxl.load_workbook(book)["Leads"]
    cell = next(c for c in ws["B"] if c.value == typed)  # no apostrophe in the value
    assert cell.data_type == "s"  # a string cell: Excel and LibreOffice show the text, never run it
    with zipfile.ZipFile(book) as z:
        formulas = [f for n in z.namelist() if n.startswith("xl/worksheets/sheet")
                    for f in re.findall(r"<f\b[^>]*>(.*?)</f>", z.read(n).decode("utf-8"), re.S)]
    assert not any("evil.example" in f for f in formulas)


def _looks(cell):
    """What a cell's format shows, apart from its quote prefix."""
    return (cell.number_format, *(copy.copy(x) for x in (cell.font, cell.fill, cell.border, cell.alignment, cell.protection)))


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_a_formula_looking_value_gets_the_quote_prefix_so_editing_the_cell_keeps_it_text(book):
    import openpyxl

    typed = '=HYPERLINK("http://evil.example","click")'
    journal = Journal.beside(book)
    submit(journal, {"first_name": typed, "last_name": "Roux", "email": "r@exemple.fr", "notes": "+33 call me after 5"})
    apply_waiting(book, journal, now=NOW)
    ws = openpyxl.load_workbook(book)["Leads"]
    cell = next(c for c in ws["B"] if c.value == typed)
    row = {c.value: c for c in ws[cell.row]}
    notes = row["+33 call me after 5"]
    assert cell.quotePrefix and notes.quotePrefix and notes.data_type == "s"
    assert not row["Roux"].quotePrefix and not row["r@exemple.fr"].quotePrefix  # ordinary text of the same row
    above = ws.cell(cell.row - 1, cell.column)
    assert not above.quotePrefix and _looks(cell) == _looks(above)  # the column's look, plus the quote prefix


@pytest.mark.slow
def test_a_formula_looking_value_filled_into_an_existing_lead_gets_the_quote_prefix_once_per_look(book):
    import openpyxl

    leads = read(book)["leads"].df
    rid, other = [r for r in leads.index if isinstance(leads.at[r, "email"], str)
                  and not isinstance(leads.at[r, "job_title"], str)][:2]
    old = leads.loc[rid]
    journal = Journal.beside(book)
    submit(journal, {"first_name": old["first_name"], "last_name": old["last_name"], "email": old["email"],
                     "job_title": "-Head of Sales-"})
    assert apply_waiting(book, journal, now=NOW).applied[0][1:] == ("applied", rid, "updated")
    with zipfile.ZipFile(book) as z:
        quoted = z.read("xl/styles.xml").count(b'quotePrefix="1"')
    o = leads.loc[other]
    submit(journal, {"first_name": o["first_name"], "last_name": o["last_name"], "email": o["email"], "job_title": "@CEO"})
    assert apply_waiting(book, journal, now=NOW).applied[0][1:] == ("applied", other, "updated")
    with zipfile.ZipFile(book) as z:
        assert z.read("xl/styles.xml").count(b'quotePrefix="1"') == quoted == 1  # a later run reuses the format
    ws = openpyxl.load_workbook(book)["Leads"]
    cell = next(c for c in ws["A"] if c.value == rid)
    row = {c.value: c for c in ws[cell.row]}
    assert row["-Head of Sales-"].data_type == "s" and row["-Head of Sales-"].quotePrefix
    assert not row[old["email"]].quotePrefix
    assert read(book)["leads"].df.at[rid, "job_title"] == "-Head of Sales-"


def _formula_submission_applied(book):
    """(soffice, the text typed): a form submission whose last name looks like a formula, applied to ``book``."""
    from crm_sheets.export.pdf import find_soffice

    office = find_soffice()
    assert office, "LibreOffice is needed (scripts/system-deps.sh installs it)"
    typed = '=HYPERLINK("http://evil.example","click")'
    journal = Journal.beside(book)
    submit(journal, {"first_name": "Zoé", "last_name": typed, "email": "zoe@exemple.fr"})
    apply_waiting(book, journal, now=NOW)
    return office, typed


@pytest.mark.slow
def test_libreoffice_opens_a_workbook_with_quote_prefixed_cells_and_saves_them_as_the_text_typed(book, tmp_path):
    import openpyxl
    office, typed = _formula_submission_applied(book)
    out = tmp_path / "out"
    subprocess.run([office, "--headless", "--norestore", f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
                    "--convert-to", "xlsx", "--outdir", str(out), str(book)], capture_output=True, timeout=600, check=True)
    ws = openpyxl.load_workbook(out / book.name)["Leads"]
    cell = next(c for c in ws["C"] if c.value == typed)  # LibreOffice read and saved it as the text, not a formula
    assert cell.data_type == "s" and ws.cell(cell.row, 2).value == "Zoé" and ws.cell(cell.row, 4).value == "zoe@exemple.fr"


@pytest.mark.slow
def test_libreoffice_shows_a_formula_looking_submission_as_the_text_typed(book, tmp_path):
    office, typed = _formula_submission_applied(book)
    out = tmp_path / "csv"
    # Sheet 5 (Leads) as CSV, as LibreOffice computes and shows it: a formula would show "click".
    subprocess.run([office, "--headless", "--norestore", f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
                    "--convert-to", 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,5',
                    "--outdir", str(out), str(book)], capture_output=True, timeout=600, check=True)
    rows = list(csv.reader(next(out.glob("*.csv")).read_text(encoding="utf-8").splitlines()))
    zoe = next(r for r in rows if "zoe@exemple.fr" in r)
    assert zoe[2] == typed


@pytest.mark.slow
def test_a_submission_matching_an_existing_lead_updates_it_and_logs_an_activity(book):
    tables = read(book)
    leads = tables["leads"].df
    rid = next(r for r in leads.index if isinstance(leads.at[r, "email"], str) and isinstance(leads.at[r, "company"], str)
               and not isinstance(leads.at[r, "job_title"], str))
    old = leads.loc[rid]
    journal = Journal.beside(book)
    submit(journal, {"first_name": old["first_name"], "last_name": old["last_name"], "email": old["email"].upper().lower(),
                     "job_title": "Head of Sales", "company": "Some Other Name Ltd"})
    outcome = apply_waiting(book, journal, now=NOW)
    assert outcome.applied[0][1:] == ("applied", rid, "updated")
    after = read(book)
    assert len(after["leads"].df) == len(leads)
    assert after["leads"].df.at[rid, "job_title"] == "Head of Sales"  # an empty field is filled
    assert after["leads"].df.at[rid, "company"] == old["company"]  # a filled one is kept
    acts = after["activities"].df
    summary = acts[(acts["lead"] == rid) & (acts["type"] == "form")].iloc[0]["summary"]
    assert "the form said Some Other Name Ltd" in summary
    log = after["audit_log"].df
    assert ((log["record"] == rid) & (log["field"] == "job_title") & (log["job"] == "forms")).any()


def test_two_submissions_of_one_person_in_a_batch_make_one_lead(book):
    journal = Journal.beside(book)
    submit(journal, {"first_name": "Zoé", "last_name": "Roux", "email": "zoe.roux@exemple.fr"})
    submit(journal, {"first_name": "Zoé", "last_name": "Roux", "email": "zoe.roux@exemple.fr", "phone": "+33612345678"})
    outcome = apply_waiting(book, journal, now=NOW)
    assert [o[2] for o in outcome.applied] == ["L-00051", "L-00051"]
    lead = read(book)["leads"].df.loc["L-00051"]
    assert lead["phone"] == "+33612345678"


@pytest.mark.slow
def test_a_kill_between_the_workbook_write_and_the_journal_mark_applies_nothing_twice(book, monkeypatch):
    journal = Journal.beside(book)
    submit(journal, {"first_name": "Zoé", "last_name": "Roux", "email": "zoe@exemple.fr"})
    monkeypatch.setattr(Journal, "mark", lambda self, outcomes, now=None: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        apply_waiting(book, journal, now=NOW)
    monkeypatch.undo()
    fresh = Journal.beside(book)  # as after a restart
    assert fresh.count("waiting") == 1
    outcome = apply_waiting(book, fresh, now=NOW)
    assert outcome.settled == 1 and not outcome.applied
    leads = read(book)["leads"].df
    assert (leads["email"] == "zoe@exemple.fr").sum() == 1
    assert fresh.count("waiting") == 0


def test_entries_wait_while_the_workbook_is_open_in_excel(book):
    from crm_sheets.store.pending import pending_path

    journal = Journal.beside(book)
    submit(journal, {"first_name": "Zoé", "last_name": "Roux", "email": "zoe@exemple.fr"})
    lock = book.with_name("~$" + book.name)
    lock.write_bytes(b"\x05Ana Lopez" + b" " * 50)
    before = book.read_bytes()
    outcome = apply_waiting(book, journal, now=NOW)
    assert "open by" in outcome.busy and outcome.waiting == 1
    assert book.read_bytes() == before and not pending_path(book).exists()
    lock.unlink()
    assert apply_waiting(book, journal, now=NOW).created == ["L-00051"]


@pytest.mark.slow
def test_automate_fires_form_submitted_for_new_and_updated_leads(book):
    from crm_sheets.runner import run

    run(book, ["automate"], now=NOW)  # the baseline snapshot
    tables = read(book)
    leads = tables["leads"].df
    rid = next(r for r in leads.index if isinstance(leads.at[r, "email"], str) and leads.at[r, "opted_out"] is not True)
    journal = Journal.beside(book)
    submit(journal, {"first_name": "Zoé", "last_name": "Roux", "email": "zoe@exemple.fr", "consent": True})
    submit(journal, {"first_name": leads.at[rid, "first_name"], "last_name": leads.at[rid, "last_name"],
                     "email": leads.at[rid, "email"], "consent": True})
    apply_waiting(book, journal, now=NOW)
    run(book, ["automate"], now=NOW)
    members = read(book)["campaign_members"].df
    assert {"L-00051", rid} <= set(members["lead"].dropna())
    count = len(members)
    run(book, ["automate"], now=NOW)  # once only
    assert len(read(book)["campaign_members"].df) == count


@pytest.mark.slow
def test_entries_kept_as_pending_by_a_workbook_opened_mid_write_are_written_once_later(book, monkeypatch):
    import crm_sheets.store.safety as safety
    from crm_sheets.store.pending import pending_path

    journal = Journal.beside(book)
    submit(journal, {"first_name": "Zoé", "last_name": "Roux", "email": "zoe@exemple.fr"})
    lock = book.with_name("~$" + book.name)
    lock.write_bytes(b"\x05Ana Lopez" + b" " * 50)
    monkeypatch.setattr(safety, "office_lock_holder", lambda path: None)  # opened just after the applier looked
    outcome = apply_waiting(book, journal, now=NOW)
    assert outcome.busy and pending_path(book).exists()
    monkeypatch.undo()
    lock.unlink()
    outcome = apply_waiting(book, journal, now=NOW)
    assert outcome.settled == 1 and not pending_path(book).exists()
    leads = read(book)["leads"].df
    assert (leads["email"] == "zoe@exemple.fr").sum() == 1


def test_a_new_journal_beside_the_workbook_does_not_take_its_entries_for_applied_ones(book):
    journal = Journal.beside(book)
    submit(journal, {"first_name": "Zoé", "last_name": "Roux", "email": "zoe@exemple.fr"})
    apply_waiting(book, journal, now=NOW)
    journal.close()
    for p in journal_path(book).parent.glob(journal_path(book).name + "*"):
        p.unlink()  # someone deleted the journal: the next one numbers its entries from 1 again
    fresh = Journal.beside(book)
    submit(fresh, {"first_name": "Hugo", "last_name": "Petit", "email": "hugo@exemple.fr"})
    outcome = apply_waiting(book, fresh, now=NOW)
    assert outcome.settled == 0 and outcome.created == ["L-00052"]


def test_entries_wait_while_another_run_writes_the_workbook(book):
    from crm_sheets.store.safety import WriterLock

    journal = Journal.beside(book)
    submit(journal, {"first_name": "Zoé", "last_name": "Roux", "email": "zoe@exemple.fr"})
    lock = WriterLock(book).acquire()  # as `crm-sheets run` holds it while it writes
    try:
        outcome = apply_waiting(book, journal, now=NOW, store_options={"lock_timeout": 0.1})
        assert "another crm-sheets run" in outcome.busy and journal.count("waiting") == 1
    finally:
        lock.release()
    assert apply_waiting(book, journal, now=NOW).created == ["L-00051"]


@pytest.mark.slow
def test_the_services_template_takes_enquiries_with_a_budget_and_an_interest(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx", template="services", lang="fr", sample_leads=50, now=NOW)
    tables = read(path)
    form = load_forms(tables).forms["contact-us"]
    assert form.table == "leads" and form.field("message").required
    interest = form.field("interest").options[0]
    sub = validate(form, tables, {"first_name": ["Zoé"], "last_name": ["Roux"], "email": ["zoe@exemple.fr"],
                                  "interest": [interest[0]], "budget": ["1500.50"], "message": ["Bonjour"]}, lang="fr")
    assert sub.ok, sub.errors
    journal = Journal.beside(path)
    submit(journal, sub.values)
    rid = apply_waiting(path, journal, now=NOW).created[0]
    lead = read(path)["leads"].df.loc[rid]
    assert (lead["interest"], lead["budget"], lead["message"]) == (interest[0], 1500.5, "Bonjour")


@pytest.mark.slow
def test_an_entry_the_workbook_cannot_take_is_set_aside_and_the_others_go_in(book, monkeypatch):
    import crm_sheets.forms.applier as applier

    journal = Journal.beside(book)
    submit(journal, {"first_name": "Zoé", "last_name": "Roux", "email": "zoe@exemple.fr"})
    bad = submit(journal, {"first_name": "Bad", "last_name": "Entry", "email": "bad@exemple.fr"})
    submit(journal, {"first_name": "Hugo", "last_name": "Petit", "email": "hugo@exemple.fr"})
    real_plan = applier.plan

    def plan(tables, entries, now):
        if any(e.id == bad for e in entries):
            raise ValueError("a value the writer refuses")
        return real_plan(tables, entries, now)

    monkeypatch.setattr(applier, "plan", plan)
    for _ in range(4):
        apply_waiting(book, journal, now=NOW)
    assert journal.count("waiting") == 0
    assert [e.id for e in journal.entries("rejected")] == [bad]
    assert "a value the writer refuses" in journal.entries("rejected")[0].note
    emails = set(read(book)["leads"].df["email"].dropna())
    assert {"zoe@exemple.fr", "hugo@exemple.fr"} <= emails and "bad@exemple.fr" not in emails
