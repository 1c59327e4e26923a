"""The emulator's routes: each Sheets v4 (and the two Drive v3 file calls gspread makes) method as a function
of (emulator, path groups, query, body) returning the response body. The server (server.py) does the HTTP,
quota, faults and logging around them."""
from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from . import values
from .errors import ApiError, not_found
from .datafilters import filter_ranges
from .fields import mentions, parse_mask
from .model import Spreadsheet, new_spreadsheet_id
from .layout_requests import metadata_matches
from .requests import apply_all, new_sheet, write_rows
from . import moves  # noqa: F401  (registers moveDimension and the filter-view kinds)
from . import handedits  # noqa: F401  (registers copy/cut and paste, find and replace, cleanup, groups)
from .resource import grid_range, resolve, spreadsheet_resource

if TYPE_CHECKING:
    from .server import Emulator

Params = dict[str, list[str]]


@dataclass(frozen=True)
class Route:
    verb: str
    pattern: re.Pattern
    method_id: str  # the discovery document's id, used to validate and to count reads and writes
    write: bool
    fn: Callable[["Emulator", tuple, Params, Any], Any]


ROUTES: list[Route] = []


def route(verb: str, pattern: str, method_id: str, write: bool):
    def register(fn):
        ROUTES.append(Route(verb, re.compile(pattern), method_id, write, fn))
        return fn
    return register


def match(verb: str, path: str) -> tuple[Route, tuple] | None:
    for r in ROUTES:
        if r.verb == verb:
            m = r.pattern.match(path)
            if m:
                return r, m.groups()
    return None


def _one(params: Params, name: str, default: str | None = None) -> str | None:
    v = params.get(name)
    return v[-1] if v else default


def _true(params: Params, name: str) -> bool:
    return (_one(params, name) or "false").lower() in ("true", "1")


# -- spreadsheets ------------------------------------------------------------------------------------

DEFAULT_PROPERTIES = {
    "locale": "en_US", "autoRecalc": "ON_CHANGE", "timeZone": "Etc/GMT",
    "defaultFormat": {"backgroundColor": {"red": 1, "green": 1, "blue": 1}, "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
                      "verticalAlignment": "BOTTOM", "wrapStrategy": "OVERFLOW_CELL",
                      "textFormat": {"foregroundColor": {}, "fontFamily": "arial,sans,sans-serif", "fontSize": 10,
                                     "bold": False, "italic": False, "strikethrough": False, "underline": False}},
}


def create_spreadsheet(emulator: "Emulator", body: dict) -> Spreadsheet:
    properties = copy.deepcopy(DEFAULT_PROPERTIES)
    properties.update(copy.deepcopy(body.get("properties") or {}))
    properties.setdefault("title", "Untitled spreadsheet")
    book = Spreadsheet(new_spreadsheet_id(), properties)
    for i, item in enumerate(body.get("sheets") or [{}]):
        props = dict(item.get("properties") or {})
        if props.get("sheetId") is None and i == 0:
            props["sheetId"] = 0
        props.pop("index", None)
        sheet = new_sheet(book, props, f"Invalid sheets[{i}]: ")
        for grid in item.get("data") or []:
            write_rows(sheet, int(grid.get("startRow") or 0), int(grid.get("startColumn") or 0),
                       grid.get("rowData") or [], [["*"]])
    emulator.spreadsheets[book.id] = book
    emulator.created[book.id] = dt.datetime.now(dt.timezone.utc)
    return book


@route("POST", r"^/v4/spreadsheets$", "sheets.spreadsheets.create", True)
def create(emulator, groups, params, body):
    return spreadsheet_resource(create_spreadsheet(emulator, body or {}))


@route("GET", r"^/v4/spreadsheets/([^/:]+)$", "sheets.spreadsheets.get", False)
def get(emulator, groups, params, body):
    book = emulator.book(groups[0])
    mask = parse_mask(_one(params, "fields")) if _one(params, "fields") else None
    with_data = _true(params, "includeGridData") or mentions(mask, "sheets", "data")
    return _resource(book, params.get("ranges") or [], with_data)


def _resource(book: Spreadsheet, ranges: list, with_data: bool) -> dict:
    grids = [resolve(book, text) if isinstance(text, str) else grid_range(book, text) for text in ranges]
    if not grids:
        return spreadsheet_resource(book, with_data=with_data)
    seen = {g[0].id for g in grids}
    only = [s for s in book.sheets if s.id in seen]
    return spreadsheet_resource(book, grid_ranges=grids, only_sheets=only, with_data=with_data)


@route("POST", r"^/v4/spreadsheets/([^/:]+):getByDataFilter$", "sheets.spreadsheets.getByDataFilter", False)
def get_by_data_filter(emulator, groups, params, body):
    book = emulator.book(groups[0])
    ranges = [text for f in (body or {}).get("dataFilters") or [] for text in filter_ranges(book, f)]
    if (body or {}).get("dataFilters") and not ranges:
        return {"spreadsheetId": book.id, "properties": copy.deepcopy(book.properties)}
    return _resource(book, ranges, bool((body or {}).get("includeGridData")))


@route("POST", r"^/v4/spreadsheets/([^/:]+):batchUpdate$", "sheets.spreadsheets.batchUpdate", True)
def batch_update(emulator, groups, params, body):
    body = body or {}
    book = emulator.book(groups[0])
    work = book.copy()  # all or nothing: the requests change a copy, kept only if every one succeeded
    replies = apply_all(work, body.get("requests") or [], emulator.discovery)
    emulator.spreadsheets[book.id] = work
    out: dict[str, Any] = {"spreadsheetId": book.id, "replies": replies}
    if body.get("includeSpreadsheetInResponse"):
        out["updatedSpreadsheet"] = _resource(work, body.get("responseRanges") or [],
                                              bool(body.get("responseIncludeGridData")))
    return out


# -- values ------------------------------------------------------------------------------------------------

@route("GET", r"^/v4/spreadsheets/([^/]+)/values:batchGet$", "sheets.spreadsheets.values.batchGet", False)
def values_batch_get(emulator, groups, params, body):
    return values.batch_get(emulator.book(groups[0]), params)


@route("POST", r"^/v4/spreadsheets/([^/]+)/values:batchUpdate$", "sheets.spreadsheets.values.batchUpdate", True)
def values_batch_update(emulator, groups, params, body):
    book = emulator.book(groups[0])
    work = book.copy()
    body = body or {}
    out = values.batch_update(work, body)
    emulator.spreadsheets[book.id] = work
    flags = {"includeValuesInResponse": [str(bool(body.get("includeValuesInResponse"))).lower()],
             "responseValueRenderOption": [body.get("responseValueRenderOption") or "FORMATTED_VALUE"],
             "responseDateTimeRenderOption": [body.get("responseDateTimeRenderOption") or "SERIAL_NUMBER"]}
    for response in out["responses"]:
        _with_values(work, response, flags)
    return out


@route("POST", r"^/v4/spreadsheets/([^/]+)/values:batchClear$", "sheets.spreadsheets.values.batchClear", True)
def values_batch_clear(emulator, groups, params, body):
    book = emulator.book(groups[0])
    work = book.copy()
    out = values.batch_clear(work, body or {})
    emulator.spreadsheets[book.id] = work
    return out


@route("POST", r"^/v4/spreadsheets/([^/]+)/values/(.+):append$", "sheets.spreadsheets.values.append", True)
def values_append(emulator, groups, params, body):
    book = emulator.book(groups[0])
    work = book.copy()
    out = values.append(work, groups[1], body or {}, params)
    emulator.spreadsheets[book.id] = work
    _with_values(work, out["updates"], params)
    return out


def _with_values(book: Spreadsheet, update: dict, params: Params) -> None:
    """includeValuesInResponse: the written cells, rendered as the response*RenderOption ask."""
    if _true(params, "includeValuesInResponse"):
        render = {"valueRenderOption": [_one(params, "responseValueRenderOption", "FORMATTED_VALUE")],
                  "dateTimeRenderOption": [_one(params, "responseDateTimeRenderOption", "SERIAL_NUMBER")]}
        update["updatedData"] = values.value_range(book, update["updatedRange"], render)


@route("POST", r"^/v4/spreadsheets/([^/]+)/values/(.+):clear$", "sheets.spreadsheets.values.clear", True)
def values_clear(emulator, groups, params, body):
    return values.clear(emulator.book(groups[0]), groups[1])


@route("GET", r"^/v4/spreadsheets/([^/]+)/values/(.+)$", "sheets.spreadsheets.values.get", False)
def values_get(emulator, groups, params, body):
    return values.value_range(emulator.book(groups[0]), groups[1], params)


@route("PUT", r"^/v4/spreadsheets/([^/]+)/values/(.+)$", "sheets.spreadsheets.values.update", True)
def values_update(emulator, groups, params, body):
    book = emulator.book(groups[0])
    work = book.copy()
    out = values.write(work, groups[1], body or {}, _one(params, "valueInputOption"), check_range=groups[1])
    emulator.spreadsheets[book.id] = work
    _with_values(work, out, params)
    return out


@route("POST", r"^/v4/spreadsheets/([^/]+)/values:batchGetByDataFilter$",
       "sheets.spreadsheets.values.batchGetByDataFilter", False)
def values_batch_get_by_data_filter(emulator, groups, params, body):
    book = emulator.book(groups[0])
    body = body or {}
    render = {name: [body[name]] for name in ("valueRenderOption", "dateTimeRenderOption", "majorDimension")
              if body.get(name)}
    found = [{"valueRange": values.value_range(book, text, render), "dataFilters": [f]}
             for f in body.get("dataFilters") or [] for text in filter_ranges(book, f)]
    out: dict[str, Any] = {"spreadsheetId": book.id}
    if found:
        out["valueRanges"] = found
    return out


@route("POST", r"^/v4/spreadsheets/([^/]+)/values:batchUpdateByDataFilter$",
       "sheets.spreadsheets.values.batchUpdateByDataFilter", True)
def values_batch_update_by_data_filter(emulator, groups, params, body):
    book = emulator.book(groups[0])
    body = body or {}
    work = book.copy()
    option = values.input_option(body.get("valueInputOption"))
    responses = []
    for item in body.get("data") or []:
        for text in filter_ranges(work, item.get("dataFilter") or {}):
            written = values.write(work, text, {k: v for k, v in item.items() if k != "dataFilter"}, option)
            written["dataFilter"] = item.get("dataFilter")
            responses.append(written)
    emulator.spreadsheets[book.id] = work
    out: dict[str, Any] = {"spreadsheetId": book.id}
    totals = {"totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
              "totalUpdatedColumns": sum(r.get("updatedColumns", 0) for r in responses),
              "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
              "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0] for r in responses if r.get("updatedCells")})}
    out.update({k: v for k, v in totals.items() if v})
    out["responses"] = [{k: v for k, v in r.items() if k != "spreadsheetId"} for r in responses]
    return out


@route("POST", r"^/v4/spreadsheets/([^/]+)/values:batchClearByDataFilter$",
       "sheets.spreadsheets.values.batchClearByDataFilter", True)
def values_batch_clear_by_data_filter(emulator, groups, params, body):
    book = emulator.book(groups[0])
    work = book.copy()
    ranges = [text for f in (body or {}).get("dataFilters") or [] for text in filter_ranges(work, f)]
    out = values.batch_clear(work, {"ranges": ranges})
    emulator.spreadsheets[book.id] = work
    return out


# -- developer metadata ------------------------------------------------------------------------------------

@route("POST", r"^/v4/spreadsheets/([^/]+)/developerMetadata:search$",
       "sheets.spreadsheets.developerMetadata.search", False)
def metadata_search(emulator, groups, params, body):
    book = emulator.book(groups[0])
    found = []
    for m in book.developer_metadata:
        hits = [f for f in (body or {}).get("dataFilters") or [] if metadata_matches(book, m, f)]
        if hits:
            found.append({"developerMetadata": copy.deepcopy(m), "dataFilters": hits})
    return {"matchedDeveloperMetadata": found} if found else {}


@route("GET", r"^/v4/spreadsheets/([^/]+)/developerMetadata/(\d+)$", "sheets.spreadsheets.developerMetadata.get", False)
def metadata_get(emulator, groups, params, body):
    for m in emulator.book(groups[0]).developer_metadata:
        if m["metadataId"] == int(groups[1]):
            return copy.deepcopy(m)
    raise not_found()


# -- Drive: gspread's Client.create, open_by_key's metadata, del_spreadsheet -------------------------------

SHEETS_MIME = "application/vnd.google-apps.spreadsheet"


@route("POST", r"^/drive/v3/files$", "drive.files.create", True)
def drive_create(emulator, groups, params, body):
    body = body or {}
    if body.get("mimeType") != SHEETS_MIME:
        raise ApiError(501, "the crm-sheets emulator creates only Google Sheets files")
    book = create_spreadsheet(emulator, {"properties": {"title": body.get("name") or "Untitled spreadsheet"}})
    return {"kind": "drive#file", "id": book.id, "name": book.properties["title"], "mimeType": SHEETS_MIME}


@route("GET", r"^/drive/v3/files/([^/]+)$", "drive.files.get", False)
def drive_get(emulator, groups, params, body):
    book = emulator.book(groups[0])
    created = emulator.created[book.id]
    modified = emulator.modified.get(book.id, created)
    return {"kind": "drive#file", "id": book.id, "name": book.properties["title"], "mimeType": SHEETS_MIME,
            "createdTime": _rfc3339(created), "modifiedTime": _rfc3339(modified)}


def _rfc3339(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@route("DELETE", r"^/drive/v3/files/([^/]+)$", "drive.files.delete", True)
def drive_delete(emulator, groups, params, body):
    emulator.book(groups[0])
    del emulator.spreadsheets[groups[0]]
    return None
