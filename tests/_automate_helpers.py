"""Literal tables for the automate tests: the sales schema with only the rows a test gives."""
from datetime import datetime

import pandas as pd

from crm_sheets.model import Table, Tables, load_schema
from crm_sheets.model.tables import empty_frame

NOW = datetime(2026, 11, 2, 9, 0)  # a Monday
TEAM = [
    {"name": "Camille Martin", "email": "camille@brightlane.io", "capacity": 30, "away": False},
    {"name": "Hugo Bernard", "email": "hugo@brightlane.io", "capacity": 30, "away": False},
    {"name": "Noah Johnson", "email": "noah@brightlane.io", "capacity": 30, "away": False},
]
STAGES = [
    {"stage": "Prospecting", "order": 1, "probability": 0.1, "won": False, "lost": False, "stalled_after_days": 21},
    {"stage": "Proposal", "order": 3, "probability": 0.5, "won": False, "lost": False, "stalled_after_days": 30},
    {"stage": "Closed won", "order": 5, "probability": 1.0, "won": True, "lost": False},
    {"stage": "Closed lost", "order": 6, "probability": 0.0, "won": False, "lost": True},
]
TEMPLATES = [
    {"key": "welcome", "subject": "Welcome, {{ first_name }}", "body": "Hello {{ first_name }},\n\n{{ owner }} will call you about {{ company }}."},
    {"key": "proposal_sent", "subject": "Your proposal: {{ name }}", "body": "Hello {{ recipient.first_name }},\n\nHere is {{ name }}.\n\n{{ owner }}"},
    {"key": "digest", "subject": "Your week: {{ count }} tasks", "body": "Hello {{ owner }},"},
    {"key": "step1", "subject": "Step one for {{ first_name }}", "body": "One"},
    {"key": "step2", "subject": "Step two for {{ first_name }}", "body": "Two"},
]


def make_tables(lang: str = "en", settings: dict | None = None, **rows: list[dict]) -> Tables:
    """Tables as the store reads them: IDs for data tables, row<N> for rule sheets, dropdowns as keys."""
    schema = load_schema("sales")
    rows.setdefault("team", TEAM)
    rows.setdefault("stages", STAGES)
    rows.setdefault("email_templates", TEMPLATES)
    tables = {}
    for name, ts in schema.tables.items():
        if ts.kind == "settings":
            continue
        recs = rows.get(name, [])
        if ts.id_prefix:
            ids = [r.get("id") or f"{ts.id_prefix}-{i + 1:05d}" for i, r in enumerate(recs)]
        else:
            ids = [f"row{i + 2}" for i in range(len(recs))]
        df = empty_frame(ts, ids)
        for rid, rec in zip(ids, recs):
            for k, v in rec.items():
                if k != "id":
                    df.at[rid, k] = pd.Timestamp(v) if isinstance(v, datetime) else v
        numbers = [int(i.split("-")[1]) for i in ids if "-" in i]
        tables[name] = Table(ts, df, sheet=ts.sheet_name(lang), next_id=max(numbers, default=0) + 1)
    return Tables(schema, tables, lang=lang, settings=dict(settings or {}))


def lead(**kw) -> dict:
    base = {"first_name": "Ana", "last_name": "Lima", "email": "ana@example.com", "company": "Acme", "status": "new",
            "owner": "Camille Martin", "consent": True, "opted_out": False, "created": datetime(2026, 1, 5)}
    base.update(kw)
    return base


def apply(tables: Tables, result) -> None:
    """What the runner does between runs: the job's changes land in the tables."""
    result.changes.apply_to(tables)
