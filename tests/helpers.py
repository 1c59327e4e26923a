"""Shared test helpers: the workbook as a spreadsheet program sees it, read with python-calamine (never
with our own reader, so a test of the writer does not trust the code it tests), and copies of built
workbooks. Fixtures live in conftest.py; import these with `from helpers import grid, cell, records`.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
from pathlib import Path

from python_calamine import CalamineWorkbook


def calamine(path, *, tables: bool = False) -> CalamineWorkbook:
    """The workbook opened by python-calamine; ``tables`` also loads its Excel tables (ListObjects)."""
    return CalamineWorkbook.from_path(str(path), load_tables=tables)


def is_sheet(spec) -> bool:
    """Whether ``spec`` names a Google Sheet (``gsheets://ID``) rather than a workbook file."""
    return str(spec).startswith("gsheets:")


def as_file(spec) -> Path:
    """The workbook file itself, or a Google Sheet pulled into a new .xlsx file (what a person who downloads
    it gets), so that a test reads both backends the same way."""
    if not is_sheet(spec):
        return Path(spec)
    import tempfile

    import requests

    from crm_sheets.store.gsheets import parse_spec
    from crm_sheets.store.gsheets.client import ENV_ENDPOINT, connect
    from crm_sheets.store.gsheets.pull import pull

    sid = parse_spec(str(spec))
    # Pulled again only when the spreadsheet changed (the emulator's Drive modifiedTime, not an API call counted)
    version = requests.get(f"{os.environ[ENV_ENDPOINT]}/drive/v3/files/{sid}", timeout=30).json().get("modifiedTime")
    if _PULLED.get(sid, (None, None))[0] == version and _PULLED[sid][1].exists():
        return _PULLED[sid][1]
    folder = Path(tempfile.mkdtemp(prefix="pulled-"))
    path = pull(connect(), sid, folder / "pulled.xlsx").path
    _PULLED[sid] = (version, path)
    return path


_PULLED: dict[str, tuple] = {}


def content_version(spec):
    """What changes when a workbook is written: a file's bytes, a Google Sheet's last modification time."""
    if not is_sheet(spec):
        return Path(spec).read_bytes()
    import requests

    from crm_sheets.store.gsheets import parse_spec
    from crm_sheets.store.gsheets.client import ENV_ENDPOINT

    got = requests.get(f"{os.environ[ENV_ENDPOINT]}/drive/v3/files/{parse_spec(str(spec))}", timeout=30)
    return got.json()["modifiedTime"]


def worksheet(spec, title: str):
    """A gspread Worksheet of a Google Sheet on the emulator: what a person edits in the browser."""
    from crm_sheets.gsheets_emulator import emulator_client
    from crm_sheets.store.gsheets import parse_spec
    from crm_sheets.store.gsheets.client import ENV_ENDPOINT

    return emulator_client(os.environ[ENV_ENDPOINT]).open_by_key(parse_spec(str(spec))).worksheet(title)  # spreadsheet ID -> (its modifiedTime, the file it was pulled into)


def grid(path, sheet: str, *, whole: bool = False) -> list[list]:
    """A sheet's rows of values. ``whole`` keeps the empty rows and columns at the top left, so that
    ``grid(...)[row - 1][col - 1]`` is the cell at (row, col). Read again only when the file changed.
    A Google Sheet (``gsheets://ID``) is pulled into a file first."""
    path = as_file(path)
    st = os.stat(path)
    return _grid(str(path), (st.st_ino, st.st_mtime_ns, st.st_size), sheet, whole)


@functools.lru_cache(maxsize=32)
def _grid(path: str, _version: tuple, sheet: str, whole: bool) -> list[list]:
    return calamine(path).get_sheet_by_name(sheet).to_python(skip_empty_area=not whole)


def grids(path) -> dict[str, list[list]]:
    """Every sheet's rows, whole (see ``grid``), by sheet name."""
    path = as_file(path)
    return {name: grid(path, name, whole=True) for name in calamine(path).sheet_names}


def cell(path, address: str, sheet: str | None = None):
    """The value at an A1 address: ``Leads!F12``, ``'Campaign Members'!C3``, or ``F12`` with ``sheet``;
    None past the end of the sheet's data."""
    m = re.fullmatch(r"(?:(?:'((?:[^']|'')+)'|([^!]+))!)?([A-Z]+)(\d+)", address)
    assert m, address
    sheet = (m.group(1) or "").replace("''", "'") or m.group(2) or sheet
    assert sheet, f"{address}: say which sheet"
    col = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(m.group(3)))) - 1
    rows = grid(path, sheet, whole=True)
    row = int(m.group(4)) - 1
    return rows[row][col] if row < len(rows) and col < len(rows[row]) else None


def nonempty_cells(path, sheet: str) -> dict[tuple[int, int], object]:
    """Every non-empty cell of a sheet: (row, column) 1-based -> value."""
    rows = grid(path, sheet, whole=True)
    return {(i, j): v for i, row in enumerate(rows, 1) for j, v in enumerate(row, 1) if v not in ("", None)}


def records(path, sheet: str) -> list[dict]:
    """The rows of a table sheet as {header: value}, down to the first row without a first cell."""
    rows = grid(path, sheet)
    header = [str(h) for h in rows[0]]
    out = []
    for row in rows[1:]:
        if row[0] in ("", None):
            break
        out.append(dict(zip(header, row)))
    return out


def fresh_copy(built, tmp_path, name: str = "crm.xlsx") -> Path:
    """A copy of a workbook built once for many tests, for one test to change."""
    return Path(shutil.copy(built, Path(tmp_path) / name))


def literal_table(schema, name: str, rows: list[dict]):
    """A Table of the schema's table ``name`` from literal rows (dicts with an ``id`` for tables with IDs;
    rule, archive and log tables are keyed row2, row3... as the reader keys them), at sheet rows 2, 3..."""
    from crm_sheets.model import Table
    from crm_sheets.model.tables import empty_frame

    ts = schema.tables[name]
    ids = [r["id"] for r in rows] if ts.id_prefix else [f"row{i + 2}" for i in range(len(rows))]
    df = empty_frame(ts, ids)
    for rid, r in zip(ids, rows):
        for k, v in r.items():
            if k != "id":
                df.loc[rid, k] = v
    return Table(ts, df, sheet=ts.sheet_name(), rows={rid: i + 2 for i, rid in enumerate(ids)}, next_id=len(rows) + 1)
