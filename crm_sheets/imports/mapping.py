"""Which column of an export file is which of our fields: the vendor tables (vendors.py) for Salesforce,
HubSpot and Pipedrive exports, and the mapping engine of `adopt` (header aliases in four languages, close
spellings, values) for any other file and for the vendor columns the tables do not know. Columns that map
to nothing become custom fields of the table: never dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from crm_sheets.adopt.propose import map_sheet
from crm_sheets.imports import vendors
from crm_sheets.imports.sources import SourceFile
from crm_sheets.imports.vendors import Target
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Schema, normalize_header

SOURCES = ("auto", "salesforce", "hubspot", "pipedrive", "csv")
_PD_PREFIX = re.compile(r"^(Deal|Person|Organization|Lead|Activity|Product) - ", re.I)


@dataclass
class Part:
    """The records of one table that each row of a file holds."""

    table: str
    columns: dict[int, Target] = field(default_factory=dict)  # column index -> what it becomes


@dataclass
class FileMap:
    file: SourceFile
    vendor: str  # salesforce, hubspot, pipedrive or csv
    parts: list[Part] = field(default_factory=list)
    problem: str = ""  # why the file is not imported (no table fits it)

    def mapped(self) -> list[tuple[str, str]]:
        """(header, table.field or what it becomes) of every column that maps to one of our fields."""
        out = []
        for p in self.parts:
            for j, t in sorted(p.columns.items()):
                if t.kind != "custom":
                    what = {"ext": "external_id", "owner_id": "owner", "full_name": "first_name + last_name",
                            "status": "stage"}.get(t.kind, t.field)
                    out.append((self.file.headers[j], f"{p.table}.{what}"))
        return out

    def unmapped(self) -> list[tuple[str, str]]:
        """(header, table) of every column no field takes: it becomes a custom field of that table."""
        return [(self.file.headers[j], p.table) for p in self.parts for j, t in sorted(p.columns.items())
                if t.kind == "custom"]


def custom_title(header: str, vendor: str) -> str:
    """The column title a custom field gets: Salesforce's Region__c is Region, Pipedrive's "Person - Label" Label."""
    text = header.strip()
    if vendor == "salesforce" and text.endswith("__c"):
        text = text[:-3].replace("_", " ").strip()
    if vendor == "pipedrive":
        text = _PD_PREFIX.sub("", text)
    return text or header


def custom_name(title: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", normalize_header(title) and title.lower()).strip("_")
    name = re.sub(r"[^a-z0-9_]", "", name)
    return name if re.match(r"^[a-z]", name or "") else f"field_{name}".rstrip("_")


def map_file(f: SourceFile, schema: Schema, source: str = "auto", table: str | None = None, lang: str = "en") -> FileMap:
    vendor = source if source != "auto" else (vendors.detect_vendor(f.headers) or "csv")
    fm = FileMap(f, vendor)
    if table is not None and table not in schema.tables and schema.find_table(table) is not None:
        table = schema.find_table(table).name
    if table is not None and table not in schema.tables:
        fm.problem = f"the workbook's template has no table {table!r}"
        return fm
    if vendor == "pipedrive":
        tables = [table] if table else vendors.pipedrive_parts(f.headers)
        for t in tables:
            fm.parts.append(_vendor_part(f, schema, "pipedrive", t, lang, entity=_entity(t)))
        _orphans_to_first(fm)
    elif vendor in ("salesforce", "hubspot"):
        t = table or (vendors.salesforce_table(f.headers, f.stem) if vendor == "salesforce" else vendors.hubspot_table(f.headers, f.stem))
        if t is None:
            fm.problem = "its headers are not those of a Salesforce Lead, Contact, Account or Opportunity export"
        else:
            fm.parts.append(_vendor_part(f, schema, vendor, t, lang))
    else:
        part = _engine_part(f, schema, table, lang)
        if part is None:
            fm.problem = "no table fits its headers"
        else:
            fm.parts.append(part)
    fm.parts = [p for p in fm.parts if p.table in schema.tables]
    if not fm.parts and not fm.problem:
        fm.problem = "no table of the workbook fits its headers"
    return fm


def _entity(table: str) -> str:
    return {v: k for k, v in vendors.PIPEDRIVE_ENTITIES.items()}.get(table, "")


# Templates without accounts or contacts: the services template's clients, the personal template's people.
TABLE_FALLBACK = {"accounts": ("clients",), "contacts": ("people",), "leads": ("people",)}
FIELD_FALLBACK = {"account": "client"}


def home_table(table: str, schema: Schema) -> str:
    """Where a vendor's object goes in this template (Account: accounts, or clients in the services template)."""
    if table in schema.tables:
        return table
    return next((alt for alt in TABLE_FALLBACK.get(table, ()) if alt in schema.tables), table)


def _rehome(target: Target | None, schema: Schema, t) -> Target | None:
    if target is None or t is None:
        return target
    name = target.field
    if name and not t.has_field(name) and t.has_field(FIELD_FALLBACK.get(name, "")):
        name = FIELD_FALLBACK[name]
    if target.kind == "link" and target.by == "key" and target.table == "accounts" and not t.has_field(name) \
            and t.has_field("company"):
        return vendors.F("company")  # a table without accounts (the personal template's people) keeps the company's name
    table = home_table(target.table, schema) if target.table else ""
    return Target(target.kind, name, table, target.by)


def _vendor_part(f: SourceFile, schema: Schema, vendor: str, table: str, lang: str, entity: str = "") -> Part:
    source_table, table = table, home_table(table, schema)
    part = Part(table)
    t = schema.tables.get(table)
    unknown = []
    for j, h in enumerate(f.headers):
        if not h:
            continue
        if entity and not h.lower().startswith(entity + " - "):
            continue
        target = _rehome(vendors.vendor_target(vendor, source_table, h), schema, t)
        if target is not None and t is not None and target.field and target.kind in ("field", "alt", "link") \
                and not t.has_field(target.field):
            target = None  # a field this template lacks (services has no deals): the column stays as a custom field
        if target is not None:
            part.columns[j] = target
        elif vendor == "salesforce" and h.endswith("__c"):
            part.columns[j] = Target("custom")  # External_ID__c, our export's, is read back as the record's source ID
        else:
            unknown.append(j)
    if unknown and t is not None:  # the vendor columns the tables do not know go through adopt's engine
        taken = {x.field for x in part.columns.values() if x.field}
        if any(x.kind == "full_name" for x in part.columns.values()):
            taken |= {"first_name", "last_name"}
        found = _engine_columns(f, schema, table, lang, unknown)
        for j in unknown:
            name = found.get(j)
            if name and name not in taken and name != "id":
                part.columns[j] = _field_target(schema, table, name)
                taken.add(name)
            else:
                part.columns[j] = Target("custom")
    return part


def _orphans_to_first(fm: FileMap) -> None:
    """Pipedrive columns without an entity prefix belong to the file's main entity (its last part: the deal)."""
    if not fm.parts:
        return
    used = {j for p in fm.parts for j in p.columns}
    for j, h in enumerate(fm.file.headers):
        if h and j not in used:
            fm.parts[-1].columns[j] = Target("custom")


def _grid(f: SourceFile, columns: list[int] | None = None) -> list[list]:
    cols = columns if columns is not None else list(range(len(f.headers)))
    rows = [[f.headers[j].replace("_", " ") for j in cols]]  # snake_case exports: close_value is "close value"
    for _line, cells in f.rows[:200]:
        rows.append([cells[j] if j < len(cells) else None for j in cols])
    return rows


def _engine_columns(f: SourceFile, schema: Schema, table: str, lang: str, columns: list[int]) -> dict[int, str]:
    """column index -> field, as adopt's engine maps these columns of the file onto ``table``."""
    m = map_sheet(f.stem, _grid(f, columns), schema.tables[table], schema, lang, header=0)
    if m is None:
        return {}
    from crm_sheets.store.mapping import column_index

    return {columns[column_index(c.column)]: c.field for c in m.columns if c.field}


def _field_target(schema: Schema, table: str, name: str) -> Target:
    if name == "id":
        return vendors.EXT
    f = schema.tables[table].field(name)
    if field_type(f.type).links_to == "record" and f.reference and f.reference != "*":
        return vendors.link(name, f.reference, "auto")
    return vendors.F(name)


def _engine_part(f: SourceFile, schema: Schema, table: str | None, lang: str) -> Part | None:
    """A file of no known vendor (or our own CSV export), mapped by adopt's engine."""
    from crm_sheets.store.mapping import column_index

    grid = _grid(f)
    if table is not None:
        m = map_sheet(f.stem, grid, schema.tables[table], schema, lang, header=0)
    else:
        fits = [m for t in schema.data_tables() if (m := map_sheet(f.stem, grid, t, schema, lang, header=0)) is not None
                and m.score >= 2 and sum(1 for c in m.columns if c.field) >= 2]
        m = max(fits, key=lambda m: m.score, default=None)  # the table it fits best, as adopt chooses
    if m is None or not m.table:
        return None
    part = Part(m.table)
    for c in m.columns:
        j = column_index(c.column)
        part.columns[j] = _field_target(schema, m.table, c.field) if c.field else Target("custom")
    for j, h in enumerate(f.headers):
        if h and j not in part.columns:
            part.columns[j] = Target("custom")
    _full_names(part, f, schema)
    _ids(part, f, schema)
    return part


_OWN_IDS = {"leads": ("lead id",), "contacts": ("contact id", "person id"), "people": ("contact id", "person id"),
            "accounts": ("account id", "company id", "organization id", "organisation id", "org id"),
            "clients": ("client id", "account id", "company id"), "deals": ("opportunity id", "deal id")}
_LINK_IDS = {"account id": "accounts", "company id": "accounts", "organization id": "accounts", "client id": "clients",
             "contact id": "contacts", "person id": "contacts"}


def _ids(part: Part, f: SourceFile, schema: Schema) -> None:
    """A report export's "Lead ID" is the record's source ID; its "Account ID" a link to the account (by ID)."""
    t = schema.tables[part.table]
    own = {normalize_header(x) for x in ("id", "record id", *_OWN_IDS.get(part.table, ()))}
    links = {normalize_header(k): v for k, v in _LINK_IDS.items()}
    taken = {x.field for x in part.columns.values() if x.field}
    has_ext = any(x.kind == "ext" for x in part.columns.values())
    for j, target in sorted(part.columns.items()):
        key = normalize_header(f.headers[j])
        if target.kind != "custom":
            continue
        if key in own and not has_ext:
            part.columns[j] = vendors.EXT
            has_ext = True
        elif key in links:
            ref = next((x for x in t.fields if field_type(x.type).links_to == "record" and x.reference == links[key]), None)
            if ref is not None and ref.name not in taken:
                part.columns[j] = vendors.link(ref.name, ref.reference, "id")
                taken.add(ref.name)


_FULL_NAME = {normalize_header(x) for x in ("name", "full name", "contact name", "lead name", "person name", "nom complet",
                                            "vollständiger name", "nombre completo", "nome completo")}


def _full_names(part: Part, f: SourceFile, schema: Schema) -> None:
    """A person's whole name in one column (Name: "Ana Lopez" or "Lopez, Ana") fills first and last name."""
    t = schema.tables[part.table]
    if t.has_field("name") or not t.has_field("last_name"):
        return
    taken = {x.field for x in part.columns.values() if x.field}
    if "first_name" in taken or any(x.kind == "full_name" for x in part.columns.values()):
        return
    for j, target in part.columns.items():
        whole = normalize_header(f.headers[j]) in _FULL_NAME
        # adopt's engine reads a whole-name column as the last name (no row lost); an import splits it
        if whole and (target.kind == "custom" or target.field == "last_name"):
            part.columns[j] = Target("full_name")
            return
        if target.field == "last_name":
            return
