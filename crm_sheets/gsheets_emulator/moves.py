"""batchUpdate kinds of what people do by hand in a Sheet, beyond what the store sends: moveDimension (a column
or rows dragged elsewhere) and filter views (addFilterView, deleteFilterView). Registered with the other
handlers (requests.HANDLERS) when the emulator's API module is imported."""
from __future__ import annotations

import copy

from .errors import ApiError
from .model import Spreadsheet, Sheet
from .layout_requests import dimension_range
from .requests import handler
from .resource import grid_range, sheet_for


def _mover(start: int, end: int, dest: int):
    """old index -> new index when [start, end) moves to ``dest`` (an index before the move, as the API says)."""
    n = end - start
    to = dest - n if dest > start else dest  # where the block starts once moved

    def new(i: int) -> int:
        if start <= i < end:
            return to + (i - start)
        rest = i - n if i >= end else i  # its index with the block taken out
        return rest + n if rest >= to else rest
    return new


def _move_range(rng: dict, lo: str, hi: str, new) -> None:
    """A range's bounds moved, when it still covers one contiguous run of rows/columns after the move."""
    if rng.get(lo) is None or rng.get(hi) is None:
        return
    a, b = int(rng[lo]), int(rng[hi])
    if b <= a:
        return
    moved = sorted(new(i) for i in range(a, b))
    if moved[-1] - moved[0] == len(moved) - 1:
        rng[lo], rng[hi] = moved[0], moved[-1] + 1


@handler("moveDimension")
def move_dimension(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, dimension, start, end = dimension_range(book, body.get("source") or {}, where)
    count = sheet.row_count if dimension == "ROWS" else sheet.column_count
    if body.get("destinationIndex") is None:
        raise ApiError(400, f"{where}destinationIndex is required")
    dest = int(body["destinationIndex"])
    if end > count or dest < 0 or dest > count:
        raise ApiError(400, f"{where}Invalid move: source {start}:{end}, destination {dest} on a grid of {count}")
    if start <= dest <= end or start == end:
        return {}  # onto itself: nothing moves
    new = _mover(start, end, dest)
    if dimension == "ROWS":
        rows = sheet.rows + [None] * (count - len(sheet.rows))
        moved: list = [None] * count
        for i, row in enumerate(rows):
            moved[new(i)] = row
        while moved and moved[-1] is None:
            moved.pop()
        sheet.rows = moved
    else:
        for r, row in enumerate(sheet.rows):
            if not row:
                continue
            padded = row + [None] * (count - len(row))
            out: list = [None] * count
            for i, entry in enumerate(padded):
                out[new(i)] = entry
            while out and out[-1] is None:
                out.pop()
            sheet.rows[r] = out
    lo, hi = ("startRowIndex", "endRowIndex") if dimension == "ROWS" else ("startColumnIndex", "endColumnIndex")
    for rng in book.iter_ranges():
        if int(rng.get("sheetId", 0) or 0) == sheet.id:
            _move_range(rng, lo, hi, new)
    meta = sheet.row_meta if dimension == "ROWS" else sheet.col_meta
    moved_meta = {new(i): props for i, props in meta.items() if i < count}
    meta.clear()
    meta.update(moved_meta)
    for m in book.developer_metadata:
        rng = m["location"].get("dimensionRange")
        if rng and int(rng.get("sheetId", 0) or 0) == sheet.id and rng.get("dimension") == dimension:
            _move_range(rng, "startIndex", "endIndex", new)
    return {}


def filter_views(sheet: Sheet) -> list[dict]:
    return sheet.__dict__.setdefault("filter_views", [])


@handler("addFilterView")
def add_filter_view(book: Spreadsheet, body: dict, where: str) -> dict:
    view = copy.deepcopy(body.get("filter") or {})
    if view.get("range") is None:
        raise ApiError(400, f"{where}A filter view needs a range.")
    sheet = grid_range(book, view["range"], where=where)[0]
    taken = {v.get("filterViewId") for s in book.sheets for v in filter_views(s)}
    if view.get("filterViewId") in taken:
        raise ApiError(400, f"{where}A filter view with id {view['filterViewId']} already exists.")
    if view.get("filterViewId") is None:
        view["filterViewId"] = book.new_object_id()
    filter_views(sheet).append(view)
    return {"addFilterView": {"filter": copy.deepcopy(view)}}


@handler("deleteFilterView")
def delete_filter_view(book: Spreadsheet, body: dict, where: str) -> dict:
    wanted = body.get("filterId")
    for sheet in book.sheets:
        views = filter_views(sheet)
        for i, view in enumerate(views):
            if view.get("filterViewId") == wanted:
                del views[i]
                return {}
    raise ApiError(400, f"{where}No filter view with id: {wanted}")


__all__ = ["filter_views", "sheet_for"]
