"""The workbook builder behind ``crm-sheets new``: a typed, validated, tidy workbook from a schema.

``build_workbook`` is the entry point; the modules beside it each own one part of the workbook.
"""
from crm_sheets.builder.build import build_workbook

__all__ = ["build_workbook"]
