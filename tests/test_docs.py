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
