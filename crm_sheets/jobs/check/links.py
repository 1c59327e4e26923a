"""Checks across rows and tables: record IDs, unique columns, references to other records, owners in Team.

A reference typed a little off (l-42 for L-00042) is fixed when exactly that record exists;
an owner spelt differently from a Team name is fixed to the Team spelling; the rest is reported.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from crm_sheets.jobs.check.common import Collector, quote, text_codes, text_values, texts_not_in
from crm_sheets.jobs.check.options import closest
from crm_sheets.model import Table
from crm_sheets.model.normalize import fold
from crm_sheets.model.schema import Field
from crm_sheets.model.tables import format_id

_LOOSE_ID = re.compile(r"^\s*([A-Za-z]{1,4})\s*-?\s*0*(\d+)\s*$")


def check_ids(out: Collector, table: Table) -> None:
    check_duplicate_ids(out, table)
    check_id_shapes(out, table)


def check_duplicate_ids(out: Collector, table: Table) -> None:
    """IDs given to two rows (across the table)."""
    if not table.schema.id_prefix:
        return
    dup = table.df.index.duplicated(keep="first")
    for rid in np.asarray(table.df.index.astype(str), dtype=object)[dup]:
        out.add("duplicate-id", "error", table, rid, "id", rid, f"{quote(rid)} is the ID of another row too", "give one of the rows a new ID (clear the cell: the next run numbers it)")


def check_id_shapes(out: Collector, table: Table, rows: pd.Index | None = None) -> None:
    """IDs not of this table's shape (an ID given twice is check_duplicate_ids'), of every row or of ``rows``
    (the rows checked again, when the table's IDs are distinct: a row's own check then)."""
    prefix = table.schema.id_prefix
    if not prefix:
        return
    if rows is not None and table.df.index.is_unique:
        ids = np.asarray(rows.astype(str), dtype=object)
    else:
        ids = np.asarray(table.df.index.astype(str), dtype=object)
        ids = ids[~table.df.index.duplicated(keep="first")]
    shape = re.compile(rf"^{re.escape(prefix)}-\d+$")  # what id_number accepts, without a call per row
    for rid in ids:
        if not shape.match(rid):
            out.add("invalid-id", "warning", table, rid, "id", rid, f"{quote(rid)} is not an ID of this table", f"IDs here look like {format_id(prefix, 42)}; clear the cell and the next run gives the row one")


def check_unique(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """Unique columns compare folded (case, accents and spaces do not make two values different)."""
    if not f.constraints.unique or f.type == "id":
        return
    s = text_values(col) if col.dtype == object or pd.api.types.is_string_dtype(col.dtype) else col.dropna()
    keys = s.map(lambda v: fold(str(v))) if len(s) else s
    dup = keys.duplicated(keep="first")
    if not dup.any():
        return
    first = {}
    for rid, k in zip(keys.index[~dup], keys[~dup]):
        first.setdefault(k, rid)
    for rid, value, k in zip(s.index[dup], s[dup], keys[dup]):
        other = first[k]
        out.add("duplicate-value", "error", table, rid, f.name, value, f"{quote(value)} is also in {table.cell(other, f.name)} ({other})", f"each {f.header(out.ctx.lang)} must be unique: change or remove one of them")


def _targets(out: Collector, f: Field) -> dict[str, Table]:
    """ID prefix -> target table, for this reference field."""
    tables = out.ctx.tables
    if f.reference == "*":
        return {t.schema.id_prefix: t for t in tables.tables.values() if t.schema.id_prefix and t.schema.kind == "data"}
    t = tables.get(f.reference)
    return {t.schema.id_prefix: t} if t is not None and t.schema.id_prefix else {}


def known_ids(targets) -> pd.Index:
    """The record IDs of the target tables as one index of distinct texts, for lookups column after column."""
    targets = list(targets)
    ids = np.concatenate([t.df.index.to_numpy(dtype=object) for t in targets]) if targets else np.array([], dtype=object)
    if all(t.df.index.inferred_type == "string" for t in targets):  # IDs are texts (inferred once per index)
        return pd.Index(ids, dtype=object).unique()
    return pd.Index([i if i.__class__ is str else str(i) for i in ids], dtype=object).unique()


def check_reference(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    targets = _targets(out, f)
    if not targets:
        return  # the target sheet is not in this workbook: nothing to compare with
    s, codes, uniques = text_codes(col)
    if not len(s):
        return
    key = tuple(sorted(t.name for t in targets.values()))
    known = out.ctx.known_ids.get(key)
    if known is None:  # once per target: Activities' "related" alone points into 260,000 records
        known = out.ctx.known_ids[key] = known_ids(targets.values())
    # each distinct text looked up once, in an index whose hash table is built once, not per column
    bad = s[(known.get_indexer(uniques) < 0)[codes]]
    for rid, value in zip(bad.index, bad):
        m = _LOOSE_ID.match(value)
        prefix = m.group(1).upper() if m else None
        target = targets.get(prefix)
        fixed = format_id(prefix, int(m.group(2))) if m and target is not None else None
        if fixed is not None and fixed in known:
            out.add("reference-format", "warning", table, rid, f.name, value, f"{quote(value)} is written differently from the ID {fixed}", f"check --fix writes {fixed}", fix=fixed, fixable=not f.owned_by_job)
            continue
        if f.reference == "*":
            names = ", ".join(sorted(t.sheet or t.schema.sheet_name(out.ctx.lang) for t in targets.values()))
            what = f"{quote(value)} is not the ID of a record in {names}" if target is None else f"{quote(value)} is not an ID in {target.sheet or target.schema.sheet_name(out.ctx.lang)}"
        else:
            t = next(iter(targets.values()))
            what = f"{quote(value)} is not an ID in {t.sheet or t.schema.sheet_name(out.ctx.lang)}"
        out.add("unknown-reference", "error", table, rid, f.name, value, what, "put the ID of an existing record (e.g. " + format_id(next(iter(targets)), 1) + ") or clear the cell")
    if table.name == f.reference:  # a record pointing at itself (an account its own parent)
        same = s.index[(s == s.index.astype(str)).to_numpy()]
        for rid in same:
            out.add("self-reference", "error", table, rid, f.name, rid, f"the record {rid} points to itself", "clear the cell or put another record's ID")


def check_user(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """Owners are Team names; a different spelling of one name is fixed, an unknown person reported."""
    team = out.ctx.tables.get("team")
    if team is None or "name" not in team.df.columns:
        return
    names = [str(n) for n in text_values(team.df["name"])]
    bad = texts_not_in(col, set(names))
    if not len(bad):
        return
    exact = {fold(n): n for n in names}
    sheet = team.sheet or team.schema.sheet_name(out.ctx.lang)
    verdicts: dict[str, tuple] = {}
    for rid, value in zip(bad.index, bad):
        verdict = verdicts.get(value)
        if verdict is None:
            spelt = exact.get(fold(value))
            verdict = verdicts[value] = (spelt, None if spelt is not None else closest(value, exact, cutoff=80))
        spelt, guess = verdict
        if spelt is not None:
            out.add("user-spelling", "warning", table, rid, f.name, value, f"{quote(value)} is spelt differently from {quote(spelt)} in {sheet}", f'check --fix writes "{spelt}"', fix=spelt, fixable=not f.owned_by_job)
            continue
        todo = f'choose "{guess}"' if guess else f"choose a name from the {sheet} sheet"
        out.add("unknown-user", "error", table, rid, f.name, value, f"{quote(value)} is not a name in {sheet}", todo + f" or add the person to {sheet}", fix=guess)
