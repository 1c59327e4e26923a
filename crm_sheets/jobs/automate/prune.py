"""Forgetting fired keys that can never fire again, so the state beside the workbook does not grow forever.

A key is dropped when a record it names no longer exists (deleted, or merged away by dedupe), or when it
belongs to a period that is over: a scheduled rule's week or day (digests) and a date that was reached,
kept PERIOD_DAYS after firing. Every other key stays while its record does: a 'no activity' nudge must
not fire again while the same quiet spell lasts, nor a field change to a value already acted on.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Iterable

from crm_sheets.model import Tables

PERIOD_DAYS = 28  # a week's digest key is kept four weeks after it fired, then forgotten
_ID = re.compile(r"^([A-Z][A-Z0-9]*)-\d+$")  # record IDs (L-00042); slugs and trigger values are lower case
_WEEK = re.compile(r"^\d{4}-W\d{2}$")


def prune_fired(fired: dict[str, str], tables: Tables, today: date, *, periodic: Iterable[str] = ()) -> tuple[dict[str, str], int]:
    """(the keys to keep, how many were dropped). ``periodic``: rule slugs whose keys end with a period or
    a reached date (schedule and date-reached automations)."""
    prefixes = {t.schema.id_prefix: t for t in tables.tables.values() if t.schema.id_prefix}
    periodic = set(periodic)
    cutoff = (today - timedelta(days=PERIOD_DAYS)).isoformat()
    ids_of: dict[str, set[str]] = {}
    seen: dict[str, bool] = {}  # a part's verdict (record IDs and trigger values recur across rules' keys)
    kept: dict[str, str] = {}
    for key, fired_on in fired.items():
        parts = key.split(":")
        if _gone(parts, prefixes, ids_of, seen):
            continue
        if str(fired_on) < cutoff and (parts[0] in periodic or _WEEK.match(parts[-1] if parts[-1] != "chat" else parts[-2])):
            continue
        kept[key] = fired_on
    return kept, len(fired) - len(kept)


def _gone(parts: list[str], prefixes: dict, ids_of: dict[str, set[str]], seen: dict[str, bool]) -> bool:
    """A record the key names is not in its table (tables this workbook lacks are not judged)."""
    for part in parts[1:]:
        gone = seen.get(part)
        if gone is None:
            gone = seen[part] = _missing(part, prefixes, ids_of)
        if gone:
            return True
    return False


def _missing(part: str, prefixes: dict, ids_of: dict[str, set[str]]) -> bool:
    """``part`` is a record ID (by its prefix) that its table does not hold."""
    m = _ID.match(part)
    table = prefixes.get(m.group(1)) if m else None
    if table is None:
        return False
    if table.name not in ids_of:
        ids_of[table.name] = {str(i) for i in table.df.index}
    return part not in ids_of[table.name]
