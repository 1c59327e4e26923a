"""The store core: what every backend shares. Grids of cell values into typed Tables (read.py, over the
GridSource protocol of grid.py); backends (store/xlsx.py, Google Sheets, live Excel) only move grids and cell
operations to and from their medium.
"""
from crm_sheets.store.core.grid import GridSource, MemoryGrids
from crm_sheets.store.core.read import read_tables

__all__ = ["GridSource", "MemoryGrids", "read_tables"]
