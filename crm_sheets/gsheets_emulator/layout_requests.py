"""The emulator's batchUpdate requests on a sheet's layout and annotations: rows and columns, protected
ranges, merges, conditional formats, named ranges, filters, charts, banding and developer metadata.
Each registers itself with ``requests.handler``; cells and sheets are in requests.py.
"""
from __future__ import annotations

import copy
from typing import Any

from .conditions import check_chart_position, check_chart_spec, check_condition
from .errors import ApiError
from .fields import merge
from .model import Sheet, Spreadsheet
from .requests import field_paths, handler, new_sheet
from .resource import exceeds, grid_range, sheet_for


def dimension_range(book: Spreadsheet, rng: dict, where: str) -> tuple[Sheet, str, int, int]:
    sheet = sheet_for(book, rng.get("sheetId"), where)
    dimension = rng.get("dimension")
    if dimension not in ("ROWS", "COLUMNS"):
        raise ApiError(400, f"{where}dimension must be ROWS or COLUMNS")
    count = sheet.row_count if dimension == "ROWS" else sheet.column_count
    start = int(rng.get("startIndex") or 0)
    end = int(rng["endIndex"]) if rng.get("endIndex") is not None else count
    if start < 0 or end < start:
        raise ApiError(400, f"{where}Invalid dimension range: start {start}, end {end}")
    return sheet, dimension, start, end


@handler("insertDimension")
def insert_dimension(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, dimension, start, end = dimension_range(book, body.get("range") or {}, where)
    count = sheet.row_count if dimension == "ROWS" else sheet.column_count
    if start > count:
        raise ApiError(400, where + exceeds(sheet, start if dimension == "ROWS" else 0,
                                            start if dimension == "COLUMNS" else 0).message)
    if body.get("inheritFromBefore") and start == 0:
        raise ApiError(400, f"{where}Cannot inherit from before when inserting at the start")
    n = end - start
    if dimension == "ROWS":
        if start < len(sheet.rows):
            sheet.rows[start:start] = [None] * n
        sheet.grid["rowCount"] = count + n
    else:
        for row in sheet.rows:
            if row and start < len(row):
                row[start:start] = [None] * n
        sheet.grid["columnCount"] = count + n
    _shift(book, sheet, dimension, start, n, delete=False)
    return {}


@handler("deleteDimension")
def delete_dimension(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, dimension, start, end = dimension_range(book, body.get("range") or {}, where)
    count = sheet.row_count if dimension == "ROWS" else sheet.column_count
    if end > count:
        raise ApiError(400, where + exceeds(sheet, end - 1 if dimension == "ROWS" else 0,
                                            end - 1 if dimension == "COLUMNS" else 0).message)
    if start == 0 and end == count:
        what = "rows" if dimension == "ROWS" else "columns"
        raise ApiError(400, f"{where}You can't delete all the {what} on the sheet.")
    n = end - start
    if dimension == "ROWS":
        del sheet.rows[start:end]
        sheet.grid["rowCount"] = count - n
    else:
        for row in sheet.rows:
            if row:
                del row[start:end]
        sheet.grid["columnCount"] = count - n
    _shift(book, sheet, dimension, start, n, delete=True)
    return {}


@handler("appendDimension")
def append_dimension(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet = sheet_for(book, body.get("sheetId"), where)
    length = int(body.get("length") or 0)
    if length <= 0:
        raise ApiError(400, f"{where}length must be positive")
    key = {"ROWS": "rowCount", "COLUMNS": "columnCount"}.get(body.get("dimension"))
    if key is None:
        raise ApiError(400, f"{where}dimension must be ROWS or COLUMNS")
    sheet.grid[key] += length
    return {}


@handler("updateDimensionProperties")
def update_dimension_properties(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, dimension, start, end = dimension_range(book, body.get("range") or {}, where)
    paths = field_paths(body, where, "DimensionProperties")
    meta = sheet.row_meta if dimension == "ROWS" else sheet.col_meta
    given = {k: v for k, v in (body.get("properties") or {}).items() if k != "developerMetadata"}
    for i in range(start, end):
        current = meta.get(i, {})
        merge(current, given, [p for p in paths if p[0] != "developerMetadata"])
        if current:
            meta[i] = current
        else:
            meta.pop(i, None)
    return {}


def _moved(value: int, start: int, n: int, delete: bool, is_end: bool) -> int:
    if not delete:
        return value + n if (value > start or (value == start and not is_end)) else value
    if value <= start:
        return value
    return start if value <= start + n else value - n


def _shift(book: Spreadsheet, sheet: Sheet, dimension: str, start: int, n: int, delete: bool) -> None:
    """Move every range, row/column property and piece of metadata the insert or delete moved."""
    lo, hi = ("startRowIndex", "endRowIndex") if dimension == "ROWS" else ("startColumnIndex", "endColumnIndex")
    for rng in book.iter_ranges():
        if int(rng.get("sheetId", 0) or 0) != sheet.id:
            continue
        if rng.get(lo) is not None:
            rng[lo] = _moved(int(rng[lo]), start, n, delete, False)
        if rng.get(hi) is not None:
            rng[hi] = _moved(int(rng[hi]), start, n, delete, True)
    if delete:
        def empty(rng: dict) -> bool:
            return rng.get(lo) is not None and rng.get(hi) is not None and rng[lo] >= rng[hi]
        sheet.merges = [m for m in sheet.merges if not empty(m)]
        sheet.protected_ranges = [p for p in sheet.protected_ranges if "range" not in p or not empty(p["range"])]
        for rule in sheet.conditional_formats:
            rule["ranges"] = [r for r in rule.get("ranges", []) if not empty(r)]
        sheet.conditional_formats = [r for r in sheet.conditional_formats if r["ranges"]]
    meta = sheet.row_meta if dimension == "ROWS" else sheet.col_meta
    moved = {}
    for i, props in meta.items():
        if delete and start <= i < start + n:
            continue
        moved[_moved(i, start, n, delete, False) if not (delete and i < start) else i] = props
    meta.clear()
    meta.update(moved)
    kept = []
    for m in book.developer_metadata:
        rng = m["location"].get("dimensionRange")
        if rng and int(rng.get("sheetId", 0) or 0) == sheet.id and rng.get("dimension") == dimension:
            rng["startIndex"] = _moved(int(rng.get("startIndex") or 0), start, n, delete, False)
            rng["endIndex"] = _moved(int(rng.get("endIndex") or 0), start, n, delete, True)
            if rng["startIndex"] >= rng["endIndex"]:
                continue
        kept.append(m)
    book.developer_metadata = kept


# -- objects on sheets -------------------------------------------------------------------------------

@handler("addProtectedRange")
def add_protected_range(book: Spreadsheet, body: dict, where: str) -> dict:
    protected = copy.deepcopy(body.get("protectedRange") or {})
    if protected.get("range") is None and protected.get("namedRangeId") is None:
        raise ApiError(400, f"{where}A protected range must have a range or a named range.")
    if protected.get("range") is not None:
        sheet = grid_range(book, protected["range"], where=where)[0]
    else:
        named = _named(book, protected["namedRangeId"], where)
        sheet = sheet_for(book, named["range"].get("sheetId"), where)
    if protected.get("warningOnly") and protected.get("editors"):
        raise ApiError(400, f"{where}A warning-only protected range cannot have editors.")
    ids = {p["protectedRangeId"] for s in book.sheets for p in s.protected_ranges}
    if protected.get("protectedRangeId") in ids:
        raise ApiError(400, f"{where}A protected range with id {protected['protectedRangeId']} already exists.")
    if protected.get("protectedRangeId") is None:
        protected["protectedRangeId"] = book.new_object_id()
    protected["requestingUserCanEdit"] = True
    sheet.protected_ranges.append(protected)
    return {"addProtectedRange": {"protectedRange": copy.deepcopy(protected)}}


def _find_protected(book: Spreadsheet, protected_id: Any, where: str) -> tuple[Sheet, dict]:
    for sheet in book.sheets:
        for p in sheet.protected_ranges:
            if p["protectedRangeId"] == int(protected_id or 0):
                return sheet, p
    raise ApiError(400, f"{where}No protected range with id: {protected_id}")


@handler("deleteProtectedRange")
def delete_protected_range(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, protected = _find_protected(book, body.get("protectedRangeId"), where)
    sheet.protected_ranges.remove(protected)
    return {}


@handler("updateProtectedRange")
def update_protected_range(book: Spreadsheet, body: dict, where: str) -> dict:
    given = body.get("protectedRange") or {}
    sheet, protected = _find_protected(book, given.get("protectedRangeId"), where)
    merge(protected, given, [p for p in field_paths(body, where, "ProtectedRange") if p != ["protectedRangeId"]])
    if protected.get("range") is not None:
        target = grid_range(book, protected["range"], where=where)[0]
        if target is not sheet:
            sheet.protected_ranges.remove(protected)
            target.protected_ranges.append(protected)
    return {}


@handler("mergeCells")
def merge_cells(book: Spreadsheet, body: dict, where: str) -> dict:
    rng = copy.deepcopy(body.get("range") or {})
    sheet, r0, r1, c0, c1 = grid_range(book, rng, where=where)
    kind = body.get("mergeType") or "MERGE_ALL"
    if kind == "MERGE_ALL":
        pieces = [(r0, r1, c0, c1)]
    elif kind == "MERGE_ROWS":
        pieces = [(r, r + 1, c0, c1) for r in range(r0, r1)]
    else:
        pieces = [(r0, r1, c, c + 1) for c in range(c0, c1)]
    for a, b, c, d in pieces:
        for m in sheet.merges:
            if m["startRowIndex"] < b and a < m["endRowIndex"] and m["startColumnIndex"] < d and c < m["endColumnIndex"]:
                raise ApiError(400, f"{where}You can't merge cells that are already merged.")
        sheet.merges.append({"sheetId": sheet.id, "startRowIndex": a, "endRowIndex": b,
                             "startColumnIndex": c, "endColumnIndex": d})
    return {}


@handler("unmergeCells")
def unmerge_cells(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, r0, r1, c0, c1 = grid_range(book, body.get("range") or {}, where=where)
    sheet.merges = [m for m in sheet.merges if not (
        m["startRowIndex"] < r1 and r0 < m["endRowIndex"] and m["startColumnIndex"] < c1 and c0 < m["endColumnIndex"])]
    return {}


@handler("addConditionalFormatRule")
def add_conditional_format_rule(book: Spreadsheet, body: dict, where: str) -> dict:
    rule = copy.deepcopy(body.get("rule") or {})
    ranges = rule.get("ranges") or []
    if not ranges:
        raise ApiError(400, f"{where}A conditional format rule needs at least one range.")
    sheets = {grid_range(book, r, where=where)[0].id for r in ranges}
    if len(sheets) > 1:
        raise ApiError(400, f"{where}All ranges of a conditional format rule must be on the same sheet.")
    if bool(rule.get("booleanRule")) == bool(rule.get("gradientRule")):
        raise ApiError(400, f"{where}A conditional format rule needs exactly one of booleanRule or gradientRule.")
    if rule.get("booleanRule"):
        check_condition(book, rule["booleanRule"].get("condition") or {}, where, validation=False)
    sheet = book.sheet_by_id(sheets.pop())
    index = int(body.get("index") or 0)
    sheet.conditional_formats.insert(min(index, len(sheet.conditional_formats)), rule)
    return {}


@handler("deleteConditionalFormatRule")
def delete_conditional_format_rule(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet = sheet_for(book, body.get("sheetId"), where)
    index = int(body.get("index") or 0)
    if not 0 <= index < len(sheet.conditional_formats):
        raise ApiError(400, f"{where}No conditional format on sheet: {sheet.id} at index: {index}")
    return {"deleteConditionalFormatRule": {"rule": sheet.conditional_formats.pop(index)}}


@handler("updateConditionalFormatRule")
def update_conditional_format_rule(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet = sheet_for(book, body.get("sheetId"), where)
    index = int(body.get("index") or 0)
    if not 0 <= index < len(sheet.conditional_formats):
        raise ApiError(400, f"{where}No conditional format on sheet: {sheet.id} at index: {index}")
    old = sheet.conditional_formats[index]
    reply: dict[str, Any] = {"oldRule": copy.deepcopy(old), "oldIndex": index}
    if body.get("rule") is not None:
        if (body["rule"].get("booleanRule") or {}).get("condition") is not None:
            check_condition(book, body["rule"]["booleanRule"]["condition"], where, validation=False)
        sheet.conditional_formats[index] = copy.deepcopy(body["rule"])
        reply.update(newRule=copy.deepcopy(body["rule"]), newIndex=index)
    else:
        new_index = int(body.get("newIndex") or 0)
        sheet.conditional_formats.insert(new_index, sheet.conditional_formats.pop(index))
        reply.update(newRule=copy.deepcopy(old), newIndex=new_index)
    return {"updateConditionalFormatRule": reply}


def _named(book: Spreadsheet, named_id: str, where: str) -> dict:
    for named in book.named_ranges:
        if named.get("namedRangeId") == named_id:
            return named
    raise ApiError(400, f"{where}No named range with id: {named_id}")


@handler("addNamedRange")
def add_named_range(book: Spreadsheet, body: dict, where: str) -> dict:
    named = copy.deepcopy(body.get("namedRange") or {})
    name = named.get("name") or ""
    if not name or any(n.get("name", "").lower() == name.lower() for n in book.named_ranges):
        raise ApiError(400, f"{where}Named range name is empty or already used: {name!r}")
    grid_range(book, named.get("range") or {}, where=where)
    named.setdefault("namedRangeId", f"nr{book.new_object_id()}")
    book.named_ranges.append(named)
    return {"addNamedRange": {"namedRange": copy.deepcopy(named)}}


@handler("deleteNamedRange")
def delete_named_range(book: Spreadsheet, body: dict, where: str) -> dict:
    book.named_ranges.remove(_named(book, body.get("namedRangeId"), where))
    return {}


@handler("updateNamedRange")
def update_named_range(book: Spreadsheet, body: dict, where: str) -> dict:
    given = body.get("namedRange") or {}
    named = _named(book, given.get("namedRangeId"), where)
    paths = [p for p in field_paths(body, where, "NamedRange") if p != ["namedRangeId"]]
    name = given.get("name")
    if ["name"] in paths and (not name or any(n is not named and n.get("name", "").lower() == str(name).lower()
                                              for n in book.named_ranges)):
        raise ApiError(400, f"{where}Named range name is empty or already used: {name!r}")
    if ["range"] in paths or any(p[:1] == ["range"] for p in paths):
        grid_range(book, given.get("range") or {}, where=where)
    merge(named, given, paths)
    return {}


@handler("setBasicFilter")
def set_basic_filter(book: Spreadsheet, body: dict, where: str) -> dict:
    basic = copy.deepcopy(body.get("filter") or {})
    sheet = grid_range(book, basic.get("range") or {}, where=where)[0]
    sheet.basic_filter = basic
    return {}


@handler("clearBasicFilter")
def clear_basic_filter(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet_for(book, body.get("sheetId"), where).basic_filter = None
    return {}


@handler("addChart")
def add_chart(book: Spreadsheet, body: dict, where: str) -> dict:
    chart = copy.deepcopy(body.get("chart") or {})
    position = chart.get("position") or {}
    check_chart_spec(book, chart.get("spec") or {}, where)
    check_chart_position(book, position, where)
    if position.get("newSheet"):
        sheet = new_sheet(book, {"title": None, "sheetType": "OBJECT"}, where)
    elif position.get("sheetId") is not None:
        sheet = sheet_for(book, position["sheetId"], where)
    else:
        anchor = (position.get("overlayPosition") or {}).get("anchorCell") or {}
        sheet = sheet_for(book, anchor.get("sheetId"), where)
    if chart.get("chartId") is None:
        chart["chartId"] = book.new_object_id()
    sheet.charts.append(chart)
    return {"addChart": {"chart": copy.deepcopy(chart)}}


def _find_chart(book: Spreadsheet, chart_id: Any, where: str) -> tuple[Sheet, dict]:
    for sheet in book.sheets:
        for chart in sheet.charts:
            if chart["chartId"] == int(chart_id or 0):
                return sheet, chart
    raise ApiError(400, f"{where}No chart with id: {chart_id}")


@handler("updateChartSpec")
def update_chart_spec(book: Spreadsheet, body: dict, where: str) -> dict:
    check_chart_spec(book, body.get("spec") or {}, where)
    _find_chart(book, body.get("chartId"), where)[1]["spec"] = copy.deepcopy(body.get("spec") or {})
    return {}


@handler("deleteEmbeddedObject")
def delete_embedded_object(book: Spreadsheet, body: dict, where: str) -> dict:
    sheet, chart = _find_chart(book, body.get("objectId"), where)
    sheet.charts.remove(chart)
    return {}


@handler("addBanding")
def add_banding(book: Spreadsheet, body: dict, where: str) -> dict:
    banded = copy.deepcopy(body.get("bandedRange") or {})
    sheet = grid_range(book, banded.get("range") or {}, where=where)[0]
    banded.setdefault("bandedRangeId", book.new_object_id())
    sheet.banded_ranges.append(banded)
    return {"addBanding": {"bandedRange": copy.deepcopy(banded)}}


# -- developer metadata -----------------------------------------------------------------------------

def normalized_location(book: Spreadsheet, location: dict, where: str) -> dict:
    if location.get("spreadsheet"):
        return {"locationType": "SPREADSHEET", "spreadsheet": True}
    if location.get("sheetId") is not None:
        sheet = sheet_for(book, location["sheetId"], where)
        return {"locationType": "SHEET", "sheetId": sheet.id}
    rng = location.get("dimensionRange")
    if rng:
        sheet, dimension, start, end = dimension_range(book, rng, where)
        count = sheet.row_count if dimension == "ROWS" else sheet.column_count
        if end > count:
            raise ApiError(400, where + exceeds(sheet, end - 1 if dimension == "ROWS" else 0,
                                                end - 1 if dimension == "COLUMNS" else 0).message)
        return {"locationType": "ROW" if dimension == "ROWS" else "COLUMN",
                "dimensionRange": {"sheetId": sheet.id, "dimension": dimension, "startIndex": start, "endIndex": end}}
    raise ApiError(400, f"{where}Developer metadata must have a location.")


@handler("createDeveloperMetadata")
def create_developer_metadata(book: Spreadsheet, body: dict, where: str) -> dict:
    m = copy.deepcopy(body.get("developerMetadata") or {})
    if not m.get("metadataKey"):
        raise ApiError(400, f"{where}Developer metadata must have a key.")
    if m.get("visibility") not in ("DOCUMENT", "PROJECT"):
        raise ApiError(400, f"{where}Developer metadata must have a visibility of DOCUMENT or PROJECT.")
    m["location"] = normalized_location(book, m.get("location") or {}, where)
    if m.get("metadataId") is None:
        m["metadataId"] = book.new_object_id()
    elif any(x["metadataId"] == int(m["metadataId"]) for x in book.developer_metadata):
        raise ApiError(400, f"{where}Developer metadata with id {m['metadataId']} already exists.")
    m["metadataId"] = int(m["metadataId"])
    book.developer_metadata.append(m)
    return {"createDeveloperMetadata": {"developerMetadata": copy.deepcopy(m)}}


def metadata_matches(book: Spreadsheet, m: dict, data_filter: dict, where: str = "") -> bool:
    lookup = data_filter.get("developerMetadataLookup")
    if lookup is None:
        raise ApiError(400, f"{where}Only developerMetadataLookup data filters select developer metadata.")
    if lookup.get("metadataId") is not None and int(lookup["metadataId"]) != m["metadataId"]:
        return False
    for key in ("metadataKey", "metadataValue", "visibility"):
        if lookup.get(key) is not None and lookup[key] != m.get(key):
            return False
    if lookup.get("locationType") is not None and lookup["locationType"] != m["location"]["locationType"]:
        return False
    if lookup.get("metadataLocation") is not None:
        wanted = normalized_location(book, lookup["metadataLocation"], where)
        if lookup.get("locationMatchingStrategy") == "INTERSECTING_LOCATION" and "dimensionRange" in wanted:
            a, b = wanted["dimensionRange"], m["location"].get("dimensionRange")
            return bool(b) and a["sheetId"] == b["sheetId"] and a["dimension"] == b["dimension"] \
                and a["startIndex"] < b["endIndex"] and b["startIndex"] < a["endIndex"]
        return wanted == m["location"]
    return True


@handler("deleteDeveloperMetadata")
def delete_developer_metadata(book: Spreadsheet, body: dict, where: str) -> dict:
    data_filter = body.get("dataFilter") or {}
    gone = [m for m in book.developer_metadata if metadata_matches(book, m, data_filter, where)]
    book.developer_metadata = [m for m in book.developer_metadata if m not in gone]
    return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": copy.deepcopy(gone)}}


@handler("updateDeveloperMetadata")
def update_developer_metadata(book: Spreadsheet, body: dict, where: str) -> dict:
    paths = field_paths(body, where, "DeveloperMetadata")
    given = copy.deepcopy(body.get("developerMetadata") or {})
    if "location" in given:
        given["location"] = normalized_location(book, given["location"], where)
    changed = []
    for m in book.developer_metadata:
        if any(metadata_matches(book, m, f, where) for f in body.get("dataFilters") or []):
            merge(m, given, [p for p in paths if p != ["metadataId"]])
            changed.append(copy.deepcopy(m))
    return {"updateDeveloperMetadata": {"developerMetadata": changed}}
