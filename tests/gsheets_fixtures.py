"""Fixtures for the Google Sheets API emulator: one server per test session, reset before each test.

    def test_x(gsheets_emulator, gsheets_client):
        sh = gsheets_client.create("CRM")          # a real gspread Client, talking to gsheets_emulator.url
        gsheets_emulator.log                       # every request, as GET /_emulator/requests gives them
"""
import pytest


@pytest.fixture(scope="session")
def _gsheets_emulator_server():
    from crm_sheets.gsheets_emulator import running_emulator

    with running_emulator(check_responses=True) as emulator:  # its answers are checked too
        yield emulator


@pytest.fixture
def gsheets_emulator(_gsheets_emulator_server, monkeypatch):
    """The running emulator (url, log, spreadsheets), empty, with the default quota of 60 per minute;
    CRM_SHEETS_GSHEETS_ENDPOINT points at it."""
    emulator = _gsheets_emulator_server
    emulator.reset()
    emulator.quota_per_minute, emulator.window_seconds, emulator.max_request_bytes = 60, 60.0, 10_485_760
    monkeypatch.setenv("CRM_SHEETS_GSHEETS_ENDPOINT", emulator.url)
    yield emulator
    emulator.reset()


@pytest.fixture
def gsheets_endpoint(gsheets_emulator):
    """The emulator's base URL, http://127.0.0.1:PORT (what CRM_SHEETS_GSHEETS_ENDPOINT is set to)."""
    return gsheets_emulator.url


@pytest.fixture
def gsheets_client(gsheets_emulator):
    """A real gspread Client whose requests go to the emulator."""
    from crm_sheets.gsheets_emulator import emulator_client

    return emulator_client(gsheets_emulator.url)
