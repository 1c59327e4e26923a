"""Stores: where a workbook lives. `open_store(spec)` picks the backend from a path or URL.

Only this package knows file formats; jobs see Tables and return ChangeSets.
"""
from __future__ import annotations

from pathlib import Path

from crm_sheets.errors import NotAWorkbook, UsageError

SCHEMES = ("a path to a .xlsx or .xlsm file", "excel://FULLNAME (a workbook open in Excel)")


def open_store(spec: str | Path, **options):
    """Open the workbook named by ``spec``: ``crm.xlsx`` or ``crm.xlsm`` today."""
    text = str(spec)
    from crm_sheets.store.excel.store import SCHEME as EXCEL, attached_book, open_live_store

    if text.startswith("excel:") or attached_book(text) is not None:
        # The live Excel store (extra crm-sheets[excel]): the open book, for excel:// and for the path of a book
        # a button handed over (crm_sheets.excel.refresh), whose file Excel holds open.
        return open_live_store(text, **options)
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
