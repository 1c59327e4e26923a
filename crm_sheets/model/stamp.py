"""The "generated" time of an owned sheet: when what it shows last changed, not when the job last ran.

A job lays its sheets out with STAMP where the time goes; `stamped` fills it in from the job's state (per
sheet, a digest of the content and its time), so a sheet that comes out the same renders byte for byte as
it is and a run that finds nothing new writes nothing.
"""
from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from typing import Any

from crm_sheets.model.sheets import Cell, SheetSpec

STAMP = "\ue000generated\ue000"  # a placeholder no data can contain (a private-use character)
STATE_VERSION = 1


def stamped(sheets: list[SheetSpec], now: datetime, state: dict[str, Any] | None,
            digests: dict[str, str] | None = None) -> tuple[list[SheetSpec], dict[str, Any]]:
    """The sheets with their time filled in (``now``, or the time of the last run whose same sheet showed
    exactly this), and the state that remembers it for the next run. ``digests``: per sheet key, a digest the job
    already has of everything the sheet shows besides the time (equal digests, equal sheets): used instead of
    hashing the laid-out sheet (Data Issues: its findings' digest, made before it is laid out)."""
    state = state or {}
    before = (state.get("sheets") or {}) if state.get("version") == STATE_VERSION else {}
    current = now.strftime("%Y-%m-%d %H:%M")
    out, kept = [], {}
    for spec in sheets:
        digest = (digests or {}).get(spec.key) or spec_digest(spec)
        seen = before.get(spec.key) or {}
        stamp = seen["stamp"] if seen.get("digest") == digest and seen.get("stamp") else current
        kept[spec.key] = {"digest": digest, "stamp": stamp}
        out.append(_fill(spec, stamp))
    return out, {"version": STATE_VERSION, "sheets": kept}


def spec_digest(spec: SheetSpec) -> str:
    """sha256 of ``repr(spec)``, hashed row by row: the repr of a Data Issues sheet at 100k leads is a string of
    hundreds of MB (and its UTF-8 copy as many again), made only to be hashed. A row's repr is made by
    _row_repr (the same text, without a dataclass repr call per cell)."""
    h = hashlib.sha256()
    rows = spec.rows
    if type(rows) is not list:
        h.update(repr(spec).encode("utf-8"))
        return h.hexdigest()
    h.update(f"{type(spec).__qualname__}(".encode("utf-8"))
    first = True
    seen: dict[int, str] = {}
    for f in dataclasses.fields(spec):
        if not f.repr:
            continue
        h.update(("" if first else ", ").encode("utf-8") + f"{f.name}=".encode("utf-8"))
        first = False
        if f.name != "rows":
            h.update(repr(getattr(spec, f.name)).encode("utf-8"))
            continue
        h.update(b"[")  # list.__repr__, one row at a time
        for i, row in enumerate(rows):
            h.update(((", " if i else "") + _row_repr(row, seen)).encode("utf-8"))
        h.update(b"]")
    h.update(b")")
    return h.hexdigest()


_CELL_FIELDS = tuple(f.name for f in dataclasses.fields(Cell) if f.repr)


def _row_repr(row: Any, seen: dict[int, str]) -> str:
    """``repr(row)`` of a list of cells; a Cell's text is written out here (its dataclass repr goes through a
    recursion guard per call, most of the time of a big sheet's digest) and made once per Cell object (the
    severity, sheet and column cells repeat on every row of Data Issues; ``seen`` lives while the sheet does)."""
    if type(row) is not list or _CELL_FIELDS != ("value", "style", "link", "currency", "formula"):
        return repr(row)
    parts = []
    for c in row:
        if c.__class__ is Cell:
            text = seen.get(id(c))
            if text is None:
                text = seen[id(c)] = (f"Cell(value={c.value!r}, style={c.style!r}, link={c.link!r}, "
                                      f"currency={c.currency!r}, formula={c.formula!r})")
            parts.append(text)
        else:
            parts.append(repr(c))
    return "[" + ", ".join(parts) + "]"


def still_shown(state: dict[str, Any] | None, inputs: str, tables: Any) -> bool:
    """Whether the sheets a job laid out from these same ``inputs`` (a digest the job keeps in its state beside
    the stamps) are all in the workbook, marked as ours in _crm_meta: then they show exactly what the job
    would lay out, and it need not lay them out (a sheet a person deleted is made again)."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION or state.get("inputs") != inputs:
        return False
    sheets = state.get("sheets") or {}
    taken = {str(s).casefold() for s in tables.sheet_names}
    marks = [tables.meta.get(f"sheet.{key}") for key in sheets]
    return bool(sheets) and all(m and str(m).casefold() in taken for m in marks)


def _fill(spec: SheetSpec, stamp: str) -> SheetSpec:
    def one(c: Any) -> Any:
        if isinstance(c, Cell) and isinstance(c.value, str) and STAMP in c.value:
            return dataclasses.replace(c, value=c.value.replace(STAMP, stamp))
        if isinstance(c, str) and STAMP in c:
            return c.replace(STAMP, stamp)
        return c

    def plain(row: list) -> bool:
        """No cell of the row holds the stamp (looked at inline: a call per cell was most of it)."""
        for c in row:
            if c.__class__ is Cell:
                v = c.value
                if v.__class__ is str and STAMP in v:
                    return False
            elif c.__class__ is str:
                if STAMP in c:
                    return False
            elif c is not None and one(c) is not c:  # numbers, subclasses: asked the slow way
                return False
        return True

    def row_of(row: Any) -> Any:
        if type(row) is list and plain(row):
            return row  # a row without the stamp stays the same object: a Data Issues sheet at 100k leads has 170,000 rows
        new = [one(c) for c in row]
        return row if type(row) is list and all(a is b for a, b in zip(new, row)) else new

    return dataclasses.replace(spec, rows=[row_of(row) for row in spec.rows])
