"""An import's rows as source records: each file's mapped rows become one ``Rec`` per table (values by
field, links by source ID, the external ID), before the planner (imports/plan.py) finds each its record;
and whether a source value is one the workbook already holds.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from crm_sheets.imports.mapping import FileMap, custom_title
from crm_sheets.jobs.dedupe.keys import website_domain  # one notion of 'same company' with dedupe
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import fold
from crm_sheets.model.schema import Field, normalize_header
from crm_sheets.model.values import cell_text, fold_option, is_blank, is_empty, literal

TABLE_ORDER = ("accounts", "clients", "contacts", "people", "leads", "deals")
PEOPLE = ("leads", "contacts", "people")
EXTERNAL_ID = "external_id"  # the custom field that keeps each record's ID in the system it came from
EXTERNAL_KEY = "externalid"
EXTERNAL_TITLE = {"en": "External ID", "fr": "ID externe", "de": "Externe ID", "es": "ID externo"}
_GUARD = re.compile(r"^'(?=[=+\-@\t\r\n])")  # our CSV export writes '= so a spreadsheet shows text: read back as =
_OUR_ID = re.compile(r"^[A-Z]{1,4}-\d+$")

@dataclass(eq=False)  # a record is itself: compared and hashed by identity
class Rec:
    file: str
    line: int
    table: str
    vendor: str
    raw_id: str = ""
    ext: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # field -> raw value
    columns: dict[str, str] = field(default_factory=dict)  # field -> the header it came from
    links: list[tuple[str, str, str, Any, str]] = field(default_factory=list)  # (field, table, by, value, header)
    owner_id: str = ""
    full_name: str = ""
    status: str = ""
    row: dict[str, "Rec"] = field(default_factory=dict)  # the records of the same row (Pipedrive), by table
    id: str = ""
    new: bool = False
    fill_only: bool = False  # found by the dedupe rules or holding another system's record: fills blanks only


def _unguard(text: str) -> str:
    return _GUARD.sub("", text) if text[:1] == "'" else text


def domain(value: str) -> str:
    """A web address or a mailbox's domain ('https://www.Acme.com/x' -> 'acme.com'), '' when it has no dot."""
    found = website_domain(cell_text(value, strip=True))
    return found if "." in found else ""


# ---------------------------------------------------------------------------------------------
# Rows -> records


def records(maps: list[FileMap]) -> list[Rec]:
    out: list[Rec] = []
    for fm in maps:
        for line, cells in fm.file.rows:
            row: dict[str, Rec] = {}
            for part in fm.parts:
                rec = Rec(fm.file.name, line, part.table, fm.vendor)
                for j, target in part.columns.items():
                    raw = cells[j] if j < len(cells) else None
                    if isinstance(raw, str):
                        raw = literal(_unguard(raw.strip()))  # exactly as in the file, kept text
                    if is_empty(raw):
                        continue
                    header = fm.file.headers[j]
                    kind = target.kind
                    if kind == "ext":
                        rec.raw_id = cell_text(raw, strip=True)
                    elif kind == "owner_id":
                        rec.owner_id = cell_text(raw, strip=True)
                    elif kind == "full_name":
                        rec.full_name = cell_text(raw, strip=True)
                    elif kind == "status":
                        rec.status = cell_text(raw, strip=True)
                    elif kind == "link":
                        rec.links.append((target.field, target.table, target.by, raw, header))
                    elif kind == "alt" and target.field in rec.values:
                        _custom(rec, fm, header, raw)
                    elif kind == "custom":
                        _custom(rec, fm, header, raw)
                    elif target.field not in rec.values:
                        rec.values[target.field] = raw
                        rec.columns[target.field] = header
                    elif cell_text(raw, strip=True) != cell_text(rec.values[target.field], strip=True):
                        _custom(rec, fm, header, raw)  # a second column for the field, saying otherwise: kept too
                _finish(rec)
                row[part.table] = rec
                out.append(rec)
            for rec in row.values():
                rec.row = row
    return out


def _custom(rec: Rec, fm: FileMap, header: str, raw: Any) -> None:
    title = custom_title(header, fm.vendor)
    if normalize_header(title) == EXTERNAL_KEY:  # our export's External ID column, read back before the field exists
        rec.values.setdefault("external_id", raw)
        return
    rec.values.setdefault(("custom", title), raw)
    rec.columns[("custom", title)] = header


def _finish(rec: Rec) -> None:
    if rec.full_name and not (rec.values.get("first_name") or rec.values.get("last_name")):
        if rec.table in PEOPLE or rec.table == "contacts":
            first, last = split_name(rec.full_name)
            if first:
                rec.values["first_name"] = first
            rec.values["last_name"] = last
        else:
            rec.values.setdefault("name", rec.full_name)
    if rec.owner_id and "owner" not in rec.values:
        rec.values["owner"] = rec.owner_id  # no owner name in the export: the source's user ID is kept
    if rec.status and normalize_header(rec.status) in ("won", "lost"):
        rec.values["stage"] = rec.status  # Pipedrive: a won or lost deal keeps its last stage in Deal - Stage
    ext_given = rec.values.pop("external_id", None)
    if ext_given is not None:
        rec.ext = cell_text(ext_given, strip=True)
    elif rec.raw_id and not _OUR_ID.match(rec.raw_id):  # our own ID (an export of a workbook) is no source ID
        rec.ext = f"{rec.vendor}:{rec.raw_id}"


def split_name(name: str) -> tuple[str, str]:
    """"Last, First" or "First Last" -> (first, last)."""
    text = " ".join(name.split())
    if "," in text:
        last, _, first = text.partition(",")
        return first.strip(), last.strip()
    first, _, last = text.rpartition(" ")
    return (first, last) if first else ("", text)


def plain_value(v: Any) -> Any:
    if is_blank(v):
        return None
    if hasattr(v, "to_pydatetime"):
        return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, str):
        return v.item()
    return v


def same_value(f: Field, old: Any, new: Any) -> bool:
    """Whether the workbook already holds the imported value, at the precision its column keeps."""
    ftype = field_type(f.type)
    if type(old) is type(new) and old == new and not ftype.temporal:
        return True  # the common case of a re-import, decided without the checks below
    if is_blank(old):
        return is_blank(new)
    old = plain_value(old)
    if ftype.temporal:
        if not isinstance(old, (date, datetime)) or not isinstance(new, (date, datetime)):
            return cell_text(old, strip=True) == cell_text(new, strip=True)
        a = old if isinstance(old, datetime) else datetime(old.year, old.month, old.day)
        b = new if isinstance(new, datetime) else datetime(new.year, new.month, new.day)
        return a.replace(microsecond=0) == b.replace(microsecond=0) if ftype.with_time else a.date() == b.date()
    if ftype.numeric:
        try:
            return math.isclose(float(old), float(new), rel_tol=1e-9, abs_tol=1e-9)
        except (TypeError, ValueError):
            return cell_text(old, strip=True) == cell_text(new, strip=True)
    if ftype.boolean:
        return bool(old) == bool(new) if isinstance(new, bool) else cell_text(old, strip=True) == cell_text(new, strip=True)
    if ftype.compare == "digits":
        digits = lambda x: re.sub(r"\D", "", cell_text(x, strip=True))  # noqa: E731
        return digits(old) == digits(new)
    if ftype.compare == "casefold":
        return cell_text(old, strip=True).casefold() == cell_text(new, strip=True).casefold()
    if ftype.compare == "option":
        return fold_option(cell_text(old, strip=True)) == fold_option(cell_text(new, strip=True))
    if ftype.compare == "fold":
        return fold(cell_text(old, strip=True)) == fold(cell_text(new, strip=True))
    return cell_text(old, strip=True) == cell_text(new, strip=True)
