"""`crm-sheets export`: the workbook's accounts, contacts, leads and deals as CSV files another CRM imports:
Salesforce API-name headers (custom fields as Name__c), HubSpot property labels, or our own headers. The
reverse of import's mapping, so that exporting and importing into a new workbook gives the same tables.
Text that a spreadsheet would run as a formula (= + - @, tab, CR, LF, NUL) gets a leading apostrophe (CSV injection).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from crm_sheets.errors import UsageError
from crm_sheets.imports import vendors
from crm_sheets.imports.mapping import FIELD_FALLBACK, home_table
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Field
from crm_sheets.model.tables import Table, Tables
from crm_sheets.model.values import as_text, csv_safe

TARGETS = ("salesforce", "hubspot", "csv")
TABLES = ("accounts", "contacts", "leads", "deals")
FILE_NAMES = {
    "salesforce": {"accounts": "Account.csv", "contacts": "Contact.csv", "leads": "Lead.csv", "deals": "Opportunity.csv"},
    "hubspot": {"accounts": "companies.csv", "contacts": "contacts.csv", "leads": "leads.csv", "deals": "deals.csv"},
}


@dataclass
class ExportReport:
    path: str
    to: str
    directory: str
    files: list[dict[str, Any]] = field(default_factory=list)  # file, table, rows, columns

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "to": self.to, "directory": self.directory, "files": self.files}


def export_workbook(path: str | Path, to: str, directory: str | Path) -> ExportReport:
    from crm_sheets.store import open_store

    if to not in TARGETS:
        raise UsageError(f"unknown export format {to!r}", hint=f"use one of {', '.join(TARGETS)}")
    tables = open_store(path).read()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    report = ExportReport(str(path), to, str(out))
    for kind in TABLES:
        name = home_table(kind, tables.schema)
        if name not in tables or name in {f["table"] for f in report.files}:
            continue
        headers, rows = export_rows(tables, name, to, kind)
        file = out / (FILE_NAMES[to][kind] if to in FILE_NAMES else f"{name}.csv")
        with file.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(headers)
            writer.writerows(rows)
        report.files.append({"file": str(file), "table": name, "rows": len(rows), "columns": len(headers)})
    return report


def _cell(f: Field | None, value: Any, tables: Tables) -> str:
    """A value as text another system reads back: labels for options, ISO dates, true/false."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    ftype = field_type(f.type) if f is not None else None
    if ftype is not None and ftype.options and f.list and isinstance(value, str):
        labels = {o.key: o.label(tables.lang or "en") for o in tables.list(f.list).options}
        if ftype.multiple:
            return ", ".join(labels.get(k.strip(), k.strip()) for k in value.split(",") if k.strip())
        return labels.get(value, value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if ftype is not None and ftype.temporal and not ftype.with_time and (value.hour, value.minute, value.second) == (0, 0, 0):
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return as_text(value)
    return csv_safe(str(value))


def _source_id(t: Table, rid: str, vendor: str) -> str:
    """A record's ID in the export: its ID in that vendor when it came from there, else ours."""
    if "external_id" in t.df.columns:
        ext = t.df.at[rid, "external_id"]
        if isinstance(ext, str) and ext.startswith(vendor + ":"):
            return ext[len(vendor) + 1:]
    return rid


def export_rows(tables: Tables, name: str, to: str, kind: str | None = None) -> tuple[list[str], list[list[str]]]:
    """The header and rows of table ``name`` in the format ``to``; ``kind`` is the vendor object it is
    exported as (the services template's clients go out as accounts)."""
    t = tables[name]
    kind = kind or name
    lang = tables.lang or "en"
    fields = [f for f in t.schema.fields if f.type != "id" and not f.owned_by_job and f.name in t.df.columns]
    if to == "csv":
        headers = ["ID"] + [f.header(lang) for f in fields]
        rows = [[rid] + [_cell(f, t.df.at[rid, f.name], tables) for f in fields] for rid in t.df.index]
        return headers, rows
    names = vendors.export_headers(to, kind)
    for ours, theirs in FIELD_FALLBACK.items():  # client links are account links for the vendor
        if f"link:{ours}" in names:
            names.setdefault(f"link:{theirs}", names[f"link:{ours}"])
    columns: list[tuple[str, Any]] = [(names.get("ext", "Id"), ("ext", None))]
    for f in fields:
        if f.name == "external_id":  # where the record came from first, kept through other systems
            columns.append(("External_ID__c" if to == "salesforce" else f.header(lang), ("field", f)))
            continue
        if field_type(f.type).links_to == "record" and f"link:{f.name}" in names:
            columns.append((names[f"link:{f.name}"], ("link", f)))
        elif f.name in names:
            columns.append((names[f.name], ("field", f)))
        else:
            title = f.header(lang)
            header = re.sub(r"\W+", "_", title).strip("_") + "__c" if to == "salesforce" else title
            columns.append((header, ("field", f)))
    by_id = to == "salesforce"
    rows = []
    for rid in t.df.index:
        row = []
        for _header, (kind, f) in columns:
            if kind == "ext":
                row.append(_source_id(t, rid, to))
            elif kind == "link":
                ref = t.df.at[rid, f.name]
                target = tables.get(f.reference)
                if not isinstance(ref, str) or not ref or target is None or ref not in target.df.index:
                    row.append(_cell(f, ref, tables))
                elif by_id:
                    row.append(_source_id(target, ref, to))
                else:
                    row.append(_readable(target, ref))
            else:
                row.append(_cell(f, t.df.at[rid, f.name], tables))
        rows.append(row)
    return [h for h, _ in columns], rows


def _readable(target: Table, rid: str) -> str:
    """The name another CRM links by: an account's name, a contact's email (else full name), a deal's name."""
    df = target.df
    for col in ("name", "email"):
        if col in df.columns and isinstance(df.at[rid, col], str) and df.at[rid, col].strip():
            return df.at[rid, col]
    parts = [df.at[rid, c] for c in ("first_name", "last_name") if c in df.columns and isinstance(df.at[rid, c], str)]
    return " ".join(parts) or rid
