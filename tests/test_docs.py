"""The docs keep up with the code: every command has help text and is in the README."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_and_is_in_the_readme(name):
    command = cli.commands[name]
    assert command.help and len(command.help) > 20, f"crm-sheets {name} needs a help text"
    assert f"crm-sheets {name}" in README, f"crm-sheets {name} is missing from the README"
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_readme_gives_exactly_two_setup_commands_that_exist():
    section = README.split("## Set up", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for line in section.split("```bash", 1)[1].split("```", 1)[0].splitlines() if line.strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    root = Path(__file__).resolve().parent.parent
    for cmd in commands:
        assert (root / cmd.split()[1]).exists()
    assert "scripts/test.sh" in (root / ".ci" / "run").read_text()


@pytest.mark.slow
def test_the_readmes_library_example_runs_as_printed_in_ten_lines(tmp_path, monkeypatch, capsys):
    section = README.split("## The library", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "errors left, the first:" in printed and "records would be merged" in printed
    assert (tmp_path / "crm.xlsx").is_file()


def _design_paths() -> list[str]:
    """Paths design.md names: `store/core/read.py`, `jobs/check/`, `tests/helpers.py`, `runner.py`..."""
    import re

    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    names = re.findall(r"(?<![\w./-])((?:[a-z_][\w-]*/)*[a-z_][\w-]*\.(?:py|md|yaml|sh|toml)|(?:[a-z_][\w-]*/)+)(?![\w/])", text)
    return sorted(set(names))


ROOT = Path(__file__).resolve().parent.parent


def test_every_path_design_md_names_exists():
    """design.md is the newcomer's map: a module it names that was moved or renamed is a wrong turn."""
    places = [ROOT, ROOT / "crm_sheets", ROOT / "crm_sheets" / "store", ROOT / "crm_sheets" / "jobs", ROOT / "tests", ROOT / "docs"]
    code_files = {p.name for d in ("crm_sheets", "tests", "scripts", "benchmarks") for p in (ROOT / d).rglob("*") if p.is_file()}
    wildcard = {"jobs/myjob/", "store/mymedium/", "crm_sheets/model/fieldtypes/duration.py"}  # the examples of how to add one
    missing = []
    for name in _design_paths():
        if name in wildcard or "*" in name:
            continue
        if "/" in name:
            found = any((place / name).exists() for place in places)
        else:  # a file named in a section about its package (forms/, store/gsheets/...)
            found = any((place / name).exists() for place in places) or name in code_files
        if not found:
            missing.append(name)
    assert len(_design_paths()) > 40
    assert not missing, f"docs/design.md names paths that do not exist: {missing}"
