"""A spreadsheet as read in two calls: one spreadsheets.get (sheets, grid sizes, protected ranges, developer
metadata, merges; a fields mask, no cells) and one values.batchGet of every sheet that holds tables
(UNFORMATTED_VALUE, dates as serial numbers), ragged rows padded.

Dates: the values come as serial numbers and no cell formats are asked for (that would cost a grid-data
read). Columns the schema types as date or datetime are read as dates by the core's field parsers, which
take serial numbers; elsewhere a serial stays a number (people's own columns are not read into tables; the
rows a write archives get the formats of their numbers there read at write time: write_plan.WritePlan). Text stays
text, so "00123" keeps its zeros.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from crm_sheets.store.gsheets.batch import EDITED_BY_PEOPLE, META_PREFIX
from crm_sheets.store.gsheets.client import Connection

READ_FIELDS = (
    "spreadsheetId,properties(title,locale,timeZone),"
    "developerMetadata(metadataId,metadataKey,metadataValue),"
    "namedRanges(namedRangeId,name,range),"
    "sheets(properties(sheetId,title,index,hidden,gridProperties(rowCount,columnCount,frozenRowCount,"
    "frozenColumnCount)),protectedRanges(protectedRangeId,range,description,warningOnly),"
    "developerMetadata(metadataId,metadataKey,metadataValue),merges)"
)


@dataclass
class SheetInfo:
    sheet_id: int
    title: str
    index: int = 0
    rows: int = 1000  # grid size
    cols: int = 26
    hidden: bool = False
    frozen_rows: int = 0
    merges: list[dict] = field(default_factory=list)  # GridRanges
    protected: list[dict] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)  # our keys without the prefix -> value
    metadata_ids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_api(cls, sheet: Mapping[str, Any]) -> "SheetInfo":
        p = sheet.get("properties", {})
        g = p.get("gridProperties", {})
        info = cls(int(p.get("sheetId", 0)), str(p.get("title", "")), int(p.get("index", 0)),
                   int(g.get("rowCount", 0)), int(g.get("columnCount", 0)), bool(p.get("hidden", False)),
                   int(g.get("frozenRowCount", 0)), list(sheet.get("merges") or []),
                   list(sheet.get("protectedRanges") or []))
        for md in sheet.get("developerMetadata") or []:
            key = str(md.get("metadataKey", ""))
            if key.startswith(META_PREFIX):
                info.metadata[key[len(META_PREFIX):]] = str(md.get("metadataValue", ""))
                if "metadataId" in md:
                    info.metadata_ids[key[len(META_PREFIX):]] = int(md["metadataId"])
        return info


@dataclass
class Snapshot:
    """What one read saw. ``dated``: by sheet, cells (0-based row, column) of text columns that hold a date a
    person typed (a number in the values read, a date by its format), as the datetime they show: the tables
    read them as the file does, while ``grids`` stay as the API gave them (a write compares its re-read with them)."""

    spreadsheet_id: str
    title: str = ""
    sheets: dict[str, SheetInfo] = field(default_factory=dict)  # by title, in the spreadsheet's order
    grids: dict[str, list[list[Any]]] = field(default_factory=dict)  # by title: rows from A1, padded with ""
    metadata: dict[str, str] = field(default_factory=dict)  # spreadsheet-level developer metadata (ours)
    metadata_ids: dict[str, list[int]] = field(default_factory=dict)
    named_ranges: dict[str, dict] = field(default_factory=dict)
    dated: dict[str, dict[tuple[int, int], Any]] = field(default_factory=dict)

    @property
    def sheet_names(self) -> tuple[str, ...]:
        return tuple(self.sheets)

    def sheet_of_table(self, table: str) -> str | None:
        """The sheet our developer metadata says holds ``table`` (it survives renames)."""
        for title, info in self.sheets.items():
            if info.metadata.get("table") == table:
                return title
        return None

    def excel_tables(self) -> dict[str, tuple[str, int]]:
        """Excel table (ListObject) name -> (sheet, 0-based header row hint), from our marks: the role
        ListObjects play in a workbook file."""
        out = {}
        for title, info in self.sheets.items():
            name = info.metadata.get("excel_table")
            if name:
                out[name] = (title, 0)
        return out

    def merged(self, title: str) -> list[tuple[int, int, int, int]]:
        """Merged ranges of a sheet as (first row, first col, last row, last col), 0-based inclusive."""
        out = []
        for m in self.sheets[title].merges if title in self.sheets else ():
            out.append((int(m.get("startRowIndex", 0)), int(m.get("startColumnIndex", 0)),
                        int(m.get("endRowIndex", 1)) - 1, int(m.get("endColumnIndex", 1)) - 1))
        return out


def quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def pad(rows: Iterable[list[Any]]) -> list[list[Any]]:
    """Rows of one width: the API leaves out trailing empty cells (and sends nothing for empty rows). The rows
    of a parsed answer are padded in place (a copy of 100k leads' rows is ~100 MB more at the read's peak), and
    each distinct text is kept once: the JSON parser makes a new string per cell, and a column of countries,
    statuses or owners repeats a few (a sample CRM's grids take half the memory, for the whole run)."""
    rows = rows if isinstance(rows, list) else list(rows)
    seen: dict[str, str] = {}
    once = seen.setdefault
    for i, r in enumerate(rows):
        rows[i] = [once(v, v) if type(v) is str else v for v in r]
    width = max((len(r) for r in rows), default=0)
    for r in rows:
        if len(r) < width:
            r.extend([""] * (width - len(r)))
    return rows


def read_meta(conn: Connection, spreadsheet_id: str) -> Snapshot:
    """Call 1: the spreadsheet's sheets and marks, no cells."""
    got = conn.get(spreadsheet_id, fields=READ_FIELDS)
    snap = Snapshot(spreadsheet_id, title=str(got.get("properties", {}).get("title", "")))
    for sheet in sorted(got.get("sheets") or [], key=lambda s: s.get("properties", {}).get("index", 0)):
        info = SheetInfo.from_api(sheet)
        snap.sheets[info.title] = info
    for md in got.get("developerMetadata") or []:
        key = str(md.get("metadataKey", ""))
        if key.startswith(META_PREFIX):
            snap.metadata[key[len(META_PREFIX):]] = str(md.get("metadataValue", ""))
            snap.metadata_ids.setdefault(key[len(META_PREFIX):], []).append(int(md.get("metadataId", 0)))
    for nr in got.get("namedRanges") or []:
        snap.named_ranges[str(nr.get("name"))] = nr
    return snap


def sheets_to_read(snap: Snapshot) -> list[str]:
    """Every sheet but those a job regenerates whole (their content is never read back); a sheet people correct
    (the Mapping sheet) is read like any other."""
    return [t for t, info in snap.sheets.items()
            if "owned" not in info.metadata or info.metadata["owned"] in EDITED_BY_PEOPLE]


def read_values(conn: Connection, snap: Snapshot, titles: Iterable[str]) -> None:
    """Call 2: the values of these sheets into ``snap.grids``."""
    titles = list(titles)
    ranges = [quote(t) for t in titles]
    got = conn.batch_get(snap.spreadsheet_id, ranges)
    for title, vr in zip(titles, got):
        snap.grids[title] = pad(vr.get("values") or [])


def read(conn: Connection, spreadsheet_id: str) -> Snapshot:
    """The spreadsheet in two calls."""
    snap = read_meta(conn, spreadsheet_id)
    read_values(conn, snap, sheets_to_read(snap))
    return snap


def read_dated(conn: Connection, snap: Snapshot, tables: Any) -> bool:
    """Call 3, only when a column the tables read as text holds numbers: those columns once more with dates as
    their text (UNFORMATTED_VALUE, FORMATTED_STRING), so a date a person typed into a text column (Notes, a field
    of their own) is the date they see, not its serial number, as in the file. True when one was found (into
    ``snap.dated``). The values read cannot tell: its dates are serial numbers and no formats are read."""
    import datetime as dt

    from crm_sheets.model.fieldtypes.base import field_type
    from crm_sheets.model.tables import column_index, column_letter
    from crm_sheets.store.gsheets.batch import EPOCH

    wanted: list[tuple[str, int]] = []
    for t in tables.tables.values():
        grid = snap.grids.get(t.sheet)
        if not grid or t.schema.kind != "data":  # records people type; Settings parse their values by type
            continue
        types = {f.name: f.type for f in t.schema.fields}
        for name, letter in t.columns.items():
            try:
                kind = field_type(types[name])
                c = column_index(letter)
            except (KeyError, ValueError):
                continue
            if kind.numeric or kind.temporal or kind.boolean:
                continue
            if any(c < len(row) and type(row[c]) in (int, float) for row in grid[max(t.header_row, 1):]):
                wanted.append((t.sheet, c))
    if not wanted:
        return False
    ranges = [f"{quote(sheet)}!{column_letter(c)}:{column_letter(c)}" for sheet, c in wanted]
    got = conn.batch_get(snap.spreadsheet_id, ranges, dates="FORMATTED_STRING")
    for (sheet, c), vr in zip(wanted, got):
        grid = snap.grids[sheet]
        for r, row in enumerate(vr.get("values") or []):
            raw = grid[r][c] if r < len(grid) and c < len(grid[r]) else None
            if row and isinstance(row[0], str) and type(raw) in (int, float) and raw >= 0:
                when = EPOCH + dt.timedelta(days=float(raw))
                # a time alone (serial below 1) is a time of day, as the file's reader gives a time-formatted cell
                snap.dated.setdefault(sheet, {})[(r, c)] = when.time() if raw < 1 else when
    return bool(snap.dated)
