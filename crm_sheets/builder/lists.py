"""The Lists sheet: one column per dropdown list of the schema (header = list title), its labels in
the workbook language below. The ``list_<name>`` defined names of layout.py point at these columns.
"""
from __future__ import annotations

from typing import Any

from crm_sheets.builder.formats import Formats
from crm_sheets.builder.layout import Plan, column_index
from crm_sheets.builder.sheet import print_setup


def write_lists_sheet(workbook: Any, formats: Formats, plan: Plan) -> Any:
    ws = workbook.add_worksheet(plan.lists_sheet)
    header = formats.header()
    body = formats.named("text")
    for name, lst in plan.schema.lists.items():
        col = column_index(plan.list_columns[name])
        title = lst.label(plan.lang)
        labels = lst.labels(plan.lang)
        ws.write_string(0, col, title, header)
        for r, label in enumerate(labels, start=1):
            ws.write_string(r, col, label, body)
        ws.set_column(col, col, min(40, max(12, len(title) + 3, *(len(x) + 2 for x in labels))))
    ws.set_row(0, 20)
    ws.freeze_panes(1, 0)
    ws.set_tab_color("#BFBFBF")
    print_setup(ws, plan.lang)
    return ws

