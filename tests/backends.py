"""The same end-to-end test on both backends: a workbook file, and the Google Sheet it was pushed to on the
Sheets API emulator. A test takes ``on_backend`` and runs on what ``on_backend(path)`` gives: the path
itself, or ``gsheets://ID`` of a fresh emulated spreadsheet holding the same workbook. The helpers that read a
workbook as a spreadsheet program sees it (helpers.grid, cell, records, as_file) take either.

    def test_x(on_backend, built_book, tmp_path):
        spec = on_backend(fresh_copy(built_book(sample_data=200), tmp_path))
        run(spec, ["check"])
        assert grid(spec, "Data Issues")[0] == [...]
"""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

BACKENDS = ["xlsx", pytest.param("gsheets", marks=pytest.mark.slow)]


# What a push made of each workbook's bytes, this session: push is deterministic (a file's bytes into an empty
# spreadsheet), and most end-to-end tests push the same built workbook, which took 5-30 s a test. The first push
# of each file goes through the API as ever; later ones get a copy of the spreadsheet it made.
_PUSHED: dict[str, object] = {}


def pushed_copy(path, url: str, emulator=None, conn=None) -> str:
    """``gsheets://ID`` of a new spreadsheet on the emulator at ``url`` holding the workbook at ``path``; with the
    ``emulator`` object at hand, a file pushed before in this session is copied inside it instead of pushed again.
    ``conn``: the connection to push with (default: a new one to ``url``)."""
    from crm_sheets.store.gsheets.client import connect
    from crm_sheets.store.gsheets.push import push

    key = hashlib.sha256(Path(path).read_bytes()).hexdigest() if emulator is not None else None
    if key in _PUSHED:
        from crm_sheets.gsheets_emulator.model import new_spreadsheet_id

        book = _PUSHED[key].copy()
        book.id = new_spreadsheet_id()
        with emulator.lock:
            emulator.spreadsheets[book.id] = book
            emulator.created[book.id] = emulator.modified[book.id] = dt.datetime.now(dt.timezone.utc)
        return f"gsheets://{book.id}"
    conn = conn or connect(endpoint=url)
    sid = conn.create("CRM")
    push(path, conn, sid)
    if key is not None:
        _PUSHED[key] = emulator.book(sid).copy()
    return f"gsheets://{sid}"


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """"xlsx" or "gsheets": the backend this run of the test is on."""
    return request.param


@pytest.fixture
def on_backend(backend, request, tmp_path, monkeypatch):
    """on_backend(path) -> what to run on: the workbook file, or the spreadsheet it was pushed to (the emulator
    without a per-minute limit: a test runs many small calls, the quota has tests of its own)."""
    if backend == "xlsx":
        return lambda path: path
    emulator = request.getfixturevalue("gsheets_emulator")
    emulator.quota_per_minute = 100_000
    monkeypatch.setenv("CRM_SHEETS_GSHEETS_RPM", "100000")
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "gsheets-state"))
    return lambda path: pushed_copy(path, emulator.url, emulator)
