"""Planning one write to a Google spreadsheet: the sheets a change set touches, read again, become one
batchUpdate (cells by record ID found again, appended and archived rows, new columns and tables, options,
owned sheets, the meta sheet). GSheetsStore.apply (store.py) builds a WritePlan and sends what it holds.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from crm_sheets.errors import CrmSheetsError, WorkbookChanged
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.schema import normalize_header
from crm_sheets.model.tables import META_SHEET, Tables, column_letter
from crm_sheets.store.core.refind import (TableNow, blank as _blank, check_numbering, col_index as _col_index,
                                          find_records, find_table, first_difference)
from crm_sheets.store.gsheets import batch, render
from crm_sheets.store.gsheets.snapshot import Snapshot, SheetInfo, quote

if TYPE_CHECKING:
    from crm_sheets.store.gsheets.store import GSheetsStore


def serial_value(serial: float, kind: str) -> Any:
    from crm_sheets.model.values import from_serial

    when = from_serial(float(serial))
    if when is None:
        return serial
    return when.date() if kind == "date" else when


def spec_digest(spec: Any, title: str) -> str:
    """A hash of everything an owned sheet shows: the same digest means the same sheet."""

    data = dataclasses.asdict(spec)
    data["name"] = title
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=repr).encode("utf-8")).hexdigest()[:32]


def grid_row(grid: list[list[Any]], r: int) -> list[Any]:
    return list(grid[r]) if 0 <= r < len(grid) else []


@dataclass
class _Layout(TableNow):
    """A table's sheet as it is now (the store core's TableNow), with its grid size and the rows this write adds."""

    info: SheetInfo | None = None
    appended: int = 0  # rows placed below ``last`` in this write


class WritePlan:
    """One change set as Sheets requests, against the sheets as they are right now."""

    def __init__(self, store: GSheetsStore, cs: ChangeSet, tables: Tables, *, with_meta: bool = False,
                 fresh: dict[str, list[list[Any]]] | None = None, formats: dict | None = None):
        self.with_meta = with_meta  # re-read _crm_meta even when this change set sets no key (a rider will)
        self.given_fresh = fresh
        self.store = store
        self.snap: Snapshot = store._snap  # type: ignore[assignment]
        self.cs = cs
        self.tables = tables
        # (sheet ID, row, col) -> DATE... of people's own columns (_read_own_date_formats); given: read already
        self.own_formats: dict[tuple[int, int, int], str] = dict(formats) if formats is not None else {}
        self.formats_given = formats is not None
        self.requests: list[dict] = []  # the records' changes, lists and _crm_meta: one atomic group
        self.sheet_groups: list[list[dict]] = []  # one group per owned sheet replaced (delete, add, content)
        self.new_sheets: dict[str, SheetInfo] = {}
        # Grid sizes as this write leaves them (copies: a plan that is not sent changes nothing).
        self.infos = {t: dataclasses.replace(i, metadata=dict(i.metadata)) for t, i in self.snap.sheets.items()}
        self.layouts: dict[str, _Layout] = {}
        self.fresh: dict[str, list[list[Any]]] = {}
        self.meta_updates: dict[str, Any] = {}
        self._next_sheet_id = max([i.sheet_id for i in self.snap.sheets.values()] or [0]) + 1

    # -- the fresh re-read and the change check --------------------------------------------------------

    def build(self) -> None:
        from crm_sheets.store.core.plan import make_plan

        core = self.core = make_plan(self.cs, self.tables)  # values in the workbook's form; missing records refused
        touched = {name for name, tp in core.tables.items() if tp} | {a.table for a in core.archives} \
            | {a.archive for a in core.archives} | {r.archive for r in core.restores} | {r.table for r in core.restores}
        sheets = {self._sheet_of(name) for name in touched}
        if (core.meta or core.sheets or core.options or self.with_meta) and META_SHEET in self.snap.sheets:
            sheets.add(META_SHEET)
        lists_sheet = self._lists_sheet() if core.options else None
        if lists_sheet:
            sheets.add(lists_sheet)
        self._reread(sorted(s for s in sheets if s))
        for name in sorted(touched):
            self.layouts[name] = self._layout(name)
        self._check_records()
        self._plan_tables_added()
        self._plan_columns()
        self._plan_records()
        self._plan_options(lists_sheet)
        self._plan_sheets()
        self._plan_meta()

    def _sheet_of(self, table: str) -> str:
        t = self.tables.get(table)
        if t is None or not t.sheet or t.sheet not in self.snap.sheets:
            raise CrmSheetsError(f"{self.store.name}: the change set names table {table!r}, which has no sheet",
                                 hint="push a workbook that has it, or read the spreadsheet again")
        return t.sheet

    def is_empty(self) -> bool:
        return not self.requests and not self.sheet_groups

    def _reread(self, sheets: list[str]) -> None:
        if self.given_fresh is not None and all(s in self.given_fresh for s in sheets):
            self.fresh = {s: [list(r) for r in self.given_fresh[s]] for s in sheets}
            return
        if not sheets:
            return
        try:
            got = self.store.connection.batch_get(self.snap.spreadsheet_id, [quote(s) for s in sheets])
        except CrmSheetsError as e:
            if "400" in e.message or "Unable to parse range" in e.message:
                raise WorkbookChanged(f"{self.store.name}: a sheet was renamed or removed since it was read; "
                                      "nothing was written", hint="run again to work on the fresh data") from None
            raise
        for title, vr in zip(sheets, got):
            from crm_sheets.store.gsheets.snapshot import pad

            self.fresh[title] = pad(vr.get("values") or [])

    def _layout(self, name: str) -> _Layout:
        t = self.tables[name]
        now = find_table(t, self.fresh.get(t.sheet, []), self.snap.grids.get(t.sheet, []), workbook=self.store.name)
        return _Layout(**vars(now), info=self.infos[t.sheet])

    def _check_records(self) -> None:
        """Every record this write changes or archives, found again by ID, unchanged since the read."""
        wanted = [(name, rid) for name, tp in self.core.tables.items() for rid in tp.updates]
        wanted += [(a.table, a.record_id) for a in self.core.archives]
        self.rows_now = find_records(self.layouts, wanted, workbook=self.store.name)  # type: ignore[arg-type]

    # -- values -----------------------------------------------------------------------------------

    def _column(self, lay: _Layout, field_name: str) -> int:
        """The field's column; a field the sheet lacks gets one after the last header (its header written)."""
        col = lay.cols.get(field_name)
        if col is not None:
            return col
        f = next((x for x in lay.table.schema.fields if x.name == field_name), None)
        if f is None:
            raise CrmSheetsError(f"{lay.title}: no column for {field_name!r}", hint="this is a bug; please report it")
        col = max([len(lay.headers)] + [c + 1 for c in lay.cols.values()])
        lay.cols[field_name] = col
        lay.headers = [*lay.headers, *[""] * (col - len(lay.headers)), f.header(self.tables.lang)]
        if col >= lay.info.cols:
            self.requests.append({"appendDimension": {"sheetId": lay.info.sheet_id, "dimension": "COLUMNS",
                                                      "length": col + 1 - lay.info.cols}})
            lay.info.cols = col + 1
        self.requests.extend(batch.update_cells(lay.info.sheet_id, [(lay.header, col, f.header(self.tables.lang))]))
        return col

    # -- upgrade: tables and columns added ---------------------------------------------------------------

    def _names_a1(self) -> dict[str, str]:
        """The spreadsheet's named ranges (and those this write adds) as A1 ranges: what a dropdown's source is."""
        if getattr(self, "_names", None) is None:
            titles = {i.sheet_id: t for t, i in self.infos.items()}
            out = {}
            for name, nr in self.snap.named_ranges.items():
                rng = nr.get("range") or {}
                title = titles.get(int(rng.get("sheetId", 0)))
                if title is None:
                    continue
                r0, c0 = int(rng.get("startRowIndex", 0)), int(rng.get("startColumnIndex", 0))
                out[name] = batch.a1(title, r0, c0, int(rng.get("endRowIndex", r0 + 1)), int(rng.get("endColumnIndex", c0 + 1)))
            self._names = out
        return self._names

    def _column_structure(self, add: Any, sheet_id: int, header: int, col: int) -> list[dict]:
        """A column upgrade adds, looking and validated as ``crm-sheets new`` makes it: header cell and look,
        width, the data cells' number format, wrap and alignment, validation (warning-only) down to the grid's
        end, and warning-only protection when a job writes it."""
        from crm_sheets.store.gsheets import rules

        out: list[dict] = batch.update_cells(sheet_id, [(header, col, add.header)])
        out.append(batch.header_style(sheet_id, header, col, col + 1, fill="7F7F7F" if add.owned else "1F4E79"))
        if add.width:
            out.append({"updateDimensionProperties": {
                "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": col, "endIndex": col + 1},
                "properties": {"pixelSize": int(add.width * 7 + 5)}, "fields": "pixelSize"}})
        ts = self.tables.schema.tables.get(add.table)
        f = ts.field(add.field) if ts is not None and ts.has_field(add.field) else None
        fmt = rules.column_format(sheet_id, header + 1, None, col, add.num_format, f.type if f is not None else "")
        if fmt is not None:
            out.append(fmt)
        look: dict[str, Any] = {}
        if add.wrap:
            look["wrapStrategy"] = "WRAP"
        if add.align:
            look["horizontalAlignment"] = {"center": "CENTER", "left": "LEFT", "right": "RIGHT"}.get(add.align, "LEFT")
        if look:
            out.append({"repeatCell": {"range": batch.grid_range(sheet_id, header + 1, None, col, col + 1),
                                       "cell": {"userEnteredFormat": look},
                                       "fields": ",".join(f"userEnteredFormat.{k}" for k in look)}})
        names = self._names_a1()
        for ref, rule in add.validations:
            m = re.match(r"^\$?[A-Z]{1,3}\$?(\d+)", str(ref))
            first = int(m.group(1)) - 1 if m else header + 1
            if first <= header:
                continue  # the header's input message: Sheets has none
            req = rules.validation(sheet_id, first, None, col, rule, names.get, names)
            if req is not None:
                out.append(req)
        if add.owned and f is not None:
            out.append(batch.protect(sheet_id, f"{add.table}.{add.field}: written by the {f.owned_by_job} job",
                                     col, col + 1, start_row=header + 1))
        return out

    def _plan_columns(self) -> None:
        """Columns upgrade adds to existing tables: into columns that hold nothing now (a colleague may have typed
        there since the read: then nothing is written)."""
        for name, tp in self.core.tables.items():
            if not tp.columns:
                continue
            lay = self.layouts[name]
            info = lay.info
            for add in tp.columns:
                col = _col_index(add.column)
                taken = next((r for r, row in enumerate(lay.fresh) if col < len(row) and not _blank(row[col])), None)
                if taken is not None:
                    raise WorkbookChanged(f"{self.store.name}: {lay.title}!{add.column}{taken + 1} holds a value now, where "
                                          f"upgrade was adding the {add.header!r} column; nothing was written",
                                          hint="run crm-sheets upgrade again: it places the column past what is there now")
                if col >= info.cols:
                    self.requests.append({"appendDimension": {"sheetId": info.sheet_id, "dimension": "COLUMNS",
                                                              "length": col + 1 - info.cols}})
                    info.cols = col + 1
                self.requests.extend(self._column_structure(add, info.sheet_id, lay.header, col))
                lay.cols[add.field] = col
                lay.headers = [*lay.headers, *[""] * (col + 1 - len(lay.headers))]
                lay.headers[col] = add.header

    def _plan_tables_added(self) -> None:
        """Table sheets upgrade (or a run writing to a table the spreadsheet lacks) adds: a new sheet after the
        others with the header, the template's rows, each column's look and validation, the named ranges, and
        our marks (the table it holds, its header row), as push marks a table."""
        from crm_sheets.store.gsheets.charts import parse_ref

        for add in self.core.tables_added:
            if add.sheet in self.infos or add.sheet in self.new_sheets:
                raise WorkbookChanged(f"{self.store.name}: a sheet named {add.sheet!r} was made since the read; "
                                      "nothing was written", hint="run again to work on the fresh data")
            sheet_id = self._new_sheet_id()
            reach = [parse_ref(f) for f in add.names.values()]
            rows = max([len(add.rows) + 1 + 200, 100, *(r[3] for r in reach if r)])
            # Its own columns only (every cell counts against the spreadsheet's 10 million)
            cols = max([len(add.columns), *(len(r) for r in add.rows), *(r[4] for r in reach if r),
                        *(_col_index(c.column) + 1 for c in add.columns if c.column)])
            index = len(self.infos) + len(self.new_sheets)
            self.requests.append(batch.add_sheet(add.sheet, sheet_id=sheet_id, index=index, rows=rows, cols=cols,
                                                 frozen_rows=1, tab_color=add.tab_color))
            if add.freeze_cols:
                self.requests.append(batch.freeze(sheet_id, 1, add.freeze_cols))
            self.requests.extend(batch.write_block(sheet_id, 1, 0, [list(r) for r in add.rows]))
            for name, formula in add.names.items():
                ref = parse_ref(formula)
                if ref is not None:
                    self.requests.append({"addNamedRange": {"namedRange": {
                        "name": name, "range": batch.grid_range(sheet_id, ref[1], ref[3], ref[2], ref[4])}}})
                    self._names_a1()[name] = formula.lstrip("=")
            for i, c in enumerate(add.columns):
                self.requests.extend(self._column_structure(c, sheet_id, 0, _col_index(c.column) if c.column else i))
            self.requests.append(batch.sheet_metadata(sheet_id, "excel_table", add.excel_name))
            self.requests.append(batch.row_metadata(sheet_id, 0, "header", add.excel_name))
            self.requests.append(batch.sheet_metadata(sheet_id, "table", add.table))
            info = SheetInfo(sheet_id, add.sheet, index, rows, cols, False, 1)
            info.metadata.update(table=add.table, excel_table=add.excel_name)
            self.new_sheets[add.sheet] = info

    def _plan_records(self) -> None:
        """The core plan's records, in its order: updates, archives (captured, rows removed), restores (the
        latest archived copy removed, its row appended back), appends. Rows are removed last, bottom-up, so the
        rows found for updates and the appends under the last record stay where they were found."""
        from crm_sheets.store.core.plan import archive_values

        core = self.core
        for name, tp in core.tables.items():
            if not tp.updates:
                continue
            lay = self.layouts[name]
            cells = [(self.rows_now[(name, rid)], self._column(lay, f), v)
                     for rid, values in tp.updates.items() for f, v in values.items()]
            self.requests.extend(batch.update_cells(lay.info.sheet_id, cells))
        deletes: dict[str, list[int]] = {}
        blocks: dict[str, list[dict[int, Any]]] = {}  # table -> new rows as {column: value}, in order
        self._read_own_date_formats([(self.layouts[m.table], self.rows_now[(m.table, m.record_id)]) for m in core.archives])
        for move in core.archives:
            lay = self.layouts[move.table]
            r = self.rows_now[(move.table, move.record_id)]
            row = self._capture(lay, r, core.tables.get(move.table).updates.get(move.record_id, {})
                                if move.table in core.tables else {})
            values = archive_values(move, row, self.tables)
            archive = self.layouts[move.archive]
            blocks.setdefault(move.archive, []).append(self._by_column(archive, values))
            deletes.setdefault(move.table, []).append(r)
        for res in core.restores:
            lay = self.layouts[res.archive]
            r, row = self._find_archived(lay, res)
            deletes.setdefault(res.archive, []).append(r)
            blocks.setdefault(res.table, []).append(self._restored(self.layouts[res.table], row))
        for name, tp in core.tables.items():
            if tp.appends:
                lay = self.layouts[name]
                blocks.setdefault(name, []).extend(self._by_column(lay, values) for values in tp.appends)
        for name, rows in blocks.items():
            self._append(self.layouts[name], rows)
        for name, rows in deletes.items():
            self.requests.extend(batch.delete_rows(self.layouts[name].info.sheet_id, rows))

    def _by_column(self, lay: _Layout, values: Mapping[str, Any]) -> dict[int, Any]:
        out = {}
        for name, value in values.items():
            if name not in lay.table.schema.field_names and name not in lay.cols:
                continue  # info keys the archive table has no column for
            out[self._column(lay, name)] = value
        return out

    def _read_own_date_formats(self, rows: list[tuple["_Layout", int]]) -> None:
        """The number format of each number in people's own columns of the rows about to be archived, in one
        call (none when there is no such number): a serial number the team formatted as a date is archived as
        the date, as a file's date-formatted cell is. Schema columns are typed by the schema instead."""
        if self.formats_given:
            return  # a plan made again with a rider, on the rows and formats just read
        filters = []
        for lay, r in rows:
            ours = {c for f, c in lay.cols.items() if lay.table.schema.has_field(f)}
            for c, v in enumerate(grid_row(lay.fresh, r)):
                if c not in ours and isinstance(v, (int, float)) and not isinstance(v, bool):
                    filters.append({"gridRange": {"sheetId": lay.info.sheet_id, "startRowIndex": r, "endRowIndex": r + 1,
                                                  "startColumnIndex": c, "endColumnIndex": c + 1}})
        if not filters:
            return
        got = self.store.connection.get_by_data_filter(
            self.store.spreadsheet_id, filters,
            fields="sheets(properties.sheetId,data(startRow,startColumn,rowData.values.effectiveFormat.numberFormat.type))")
        for sheet in got.get("sheets") or []:
            sid = int((sheet.get("properties") or {}).get("sheetId", 0))
            for data in sheet.get("data") or []:
                r0, c0 = int(data.get("startRow", 0)), int(data.get("startColumn", 0))
                for i, rd in enumerate(data.get("rowData") or []):
                    for j, v in enumerate(rd.get("values") or []):
                        kind = ((v.get("effectiveFormat") or {}).get("numberFormat") or {}).get("type")
                        if kind in ("DATE", "DATE_TIME", "TIME"):
                            self.own_formats[(sid, r0 + i, c0 + j)] = kind

    def _capture(self, lay: _Layout, r: int, updates: Mapping[str, Any]) -> Any:
        """The whole sheet row (people's columns too, with this write's updates) in the neutral archive format.
        Serial numbers in the schema's date columns are dates, as the file's date-formatted cells are."""
        from crm_sheets.store.core.archive import ArchivedCell, ArchivedRow, value_type

        row = grid_row(lay.fresh, r)
        for name, value in updates.items():
            col = lay.cols.get(name)
            if col is not None:
                row.extend([""] * (col + 1 - len(row)))
                row[col] = value
        types = {c: lay.table.schema.field(f).type for f, c in lay.cols.items() if lay.table.schema.has_field(f)}
        cells = []
        used: set[str] = set()
        for c, v in enumerate(row):
            if _blank(v):
                continue
            if types.get(c) in ("date", "datetime") and isinstance(v, (int, float)) and not isinstance(v, bool):
                v = serial_value(v, types[c])
            elif c not in types and isinstance(v, (int, float)) and not isinstance(v, bool):
                kind = self.own_formats.get((lay.info.sheet_id, r, c))
                if kind in ("DATE", "DATE_TIME"):  # a date of the team's own column, by its cell format
                    v = serial_value(v, "date" if kind == "DATE" else "datetime")
            h = lay.headers[c] if c < len(lay.headers) else ""
            key = str(h) if not _blank(h) and str(h) not in used else f"[{column_letter(c)}]"
            used.add(key)
            cells.append(ArchivedCell(key, column_letter(c), v, value_type(v)))
        return ArchivedRow(tuple(cells))

    def _find_archived(self, lay: _Layout, res: Any) -> tuple[int, Any]:
        from crm_sheets.store.core.archive import loads
        from crm_sheets.store.core.plan import is_archived_copy

        rec, tab, dat = (lay.cols.get(k) for k in ("record", "table", "data"))
        if rec is None or dat is None:
            raise CrmSheetsError(f"archive table {res.archive!r} has no Record or Original row column")
        for r in range(len(lay.fresh) - 1, lay.header, -1):  # the latest archived copy wins
            row = lay.fresh[r]
            cell = (lambda c: row[c] if c is not None and c < len(row) and not _blank(row[c]) else None)
            if not is_archived_copy(res, cell(rec), cell(tab)):
                continue
            try:
                return r, loads(str(cell(dat)))
            except ValueError:
                raise CrmSheetsError(f"{lay.title}!{column_letter(dat)}{r + 1} ({res.archive}): not a readable "
                                     "original row", hint="the Original row cell was edited; nothing was written") from None
        raise CrmSheetsError(f"record {res.record_id} is not in the {res.archive!r} sheet", hint="nothing to restore")

    def _restored(self, lay: _Layout, row: Any) -> dict[int, Any]:
        """An archived row's cells put back under their headers (else in their old column)."""
        by_header = {normalize_header(str(h)): c for c, h in enumerate(lay.headers) if not _blank(h)}
        out: dict[int, Any] = {}
        for cell in row.cells:
            col = by_header.get(normalize_header(cell.key)) if not cell.key.startswith("[") else None
            if col is None and cell.column:
                col = _col_index(cell.column)
            if col is None or col in out:
                continue
            out[col] = batch.Formula("=" + cell.formula) if cell.formula else cell.value  # the row's own formula
        return out

    def _append(self, lay: _Layout, rows: list[dict[int, Any]]) -> None:
        """New rows right under the table's last record: written into the blank rows there, or into rows
        inserted there when something lies below (they take the look of the row above)."""
        if not rows:
            return
        width = max((max(r) + 1 for r in rows if r), default=1)
        grid_rows = [[r.get(c) for c in range(width)] for r in rows]
        start = lay.last + 1 + lay.appended
        n = len(grid_rows)
        below = [r for r in range(start, start + n + 1) if r < len(lay.fresh) and any(not _blank(v) for v in lay.fresh[r])]
        sheet_id = lay.info.sheet_id
        if below or lay.appended:
            self.requests.append(batch.insert_rows(sheet_id, start, n))
            lay.info.rows += n
            if lay.last == lay.header and not lay.appended:  # nothing to inherit but the header's look
                self.requests[-1]["insertDimension"]["inheritFromBefore"] = False
            lay.fresh[start:start] = [[] for _ in range(n)]
        elif start + n > lay.info.rows:
            self.requests.append(batch.append_rows(sheet_id, start + n - lay.info.rows))
            lay.info.rows = start + n
        if width > lay.info.cols:
            self.requests.append({"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                                      "length": width - lay.info.cols}})
            lay.info.cols = width
        self.requests.extend(batch.write_block(sheet_id, start, 0, grid_rows))
        lay.appended += n

    # -- the team's values added to lists --------------------------------------------------------------

    def _lists_sheet(self) -> str | None:
        owned = self.tables.schema.owned_sheets.get("lists")
        for n in (self.tables.meta.get("sheet.lists"), *(owned.title.values() if owned else ()), "Lists"):
            if n and str(n) in self.snap.sheets:
                return str(n)
        return None

    def _plan_options(self, lists_sheet: str | None) -> None:
        wanted = self.core.options
        if not wanted:
            return
        grid = self.fresh.get(lists_sheet, []) if lists_sheet else []
        done = set()
        if lists_sheet:
            info = self.infos[lists_sheet]
            header = grid[0] if grid else []
            for name, labels in wanted.items():
                lst = self.tables.lists.get(name) or self.tables.schema.lists.get(name)
                titles = {normalize_header(t) for t in ((lst.label(self.tables.lang), name, *lst.title.values()) if lst else (name,))}
                col = next((c for c, h in enumerate(header) if normalize_header(str(h)) in titles), None)
                if col is None:
                    continue
                last = max([0] + [r for r in range(1, len(grid)) if col < len(grid[r]) and not _blank(grid[r][col])])
                need = last + 1 + len(labels)
                if need > info.rows:
                    self.requests.append(batch.append_rows(info.sheet_id, need - info.rows))
                    info.rows = need
                self.requests.extend(batch.update_cells(info.sheet_id, [(last + 1 + i, col, label) for i, label in enumerate(labels)]))
                nr = self.snap.named_ranges.get(f"list_{name}")
                rng = (nr or {}).get("range", {})
                if nr and rng.get("endRowIndex") == last + 1 and rng.get("startColumnIndex") == col:
                    self.requests.append({"updateNamedRange": {"namedRange": {
                        "namedRangeId": nr["namedRangeId"], "name": nr["name"], "range": {**rng, "endRowIndex": need}},
                        "fields": "range"}})
                done.add(name)
        for name, labels in wanted.items():
            if name not in done:
                known = [x for x in str(self.tables.meta.get(f"options.{name}") or "").split("\n") if x]
                self.meta_updates[f"options.{name}"] = "\n".join([*known, *(x for x in labels if x not in known)])

    # -- owned sheets --------------------------------------------------------------------------------

    def _plan_sheets(self) -> None:
        from crm_sheets.model.sheets import owned_sheet_name

        if not self.core.sheets:
            return
        names = list(self.snap.sheets)
        marks = {**self.tables.meta, **self.cs.meta}
        for title, info in self.snap.sheets.items():
            # A sheet's own mark says it is ours when _crm_meta does not name a sheet that is there: after a
            # rename in Sheets, or in a second write of one run (the delivery's Outbox) whose tables were read
            # before the first write recorded the sheet in _crm_meta.
            key = info.metadata.get("owned")
            if key and str(marks.get(f"sheet.{key}") or "").casefold() not in {n.casefold() for n in names}:
                marks[f"sheet.{key}"] = title
        ids = {t: i.sheet_id for t, i in self.snap.sheets.items()}
        plans = []
        for spec in self.core.sheets:
            title = owned_sheet_name(spec.key, spec.name, marks, names) if spec.key != META_SHEET else spec.name
            old = self.snap.sheets.get(title)
            digest = spec_digest(spec, title)
            if old is not None and old.metadata.get("digest") == digest and old.metadata.get("owned") == spec.key:
                continue  # it would render as it is: left alone
            sheet_id = old.sheet_id if old is not None else self._new_sheet_id()
            ids[title] = sheet_id
            if title not in names:
                names.append(title)
            plans.append((spec, title, old, sheet_id, digest))
            if spec.key and spec.key != META_SHEET and self.tables.meta.get(f"sheet.{spec.key}") != title:
                self.meta_updates[f"sheet.{spec.key}"] = title
        for spec, title, old, sheet_id, digest in plans:
            rows, cols = render.grid_size(spec)
            index = old.index if old is not None else len(self.snap.sheets) + len(self.new_sheets)
            group: list[dict] = []
            if old is not None:
                group.append(batch.delete_sheet(old.sheet_id))
            group.append(batch.add_sheet(title, sheet_id=sheet_id, index=index, rows=rows, cols=cols,
                                         hidden=spec.hidden, tab_color=spec.tab_color))
            group.extend(render.sheet_requests(spec, sheet_id, ids))
            if spec.key:
                group.append(batch.sheet_metadata(sheet_id, "owned", spec.key))
                group.append(batch.sheet_metadata(sheet_id, "digest", digest))
                if spec.key not in batch.EDITED_BY_PEOPLE:
                    group.append(batch.protect(sheet_id, f"{title}: regenerated by crm-sheets on every run"))
            self.sheet_groups.append(group)
            info = SheetInfo(sheet_id, title, index, rows, cols, spec.hidden)
            info.metadata.update(owned=spec.key, digest=digest)
            self.new_sheets[title] = info

    def _new_sheet_id(self) -> int:
        sid = self._next_sheet_id
        self._next_sheet_id += 1
        return sid

    # -- _crm_meta -------------------------------------------------------------------------------------

    def _plan_meta(self) -> None:
        updates: dict[str, Any] = {**self.core.meta, **self.meta_updates}
        if not updates:
            return
        if META_SHEET not in self.snap.sheets:
            raise CrmSheetsError(f"{self.store.name}: the spreadsheet has no {META_SHEET} sheet; nothing was written",
                                 hint="push a crm-sheets workbook into it first (crm-sheets push crm.xlsx gsheets://ID)")
        info = self.infos[META_SHEET]
        fresh = self.fresh.get(META_SHEET, [])
        read = self.snap.grids.get(META_SHEET, [])
        rows_now = {str(r[0]): i for i, r in enumerate(fresh) if r and not _blank(r[0])}
        check_numbering(updates, fresh, read, workbook=self.store.name)
        cells = []
        new_rows = []
        for key, value in updates.items():
            v = value if not isinstance(value, (dict, list)) else json.dumps(value, default=str)
            if key in rows_now:
                now = grid_row(fresh, rows_now[key])
                if first_difference(now[1:2], [v]) is None:
                    continue  # already so
                cells.append((rows_now[key], 1, v))
            else:
                new_rows.append([key, v])
        self.requests.extend(batch.update_cells(info.sheet_id, cells))
        if new_rows:
            start = max(rows_now.values(), default=-1) + 1
            need = start + len(new_rows)
            if need > info.rows:
                self.requests.append(batch.append_rows(info.sheet_id, need - info.rows))
                info.rows = need
            self.requests.extend(batch.write_block(info.sheet_id, start, 0, new_rows))
