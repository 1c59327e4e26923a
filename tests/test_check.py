"""The check job on small literal tables: each check, each fix, the messages, the Data Issues sheet."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from crm_sheets.jobs.check import check
from crm_sheets.model import ChangeSet, Table, Tables, load_schema
from crm_sheets.model.tables import column_letter, dtype_for, empty_frame

NOW = datetime(2025, 3, 5, 9, 0)
SCHEMA = load_schema("sales")

TEAM = [
    {"id": "TM-00001", "name": "Camille Martin", "email": "camille@example.com", "role": "sales_rep"},
    {"id": "TM-00002", "name": "Noah Johnson", "email": "noah@example.com", "role": "manager"},
]
STAGES = [
    {"stage": "Prospecting", "order": 1, "probability": 0.1, "won": False, "lost": False},
    {"stage": "Proposal", "order": 2, "probability": 0.5, "won": False, "lost": False},
    {"stage": "Closed won", "order": 3, "probability": 1.0, "won": True, "lost": False},
    {"stage": "Closed lost", "order": 4, "probability": 0.0, "won": False, "lost": True},
]
CLEAN_LEAD = {
    "first_name": "Ana", "last_name": "Silva", "email": "ana@acme.com", "phone": "+12125550100",
    "company": "Acme", "website": "www.acme.com", "country": "United States", "city": "New York",
    "industry": "software", "company_size": "51-200", "source": "referral", "status": "new",
    "owner": "Camille Martin", "consent": True, "created": pd.Timestamp("2025-01-10"), "tags": "vip, newsletter",
}


def make_table(name: str, records: list[dict], sheet: str | None = None, invalid: dict | None = None) -> Table:
    ts = SCHEMA.tables[name]
    if ts.id_prefix:
        ids = [r["id"] for r in records]
    else:
        ids = [str(i + 2) for i in range(len(records))]  # rule sheets: the sheet row stands for the ID
    df = empty_frame(ts, ids)
    for f in ts.fields:
        if f.type == "id":
            continue
        values = [r.get(f.name) for r in records]
        df[f.name] = pd.Series(values, index=df.index, dtype=dtype_for(f.type))
    return Table(
        schema=ts,
        df=df,
        sheet=sheet or ts.sheet_name("en"),
        rows={rid: i + 2 for i, rid in enumerate(ids)},
        columns={f.name: column_letter(i) for i, f in enumerate(ts.fields)},
        invalid=dict(invalid or {}),
    )


def make_tables(lang: str = "en", settings: dict | None = None, **records: list[dict]) -> Tables:
    records.setdefault("team", TEAM)
    records.setdefault("stages", STAGES)
    tables = {name: make_table(name, rows) for name, rows in records.items()}
    return Tables(SCHEMA, tables, lang=lang, settings=dict(settings or {"locale": "en-US", "default_country": "US"}))


def lead(**changes) -> dict:
    return {**CLEAN_LEAD, **changes}


def leads(*rows: dict) -> list[dict]:
    return [{"id": f"L-{i + 1:05d}", **r} for i, r in enumerate(rows)]


def only(result, type_: str):
    found = [f for f in result.findings if f.type == type_]
    assert len(found) == 1, [f.message for f in result.findings]
    return found[0]


def test_clean_rows_have_no_findings():
    result = check(make_tables(leads=leads(lead(), lead(first_name="Bruno", email="bruno@acme.com"))), now=NOW)
    assert [f.message for f in result.findings] == []
