"""The store core: what every backend shares. Grids of cell values into typed Tables (read.py, over the
GridSource protocol of grid.py); a ChangeSet into a neutral write Plan (plan.py); the neutral archive format
of archived rows (archive.py). Backends (the xlsx file, Google Sheets, live Excel) only move grids and plans
to and from their medium.
"""
from crm_sheets.store.core.archive import ArchivedCell, ArchivedRow
from crm_sheets.store.core.grid import GridSource, MemoryGrids
from crm_sheets.store.core.plan import ArchiveMove, Plan, TablePlan, archive_values, field_value, make_plan
from crm_sheets.store.core.read import read_tables

__all__ = ["ArchiveMove", "ArchivedCell", "ArchivedRow", "GridSource", "MemoryGrids", "Plan", "TablePlan",
           "archive_values", "field_value", "make_plan", "read_tables"]
