"""The wheel is complete: built from the repository's files, installed in a fresh virtual environment, it
creates and checks a workbook with no source checkout in sight (the templates travel as package data)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "crm_sheets", "workbook_templates")


@pytest.mark.slow
def test_the_wheel_carries_the_templates_and_its_command_builds_and_checks_a_workbook(tmp_path):
    src = tmp_path / "src"  # a clean copy: the build leaves nothing in the repository
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(ROOT / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(src)],
                   check=True, timeout=600)
    wheel = next(dist.glob("crm_sheets-*.whl"))
    templates = sorted(p.name for p in (ROOT / "workbook_templates").glob("*.yaml"))
    with zipfile.ZipFile(wheel) as z:
        assert sorted(Path(n).name for n in z.namelist() if n.startswith("crm_sheets/workbook_templates/")) == templates

    # A fresh environment whose only crm_sheets is the wheel's; the dependencies come from this
    # environment's site-packages (a path entry: its .pth files, the editable install among them, are not run).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "crm_sheets_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
                   check=True, timeout=300)
    command = shutil.which("crm-sheets", path=str(python.parent))
    assert command is not None

    work = tmp_path / "work"  # not the repository: nothing can be found relative to the working directory
    work.mkdir()
    where = subprocess.run([str(python), "-c", "import crm_sheets.model.schema as s; print(s.TEMPLATES_DIR)"],
                           cwd=work, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(Path(site)), where
    new = subprocess.run([command, "new", "x.xlsx", "--sample-data", "50"], cwd=work, capture_output=True, text=True, timeout=300)
    assert new.returncode == 0, new.stderr
    assert (work / "x.xlsx").is_file()
    check = subprocess.run([command, "check", "x.xlsx"], cwd=work, capture_output=True, text=True, timeout=300)
    assert check.returncode == 1, check.stderr  # errors found: the sample data's planted problems
    assert "✗ Leads!" in check.stdout and "Saved x.xlsx" in check.stdout, check.stdout  # a planted error, named
