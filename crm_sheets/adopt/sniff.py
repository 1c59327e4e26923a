"""A lead sheet the reader cannot place by its name ("Lead", "Sheet1", "Kunden", "CRM"...) but whose headers
are plainly leads, found without `adopt`: the reader asks here when a workbook has no Mapping sheet and no
sheet named as its leads table, and reads the sheet with the columns found (as a Mapping sheet would say).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from crm_sheets.model.schema import Schema, normalize_header
from crm_sheets.store.mapping import WHOLE_KEY, TableMapping, column_index

_NAMED_BY = ("header", "alias", "spelling")  # values alone never make a sheet leads
_PEOPLE = {"email", "last_name", "first_name"}
_LEADISH = {"company", "status", "source", "phone", "owner", "job_title"}


def plain_lead_sheet(sheets: Iterable[str], grids: Mapping[str, list[list[Any]]], schema: Schema,
                     located: Mapping[str, Any], skip: Iterable[str] = (), lang: str = "en") -> dict[str, TableMapping]:
    """{"leads": where} for the first sheet whose headers plainly name leads (a person's email or name and
    at least two of company, status, source, phone, owner, job title; most of its headers known), when no
    sheet holds the template's leads yet; else {}."""
    from crm_sheets.adopt.columns import last_name_first, our_ids
    from crm_sheets.adopt.propose import column_sample, map_sheet

    t = schema.tables.get("leads")
    if t is None or "leads" in located:
        return {}
    taken = {w[0] for w in located.values()} | set(skip)
    for sheet in sheets:
        if sheet in taken or sheet.startswith("_"):
            continue
        m = map_sheet(sheet, grids[sheet], t, schema, lang)
        if m is None or not m.rows:
            continue
        named = {c.field: column_index(c.column) for c in m.columns if c.field and c.found_by in _NAMED_BY}
        named.pop("id", None)  # the ID column is the one holding our IDs: a team's own numbering under "ID" is theirs
        for c in m.columns:
            if normalize_header(c.header) == "id" and our_ids(column_sample(grids[sheet], m.header_row - 1,
                                                                      column_index(c.column), limit=200), t.id_prefix):
                named["id"] = column_index(c.column)
        headers = [c for c in m.columns if c.header]
        if named.keys() & _PEOPLE and len(named.keys() & _LEADISH) >= 2 and 2 * len(named) >= len(headers):
            if "last_name" in named and "first_name" not in named and last_name_first(column_sample(grids[sheet], m.header_row - 1,
                                                                                         named["last_name"], limit=500)):
                named[WHOLE_KEY] = named.pop("last_name")  # "Lopez, Ana": both names, the cell left whole
            return {"leads": TableMapping(sheet, m.header_row, named, {column_index(c.column) for c in headers})}
    return {}
