"""The Data Issues sheet: one row per finding, worst first, each with a link that jumps to the cell.

Replaced whole on every run (an owned sheet), so a clean run leaves a short "no problems" sheet.
"""
from __future__ import annotations

import hashlib
import pickle
from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.jobs.check.common import SEVERITY_RANK, show
from crm_sheets.model import Cell, Finding, SheetSpec, Tables
from crm_sheets.model.fieldtypes import field_type

MAX_ROWS = 20_000  # beyond this the sheet is no longer read; the full list is in `check --json`

LABELS = {
    "en": {
        "columns": ("Severity", "Table", "Record ID", "Cell", "Column", "Value", "Problem", "Suggested fix"),
        "severity": {"error": "Error", "warning": "Warning", "info": "Tidy-up"},
        "checked": "Checked {now}: {errors} errors, {warnings} warnings, {info} tidy-ups ({fixable} fixable with crm-sheets check --fix).",
        "clean": "Checked {now}: no problems found.",
        "more": "... and {n} more: run crm-sheets check --json for the full list.",
        "kpis": ("Errors", "Warnings", "Tidy-ups", "Fixable"),
    },
    "fr": {
        "columns": ("Gravité", "Table", "ID de la fiche", "Cellule", "Colonne", "Valeur", "Problème", "Correction proposée"),
        "severity": {"error": "Erreur", "warning": "Avertissement", "info": "À harmoniser"},
        "checked": "Vérifié le {now} : {errors} erreurs, {warnings} avertissements, {info} à harmoniser ({fixable} corrigeables avec crm-sheets check --fix).",
        "clean": "Vérifié le {now} : aucun problème.",
        "more": "... et {n} de plus : lancez crm-sheets check --json pour la liste complète.",
        "kpis": ("Erreurs", "Avertissements", "À harmoniser", "Corrigeables"),
    },
}
_STYLE = {"error": "bad", "warning": "warn", "info": "muted"}
WIDTHS = {0: 14, 1: 16, 2: 12, 3: 14, 4: 18, 5: 30, 6: 70, 7: 30}


def sort_key(tables: Tables, order: dict[str, int]):
    rows: dict = {}  # the sheet rows of the tables findings are of, taken when first needed (a lazily read
    cols = {name: {f: i for i, f in enumerate(t.schema.field_names)} for name, t in tables.tables.items()}
    empty: dict = {}  # Audit Log with no finding stays unread)

    def key(f: Finding) -> tuple:
        if f.table not in rows:
            rows[f.table] = tables.tables[f.table].rows if f.table in tables.tables else empty
        row = rows[f.table].get(f.record_id, 10**9) if f.record_id is not None else -1
        col = cols.get(f.table, empty).get(f.field, -1)
        return (SEVERITY_RANK.get(f.severity, 9), order.get(f.table, 99), row, col, f.type)

    return key


def sorted_order(tables: Tables, findings: list[Finding], order: dict[str, int]) -> np.ndarray:
    """The positions of the findings sorted by sort_key, from column arrays (one stable lexsort)."""
    n = len(findings)
    # the sheet rows of the tables findings are of only (a lazily read Audit Log with no finding stays unread)
    rows = {name: tables.tables[name].rows for name in {f.table for f in findings} if name in tables.tables}
    cols = {name: {f: i for i, f in enumerate(t.schema.field_names)} for name, t in tables.tables.items()}
    empty: dict = {}
    severity = np.fromiter((SEVERITY_RANK.get(f.severity, 9) for f in findings), dtype=np.int64, count=n)
    table = np.fromiter((order.get(f.table, 99) for f in findings), dtype=np.int64, count=n)
    row = np.fromiter((rows.get(f.table, empty).get(f.record_id, 10**9) if f.record_id is not None else -1 for f in findings),
                      dtype=np.int64, count=n)
    col = np.fromiter((cols.get(f.table, empty).get(f.field, -1) for f in findings), dtype=np.int64, count=n)
    kind, _ = pd.factorize(np.array([f.type for f in findings], dtype=object), sort=True)  # codes in the slugs' order
    # Ties (two findings of one kind on one cell, or on people's own columns, which have no schema position) are
    # broken by the column's name and the message, not left in the order the findings came: that order can follow
    # string hashing, which differs between processes, and the sheet would change with nothing edited.
    field, _ = pd.factorize(np.array([f.field or "" for f in findings], dtype=object), sort=True)
    message, _ = pd.factorize(np.array([f.message or "" for f in findings], dtype=object), sort=True)
    return np.lexsort((message, field, kind, col, row, table, severity))


def data_issues_sheet(tables: Tables, findings: list[Finding], now: datetime, stamp: str | None = None,
                      shown_order: np.ndarray | None = None) -> SheetSpec:
    """The Data Issues sheet; ``stamp`` is the time it says the data was checked (default ``now``);
    ``shown_order``: sorted_order of these findings when the caller has it already (data_issues_digest's)."""
    lang = tables.lang if tables.lang in LABELS else "en"
    text = LABELS[lang]
    name = tables.schema.owned_sheet("data_issues").sheet_name(tables.lang)
    order = {n: i for i, n in enumerate(tables.schema.tables)}
    severities = Counter(f.severity for f in findings)
    counts = {s: severities.get(s, 0) for s in ("error", "warning", "info")}
    fixable = sum(1 for f in findings if f.fixable)
    stamp = now.strftime("%Y-%m-%d %H:%M") if stamp is None else stamp
    rows: list[list[Any]] = [[Cell(name, "title")]]
    if not findings:
        rows.append([Cell(text["clean"].format(now=stamp), "subtitle")])
        return SheetSpec(name=name, key="data_issues", rows=rows, widths=WIDTHS, tab_color="70AD47")
    rows.append([Cell(text["checked"].format(now=stamp, errors=counts["error"], warnings=counts["warning"], info=counts["info"], fixable=fixable), "subtitle")])
    rows.append([Cell(label, "kpi_label") for label in text["kpis"]])
    rows.append([Cell(n, "kpi_value") for n in (counts["error"], counts["warning"], counts["info"], fixable)])
    rows.append([])
    header_row = len(rows) + 1
    rows.append([Cell(c, "header") for c in text["columns"]])
    names: dict = {}
    has_ids = {n: bool(t.schema.id_prefix) for n, t in tables.tables.items()}
    shown = (sorted_order(tables, findings, order) if shown_order is None else shown_order)[:MAX_ROWS]
    cells: dict = {}  # Cells are immutable: the severity, sheet and column cells repeat on every row
    for i in shown.tolist():
        rows.append(_row(tables, findings[i], text, lang, names, has_ids, cells))
    last = len(rows)
    if len(findings) > MAX_ROWS:
        rows.append([Cell(text["more"].format(n=len(findings) - MAX_ROWS), "subtitle")])
    return SheetSpec(
        name=name,
        key="data_issues",
        rows=rows,
        widths=WIDTHS,
        freeze=(header_row, 0),
        autofilter=f"A{header_row}:H{last}",
        tab_color="C00000" if counts["error"] else "FFC000" if counts["warning"] else "70AD47",
    )


def data_issues_digest(tables: Tables, findings: list[Finding], keep: dict | None = None) -> str:
    """A digest of everything data_issues_sheet lays out besides the time stamp: the findings in the order
    shown, the language, the sheets' names and the lists' labels. Equal digests, equal sheets. ``keep``, when
    given, gets the order under "order" (for data_issues_sheet's ``shown_order``)."""
    order = {n: i for i, n in enumerate(tables.schema.tables)}
    h = hashlib.sha256()
    h.update(repr((tables.lang, sorted((n, t.sheet) for n, t in tables.tables.items()),
                   sorted(tables.lists.items()))).encode("utf-8"))
    ranked = sorted_order(tables, findings, order)
    if keep is not None:
        keep["order"] = ranked
    h.update(ranked.tobytes())
    # The findings' fields pickled in one pass of C code (without a memo, the bytes depend only on the values):
    # a dataclass repr per finding was 1.5 s at 100k leads. A value that is not text goes in as its type and
    # repr, as before: a pickle tells apart what shows the same (a date remembered by check's row memory comes
    # back in another time unit than the column's, equal and shown alike, pickled differently).
    shown = _shown_once()
    fields = [(f.type, f.severity, f.table, f.record_id, f.field, shown(f.value), f.message, f.cell, shown(f.fix),
               f.fixable) for f in findings]
    got = pickled_into(h, fields)
    del fields
    if got is None:
        for f in findings:
            h.update(repr(f).encode("utf-8", "surrogatepass"))
    return (got or h).hexdigest()


def finding_fields(f: Finding) -> tuple:
    """What data_issues_digest hashes of a finding."""
    return (f.type, f.severity, f.table, f.record_id, f.field, _shown(f.value), f.message, f.cell, _shown(f.fix),
            f.fixable)


class _Into:
    """A file that pickle writes into a hash."""

    __slots__ = ("write",)

    def __init__(self, h: Any) -> None:
        self.write = h.update


def pickled_into(h: Any, value: Any) -> Any:
    """A copy of the hash ``h`` updated with the bytes of ``value``'s pickle (protocol 5, no memo: they depend only on
    the values) as the pickler writes them: the pickle is never held (at 100k leads the findings' was ~40 MB, and the
    buffer it grew in up to twice that, the top of check's second look). None when ``value`` cannot be pickled."""
    got = h.copy()
    try:
        pickler = pickle.Pickler(_Into(got), protocol=5)
        pickler.fast = True
        pickler.dump(value)
    except (pickle.PicklingError, TypeError, ValueError, AttributeError, RecursionError):
        return None
    return got


def _shown(v: Any) -> Any:
    return v if v is None or v.__class__ is str else ("\ue000", type(v).__name__, repr(v))


def _shown_once():
    """_shown, made once per date (see _once_per_date)."""
    memo: dict = {}
    return lambda v: v if v is None or v.__class__ is str else _once_per_date(_shown, memo, v)


def _once_per_date(fn: Any, memo: dict, v: Any) -> Any:
    """fn(v), kept in ``memo`` for a date (a Timestamp without a time zone, by its value and unit): a first check at
    30k sample leads has 50,000 findings of dates, of a few hundred days, and a Timestamp's repr is slow."""
    if v.__class__ is pd.Timestamp and v.tzinfo is None:
        key = (fn, v.value, v.unit)
        got = memo.get(key)
        if got is None:
            got = memo[key] = fn(v)
        return got
    return fn(v)


def _row(tables: Tables, f: Finding, text: dict, lang: str, names: dict, has_ids: dict, cells: dict | None = None) -> list[Any]:
    sheet, column, labels = names.get((f.table, f.field)) or _names(tables, f, lang, names)
    fix = f.fix
    if fix is None:
        shown_fix = ""
    elif labels is not None:  # option keys shown as their label in the workbook language
        shown_fix = ", ".join(labels.get(k, k) for k in str(fix).split(", "))
    else:
        shown_fix = show(fix)
    cells = {} if cells is None else cells
    key = (f.severity, f.table, f.field)
    same = cells.get(key)
    if same is None:
        same = cells[key] = (
            Cell(text["severity"].get(f.severity, f.severity), _STYLE.get(f.severity)), Cell(sheet, "text"), Cell(column, "text"),
        )
    return [
        same[0],
        same[1],
        Cell(f.record_id if f.record_id and has_ids.get(f.table) else "", "text"),  # rule rows' keys (row7) mean nothing
        Cell(f.cell or sheet, "link", link=f.cell if f.cell and "!" in f.cell else None),
        same[2],
        Cell(_once_per_date(show, cells, f.value), "text"),  # (``cells``: the sheet's memo)
        Cell(f.message, "wrap"),
        Cell(shown_fix, "text"),
    ]


def _names(tables: Tables, f: Finding, lang: str, names: dict) -> tuple[str, str, dict | None]:
    """(sheet, column header, option labels or None) of a finding's column, computed once per column."""
    t = tables.get(f.table)
    sheet = (t.sheet or t.schema.sheet_name(lang)) if t is not None else f.table
    column, labels = "", None
    if t is not None and f.field and t.schema.has_field(f.field):
        field = t.schema.field(f.field)
        column = field.header(lang)
        if field.list and field_type(field.type).options and field.list in tables.schema.lists:
            labels = {o.key: o.label(lang) for o in tables.list(field.list).options}
    names[(f.table, f.field)] = (sheet, column, labels)
    return names[(f.table, f.field)]
