"""Web-form submissions applied to a Google Sheet (the emulator) through the same applier and store core as the
file: the lead and its activity arrive, a formula-looking value stays text, the journal lives in the sheet's
state folder (not in a folder named after the URL)."""
from __future__ import annotations

import secrets
from datetime import datetime

import pytest

pytest.importorskip("gspread")

from crm_sheets.forms.applier import apply_waiting  # noqa: E402
from crm_sheets.forms.journal import Journal, journal_path  # noqa: E402
from crm_sheets.store.gsheets import GSheetsStore  # noqa: E402
from crm_sheets.store.gsheets.client import Pacer, RetryPolicy, connect  # noqa: E402
from crm_sheets.store.gsheets.push import push  # noqa: E402

NOW = datetime(2026, 11, 2, 9, 0)


@pytest.fixture
def sheet(gsheets_emulator, built_book, tmp_path, monkeypatch):
    """(spec, connection) of a spreadsheet holding the template with 50 sample leads."""
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    conn = connect(endpoint=gsheets_emulator.url, pacer=Pacer(60),
                   policy=RetryPolicy(attempts=5, base=0.05, cap=0.2, total_seconds=30))
    sid = conn.create("CRM")
    push(built_book(sample_data=50, now=NOW), conn, sid)
    return f"gsheets://{sid}", conn


@pytest.mark.slow
def test_a_form_submission_reaches_the_google_sheet_once_and_stays_text(sheet, tmp_path):
    spec, conn = sheet
    path = journal_path(spec)
    assert path.is_relative_to(tmp_path / "state")  # the sheet's state folder, as its outbox
    journal = Journal(path)
    typed = '=HYPERLINK("http://evil.example","click")'
    journal.append(token=secrets.token_hex(8), form="contact-us",
                   values={"table": "leads", "title": "Contact us",
                           "fields": {"first_name": typed, "last_name": "Roux", "email": "roux@exemple.fr"}})

    outcome = apply_waiting(spec, journal, now=NOW, store_options={"connection": conn})
    assert outcome.created == ["L-00051"] and not outcome.busy
    again = apply_waiting(spec, journal, now=NOW, store_options={"connection": conn})
    assert again.created == [] and journal.count("waiting") == 0

    tables = GSheetsStore(spec, connection=conn).read()
    leads = tables["leads"].df
    assert (leads["email"] == "roux@exemple.fr").sum() == 1
    assert leads.loc["L-00051", "first_name"] == typed
    acts = tables["activities"].df
    assert (acts["lead"] == "L-00051").sum() == 1
    assert not (tmp_path / "gsheets:").exists()
