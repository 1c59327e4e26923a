"""The live Excel store (``excel://``, extra ``crm-sheets[excel]``): the open workbook read and written through
xlwings while Excel holds it, never the file underneath. grids.py reads sheets in one call each, write.py turns
the store core's Plan into a few range writes per sheet, store.py is the Store (lock, change check, pending).
"""
from crm_sheets.store import register_scheme
from crm_sheets.store.excel.grids import XlwingsGrids
from crm_sheets.store.excel.store import SCHEME, ExcelLiveStore, attached, attached_book, open_live_store

register_scheme("excel", open_live_store, "excel://FULLNAME (a workbook open in Excel)")

__all__ = ["SCHEME", "ExcelLiveStore", "XlwingsGrids", "attached", "attached_book", "open_live_store"]
