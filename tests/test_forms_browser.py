"""A real headless Chromium (the distribution's, driven by Playwright) fills the web form: it sees a
validation error, sends it in French and in English, lands on the thank-you page, and the leads are
in the workbook once the applier ran."""
from __future__ import annotations

import shutil

import pytest

from crm_sheets.store import open_store
from crm_sheets.workbook import new_workbook
from tests._forms_helpers import FormsServer, wait_applied

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def field(page, name):
    return page.locator(f"#crm-form-contact-us-{name}")


@pytest.fixture
def browser(tmp_path):
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "profile"
    profile.mkdir()
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield context
        finally:
            context.close()


def test_a_visitor_fills_the_form_in_french_and_in_english_and_the_leads_reach_the_workbook(tmp_path, browser):
    book = new_workbook(tmp_path / "crm.xlsx", sample_leads=50)
    server = FormsServer(book, "--apply-interval", "1").start()
    try:
        page = browser.new_page()
        page.goto(f"{server.url}/forms/contact-us?lang=fr")
        assert page.locator("h1").inner_text() == "Contactez-nous"
        page.get_by_label("Prénom").fill("Zoé")
        field(page, "last_name").fill("=HYPERLINK(\"http://evil\")")
        field(page, "email").fill("zoe@exemple")  # the browser accepts it, the check rules do not
        page.get_by_label("Votre message").fill("Bonjour, pouvez-vous me rappeler ?")
        page.get_by_role("button", name="Envoyer").click()
        error = page.locator("#crm-form-contact-us-email-error")
        assert error.inner_text() == "Veuillez saisir une adresse e-mail valide."
        assert field(page, "email").get_attribute("aria-invalid") == "true"
        assert page.get_by_label("Prénom").input_value() == "Zoé"  # nothing typed is lost
        field(page, "email").fill("zoe.roux@exemple.fr")
        page.get_by_label("Recevoir des nouvelles par e-mail").check()
        page.get_by_role("button", name="Envoyer").click()
        page.wait_for_url("**/forms/contact-us/thanks?lang=fr")
        assert "Merci, nous revenons vers vous très vite." in page.locator("main").inner_text()

        page.goto(f"{server.url}/forms/contact-us?lang=en")
        field(page, "first_name").fill("Noah")
        field(page, "last_name").fill("Miller")
        field(page, "email").fill("noah.miller@example.org")
        field(page, "phone").fill("+44 20 7946 0958")
        page.get_by_role("button", name="Send").click()
        page.wait_for_url("**/forms/contact-us/thanks?lang=en")
        assert "Thank you, we will get back to you shortly." in page.locator("main").inner_text()

        wait_applied(server)
        leads = open_store(book).read()["leads"].df
        zoe = leads[leads["email"] == "zoe.roux@exemple.fr"]
        noah = leads[leads["email"] == "noah.miller@example.org"]
        assert len(zoe) == 1 and len(noah) == 1
        assert zoe.iloc[0]["last_name"] == "=HYPERLINK(\"http://evil\")" and bool(zoe.iloc[0]["consent"])
        assert noah.iloc[0]["phone"] == "+442079460958" and noah.iloc[0]["source"] == "web_form"
    finally:
        server.stop()


def test_the_plain_html_embed_posts_from_another_site_that_is_allowed(tmp_path, browser):
    import functools
    import threading
    from http.server import HTTPServer, SimpleHTTPRequestHandler

    from crm_sheets.forms import embed
    from tests._forms_helpers import free_port

    book = new_workbook(tmp_path / "crm.xlsx")
    site_port = free_port()
    site = tmp_path / "site"
    site.mkdir()
    server = FormsServer(book, "--apply-interval", "1", "--allow-origin", f"http://localhost:{site_port}").start()
    snippet = embed(book, base_url=server.url).forms["contact-us"]["html"]
    (site / "index.html").write_text(f"<!doctype html><html lang=en><body><h1>Our site</h1>{snippet}</body></html>")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    httpd = HTTPServer(("127.0.0.1", site_port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"http://localhost:{site_port}/index.html")  # another origin than the forms server
        page.wait_for_function("document.querySelector('[name=_crm_token]').value !== ''")
        field(page, "first_name").fill("Emma")
        field(page, "last_name").fill("Davies")
        field(page, "email").fill("emma.davies@example.org")
        page.get_by_role("button", name="Send").click()
        page.wait_for_url(f"{server.url}/forms/contact-us/thanks?lang=en")
        wait_applied(server)
        assert (open_store(book).read()["leads"].df["email"] == "emma.davies@example.org").sum() == 1
    finally:
        httpd.shutdown()
        server.stop()
