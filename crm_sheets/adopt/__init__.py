"""`crm-sheets adopt`: take a workbook a team made as it is. Propose which sheet is which table and which
column is which field (adopt/propose.py), write that proposal into a Mapping sheet a person can correct,
and mark the workbook as adopted in _crm_meta; every other part of it stays as it was. From then on the
reader follows the Mapping sheet, and the jobs treat the team's values as their vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_sheets.adopt.propose import ColumnMap, SheetMap, propose
from crm_sheets.errors import NotAWorkbook, UsageError, WorkbookBusy
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.schema import available_templates, load_schema
from crm_sheets.model.sheets import Cell, SheetSpec
from crm_sheets.model.tables import Tables
from crm_sheets.store.mapping import HEADERS, SHEET, read_mapping

__all__ = ["AdoptReport", "ColumnMap", "SheetMap", "adopt", "propose"]
_META = "_crm_meta"


@dataclass
class AdoptReport:
    path: str
    template: str
    sheets: list[SheetMap] = field(default_factory=list)
    existing: bool = False  # the workbook already had a Mapping sheet: it is followed as it is
    dry_run: bool = False
    written: bool = False
    backup: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def mapped(self) -> list[SheetMap]:
        return [s for s in self.sheets if s.table]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "template": self.template, "existing": self.existing, "dry_run": self.dry_run,
            "written": self.written, "backup": self.backup, "notes": self.notes,
            "sheets": [{"sheet": s.sheet, "table": s.table, "header_row": s.header_row, "rows": s.rows,
                        "columns": [c.__dict__ for c in s.columns]} for s in self.sheets],
        }


def _grids(path: Path) -> tuple[dict[str, list[list[Any]]], dict[str, Any]]:
    """Every sheet's cells (rows from A1) and the _crm_meta keys, read with calamine after the package
    was opened safely."""
    from python_calamine import CalamineWorkbook

    from crm_sheets.store.xlsx.package import open_package

    if not path.exists():
        raise NotAWorkbook(f"{path}: no such file")
    with open_package(path):
        pass  # refuses a hostile or broken package before any parser sees it
    book = CalamineWorkbook.from_path(str(path))
    grids = {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in book.sheet_names}
    meta: dict[str, Any] = {}
    for row in grids.pop(next((s for s in grids if s.casefold() == _META), ""), []):
        if len(row) >= 2 and isinstance(row[0], str) and row[0].strip() and row[0].strip().casefold() != "key":
            meta[row[0].strip()] = row[1]
    return grids, meta


def _ours(meta: dict[str, Any]) -> set[str]:
    """Sheets crm-sheets wrote (marked in _crm_meta): never proposed as a team's table."""
    return {str(v) for k, v in meta.items() if k.startswith("sheet.") and v}


def adopt(path: str | Path, *, template: str | None = None, dry_run: bool = False, lang: str = "en") -> AdoptReport:
    """Propose (and unless ``dry_run``, write) the mapping of a team's workbook onto a template's tables."""
    path = Path(path)
    grids, meta = _grids(path)
    skip = frozenset(_ours(meta))
    existing = meta.get("sheet.mapping")  # ours only when _crm_meta marks it: a team's own Mapping sheet is theirs
    if template is None:
        template = str(meta.get("template") or "") or _best_template(grids, lang, skip)
    if template not in available_templates():
        raise UsageError(f"unknown template {template!r}", hint=f"use one of {', '.join(available_templates())}")
    schema = load_schema(template)
    report = AdoptReport(str(path), template, dry_run=dry_run)
    if existing and existing in grids:
        report.existing = True
        report.sheets = _from_mapping(grids, schema, str(existing))
        report.notes.append(f"{path.name} already has its {existing} sheet: it is followed as it is (correct it there)")
        return report
    report.sheets = propose(grids, schema, lang, skip)
    if not report.mapped:
        raise NotAWorkbook(f"{path}: no sheet has headers that look like leads, contacts, accounts or deals",
                           hint="give the columns headers such as Name, Email, Company, Status, then run adopt again")
    for s in report.sheets:
        if s.table:
            unmapped = [c.header or c.column for c in s.columns if not c.field]
            if unmapped:
                report.notes.append(f"{s.sheet}: {', '.join(unmapped[:8])}{', ...' if len(unmapped) > 8 else ''} "
                                    "stay as your own columns (kept as they are)")
    if dry_run:
        return report
    _write(path, report, schema, meta, lang, set(grids), _team_stages(report, grids, schema, lang))
    return report


def _team_stages(report: AdoptReport, grids: dict[str, list[list[Any]]], schema, lang: str) -> list[str]:
    """The stages a deals sheet uses that the template does not have, in order of first use (they become
    rows of a new Stages sheet, probability left blank), when the workbook has no Stages sheet of its own."""
    from crm_sheets.model.normalize import fold
    from crm_sheets.model.values import as_text, is_empty

    deals = next((s for s in report.mapped if s.table == "deals"), None)
    stages = schema.tables.get("stages")
    if deals is None or stages is None or any(s.table == "stages" for s in report.mapped):
        return []
    if any(fold(n) in {fold(x) for x in stages.names()} for n in grids):
        return []
    col = deals.fields().get("stage")
    if col is None:
        return []
    from crm_sheets.store.mapping import column_index

    j = column_index(col)
    known = {fold(str(v)) for r in stages.rows for v in (r.get("stage") or {}).values()} if stages.rows else set()
    out: list[str] = []
    for row in grids[deals.sheet][deals.header_row:]:
        v = row[j] if j < len(row) else None
        text = "" if is_empty(v) else as_text(v).strip()
        if text and fold(text) not in known and text not in out:
            out.append(text)
    return out


def _best_template(grids: dict[str, list[list[Any]]], lang: str, skip: frozenset[str]) -> str:
    """The template whose tables the workbook's sheets fit best (the sales template on a tie)."""
    scores = {}
    for name in available_templates():
        try:
            schema = load_schema(name)
        except Exception:  # a broken template cannot be this workbook's
            continue
        scores[name] = sum(s.score for s in propose(grids, schema, lang, skip) if s.table)
    return max(scores, key=lambda n: (scores[n], n == "sales")) if scores else "sales"


def _from_mapping(grids: dict[str, list[list[Any]]], schema, sheet: str) -> list[SheetMap]:
    found = read_mapping(grids[sheet], schema)
    return [SheetMap(m.sheet, name, m.header_row, 0,
                     tuple(ColumnMap(_letter(j), "", f, "mapping") for f, j in sorted(m.columns.items(), key=lambda x: x[1])))
            for name, m in found.items()]


def _letter(j: int) -> str:
    from crm_sheets.model.tables import column_letter

    return column_letter(j)


def mapping_sheet(report: AdoptReport, name: str = SHEET) -> SheetSpec:
    """The Mapping sheet: one row per column of the team's sheets; Table and Field are theirs to correct."""
    rows: list[list[Any]] = [[Cell(h, "header") for h in HEADERS]]
    for s in report.sheets:
        for c in s.columns:
            rows.append([s.sheet, s.header_row, c.column, c.header, s.table or "", c.field or "", c.found_by, c.example])
    return SheetSpec(name=name, key="mapping", rows=rows, widths={0: 18, 1: 10, 2: 8, 3: 28, 4: 14, 5: 16, 6: 10, 7: 30},
                     freeze=(1, 0), autofilter=f"A1:H{len(rows)}", tab_color="7030A0")


def _write(path: Path, report: AdoptReport, schema, meta: dict[str, Any], lang: str, sheets: set[str],
           stages: list[str]) -> None:
    from crm_sheets.store.safety import atomic_replace, office_lock_holder
    from crm_sheets.store.xlsx.writer import apply_changeset
    from crm_sheets.store.xlsx import XlsxStore

    holder = office_lock_holder(path)
    if holder is not None:
        raise WorkbookBusy(f"{path.name} is open by {holder}; nothing was changed", hint="close it and run crm-sheets adopt again")
    changes = ChangeSet(sheets=[mapping_sheet(report)],
                        meta={"template": schema.name, "adopted": "yes", **({} if meta.get("lang") else {"lang": lang})})
    tables = Tables(schema=schema, tables={}, lang=lang, meta=dict(meta), source=str(path),
                    sheet_names=tuple(sheets | {_META} if meta else sheets), adopted=True)
    if stages:  # the team's deals have stages of their own: a Stages sheet with the template's and theirs
        from dataclasses import replace

        from crm_sheets.upgrade import missing_tables

        extra = missing_tables(path, tables, ["stages"])
        for add in extra.tables:
            names = [c.field for c in add.columns]
            last = max((r[names.index("order")] or 0 for r in add.rows), default=0) if "order" in names else 0
            rows = [tuple(label if f == "stage" else (last + i if f == "order" else None) for f in names)
                    for i, label in enumerate(stages, start=1)]
            changes.tables.append(replace(add, rows=(*add.rows, *rows)))
        report.notes.append(f"the Stages sheet lists your stages {', '.join(stages[:6])}{', ...' if len(stages) > 6 else ''} "
                            "after the template's: fill in their probability (and Won or Lost)")
    store = XlsxStore(path)
    with store.lock():
        backup = atomic_replace(path, lambda tmp: apply_changeset(path, tmp, changes, tables), 5)
    report.written = True
    report.backup = str(backup) if backup else None
