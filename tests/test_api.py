"""The library's face: `from crm_sheets import ...` does what the commands do, a command's `--json` is the
library's result, a flag is named after the keyword it feeds, and one place decides what `run` does."""
from __future__ import annotations

import inspect
import json
import shutil
from datetime import datetime

import click
import pytest
from click.testing import CliRunner

import crm_sheets
from crm_sheets import api
from crm_sheets.cli import cli
from crm_sheets.scheduling import make_scheduler
from helpers import content_version

NOW = datetime(2026, 11, 2, 9, 0)
# command -> the library function it calls
COMMANDS = {"new": "new_workbook", "run": "run", "check": "check", "dedupe": "dedupe", "automate": "automate",
            "unmerge": "unmerge", "report": "report", "demo": "demo"}


@pytest.fixture
def built(built_book):
    return built_book(sample_data=200, now=NOW)


@pytest.fixture
def twins(built, tmp_path, on_backend):
    """Two copies of one workbook: one for the command, one for the library (files, or Google Sheets)."""
    return on_backend(shutil.copy(built, tmp_path / "a.xlsx")), on_backend(shutil.copy(built, tmp_path / "b.xlsx"))


def as_json(result) -> dict:
    data = json.loads(json.dumps(result.as_dict(), default=str))
    data.pop("path"), data.pop("backup")  # the file's own name and its backup's time stamp
    return data


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_flag_has_the_name_of_the_keyword_it_feeds(command):
    params = inspect.signature(getattr(crm_sheets, COMMANDS[command])).parameters
    for p in cli.commands[command].params:
        if p.name == "as_json":
            continue  # rendering, not the library's business
        assert p.name in params, f"crm-sheets {command}: {p.name} is not a keyword of {COMMANDS[command]}()"
        if isinstance(p, click.Option):
            flag = "--" + p.name.replace("_", "-")
            assert flag in p.opts or (p.multiple and flag.removesuffix("s") in p.opts), (command, p.opts)


@pytest.mark.parametrize("args, call", [
    pytest.param(["run", "--dry-run"], lambda path: crm_sheets.run(path, dry_run=True, now=NOW), marks=pytest.mark.slow),
    pytest.param(["check", "--fix"], lambda path: crm_sheets.check(path, fix=True, now=NOW), marks=pytest.mark.slow),
    pytest.param(["dedupe", "--dry-run"], lambda path: crm_sheets.dedupe(path, dry_run=True, now=NOW), marks=pytest.mark.slow),
    pytest.param(["automate", "--dry-run"], lambda path: crm_sheets.automate(path, dry_run=True, now=NOW),
                 marks=pytest.mark.slow),
    (["report"], lambda path: crm_sheets.report(path, now=NOW)),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
@pytest.mark.slow
def test_a_commands_json_is_exactly_the_library_result(twins, args, call):
    cli_path, lib_path = twins
    result = CliRunner().invoke(cli, [args[0], str(cli_path), *args[1:], "--json", "--now", NOW.isoformat()])
    assert result.exit_code in (0, 1), result.output
    printed = json.loads(result.stdout)
    printed.pop("path"), printed.pop("backup")
    assert printed == as_json(call(lib_path))


@pytest.mark.slow
def test_report_returns_the_figures_its_sheets_show(twins):
    done = crm_sheets.report(twins[0], now=NOW)
    [job] = done.results
    assert done.written and done.pdf is None
    assert done.figures["dashboard"]["won_revenue"] == job.stats["won_revenue"]
    assert done.as_dict()["figures"] is done.figures


@pytest.mark.slow  # a whole run on the schedule
def test_run_applies_checks_safe_fixes_for_the_command_the_schedule_and_a_script_alike(built, tmp_path):
    by_script = crm_sheets.run(shutil.copy(built, tmp_path / "a.xlsx"), ["check"], now=NOW)
    by_command = CliRunner().invoke(cli, ["run", str(shutil.copy(built, tmp_path / "b.xlsx")), "--job", "check",
                                          "--json", "--now", NOW.isoformat()])
    fixed = by_script.results[0].stats["fixed"]
    assert fixed > 0 and json.loads(by_command.stdout)["results"][0]["stats"]["fixed"] == fixed
    scheduled = tmp_path / "c.xlsx"
    shutil.copy(built, scheduled)
    scheduler = make_scheduler(scheduled, every="1h")  # the schedule's own run, not a stand-in
    scheduler.start()
    assert scheduler.tick() == "ok"
    assert crm_sheets.check(scheduled, dry_run=True, now=NOW).results[0].stats["fixable"] == 0
    alone = crm_sheets.check(shutil.copy(built, tmp_path / "d.xlsx"), now=NOW).results[0]
    assert "fixed" not in alone.stats and alone.changes.updates == []  # check alone lists, fixes nothing


@pytest.mark.slow
def test_a_dry_run_reaches_every_job_that_takes_one_and_writes_nothing(built, tmp_path, on_backend):
    path = on_backend(shutil.copy(built, tmp_path / "crm.xlsx"))
    before = content_version(path)
    done = crm_sheets.run(path, dry_run=True, now=NOW)
    stats = {r.job: r.stats for r in done.results}
    assert stats["automate"]["dry_run"] is True and stats["dedupe"]["merged"] > 0  # what a real run would merge
    assert not done.written and content_version(path) == before


def test_open_workbook_gives_the_typed_tables(built):
    tables = crm_sheets.open_workbook(built)
    leads = tables["leads"].df
    assert len(leads) == 200 and leads.index[0].startswith("L-") and str(leads["created"].dtype).startswith("datetime64")


@pytest.mark.slow  # builds a workbook of its own
def test_the_old_keyword_sample_leads_still_builds_sample_data(tmp_path):
    path = crm_sheets.new_workbook(tmp_path / "crm.xlsx", sample_leads=50, now=NOW)
    assert len(api.open_workbook(path)["leads"].df) == 50


def test_an_unknown_name_is_an_attribute_error_not_a_silent_none():
    with pytest.raises(AttributeError):
        crm_sheets.no_such_function  # noqa: B018
