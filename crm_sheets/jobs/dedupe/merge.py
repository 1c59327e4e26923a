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

from crm_sheets.model import AuditEntry, ChangeSet, RowArchive, Tables
from crm_sheets.model.tables import id_number
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import fold
from crm_sheets.model.values import is_blank

JOB = "dedupe"
SURVIVOR_RULES = ("oldest", "most_complete", "most_recent_activity")
# where a record's activity is logged: (table, its reference column)
_ACTIVITY = {"leads": ("activities", "lead"), "contacts": ("activities", "contact"),
             "accounts": ("activities", "account"), "people": ("interactions", "person")}


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


def _last_activity(tables: Tables, table: str, ids: list[str]) -> dict[str, pd.Timestamp]:
    """The latest activity date of each record (Activities, plus a lead's Last contacted)."""
    out: dict[str, pd.Timestamp] = {}
    activities, column = _ACTIVITY.get(table, ("activities", None))
    act = tables.get(activities)
    wanted = set(ids)
    if act is not None and column in act.df.columns and "date" in act.df.columns:
        sub = act.df[act.df[column].isin(wanted)]
        for rid, d in pd.to_datetime(sub["date"], errors="coerce").groupby(sub[column]).max().items():
            if not pd.isna(d):
                out[rid] = d
    df = tables.df(table)
    if "last_contacted" in df.columns:
        contacted = pd.to_datetime(df["last_contacted"].reindex(ids), errors="coerce")
        for rid, d in contacted.items():
            if not pd.isna(d) and (rid not in out or d > out[rid]):
                out[rid] = d
    return out


class Ranker:
    """Orders the records of duplicate groups by the Settings rule, best survivor first.

    Built once for every record of a table that takes part in a merge, so that a run with thousands
    of groups reads each column once. Ties (and records without the needed data) fall back to the
    oldest: created date, then ID.
    """

    def __init__(self, tables: Tables, table: str, ids: Iterable[str], rule: str = "oldest"):
        ids = list(dict.fromkeys(ids))
        df = tables.df(table)
        none = np.iinfo(np.int64).max
        if "created" in df.columns:
            created = pd.to_datetime(df["created"].reindex(ids), errors="coerce")
            ns = [none if pd.isna(d) else d.value for d in created]
        else:
            ns = [none] * len(ids)
        prefix = tables[table].schema.id_prefix or ""
        # ties: the lower ID number; an ID of another shape (typed by hand) after the table's own, by its text
        numbers = [id_number(rid, prefix) for rid in ids]
        self.oldest = {rid: (c, n is None, n or 0, rid) for rid, c, n in zip(ids, ns, numbers)}
        self.rule = rule
        if rule == "most_complete":
            rows = df.reindex(ids).to_numpy(object)
            self.filled = {rid: sum(not is_blank(v) for v in row) for rid, row in zip(ids, rows)}
        elif rule == "most_recent_activity":
            self.last = _last_activity(tables, table, ids)

    def rank(self, ids: Iterable[str]) -> list[str]:
        oldest = self.oldest
        if self.rule == "most_complete":
            return sorted(ids, key=lambda r: (-self.filled[r], oldest[r]))
        if self.rule == "most_recent_activity":
            last = self.last
            return sorted(ids, key=lambda r: (-(last[r].value if r in last else -(2**62)), oldest[r]))
        return sorted(ids, key=lambda r: oldest[r])


def rank(tables: Tables, table: str, ids: Iterable[str], rule: str = "oldest") -> list[str]:
    """The records of one duplicate group, best survivor first, by the Settings rule."""
    ids = list(ids)
    return Ranker(tables, table, ids, rule).rank(ids)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a == b or fold(a) == fold(b)  # (equal texts fold alike: most of a group's cells, not folded)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def plain_value(value: Any) -> Any:
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
            if field_type(f.type).links_to == "record" and f.reference in (table, "*") and f.name in t.df.columns:
                out.append((name, f.name))
    return out


def merge_groups(tables: Tables, table: str, ranked_groups: list[list[str]], *, now: datetime,
                 why: dict[str, str], changes: ChangeSet) -> list[dict[str, Any]]:
    """Merge each group's ranked[1:] into its ranked[0]; add the changes; return the archive info of
    each merged record.

    The values of every record in a group and every reference to a merged record are gathered in
    one pass over the table and each reference column (not one pass per group).
    """
    t = tables[table]
    df = t.df
    skip = {f.name for f in t.schema.fields if f.owned_by_job or f.type == "id"}
    members = [r for g in ranked_groups for r in g]
    if not members:
        return []
    rows = df.iloc[df.index.get_indexer(members)]
    at = dict(zip(members, range(len(members))))
    columns = list(df.columns)
    values = {c: rows[c].to_numpy(object) for c in columns}
    blank = {c: [is_blank(v) for v in values[c]] for c in columns if c not in skip}

    gone = {r for g in ranked_groups for r in g[1:]}
    hits: dict[str, list[tuple[int, int, str, str, str, str]]] = {}
    for k, (ref_table, field) in enumerate(references_to(tables, table)):
        col = tables.df(ref_table)[field]
        found = np.flatnonzero(col.isin(gone).to_numpy())
        rids, olds = col.index[found], col.to_numpy(object)[found]
        for p, rid, old in zip(found.tolist(), rids, olds):
            hits.setdefault(old, []).append((k, p, ref_table, rid, field, old))

    infos = []
    for ranked in ranked_groups:
        survivor, others = ranked[0], ranked[1:]
        s = at[survivor]
        filled: dict[str, dict[str, Any]] = {o: {} for o in others}
        conflicts: dict[str, list[str]] = {o: [] for o in others}
        for c, is_empty in blank.items():
            col = values[c]
            ours, ours_blank = col[s], is_empty[s]
            for other in others:
                o = at[other]
                if is_empty[o]:
                    continue
                theirs = col[o]
                if ours_blank:
                    ours, ours_blank = theirs, False
                    filled[other][c] = plain_value(theirs)
                    reason = f"filled from {other}, merged into {survivor}"
                    changes.update(table, survivor, c, theirs, before=None, reason=reason)
                    changes.audit.append(AuditEntry(JOB, table, survivor, c, None, theirs, reason))
                elif not _same(ours, theirs):
                    conflicts[other].append(f"{c}: kept {plain_value(ours)!r}, not {plain_value(theirs)!r}")

        moved: dict[str, list[str]] = {o: [] for o in others}
        for _, _, ref_table, rid, field, old in sorted(h for o in others for h in hits.get(o, ())):
            reason = f"{old} merged into {survivor}"
            changes.update(ref_table, rid, field, survivor, before=old, reason=reason)
            changes.audit.append(AuditEntry(JOB, ref_table, rid, field, old, survivor, reason))
            moved[old].append(f"{ref_table}:{rid}.{field}")

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


def merge_group(tables: Tables, table: str, ranked: list[str], *, now: datetime, why: dict[str, str],
                changes: ChangeSet) -> list[dict[str, Any]]:
    """Merge ranked[1:] into ranked[0] (one group of merge_groups)."""
    return merge_groups(tables, table, [ranked], now=now, why=why, changes=changes)


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
