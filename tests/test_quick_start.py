"""The command's entry point answers a settled `crm-sheets run` before loading the command line (quick.py): it
prints what the command line prints, byte for byte, with the same exit code; any other command, and any argument
it does not read exactly as the command line does, goes to the command line untouched."""
import json
import os
import subprocess
import sys
import time
from datetime import datetime

import pytest
from click.testing import CliRunner

from crm_sheets import quick, settled
from crm_sheets.cli import cli
from crm_sheets.store.safety import WriterLock
from helpers import fresh_copy

FIRST = "2026-11-02T09:00"


def test_only_arguments_read_as_the_command_line_reads_them_are_answered_here():
    at = datetime(2026, 11, 2, 9, 15)
    assert quick._parse(["run", "b.xlsx", "--json", "--now", "2026-11-02T09:15"]) == ("b.xlsx", [], True, True, at)
    assert quick._parse(["run", "--now=2026-11-02T09:15", "--no-fix", "--job", "check", "--job=report", "b.xlsx"]) \
        == ("b.xlsx", ["check", "report"], False, False, at)
    for args in (["run", "b.xlsx", "--dry-run"], ["run", "b.xlsx", "--help"], ["run"], ["check", "b.xlsx"],
                 ["run", "a.xlsx", "b.xlsx"], ["run", "b.xlsx", "--now", "yesterday"], ["run", "b.xlsx", "--job"],
                 ["run", "--", "b.xlsx"], ["run", "b.xlsx", "--jsn"], ["--version"]):
        assert quick._parse(args) is None, args


def entry(path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "crm_sheets", "run", str(path), *args], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.mark.slow
def test_the_entry_point_prints_the_settled_answer_as_the_command_line_does(built_book, tmp_path):
    book = fresh_copy(built_book(sample_data=200), tmp_path)
    first = entry(book, "--json", "--now", FIRST)  # the full path through the command line, which records
    assert first.returncode in (0, 1), first.stderr
    assert "settled" not in json.loads(first.stdout)
    short = entry(book, "--json", "--now", "2026-11-02T09:15")
    assert json.loads(short.stdout)["settled"]["since"] == "2026-11-02T09:00:00"
    expected = CliRunner().invoke(cli, ["run", str(book), "--json", "--now", "2026-11-02T09:15"], env={"COLUMNS": "200"})
    assert short.stdout == expected.output and short.returncode == expected.exit_code == first.returncode
    text = entry(book, "--now", "2026-11-02T09:20")
    assert "Nothing changed since the run of 2026-11-02 09:00" in text.stdout and text.returncode == first.returncode
    # a dry run and another day take the full path, as before
    dry = entry(book, "--json", "--dry-run", "--now", "2026-11-02T09:25")
    assert dry.returncode == first.returncode and "settled" not in json.loads(dry.stdout)
    later = entry(book, "--json", "--now", "2026-11-03T09:00")
    assert later.returncode in (0, 1) and "settled" not in json.loads(later.stdout)


@pytest.mark.slow
def test_a_busy_workbook_is_reported_once_as_the_command_line_reports_it(built_book, tmp_path):
    book = fresh_copy(built_book(sample_data=100), tmp_path)
    assert entry(book, "--json", "--now", FIRST).returncode in (0, 1)
    assert settled.record_path(book).exists()
    with WriterLock(book, timeout=0):
        env = {**os.environ, "CRM_SHEETS_LOCK_TIMEOUT": "0.2"}
        busy = subprocess.run([sys.executable, "-m", "crm_sheets", "run", str(book), "--now", "2026-11-02T09:15"],
                              capture_output=True, text=True, env=env, timeout=300)
    assert busy.returncode == 3 and busy.stderr.count("error:") == 1, busy.stderr


def test_the_code_fingerprint_moves_when_a_file_is_rewritten_even_with_its_size_and_mtime_kept(tmp_path, monkeypatch):
    import crm_sheets

    package = tmp_path / "crm_sheets"
    (package / "jobs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    rule = package / "jobs" / "rule.py"
    rule.write_text("LIMIT = 1\n")
    (tmp_path / "workbook_templates").mkdir()
    (tmp_path / "workbook_templates" / "sales.yaml").write_text("a: 1\n")
    monkeypatch.setattr(crm_sheets, "__file__", str(package / "__init__.py"))

    def fingerprint() -> str:
        monkeypatch.setattr(settled, "_code", None)
        return settled.code_fingerprint()

    before = fingerprint()
    assert fingerprint() == before, "the same files give the same fingerprint"
    st = rule.stat()
    time.sleep(0.05)  # past the file system's clock tick (a change within one tick keeps its times)
    rule.write_text("LIMIT = 2\n")  # same size
    os.utime(rule, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the mtime set back, as a copy that keeps times does
    assert fingerprint() != before
    changed = fingerprint()
    time.sleep(0.05)
    (tmp_path / "workbook_templates" / "sales.yaml").write_text("a: 2\n")
    assert fingerprint() != changed, "a template counts too"


@pytest.mark.slow
def test_a_profiled_command_still_writes_its_profile(tmp_path):
    """The command ends without tearing its heap down, but not under a profiler: its report comes after."""
    out = tmp_path / "run.prof"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "crm_sheets", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout
    assert out.stat().st_size > 0
