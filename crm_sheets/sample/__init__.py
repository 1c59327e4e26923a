"""Deterministic sample data for every template, with the truth about the mess planted in it.

``generate(schema, leads, seed, now)`` returns `SampleData`: ``tables`` maps each data table to a
DataFrame in the jobs' view of docs/design.md (indexed by record ID, columns = the schema's fields
except ``id``, dropdowns as option keys, user fields as Team member names, references as IDs, dates
as Timestamps, money as floats, checkboxes as booleans), and ``truth`` records what was planted:
duplicate clusters, look-alikes that are different people, and cell errors.

Planted errors hold the raw value a person typed ('$1,200.50', '14/03/2025', 'Qualifed', 'ANA@GMIAL.COM'),
so a typed column holding one becomes ``object`` dtype (its other cells keep their Python/pandas
values). `SampleData.to_tables()` gives the store reader's view instead: typed columns, and raw values
the reader cannot read in ``Table.invalid``. Same seed and ``now`` -> identical output.
"""
from __future__ import annotations

import gc
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.model.schema import Schema, load_schema
from crm_sheets.model.values import read_context
from crm_sheets.sample import duplicates, frames, french, identities
from crm_sheets.sample.errors import plant_errors
from crm_sheets.sample.showcase import plant_showcase
from crm_sheets.sample.truth import PlantedError, SampleData, SampleTruth, pair

__all__ = ["DEFAULT_NOW", "PlantedError", "SampleData", "SampleTruth", "generate", "pair"]

DEFAULT_NOW = datetime(2026, 11, 2, 9, 0)
ERROR_TABLES = {"sales": ["leads", "contacts", "deals"], "services": ["leads", "contacts", "engagements", "invoices"],
                "personal": ["people"]}


def generate(schema: str | Schema = "sales", leads: int = 500, seed: int = 7, now: datetime | None = None,
             lang: str = "en") -> SampleData:
    """Sample tables for ``schema`` with about ``leads`` leads (people, for the personal template).

    ``leads`` runs from 50 to 300,000; the other tables scale with it. ``now`` defaults to a fixed
    date so that the output is reproducible; callers pass their own clock's time. ``lang`` is the
    workbook's language: countries, deal stages and free text are written in it (same records and
    planted errors in every language).
    """
    if not isinstance(schema, Schema):
        schema = load_schema(schema)
    if not 50 <= leads <= 300_000:
        raise ValueError(f"leads must be between 50 and 300,000, not {leads}")
    # The generator makes millions of short-lived objects and no reference cycles; with the cyclic
    # collector on, each collection rescans the ever larger live data (300,000 leads: 20% of the time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(schema, leads, seed, now, lang)
    finally:
        if enabled:
            gc.enable()


def _generate(schema: Schema, leads: int, seed: int, now: datetime | None, lang: str) -> SampleData:
    now_ts = pd.Timestamp(now or DEFAULT_NOW)
    rng = np.random.default_rng(seed)
    settings = {s.key: s.value for s in schema.settings}
    region = str(settings.get("default_country") or "US").upper()
    reg = identities.Registry(rng, region)
    clock = frames.Clock(rng, now_ts)
    if schema.name == "services":
        from crm_sheets.sample.services import generate_services as gen
    elif schema.name == "personal":
        from crm_sheets.sample.personal import generate_personal as gen
    else:
        from crm_sheets.sample.sales import generate_sales as gen
    cols, truth, team, extra = gen(schema, leads, rng, clock, reg)

    # Any data table or field the template generator does not know still gets typed values.
    sizes = {name: _length(c) for name, c in cols.items()}
    for ts in schema.data_tables():
        sizes.setdefault(ts.name, 0 if ts.name not in cols else sizes[ts.name])
    id_pools = {ts.name: frames.ids(ts.id_prefix, sizes[ts.name]) for ts in schema.data_tables()}
    tables: dict[str, pd.DataFrame] = {}
    for ts in schema.data_tables():
        c = dict(cols.get(ts.name, {}))
        frames.fill(schema, ts, c, sizes[ts.name], rng, clock, team, id_pools)
        tables[ts.name] = frames.frame(ts, c, sizes[ts.name])
    french.localize(schema, tables, lang)

    person_table = extra["person_table"]
    rows = cols[person_table]
    pids = id_pools[person_table]
    xref_cluster = {x: c for x, c in zip(rows["_xref"].tolist(), rows["_cluster"].tolist()) if x is not None}
    groups = [(person_table, rid, f"{p}:{s}", c) for rid, p, s, c in
              zip(pids, rows["_plan"].tolist(), rows["_nsn"].tolist(), rows["_cluster"].tolist()) if s is not None]
    other = extra.get("other_phone_keys")
    if other:
        table, keys = other
        groups += [(table, rid, k, xref_cluster.get(rid, -1)) for rid, k in zip(id_pools[table], keys) if k is not None]
    truth.distinct_pairs |= duplicates.shared_phone_pairs(groups)
    truth.distinct_pairs -= truth.duplicate_pairs

    truth.errors = [PlantedError(t, rid, f, kind, raw, True, fix) for t, rid, f, kind, raw, fix in extra["verr"]]
    spared = truth.duplicate_records() | {(t, i) for p in truth.distinct_pairs for t, i in (p[:2], p[2:])}
    truth.errors += plant_errors(rng, schema, tables, [t for t in ERROR_TABLES.get(schema.name, []) if t in tables],
                                 spared, read_context(settings), region, lang)
    if schema.name == "sales":
        truth.showcase = plant_showcase(schema, tables, truth, now_ts, lang)
    return SampleData(schema=schema, tables=tables, truth=truth, team=list(team), lang=lang)


def _length(columns: dict[str, Any]) -> int:
    for v in columns.values():
        if v is not None and not isinstance(v, (str, bytes)):
            return len(v)
    return 0
