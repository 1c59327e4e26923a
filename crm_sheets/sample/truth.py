"""What the sample generator returns: the tables, and the truth about what it planted in them.

Tests of check and dedupe compare their findings with `SampleTruth` (planted errors, true duplicate
pairs, pairs that look alike but are different people) instead of with hand-written expectations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd

from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Schema
from crm_sheets.model.tables import Table, Tables, dtype_for

Pair = tuple[str, str, str, str]  # (table_a, id_a, table_b, id_b), with (table_a, id_a) < (table_b, id_b)


def pair(table_a: str, id_a: str, table_b: str, id_b: str) -> Pair:
    """The canonical (sorted) form of a pair of records, as stored in the truth's sets."""
    a, b = (table_a, id_a), (table_b, id_b)
    return (*a, *b) if a <= b else (*b, *a)  # type: ignore[return-value]


def cluster_pairs(members: Iterable[tuple[str, str]]) -> set[Pair]:
    """Every pair within one cluster of (table, id) records."""
    ms = sorted(set(members))
    return {pair(*ms[i], *ms[j]) for i in range(len(ms)) for j in range(i + 1, len(ms))}


@dataclass(frozen=True)
class PlantedError:
    """One cell made wrong on purpose, as check should report it."""

    table: str
    record_id: str
    field: str
    kind: str  # a Finding type slug: invalid-email, email-typo, date-as-text, invalid-date, ...
    raw: Any  # the value now in the cell (None for a missing required value)
    fixable: bool  # check --fix can repair it without guessing
    expected_fix: Any = None  # the repaired value (option key, Timestamp, float, text), when fixable


@dataclass
class SampleTruth:
    """Everything the generator planted, by record ID."""

    duplicate_pairs: set[Pair] = field(default_factory=set)  # true duplicates: every pair within a cluster
    distinct_pairs: set[Pair] = field(default_factory=set)  # look-alikes that are different people
    errors: list[PlantedError] = field(default_factory=list)
    stale_deals: set[str] = field(default_factory=set)  # open deals (engagements) whose close date passed
    churned_accounts: set[str] = field(default_factory=set)  # customers with no order in the last 12 months
    showcase: dict[str, list[str]] = field(default_factory=dict)  # records moved to today so automations fire

    def is_duplicate(self, table_a: str, id_a: str, table_b: str, id_b: str) -> bool:
        return pair(table_a, id_a, table_b, id_b) in self.duplicate_pairs

    def errors_in(self, table: str) -> list[PlantedError]:
        return [e for e in self.errors if e.table == table]

    def error_cells(self) -> set[tuple[str, str, str]]:
        """(table, record ID, field) of every planted error."""
        return {(e.table, e.record_id, e.field) for e in self.errors}

    def duplicate_records(self) -> set[tuple[str, str]]:
        """(table, record ID) of every record that belongs to a duplicate cluster."""
        out: set[tuple[str, str]] = set()
        for ta, ia, tb, ib in self.duplicate_pairs:
            out.add((ta, ia))
            out.add((tb, ib))
        return out


@dataclass
class SampleData:
    """Sample tables in the jobs' view (docs/design.md) and the truth about them."""

    schema: Schema
    tables: dict[str, pd.DataFrame]
    truth: SampleTruth
    team: list[str] = field(default_factory=list)  # Team member names, as user fields hold them
    lang: str = "en"  # the language of the workbook the text was written for

    def to_tables(self, lang: str | None = None) -> Tables:
        """A `Tables` as the store's reader would return it: typed columns, planted raw values set aside.

        A planted value a typed column cannot hold (a date typed as text, '$1,200.50') becomes NaN/NaT
        with its raw text in ``Table.invalid``, exactly as the reader does; text columns keep the text.
        """
        from crm_sheets.model.values import parse_value, read_context

        lang = lang or self.lang
        settings = {s.key: s.value for s in self.schema.settings}
        ctx = read_context(settings)
        out: dict[str, Table] = {}
        for name, df in self.tables.items():
            ts = self.schema.tables[name]
            df = df.copy()
            invalid: dict[tuple[str, str], Any] = {}
            for f in ts.fields:
                if f.type == "id" or f.name not in df.columns:
                    continue
                want = dtype_for(f.type)
                if want == "object" or str(df[f.name].dtype) == want:
                    continue
                col = df[f.name]
                for rid in col.index[col.map(lambda v: isinstance(v, str))]:
                    raw = col.at[rid]
                    value, ok = parse_value(f, raw, ctx)
                    if ok and value is not None:
                        col.at[rid] = pd.Timestamp(value) if field_type(f.type).temporal else value
                    else:
                        invalid[(str(rid), f.name)] = raw
                        col.at[rid] = None
                df[f.name] = col.astype(want)
            rows = {rid: i + 2 for i, rid in enumerate(df.index)}
            out[name] = Table(schema=ts, df=df, sheet=ts.sheet_name(lang), rows=rows, invalid=invalid,
                              next_id=len(df) + 1)
        return Tables(schema=self.schema, tables=out, lang=lang, settings=settings, lists=dict(self.schema.lists))
