"""`crm-sheets forms`: the embed snippets of the workbook's forms; --json equals the library's result."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.forms import embed
from crm_sheets.workbook import new_workbook


def test_forms_prints_the_iframe_and_the_plain_html_of_the_contact_form(tmp_path):
    book = new_workbook(tmp_path / "crm.xlsx")
    result = CliRunner().invoke(cli, ["forms", str(book), "--base-url", "https://crm.example.com/"])
    assert result.exit_code == 0, result.output
    assert "# contact-us: https://crm.example.com/forms/contact-us" in result.output
    assert '<iframe src="https://crm.example.com/forms/contact-us?lang=en"' in result.output
    assert '<form id="crm-form-contact-us" method="post" action="https://crm.example.com/forms/contact-us"' in result.output
    assert '<script src="https://crm.example.com/forms/contact-us/token.js" async></script>' in result.output


@pytest.mark.slow
def test_forms_json_is_the_library_result_and_speaks_french_when_asked(tmp_path):
    book = new_workbook(tmp_path / "crm.xlsx")
    result = CliRunner().invoke(cli, ["forms", str(book), "--lang", "fr", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output) == embed(book, lang="fr").as_dict()
    assert "Envoyer" in json.loads(result.output)["forms"]["contact-us"]["html"]


def test_forms_of_a_missing_workbook_is_one_line_and_exit_code_2(tmp_path):
    result = CliRunner().invoke(cli, ["forms", str(tmp_path / "nope.xlsx")])
    assert result.exit_code == 2 and "no such file" in result.output
