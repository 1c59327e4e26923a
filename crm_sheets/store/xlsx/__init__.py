"""The xlsx backend: a workbook file (.xlsx, .xlsm) as a Store. store.py is the Store (safety layer around
every read and write); grid.py the GridSource the core reads; writer.py patches the zip package with a Plan
(sheet.py edits one worksheet as text, cells.py turns cell XML into values and back); package.py, styles.py,
sheetxml.py, structure.py, vml.py and extent.py own the parts of the package they are named after.
"""
from __future__ import annotations

from typing import Any

__all__ = ["XlsxStore"]


def __getattr__(name: str) -> Any:  # XlsxStore on demand: importing a part module stays light
    if name == "XlsxStore":
        from crm_sheets.store.xlsx.store import XlsxStore

        return XlsxStore
    raise AttributeError(name)
