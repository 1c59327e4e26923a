"""Exports of a workbook for people who do not open it: the report sheets as a PDF (pdf.py)."""
