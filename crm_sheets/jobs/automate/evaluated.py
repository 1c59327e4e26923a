"""Automate's memory of what its rules already looked at, so a run looks again only where values or dates moved.

Kept in the state (``evaluated``): a digest of each record's row as the rules saw it (after scoring and
assignment), of each record's last touch (what no-activity rules read), of each rule's row with what compiling
it reads (lists, settings, schema, language), the period each schedule rule ran for, and the rules whose
template failed. A record whose row, last touch, rule and window are as they were cannot fire now where it did
not fire then: records created, changed, or reached by a date fire as before (those triggers look only at what is
new already); no-activity and every-record schedule rules look only at the records whose digest moved, that
automate itself changed since, or (no-activity) whose quiet days ran out since the last run. A new period, a new
day for a rule with conditions (they may read today's date), a changed rule or context: that rule looks at every
record. Losing the memory only costs time (tests/test_incremental.py runs both ways).
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

VERSION = 1
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
    """What the last run looked at (from its state) and what this run looks at (for the state it returns)."""

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
        self.same_rule = {a.key: same_context and (self.prev.get("rules") or {}).get(a.key) == self.rules.get(a.rid)
                          and a.key not in set(self.prev.get("problems") or ()) for a in automations}
        self.periods: dict[str, str] = {}
        self.problems: set[str] = set()
        self._rows: dict[str, np.ndarray] = {}  # table -> this run's row digests (as sorted when kept)
        self._touch: dict[str, np.ndarray] = {}
        self._fresh: dict[str, pd.Index] = {}  # table -> IDs whose row digest the last run did not see
        self._ids: dict[str, pd.Index] = {}  # table -> IDs as the digests were taken (before this run's rules add rows)
        self._start = self._seen_updates = len(run.changes.updates)  # scoring's and assignment's are in the digests
        self._updated: set[tuple[str, str]] = {(t, r) for t, r in self.prev.get("touched") or ()}
        for table in sorted({a.table for a in automations if a.trigger in NARROWED}):
            self._digest_rows(table)

    # -- what moved -----------------------------------------------------------------------------

    def _digest_rows(self, table: str) -> None:
        t = self.run.tables[table]
        keys = row_keys(replace(t, rows={}))  # the sheet row is not what a rule reads
        if keys is None:
            return
        self._rows[table] = keys
        self._ids[table] = t.df.index
        known = _unpack((self.prev.get("rows") or {}).get(table))
        if known is not None:
            self._fresh[table] = t.df.index[~np.isin(keys, known)]

    def _touch_moved(self, table: str, last: pd.Series) -> pd.Index | None:
        """IDs whose last touch the last run did not see (a new or deleted activity)."""
        digests = pd.util.hash_pandas_object(last, index=True).to_numpy(np.uint64)
        self._touch[table] = digests
        known = _unpack((self.prev.get("touch") or {}).get(table))
        return None if known is None else last.index[~np.isin(digests, known)]

    def _changed_here(self) -> set[tuple[str, str]]:
        """Records automate changed in this run so far (a rule sees what the rules before it set)."""
        updates = self.run.changes.updates
        for u in updates[self._seen_updates:]:
            self._updated.add((u.table, str(u.record_id)))
        self._seen_updates = len(updates)
        return self._updated

    def candidates(self, a: Any, period: str | None = None, last: pd.Series | None = None) -> set[str] | None:
        """The records rule ``a`` must look at, or None for every record."""
        if a.trigger == "schedule":
            self.periods[a.key] = period or ""
        if a.trigger not in NARROWED:
            return None
        touch_moved = self._touch_moved(a.table, last) if last is not None else None
        if not self.same_rule.get(a.key) or a.table not in self._fresh:
            return None
        new_day = self.run.today != self.last_day
        if new_day and a.conditions:
            return None  # a condition may read today's date
        if a.trigger == "schedule" and (self.prev.get("periods") or {}).get(a.key) != (period or ""):
            return None  # a new period: every record has a new key
        df = self.run.tables[a.table].df
        out = set(self._fresh[a.table]) | {r for t, r in self._changed_here() if t == a.table}
        out |= set(df.index.difference(self._ids[a.table]))  # rows added by this run's rules
        if a.trigger == "no_activity":
            if touch_moved is None:
                return None
            out |= set(touch_moved)
            if new_day:  # quiet days that ran out since the last run
                since = self.last_day - pd.Timedelta(days=a.days)
                crossed = ((last > since) & (last <= self.run.today - pd.Timedelta(days=a.days))).fillna(False)
                out |= set(last.index[crossed.to_numpy(dtype=bool)])
        return out

    def problem(self, a: Any) -> None:
        self.problems.add(a.key)

    def state(self) -> dict[str, Any]:
        touched = sorted({(u.table, str(u.record_id)) for u in self.run.changes.updates[self._start:]})
        return {
            "version": VERSION,
            "context": self.context,
            "rules": {key: self.rules.get(rid) for key, rid in self._keys.items()},
            "periods": self.periods,
            "problems": sorted(self.problems),
            "rows": {t: _pack(d) for t, d in self._rows.items()},
            "touch": {t: _pack(d) for t, d in self._touch.items()},
            "touched": [list(x) for x in touched],
        }
