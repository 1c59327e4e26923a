"""Stores: where a workbook lives. `open_store(spec)` picks the backend from a path or URL.

Only this package knows file formats; jobs see Tables and return ChangeSets.
"""
from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any, Callable

from crm_sheets.errors import NotAWorkbook, UsageError

SCHEMES = ("a path to a .xlsx or .xlsm file",)

# scheme -> (opener(spec, **options) -> Store, what to write, e.g. "gsheets://SPREADSHEET_ID")
_OPENERS: dict[str, tuple[Callable[..., Any], str]] = {}
# Backends that register themselves when imported; a scheme is looked up here the first time it is used.
_PLUGINS = {"gsheets": "crm_sheets.store.gsheets", "excel": "crm_sheets.store.excel"}


def register_scheme(scheme: str, opener: Callable[..., Any], usage: str) -> None:
    """Make ``scheme://...`` open with ``opener(spec, **options)`` wherever a workbook path is accepted.
    A backend module calls this when imported (``crm_sheets.store.gsheets`` for ``gsheets://``)."""
    _OPENERS[scheme.lower()] = (opener, usage)


def unregister_scheme(scheme: str) -> None:
    """Forget ``scheme://`` again (a backend registered for a while, e.g. by a test)."""
    _OPENERS.pop(scheme.lower(), None)


def open_store(spec: str | Path, **options):
    """Open the workbook named by ``spec``: ``crm.xlsx``, ``crm.xlsm``, or ``scheme://...`` for a registered
    backend (register_scheme); anything else is refused with what to write instead."""
    text = str(spec)
    # Books are attached in this process only (crm_sheets.excel.refresh): without the Excel store loaded none is,
    # and the store is not loaded for a file (with xlwings' module it cost a tenth of a run's start).
    excel = sys.modules.get("crm_sheets.store.excel.store")
    if (text.startswith("excel:") and "://" not in text) or (excel is not None and excel.attached_book(text) is not None):
        # The live Excel store for the path of a book a button handed over (crm_sheets.excel.refresh: its file is
        # held open by Excel), and for an excel:// URL whose slashes a path folded (excel:/C:/crm.xlsm).
        return _opener("excel")[0](text, **options)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:/[^/]", text):  # a URL that went through pathlib.Path kept one slash
        text = text.replace(":/", "://", 1)
    bare = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):/*$", text)  # "gsheets://" with nothing after it (a path: "gsheets:")
    if bare and bare.group(1).lower() in {*_OPENERS, *_PLUGINS}:
        text = bare.group(1) + "://"
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        found = _opener(scheme)
        if found is None:
            raise UsageError(
                f"{text}: the {scheme}:// backend is not available in this version",
                hint=f"use {', '.join([*SCHEMES, *(u for _, u in _OPENERS.values())])}",
            )
        return found[0](text, **options)
    path = Path(text)
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise NotAWorkbook(f"{path}: not an Excel workbook (.xlsx or .xlsm)", hint="give the path of your CRM workbook")
    if not path.exists():
        raise NotAWorkbook(f"{path}: no such file", hint="create one with `crm-sheets new` or `crm-sheets demo`")
    from crm_sheets.store.xlsx import XlsxStore

    return XlsxStore(path, **options)


def _opener(scheme: str) -> tuple[Callable[..., Any], str] | None:
    if scheme not in _OPENERS and scheme in _PLUGINS:
        try:
            importlib.import_module(_PLUGINS[scheme])
        except ModuleNotFoundError as e:
            if e.name is None or not _PLUGINS[scheme].startswith(e.name):
                raise  # the backend is there but lacks a package: its own import says which extra to install
            return None  # not shipped in this version
    return _OPENERS.get(scheme)


def read_workbook(path: str | Path, schema=None):
    """The Tables of a workbook file, read without a store's safety layer (no change detection, no lock):
    for tests and tools that only look. Stores read through ``open_store(spec).read()``."""
    from crm_sheets.store.xlsx.grid import read_workbook as read

    return read(path, schema)
