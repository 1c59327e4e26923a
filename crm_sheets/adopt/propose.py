"""The mapping `adopt` proposes: which sheet of a team's workbook holds which table, on which header row,
and which of its columns is which field. Pure: it reads grids of cells (rows of values from A1), never
a file. Found by headers (the schema's titles and aliases, the en/fr/de/es words of aliases.py, close
spellings) and, for columns whose header says nothing we know, by their values (emails, phones, web
addresses, a list's statuses, the template's stages).
"""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from itertools import islice
from dataclasses import dataclass
from typing import Any, Mapping

from crm_sheets.adopt.aliases import FIELD_ALIASES, TABLE_ALIASES, WHOLE_NAME
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import fold
from crm_sheets.model.schema import Schema, TableSchema, normalize_header
from crm_sheets.model.tables import column_letter
from crm_sheets.model.values import as_text, is_empty

HEADER_SCAN_ROWS = 20  # title rows, notes and blank rows teams put above their headers
_EMAIL = re.compile(r"^\s*(mailto:)?[^@\s]+@[^@\s]+\.[a-z]{2,}\s*$", re.I)
_PHONE = re.compile(r"^\s*\+?[\d\s().\-/]{7,}\s*$")
_URL = re.compile(r"^\s*(https?://|www\.)\S+$", re.I)
_DATE = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}([ T].*)?|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})\s*$")  # not a phone
_FUZZY_CUTOFF = 88
_AHEAD = re.compile(r"next|due|follow|call|meeting|remind|renew|deadline|expir|birth|anniv|until|start|end|"
                    r"prochain|relance|rappel|nächst|wiedervorlage|fällig|próxim|seguimiento", re.I)
# Fields that say a sheet is this table (weight 3) rather than merely sharing a column with it (weight 1).
_KEY_FIELDS = {"leads": {"status", "source", "company"}, "contacts": {"account", "job_title"},
               "accounts": {"industry", "employees", "annual_revenue", "website"},
               "deals": {"stage", "amount", "close_date", "probability"}, "team": {"role", "territory", "capacity"},
               "activities": {"subject", "type", "date"}, "tasks": {"due", "title"}}


@dataclass(frozen=True)
class ColumnMap:
    column: str  # the column's letter
    header: str  # as the team wrote it
    field: str | None  # our field, or None: the column stays theirs (kept as it is, read as a custom column)
    found_by: str  # "header", "alias", "spelling", "values" or ""
    example: str = ""  # the first value under the header, to help a person check
    type: str = ""  # of a custom field (text, number, date...) or a date field holding times (datetime)


@dataclass(frozen=True)
class SheetMap:
    sheet: str
    table: str | None  # our table, or None: the sheet is left alone
    header_row: int  # 1-based
    rows: int  # rows with a value under the header
    columns: tuple[ColumnMap, ...]
    score: float = 0.0

    def fields(self) -> dict[str, str]:
        """field -> column letter, for the mapped columns."""
        return {c.field: c.column for c in self.columns if c.field}


def header_row(grid: list[list[Any]]) -> int | None:
    """The 0-based row that reads as a header row: the one with most short text cells over values (and at
    least two of them) within the first rows; earlier wins a tie."""
    best, best_score = None, 0.0
    for r, row in enumerate(grid[:HEADER_SCAN_ROWS]):
        texts = [c for c in row if isinstance(c, str) and c.strip() and len(c.strip()) <= 60]
        if len(texts) < 2:
            continue
        below = grid[r + 1: r + 6]
        filled = sum(1 for row2 in below for c in row2 if not is_empty(c))
        if not filled:
            continue
        known = sum(1 for c in texts if _known_word(c))
        score = len(texts) + 2 * known + min(filled, len(texts)) / 10
        if score > best_score:
            best, best_score = r, score
    return best


def _known_word(text: str) -> bool:
    return normalize_header(text) in _known_words()


@lru_cache(maxsize=1)
def _known_words() -> frozenset[str]:
    return frozenset(normalize_header(a) for words in FIELD_ALIASES.values() for a in words)


def _lookup(t: TableSchema, lang: str) -> dict[str, tuple[str, str]]:
    """folded header -> (field, found by) for one table: its titles and names first, then aliases."""
    out: dict[str, tuple[str, str]] = {}
    for f in t.fields:
        for title in (f.header(lang), f.name, *f.title.values()):
            out.setdefault(normalize_header(title), (f.name, "header"))
    for f in t.fields:
        for alias in (*f.aliases, *FIELD_ALIASES.get(f.name, ())):
            out.setdefault(normalize_header(alias), (f.name, "alias"))
    out.pop("", None)
    return out


def column_sample(grid: list[list[Any]], h: int, j: int, limit: int = 200) -> list[Any]:
    out = []
    # the first rows say what a column holds: one empty in its first 5,000 is not scanned to row 100,000
    for row in islice(grid, h + 1, h + 1 + max(5000, 25 * limit)):  # (and not grid[h + 1:], a copy per column)
        if j < len(row) and not is_empty(row[j]):
            out.append(row[j])
            if len(out) >= limit:
                break
    return out


def _share(values: list[Any], test) -> float:
    texts = [as_text(v) for v in values if isinstance(v, str)]
    return sum(1 for v in texts if test(v)) / len(values) if values else 0.0


_DATE_FIELD = {"deals": "close_date", "tasks": "due", "activities": "date"}
_FITS = {"email": {"email", "text", "long_text"}, "phone": {"phone", "text"}, "website": {"url", "text"}}


def _kind(values: list[Any]) -> str | None:
    """email, phone or website when most of a column's values are plainly that."""
    if not values:
        return None
    if _share(values, _EMAIL.match) >= 0.8:
        return "email"
    if _share(values, lambda v: bool(_PHONE.match(v)) and not _DATE.match(v) and 7 <= sum(ch.isdigit() for ch in v) <= 15) >= 0.8:
        return "phone"
    if _share(values, _URL.match) >= 0.8:
        return "website"
    return None


def _sniff(values: list[Any], t: TableSchema, free: set[str], choices: Mapping[str, set[str]],
           header: str = "") -> str | None:
    """The field a column's values say it is, when exactly one free field of the table fits them."""
    if not values:
        return None
    fits = []
    kind = _kind(values)
    if kind:
        fits.append(kind)
    elif sum(isinstance(v, (dt.date, dt.datetime)) for v in values) >= 0.8 * len(values):
        if not _AHEAD.search(header):  # "Next call", "Follow-up", "Birthday" are no creation date: the team's own
            fits.append(_DATE_FIELD.get(t.name, "created"))  # the date a table's rows are most often dated by
    elif t.name == "deals" and sum(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) >= 0.8 * len(values):
        fits.append("amount")
    else:
        texts = [fold(as_text(v)) for v in values]
        for name, known in choices.items():
            if texts and sum(1 for v in texts if v in known) / len(texts) >= 0.6:
                fits.append(name)
    fits = [f for f in fits if f in free]
    return fits[0] if len(fits) == 1 else None


def map_sheet(sheet: str, grid: list[list[Any]], t: TableSchema, schema: Schema, lang: str = "en",
              header: int | None = None) -> SheetMap | None:
    """How one sheet's columns map onto one table (None when the sheet has no header row). ``header``: the
    0-based header row when the caller knows it (an export file's first line), else it is found."""
    from rapidfuzz import fuzz, process

    h = header_row(grid) if header is None else header
    if h is None:
        return None
    lookup = _lookup(t, lang)
    width = max((len(r) for r in grid[h: h + 50]), default=0)
    rows = sum(1 for row in islice(grid, h + 1, None) if any(c != "" and c is not None for c in row))
    found: dict[int, tuple[str, str]] = {}
    taken: set[str] = set()
    headers = {j: as_text(grid[h][j]).strip() for j in range(min(width, len(grid[h]))) if not is_empty(grid[h][j])}
    if t.has_field("last_name") and not t.has_field("name"):  # one column for a person's whole name
        words = {normalize_header(text) for text in headers.values()}
        own = {normalize_header(x) for f in ("first_name", "last_name") for x in (*t.field(f).names(), *FIELD_ALIASES[f])}
        whole = {normalize_header(w) for w in WHOLE_NAME}
        j = next((j for j, text in headers.items() if normalize_header(text) in whole
                  and _kind(column_sample(grid, h, j, limit=50)) is None), None)  # "Contact" holding emails is no name
        if j is not None and not words & own:
            found[j] = ("last_name", "alias")
            taken.add("last_name")
    for j, text in headers.items():  # exact words first, so a close spelling never takes their field
        if j in found:
            continue
        hit = lookup.get(normalize_header(text))
        if hit and hit[0] not in taken:
            found[j] = hit
            taken.add(hit[0])
    keys = list(lookup)
    for j, text in headers.items():
        if j in found:
            continue
        best = process.extractOne(normalize_header(text), keys, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
        if best and lookup[best[0]][0] not in taken:
            found[j] = (lookup[best[0]][0], "spelling")
            taken.add(lookup[best[0]][0])
    for j, (name, _how) in list(found.items()):  # values that say otherwise win over a header (Kontakt: emails)
        kind = _kind(column_sample(grid, h, j, limit=50))
        if kind and t.field(name).type not in _FITS[kind]:
            del found[j]
            taken.discard(name)
    free = {f.name for f in t.fields if f.name not in taken and f.type != "id" and not f.owned_by_job}
    choices = _value_choices(t, schema)
    for j in range(width):
        if j in found:
            continue
        name = _sniff(column_sample(grid, h, j), t, free, choices, headers.get(j, ""))
        if name:
            found[j] = (name, "values")
            free.discard(name)
            taken.add(name)
    columns = []
    for j in range(width):
        header = headers.get(j, "")
        values = column_sample(grid, h, j, limit=1)
        if not header and not values:
            continue
        field, how = found.get(j, (None, ""))
        columns.append(ColumnMap(column_letter(j), header, field, how, as_text(values[0])[:60] if values else ""))
    score = sum(3 if c.field in _KEY_FIELDS.get(t.name, ()) else 1 for c in columns if c.field)
    if _named(sheet, t):
        score += 2.5
    return SheetMap(sheet, t.name, h + 1, rows, tuple(columns), score)


def _named(sheet: str, t: TableSchema) -> bool:
    """The sheet's name is one of the table's (Contacts, Kontakte, Pipeline...)."""
    return normalize_header(sheet) in {normalize_header(a) for a in (*TABLE_ALIASES.get(t.name, ()), *t.names())}


def _value_choices(t: TableSchema, schema: Schema) -> dict[str, set[str]]:
    """Dropdown fields whose values can be recognised: their list's labels, the template's stages."""
    out: dict[str, set[str]] = {}
    for f in t.fields:
        if field_type(f.type).options and not field_type(f.type).multiple and f.list and f.list in schema.lists \
                and f.name in ("status", "stage", "source"):
            out[f.name] = {fold(x) for o in schema.lists[f.list].options for x in (o.key, *o.labels.values())}
        elif f.options_from:
            src, _, col = f.options_from.partition(".")
            rows = schema.tables[src].rows if src in schema.tables else ()
            values = [r.get(col) for r in rows if r.get(col)]
            out[f.name] = {fold(str(x)) for v in values for x in (v.values() if isinstance(v, dict) else [v])}
    return {k: v for k, v in out.items() if v}


def propose(grids: Mapping[str, list[list[Any]]], schema: Schema, lang: str = "en",
            skip: frozenset[str] = frozenset(), also: dict[str, str] | None = None) -> list[SheetMap]:
    """The proposed mapping of every sheet (in workbook order): each of our data tables goes to the sheet
    that fits it best; a sheet fitting no table (or whose table went to a better sheet) is left alone, never
    read as a table it fits less (Leads 2026 beside Leads 2025 is no Contacts sheet) unless its name says
    so. ``also``: filled with sheet -> the table such a sheet fits, for a note."""
    candidates: list[SheetMap] = []
    plain: dict[str, SheetMap] = {}
    best_of: dict[str, SheetMap] = {}
    data_tables = [t for t in schema.tables.values() if t.kind == "data"]
    for sheet, grid in grids.items():
        if sheet in skip:
            continue
        best = None
        for t in data_tables:
            m = map_sheet(sheet, grid, t, schema, lang)
            if m is not None and m.score >= 2 and len([c for c in m.columns if c.field]) >= 2:
                candidates.append(m)
            if m is not None and (best is None or m.score > best.score):
                best = m
        if best is not None:
            best_of[sheet] = best
            plain[sheet] = SheetMap(sheet, None, best.header_row, best.rows,
                                    tuple(ColumnMap(c.column, c.header, None, "", c.example) for c in best.columns))
    chosen: dict[str, SheetMap] = {}
    used: set[str] = set()
    for m in sorted(candidates, key=lambda m: -m.score):
        if m.sheet in chosen or m.table in used:
            continue
        if m.score < best_of[m.sheet].score and not _named(m.sheet, schema.tables[m.table]):
            continue
        chosen[m.sheet] = m
        used.add(m.table)
    if also is not None:
        also.update({s: b.table for s, b in best_of.items() if s not in chosen and b.table in used
                     and any(c.sheet == s for c in candidates)})
    return [chosen.get(s) or plain[s] for s in grids if s in chosen or s in plain]
