"""Templates of text and bare merge fields render without Jinja2's per-record context (templates._plain): the
same text Jinja2 renders, for every kind of value a merge field holds, escaped in HTML bodies as Jinja2 escapes."""
from __future__ import annotations

import datetime as dt

import pytest
from markupsafe import Markup

from crm_sheets.jobs.automate import templates
from crm_sheets.jobs.automate.templates import render

FIELDS = {
    "first_name": "Ana", "company": "Smith & Sons <Ltd>", "quote": 'say "hi" \'there\'', "score": 12, "ratio": 2.5,
    "zero": 0, "none": None, "flag": True, "when": dt.date(2026, 3, 15), "empty": "", "spaces": "  padded  ",
    "recipient": {"email": "a@b.c", "first_name": "Ana"}, "markup": Markup("<b>bold</b>"), "accent": "Zoë Ñandú",
    "id": "L-00001", "owner_first_name": "Sam",
}
SOURCES = [
    "Hello {{ first_name }}",
    "{{ first_name }}, {{ company }} — {{ quote }}",
    "Score {{score}} ratio {{ ratio }} zero {{ zero }} none {{ none }} flag {{ flag }} when {{ when }}",
    "  {{ empty }}{{ missing }} x {{ spaces }}  ",
    "Dear {{ recipient }}\n\nThanks,\n{{ owner_first_name }}\n",
    "{{ markup }} and {{ company }}",
    "{{- first_name -}} ! {{ accent }}\n\n\n",
    "Line {{ id }}\r\nnext {# a note #} end",
    "{{ range }} {{ self }} {{ loop }}",  # Jinja2's own names: rendered by Jinja2
    "{{ first_name|upper }} {{ recipient.email }}",  # filters and attributes: rendered by Jinja2
    "{% if score > 10 %}hot{% else %}cold{% endif %} {{ first_name }}",
    "{{ first_name }} {{",  # does not read
    "",
    "no fields at all",
]


@pytest.mark.parametrize("html_escape", [False, True])
@pytest.mark.parametrize("source", SOURCES)
def test_a_template_renders_the_text_jinja2_renders(source: str, html_escape: bool):
    def by_jinja():
        try:
            return templates._compiled(source, html_escape).render(**FIELDS).strip()
        except Exception as exc:  # noqa: BLE001 - the same failure is what is compared
            return type(exc)

    def ours():
        try:
            return render(source, FIELDS, html_escape=html_escape)
        except Exception as exc:  # noqa: BLE001
            return type(exc)

    assert ours() == by_jinja()


def test_only_text_and_bare_names_take_the_quick_path():
    assert templates._plain("Hi {{ first_name }}, {{ company }}") == (
        (None, "Hi "), ("first_name", ""), (None, ", "), ("company", ""))
    for source in ("{{ first_name|upper }}", "{% if x %}y{% endif %}", "{{ a.b }}", "{{ range }}", "{{ self }}", "{{ x"):
        assert templates._plain(source) is None


@pytest.mark.parametrize("sender, lang, address, words", [
    ("Sales Team <sales@acme.test>", "en", "sales@acme.test", ("unsubscribe", "?subject=unsubscribe")),
    ("ventes@acme.test", "fr", "ventes@acme.test", ("désinscription", "?subject=d%C3%A9sinscription")),
    ("Acme & Co", "en", "Acme & Co", ("unsubscribe", "")),  # no address: the line names the sender, no link
])
def test_each_email_ends_with_the_unsubscribe_line_of_its_own_sender_and_language(sender, lang, address, words):
    # emails of several senders and languages in one process: each names its own sender in its line and link
    for other in ("Other <other@example.test>", "crm@localhost"):
        templates.compose("Hi", "Hello {{ first_name }}", FIELDS, sender=other, lang="en")
    mail = templates.compose("Hi {{ first_name }}", "Hello {{ first_name }}", FIELDS, sender=sender, lang=lang)
    word, query = words
    assert mail.text.startswith("Hello Ana\n\n-- \n") and address in mail.text.split("-- \n")[1] and word in mail.text
    assert mail.unsubscribe == (f"mailto:{address}{query}" if query else "")
    shown = f'<a href="{mail.unsubscribe}">{address}</a>' if query else address.replace("&", "&amp;")
    assert shown in mail.html and mail.html.startswith("<html><body>\n<p>Hello Ana</p>\n")
    plain = templates.compose("Hi", "Hello", FIELDS, sender=sender, lang=lang, unsubscribe=False)
    assert plain.unsubscribe == "" and plain.text == "Hello" and address not in plain.html
