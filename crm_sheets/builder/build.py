"""``build_workbook``: a new crm-sheets workbook from a schema, optionally filled with data.

Owns the safety of the file (never overwrite without ``force``, keep a backup, write to a temp file
and swap it in atomically) and the order of the sheets; each sheet kind has its own module.
"""
from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import xlsxwriter

from crm_sheets import __version__
from crm_sheets.store.safety import atomic_replace
from crm_sheets.builder.cells import column_values, writer
from crm_sheets.builder.formats import Formats
from crm_sheets.builder.layout import MAX_ROWS, Plan, make_plan, template_rows
from crm_sheets.builder.lists import write_lists_sheet
from crm_sheets.builder.meta import meta_rows, write_meta_sheet
from crm_sheets.builder.render import render_sheet
from crm_sheets.builder.settings import setting_value, settings_rows, validate_setting_values
from crm_sheets.builder.sheet import print_setup, write_table_sheet
from crm_sheets.builder.start import start_sheet_spec
from crm_sheets.errors import UsageError, WorkbookBusy
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import LANGUAGES, Schema, TableSchema, load_schema
from crm_sheets.model.tables import format_id, id_number

_OPTIONS = {
    "strings_to_formulas": False,  # a value typed "=1+1" or "=HYPERLINK(...)" stays text
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "remove_timezone": True,
}


def build_workbook(
    path: str | os.PathLike,
    schema: str | os.PathLike | Schema = "sales",
    lang: str = "en",
    data: Mapping[str, Any] | None = None,
    *,
    force: bool = False,
    now: datetime | None = None,
    fast: bool = True,
    file_name: str | None = None,
) -> Path:
    """Write a new workbook at ``path`` from a template name (or path, or Schema); returns the path.
    ``file_name`` is the name the Start sheet tells to run crm-sheets on (default: the file's own).

    ``data`` holds DataFrames in the jobs' view (indexed by record ID, columns = field names, dropdowns
    as option keys). An existing file is only replaced with ``force``, after a backup in ``.crm-backups/`` beside it.
    ``fast=False`` writes cells through XlsxWriter's public API (same workbook, slower; for tests).
    """
    if lang not in LANGUAGES:
        raise UsageError(f"unknown language {lang!r}", hint=f"choose one of {', '.join(LANGUAGES)}")
    if not isinstance(schema, Schema):
        schema = load_schema(schema)
    now = now or datetime.now()
    target = _check_target(Path(path), force)
    frames = _check_data(schema, data or {})

    settings = settings_rows(schema, lang, frames.get("settings"))
    columns: dict[str, dict[str, list[Any]]] = {}
    seq: dict[str, int] = {}
    for name, t in schema.tables.items():
        if t.kind == "settings":
            columns[name] = _settings_columns(t, settings, schema)
        else:
            columns[name], next_id = _table_columns(t, frames.get(name), schema, lang)
            if t.id_prefix:
                seq[name] = next_id
    rows = {name: max((len(v) for v in cols.values()), default=0) for name, cols in columns.items()}
    plan = make_plan(schema, lang, rows, settings)
    currency = setting_value(settings, "currency")

    # Same convention as every store write: temp file, fsync, backup in .crm-backups/, atomic swap.
    atomic_replace(target, lambda tmp: _write(tmp, plan, columns, seq, currency, now, file_name or target.name, fast))
    return target


def _check_target(path: Path, force: bool) -> Path:
    if path.suffix.lower() != ".xlsx":
        raise UsageError(f"{path}: a crm-sheets workbook is an .xlsx file", hint=f"use a name such as {path.stem or 'crm'}.xlsx")
    if not path.parent.is_dir():
        raise UsageError(f"{path}: the folder {path.parent} does not exist", hint="create it first or choose another place")
    if path.exists():
        if path.is_dir():
            raise UsageError(f"{path} is a folder", hint="give the path of the .xlsx file to create")
        if not force:
            raise UsageError(
                f"{path} already exists",
                hint="use --force to replace it (a backup is kept in .crm-backups beside it) or choose another name",
            )
        from crm_sheets.store.safety import office_lock_holder

        holder = office_lock_holder(path)
        if holder:
            raise WorkbookBusy(f"{path} is open in {holder}", hint="close it there, then run the command again")
    return path


def _check_data(schema: Schema, data: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, df in data.items():
        df = getattr(df, "df", df)  # a model Table is welcome too: its DataFrame is the data
        if name not in schema.tables:
            raise UsageError(
                f"sample data has a table {name!r} that template {schema.name!r} does not have",
                hint=f"tables are {', '.join(schema.tables)}",
            )
        t = schema.tables[name]
        if len(df) > MAX_ROWS - 1:
            raise UsageError(
                f"sample data for table {name!r} has {len(df):,} rows; an Excel sheet holds {MAX_ROWS - 1:,}",
                hint="split the data or use fewer rows",
            )
        if t.kind == "settings":
            out[name] = df
            continue
        unknown = [c for c in df.columns if c not in t.field_names or c == "id"]
        if unknown:
            raise UsageError(
                f"sample data for table {name!r} has a column {unknown[0]!r} that is not one of its fields",
                hint=f"fields are {', '.join(f for f in t.field_names if f != 'id')}",
            )
        out[name] = df
    return out


def _table_columns(
    t: TableSchema, df: pd.DataFrame | None, schema: Schema, lang: str
) -> tuple[dict[str, list[Any]], int]:
    """Cell values per field, and the table's next ID number."""
    if df is None:
        df = pd.DataFrame(template_rows(t, lang), columns=[f.name for f in t.fields if f.type != "id"])
    cols: dict[str, list[Any]] = {}
    next_id = 1
    if t.id_prefix:
        ids = [None if pd.isna(x) or not str(x).strip() else str(x) for x in df.index.tolist()]
        numbers = [id_number(x, t.id_prefix) for x in ids if x]
        next_id = max((n for n in numbers if n is not None), default=0) + 1
        for i, x in enumerate(ids):
            if x is None:  # a row without ID gets the next one, as the reader would give it
                ids[i] = format_id(t.id_prefix, next_id)
                next_id += 1
        cols["id"] = ids
    for f in t.fields:
        if f.type == "id" or f.name not in df.columns:
            continue
        labels = _labels(f, schema, lang)
        cols[f.name] = column_values(f, df[f.name], labels)
    if not cols and len(df):
        cols = {t.fields[0].name: [None] * len(df)}
    return cols, next_id


def _labels(f: Any, schema: Schema, lang: str) -> dict[str, str] | None:
    if field_type(f.type).options and f.list and not f.options_from:
        return {o.key: o.label(lang) for o in schema.lists[f.list].options}
    return None


def _settings_columns(t: TableSchema, settings: list[tuple[str, Any, str]], schema: Schema) -> dict[str, list[Any]]:
    df = pd.DataFrame(settings, columns=["setting", "value", "description"])
    cols = {}
    for f in t.fields:
        if f.name in df.columns:
            cols[f.name] = column_values(f, df[f.name])
    return cols


def _write(
    tmp: Path,
    plan: Plan,
    columns: dict[str, dict[str, list[Any]]],
    seq: dict[str, int],
    currency: Any,
    now: datetime,
    file_name: str,
    fast: bool = True,
) -> None:
    schema, lang = plan.schema, plan.lang
    wb = xlsxwriter.Workbook(str(tmp), _OPTIONS)
    try:
        formats = Formats(wb, lang)
        start = render_sheet(wb, formats, start_sheet_spec(plan, file_name=file_name, now=now))
        start.hide_gridlines(2)
        start.fit_to_pages(1, 0)
        print_setup(start, lang, landscape=False, repeat_header=False)
        start.activate()
        cur = str(currency).strip().upper() if currency else None
        for name in plan.order:
            tp = plan.tables[name]
            ws = write_table_sheet(wb, formats, plan, tp, columns[name], writer, cur, fast)
            if tp.schema.kind == "settings":
                validate_setting_values(ws, plan)
        write_lists_sheet(wb, formats, plan)
        write_meta_sheet(wb, meta_rows(plan, seq, now))
        for name, formula in plan.names.items():
            if wb.define_name(name, formula) != 0:
                raise RuntimeError(f"crm-sheets could not define the name {name} = {formula}")
        title = schema.title.get(lang) or schema.title["en"]
        wb.set_properties({
            "title": title,
            "subject": f"crm-sheets {schema.name}",
            "comments": schema.description.get(lang) or schema.description.get("en", ""),
            "keywords": f"crm-sheets, {schema.name}",
            "created": now,
        })
        wb.set_custom_property("crm_sheets_template", schema.name)
        wb.set_custom_property("crm_sheets_version", __version__)
        wb.set_size(1400, 900)
    except BaseException:
        with contextlib.suppress(Exception):
            wb.close()  # release the temp file; the caller deletes it
        raise
    wb.close()
