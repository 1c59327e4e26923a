"""LibreOffice Calc's Refresh: the crm_sheets macro installed by `crm-sheets add-buttons --libreoffice`, and
the run it starts in crm-sheets' own Python. The slow test presses it in a real headless LibreOffice."""
from __future__ import annotations

import json
import os
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.libreoffice import install_macro, macro_folder, press
from crm_sheets.runlog import RunHistory
from helpers import fresh_copy

DRIVER = Path(__file__).with_name("_libreoffice_driver.py")


@pytest.fixture
def sample_book(built_book, tmp_path):
    """What `crm-sheets new crm.xlsx --sample-data 50` makes, built once per session; each test changes its copy."""
    return fresh_copy(built_book(sample_data=50), tmp_path)


@pytest.mark.parametrize("platform, env, expected", [
    ("linux", {"HOME": "/home/ana"}, "/home/ana/.config/libreoffice/4/user/Scripts/python"),
    ("linux", {"HOME": "/home/ana", "XDG_CONFIG_HOME": "/cfg"}, "/cfg/libreoffice/4/user/Scripts/python"),
    ("darwin", {"HOME": "/Users/ana"}, "/Users/ana/Library/Application Support/LibreOffice/4/user/Scripts/python"),
    ("win32", {"HOME": "/h", "APPDATA": "/AppData/Roaming"}, "/AppData/Roaming/LibreOffice/4/user/Scripts/python"),
])
def test_the_macro_goes_where_libreoffice_lists_my_macros_on_each_platform(monkeypatch, platform, env, expected):
    for name in ("XDG_CONFIG_HOME", "APPDATA", "CRM_SHEETS_LIBREOFFICE_MACROS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "platform", platform)
    assert macro_folder() == Path(expected)


def test_the_macro_folder_can_be_given_by_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_SHEETS_LIBREOFFICE_MACROS", str(tmp_path / "macros"))
    assert macro_folder() == tmp_path / "macros"
    assert macro_folder(tmp_path / "flag") == tmp_path / "flag"  # the flag wins


def test_add_buttons_libreoffice_installs_a_macro_that_runs_this_python(tmp_path):
    folder = tmp_path / "Scripts" / "python"
    result = CliRunner().invoke(cli, ["add-buttons", "--libreoffice", "--macro-folder", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)["libreoffice"]
    macro = folder / "crm_sheets.py"
    assert info["path"] == str(macro) and info["interpreter"] == sys.executable
    py_compile.compile(str(macro), doraise=True)  # LibreOffice's Python compiles it as it is
    namespace: dict = {}
    exec(compile(macro.read_text(encoding="utf-8"), str(macro), "exec"), namespace)
    assert namespace["INTERPRETER"] == sys.executable
    assert (Path(namespace["PYTHONPATH"]) / "crm_sheets" / "libreoffice.py").exists()
    assert [f.__name__ for f in namespace["g_exportedScripts"]] == ["refresh", "check", "dedupe"]


def test_add_buttons_without_a_workbook_or_libreoffice_says_what_it_needs():
    result = CliRunner().invoke(cli, ["add-buttons"])
    assert result.exit_code == 2 and "--libreoffice" in result.output


@pytest.mark.slow
def test_the_macro_run_is_listed_in_the_runs_as_a_button_press(sample_book):
    code, text = press("dedupe", sample_book)
    assert code in (0, 1)
    assert "merged" in text and "reopened" in text
    last = RunHistory(sample_book).latest(1)[0]
    assert last.trigger == "button" and last.jobs == ("dedupe",)


@pytest.mark.slow
def test_the_macro_run_on_a_workbook_still_open_says_it_is_busy(sample_book):
    (sample_book.parent / f".~lock.{sample_book.name}#").write_text("Ana,ana-pc,ana,06.12.2026 08:00,\n")
    code, text = press("refresh", sample_book)
    assert code == 3 and "open" in text


def uno_python() -> str | None:
    """The system Python with python3-uno (LibreOffice's bridge is built for it, not for our venv)."""
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if candidate and subprocess.run([candidate, "-c", "import uno"], capture_output=True).returncode == 0:
            return candidate
    return None


def office_env() -> dict[str, str]:
    """This environment without our venv: LibreOffice's embedded Python takes the first python3 on PATH for
    its home, and a venv's there breaks every Python macro (as it would for a person starting LibreOffice
    from a shell with a venv active)."""
    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and venv not in Path(p).parents)
    return env


@pytest.mark.slow
def test_pressing_refresh_in_libreoffice_saves_edits_runs_the_jobs_and_reopens_the_workbook(sample_book, tmp_path):
    python = uno_python()
    assert python and shutil.which("soffice"), "LibreOffice and python3-uno are needed (scripts/system-deps.sh installs them)"
    profile = tmp_path / "profile"
    install_macro(profile / "user" / "Scripts" / "python")  # My Macros of this LibreOffice profile
    typed = [["Jörn", "Bauer", "jorn.bauer@gmx.de", "", "Evergreen Components AG"],  # a duplicate of L-00002
             ["Zoé", "Marchand", "zoe.marchand@example.org", "", "Atelier Marchand"]]  # a new lead
    done = subprocess.run([python, str(DRIVER), str(profile), str(sample_book), "refresh", json.dumps(typed)],
                          capture_output=True, text=True, timeout=600, env=office_env())
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert seen["lock_while_open"]  # LibreOffice did hold the file, as for a person
    assert seen["old_disposed"] and seen["reopened"] == 1 and seen["modified_after"] is False
    assert seen["current"] == sample_book.as_uri()  # the reopened workbook is the one in front
    assert "crm-sheets ran check, dedupe, automate, report" in seen["shown"]
    assert "reopened with the changes" in seen["shown"]
    leads, runs, merged = (seen["sheets"][name] for name in ("Leads", "Runs", "Merged"))
    header = leads[0]
    email, ident = header.index("Email"), header.index("ID")
    by_email = {}
    for row in leads[1:]:
        by_email.setdefault(row[email], []).append(row[ident])
    assert len(by_email["jorn.bauer@gmx.de"]) == 1  # the typed duplicate was merged into L-00002
    assert by_email["jorn.bauer@gmx.de"] == ["L-00002"]
    assert any("jorn.bauer@gmx.de" in cell for row in merged for cell in row)
    assert by_email["zoe.marchand@example.org"][0].startswith("L-")  # saved by the macro, given an ID by check
    columns = runs[2]
    newest = dict(zip(columns, runs[3]))
    assert newest["Trigger"] == "button" and newest["Job"] == "check, dedupe, automate, report"
