"""The people's side of dedupe: the Duplicate Decisions table and the Duplicates Review sheet.

Decisions live in a schema table (Duplicate Decisions) because a table is what the reader reliably
gives back on the next run; the owned Duplicates Review sheet only shows the undecided pairs side by
side, with a link to the row where the decision is picked, and is regenerated when that view changes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crm_sheets.model import Cell, SheetSpec, Tables
from crm_sheets.model.schema import normalize_header
from crm_sheets.model.values import cell_text, is_blank

DECISIONS = "dedupe_decisions"
# _crm_meta key: the digest of the Duplicates Review sheet the last run wrote
REVIEW_DIGEST = "dedupe.review_digest"
SHOWN = {  # the fields shown side by side, per table
    "leads": ("first_name", "last_name", "email", "phone", "company", "job_title", "city", "country", "created"),
    "contacts": ("first_name", "last_name", "email", "phone", "mobile", "account", "job_title", "city", "created"),
    "accounts": ("name", "website", "phone", "city", "country", "type", "parent", "created"),
    "people": ("first_name", "last_name", "nickname", "email", "phone", "company", "city", "country", "created"),
}
SUMMARY = {
    "leads": ("first_name", "last_name", "email", "phone", "company", "city"),
    "contacts": ("first_name", "last_name", "email", "phone", "account", "city"),
    "accounts": ("name", "website", "phone", "city", "country"),
    "people": ("first_name", "last_name", "email", "phone", "company", "city"),
}


@dataclass(frozen=True)
class Decision:
    row_id: str  # the Duplicate Decisions row
    record_a: str
    record_b: str
    decision: str  # "merge" | "not_duplicate" | "" (not decided yet)
    applied: bool
    score: float | None = None
    reason: str = ""

    @property
    def key(self) -> frozenset[str]:
        return frozenset((self.record_a, self.record_b))


def _decision_key(value: Any, lookup: dict[str, str]) -> str:
    if is_blank(value):
        return ""
    return lookup.get(normalize_header(value), "")


def read_decisions(tables: Tables) -> list[Decision]:
    """Every row of Duplicate Decisions (labels of any language read as keys)."""
    t = tables.get(DECISIONS)
    if t is None or t.df.empty:
        return []
    lookup = tables.list("dedupe_decision").lookup() if "dedupe_decision" in tables.schema.lists else {}
    lookup.update({"merge": "merge", "notduplicate": "not_duplicate", "yes": "merge", "no": "not_duplicate"})
    df = t.df
    out = []
    for rid, row in zip(df.index, df.to_dict("records")):
        a, b = cell_text(row.get("record_a"), strip=True), cell_text(row.get("record_b"), strip=True)
        if not a or not b or a == b:
            continue
        score = row.get("score")
        out.append(Decision(
            str(rid), a, b, _decision_key(row.get("decision"), lookup), not is_blank(row.get("applied")),
            None if is_blank(score) else float(score), cell_text(row.get("reason"), strip=True),
        ))
    return out


def table_of(tables: Tables, record_id: str) -> str | None:
    """The table a record ID belongs to, from its prefix (prefixes are unique per schema)."""
    prefix = record_id.rsplit("-", 1)[0]
    for name in tables:
        if tables[name].schema.id_prefix == prefix:
            return name if record_id in tables[name].df.index else None
    return None


def _show(value: Any) -> str:
    if is_blank(value):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def summary(tables: Tables, table: str, record_id: str) -> str:
    """One line a person recognises a record by: 'Ana López · ana@acme.com · +1 415… · Acme · Paris'."""
    df = tables.df(table)
    if record_id not in df.index:
        return f"{record_id} (no longer in {tables[table].sheet or table})"
    row = df.loc[record_id]
    fields = [f for f in SUMMARY.get(table, ()) if f in df.columns]
    parts, name = [], []
    for f in fields:
        v = _show(row[f])
        if f in ("first_name", "last_name"):
            if v:
                name.append(v)
            continue
        if v:
            parts.append(v)
    return " · ".join([" ".join(name)] + parts if name else parts)


def review_sheet(tables: Tables, pending: list[Decision], rows_of: dict[str, int]) -> SheetSpec:
    """Duplicates Review: one line per undecided pair, the two records side by side, differences marked."""
    schema = tables.schema
    name = schema.owned_sheet("duplicates_review").sheet_name(tables.lang)
    dec = tables.get(DECISIONS)
    dec_sheet = dec.sheet if dec is not None and dec.sheet else schema.tables[DECISIONS].sheet_name(tables.lang) if DECISIONS in schema.tables else ""
    fr = tables.lang == "fr"
    title = "Doublons à vérifier" if fr else "Duplicates to review"
    note = (f"Choisissez Fusionner ou Pas un doublon dans la colonne Décision de « {dec_sheet} » ; le prochain passage l'applique."
            if fr else f"Pick Merge or Not duplicate in the Decision column of '{dec_sheet}'; the next run applies it.")
    rows: list[list[Any]] = [[Cell(title, "title")], [Cell(note, "subtitle")], []]
    if not pending:
        rows.append([Cell("Aucune paire à vérifier." if fr else "Nothing to review.", "muted")])
        return SheetSpec(name=name, key="duplicates_review", rows=rows, widths={0: 40}, tab_color="F4B183")
    fields_all: list[str] = []
    for d in pending:
        for f in SHOWN.get(table_of(tables, d.record_a) or "", ()):
            if f not in fields_all:
                fields_all.append(f)
    header = ["Décision" if fr else "Decide", "Score", "Pourquoi" if fr else "Why", "Fiche" if fr else "Record"]
    header += [_title(tables, f) for f in fields_all]
    rows.append([Cell(h, "header") for h in header])
    start = len(rows) + 1
    shown: dict[tuple[str, str], Any] = {}  # (table, field) -> the column's values (as .at reads them), or None

    def cell(table: str | None, record: str, field: str) -> str:
        if not table:
            return ""
        key = (table, field)
        if key not in shown:
            df = tables.df(table)
            shown[key] = None if field not in df.columns else (df.index, df[field]._values) if df.index.is_unique else df
        got = shown[key]
        if isinstance(got, pd.DataFrame):  # records sharing an ID: as .at reads them
            return _show(got.at[record, field])
        return _show(got[1][got[0].get_loc(record)]) if got is not None else ""

    for d in pending:
        ta, tb = table_of(tables, d.record_a), table_of(tables, d.record_b)
        row_no = rows_of.get(d.row_id)
        link = f"{_quote(dec_sheet)}!A{row_no}" if row_no and dec_sheet else None
        line_a = [Cell(d.row_id, "link" if link else "text", link=link),
                  Cell(d.score, "percent"), Cell(d.reason, "wrap"), d.record_a]
        line_b = ["", "", "", d.record_b]
        for f in fields_all:
            va, vb = cell(ta, d.record_a, f), cell(tb, d.record_b, f)
            differ = bool(va and vb and va.casefold() != vb.casefold())
            line_a.append(Cell(va, "warn" if differ else None))
            line_b.append(Cell(vb, "warn" if differ else None))
        rows += [line_a, line_b, []]
    widths = {0: 12, 1: 8, 2: 40, 3: 11} | {4 + k: 18 for k in range(len(fields_all))}
    return SheetSpec(name=name, key="duplicates_review", rows=rows, widths=widths, freeze=(start - 1, 4), tab_color="F4B183")


def sheet_digest(spec: SheetSpec) -> str:
    """A fingerprint of everything a SheetSpec shows: equal digests, equal sheets."""
    return "sha256:" + hashlib.sha256(repr(spec).encode()).hexdigest()[:20]


def _title(tables: Tables, field: str) -> str:
    for t in ("leads", "contacts", "accounts", "people"):
        if t in tables.schema.tables and tables.schema.tables[t].has_field(field):
            return tables.schema.tables[t].field(field).header(tables.lang)
    return field


def _quote(sheet: str) -> str:
    return "'" + sheet.replace("'", "''") + "'"
