"""Every kind of batchUpdate request the Google Sheets store can send is declared (store/gsheets/kinds.py),
implemented by the local emulator, and valid against the Sheets v4 discovery document: the push, runs and
unmerge of a sample CRM send them, and the store's own builders make the rest (appends, inserts, merges...)."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

pytest.importorskip("gspread")

from crm_sheets.gsheets_emulator import validate_against_discovery  # noqa: E402
from crm_sheets.gsheets_emulator.discovery import load_discovery  # noqa: E402
from crm_sheets.gsheets_emulator.requests import HANDLERS, NO_OPS  # noqa: E402
from crm_sheets.store.gsheets import batch  # noqa: E402
from crm_sheets.store.gsheets.kinds import METHODS, REQUEST_KINDS, undeclared  # noqa: E402

NOW = dt.datetime(2026, 3, 2, 9, 0)
CODE = Path(__file__).resolve().parent.parent / "crm_sheets"


def kinds_in_code() -> dict[str, set[str]]:
    """Request kinds (names of the discovery document's Request fields) written as dict keys in the code that
    talks to Sheets (everything but the emulator), with the files that write them."""
    kinds = set(load_discovery().schemas["Request"]["properties"])
    found: dict[str, set[str]] = {}
    for path in CODE.rglob("*.py"):
        if "gsheets_emulator" in path.parts:
            continue
        for m in re.finditer(r"[\"']([a-z][A-Za-z]+)[\"']\s*:", path.read_text(encoding="utf-8")):
            if m.group(1) in kinds:
                found.setdefault(m.group(1), set()).add(path.name)
    return found


def test_the_code_sends_only_the_declared_request_kinds():
    assert set(kinds_in_code()) == set(REQUEST_KINDS)
    assert undeclared([{"updateCells": {}}, {"sortRange": {}}]) == ["sortRange"]


def test_the_emulator_implements_every_kind_and_method_the_store_uses():
    assert not REQUEST_KINDS - set(HANDLERS), "sent but not implemented (the emulator would answer 501)"
    assert not REQUEST_KINDS & NO_OPS
    assert METHODS <= set(load_discovery().methods)


@pytest.mark.slow
def test_every_kind_the_store_sends_is_valid_against_the_discovery_document(gsheets_emulator, built_book, tmp_path,
                                                                            monkeypatch):
    from crm_sheets.api import run, unmerge
    from crm_sheets.model.sheets import SheetSpec
    from crm_sheets.store.gsheets.client import connect
    from crm_sheets.store.gsheets.push import push
    from crm_sheets.store.gsheets.render import sheet_requests

    gsheets_emulator.quota_per_minute = 100_000
    monkeypatch.setenv("CRM_SHEETS_GSHEETS_RPM", "100000")
    monkeypatch.setenv("CRM_SHEETS_STATE_DIR", str(tmp_path / "state"))
    conn = connect(endpoint=gsheets_emulator.url)
    sid = conn.create("CRM")
    push(built_book(sample_data=50, now=NOW), conn, sid)
    done = run(f"gsheets://{sid}", now=NOW)
    run(f"gsheets://{sid}", now=NOW + dt.timedelta(days=1))
    merged = [f.record_id for f in done.findings if f.type == "duplicate-merged"]
    assert merged, "the sample has duplicates"
    unmerge(f"gsheets://{sid}", merged[0], now=NOW + dt.timedelta(days=1))
    # What a run of this sample does not need, made by the store's own builders as its code paths make them
    got = conn.get(sid, fields="sheets(properties(sheetId,title),protectedRanges(protectedRangeId)),"
                               "namedRanges(namedRangeId,name,range)")
    sheet = next(s for s in got["sheets"] if s["properties"]["title"] == "Leads")
    leads = sheet["properties"]["sheetId"]
    named = got["namedRanges"][0]
    spec = SheetSpec(key="spare", name="Spare", rows=[["Title"], ["a", "b"]], merges=["A1:B1"])
    conn.batch_update(sid, [
        batch.add_sheet("Spare", sheet_id=4242, rows=30, cols=4), *sheet_requests(spec, 4242, {}),
        batch.append_cells(leads, [["x", dt.date(2026, 1, 2)]]), batch.append_rows(leads, 3),
        batch.insert_rows(leads, 5, 1), batch.delete_protected_range(sheet["protectedRanges"][0]["protectedRangeId"]),
        {"updateNamedRange": {"namedRange": {**named, "range": {**named["range"]}}, "fields": "range"}},
    ])
    seen: set[str] = set()
    for entry in gsheets_emulator.log:
        method = entry.get("methodId", "")
        if not method.startswith("sheets."):
            continue
        assert entry["status"] == 200, entry
        assert method in METHODS
        validate_against_discovery(method, entry["body"], entry["query"])
        for request in (entry["body"] or {}).get("requests", []) if method.endswith("batchUpdate") else []:
            seen.update(request)
    assert seen == set(REQUEST_KINDS)
