"""What `adopt` makes of a mapped sheet's columns beyond the fields it found: the team's own columns become
custom fields of the table (typed by their values, never dropped, never moved), a "Salesforce ID" column
is the external ID import matches by, a whole-name column of "Last, First" names is read as both names,
and a date column whose values carry a time stays a date-time column.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Any

from crm_sheets.adopt.propose import SheetMap, column_sample
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Schema, normalize_header
from crm_sheets.model.values import as_text, is_empty
from crm_sheets.store.mapping import WHOLE_NAME, column_index

EXTERNAL_ID = "external_id"  # the custom field import keeps each record's source ID in (imports/plan.py)
_EXTERNAL = re.compile(r"^(salesforce|sfdc|sf|hubspot|hubspotrecord|pipedrive|zoho|dynamics|crm|external|source|record|"
                       r"legacy|old)(record)?id(18|15)?$|^idextern[eo]?$|^externeid$|^(18|15)digitid$")  # folded headers
_DATE_TEXT = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})([ T]\d{1,2}:\d{2}(:\d{2})?\S*)?\s*$")
_LAST_FIRST = re.compile(r"^[^,\d@()]{2,},\s*[^,\d@()]{2,}$")


def settle(sm: SheetMap, grid: list[list[Any]], schema: Schema, taken: set[str] | None = None) -> SheetMap:
    """The sheet's mapping with every column given a meaning: ``taken``, names already used by the
    table's other columns (a second adopt's new columns must not take them again)."""
    if not sm.table:
        return sm
    t = schema.tables[sm.table]
    h = sm.header_row - 1
    used = {c.field for c in sm.columns if c.field} | set(taken or ())
    out = []
    for c in sm.columns:
        j = column_index(c.column)
        values = column_sample(grid, h, j, limit=500)
        if c.field == "id" and t.id_prefix and not our_ids(values, t.id_prefix):  # their own numbering (1, 2, 3...)
            free = EXTERNAL_ID not in used and not t.has_field(EXTERNAL_ID)
            c = replace(c, field=None, found_by="")
            if free:
                c = replace(c, field=EXTERNAL_ID, found_by="values", type="text")
                used.add(EXTERNAL_ID)
        if c.field == "last_name" and "first_name" not in used and last_name_first(values):
            c = replace(c, field=WHOLE_NAME, found_by="values")
        elif c.field and t.has_field(c.field) and field_type(t.field(c.field).type).temporal:
            c = replace(c, type=_temporal(values) or t.field(c.field).type)
        elif not c.field:
            key = normalize_header(c.header)
            if key and _EXTERNAL.match(key) and EXTERNAL_ID not in used and not t.has_field(EXTERNAL_ID):
                c = replace(c, field=EXTERNAL_ID, found_by="alias", type="text")
            else:
                name = own_name(c.header or f"column {c.column}")
                while name in used or t.has_field(name):
                    name += "_2"
                c = replace(c, field=name, found_by="custom", type=value_type(values))
            used.add(c.field)
        out.append(c)
    return replace(sm, columns=tuple(out))


def our_ids(values: list[Any], prefix: str) -> bool:
    """A column of our record IDs (L-00042), or empty: what an "ID" header must hold to be our ID column."""
    texts = [as_text(v).strip() for v in values if not is_empty(v)]
    pattern = re.compile(rf"^{re.escape(prefix)}-\d+$")
    return sum(1 for v in texts if pattern.match(v)) >= 0.8 * len(texts)


def own_name(header: str) -> str:
    """A field name for a team's column: lower case, digits and _ (Région -> region, 2025 Budget -> field_2025_budget)."""
    import unicodedata

    text = unicodedata.normalize("NFKD", header.replace("ß", "ss")).encode("ascii", "ignore").decode().lower()
    name = re.sub(r"[^a-z0-9]+", "_", text).strip("_")[:40].strip("_")
    return name if re.match(r"^[a-z]", name) else f"field_{name}".rstrip("_")


def value_type(values: list[Any]) -> str:
    """The type a column's values all have (cells typed as numbers or dates), else text."""
    if not values:
        return "text"
    temporal = _temporal(values, text=False)  # dates typed as text stay text in a column of the team's own
    if temporal:
        return temporal
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "number"
    if all(isinstance(v, bool) for v in values):
        return "checkbox"
    return "long_text" if any(isinstance(v, str) and "\n" in v for v in values) else "text"


def _temporal(values: list[Any], text: bool = True) -> str | None:
    """date when every value is a date, datetime when they are dates and some carry a time (kept); dates
    written as text count ("2025-03-14 10:32" from an export saved as a workbook)."""
    from crm_sheets.model.values import parse_datetime

    if not values:
        return None
    timed = False
    for v in values:
        if text and isinstance(v, str) and _DATE_TEXT.match(v):
            v = parse_datetime(v.strip())
        if not isinstance(v, (dt.date, dt.datetime)):
            return None
        timed = timed or isinstance(v, dt.datetime) and v.time() != dt.time()
    return "datetime" if timed else "date"


def last_name_first(values: list[Any]) -> bool:
    """Names written "Lopez, Ana": nearly all of them (a stray "Madonna" is fine), and at least two."""
    texts = [" ".join(as_text(v).split()) for v in values if not is_empty(v)]
    hits = sum(1 for v in texts if _LAST_FIRST.match(v))
    return hits >= 2 and hits >= 0.9 * len(texts)


def team_country(sheets: list[SheetMap], grids: dict[str, list[list[Any]]]) -> str | None:
    """The country a team's phone numbers without a country code belong to, as a two-letter code: the one
    its Country cells name most, else the one most of its numbers with a code (+49, 0049) have. None when
    nothing says."""
    from collections import Counter

    import phonenumbers

    from crm_sheets.model.normalize import country_code

    named: Counter[str] = Counter()
    dialled: Counter[str] = Counter()
    for s in sheets:
        where = s.fields()
        grid = grids.get(s.sheet, [])
        for name in ("phone", "mobile", "country"):
            if name not in where:
                continue
            for v in column_sample(grid, s.header_row - 1, column_index(where[name]), limit=500):
                text = as_text(v).strip()
                if name == "country":
                    code = country_code(text) if text else None
                    named.update([code] if code else [])
                elif text.startswith(("+", "00")):
                    try:
                        code = phonenumbers.region_code_for_number(phonenumbers.parse("+" + text.lstrip("+0"), None))
                    except phonenumbers.NumberParseException:
                        code = None
                    dialled.update([code] if code and code != "ZZ" else [])
    votes = named or dialled
    if not votes:
        return None
    code, n = votes.most_common(1)[0]
    return code if 2 * n > sum(votes.values()) else None  # most of them, not the first of many countries


_LANG_OF = {"DE": "de", "AT": "de", "CH": "de", "FR": "fr", "BE": "fr", "LU": "fr", "ES": "es", "MX": "es", "AR": "es",
            "CO": "es", "CL": "es", "IT": "it", "PT": "pt", "BR": "pt", "NL": "nl", "SE": "sv", "DK": "da", "NO": "nb",
            "FI": "fi", "PL": "pl", "US": "en", "GB": "en", "IE": "en", "AU": "en", "NZ": "en", "CA": "en", "IN": "en"}
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[./-](\d{1,2})[./-]\d{2,4}\b")


def team_locale(sheets: list[SheetMap], grids: dict[str, list[list[Any]]], schema: Schema, country: str | None) -> str | None:
    """The locale a team's dates typed as text (and numbers) are written in: day first when one of them
    can only be read so (25/04/2025), month first when one can only be read that way (12/15/2026), else
    the usual one of its country. None when nothing says (03/04/2025 then stays unread, never guessed)."""
    day_first = month_first = False
    for s in sheets:
        t = schema.tables[s.table]
        for c in s.columns:
            if not (c.field and t.has_field(c.field) and field_type(t.field(c.field).type).temporal):
                continue
            for v in column_sample(grids.get(s.sheet, []), s.header_row - 1, column_index(c.column), limit=500):
                m = _NUMERIC_DATE.match(v) if isinstance(v, str) else None
                if m:
                    day_first |= int(m.group(1)) > 12
                    month_first |= int(m.group(2)) > 12
    lang = _LANG_OF.get(country or "", "en")
    if day_first and not month_first:
        return f"{lang}-{country}" if country and country != "US" else "en-GB"
    if month_first and not day_first:
        return "en-US"
    return f"{lang}-{country}" if country and country in _LANG_OF else None
