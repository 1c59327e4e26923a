"""`crm-sheets import` and `crm-sheets export`: other CRMs' exports (Salesforce, HubSpot, Pipedrive, any CSV
or .xlsx) into a workbook, and a workbook out in their formats. Reading files is sources.py, which column is
which field mapping.py (vendor tables in vendors.py, adopt's engine for the rest), the upsert plan.py (pure);
the plan is written through the store, so locking, change detection and backups hold as for every job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from crm_sheets.errors import UsageError, WorkbookBusy, WorkbookChanged
from crm_sheets.imports.mapping import SOURCES, FileMap, custom_title, map_file
from crm_sheets.imports.plan import Counts, Problem, plan_import
from crm_sheets.imports.sources import read_sources

__all__ = ["ImportReport", "import_files", "export_workbook", "SOURCES"]
MAX_ATTEMPTS = 3


@dataclass
class ImportReport:
    path: str
    files: list[dict[str, Any]] = field(default_factory=list)  # per file: vendor, tables, mapped, unmapped columns
    counts: dict[str, Counts] = field(default_factory=dict)
    skipped: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    custom_fields: list[tuple[str, str, str]] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    created_workbook: bool = False
    backup: str | None = None

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated for c in self.counts.values()) or bool(self.custom_fields)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "dry_run": self.dry_run, "written": self.written, "backup": self.backup,
            "created_workbook": self.created_workbook, "files": self.files,
            "counts": {t: c.__dict__ for t, c in self.counts.items()},
            "skipped": [p.__dict__ | {"message": p.message()} for p in self.skipped],
            "problems": [p.__dict__ | {"message": p.message()} for p in self.problems],
            "custom_fields": [{"table": t, "field": f, "title": x} for t, f, x in self.custom_fields],
            "notes": self.notes,
        }


def _zone(tables, time_zone: str | tzinfo | None) -> tzinfo | None:
    """The team's time zone: the one given, else the Settings' time_zone, else this computer's."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if isinstance(time_zone, tzinfo):
        return time_zone
    name = time_zone or str(tables.setting("time_zone", "") or "").strip()
    if not name:
        return datetime.now().astimezone().tzinfo
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {name!r}", hint="use a name such as Europe/Paris or America/New_York") from None


def import_files(path: str | Path, sources: list[str | Path], *, source: str = "auto", table: str | None = None,
                 dry_run: bool = False, now: datetime | None = None, time_zone: str | tzinfo | None = None,
                 template: str = "sales") -> ImportReport:
    """Upsert the records of export files into the workbook at ``path`` (made from ``template`` when it
    does not exist yet, unless ``dry_run``)."""
    from crm_sheets.store import open_store
    from crm_sheets.store.pending import pending_path
    from crm_sheets.upgrade import missing_tables

    if source not in SOURCES:
        raise UsageError(f"unknown source {source!r}", hint=f"use one of {', '.join(SOURCES)}")
    if not sources:
        raise UsageError("no file to import", hint="give one or more .csv or .xlsx export files after the workbook")
    from crm_sheets.store.state import is_store_url

    remote = is_store_url(path)  # gsheets://ID: the spreadsheet is there (crm-sheets new/push made it)
    path = Path(path)
    now = now or datetime.now().replace(microsecond=0)
    files = read_sources(list(sources))
    store = open_store(str(path)) if remote else None
    report = ImportReport(store.name if remote else str(path), dry_run=dry_run)
    if not remote and not path.exists() and not dry_run:
        from crm_sheets.workbook import new_workbook

        new_workbook(path, template=template)
        report.created_workbook = True
    if not remote:
        store = open_store(path) if path.exists() else None
    made_tables = False
    for attempt in range(1, MAX_ATTEMPTS + 2):
        tables = store.read() if store is not None else _empty_tables(template)
        if table is not None and tables.schema.find_table(table) is not None:
            table = tables.schema.find_table(table).name
        maps = [map_file(f, tables.schema, source, table, tables.lang or "en") for f in files]
        plan = plan_import(tables, maps, tz=_zone(tables, time_zone), now=now)
        _fill(report, maps, plan)
        if dry_run or plan.changes.is_empty():
            return report
        wanted = [a.table for a in plan.changes.appends if a.table not in tables]
        if wanted and not made_tables:
            extra = missing_tables(store, tables, wanted)
            if not extra.is_empty():
                _refuse_if_open(path, remote)
                store.apply(extra, tables)
                made_tables = True
                continue  # the workbook lacked a sheet the import writes to (Stages, Audit Log): made; plan again
        _refuse_if_open(path, remote)
        had_pending = pending_path(store).exists()
        try:
            outcome = store.apply(plan.changes, tables)
        except WorkbookBusy:
            # An import is not kept for a later run (its custom fields are not in that run's schema): a person
            # imports again once the workbook is closed. A pending change set of another run stays.
            if not had_pending:
                pending_path(store).unlink(missing_ok=True)
            raise WorkbookBusy(f"{path.name} is open in another program; nothing was imported",
                               hint="close it and run crm-sheets import again") from None
        except WorkbookChanged:
            if attempt >= MAX_ATTEMPTS:
                raise
            continue  # someone saved the workbook while we planned: read it again
        report.written = True
        report.backup = str(getattr(outcome, "backup", None) or "") or None
        return report
    return report


def _refuse_if_open(path: Path, remote: bool = False) -> None:
    from crm_sheets.store.safety import office_lock_holder

    if remote:
        return  # people edit a Google Sheet live: the store's change check guards their edits instead
    holder = office_lock_holder(path)
    if holder is not None:
        raise WorkbookBusy(f"{path.name} is open by {holder}; nothing was imported",
                           hint="close it and run crm-sheets import again")


def _empty_tables(template: str):
    """A dry run into a workbook that does not exist yet: the template's empty tables."""
    from crm_sheets.model.schema import load_schema
    from crm_sheets.model.tables import Table, Tables, empty_frame

    schema = load_schema(template)
    # every table but Stages, whose rows the plan then takes from the template (as a new workbook has them)
    tables = {t.name: Table(t, empty_frame(t), sheet=t.sheet_name()) for t in schema.tables.values() if t.name != "stages"}
    return Tables(schema=schema, tables=tables)


def _fill(report: ImportReport, maps: list[FileMap], plan) -> None:
    report.files = [{"file": fm.file.name, "vendor": fm.vendor, "tables": [p.table for p in fm.parts],
                     "rows": len(fm.file.rows), "encoding": fm.file.encoding, "delimiter": fm.file.delimiter,
                     "mapped": [{"column": h, "to": w} for h, w in fm.mapped()],
                     "unmapped": [{"column": h, "to": f"{t} (custom field {custom_title(h, fm.vendor)!r})"}
                                  for h, t in fm.unmapped()],
                     "problem": fm.problem} for fm in maps]
    report.counts, report.skipped, report.problems = plan.counts, plan.skipped, plan.problems
    report.notes, report.custom_fields = plan.notes, plan.custom_fields


def export_workbook(path: str | Path, to: str, directory: str | Path):
    from crm_sheets.imports.export import export_workbook as _export

    return _export(path, to, directory)
