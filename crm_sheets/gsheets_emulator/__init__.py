"""A local Google Sheets API v4 emulator: spreadsheets in memory, requests validated against the official
discovery document, per-user quota, injectable faults and a request log (python -m crm_sheets.gsheets_emulator).

How to run it, what it implements and how it differs from the real API: docs/gsheets-emulator.md.
"""
from .client import ENDPOINT_VARIABLE, EndpointSession, create_spreadsheet, emulator_client
from .discovery import validate_against_discovery
from .errors import ApiError
from . import layout_requests  # noqa: F401  (registers the layout requests with requests.handler)
from .server import Emulator, running_emulator

__all__ = ["ApiError", "ENDPOINT_VARIABLE", "Emulator", "EndpointSession", "create_spreadsheet", "emulator_client",
           "running_emulator", "validate_against_discovery"]
