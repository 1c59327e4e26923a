"""Printing report sheets to one PDF through LibreOffice headless: a copy of the workbook with every other
sheet hidden (LibreOffice does not print hidden sheets) is converted in a private temp folder and profile.
The workbook itself is never touched; page setup (landscape, fit to width) comes from the sheets.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from crm_sheets.errors import CrmSheetsError, UsageError
from crm_sheets.model.tables import Tables
from crm_sheets.store.xlsx.package import PackageWriter, open_package, refuse_dtd

DEFAULT_TIMEOUT = 600.0  # seconds; a 100k-lead workbook takes LibreOffice a while to load, hidden sheets included
# Where installers put LibreOffice when it is not on PATH (macOS app bundle, Windows default folders).
KNOWN_PLACES = (
    "/Applications/LibreOffice.app/Contents/MacOS/soffice",
    r"C:\Program Files\LibreOffice\program\soffice.exe",
    r"C:\Program Files (x86)\LibreOffice\program\soffice.exe",
)
_SHEET_TAG = re.compile(r"<(?:\w+:)?sheet\b[^>]*>")
_VIEW_TAG = re.compile(r"<(?:\w+:)?workbookView\b[^>]*>")


class LibreOfficeMissing(CrmSheetsError):
    """--pdf needs LibreOffice and none was found."""


def find_soffice() -> str | None:
    """The LibreOffice program: on PATH (soffice, libreoffice) or where its installers put it."""
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in KNOWN_PLACES if Path(p).is_file()), None)


def report_sheets(tables: Tables) -> list[str]:
    """The names of the sheets the report job owns, as they are in this workbook (people may rename them)."""
    names = []
    for key, owned in tables.schema.owned_sheets.items():
        if owned.job == "report":
            names.append(str(tables.meta.get(f"sheet.{key}") or owned.sheet_name(tables.lang)))
    return names


def export_pdf(workbook: str | os.PathLike, out: str | os.PathLike, sheets: Sequence[str], *,
               timeout: float = DEFAULT_TIMEOUT, soffice: str | None = None) -> Path:
    """Print ``sheets`` of ``workbook`` (in workbook order) to the PDF ``out`` with LibreOffice; returns ``out``."""
    workbook, out = Path(workbook), Path(out)
    office = soffice or find_soffice()
    if office is None:
        raise LibreOfficeMissing(
            "LibreOffice is needed for --pdf: install it (apt-get install libreoffice-calc-nogui / "
            "brew install --cask libreoffice) or open the workbook and print the Dashboard"
        )
    with tempfile.TemporaryDirectory(prefix="crm-sheets-pdf-") as tmp:
        folder = Path(tmp)
        copy = folder / f"{workbook.stem}{workbook.suffix.lower()}"
        print_only(workbook, copy, sheets)
        _convert(office, copy, folder, timeout)
        produced = copy.with_suffix(".pdf")
        if not produced.is_file():
            raise CrmSheetsError(f"LibreOffice wrote no PDF for {workbook.name}",
                                 hint="open the workbook in LibreOffice to see whether it loads, then run again")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), out)
    return out


def print_only(src: Path, dst: Path, sheets: Iterable[str]) -> list[str]:
    """Copy the workbook ``src`` to ``dst`` with every sheet but ``sheets`` hidden; returns the sheets kept visible.

    Only xl/workbook.xml changes: sheet states, and the active tab moved to the first printed sheet (a hidden
    active sheet is shown again by some spreadsheet programs). Other parts are copied byte for byte.
    """
    with open_package(src) as pkg:
        wanted = list(sheets)
        found = {name: pkg.sheet(name) for name in wanted}
        missing = [name for name, ref in found.items() if ref is None]
        if missing or not wanted:
            raise UsageError(
                f"{src.name} has no sheet {', '.join(repr(m) for m in missing)}" if missing else "no sheet to print",
                hint=f"its sheets are {', '.join(s.name for s in pkg.sheets)}; run the report first",
            )
        keep = {ref.name for ref in found.values() if ref is not None}
        data = pkg.read("xl/workbook.xml")
        refuse_dtd(data, "xl/workbook.xml")
        text, shown = _hide_others(data.decode("utf-8"), keep)
        with open(dst, "wb") as f:
            w = PackageWriter(f)
            for info in pkg.zip.infolist():
                if info.filename == "xl/workbook.xml":
                    w.write(info, text.encode("utf-8"))
                else:
                    w.copy_raw(pkg.zip, info)
            w.close()
    return shown


def _hide_others(workbook_xml: str, keep: set[str]) -> tuple[str, list[str]]:
    shown: list[str] = []
    first: int | None = None
    index = 0

    def patch(m: re.Match) -> str:
        nonlocal first, index
        tag = m.group()
        name = re.search(r'\bname="([^"]*)"', tag)
        name = html.unescape(name.group(1)) if name else ""
        state = re.search(r'\bstate="([^"]*)"', tag)
        tag = re.sub(r'\sstate="[^"]*"', "", tag)
        if name in keep:
            shown.append(name)
            first = index if first is None else first
        elif not (state and state.group(1) == "veryHidden"):
            end = -2 if tag.endswith("/>") else -1
            tag = tag[:end].rstrip() + ' state="hidden"' + tag[end:]
        else:
            tag = m.group()
        index += 1
        return tag

    text = _SHEET_TAG.sub(patch, workbook_xml)

    def view(m: re.Match) -> str:
        tag = re.sub(r'\s(?:activeTab|firstSheet)="[^"]*"', "", m.group())
        end = -2 if tag.endswith("/>") else -1
        return tag[:end].rstrip() + f' activeTab="{first or 0}"' + tag[end:]

    return _VIEW_TAG.sub(view, text, count=1), shown


def _convert(office: str, copy: Path, folder: Path, timeout: float) -> None:
    # A private profile: a LibreOffice the user has open (or a stale lock) cannot take the job over or block it.
    profile = (folder / "profile").as_uri()
    cmd = [office, "--headless", "--norestore", "--nologo", f"-env:UserInstallation={profile}",
           "--convert-to", "pdf", "--outdir", str(folder), str(copy)]
    posix = sys.platform != "win32"
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=posix)
    except OSError as e:
        raise LibreOfficeMissing(f"could not start LibreOffice ({office}): {e.strerror or e}",
                                 hint="reinstall LibreOffice, or open the workbook and print the Dashboard") from e
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # soffice hands the work to a child process: stop the whole group, not just the launcher.
        if posix:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.communicate()
        raise CrmSheetsError(f"LibreOffice took more than {timeout:.0f} s to print {copy.name} to PDF; it was stopped",
                             hint="try again when the computer is less busy, or open the workbook and print the Dashboard") from None
    if proc.returncode != 0:
        last = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise CrmSheetsError(f"LibreOffice failed to print {copy.name} to PDF (exit code {proc.returncode}: {last[0]})",
                             hint="open the workbook in LibreOffice to see whether it loads, then run again")
