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


def stamped(sheets: list[SheetSpec], now: datetime, state: dict[str, Any] | None) -> tuple[list[SheetSpec], dict[str, Any]]:
    """The sheets with their time filled in (``now``, or the time of the last run whose same sheet showed
    exactly this), and the state that remembers it for the next run."""
    state = state or {}
    before = (state.get("sheets") or {}) if state.get("version") == STATE_VERSION else {}
    current = now.strftime("%Y-%m-%d %H:%M")
    out, kept = [], {}
    for spec in sheets:
        digest = spec_digest(spec)
        seen = before.get(spec.key) or {}
        stamp = seen["stamp"] if seen.get("digest") == digest and seen.get("stamp") else current
        kept[spec.key] = {"digest": digest, "stamp": stamp}
        out.append(_fill(spec, stamp))
    return out, {"version": STATE_VERSION, "sheets": kept}


def spec_digest(spec: SheetSpec) -> str:
    """sha256 of ``repr(spec)``, hashed row by row: the repr of a Data Issues sheet at 100k leads is a string of
    hundreds of MB (and its UTF-8 copy as many again), made only to be hashed."""
    h = hashlib.sha256()
    rows = spec.rows
    if type(rows) is not list:
        h.update(repr(spec).encode("utf-8"))
        return h.hexdigest()
    h.update(f"{type(spec).__qualname__}(".encode("utf-8"))
    first = True
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
            h.update(((", " if i else "") + repr(row)).encode("utf-8"))
        h.update(b"]")
    h.update(b")")
    return h.hexdigest()


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

    def row_of(row: Any) -> Any:
        new = [one(c) for c in row]
        # a row without the stamp stays the same object: a Data Issues sheet at 100k leads has 170,000 rows
        return row if type(row) is list and all(a is b for a, b in zip(new, row)) else new

    return dataclasses.replace(spec, rows=[row_of(row) for row in spec.rows])
