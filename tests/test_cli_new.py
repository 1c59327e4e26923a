"""`crm-sheets new` from the command line: a fresh workbook of every template checks clean, and bad
requests get one line naming what is valid, with exit code 2."""
import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.model.schema import available_templates


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.slow
@pytest.mark.parametrize("template", available_templates())
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_new_workbook_checks_clean(tmp_path, template, lang):
    path = tmp_path / "crm.xlsx"
    created = invoke("new", path, "--template", template, "--lang", lang)
    assert created.exit_code == 0, created.output
    assert "Created" in created.output and path.exists()
    checked = invoke("check", path, "--dry-run")
    assert checked.exit_code == 0, checked.output


def test_new_refuses_to_overwrite_without_force(tmp_path):
    path = tmp_path / "crm.xlsx"
    path.write_bytes(b"a person's work")
    result = invoke("new", path)
    assert result.exit_code == 2
    assert "already exists" in result.output and "--force" in result.output
    assert path.read_bytes() == b"a person's work"


@pytest.mark.parametrize("args,names", [
    (["--template", "banking"], ["sales", "services", "personal"]),
    (["--lang", "de"], ["en", "fr"]),
    (["--sample-data", "10"], ["50"]),
])
def test_bad_requests_name_what_is_valid(tmp_path, args, names):
    result = invoke("new", tmp_path / "crm.xlsx", *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for name in names:
        assert name in result.output
    assert not (tmp_path / "crm.xlsx").exists()


@pytest.mark.slow
def test_a_sequence_step_naming_a_missing_template_or_campaign_is_reported(tmp_path):
    from crm_sheets.model.changeset import ChangeSet, RowAppend
    from crm_sheets.store import open_store

    path = tmp_path / "crm.xlsx"
    assert invoke("new", path).exit_code == 0
    store = open_store(path)
    tables = store.read()
    store.apply(ChangeSet(appends=[
        RowAppend("sequence_steps", "", {"campaign": "Welcome sequence", "step": 4, "template": "nurture_4x", "delay_days": 3}),
        RowAppend("sequence_steps", "", {"campaign": "Autumn promo", "step": 1, "template": "nurture_1", "delay_days": 0}),
    ]), tables)
    result = invoke("check", path, "--dry-run", "--json")
    assert result.exit_code == 1
    import json

    messages = [f["message"] for r in json.loads(result.output)["results"] for f in r["findings"] if f["type"] == "bad-rule"]
    assert any("'Sequence Steps'" in m and '"nurture_4x" is not a template of Email Templates' in m for m in messages), messages
    assert any('"Autumn promo" is not a campaign of Campaigns' in m for m in messages), messages
