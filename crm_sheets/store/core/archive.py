"""The neutral archive format: a record's whole sheet row as the "Original row" JSON of an archive table
(Merged, Audit), written by any backend and restored by any backend.

The JSON keeps each cell's value readable under its header ({"Email": "ana@example.com", "Created":
"2025-03-14"}) and, under "_cells", how to write it back: its column, its type, its formula text and its
number format. Nothing of one medium (style or shared-string indices, XML) is recorded. Rows archived by
earlier versions (an .xlsx cell record with style and shared-string indices) are still read: their cells
carry that record as ``legacy`` for the xlsx backend, which restores them exactly as before.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

FORMAT = 2  # the "_format" of the neutral JSON; rows without it are the old .xlsx records
TYPES = ("text", "number", "bool", "date", "datetime", "time", "error")


@dataclass(frozen=True)
class ArchivedCell:
    """One non-empty cell of an archived row."""

    key: str  # its column's header, or "[B]" for a column without one (or a header seen twice)
    column: str  # the column letter it was in ("B"): where it goes back when no header matches
    value: Any = None  # str, int, float, bool, datetime.date/datetime/time; None for a formula without a value
    type: str = "text"  # one of TYPES
    formula: str | None = None  # the formula's text without "=", when the cell held one
    number_format: str | None = None  # the format code when it is not General: "yyyy-mm-dd", "#,##0.00"
    legacy: Mapping[str, Any] | None = None  # a row archived by an older version: its .xlsx cell record


@dataclass(frozen=True)
class ArchivedRow:
    cells: tuple[ArchivedCell, ...]
    height: float | None = None  # the row's custom height in points
    hidden: bool = False
    legacy_row: str | None = None  # an old .xlsx row's attributes (ht="30" customHeight="1"), for the xlsx backend
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, Any]:
        """Header -> value, as a person reads the archived row."""
        return {c.key: c.value for c in self.cells}


def value_type(value: Any) -> str:
    """The archive type of a plain cell value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    return "text"


def dumps(row: ArchivedRow) -> str:
    """The Original row JSON of ``row`` (compact, UTF-8 kept)."""
    data: dict[str, Any] = {}
    cells: dict[str, Any] = {}
    for c in row.cells:
        rec: dict[str, Any] = {"c": c.column, "t": c.type}
        if c.formula is not None:
            rec["f"] = c.formula
        if c.number_format:
            rec["nf"] = c.number_format
        if c.value is not None:
            data[c.key] = c.value.isoformat() if isinstance(c.value, (dt.date, dt.time)) else c.value
        cells[c.key] = rec
    data["_cells"] = cells
    shape = {k: v for k, v in (("height", row.height), ("hidden", row.hidden or None)) if v is not None}
    if shape:
        data["_row"] = shape
    data["_format"] = FORMAT
    return json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))


def loads(text: str) -> ArchivedRow:
    """An archived row from its Original row JSON, neutral or old; ValueError when it is not one."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not an archived row")
    if data.get("_format") == FORMAT:
        return _neutral(data)
    return _legacy(data)


def _neutral(data: Mapping[str, Any]) -> ArchivedRow:
    cells = []
    for key, rec in (data.get("_cells") or {}).items():
        t = rec.get("t", "text")
        value = _typed(data.get(key), t)
        cells.append(ArchivedCell(key, str(rec.get("c") or ""), value, t, rec.get("f"), rec.get("nf")))
    shape = data.get("_row") or {}
    return ArchivedRow(tuple(cells), height=shape.get("height"), hidden=bool(shape.get("hidden")))


def _typed(value: Any, t: str) -> Any:
    if value is None or not isinstance(value, str):
        return value
    try:
        if t == "date":
            return dt.date.fromisoformat(value)
        if t == "datetime":
            return dt.datetime.fromisoformat(value)
        if t == "time":
            return dt.time.fromisoformat(value)
    except ValueError:
        return value  # edited by hand into something else: kept as text
    return value


_LEGACY_TYPES = {"text": "text", "n": "number", "b": "bool", "str": "text", "e": "error", "d": "text"}


def _legacy(data: Mapping[str, Any]) -> ArchivedRow:
    """A row archived by the .xlsx writer before the neutral format: {header: value, "_cells": {header:
    {"c", "s", "t", "i", "raw", "f"}}, "_row": row attributes}."""
    cells = []
    for key, rec in (data.get("_cells") or {}).items():
        value = data.get(key)
        t = _LEGACY_TYPES.get(str(rec.get("t")), "text") if "t" in rec else value_type(value)
        cells.append(ArchivedCell(key, str(rec.get("c") or ""), value, t, rec.get("f"), None,
                                  legacy={**rec, "v": value} if key in data else dict(rec)))
    row = data.get("_row")
    return ArchivedRow(tuple(cells), legacy_row=row if isinstance(row, str) and row.strip() else None)


def is_date_format(code: str | None) -> bool:
    """Whether a number format shows a date (d, m with y, y): quoted text and [colour] sections aside."""
    if not code:
        return False
    import re

    bare = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.', "", code.split(";")[0]).lower()
    return bool(re.search(r"[dy]", bare))


def has_time(code: str | None) -> bool:
    """Whether a number format shows a time of day (h or s)."""
    if not code:
        return False
    import re

    bare = re.sub(r'"[^"]*"|\\.|_.|\*.', "", code.split(";")[0]).lower()
    bare = re.sub(r"\[(?!h\]|m\]|s\])[^\]]*\]", "", bare)
    return bool(re.search(r"[hs]", bare))
