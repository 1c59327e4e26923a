"""The result of a button's run shown in the open book: a small block on the Start sheet (last run, jobs,
result, changes, first error), beside the buttons, written in one call. A block whose first cell holds
something else than our label is the person's: it is left alone."""
from __future__ import annotations

from typing import Any

LABEL = "Last run"
FIRST_ROW, FIRST_COL = 1, 5  # E1, right of the buttons (C2:D7)


def start_sheet(book: Any, meta: dict[str, Any] | None = None) -> Any:
    """The Start sheet: the one _crm_meta names (sheet.start), else the first sheet called Start."""
    names = [s.name for s in book.sheets]
    wanted = [str((meta or {}).get("sheet.start") or ""), "Start", "Accueil"]
    for name in wanted:
        if name and name in names:
            return book.sheets[name]
    return None


def show_status(book: Any, rows: list[tuple[str, Any]], meta: dict[str, Any] | None = None) -> bool:
    """Write ``rows`` (label, value) from E1 down on the Start sheet; False when there is no place for them."""
    sheet = start_sheet(book, meta)
    if sheet is None:
        return False
    first = sheet.range((FIRST_ROW, FIRST_COL)).value
    if first not in (None, "", LABEL):
        return False  # the person's own cell
    from crm_sheets.store.excel.values import to_excel

    block = [[to_excel(LABEL if i == 0 else label), to_excel(value)] for i, (label, value) in enumerate(rows)]
    sheet.range((FIRST_ROW, FIRST_COL), (FIRST_ROW + len(block) - 1, FIRST_COL + 1)).value = block
    return True
