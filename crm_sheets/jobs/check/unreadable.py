"""Cells the store could not read as their type (Table.invalid): report them, and convert the ones that read
unambiguously with the workbook's locale (a date or number typed as text) — never a guess. Cells the
store did read, but from text (Table.typed_text): offer to write them as real dates, numbers, boxes.
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd

from crm_sheets.jobs.check.common import Collector, Context, quote, show
from crm_sheets.model import Table
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Field
from crm_sheets.model.values import is_missing

# What a cell of each type should be, how to type one, and the slug of one typed as text: the registry's.
_DMY = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})\s*$")


def check_invalid(ctx: Context, out: Collector, table: Table, f: Field, raws: dict[str, Any]) -> None:
    ftype = field_type(f.type)
    for rid, raw in raws.items():
        parsed = parse(ctx, f, raw)
        kind = _kind(f)
        if parsed is not None:
            out.add(
                ftype.as_text_slug, "warning", table, rid, f.name, raw,
                f"{quote(raw)} is {kind} typed as text, so reports and automations cannot use it",
                f"check --fix writes it as {show(parsed)}",
                fix=parsed, fixable=not f.owned_by_job,
            )
            continue
        todo = ftype.how
        m = _DMY.match(str(raw)) if ftype.temporal else None
        if m and int(m.group(1)) <= 12 and int(m.group(2)) <= 12 and m.group(1) != m.group(2):
            what = f"{quote(raw)} could be read two ways (day/month or month/day)"
            todo = "type it as year-month-day (2025-04-03), or set the locale in Settings"
        else:
            what = f"{quote(raw)} is not {kind}"
        out.add(f"invalid-{f.type}", "error", table, rid, f.name, raw, what, todo)


def check_typed_text(out: Collector, table: Table, f: Field, col: pd.Series, raws: dict[str, Any]) -> None:
    """Text the store read as the column's type: a tidy-up, whose fix is the value already in the frame.

    Reports and automations already use the value; Excel does not (sorting, filters, formulas see
    text), so --fix writes the real value into the cell.
    """
    kind = _kind(f)
    slug = field_type(f.type).as_text_slug
    values = col.to_dict() if len(raws) > len(col) // 4 else None  # many: one pass; few: lookups
    for rid, raw in raws.items():
        value = values[rid] if values is not None else col.get(rid)
        if is_missing(value):
            continue  # changed since it was read (a fix, another job): nothing to convert any more
        fix = _frame_value(f, value)
        out.add(
            slug, "info", table, rid, f.name, raw,
            f"{quote(raw)} is {kind} typed as text, so Excel sorts, filters and sums it as text",
            f"check --fix writes it as {show(fix)}",
            fix=fix, fixable=not f.owned_by_job,
        )


def _frame_value(f: Field, value: Any) -> Any:
    """A frame cell as the plain value a CellUpdate carries: Timestamp, float, int or bool."""
    return field_type(f.type).frame_value(value)


def _kind(f: Field) -> str:
    return field_type(f.type).kind or f"a {f.type.replace('_', ' ')}"


def parse(ctx: Context, f: Field, raw: Any) -> Any:
    """The typed value of a raw cell when values.parse_value reads it without doubt, else None."""
    if ctx.value_context is None:
        return None
    try:
        from crm_sheets.model.values import parse_value

        value, ok = parse_value(f, raw, ctx.value_context, None)
    except Exception:  # a cell the parser chokes on is reported, not converted
        return None
    if not ok or is_missing(value) or isinstance(value, str):
        return None
    if field_type(f.type).temporal:
        return pd.Timestamp(value)  # the frame's dtype: a date object would turn the column to object
    return value
