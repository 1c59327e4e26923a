"""Stores: where a workbook lives. `open_store(spec)` picks the backend from a path or URL.

Only this package knows file formats; jobs see Tables and return ChangeSets.
"""
from __future__ import annotations

from pathlib import Path

from crm_sheets.errors import NotAWorkbook, UsageError

SCHEMES = ("a path to a .xlsx or .xlsm file", "gsheets://SPREADSHEET_ID")


def open_store(spec: str | Path, **options):
    """Open the workbook named by ``spec``: ``crm.xlsx``, ``crm.xlsm`` or ``gsheets://SPREADSHEET_ID``."""
    text = str(spec)
    if text.startswith("gsheets:/"):  # the Google Sheets backend (the extra crm-sheets[gsheets]); a Path keeps one slash
        from crm_sheets.store.gsheets import GSheetsStore

        return GSheetsStore(text, **options)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise UsageError(
            f"{text}: the {scheme}:// backend is not available in this version",
            hint=f"use {', '.join(SCHEMES)}",
        )
    path = Path(text)
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise NotAWorkbook(f"{path}: not an Excel workbook (.xlsx or .xlsm)", hint="give the path of your CRM workbook")
    if not path.exists():
        raise NotAWorkbook(f"{path}: no such file", hint="create one with `crm-sheets new` or `crm-sheets demo`")
    from crm_sheets.store.xlsx import XlsxStore

    return XlsxStore(path, **options)


def read_workbook(path: str | Path, schema=None):
    """The Tables of a workbook file, read without a store's safety layer (no change detection, no lock):
    for tests and tools that only look. Stores read through ``open_store(spec).read()``."""
    from crm_sheets.store.xlsx.grid import read_workbook as read

    return read(path, schema)
