"""Macro workbooks: `crm-sheets new crm.xlsm` and `crm-sheets add-buttons` give the Start and Dashboard sheets
Refresh, Check and Dedupe buttons whose macros exist in the VBA project (read back with oletools), whose
RunPython command imports a real function, and whose exact command line runs the jobs here."""
import importlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlwings
from click.testing import CliRunner
from oletools.olevba import VBA_Parser

from crm_sheets.buttons import add_buttons
from crm_sheets.cli import cli
from crm_sheets.runner import run
from crm_sheets.store import open_store
from crm_sheets.workbook import new_workbook

XLWINGS_BAS = Path(xlwings.__file__).parent / "xlwings.bas"


@pytest.fixture(scope="module")
def macro_book(tmp_path_factory):
    return new_workbook(tmp_path_factory.mktemp("xlsm") / "crm.xlsm")


def vba_modules(path):
    parser = VBA_Parser(str(path))
    try:
        return {Path(stream).name: code for _f, stream, _name, code in parser.extract_macros()}
    finally:
        parser.close()


def subs(code):
    return set(re.findall(r"(?m)^\s*(?:Public |Private )?Sub (\w+)\(", code))


def parts(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist()}


def buttons(path):
    """(sheet name, caption, macro) of every button, read from the sheets' VML drawings."""
    p = parts(path)
    wb = openpyxl.load_workbook(path)
    out = []
    for i, name in enumerate(wb.sheetnames):
        part = f"xl/worksheets/sheet{i + 1}.xml"
        rels = p.get(f"xl/worksheets/_rels/sheet{i + 1}.xml.rels", b"").decode()
        for target in re.findall(r'Type="[^"]*/vmlDrawing" Target="\.\./drawings/([^"]+)"', rels):
            assert re.search(rb"<legacyDrawing r:id=", p[part])
            vml = p[f"xl/drawings/{target}"].decode()
            for shape in re.findall(r"<v:shape .*?</v:shape>", vml, re.S):
                caption = re.search(r"<font[^>]*>([^<]+)</font>", shape).group(1)
                macro = re.search(r"<x:FmlaMacro>\[0\]!(\w+)</x:FmlaMacro>", shape).group(1)
                out.append((name, caption, macro))
    return out


@pytest.mark.slow
def test_the_new_xlsm_holds_xlwings_vba_and_a_crmsheets_module_with_one_sub_per_button(macro_book):
    modules = vba_modules(macro_book)
    assert {"CrmSheets", "xlwings", "ThisWorkbook"} <= set(modules)
    assert subs(modules["CrmSheets"]) == {"CrmRefresh", "CrmCheck", "CrmDedupe"}
    assert "Public Function RunPython(" in modules["xlwings"]
    assert "xlwings is distributed under a BSD 3-clause license" in modules["xlwings"]  # its notice is kept
    assert modules["xlwings"].replace("\r\n", "\n").strip() == XLWINGS_BAS.read_text(encoding="utf-8").replace("\r\n", "\n").strip()
    assert f'CRM_XLWINGS_VERSION As String = "{xlwings.__version__}"' in modules["CrmSheets"]
    assert "macroEnabled" in parts(macro_book)["[Content_Types].xml"].decode()


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_every_button_on_start_and_dashboard_calls_a_sub_whose_runpython_imports_a_real_function(macro_book):
    found = buttons(macro_book)
    assert sorted(found) == sorted((sheet, caption, "Crm" + caption) for sheet in ("Start", "Dashboard")
                                   for caption in ("Refresh", "Check", "Dedupe"))
    code = vba_modules(macro_book)["CrmSheets"]
    for _sheet, caption, macro in found:
        body = re.search(rf"Sub {macro}\(\)(.*?)End Sub", code, re.S).group(1)
        command = re.search(r'RunPython "(.*)"', body).group(1).replace('""', '"')
        m = re.fullmatch(r"import ([\w.]+); \1\.(\w+)\('(\w+)', vba='([\d.]+)'\)", command)
        assert m, command
        module, function, job, version = m.groups()
        assert callable(getattr(importlib.import_module(module), function))
        assert job == {"Refresh": "run", "Check": "check", "Dedupe": "dedupe"}[caption]
        assert version == xlwings.__version__


@pytest.mark.slow
def test_a_french_workbook_gets_its_buttons_on_accueil_and_tableau_de_bord(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsm", lang="fr")
    assert {sheet for sheet, _c, _m in buttons(path)} == {"Accueil", "Tableau de bord"}


@pytest.mark.slow
def test_add_buttons_keeps_every_other_part_byte_for_byte(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx", sample_leads=50, seed=5)
    run(path, ["report"])
    before = parts(path)
    tables_before = open_store(path).read()
    report = add_buttons(path)
    assert report.path == str(tmp_path / "crm.xlsm") and report.sheets == ["Start", "Dashboard"]
    assert parts(path) == before  # the .xlsx is left as it was
    after = parts(tmp_path / "crm.xlsm")
    changed = {name for name in before if after[name] != before[name]}
    wb = openpyxl.load_workbook(path)
    start, dash = (f"xl/worksheets/sheet{wb.sheetnames.index(n) + 1}.xml" for n in ("Start", "Dashboard"))
    assert changed <= {"[Content_Types].xml", "xl/_rels/workbook.xml.rels", "xl/workbook.xml", start, dash,
                       dash.replace("worksheets/", "worksheets/_rels/") + ".rels"}
    assert set(after) - set(before) == {"xl/vbaProject.bin", "xl/drawings/vmlDrawing1.vml", "xl/drawings/vmlDrawing2.vml",
                                        start.replace("worksheets/", "worksheets/_rels/") + ".rels"}
    for part in (start, dash):  # the sheets differ by the reference to their buttons only
        assert re.sub(rb'<legacyDrawing r:id="\w+"/>', b"", after[part]) == before[part]
    tables_after = open_store(tmp_path / "crm.xlsm").read()
    for name, t in tables_before.tables.items():
        assert t.df.equals(tables_after[name].df), name
    again = parts(add_buttons(tmp_path / "crm.xlsm").path)  # a second time changes nothing
    assert again == after


@pytest.mark.slow
def test_the_dashboard_keeps_its_buttons_when_the_report_rewrites_it(macro_book, tmp_path):
    path = tmp_path / "crm.xlsm"
    path.write_bytes(macro_book.read_bytes())
    report = run(path, ["report"], now=None)
    assert report.written
    assert sorted(b for b in buttons(path)) == sorted(buttons(macro_book))
    assert vba_modules(path)["CrmSheets"] == vba_modules(macro_book)["CrmSheets"]


def windows_command(workbook: Path, python_command: str, pythonpath: str = "") -> str:
    """The command ExecuteWindows in xlwings.bas builds for RunPython (without cmd.exe, the log redirect
    and the --app/--hwnd of the Excel window): `python -B -c "...prepare_sys_path(...); COMMAND" --wb=...`."""
    bas = XLWINGS_BAS.read_text(encoding="utf-8")
    assert 'RunCommand = CondaCmd & PythonInterpreter & " -B -c ""import xlwings.utils;xlwings.utils.prepare_sys_path(\\""" & PYTHONPATH & "\\""); " & PythonCommand & """ "' in bas
    assert '" --wb=" & """" & ThisWorkbook.Name & """ --from_xl=1"' in bas
    paths = f"true;{workbook};{workbook};;;;{pythonpath}"  # AddExcelDir; ActiveFullName; ThisFullName; OneDrive x3; PYTHONPATH
    return (f'"{sys.executable}" -B -c "import xlwings.utils;xlwings.utils.prepare_sys_path(\\"{paths}\\"); '
            f'{python_command}" --wb="{workbook.name}" --from_xl=1')


@pytest.mark.slow
def test_the_command_line_a_button_runs_runs_the_jobs_and_logs_a_button_run(macro_book, tmp_path):
    folder = tmp_path / "renamed folder"
    folder.mkdir()
    path = folder / "our crm.xlsm"  # renamed and moved: the button finds it by its name at each click
    path.write_bytes(macro_book.read_bytes())
    code = vba_modules(path)["CrmSheets"]
    command = re.search(r'Sub CrmCheck\(\).*?RunPython "(.*?)"\r?\n', code, re.S).group(1).replace('""', '"')
    done = subprocess.run(windows_command(path, command), shell=True, capture_output=True, text=True, timeout=300,
                          cwd=Path(sys.executable).parent)  # ExecuteWindows runs from the interpreter's folder
    assert done.returncode == 0, done.stderr
    assert "crm-sheets ran check" in done.stdout
    row = [c.value for c in openpyxl.load_workbook(path)["Runs"][4]]
    assert row[2:5] == ["check", "button", "OK"]


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_buttons_made_for_another_xlwings_say_so_in_one_line(capsys, macro_book):
    from crm_sheets.excel import refresh

    with pytest.raises(SystemExit) as exit_:
        refresh("check", vba="0.0.1")
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"made with xlwings 0.0.1 but this Python has xlwings {xlwings.__version__}" in err
    assert "crm-sheets add-buttons" in err


@pytest.mark.slow
def test_configure_fills_the_xlwings_conf_sheet_for_this_machine(macro_book, tmp_path):
    path = tmp_path / "crm.xlsm"
    path.write_bytes(macro_book.read_bytes())
    result = CliRunner().invoke(cli, ["add-buttons", str(path), "--configure"])
    assert result.exit_code == 0, result.output
    conf = openpyxl.load_workbook(path)["xlwings.conf"]
    rows = {r[0]: r[1] for r in conf.iter_rows(values_only=True)}
    key = "Interpreter_Win" if sys.platform == "win32" else "Interpreter_Mac"
    assert rows[key] == sys.executable
    assert (Path(rows["PYTHONPATH"]) / "crm_sheets" / "excel.py").exists()
    assert {m for _s, _c, m in buttons(path)} == {"CrmRefresh", "CrmCheck", "CrmDedupe"}


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_add_buttons_refuses_a_workbook_open_in_excel(macro_book, tmp_path):
    path = tmp_path / "crm.xlsm"
    path.write_bytes(macro_book.read_bytes())
    (tmp_path / "~$crm.xlsm").write_bytes(b"Ana")
    result = CliRunner().invoke(cli, ["add-buttons", str(path)])
    assert result.exit_code == 3 and "open in Excel" in result.output


@pytest.mark.slow
def test_libreoffice_reads_the_vba_project_and_binds_every_button_to_its_sub(macro_book, tmp_path):
    """A second, independent reader of the compound file and the VBA: LibreOffice imports the project as
    Basic and ties each form button to a Sub of the CrmSheets module."""
    from crm_sheets.export.pdf import find_soffice

    office = find_soffice()
    assert office, "LibreOffice is needed (scripts/system-deps.sh installs it)"
    copy = tmp_path / "crm.xlsm"
    copy.write_bytes(macro_book.read_bytes())
    subprocess.run([office, "--headless", "--norestore", "--nologo", f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
                    "--convert-to", "ods", "--outdir", str(tmp_path), str(copy)], capture_output=True, timeout=600, check=True)
    with zipfile.ZipFile(tmp_path / "crm.ods") as ods:
        module = ods.read("Basic/VBAProject/CrmSheets.xml").decode("utf-8")
        content = ods.read("content.xml").decode("utf-8")
    assert {"CrmRefresh", "CrmCheck", "CrmDedupe"} <= subs(module.replace("&apos;", "'").replace("&quot;", '"'))
    bound = re.findall(r'vnd\.sun\.star\.script:VBAProject\.CrmSheets\.(\w+)\?', content)
    assert sorted(bound) == sorted(["CrmRefresh", "CrmCheck", "CrmDedupe"] * 2)  # Start and Dashboard
