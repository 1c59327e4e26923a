"""Where a workbook's tables sit, as `upgrade` needs it to place new columns and tables: plain data every
backend gives (Store.layout); the xlsx backend reads it from the package (store/xlsx/structure.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class TableLayout:
    """One table on its sheet (1-based rows, 0-based column indexes)."""

    sheet: str
    header_row: int
    first_col: int
    last_col: int  # last column of the Excel table (or of the header row when there is no Excel table)
    end_row: int  # last row of the table's range
    excel_table: bool  # the range is a named table (an Excel ListObject)
    used_columns: frozenset[int]  # columns right of the table that hold a value in any row
    validation_end: int | None  # last row the validations of the table's columns reach


@dataclass(frozen=True)
class WorkbookLayout:
    sheets: tuple[str, ...]
    names: frozenset[str]  # workbook-level defined names
    tables: Mapping[str, TableLayout]
