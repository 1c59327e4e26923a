"""The forms server over real HTTP (uvicorn on loopback): intake, 303, and every abuse control."""
from __future__ import annotations

import pytest

from crm_sheets.forms.journal import Journal, journal_path
from crm_sheets.store import open_store
from crm_sheets.workbook import new_workbook
from tests._forms_helpers import FormsServer, post, request, token, wait_applied

pytestmark = pytest.mark.slow
OK = {"first_name": "Zoé", "last_name": "Roux", "email": "zoe@exemple.fr"}


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return new_workbook(tmp_path_factory.mktemp("web") / "crm.xlsx", sample_leads=50)


@pytest.fixture(scope="module")
def server(book):
    s = FormsServer(book, "--ip-rate", "1000/min", "--form-rate", "5000/min", "--apply-interval", "1",
                    "--allow-origin", "https://www.example.com").start()
    yield s
    s.stop()


def test_a_valid_submission_gets_303_to_the_thank_you_page_and_reaches_the_workbook(server, book):
    status, headers, _ = post(server.port, {**OK, "email": "zoe.web@exemple.fr", "_crm_lang": "fr"})
    assert status == 303 and headers["location"] == "/forms/contact-us/thanks?lang=fr"
    status, _, body = request("GET", server.port, headers["location"])
    assert status == 200 and "Merci, nous revenons vers vous très vite." in body.decode()
    wait_applied(server)
    leads = open_store(book).read()["leads"].df
    assert (leads["email"] == "zoe.web@exemple.fr").sum() == 1


def test_the_form_speaks_the_language_the_browser_asks_for(server):
    _, _, body = request("GET", server.port, "/forms/contact-us", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in body.decode() and "Contactez-nous" in body.decode()
    _, _, body = request("GET", server.port, "/forms/contact-us?lang=en", headers={"Accept-Language": "fr"})
    assert "Contact us" in body.decode()


def test_invalid_values_come_back_with_errors_next_to_the_fields(server):
    status, _, body = post(server.port, {**OK, "email": "zoe@", "_crm_lang": "fr"})
    page = body.decode()
    assert status == 422 and "Veuillez saisir une adresse e-mail valide." in page
    assert 'value="Zoé"' in page  # what was typed is kept


def test_an_unknown_form_is_404(server):
    assert request("GET", server.port, "/forms/nope")[0] == 404
    assert post(server.port, OK, form="nope", tok="x")[0] == 404


def test_a_post_without_a_valid_token_is_refused(server):
    status, _, body = post(server.port, OK, tok="contact-us.1.abc.0000")
    assert status == 403 and "expired" in body.decode()
    status, _, _ = post(server.port, OK, tok="")
    assert status == 403


def test_a_double_submit_with_one_token_is_one_entry(server, book):
    journal = Journal(journal_path(book))
    before = len(journal.entries())
    tok = token(server.port)
    first = post(server.port, {**OK, "email": "double@exemple.fr"}, tok=tok)
    second = post(server.port, {**OK, "email": "double@exemple.fr"}, tok=tok)
    assert first[0] == second[0] == 303
    assert len(journal.entries()) == before + 1


def test_the_honeypot_answers_like_a_success_and_keeps_nothing(server, book):
    journal = Journal(journal_path(book))
    before = len(journal.entries())
    status, _, _ = post(server.port, {**OK, "email": "bot@exemple.fr", "contact_url_2": "http://spam"})
    assert status == 303 and len(journal.entries()) == before


def test_another_site_may_not_post_unless_allowed(server):
    assert post(server.port, OK, headers={"Origin": "https://evil.example"})[0] == 403
    assert post(server.port, OK, headers={"Origin": "null"})[0] == 403
    assert post(server.port, {**OK, "email": "allowed@exemple.fr"}, headers={"Origin": "https://www.example.com"})[0] == 303


def test_a_body_past_the_cap_is_413(server):
    assert post(server.port, {**OK, "notes": "x" * 20000})[0] == 413
    status, _, _ = request("POST", server.port, "/forms/contact-us", b"a=b",
                           {"Content-Type": "multipart/form-data; boundary=x", "Origin": server.url})
    assert status == 415


def test_the_rate_limit_per_address_answers_429_with_retry_after(tmp_path):
    book = new_workbook(tmp_path / "crm.xlsx")
    s = FormsServer(book, "--ip-rate", "3/min").start()
    try:
        codes = [post(s.port, {**OK, "email": f"r{i}@exemple.fr"}) for i in range(5)]
        assert [c[0] for c in codes] == [303, 303, 303, 429, 429]
        assert 1 <= int(codes[3][1]["retry-after"]) <= 20
    finally:
        s.stop()


def test_a_journal_past_its_limit_answers_503(tmp_path):
    book = new_workbook(tmp_path / "crm.xlsx")
    journal = Journal(journal_path(book))
    for i in range(50):
        journal.append(token=f"t{i}", form="contact-us", values={"table": "leads", "fields": {"notes": "x" * 30000}})
    journal.close()
    s = FormsServer(book, "--max-journal-mb", "1").start()
    try:
        status, headers, _ = post(s.port, OK)
        assert status == 503 and headers["retry-after"]
    finally:
        s.kill()


class AnswerCaptcha:
    """A CAPTCHA hook as a site would plug one in: its widget's HTML and the check of its answer."""

    def html(self, lang):
        return '<label for="captcha">6 × 7 =</label><input id="captcha" name="captcha_answer">'

    def verify(self, posted, ip):
        return posted.get("captcha_answer") == ["42"]


def test_crm_sheets_serve_mounts_the_forms_beside_the_jobs_endpoint_and_a_captcha_hook_guards_them(tmp_path):
    """`crm-sheets serve`'s own app: the jobs endpoint, the forms' routes, the applier in its lifespan."""
    import threading
    import time

    import uvicorn

    from crm_sheets.forms.web import FormsConfig, FormsService
    from crm_sheets.serve import create_app
    from tests._forms_helpers import free_port

    book = new_workbook(tmp_path / "crm.xlsx")
    service = FormsService(FormsConfig(book, captcha=AnswerCaptcha(), apply_interval=0.5))
    app = create_app(book, secret="s3cret-shared-with-the-sheet-0123456789", forms=service)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        status, _, health = request("GET", port, "/health")
        assert status == 200 and b'"ok"' in health
        status, _, _ = request("POST", port, "/jobs/run")
        assert status == 401, "the jobs endpoint is there, and signed"
        _, _, page = request("GET", port, "/forms/contact-us")
        assert 'name="captcha_answer"' in page.decode()
        status, _, body = post(port, {**OK, "captcha_answer": "41"})
        assert status == 400 and "not a robot" in body.decode()
        status, _, _ = post(port, {**OK, "captcha_answer": "42"})
        assert status == 303
        deadline = time.monotonic() + 60
        while service.journal.count() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (open_store(book).read()["leads"].df["email"] == OK["email"]).sum() == 1
    finally:
        server.should_exit = True
        thread.join(30)
