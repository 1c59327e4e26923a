"""`upgrade`: bring an existing workbook up to its template and its Fields sheet without losing a cell.

Adds the columns of custom fields (rows of the Fields sheet) and of fields the template gained, and the
table sheets the template gained, each looking and validated as `crm-sheets new` would make it; then sets
the schema version in _crm_meta. Nothing people have is removed, renamed or retyped.

Where a new column goes: right after the table's last column, inside its Excel table. When people keep
their own data in the columns beside the table, the column goes to the first empty column past it,
outside the Excel table (read by its header like any column), and the report says so. A new table
sheet goes after every existing sheet. A dropdown whose list the workbook lacks (a custom field's, or
a template list added since) gets its options as an in-cell list.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from crm_sheets.builder.cells import cell_value
from crm_sheets.builder.formats import number_format
from crm_sheets.builder.layout import SPARE_ROWS, DEFAULT_SPARE, Plan, TablePlan, make_plan, template_rows
from crm_sheets.builder.settings import settings_rows
from crm_sheets.builder.sheet import TAB_COLOURS, TABLE_STYLES
from crm_sheets.builder.validation import column_rule, field_help
from crm_sheets.errors import WorkbookBusy
from crm_sheets.model.changeset import ChangeSet, ColumnAdd, TableAdd
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Field, TableSchema
from crm_sheets.model.tables import Tables, column_letter, format_id, quote_sheet
from crm_sheets.store import open_store
from crm_sheets.store.core.layout import WorkbookLayout

_LIST_MAX = 255  # Excel's limit on an in-cell list ("a,b,c")
_TITLE_MAX = 32
_MESSAGE_MAX = 255
_INLINE_LIST_ERROR = {
    "en": "This value is not one of the options. Pick one from the list.",
    "fr": "Cette valeur ne fait pas partie des options. Choisissez-en une dans la liste.",
}


class AddedColumn(NamedTuple):
    table: str
    field: str
    sheet: str
    column: str  # column letter


class AddedTable(NamedTuple):
    table: str
    sheet: str


@dataclass
class UpgradeReport:
    """What upgrade did (or, with dry_run, would do) to one workbook."""

    path: str
    template: str
    schema_version_before: int | None
    schema_version_after: int | None
    added_columns: list[AddedColumn] = field(default_factory=list)
    added_tables: list[AddedTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what upgrade chose, and what it would not do
    dry_run: bool = False
    written: bool = False
    backup: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added_columns or self.added_tables or self.schema_version_after != self.schema_version_before)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "template": self.template,
            "schema_version_before": self.schema_version_before,
            "schema_version_after": self.schema_version_after,
            "added_columns": [c._asdict() for c in self.added_columns],
            "added_tables": [t._asdict() for t in self.added_tables],
            "notes": list(self.notes),
            "dry_run": self.dry_run,
            "written": self.written,
            "backup": self.backup,
        }


def upgrade(path: str | Path, *, dry_run: bool = False) -> UpgradeReport:
    """Add what the workbook at ``path`` (a file or a store URL) lacks (custom fields' columns, the template's
    new fields and tables).

    A malformed Fields row raises SchemaError naming its sheet and row, before anything is written.
    Running it twice changes nothing the second time.
    """
    store = open_store(path)
    # One writer at a time, from the read on (a dry run only reads: no lock file).
    with contextlib.nullcontext() if dry_run else store.lock():
        tables = store.read()
        lacking = [name for name, t in tables.tables.items() if any(f.name not in t.columns for f in t.schema.fields)]
        layout = store.layout(tables, only=lacking)
        changes, report = plan_upgrade(tables, layout, store.name if str(path).startswith("gsheets:") else str(path))
        report.dry_run = dry_run
        if dry_run or changes.is_empty():
            return report
        holder = store.open_by()
        if holder is not None:
            raise WorkbookBusy(f"{store.name} is open by {holder}; nothing was changed", hint="close it and run crm-sheets upgrade again")
        result = store.apply(changes, tables)
    report.written, report.backup = result.written, result.backup
    return report


# ---------------------------------------------------------------------------------------------
# Planning (no file is touched)


def plan_upgrade(tables: Tables, layout: WorkbookLayout, path: str = "") -> tuple[ChangeSet, UpgradeReport]:
    """The change set that upgrades a workbook (as read, and laid out as ``layout`` says), and its report."""
    schema, lang = tables.schema, tables.lang
    before = tables.meta.get("schema_version")
    report = UpgradeReport(path or tables.source, schema.name, before, before)
    report.notes += tables.notes
    changes = ChangeSet()
    plan = _plan(tables, layout)
    names = set(layout.names)
    sheets = {s.casefold() for s in layout.sheets}

    for name, t in schema.tables.items():
        if name in tables.tables:
            continue
        base = t.sheet_name(lang)
        sheet = _free_sheet_name(base, sheets)
        if sheet != base:
            report.notes.append(f"{base}: a sheet of this name has no {base} headers; "
                                f"the new table goes on sheet {sheet} and yours is left as it is")
        _add_table(changes, name, t, sheet, plan, tables, names, sheets, report)
        report.added_tables.append(AddedTable(name, sheet))

    for name, table in tables.tables.items():
        tl = layout.tables.get(name)
        missing = [f for f in table.schema.fields if f.name not in table.columns]
        if not missing or tl is None:
            continue
        if any(f.type == "id" for f in missing):
            report.notes.append(f"{table.sheet}: no ID column; upgrade does not add one at the far right (insert it as column A)")
            missing = [f for f in missing if f.type != "id"]
        used = set(tl.used_columns)
        last = tl.last_col
        n = len(table)
        last_row = tl.validation_end or tl.header_row + max(n, 1) + SPARE_ROWS.get(table.schema.kind, DEFAULT_SPARE)
        for f in missing:
            index = last + 1
            while index in used:
                index += 1
            letter = column_letter(index)
            if index != last + 1 and tl.excel_table:
                report.notes.append(
                    f"{table.sheet}: columns {column_letter(last + 1)}:{column_letter(index - 1)} beside the table hold your "
                    f"own data, so {f.header(lang)!r} went to column {letter}, outside the Excel table; it is read by its "
                    "header (drag it into the table in your spreadsheet if you want it filtered with the rest)")
            else:
                last = index
            used.add(index)
            tp = TablePlan(table.schema, table.sheet, n, last_row, {**table.columns, f.name: letter})
            changes.columns.append(_column_add(table.schema, f, letter, tl.header_row, last_row, plan, tp, names, report, tables))
            report.added_columns.append(AddedColumn(name, f.name, table.sheet, letter))

    if before is None or schema.version > before:
        changes.meta["schema_version"] = schema.version
        report.schema_version_after = schema.version
        if before is not None:
            report.notes.append(
                f"template {schema.name} version {before} -> {schema.version}: columns people have are kept as they are; "
                "a field whose type, title or options changed in the template keeps its cells and its validation")
    elif schema.version < before:
        report.notes.append(f"the workbook is schema version {before}, newer than this crm-sheets' template "
                            f"({schema.version}); nothing to upgrade, upgrade crm-sheets instead")
    if not tables.meta.get("template"):
        changes.meta.setdefault("template", schema.name)
        changes.meta.setdefault("lang", lang)
    return changes, report


def missing_tables(path: Any, tables: Tables, wanted: list[str]) -> ChangeSet:
    """The sheets of the tables a job is about to write to that the workbook lacks (Merged, Audit Log...),
    made as upgrade makes them, so a run writes them instead of asking for an upgrade. Empty when none lack.
    ``path``: the store (or a workbook file's path)."""
    changes = ChangeSet()
    wanted = [n for n in dict.fromkeys(wanted) if n in tables.schema.tables and n not in tables.tables]
    if not wanted:
        return changes
    store = path if hasattr(path, "layout") else open_store(path)
    layout = store.layout(tables, only=())  # sheet and defined names only: no table is scanned
    plan = _plan(tables, layout)
    names = set(layout.names)
    sheets = {s.casefold() for s in layout.sheets}
    report = UpgradeReport(str(getattr(path, "path", path)), tables.schema.name, None, None)
    for name in wanted:
        t = tables.schema.tables[name]
        sheet = _free_sheet_name(t.sheet_name(tables.lang), sheets)  # a team's sheet of that name stays as it is
        _add_table(changes, name, t, sheet, plan, tables, names, sheets, report)
    return changes


def _free_sheet_name(base: str, sheets: set[str]) -> str:
    """``base``, or "base (2)", "base (3)"... the first name no sheet has (``sheets`` holds casefolded names)."""
    sheet, n = base, 2
    while sheet.casefold() in sheets:
        sheet, n = f"{base} ({n})", n + 1
    return sheet


def _add_table(changes: ChangeSet, name: str, t, sheet: str, plan: "Plan", tables: Tables, names: set[str],
               sheets: set[str], report: "UpgradeReport") -> None:
    """Add the table ``name`` on the new sheet ``sheet`` to the change set (its defined names and ID sequence too)."""
    sheets.add(sheet.casefold())
    add = _table_add(t, sheet, plan, tables, names, report)
    changes.tables.append(add)
    names.update(add.names)
    if t.id_prefix:
        changes.sequences[name] = len(add.rows) + 1


def _plan(tables: Tables, layout: WorkbookLayout) -> Plan:
    """The builder's plan of this schema, with the sheet names this workbook really has."""
    schema, lang = tables.schema, tables.lang
    plan = make_plan(schema, lang, {}, settings_rows(schema, lang))
    for name, table in tables.tables.items():
        old = plan.tables[name]
        plan.tables[name] = TablePlan(old.schema, table.sheet, len(table), old.last_row, {**old.columns, **table.columns})
    return plan


def _column_add(t: TableSchema, f: Field, letter: str, header_row: int, last_row: int, plan: Plan, tp: TablePlan,
                names: set[str], report: UpgradeReport, tables: Tables) -> ColumnAdd:
    lang = tables.lang
    first = header_row + 1
    help_text = f.help(lang).strip()
    if f.custom and help_text and help_text[-1] not in ".!?:":
        f = replace(f, description={lang: help_text + ".", "en": help_text + "."})  # a sentence before the type hint
    validations: list[tuple[str, Mapping[str, Any]]] = [(f"{letter}{header_row}", {
        "validate": "any",
        "input_title": _clip(f.header(lang), _TITLE_MAX),
        "input_message": _clip(field_help(f, plan, tp), _MESSAGE_MAX),
    })]
    rule = column_rule(f, letter, plan, tp)
    if rule is not None:
        rule = _resolve_source(rule, f, tables, names, report, tp.sheet)
    if rule is not None:
        if first != 2:
            rule = {k: (_first_row(v, letter, first) if isinstance(v, str) else v) for k, v in rule.items()}
        validations.append((f"{letter}{first}:{letter}{last_row}", rule))
    ftype = field_type(f.type)
    currency = f.currency or tables.setting("currency") if ftype.per_currency else None
    return ColumnAdd(
        table=t.name, field=f.name, column=letter, header=f.header(lang), required=f.required,
        owned=bool(f.owned_by_job), width=_width(f, tables),
        num_format=number_format(f.type, str(currency).strip().upper() if currency else None, lang),
        wrap=ftype.wrap, align=ftype.align or ("left" if t.kind == "settings" else None),
        validations=tuple(validations),
    )


def _resolve_source(rule: dict[str, Any], f: Field, tables: Tables, names: set[str], report: UpgradeReport,
                    sheet: str) -> dict[str, Any] | None:
    """A list validation names a defined name (list_x, ids_x, team_names): use it when the workbook has it,
    else the options themselves when they fit in a cell's list, else no rule (check still reports bad values)."""
    source = rule.get("source")
    if not isinstance(source, str) or not source.startswith("="):
        return rule
    name = source[1:]
    if name in names:
        return rule
    labels: list[str] = []
    if f.list:
        labels = tables.list(f.list).labels(tables.lang)
    inline = ",".join(labels)
    if labels and len(inline) <= _LIST_MAX and not any("," in x or '"' in x for x in labels):
        out = dict(rule, source=labels)
        if not field_type(f.type).multiple:
            out["error_message"] = _INLINE_LIST_ERROR.get(tables.lang, _INLINE_LIST_ERROR["en"])
        return out
    report.notes.append(f"{sheet}: {f.header(tables.lang)!r} gets no dropdown "
                        f"({'its options are too long for one' if labels else f'the workbook has no {name}'}); "
                        "crm-sheets check still reports values that are not options")
    return None


def _first_row(formula: str, letter: str, first: int) -> str:
    """The builder's rules start on row 2; move their row-2 references to the table's first data row."""
    return re.sub(rf"(?<![A-Za-z0-9_.])(\$?{letter}\$?)2(?!\d)", rf"\g<1>{first}", formula)


def _width(f: Field, tables: Tables) -> float:
    width = float(f.width or field_type(f.type).width)
    if field_type(f.type).options and f.list:
        width = max(width, min(40, 3 + max((len(x) for x in tables.list(f.list).labels(tables.lang)), default=0)))
    return max(width, min(40, len(f.header(tables.lang)) * 1.1 + 4))


def _table_add(t: TableSchema, sheet: str, plan: Plan, tables: Tables, names: set[str], report: UpgradeReport) -> TableAdd:
    lang, schema = tables.lang, tables.schema
    rows = template_rows(t, lang)
    last_row = 1 + max(len(rows), 1) + SPARE_ROWS.get(t.kind, DEFAULT_SPARE)
    columns = {f.name: column_letter(i) for i, f in enumerate(t.fields)}
    tp = TablePlan(t, sheet, len(rows), last_row, columns)
    plan.tables[t.name] = tp
    new_names = {f"ids_{t.name}": f"{quote_sheet(sheet)}!$A$2:$A${last_row}"} if t.id_prefix else {}
    known = names | set(new_names)
    adds = tuple(_column_add(t, f, columns[f.name], 1, last_row, plan, tp, known, report, tables) for f in t.fields)
    values = []
    for i, row in enumerate(rows, start=1):
        cells = []
        for f in t.fields:
            if f.type == "id":
                cells.append(format_id(t.id_prefix, i) if t.id_prefix else None)
                continue
            labels = ({o.key: o.label(lang) for o in schema.lists[f.list].options}
                      if field_type(f.type).options and f.list and not f.options_from else None)
            cells.append(cell_value(f, row.get(f.name), labels))
        values.append(tuple(cells))
    return TableAdd(
        table=t.name, sheet=sheet, excel_name=t.excel_name, columns=adds, rows=tuple(values),
        style=TABLE_STYLES[t.kind].replace(" ", ""), tab_color=TAB_COLOURS[t.kind].lstrip("#"),
        freeze_cols=1 if t.kind == "data" and t.id_prefix else 0, names=new_names,
    )


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


__all__ = ["AddedColumn", "AddedTable", "UpgradeReport", "missing_tables", "plan_upgrade", "upgrade"]
