"""The hidden ``_crm_meta`` sheet: Key | Value rows the store reads back (template, schema version,
language, creation time and the next ID number of every table, ``seq.<table>``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from crm_sheets.builder.layout import META_SHEET, Plan


def meta_rows(plan: Plan, seq: Mapping[str, int], now: datetime) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("template", plan.schema.name),
        ("schema_version", plan.schema.version),
        ("lang", plan.lang),
        ("created", now.isoformat(timespec="seconds")),
    ]
    rows += [(f"seq.{name}", seq[name]) for name in plan.order if name in seq]
    return rows


def write_meta_sheet(workbook: Any, rows: list[tuple[str, Any]]) -> Any:
    ws = workbook.add_worksheet(META_SHEET)
    ws.write_string(0, 0, "Key")
    ws.write_string(0, 1, "Value")
    for r, (key, value) in enumerate(rows, start=1):
        ws.write_string(r, 0, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            ws.write_number(r, 1, value)
        else:
            ws.write_string(r, 1, str(value))
    ws.set_column(0, 1, 24)
    ws.hide()
    return ws
