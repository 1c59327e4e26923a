"""LibreOffice Calc's Refresh: installs the crm_sheets Python macro (libreoffice_macro.py) into the user's
LibreOffice profile, and is what that macro runs: `python -m crm_sheets.libreoffice refresh|check|dedupe PATH`,
the jobs on the workbook's file (trigger "button" in the Runs sheet), with a text for its message box.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from crm_sheets.errors import CrmSheetsError, UsageError

MACRO_FILE = "crm_sheets.py"
FOLDER_ENV = "CRM_SHEETS_LIBREOFFICE_MACROS"  # where to install instead of the profile (tests, portable installs)
JOBS = {"refresh": None, "check": ["check"], "dedupe": ["dedupe"]}  # as the Excel buttons (builder/vba.py)


@dataclass(frozen=True)
class MacroReport:
    path: str  # the installed macro file
    interpreter: str
    pythonpath: str

    def as_dict(self) -> dict:
        return {"path": self.path, "interpreter": self.interpreter, "pythonpath": self.pythonpath,
                "run": "Tools > Macros > Run Macro... > My Macros > crm_sheets > refresh"}


def macro_folder(folder: str | Path | None = None) -> Path:
    """Where LibreOffice looks for the user's Python macros ("My Macros"): the Scripts/python folder of
    the default user profile, per platform; ``folder`` or $CRM_SHEETS_LIBREOFFICE_MACROS instead."""
    chosen = folder or os.environ.get(FOLDER_ENV)
    if chosen:
        return Path(chosen).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming") / "LibreOffice"
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support" / "LibreOffice"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "libreoffice"
    return base / "4" / "user" / "Scripts" / "python"  # "4": the profile version of every LibreOffice since 4.0


def macro_source(interpreter: str, pythonpath: str) -> str:
    """The macro file for this machine: the template with the interpreter and PYTHONPATH filled in."""
    template = (Path(__file__).parent / "libreoffice_macro.py").read_text(encoding="utf-8")
    filled = template.replace("INTERPRETER = None", f"INTERPRETER = {interpreter!r}", 1)
    return filled.replace("PYTHONPATH = None", f"PYTHONPATH = {pythonpath!r}", 1)


def install_macro(folder: str | Path | None = None) -> MacroReport:
    """Write crm_sheets.py into the macro folder, pointing at this Python; again replaces it (a new venv)."""
    import crm_sheets

    target_dir = macro_folder(folder)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the LibreOffice macro folder {target_dir}: {exc.strerror}",
                         hint=f"give another with --macro-folder or ${FOLDER_ENV}") from None
    interpreter = sys.executable
    pythonpath = str(Path(crm_sheets.__file__).resolve().parent.parent)
    target = target_dir / MACRO_FILE
    tmp = target.with_name(f".{MACRO_FILE}.tmp")
    tmp.write_text(macro_source(interpreter, pythonpath), encoding="utf-8")
    os.replace(tmp, target)
    return MacroReport(path=str(target), interpreter=interpreter, pythonpath=pythonpath)


def press(job: str, path: str | Path) -> tuple[int, str]:
    """What the macro's button does once the workbook is closed: (exit code, text for the message box)."""
    from crm_sheets.excel import summary_text
    from crm_sheets.runlog import run_logged

    if job not in JOBS:
        return 2, f"crm-sheets: the macro asks for job {job!r}; jobs are {', '.join(JOBS)}"
    try:
        report = run_logged(path, JOBS[job], trigger="button")
    except CrmSheetsError as exc:
        return exc.exit_code, f"crm-sheets could not run: {exc}"
    text = summary_text(report, saved="Saved; the workbook was reopened with the changes." if report.written else "")
    return (1 if report.errors else 0), text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m crm_sheets.libreoffice refresh|check|dedupe PATH", file=sys.stderr)
        return 2
    code, text = press(argv[0], argv[1])
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
