"""Merging duplicates and undoing it: survivor, filling empty fields, moving references, archiving.

A merge never deletes and never overwrites: the survivor only gains values it lacked, every
reference to a merged record moves to the survivor, and the merged row goes to the Merged archive
with what was moved and filled, so that unmerge can put everything back exactly.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable

import numpy as np
import pandas as pd

from crm_sheets.jobs.dedupe.keys import is_blank
from crm_sheets.model import AuditEntry, ChangeSet, RowArchive, Tables
from crm_sheets.model.normalize import fold

JOB = "dedupe"
SURVIVOR_RULES = ("oldest", "most_complete", "most_recent_activity")


class Clusters:
    """Union-find of records to merge, refusing any union that would join a 'not duplicate' pair."""

    def __init__(self, never: set[frozenset[str]]):
        self.parent: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}
        self.never = never

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        self.members.setdefault(x, {x})
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if any(frozenset((x, y)) in self.never for x in self.members[ra] for y in self.members[rb]):
            return False
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        return True

    def groups(self) -> list[list[str]]:
        return [sorted(m) for r, m in self.members.items() if self.parent.get(r) == r and len(m) > 1]


def _id_number(rid: str) -> int:
    digits = "".join(c for c in rid.rsplit("-", 1)[-1] if c.isdigit())
    return int(digits) if digits else 0


def _last_activity(tables: Tables, table: str, ids: list[str]) -> dict[str, pd.Timestamp]:
    """The latest activity date of each record (Activities, plus a lead's Last contacted)."""
    out: dict[str, pd.Timestamp] = {}
    column = {"leads": "lead", "contacts": "contact", "accounts": "account"}.get(table)
    act = tables.get("activities")
    wanted = set(ids)
    if act is not None and column in act.df.columns and "date" in act.df.columns:
        sub = act.df[act.df[column].isin(wanted)]
        for rid, d in pd.to_datetime(sub["date"], errors="coerce").groupby(sub[column]).max().items():
            if not pd.isna(d):
                out[rid] = d
    df = tables.df(table)
    if "last_contacted" in df.columns:
        for rid in ids:
            d = pd.to_datetime(df.at[rid, "last_contacted"], errors="coerce")
            if not pd.isna(d) and (rid not in out or d > out[rid]):
                out[rid] = d
    return out


def rank(tables: Tables, table: str, ids: Iterable[str], rule: str = "oldest") -> list[str]:
    """The records of one duplicate group, best survivor first, by the Settings rule.

    Ties (and records without the needed data) fall back to the oldest: created date, then ID.
    """
    ids = list(ids)
    df = tables.df(table)
    created = {}
    if "created" in df.columns:
        for rid in ids:
            d = pd.to_datetime(df.at[rid, "created"], errors="coerce")
            created[rid] = d.value if not pd.isna(d) else np.iinfo(np.int64).max
    oldest = {rid: (created.get(rid, np.iinfo(np.int64).max), _id_number(rid)) for rid in ids}
    if rule == "most_complete":
        filled = {rid: sum(not is_blank(v) for v in df.loc[rid].tolist()) for rid in ids}
        return sorted(ids, key=lambda r: (-filled[r], oldest[r]))
    if rule == "most_recent_activity":
        last = _last_activity(tables, table, ids)
        return sorted(ids, key=lambda r: (-(last[r].value if r in last else -(2**62)), oldest[r]))
    return sorted(ids, key=lambda r: oldest[r])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return fold(a) == fold(b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """A cell value as JSON can hold it (dates as ISO text, numpy scalars as Python numbers)."""
    if is_blank(value):
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def references_to(tables: Tables, table: str) -> list[tuple[str, str]]:
    """(table, field) of every reference column that may point to a record of ``table``."""
    out = []
    for name in tables:
        t = tables[name]
        for f in t.schema.fields:
            if f.type == "reference" and f.reference in (table, "*") and f.name in t.df.columns:
                out.append((name, f.name))
    return out


def merge_group(tables: Tables, table: str, ranked: list[str], *, now: datetime, why: dict[str, str],
                changes: ChangeSet) -> list[dict[str, Any]]:
    """Merge ranked[1:] into ranked[0]; add the changes; return the archive info of each merged record."""
    survivor, others = ranked[0], ranked[1:]
    t = tables[table]
    df = t.df
    skip = {f.name for f in t.schema.fields if f.owned_by_job or f.type == "id"}
    filled: dict[str, dict[str, Any]] = {o: {} for o in others}
    conflicts: dict[str, list[str]] = {o: [] for o in others}
    current = {c: df.at[survivor, c] for c in df.columns}
    for other in others:
        for c in df.columns:
            if c in skip:
                continue
            theirs = df.at[other, c]
            if is_blank(theirs):
                continue
            ours = current[c]
            if is_blank(ours):
                current[c] = theirs
                filled[other][c] = _plain(theirs)
                reason = f"filled from {other}, merged into {survivor}"
                changes.update(table, survivor, c, theirs, before=None, reason=reason)
                changes.audit.append(AuditEntry(JOB, table, survivor, c, None, theirs, reason))
            elif not _same(ours, theirs):
                conflicts[other].append(f"{c}: kept {_plain(ours)!r}, not {_plain(theirs)!r}")

    moved: dict[str, list[str]] = {o: [] for o in others}
    gone = set(others)
    for ref_table, field in references_to(tables, table):
        col = tables.df(ref_table)[field]
        hits = col[col.isin(gone)]
        for rid, old in hits.items():
            reason = f"{old} merged into {survivor}"
            changes.update(ref_table, rid, field, survivor, before=old, reason=reason)
            changes.audit.append(AuditEntry(JOB, ref_table, rid, field, old, survivor, reason))
            moved[old].append(f"{ref_table}:{rid}.{field}")

    infos = []
    for other in others:
        reason = why.get(other, "")
        if conflicts[other]:
            reason += "; conflicts: " + "; ".join(conflicts[other])
        info = {
            "record": other, "table": table, "merged_into": survivor, "merged_at": now, "reason": reason,
            "repointed": ", ".join(moved[other]),
            "filled": json.dumps(filled[other], ensure_ascii=False, sort_keys=True) if filled[other] else "",
        }
        changes.archives.append(RowArchive(table, other, "merged", info))
        changes.audit.append(AuditEntry(JOB, table, other, "", None, f"merged into {survivor}", reason))
        infos.append(info)
    return infos


def parse_repointed(text: str) -> list[tuple[str, str, str]]:
    """'activities:AC-00001.lead, tasks:T-00002.related' -> [(table, ID, field), ...]."""
    out = []
    for part in (text or "").split(","):
        part = part.strip()
        if ":" in part and "." in part:
            table, rest = part.split(":", 1)
            rid, field = rest.rsplit(".", 1)
            out.append((table.strip(), rid.strip(), field.strip()))
    return out
