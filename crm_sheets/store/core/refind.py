"""Finding records again just before a write. A live backend (Google Sheets, Excel) re-reads the sheets a
plan touches; this finds each record's row now by its ID (people sort and insert rows meanwhile) and stops the
write with WorkbookChanged when a header, a record the write touches or a numbering key changed since the read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from crm_sheets.errors import CrmSheetsError, WorkbookChanged
from crm_sheets.model.tables import Table, column_index, column_letter
from crm_sheets.model.values import as_text, is_empty

AGAIN = "run again to work on the fresh data"


col_index = column_index  # 0-based column of column letters (model/tables.py), under the name its importers use


blank = is_empty  # a grid cell with nothing in it (None, '' or NaN): the model's one definition


def first_difference(now: list[Any], was: list[Any], skip: Callable[[int], bool] | None = None) -> int | None:
    """The first column where two rows differ (blanks equal, trailing blanks ignored, numbers compared as
    numbers), or None when they are equal. ``skip(c)`` leaves a column out."""
    for c in range(max(len(now), len(was))):
        if skip is not None and skip(c):
            continue
        x = now[c] if c < len(now) else None
        y = was[c] if c < len(was) else None
        if blank(x) and blank(y):
            continue
        if x != y and not (isinstance(x, (int, float)) and isinstance(y, (int, float)) and float(x) == float(y)):
            return c
    return None


def _row(grid: list[list[Any]], r: int) -> list[Any]:
    return list(grid[r]) if 0 <= r < len(grid) else []


def _key(v: Any) -> str:
    """An ID or _crm_meta key as the reader takes it."""
    return as_text(v).strip()


@dataclass
class TableNow:
    """A table's sheet as the fresh read shows it, with where its records are now."""

    table: Table
    title: str
    header: int  # 0-based header row
    cols: dict[str, int]  # field -> 0-based column
    headers: list[Any]  # the header row now
    ids: dict[str, int]  # record ID -> 0-based row now (the first row holding it)
    last: int  # 0-based row of the last record now (the header row when there is none)
    fresh: list[list[Any]]  # the sheet now, from A1
    read: list[list[Any]]  # the sheet as the jobs' read saw it, from A1


def find_table(table: Table, fresh: list[list[Any]], read: list[list[Any]] | None, *, workbook: str) -> TableNow:
    """Where ``table``'s records are in ``fresh``; WorkbookChanged when its headers changed since ``read``
    (``read`` None: the sheet was not read, nothing to compare). ``workbook`` names it in messages."""
    header = (table.header_row or 1) - 1
    cols = {f: col_index(letter) for f, letter in table.columns.items()}
    if read is not None and first_difference(_row(fresh, header), _row(read, header)) is not None:
        raise WorkbookChanged(f"{workbook}: the headers of {table.sheet} changed since they were read; nothing was "
                              "written", hint=AGAIN)
    id_col = cols.get("id")
    ids: dict[str, int] = {}
    last = header
    for r in range(header + 1, len(fresh)):
        row = fresh[r]
        if id_col is not None and id_col < len(row) and not blank(row[id_col]):
            ids.setdefault(_key(row[id_col]), r)
            last = r
        elif id_col is None:  # a rule, archive or log table: rows keyed row<N>, the last row holding anything
            if any(not blank(v) for v in row):
                last = r
        elif r == last + 1 and any(not blank(row[c]) for c in cols.values() if c < len(row)):
            last = r  # a record typed without an ID right under the others (a field cell holds something)
    for rid in table.assigned_ids:  # rows the reader gave an ID: found where they were, if still as they were
        was = table.rows.get(rid)
        if was:
            last = max(last, was - 1)
    return TableNow(table, table.sheet, header, cols, _row(fresh, header), ids, last, fresh, read or [])


def find_record(lay: TableNow, rid: str, *, workbook: str, skip: Callable[[int, int], bool] | None = None) -> int:
    """The 0-based row of record ``rid`` now; WorkbookChanged when it is gone, or its row differs from the
    read. ``skip(row, col)`` leaves a cell of the fresh row out (Excel: formula cells it recomputes)."""
    t = lay.table
    was = t.rows.get(rid)
    if was is None:
        raise CrmSheetsError(f"{t.name}: record {rid} is not in the workbook",
                             hint="read the workbook again and re-run the job")
    # Rows the reader numbered itself, and tables without IDs, have no ID in the sheet to find them by.
    now = was - 1 if rid in t.assigned_ids or "id" not in lay.cols else lay.ids.get(rid)
    if now is None:
        raise WorkbookChanged(f"{workbook}: record {rid} of {lay.title} was removed or its ID changed since it was "
                              "read; nothing was written", hint=AGAIN)
    col = first_difference(_row(lay.fresh, now), _row(lay.read, was - 1),
                           skip=(lambda c: skip(now, c)) if skip is not None else None)
    if col is not None:
        raise WorkbookChanged(f"{workbook}: {lay.title}!{column_letter(col)}{now + 1} (record {rid}) was changed "
                              "since it was read; nothing was written, the edit is kept", hint=AGAIN)
    return now


def find_records(layouts: dict[str, TableNow], wanted: Iterable[tuple[str, str]], *, workbook: str,
                 skip: Callable[[str, int, int], bool] | None = None) -> dict[tuple[str, str], int]:
    """(table, record ID) -> 0-based row now, for every record a write changes or archives (``find_record``).
    ``skip(sheet, row, col)`` as there."""
    rows: dict[tuple[str, str], int] = {}
    for name, rid in wanted:
        if (name, rid) not in rows:
            lay = layouts[name]
            cell_skip = (lambda r, c, s=lay.title: skip(s, r, c)) if skip is not None else None
            rows[(name, rid)] = find_record(lay, rid, workbook=workbook, skip=cell_skip)
    return rows


def check_numbering(keys: Iterable[str], fresh: list[list[Any]], read: list[list[Any]], *, workbook: str) -> None:
    """WorkbookChanged when a ``seq.`` key among ``keys`` of _crm_meta (key in column A) is not in the same rows,
    with the same cells, in ``fresh`` as in ``read``: someone else's run numbered records meanwhile."""
    for key in keys:
        if not key.startswith("seq."):
            continue
        now = [r for r in fresh if r and not blank(r[0]) and _key(r[0]) == key]
        was = [r for r in read if r and not blank(r[0]) and _key(r[0]) == key]
        if len(now) != len(was) or any(first_difference(list(a), list(b)) is not None for a, b in zip(now, was)):
            raise WorkbookChanged(f"{workbook}: record numbering ({key}) changed since it was read; nothing was "
                                  "written", hint=AGAIN)
