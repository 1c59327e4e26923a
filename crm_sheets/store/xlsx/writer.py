"""apply_changeset: write a ChangeSet into a copy of an .xlsx package, patching only the parts it owns.

Untouched zip members are copied with their compressed bytes as they were; a changed worksheet is
edited as text row by row (no workbook object model, so charts, shapes and sparklines survive) and
streamed from its zip member into the new one, so a write costs the sheets it changes, not the workbook.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zipfile
import zlib
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterable, Iterator
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ExpatError

from crm_sheets.errors import CrmSheetsError, DamagedWorkbook
from crm_sheets.model.changeset import ChangeSet, RowRestore
from crm_sheets.model.schema import normalize_header
from crm_sheets.model.tables import META_SHEET, Tables
from crm_sheets.model.values import FORMULA_STARTS, Text
from crm_sheets.store.base import NothingToWrite
from crm_sheets.store.core.archive import ArchivedCell, ArchivedRow, loads as load_archived
from crm_sheets.store.core.plan import ArchiveMove, archive_values, is_archived_copy, make_plan
from crm_sheets.store.xlsx.package import open_package
from crm_sheets.store.xlsx.package import DAMAGED_HINT, one_line
from crm_sheets.model.limits import too_long
from crm_sheets.model.limits import MAX_CELL_CHARS
from crm_sheets.store.xlsx.sheetxml import cell_xml, column_index, inline_string, split_ref
from crm_sheets.store.xlsx.styles import StyleDef, ensure_quote_prefix, number_formats, quote_free
from crm_sheets.store.xlsx.cells import archived_cell, archived_xml, cell_value, record_xml
from crm_sheets.store.xlsx.columns import ColumnsPatch
from crm_sheets.store.xlsx.parts import TableState
from crm_sheets.store.xlsx.sheet import S_ATTR, Removal, SheetEdit, column_order



def apply_changeset(src: Path, dst: Path, changeset: ChangeSet, tables: Tables, *,
                    rider: ChangeSet | None = None) -> None:
    """Copy the workbook ``src`` to ``dst`` with the change set applied; everything else is kept byte for byte.

    With ``rider`` (owned sheets and _crm_meta keys that only go along with a real change: the Runs sheet,
    a new generation), raises NothingToWrite when ``changeset`` changes no byte of the package (its owned
    sheets render exactly as they are), before anything is written; otherwise the rider is written too.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and dst.resolve() == src.resolve():
        raise ValueError("apply_changeset writes a new file: dst must differ from src")
    with open_package(src) as pkg:
        meta = pkg.sheet(META_SHEET)
        if rider is not None and (meta is None or not meta.part):
            # no _crm_meta yet: this write makes it, with the rider's keys and sheet marks in one go
            changeset = dataclasses.replace(changeset, sheets=[*changeset.sheets, *rider.sheets],
                                            meta={**changeset.meta, **rider.meta})
            rider = None
        patch = _Patch(pkg, tables)
        try:
            patch.run(changeset)
            if rider is not None:
                if patch.unchanged():
                    for sheet in patch.sheets.values():
                        sheet.close()
                    raise NothingToWrite(src.name)
                patch.ride(rider)
            patch.write(dst)
        except (CrmSheetsError, NothingToWrite):
            raise
        except (ValueError, KeyError, IndexError, EOFError, zlib.error, zipfile.BadZipFile, ParseError, ExpatError) as exc:
            # A part the fast reader accepted (it is lenient: a NUL inside a number, bytes that are not
            # UTF-8 in docProps) but that the patcher, which reads parts as text, cannot understand.
            raise DamagedWorkbook(
                f"{src.name}: cannot be rewritten, a part of it is damaged ({one_line(f'{type(exc).__name__}: {exc}')})",
                hint=DAMAGED_HINT,
            ) from None


def changes_anything(src: Path, changeset: ChangeSet, tables: Tables) -> bool:
    """Whether writing ``changeset`` would change any byte of the workbook ``src`` (nothing is written)."""
    with open_package(Path(src)) as pkg:
        patch = _Patch(pkg, tables)
        try:
            patch.run(changeset)
            return not patch.unchanged()
        finally:
            for sheet in patch.sheets.values():
                sheet.close()


_TableState = TableState


def _plain_texts(texts: list[str]) -> bool:
    """Whether each of ``texts`` goes into a cell as it is: none needs escaping (xml_text), a cut (fit_cell) or
    xml:space="preserve" (white space at an end, a line break), asked of them all at once: printable ASCII with
    no space next to the "|" that joins them and none of &, <, > and _ (more than that: False, and the caller
    asks of each text)."""
    if not texts or max(map(len, texts)) * 2 > MAX_CELL_CHARS:
        return False
    joined = "|".join(texts)  # a "|" of a text only makes a space next to it count as an end's
    # printable ASCII: no control character, no line break, no white space but " "
    return (joined.isascii() and joined.isprintable() and joined[:1] != " " and joined[-1:] != " "
            and "| " not in joined and " |" not in joined
            and "&" not in joined and "<" not in joined and ">" not in joined and "_" not in joined)


_STR = frozenset({str})
# the values _set may add a cell format for (a date in a cell without one, text that starts like a formula)
_FORMATTED = (dt.date, Text)


class _Formatted(dict):
    """type -> whether its values are _FORMATTED, asked once per type (a first run asks of ~140,000 values at 30k)."""

    __slots__ = ()

    def __missing__(self, kind: type) -> bool:
        self[kind] = found = issubclass(kind, _FORMATTED)
        return found


class _PlanRow(dict):
    """A row of the plan (field -> value) on its way to _append_rows, told apart from rows of cells by column."""

    __slots__ = ()


class _Patch(ColumnsPatch):
    """A change set's plan written into the package: tables, columns, rows, archives and restores."""

    # -- loading
    def state(self, table_name: str) -> _TableState:
        if table_name in self.states:
            return self.states[table_name]
        t = self.tables.get(table_name)
        if t is None:
            raise CrmSheetsError(
                f"{self.pkg.path.name}: the change set writes to table {table_name!r}, which this workbook does not have",
                hint="run `crm-sheets upgrade` to add the missing sheets",
            )
        ref = self.pkg.sheet(t.sheet or t.schema.sheet_name(self.tables.lang))
        if ref is None or not ref.part:
            raise CrmSheetsError(f"{self.pkg.path.name}: sheet {t.sheet!r} of table {table_name!r} is missing",
                                 hint="read the workbook again; was the sheet renamed or deleted?")
        sheet = self.sheet_edit(ref.part)
        parts = self.pkg.tables(ref)
        part = next((p for p in parts if t.schema.excel_name in (p.name, p.display_name)), parts[0] if parts else None)
        if part is not None:
            a, _, b = part.ref.partition(":")
            c1, r1 = split_ref(a)
            c2, r2 = split_ref(b or a)
            header_row = r1 + part.header_rows - 1
            first, last, end = column_index(c1), column_index(c2), r2 - part.totals_rows
        else:  # no Excel table: the headers are where the reader found them (below any title rows)
            header_row = t.header_row or 1
            first, end = 0, header_row
            last = max((column_index(c) for c in sheet.cells(header_row)), default=0)
        cols = dict(t.columns)
        if not cols:
            cols = self._columns_from_headers(t, sheet, header_row)
        if cols and part is None:
            last = max(last, *(column_index(c) for c in cols.values()))
        end = max([end, header_row, *t.rows.values()])
        st = _TableState(table_name, sheet, part, header_row, end, cols, first, last,
                         {f.name: f for f in t.schema.fields})
        st.ref_end = end if part is not None else 0
        # blank rows at the bottom of the table (an empty table keeps one) are filled before growing it
        records = set(t.rows.values())
        while st.end_row > st.header_row and st.end_row not in records and not self._row_has_values(sheet, st.end_row):
            st.end_row -= 1
        self.states[table_name] = st
        return st

    def _row_has_values(self, sheet: SheetEdit, r: int) -> bool:
        # without resolving shared strings: a huge sharedStrings.xml is only read when a value is needed
        return any(re.search(r"<(?:\w+:)?(?:v>|t\b[^>]*>[^<])", c.xml) for c in sheet.cells(r).values())

    # -- the change set
    def run(self, cs: ChangeSet) -> None:
        plan = make_plan(cs, self.tables)
        captured: list[tuple[ArchiveMove, ArchivedRow]] = []
        removals: dict[str, list[int]] = {}
        appends: dict[str, list[tuple[int | None, dict[str, str]]]] = {}  # table -> rows of cell xml by column
        for t in plan.tables_added:
            self._add_table(t)
        for table, tp in plan.tables.items():
            if tp.columns:
                self._add_columns(table, tp.columns)
        # Updates are written after the archived and restored rows are taken out, at the rows' new numbers: an
        # updated row moved by them was written, then read back, renumbered and written again (a first run archives
        # a few hundred early leads and updates most rows below them). A row to be archived is updated first, so
        # its archived copy holds the update; the columns updates claim are claimed here, in the order as before.
        archived: dict[str, set[int]] = {}
        for a in plan.archives:
            archived.setdefault(a.table, set()).add(self.tables[a.table].rows[a.record_id])
        for table, tp in plan.tables.items():
            if not tp.updates:
                continue
            st = self.state(table)
            for name in dict.fromkeys(chain.from_iterable(tp.updates.values())):
                st.cols.get(name) or self.column(st, name)
            going = archived.get(table)
            if going:
                rows = self.tables[table].rows
                for record_id, values in tp.updates.items():
                    if rows[record_id] in going:
                        self._set(st, rows[record_id], values)
        for a in plan.archives:
            st = self.state(a.table)
            r = self.tables[a.table].rows[a.record_id]
            captured.append((a, self._capture(st, r)))
            removals.setdefault(a.table, []).append(r)
        for res in plan.restores:
            archive_state = self.state(res.archive)
            r, row = self._find_archived(archive_state, res)
            removals.setdefault(res.archive, []).append(r)
            appends.setdefault(res.table, []).append((None, self._restored_cells(self.state(res.table), row)))
        for a, row in captured:
            archive_state = self.state(a.archive)
            appends.setdefault(a.archive, []).append((None, self._append_cells(archive_state, archive_values(a, row, self.tables))))
        # The plan's new rows are turned into cells one row at a time as they are written, and each plan row is let
        # go once written: a first run at 100k leads appends ~500,000 rows (most to the Audit Log), and holding
        # them as plan rows, cells and XML at once took most of a GB. Their columns are claimed here, in the order
        # the rows name them, as when every row's cells were made here.
        fresh: dict[str, list] = {}
        for table, tp in plan.tables.items():
            if tp.appends:
                st = self.state(table)
                named: dict[str, None] = {}
                for values in tp.appends:
                    named.update(dict.fromkeys(values))
                self._append_cells(st, dict.fromkeys(named))
                appends.setdefault(table, [])
                fresh[table] = tp.appends
        moved: dict[str, Removal] = {}
        for name, rows in removals.items():
            moves = self._remove_rows(self.state(name), sorted(set(rows)))
            if moves is not None:
                moved[name] = moves
        for table, tp in plan.tables.items():
            if not tp.updates:
                continue
            st = self.state(table)
            rows = self.tables[table].rows
            going, moves = archived.get(table, ()), moved.get(table)
            # Rows are updated in row order, so the sheet's rows are read, and the rows written are kept and read
            # back, in one sweep (the change set's order, e.g. the leads a phone fix touched and then every lead
            # scored, made several sweeps, a read of the part and of the rows written per row or two). Only a row
            # with a date or a Text may add a cell format to styles.xml (_set): those are updated first, in the change
            # set's order, so the formats are added in the order they always were.
            plain: list[tuple[int, dict[str, Any]]] = []
            formatted = _Formatted()
            for record_id, values in tp.updates.items():
                r = rows[record_id]
                if r in going:
                    continue  # updated above, before it was archived
                if moves is not None:
                    r = moves.get(r, r)
                    if r is None:
                        continue  # a row taken out (restored from an archive): as when updated before it went
                if any(map(formatted.__getitem__, map(type, values.values()))):
                    self._set(st, r, values)
                else:
                    plain.append((r, values))
            plain.sort(key=itemgetter(0))
            self._set_rows(st, plain)
        for name, rows in appends.items():
            st = self.state(name)
            new = fresh.get(name, [])
            self._append_rows(st, chain((cells for _, cells in rows), self._cells_of(st, new)), len(rows) + len(new))
        self._add_options(plan.options)
        self._sequences_and_sheets(plan)

    def _set(self, st: _TableState, r: int, values: dict[str, Any]) -> None:
        cols, unquoted, date1904 = st.cols, self._quote_free(), self.pkg.date1904  # once per row, not per value
        targets: dict[str, Any] = {}
        for name, v in values.items():  # v in the workbook's form already (core.plan.field_value)
            col = cols.get(name) or self.column(st, name)
            if too_long(v):  # a person's value over a cell's limit: never written back (cut), the cell stays as it is
                continue
            targets[col] = v
        # the cells to change found in the row's text and replaced there (a first run updates ~3 cells of ~30,000
        # rows at 30k); a row without one of them, or written otherwise, is split into its cells
        found = st.sheet.cell_spans(r, targets)
        if found is not None:
            row, spans = found
            cells: dict[str, str] = {col: row[a:b] for col, (a, b) in spans.items()}
        else:
            cells = st.sheet.raw_cells(r)
        out: dict[str, str | None] = {}
        for col, v in targets.items():
            old = cells.get(col)
            s = S_ATTR.search(old, 0, old.index(">")) if old else None
            style = int(s.group(1)) if s else None
            if style is None and isinstance(v, dt.date):
                style = self._date_xf(v)
            if isinstance(v, Text) and v.startswith(FORMULA_STARTS):
                style = self._quoted_xf(style)
            elif style is not None:
                style = unquoted.get(style, style)
            ref = f"{col}{r}"
            out[col] = (inline_string(ref, v, style) if type(v) is str else cell_xml(ref, v, style, date1904)) or None
        if found is not None:
            st.sheet.splice_cells(r, row, spans, out)
        else:
            st.sheet.put_cells(r, out)
        self.recalc = True

    def _set_rows(self, st: _TableState, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """_set of each (row, values) of ``rows`` in turn, for values that add no cell format (no date, no Text): the
        same cells, each value's XML after its reference made once per value and style (a first run writes ~150,000
        cells into ~48,000 rows at 30k, most of them a lead's score and grade, of a few dozen values)."""
        cols, unquoted, date1904, sheet = st.cols, self._quote_free(), self.pkg.date1904, st.sheet
        spans_of, splice = sheet.cell_spans, sheet.splice_cells
        tails: dict[tuple[type, Any, int | None], str] = {}
        for r, values in rows:
            targets: dict[str, Any] = {}
            for name, v in values.items():
                col = cols.get(name) or self.column(st, name)
                if isinstance(v, str) and len(v) * 2 > MAX_CELL_CHARS and too_long(v):
                    continue  # as _set: a person's value over a cell's limit is never written back
                targets[col] = v
            found = spans_of(r, targets)
            if found is None:
                self._set(st, r, values)  # a row written otherwise: split into its cells
                continue
            row, spans = found
            out: dict[str, str | None] = {}
            for col, v in targets.items():
                a, b = spans[col]
                s = S_ATTR.search(row, a, row.index(">", a)) if a != b else None
                style = int(s.group(1)) if s else None
                if style is not None:
                    style = unquoted.get(style, style)
                key = (type(v), v, style)
                try:
                    tail = tails.get(key)
                except TypeError:  # a value that cannot be a key: made as it is
                    tail, key = None, None
                if tail is None:
                    x = inline_string("", v, style) if type(v) is str else cell_xml("", v, style, date1904)
                    tail = x[len('<c r=""'):] if x else ""
                    if key is not None and len(tails) < 4096 and (type(v) is not str or len(v) <= 64):
                        tails[key] = tail
                out[col] = f'<c r="{col}{r}"{tail}' if tail else None
            splice(r, row, spans, out)
        if rows:
            self.recalc = True

    def _append_cells(self, st: _TableState, values: dict[str, Any]) -> dict[str, str]:
        """Cells of a new row, as {column: xml with a placeholder row number}; styles come later."""
        out = {}
        for name, value in values.items():
            if name not in st.schema_fields and name not in st.cols:
                continue  # info keys the archive table has no column for
            out[self.column(st, name)] = ("value", value)
        return out  # type: ignore[return-value]

    def _cells_of(self, st: _TableState, rows: list) -> Iterator[dict[str, Any]]:
        """Each plan row, in order, marked as one (_append_rows writes it by field); a row is dropped from the plan
        as soon as it is given."""
        for k, values in enumerate(rows):
            rows[k] = None
            yield _PlanRow(values)

    def _row_layout(self, st: _TableState, names: tuple[str, ...], inside: list[tuple[str, int]],
                    tmpl_styles: dict[str, int]) -> list[tuple[str, int | None, str | None]]:
        """The cells of a new row filling ``names``, in column order: (column, style, field), field None for a
        styled empty cell of the template; what _append_cells and the template make of such a row, once for
        every row of the same fields."""
        by_col: dict[str, str] = {}
        for name in names:
            if name in st.schema_fields or name in st.cols:
                by_col[self.column(st, name)] = name
        cells: dict[str, tuple[int | None, str | None]] = {col: (style, None) for col, style in inside}
        for col, name in by_col.items():
            cells[col] = (tmpl_styles.get(col), name)
        return [(col, *cells[col]) for col in sorted(cells, key=column_order)]

    def _capture(self, st: _TableState, r: int) -> ArchivedRow:
        """The whole sheet row in the neutral archive format: each cell's value, type, formula and number format."""
        headers = self.headers(st)
        cells: list[ArchivedCell] = []
        used: set[str] = set()
        for col, c in st.sheet.cells(r).items():
            h = headers.get(col) or ""
            key = h if h and h not in used else f"[{col}]"
            used.add(key)
            cell = archived_cell(key, c, self.sst, self._number_format(c.style), self.pkg.date1904)
            if cell is not None:
                cells.append(cell)
        tag = st.sheet.row_tag(r)
        ht = re.search(r'\bht="([\d.]+)"', tag) if 'customHeight="1"' in tag or "customHeight=\"true\"" in tag else None
        hidden = re.search(r'\bhidden="(1|true)"', tag) is not None
        return ArchivedRow(tuple(cells), height=float(ht.group(1)) if ht else None, hidden=hidden)

    def _number_format(self, style: int | None) -> str | None:
        """The number format code of a cell format, None for General."""
        if not style:
            return None
        codes = self.__dict__.get("_num_fmts")
        if codes is None:
            part = next((r.target for r in self.pkg.workbook_rels if r.type.endswith("/styles")), "xl/styles.xml")
            data = self.replaced.get(part) or (self.pkg.read(part) if self.pkg.has(part) else b"")
            codes = self.__dict__["_num_fmts"] = number_formats(data)
        return codes[style] if style < len(codes) else None

    def _format_xf(self, style: int | None, code: str | None) -> int | None:
        """A cell format showing ``code``: ``style`` itself when it does, else a plain one with that format."""
        if self._number_format(style) == code:
            return style
        if not code:
            return None
        xfs = self._looks({("archived", code): StyleDef(num_fmt=code)})
        self.__dict__.pop("_num_fmts", None)  # styles.xml grew
        return xfs[("archived", code)]

    def _find_archived(self, archive_state: _TableState, res: RowRestore) -> tuple[int, ArchivedRow]:
        rec_col, table_col, data_col = (archive_state.cols.get(k) for k in ("record", "table", "data"))
        if not rec_col or not data_col:
            raise CrmSheetsError(f"archive table {res.archive!r} has no Record or Original row column",
                                 hint="run `crm-sheets upgrade` to repair the sheet")
        for r in range(archive_state.end_row, archive_state.header_row, -1):  # the latest archived copy wins
            cells = archive_state.sheet.cells(r)
            record = cell_value(cells[rec_col], self.sst) if rec_col in cells else None
            table = cell_value(cells[table_col], self.sst) if table_col and table_col in cells else None
            if not is_archived_copy(res, record, table):
                continue
            raw = cell_value(cells[data_col], self.sst) if data_col in cells else None
            try:
                return r, load_archived(str(raw))
            except ValueError:
                raise CrmSheetsError(f"{archive_state.sheet.part}: row {r} of {res.archive!r} has no readable original row",
                                     hint="the Original row cell was edited; restore it from a backup") from None
        raise CrmSheetsError(f"record {res.record_id} is not in the {res.archive!r} sheet", hint="nothing to restore")

    def _restored_cells(self, st: _TableState, row: ArchivedRow) -> dict[str, Any]:
        by_header = {normalize_header(h): col for col, h in self.headers(st).items() if h}
        out: dict[str, Any] = {}
        for cell in row.cells:
            col = by_header.get(normalize_header(cell.key)) if not cell.key.startswith("[") else None
            col = col or cell.column
            if col and col not in out:
                out[col] = ("record", cell.legacy) if cell.legacy is not None else ("archived", cell)
        if row.legacy_row:
            out["__row__"] = row.legacy_row
        elif row.height is not None or row.hidden:
            out["__row__"] = " ".join(([f'ht="{row.height:g}" customHeight="1"'] if row.height is not None else [])
                                      + (['hidden="1"'] if row.hidden else []))
        return out

    def _remove_rows(self, st: _TableState, rows: list[int]) -> Removal | None:
        """Take ``rows`` out of the table, moving the rows below up; the moves (None when nothing moved)."""
        removed = [r for r in rows if st.header_row < r <= st.end_row]
        if not removed:
            return None
        moves = Removal(removed, st.end_row)
        st.sheet.move_rows(moves)  # every row up to end_row below the first removed moves
        st.end_row -= len(removed)
        st.ref_end -= len(removed)
        st.touched = True
        self.recalc = True
        return moves

    def _append_rows(self, st: _TableState, rows: Iterable[dict[str, Any]], count: int) -> None:
        self._make_room(st, count)
        template = st.end_row if st.end_row > st.header_row else st.header_row + 1
        tmpl_cells = st.sheet.cells(template)
        # a new row copies the last row's looks, not a quote prefix one of its values needed
        tmpl_styles = {col: self._unquoted_xf(c.style) for col, c in tmpl_cells.items() if c.style is not None}
        tag = st.sheet.row_tag(template) if template in st.sheet.rows else ""
        tmpl_attrs = re.sub(r'\s(r|spans)="[^"]*"', "", tag[tag.index("row") + 3:].rstrip("/>").rstrip(">")) if tag else ""
        inside: list[tuple[str, int]] = []  # the template's styled cells within the table's columns
        bounds = None
        fresh_from = st.sheet.max_row()  # a row past this one is new: written without looking for one to keep
        layouts: dict[tuple[str, ...], list] = {}  # the cells of plan rows by the fields they fill
        dated: dict[tuple[type, Any, int | None], str] = {}  # a date cell's XML after its reference
        batch: list[tuple[int, str]] = []  # new rows of the plan made, written to the sheet 512 at a time
        # new rows of the plan not made yet, all of one layout: made a column at a time (_fresh_rows) when a row of
        # another layout, a row not new or the 512th comes
        pending: list[dict[str, Any]] = []
        pending_layout: list = []
        for values in rows:
            plan_row = type(values) is _PlanRow
            if plan_row:
                names = tuple(values)
                if names not in layouts:  # new columns are claimed before the table's bounds are looked at
                    if pending:
                        batch.extend(self._fresh_rows(pending_layout, pending, st.end_row - len(pending) + 1, dated))
                        pending = []
                    if batch:  # (a new column looks at the sheet: the rows made so far are in it first)
                        st.sheet.append_rows_xml(batch, tmpl_attrs)
                        batch = []
                    for name in names:
                        if name in st.schema_fields or name in st.cols:
                            self.column(st, name)
            r = st.end_row + 1
            if bounds != (st.first_col, st.last_col):
                bounds = (st.first_col, st.last_col)
                inside = [(col, style) for col, style in tmpl_styles.items() if st.first_col <= column_index(col) <= st.last_col]
                layouts = {}
            if plan_row and r > fresh_from:
                # a new row of the plan, written straight from its values by a layout made once per set of fields:
                # the same cells as below, without a dict of cells per row (a first run appends ~70,000 rows at 30k)
                layout = layouts.get(names)
                if layout is None:
                    layout = layouts[names] = self._row_layout(st, names, inside, tmpl_styles)
                if pending and layout is not pending_layout:
                    batch.extend(self._fresh_rows(pending_layout, pending, r - len(pending), dated))
                    pending = []
                pending_layout = layout
                pending.append(values)
                if len(pending) >= 512:
                    batch.extend(self._fresh_rows(layout, pending, r - len(pending) + 1, dated))
                    pending = []
                if len(batch) >= 512:
                    st.sheet.append_rows_xml(batch, tmpl_attrs)
                    batch = []
                st.sheet.widest = max(st.sheet.widest, st.last_col)
                st.end_row = r
                st.touched = True
                continue
            if pending:
                batch.extend(self._fresh_rows(pending_layout, pending, r - len(pending), dated))
                pending = []
            if batch:
                st.sheet.append_rows_xml(batch, tmpl_attrs)
                batch = []
            if plan_row:
                values = self._append_cells(st, values)
            row_attrs = values.pop("__row__", None)
            cells: dict[str, str | None] = {col: f'<c r="{col}{r}" s="{style}"/>' for col, style in inside}
            for col, (kind, v) in values.items():
                ref = f"{col}{r}"
                if kind == "record":  # a row archived by an older version: as it was
                    cells[col] = record_xml(ref, v, self.sst) or None
                elif kind == "archived":
                    style = self._format_xf(tmpl_styles.get(col), v.number_format)
                    if not v.formula and isinstance(v.value, str) and v.value.startswith(FORMULA_STARTS):
                        style = self._quoted_xf(style)  # it was text in the sheet: it stays text when edited
                    cells[col] = archived_xml(ref, v, style, self.pkg.date1904) or None
                else:
                    style = tmpl_styles.get(col)
                    style = style if style is not None else self._date_xf(v)
                    if isinstance(v, Text) and v.startswith(FORMULA_STARTS):
                        style = self._quoted_xf(style)
                    cells[col] = cell_xml(ref, v, style, self.pkg.date1904) or None
            attrs = f" {row_attrs}" if row_attrs else tmpl_attrs
            if r > fresh_from:
                st.sheet.append_row(r, cells, attrs)
            else:
                st.sheet.put_cells(r, cells, row_attrs=attrs if r not in st.sheet.rows else None)
            st.sheet.widest = max(st.sheet.widest, st.last_col)
            st.end_row = r
            st.touched = True
        if pending:
            batch.extend(self._fresh_rows(pending_layout, pending, st.end_row - len(pending) + 1, dated))
        if batch:
            st.sheet.append_rows_xml(batch, tmpl_attrs)
        self.recalc = True

    def _fresh_rows(self, layout: list[tuple[str, int | None, str | None]], rows: list[dict[str, Any]], first: int,
                    dated: dict[tuple[type, Any, int | None], str]) -> list[tuple[int, str]]:
        """New rows of the plan numbered from ``first``, all filling the cells of ``layout``, as (row, cells' XML).
        Made a column at a time where a column's values are plain text none of which needs escaping, a cut or
        xml:space (most new cells: the Audit Log's and the Tasks' ~70,000 rows at 30k), each value put in one
        format per column; other columns cell by cell as _fresh_row does. A set of rows where a value asks for a
        new cell format (a date in a cell without one, text that starts like a formula) is made row by row, so
        styles.xml gains its formats in the order it always did."""
        known = self.__dict__.get("_date_xfs", {})  # the date formats _date_xf has looked up (or added) so far
        # each field's values and their types, taken in C (~70,000 new rows of ~8 cells at 30k)
        values = {name: list(map(itemgetter(name), rows)) for _, _, name in layout if name is not None}
        types = {name: set(map(type, vs)) for name, vs in values.items()}

        def adds_format(style: int | None, name: str) -> bool:
            kinds = types[name]
            if kinds <= _STR:
                return False
            vs = values[name]
            if style is None and any(issubclass(k, dt.date) for k in kinds) and any(
                    isinstance(v, dt.date) and ("datetime" if isinstance(v, dt.datetime) else "date") not in known
                    for v in vs):
                return True
            return any(issubclass(k, Text) for k in kinds) and any(
                isinstance(v, Text) and v.startswith(FORMULA_STARTS) for v in vs)

        numbers = range(first, first + len(rows))
        if any(adds_format(style, name) for _, style, name in layout if name is not None):
            return [(r, self._fresh_row(r, row, layout, dated)) for r, row in zip(numbers, rows)]
        columns: list[list[str]] = []
        date1904 = self.pkg.date1904
        for col, style, name in layout:
            if name is None:
                columns.append([f'<c r="{col}{r}" s="{style}"/>' for r in numbers])
                continue
            vs = values[name]
            kinds = types[name]
            if kinds <= _STR and _plain_texts(vs):
                s = f' s="{style}"' if style else ""
                columns.append([f'<c r="{col}{r}"{s} t="inlineStr"><is><t>{v}</t></is></c>' for r, v in zip(numbers, vs)])
                continue
            kinds = set(map(type, vs))
            if kinds == {dt.date} or kinds == {dt.datetime} and all(v.tzinfo is None for v in vs):
                # dates (the Audit Log's "at", a task's due date): each one's XML after its reference made once
                tails = {v: self._date_tail(v, style, dated, date1904) for v in set(vs)}
                columns.append([f'<c r="{col}{r}"{tails[v]}' for r, v in zip(numbers, vs)])
                continue
            columns.append([self._fresh_cell(col, r, style, v, dated, date1904) for r, v in zip(numbers, vs)])
        return [(r, "".join(cells)) for r, cells in zip(numbers, zip(*columns))]

    def _fresh_row(self, r: int, values: dict[str, Any], layout: list[tuple[str, int | None, str | None]],
                   dated: dict[tuple[type, Any, int | None], str]) -> str:
        """The cells' XML of a new row of the plan: its values in the cells of ``layout`` (see _row_layout)."""
        date1904 = self.pkg.date1904
        out: list[str] = []
        for col, style, name in layout:
            if name is None:
                out.append(f'<c r="{col}{r}" s="{style}"/>')
                continue
            out.append(self._fresh_cell(col, r, style, values[name], dated, date1904))
        return "".join(out)

    def _fresh_cell(self, col: str, r: int, style: int | None, v: Any, dated: dict[tuple[type, Any, int | None], str],
                    date1904: bool) -> str:
        """One cell of a new row of the plan ("" for none): inline_string, cell_xml or a date's XML made once."""
        if type(v) is str:  # plain-text columns never come here (_fresh_rows writes them whole)
            return inline_string(f"{col}{r}", v, style)
        ref = f"{col}{r}"
        if type(v) is dt.date or type(v) is dt.datetime and v.tzinfo is None:
            return f'<c r="{ref}"{self._date_tail(v, style, dated, date1904)}'
        if style is None:
            style = self._date_xf(v)
        if isinstance(v, Text) and v.startswith(FORMULA_STARTS):
            style = self._quoted_xf(style)
        return cell_xml(ref, v, style, date1904)

    def _date_tail(self, v: dt.date, style: int | None, dated: dict[tuple[type, Any, int | None], str],
                   date1904: bool) -> str:
        """A new cell's XML after its reference for a date or a naive time ``v``: most new rows of a run carry its one
        time (the Audit Log's "at"), its serial made once (aware times of one instant are equal and written in their
        own zones: cell_xml makes those)."""
        if style is None:
            style = self._date_xf(v)
        key = (type(v), v, style)
        tail = dated.get(key)
        if tail is None:
            tail = dated[key] = cell_xml("", v, style, date1904)[len('<c r=""'):]
        return tail

    def _make_room(self, st: _TableState, n: int) -> None:
        """New rows go under the last record; what people keep below it (a legend, notes, totals) moves
        down to make room instead of being written over."""
        if not n or st.part is not None and st.end_row < st.ref_end:
            return  # an Excel table's own blank rows are filled first
        wanted = range(st.end_row + 1, st.end_row + n + 1)
        if not any(r in st.sheet.rows and self._row_has_values(st.sheet, r) for r in wanted):
            return
        below = sorted(r for r in st.sheet.rows if r > st.end_row)
        st.sheet.move_rows({r: r + n for r in reversed(below)})
        self.recalc = True

    def _date_xf(self, value: Any) -> int | None:
        """A date written where no style says how to show it gets our date format (not a bare serial)."""
        if not isinstance(value, (dt.date, dt.datetime)):
            return None
        name = "datetime" if isinstance(value, dt.datetime) else "date"
        # styles.xml only ever grows, so an index stays valid: look it up once per run, not per cell
        cache = self.__dict__.setdefault("_date_xfs", {})
        if name not in cache:
            cache[name] = self._styles([(name, None)])[(name, None)]
        return cache[name]

    def _quoted_xf(self, style: int | None) -> int:
        """The cell format ``style`` plus quotePrefix: text from outside that starts like a formula (a
        model.values.Text) stays text when a person edits the cell in Excel or LibreOffice (F2, Enter)."""
        # styles.xml only ever grows, so an index stays valid: one derived format per source format and run
        cache = self.__dict__.setdefault("_quoted_xfs", {})
        if style not in cache:
            part = next((r.target for r in self.pkg.workbook_rels if r.type.endswith("/styles")), "xl/styles.xml")
            current = self.replaced.get(part) or self.pkg.read(part)
            new, cache[style] = ensure_quote_prefix(current, style)
            self._quote_free().setdefault(cache[style], style or 0)
            if new != current:
                self.replaced[part] = new
                self.__dict__.pop("_num_fmts", None)  # styles.xml grew
        return cache[style]

    def _quote_free(self) -> dict[int, int]:
        found = self.__dict__.get("_quote_free_xfs")
        if found is None:
            part = next((r.target for r in self.pkg.workbook_rels if r.type.endswith("/styles")), "xl/styles.xml")
            data = self.replaced.get(part) or (self.pkg.read(part) if self.pkg.has(part) else b"")
            found = self.__dict__["_quote_free_xfs"] = quote_free(data)  # once per run
        return found

    def _unquoted_xf(self, style: int) -> int:
        """``style`` without a quote prefix, for ordinary values and new rows' looks (itself when it has none)."""
        return self._quote_free().get(style, style)
