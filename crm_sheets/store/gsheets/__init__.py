"""The Google Sheets backend (``gsheets://SPREADSHEET_ID``, the extra crm-sheets[gsheets]): a client with our own
retries and pacing, request builders, the two-call read, the one-batch write, push and pull. Importing it
registers the gsheets:// scheme with open_store."""
from crm_sheets.store import register_scheme
from crm_sheets.store.gsheets.store import GSheetsStore, parse_spec

register_scheme("gsheets", GSheetsStore, "gsheets://SPREADSHEET_ID")

__all__ = ["GSheetsStore", "parse_spec"]
