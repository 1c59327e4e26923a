"""Library entry points behind ``crm-sheets new gsheets://ID``, ``push`` and ``pull``: a CRM copied between a
workbook file and a Google spreadsheet."""
from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from crm_sheets.store.gsheets.client import Connection, connect
from crm_sheets.store.gsheets.pull import PullResult, pull
from crm_sheets.store.gsheets.push import PushResult, push
from crm_sheets.store.gsheets.store import parse_spec


def new_spreadsheet(spec: str, *, template: str = "sales", lang: str = "en", sample_data: int = 0, seed: int = 7,
                    force: bool = False, now: datetime | None = None, connection: Connection | None = None) -> PushResult:
    """Build a template (with sample data if asked) into an existing, empty spreadsheet: the workbook is built
    as a file in a temporary folder by the same builder as ``crm-sheets new crm.xlsx``, then pushed."""
    from crm_sheets.workbook import new_workbook

    spreadsheet_id = parse_spec(spec)
    with tempfile.TemporaryDirectory(prefix="crm-new-") as tmp:
        path = new_workbook(Path(tmp) / "crm.xlsx", template=template, lang=lang, sample_data=sample_data, seed=seed,
                            now=now)
        return push(path, connection or connect(), spreadsheet_id, replace=force)


def push_workbook(path: str | Path, spec: str, *, replace: bool = False,
                  connection: Connection | None = None) -> PushResult:
    """Copy the workbook file at ``path`` into the spreadsheet ``gsheets://ID`` (empty unless ``replace``)."""
    from crm_sheets.errors import NotAWorkbook

    path = Path(path)
    if not path.is_file():
        raise NotAWorkbook(f"{path}: no such file", hint="give the path of your CRM workbook")
    return push(path, connection or connect(), parse_spec(spec), replace=replace)


def pull_workbook(spec: str, path: str | Path, *, force: bool = False,
                  connection: Connection | None = None) -> PullResult:
    """Copy the spreadsheet ``gsheets://ID`` into a new workbook file at ``path``."""
    return pull(connection or connect(), parse_spec(spec), path, force=force)
