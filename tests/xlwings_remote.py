"""A workbook file as a book of xlwings' own remote engine (xw.Book(json=...), the payload its clients send),
for tests that drive the live store through the real xlwings object model. The remote engine needs a license
key; the `noncommercial` one is set for tests only (users' Excel runs the desktop engine, which needs none).
It reads from the payload and records writes as actions for the client, so it checks reads and the calls made,
not their effect (tests/xlwings_fake.py plays Excel for that)."""
from __future__ import annotations

import datetime as dt
import os
import re

_LOOKS_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def remote_book(path, monkeypatch):
    monkeypatch.setenv("XLWINGS_LICENSE_KEY", "noncommercial")
    import importlib
    import sys

    for name in [m for m in sys.modules if m == "xlwings" or m.startswith("xlwings.")]:
        del sys.modules[name]  # the engines are registered at import, once the key is known
    xw = importlib.import_module("xlwings")
    import openpyxl
    from python_calamine import CalamineWorkbook

    values = CalamineWorkbook.from_path(str(path))
    wb = openpyxl.load_workbook(path)
    sheets = []
    for ws in wb.worksheets:
        rows = values.get_sheet_by_name(ws.title).to_python(skip_empty_area=False)
        width = max((len(r) for r in rows), default=0)
        grid = [[_json(v) for v in r] + [""] * (width - len(r)) for r in rows] or [[""]]
        tables = []
        for t in ws.tables.values():
            tables.append({"name": t.name, "range_address": t.ref, "header_row_range_address": t.ref.split(":")[0],
                           "data_body_range_address": None, "total_row_range_address": None,
                           "show_headers": True, "show_totals": False, "table_style": "TableStyleMedium2",
                           "show_autofilter": True})
        sheets.append({"name": ws.title, "values": grid, "pictures": [], "tables": tables,
                       "visibility": "Visible" if ws.sheet_state == "visible" else "Hidden"})
    payload = {"client": "VBA", "version": xw.__version__,
               "book": {"name": os.path.basename(str(path)), "active_sheet_index": 0, "selection": "A1",
                        "calculation": "Automatic"},
               "names": [], "sheets": sheets}
    return xw, xw.Book(json=payload)


def _json(v):
    if isinstance(v, str) and _LOOKS_DATETIME.match(v):
        # The engine reads any text of this shape as a datetime (how its clients send dates) and fails on
        # those without milliseconds: sent as a datetime, as a client would send such a cell.
        try:
            v = dt.datetime.fromisoformat(v.rstrip("Z"))
        except ValueError:
            return v
    if isinstance(v, dt.datetime):
        return v.isoformat(timespec="milliseconds") + "Z"
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day).isoformat(timespec="milliseconds") + "Z"
    if isinstance(v, dt.time):
        return v.isoformat()
    return v
