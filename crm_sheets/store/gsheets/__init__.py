"""The Google Sheets backend (``gsheets://SPREADSHEET_ID``, the extra crm-sheets[gsheets]): a client with our own
retries and pacing, request builders, the two-call read, the one-batch write, push and pull."""
from crm_sheets.store.gsheets.store import GSheetsStore, parse_spec

__all__ = ["GSheetsStore", "parse_spec"]
