"""Cell XML in and out: the shared strings, the value a <c> element shows, and archived cells (the store core's
neutral format, plus the old .xlsx records of rows archived before it) written back as cells.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from typing import Any
from xml.sax.saxutils import escape

from crm_sheets.store.core.archive import ArchivedCell, has_time, is_date_format
from crm_sheets.store.xlsx.package import refuse_dtd
from crm_sheets.model.values import from_serial
from crm_sheets.store.xlsx.sheetxml import cell_xml, excel_serial, inline_string, number_text
from crm_sheets.store.xlsx.sheet import T_ATTR, CellXml




class SharedStrings:
    """xl/sharedStrings.xml, split once (at C speed) and decoded only where a cell we read points."""

    def __init__(self, data: bytes, part: str):
        refuse_dtd(data, part)
        text = data.decode("utf-8")
        m = re.search(r"<(\w+:)?sst\b", text)
        p = (m.group(1) or "") if m else ""
        self._close = f"</{p}si>"
        self.items = text.split(f"<{p}si")[1:]  # each starts with ">" or "/>" of its <si>
        self.cache: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.items)

    def has(self, i: int) -> bool:
        return 0 <= i < len(self.items)

    def __getitem__(self, i: int) -> str:
        if i not in self.cache:
            item = self.items[i]
            body = "" if item.startswith("/>") else item[item.index(">") + 1: item.find(self._close)]
            self.cache[i] = _inline_text(body)
        return self.cache[i]


_unescape = html.unescape  # returns its argument at once when it holds no "&"
_RPH = re.compile(r"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_T = re.compile(r"<(?:\w+:)?t\b[^>]*>(.*?)</(?:\w+:)?t>", re.S)
_V = re.compile(r"<(?:\w+:)?v>(.*?)</(?:\w+:)?v>", re.S)
_F = re.compile(r"<(?:\w+:)?f\b([^>]*)>(.*?)</(?:\w+:)?f>", re.S)


def _inline_text(xml: str) -> str:
    # each archived record reads every cell of its row (a first run at 30k leads archives ~1,800): no phonetic
    # runs to drop in most cells, and one text run in most
    body = _RPH.sub("", xml) if "rPh" in xml else xml
    runs = _T.findall(body)
    if len(runs) == 1:
        return _unescape(runs[0])
    return "".join(_unescape(t) for t in runs)


def _value_text(xml: str) -> str | None:
    m = _V.search(xml)
    return _unescape(m.group(1)) if m else None


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _sst_has(sst: "SharedStrings | list[str]", i: int) -> bool:
    return sst.has(i) if isinstance(sst, SharedStrings) else 0 <= i < len(sst)


def cell_value(cell: CellXml, sst: "SharedStrings | list[str]") -> Any:
    """The value a cell shows (text, number, bool), as stored: no number format applied."""
    tag = cell.open_tag
    t = T_ATTR.search(tag)
    t = t.group(1) if t else "n"
    if t == "inlineStr":
        return _inline_text(cell.xml)
    v = _value_text(cell.xml)
    if v is None:
        return None
    if t == "s":
        i = int(v)
        return sst[i] if _sst_has(sst, i) else None
    if t == "b":
        return v.strip() in ("1", "true")
    if t in ("str", "e", "d"):
        return v
    try:
        return _number(v)
    except ValueError:
        return v


def archived_cell(key: str, cell: CellXml, sst: "SharedStrings | list[str]", number_format: str | None,
                  date1904: bool) -> ArchivedCell | None:
    """A cell in the neutral archive format (None for a cell holding nothing): a number shown as a date
    becomes the date, text stays text, a formula keeps its text (shared and array formulas only their value)."""
    t = T_ATTR.search(cell.open_tag)
    t = t.group(1) if t else "n"
    value = cell_value(cell, sst)
    f = _F.search(cell.xml) if "f>" in cell.xml else None  # a formula ends </f> (or </x:f>): most cells hold none
    formula = _unescape(f.group(2)) if f and 't="shared"' not in f.group(1) and 't="array"' not in f.group(1) else None
    if value is None and formula is None:
        return None
    kind = {"b": "bool", "e": "error", "n": "number"}.get(t, "text")
    if kind == "number" and isinstance(value, str):
        kind = "text"  # a number cell holding something else: kept as its text
    if kind == "number" and value is not None and is_date_format(number_format):
        when = from_serial(float(value), date1904)
        if when is not None:
            whole = when == dt.datetime(when.year, when.month, when.day)
            value, kind = (when.date(), "date") if whole and not has_time(number_format) else (when, "datetime")
    return _archived(key, cell.col, value, kind, formula, number_format)


_CELL_FIELDS = ("key", "column", "value", "type", "formula", "number_format", "legacy")
# ArchivedCell is a frozen dataclass: its __init__ sets each field through object.__setattr__, about half of an
# archived record's cost (a first run at 30k leads archives ~1,800 records of ~18 cells). A cell made with its
# fields in the same order is equal, hashed and pickled alike; a class that changes its fields takes __init__.
_QUICK = tuple(f.name for f in dataclasses.fields(ArchivedCell)) == _CELL_FIELDS and not hasattr(ArchivedCell, "__post_init__")


def _archived(key: str, column: str, value: Any, kind: str, formula: str | None, number_format: str | None) -> ArchivedCell:
    if not _QUICK:
        return ArchivedCell(key, column, value, kind, formula, number_format)
    c = object.__new__(ArchivedCell)
    c.__dict__.update(key=key, column=column, value=value, type=kind, formula=formula, number_format=number_format,
                      legacy=None)
    return c


def archived_xml(ref: str, cell: ArchivedCell, style: int | None, date1904: bool) -> str:
    """Write an archived cell back: its value as its type, its formula (never a value parsed as one)."""
    s = f' s="{style}"' if style else ""
    f = f"<f>{escape(cell.formula)}</f>" if cell.formula else ""
    v = cell.value
    if not f:
        if cell.type == "error" and v is not None:
            return f'<c r="{ref}"{s} t="e"><v>{escape(str(v))}</v></c>'
        return cell_xml(ref, v, style, date1904)
    if v is None:
        return f'<c r="{ref}"{s}>{f}</c>'
    if cell.type == "bool":
        return f'<c r="{ref}"{s} t="b">{f}<v>{int(bool(v))}</v></c>'
    if cell.type == "error":
        return f'<c r="{ref}"{s} t="e">{f}<v>{escape(str(v))}</v></c>'
    if cell.type in ("date", "datetime") and isinstance(v, (dt.date, dt.datetime)):
        return f'<c r="{ref}"{s}>{f}<v>{number_text(excel_serial(v, date1904))}</v></c>'
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f'<c r="{ref}"{s}>{f}<v>{number_text(v)}</v></c>'
    return f'<c r="{ref}"{s} t="str">{f}<v>{escape(str(v))}</v></c>'


def record_xml(ref: str, rec: dict[str, Any], sst: "SharedStrings | list[str]") -> str:
    """Write a cell back from the .xlsx cell record of a row archived before the neutral format: same value
    type, style, shared-string index when still valid."""
    s = f' s="{rec["s"]}"' if rec.get("s") else ""
    t, v = rec.get("t"), rec.get("v")
    f = f"<f>{escape(rec['f'])}</f>" if rec.get("f") else ""
    if v is None and not f:
        return f'<c r="{ref}"{s}/>' if s else ""
    if t == "text":
        i = rec.get("i")
        if i is not None and _sst_has(sst, i) and sst[i] == v:
            return f'<c r="{ref}"{s} t="s"><v>{i}</v></c>'
        return inline_string(ref, str(v), rec.get("s"))
    if t == "b":
        return f'<c r="{ref}"{s} t="b">{f}<v>{int(bool(v))}</v></c>'
    if t in ("str", "e", "d"):
        return f'<c r="{ref}"{s} t="{t}">{f}<v>{escape(str(v))}</v></c>'
    if v is None:
        return f'<c r="{ref}"{s}>{f}</c>'
    return f'<c r="{ref}"{s}>{f}<v>{escape(rec.get("raw") or number_text(v))}</v></c>'
