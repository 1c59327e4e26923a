"""`crm-sheets adopt`: take a workbook a team made as it is. Propose which sheet is which table and which
column is which field (adopt/propose.py), write that proposal into a Mapping sheet a person can correct,
and mark the workbook as adopted in _crm_meta; every other part of it stays as it was. From then on the
reader follows the Mapping sheet, and the jobs treat the team's values as their vocabulary.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crm_sheets.adopt.columns import settle, team_country, team_locale
from crm_sheets.adopt.propose import ColumnMap, SheetMap, propose
from crm_sheets.errors import NotAWorkbook, UsageError, WorkbookBusy
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.schema import available_templates, load_schema
from crm_sheets.model.sheets import Cell, SheetSpec
from crm_sheets.model.tables import Tables
from crm_sheets.model.tables import META_SHEET
from crm_sheets.model.values import as_text, is_empty
from crm_sheets.store.mapping import HEADERS, SHEET, WHOLE_KEY, WHOLE_NAME, read_mapping

__all__ = ["AdoptReport", "ColumnMap", "SheetMap", "adopt", "propose"]
_META = META_SHEET.casefold()  # compared with casefolded sheet names


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
        kept, added, upgraded = _grow(grids, schema, lang, skip | {str(existing)}, str(existing))
        report.sheets = _from_mapping(grids, schema, str(existing)) + added
        if not added and not upgraded:
            report.notes.append(f"{path.name} already has its {existing} sheet: it is followed as it is (correct it there)")
            return report
        new = [f"{s.sheet}!{c.column}" + (f" ({c.header})" if c.header else "") for s in added for c in s.columns]
        if new:
            report.notes.append(f"{existing}: {len(new)} column{'s' if len(new) > 1 else ''} added since it was written "
                                f"({', '.join(new[:6])}{', ...' if len(new) > 6 else ''}); your corrections there are kept")
        if upgraded:
            own = [f"{s}!{c}" + (f" ({h})" if h else "") for s, c, h in upgraded]
            report.notes.append(f"{existing}: {', '.join(own[:6])}{', ...' if len(own) > 6 else ''} left unread until now "
                                "are read as your own fields (Found by custom): clear their Field to leave one unread")
        if not dry_run:
            _write(path, report, schema, meta, lang, grids, None, rows=kept + _rows(added), name=str(existing))
        return report
    also: dict[str, str] = {}
    report.sheets = [settle(s, grids[s.sheet], schema) for s in propose(grids, schema, lang, skip, also)]
    for sheet, table in also.items():
        where = next(s.sheet for s in report.mapped if s.table == table)
        report.notes.append(f"{sheet} looks like {table} too, but {where} is read as {table} and a table is one sheet: "
                            f"{sheet} is left as it is (move its rows into {where}, or give it another Table in the Mapping sheet)")
    if not report.mapped:
        raise NotAWorkbook(f"{path}: no sheet has headers that look like leads, contacts, accounts or deals",
                           hint="give the columns headers such as Name, Email, Company, Status, then run adopt again")
    for s in report.sheets:
        if s.table:
            own = [c.header or c.column for c in s.columns if c.found_by == "custom"]
            if own:
                report.notes.append(f"{s.sheet}: {', '.join(own[:8])}{', ...' if len(own) > 8 else ''} "
                                    "stay where they are as your own fields (Found by custom in the Mapping sheet)")
    if dry_run:
        return report
    _write(path, report, schema, meta, lang, grids, _team_stages(report, grids, schema, lang))
    return report


def _team_stages(report: AdoptReport, grids: dict[str, list[list[Any]]], schema, lang: str) -> list[str] | None:
    """The stages a deals sheet uses that the template does not have, in order of first use (they become
    rows of a new Stages sheet after the template's, probability left blank), when the workbook has a deals
    sheet and no Stages sheet of its own (reports read won and lost deals from it); None: no sheet to add."""
    from crm_sheets.model.normalize import fold

    deals = next((s for s in report.mapped if s.table == "deals"), None)
    stages = schema.tables.get("stages")
    if deals is None or stages is None or any(s.table == "stages" for s in report.mapped):
        return None
    if any(fold(n) in {fold(x) for x in stages.names()} for n in grids):
        return None
    col = deals.fields().get("stage")
    if col is None:
        return None
    from crm_sheets.store.mapping import column_index

    j = column_index(col)
    from crm_sheets.model.schema import normalize_header as key  # "🟢 Closed Won" is Closed won, as reports read it
    from crm_sheets.store.records import TOTAL_RE
    known = {key(str(v)) for r in stages.rows for v in (r.get("stage") or {}).values()} if stages.rows else set()
    out: list[str] = []
    for row in grids[deals.sheet][deals.header_row:]:
        v = row[j] if j < len(row) else None
        text = "" if is_empty(v) else as_text(v).strip()
        if text and key(text) not in known and text not in out and not re.match(TOTAL_RE, text, re.I):
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

    def column(m, f: str, j: int) -> ColumnMap:
        ftype = m.custom[f][1] if f in m.custom else m.types.get(f, "")
        return ColumnMap(_letter(j), "", WHOLE_NAME if f == WHOLE_KEY else f, "mapping", type=ftype)

    return [SheetMap(m.sheet, name, m.header_row, 0, tuple(column(m, f, j) for f, j in sorted(m.columns.items(), key=lambda x: x[1])))
            for name, m in found.items()]


def _letter(j: int) -> str:
    from crm_sheets.model.tables import column_letter

    return column_letter(j)


def _rows(sheets: list[SheetMap]) -> list[list[Any]]:
    return [[s.sheet, s.header_row, c.column, c.header, s.table or "", c.field or "", c.found_by, c.example, c.type]
            for s in sheets for c in s.columns]


def mapping_sheet(report: AdoptReport, name: str = SHEET, rows: list[list[Any]] | None = None) -> SheetSpec:
    """The Mapping sheet: one row per column of the team's sheets; Table, Field and Type are theirs to correct."""
    body = _rows(report.sheets) if rows is None else rows
    out: list[list[Any]] = [[Cell(h, "header") for h in HEADERS], *body]
    return SheetSpec(name=name, key="mapping", rows=out, widths={0: 18, 1: 10, 2: 8, 3: 28, 4: 14, 5: 16, 6: 10, 7: 30, 8: 10},
                     freeze=(1, 0), autofilter=f"A1:I{len(out)}", tab_color="7030A0")


def _grow(grids: dict[str, list[list[Any]]], schema, lang: str, skip: frozenset[str],
          sheet: str) -> tuple[list[list[Any]], list[SheetMap], list[tuple[str, str, str]]]:
    """A second adopt: the Mapping sheet's rows as the person left them, the sheets and columns of the
    workbook it does not list yet (added since), proposed as the first adopt would, and the columns an
    earlier adopt left unread that are now the team's own fields (see _own_fields)."""
    from crm_sheets.adopt.propose import map_sheet
    from crm_sheets.store.mapping import header_index

    grid = grids[sheet]
    head = header_index(grid) or 0
    kept: list[list[Any]] = []
    for row in grid[head + 1:]:
        cells = [None if is_empty(c) else (int(c) if isinstance(c, float) and c.is_integer() else c)
                 for c in (list(row) + [None] * len(HEADERS))[: len(HEADERS)]]
        if any(c is not None for c in cells):
            kept.append(cells)
    upgraded = _own_fields(kept, grids, schema)
    listed = {(as_text(r[0]).strip(), as_text(r[2]).strip().upper()) for r in kept if r[0] is not None and r[2] is not None}
    sheets = {as_text(r[0]).strip() for r in kept if r[0] is not None}
    found = read_mapping(grid, schema)
    added: list[SheetMap] = []

    def rules(name: str) -> bool:  # Stages, Merged, Audit Log...: a run (or adopt) made it, the reader finds it by name
        t = schema.find_table(name)
        return t is not None and t.kind != "data"

    fresh = {s: g for s, g in grids.items() if s not in sheets and s not in skip and not rules(s)}
    if fresh:
        for sm in propose(fresh, schema, lang, skip):
            if sm.table in found:  # that table is already another sheet: this one is left alone
                sm = SheetMap(sm.sheet, None, sm.header_row, sm.rows,
                              tuple(ColumnMap(c.column, c.header, None, "", c.example) for c in sm.columns))
            added.append(settle(sm, grids[sm.sheet], schema))
    for name, m in found.items():
        if m.sheet not in grids:
            continue
        now = map_sheet(m.sheet, grids[m.sheet], schema.tables[name], schema, lang, header=m.header_row - 1)
        if now is None:
            continue
        # a new column headed by a field's own title (the ID column a run added) is found by the reader as it
        # is: only columns that need a decision are listed, so adopt after a run changes nothing
        cols = tuple(c if c.field not in m.columns else replace(c, field=None, found_by="")
                     for c in now.columns if (m.sheet, c.column) not in listed
                     and not (c.found_by == "header" and c.field not in m.columns))
        if cols:
            added.append(settle(SheetMap(m.sheet, name, m.header_row, now.rows, cols), grids[m.sheet], schema, set(m.columns)))
    return kept, added, upgraded


def _own_fields(kept: list[list[Any]], grids: dict[str, list[list[Any]]], schema) -> list[tuple[str, str, str]]:
    """Rows of a Mapping sheet an earlier adopt wrote for columns it left unread (Table set, Field and Found by
    empty): given a field of the team's own, as adopt now does (changed in place in ``kept``). Their sheet,
    column and header."""
    from crm_sheets.adopt.columns import own_name, value_type
    from crm_sheets.adopt.propose import column_sample
    from crm_sheets.store.mapping import column_index

    out = []
    for row in kept:
        sheet, hrow, col, header, table, fname, how = (row + [None] * 9)[:7]
        t = schema.tables.get(as_text(table).strip()) if table is not None else None
        if t is None or fname is not None or how is not None or col is None or sheet not in grids:
            continue
        used = {as_text(r[5]) for r in kept if r[0] == sheet and r[5] is not None}
        name = own_name(as_text(header) if header is not None else f"column {col}")
        while name in used or t.has_field(name):
            name += "_2"
        try:
            values = column_sample(grids[sheet], int(hrow or 1) - 1, column_index(as_text(col)), limit=500)
        except ValueError:
            continue
        row[5], row[6], row[8] = name, "custom", value_type(values)
        out.append((sheet, as_text(col), as_text(header) if header is not None else ""))
    return out


def _write(path: Path, report: AdoptReport, schema, meta: dict[str, Any], lang: str, grids: dict[str, list[list[Any]]],
           stages: list[str] | None, rows: list[list[Any]] | None = None, name: str = SHEET) -> None:
    from crm_sheets.store.safety import atomic_replace, office_lock_holder
    from crm_sheets.store.xlsx.writer import apply_changeset
    from crm_sheets.store.xlsx import XlsxStore

    holder = office_lock_holder(path)
    if holder is not None:
        raise WorkbookBusy(f"{path.name} is open by {holder}; nothing was changed", hint="close it and run crm-sheets adopt again")
    # what a Settings sheet would say, read from the team's cells (the reader takes _crm_meta setting.* rows as
    # Settings when the workbook has no Settings sheet saying otherwise)
    found: dict[str, str] = {}
    if rows is None:
        country = team_country(report.mapped, grids)
        locale = team_locale(report.mapped, grids, schema, country)
        found = {k: v for k, v in (("default_country", country), ("locale", locale)) if v and not meta.get(f"setting.{k}")}
    changes = ChangeSet(sheets=[mapping_sheet(report, name, rows)],
                        meta={"template": schema.name, "adopted": "yes", **({} if meta.get("lang") else {"lang": lang}),
                              **{f"setting.{k}": v for k, v in found.items()}})
    if found.get("default_country"):
        report.notes.append(f"phone numbers without a country code are read as {found['default_country']} numbers, "
                            "as most of yours with one are (a default_country row of a Settings sheet says otherwise)")
    if found.get("locale"):
        report.notes.append(f"dates typed as text are read as {found['locale']} writes them (day/month or month/day, as "
                            "your dates show; a locale row of a Settings sheet says otherwise)")
    tables = Tables(schema=schema, tables={}, lang=lang, meta=dict(meta), source=str(path),
                    sheet_names=tuple(set(grids) | {_META} if meta else set(grids)), adopted=True)
    if stages is not None:  # a Stages sheet: the template's stages, then the team's own
        from dataclasses import replace

        from crm_sheets.upgrade import missing_tables

        extra = missing_tables(path, tables, ["stages"])
        for add in extra.tables:
            names = [c.field for c in add.columns]
            last = max((r[names.index("order")] or 0 for r in add.rows), default=0) if "order" in names else 0
            rows = [tuple(label if f == "stage" else (last + i if f == "order" else None) for f in names)
                    for i, label in enumerate(stages, start=1)]
            changes.tables.append(replace(add, rows=(*add.rows, *rows)))
        if stages:
            report.notes.append(f"the Stages sheet lists your stages {', '.join(stages[:6])}{', ...' if len(stages) > 6 else ''} "
                                "after the template's: fill in their probability (and Won or Lost)")
        else:
            report.notes.append("a Stages sheet lists the template's stages, with their probability and Won or Lost, "
                                "which your deals' stages are read against")
    store = XlsxStore(path)
    with store.lock():
        backup = atomic_replace(path, lambda tmp: apply_changeset(path, tmp, changes, tables), 5)
    report.written = True
    report.backup = str(backup) if backup else None
