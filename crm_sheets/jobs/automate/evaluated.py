"""Automate's memory of what its rules already looked at, so a run looks again only where values or dates moved.

Kept in the state (``evaluated``): per rule, a digest per record of what the rule read when it looked (the
columns its conditions test, and for a no-activity rule the record's last touch), the digest of the rule's row
and of what compiling it reads (lists, settings, schema, language), the period each schedule rule ran for, and
the rules whose template failed. A record whose digest, rule and window are as they were cannot fire now where it
did not fire then (and what fired then has its key): records created, changed or reached by a date fire as
before (those triggers look only at what is new already); no-activity and every-record schedule rules look only
at the records whose digest moved or (no-activity) whose quiet days ran out since the last run. A new period, a
new day for a rule with conditions (they may read today's date), a changed rule or context: that rule looks at
every record. Losing the memory only costs time (tests/test_incremental.py runs both ways).
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.jobs.automate.context import Run
from crm_sheets.jobs.automate.rules import rule_rows
from crm_sheets.model.memo import row_keys

VERSION = 2
NARROWED = ("no_activity", "schedule")  # the triggers whose records this memory narrows down


def context_digest(run: Run) -> str:
    """What compiling any rule reads besides its own row."""
    t = run.tables
    parts = (VERSION, t.lang, repr(sorted(t.settings.items(), key=str)), repr(sorted(t.lists.items())),
             repr({name: repr(x.schema) for name, x in sorted(t.tables.items())}))
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


def rule_digests(run: Run) -> dict[str, str]:
    """Automations row ID -> digest of the row as typed."""
    out = {}
    for rid, row in rule_rows(run.tables.get("automations")):
        out[rid] = hashlib.sha256(repr(sorted(row.items(), key=str)).encode("utf-8", "surrogatepass")).hexdigest()
    return out


def _pack(a: np.ndarray) -> str:
    return base64.b64encode(np.sort(a.astype(np.uint64)).tobytes()).decode("ascii")


def _unpack(s: Any) -> np.ndarray | None:
    try:
        return np.frombuffer(base64.b64decode(s), dtype=np.uint64) if isinstance(s, str) else None
    except (ValueError, TypeError):
        return None


class Evaluated:
    """What the last run's rules looked at (from its state) and what this run's look at (for the state it returns)."""

    def __init__(self, run: Run, prev: dict | None, automations: list[Any]) -> None:
        self.run = run
        mem = prev.get("evaluated") if isinstance(prev, dict) else None
        self.prev = mem if isinstance(mem, dict) and mem.get("version") == VERSION else {}
        last = prev.get("last_run") if isinstance(prev, dict) else None
        self.last_day = pd.Timestamp(last).normalize() if last else None
        self.context = context_digest(run)
        self.rules = rule_digests(run)
        self._keys = {a.key: a.rid for a in automations}
        same_context = bool(self.prev) and self.prev.get("context") == self.context and self.last_day is not None
        problems = set(self.prev.get("problems") or ())
        self.same_rule = {a.key: same_context and (self.prev.get("rules") or {}).get(a.key) == self.rules.get(a.rid)
                          and a.key not in problems for a in automations}
        self.periods: dict[str, str] = {}
        self.problems: set[str] = set()
        self._reads: dict[str, np.ndarray] = {}  # rule key -> digest per record of what it read

    def _moved(self, a: Any, last: pd.Series | None) -> pd.Index | None:
        """IDs whose digest of what rule ``a`` reads the last run did not see (None: it kept none)."""
        t = self.run.tables[a.table]
        df = t.df
        cols = sorted({c.field for c in a.conditions if c.field in df.columns})
        frame = df[cols] if cols else pd.DataFrame(index=df.index)
        if last is not None:
            frame = frame.assign(_last_touch=last.reindex(df.index))
        if not len(frame.columns):
            frame = frame.assign(_record=0)  # no column read: the ID alone
        keys = row_keys(replace(t, df=frame, rows={}, invalid={}, typed_text={}))
        if keys is None:
            return None
        self._reads[a.key] = keys
        known = _unpack((self.prev.get("reads") or {}).get(a.key))
        return None if known is None else df.index[~np.isin(keys, known)]

    def candidates(self, a: Any, period: str | None = None, last: pd.Series | None = None) -> set[str] | None:
        """The records rule ``a`` must look at now, or None for every record."""
        if a.trigger == "schedule":
            self.periods[a.key] = period or ""
        if a.trigger not in NARROWED:
            return None
        moved = self._moved(a, last)
        if moved is None or not self.same_rule.get(a.key):
            return None
        new_day = self.run.today != self.last_day
        if new_day and a.conditions:
            return None  # a condition may read today's date
        if a.trigger == "schedule" and (self.prev.get("periods") or {}).get(a.key) != (period or ""):
            return None  # a new period: every record has a new key
        out = set(moved)
        if a.trigger == "no_activity" and new_day and last is not None:  # quiet days that ran out since the last run
            since = self.last_day - pd.Timedelta(days=a.days)
            crossed = ((last > since) & (last <= self.run.today - pd.Timedelta(days=a.days))).fillna(False)
            out |= set(last.index[crossed.to_numpy(dtype=bool)])
        return out

    def problem(self, a: Any) -> None:
        self.problems.add(a.key)

    def state(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "context": self.context,
            "rules": {key: self.rules.get(rid) for key, rid in self._keys.items()},
            "periods": self.periods,
            "problems": sorted(self.problems),
            "reads": {key: _pack(d) for key, d in self._reads.items()},
        }
