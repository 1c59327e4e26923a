"""What one automate run shares: a working copy of the tables, the clock, and what the run produces.

Every part (scoring, assignment, workflows, sequences, reminders) appends to the same change set,
findings and effects through this object, so appended rows get fresh IDs, every email or chat note is
logged as an Activity, and nothing fires twice (the `fired` keys live in the state between runs).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from datetime import datetime
from typing import Any

import pandas as pd

from crm_sheets.jobs.automate.rules import BadRule, bad_rule
from crm_sheets.jobs.automate.templates import Cells, cell
from crm_sheets.model import AuditEntry, ChangeSet, Effect, Finding, RowAppend, Tables
from crm_sheets.model.changeset import CellUpdate
from crm_sheets.model.lazy import lazily

# Which Activities column links an activity to a record of each table.
ACTIVITY_LINK = {"leads": "lead", "contacts": "contact", "deals": "deal", "accounts": "account"}


def working_copy(tables: Tables) -> Tables:
    """A copy the run may change freely: the caller's tables stay as they were read. A frame's columns are copied
    only when the run writes to them (pandas' copy on write): a deep copy of every table was ~60 MB of the peak at
    100k leads, for the few columns automate writes."""
    copies = {name: lazily(t, lambda t: replace(t, df=t.df.copy(deep=False), invalid=dict(t.invalid)))  # an unread
              for name, t in tables.tables.items()}  # Audit Log is copied when read
    return replace(tables, tables=copies, settings=dict(tables.settings))


def _fits(dtype: Any, value: Any) -> bool:
    """``value`` goes into a column of ``dtype`` as it is, the column keeping its dtype."""
    if value is None:
        return True
    if dtype == object:
        return isinstance(value, str)
    if isinstance(value, bool):
        return str(dtype) == "boolean"
    kind = str(dtype)
    if kind.startswith("datetime64"):
        return isinstance(value, (pd.Timestamp, datetime)) and getattr(value, "tzinfo", None) is None
    if kind == "Int64":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return kind == "float64" and isinstance(value, (int, float))


@dataclass
class Run:
    tables: Tables  # the working copy: each part sees the changes of the parts before it
    now: datetime
    state: dict[str, Any]
    changes: ChangeSet = field(default_factory=ChangeSet)
    findings: list[Finding] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    fired: dict[str, str] = field(default_factory=dict)  # idempotency key -> ISO date it fired
    stats: dict[str, int] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict, repr=False)  # per-run indexes parts build once
    _appended: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict, repr=False)  # rows not yet flushed

    @property
    def lang(self) -> str:
        return self.tables.lang or "en"

    @cached_property
    def today(self) -> pd.Timestamp:  # asked per task, email and fired key; ``now`` never moves within a run
        return pd.Timestamp(self.now).normalize()

    def count(self, stat: str, n: int = 1) -> None:
        self.stats[stat] = self.stats.get(stat, 0) + n

    def bad(self, table_name: str, rid: str, exc: BadRule) -> None:
        self.findings.append(bad_rule(self.tables[table_name], rid, exc, self.lang))
        self.count("bad_rules")

    def has_fired(self, key: str) -> bool:
        return key in self.fired

    def mark(self, key: str) -> None:
        self.fired[key] = self.today.date().isoformat()

    # -- changes -------------------------------------------------------------------------------

    def set(self, table: str, rid: str, field_name: str, value: Any, reason: str, audit: bool = True) -> None:
        """Update one cell, in the working copy too, with an audit entry (owned score columns skip it)."""
        if table in self._appended:
            self.flush(table)
        t = self.tables[table]
        before = cell(t.df, rid, field_name) if field_name in t.df.columns else None
        self.changes.updates.append(CellUpdate(table, rid, field_name, value, before=before, reason=reason))
        if audit:
            self.changes.audit.append(AuditEntry("automate", table, rid, field_name, before, value, reason))
        if field_name in t.df.columns and t.df.index.is_unique and rid in t.df.index and _fits(t.df[field_name].dtype, value):
            t.df.at[rid, field_name] = value  # what apply_to does, without copying the column (owners of 100k leads)
        else:
            ChangeSet(updates=[self.changes.updates[-1]]).apply_to(self.tables)

    def append(self, table: str, values: dict[str, Any]) -> str:
        """Append a row with a fresh ID (the sequence only moves forward) and return the ID.

        The row reaches the working copy at the next flush(): one concat per table and batch instead
        of one per row, which grew quadratically (3,000 tasks at 10k leads took 17 s)."""
        t = self.tables[table]
        rid = t.allocate_id()
        self.changes.appends.append(RowAppend(table, rid, values))
        self.changes.sequences[table] = t.next_id
        self._appended.setdefault(table, []).append((rid, values))
        return rid

    def flush(self, *tables: str) -> None:
        """Bring rows appended since the last flush into the working copy (of ``tables``, default all),
        typed as the runner will type them, so dates stay dates for the parts that read them next."""
        batch = ChangeSet()
        for name in tables or list(self._appended):
            batch.appends.extend(RowAppend(name, rid, values) for rid, values in self._appended.pop(name, ()))
        if batch.appends:
            batch.apply_to(self.tables)

    def log_activity(self, table: str | None, rid: str | None, kind: str, subject: str, summary: str, owner: Any = None) -> None:
        """Every email and chat note automate sends is on the record's timeline (interaction history)."""
        if "activities" not in self.tables:
            return
        values: dict[str, Any] = {
            "date": pd.Timestamp(self.now).to_pydatetime(),
            "type": kind,
            "channel": "email" if kind == "email" else "chat",
            "direction": "outbound" if kind == "email" else None,
            "subject": subject[:250],
            "summary": summary[:1000],
            "owner": owner or None,
        }
        link = ACTIVITY_LINK.get(table or "")
        if link and rid:
            values[link] = rid
            if table == "deals":  # the deal's contact and account see it on their timeline too
                deal = Cells(self.tables["deals"].df, rid)
                for f in ("contact", "account"):
                    v = deal.get(f)
                    if isinstance(v, str) and v.strip():
                        values[f] = v
        self.append("activities", values)
        self.count("activities_logged")

    def emit(self, effect: Effect) -> None:
        self.effects.append(effect)
        self.count(f"{effect.kind}s")
