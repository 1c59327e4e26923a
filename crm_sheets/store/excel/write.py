"""The store core's Plan written into the open book: records found again by ID in a fresh read of each sheet
the plan touches, then a few range writes per sheet (one per written column span, one block per group of
appended rows, row deletes grouped), owned sheets replaced, _crm_meta keys set.

Everything is worked out from the fresh read before the first write (``LiveWrite.prepare``), so a change a
person made since the jobs read the book stops the write before it starts (WorkbookChanged), and the writes
never depend on reading back what they wrote.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from crm_sheets.errors import CrmSheetsError, WorkbookChanged
from crm_sheets.model.schema import normalize_header
from crm_sheets.model.tables import META_SHEET, Table, Tables, column_letter
from crm_sheets.model.values import cell_text, is_empty
from crm_sheets.store.core.archive import ArchivedCell, ArchivedRow, loads, value_type
from crm_sheets.store.core.plan import Plan, archive_values, is_archived_copy
from crm_sheets.store.core.refind import (AGAIN, TableNow, check_numbering, col_index as _col_index, find_records,
                                          find_table)
from crm_sheets.store.excel.grids import from_a1, plain, read_block
from crm_sheets.store.excel.values import formula as as_formula, is_error, to_excel

@dataclass
class SheetNow:
    """A sheet as the fresh read before the write shows it: raw xlwings values and formulas from A1."""

    title: str
    values: list[list[Any]]
    formulas: list[list[Any]] | None  # None: the engine cannot say which cells hold formulas

    def value(self, r: int, c: int) -> Any:
        row = self.values[r] if r < len(self.values) else []
        return row[c] if c < len(row) else None

    def is_formula(self, r: int, c: int) -> bool | None:
        if self.formulas is None:
            return None
        row = self.formulas[r] if r < len(self.formulas) else []
        f = row[c] if c < len(row) else None
        return isinstance(f, str) and f.startswith("=")

    def blank_row(self, r: int) -> bool:
        return r >= len(self.values) or all(is_empty(v) for v in self.values[r])


@dataclass
class SheetWrite:
    """What one sheet gets, in the order it is done: rows inserted, value blocks, a table resized, rows deleted."""

    title: str
    inserts: list[tuple[int, int]] = field(default_factory=list)  # (0-based first row, count)
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)  # (row, col) -> value to write (Excel form)
    blocks: list[tuple[int, int, list[list[Any]]]] = field(default_factory=list)  # appended rows: (row, col, values)
    resize: tuple[str, int, int, int, int] | None = None  # (ListObject name, r0, c0, r1, c1), 0-based inclusive
    deletes: list[int] = field(default_factory=list)  # 0-based rows to delete


class LiveWrite:
    """One Plan against the book as it is now. ``prepare()`` reads and checks; ``run()`` writes."""

    def __init__(self, book: Any, plan: Plan, tables: Tables, read: dict[str, list[list[Any]]], identity: str):
        self.book = book
        self.plan = plan
        self.tables = tables
        self.read = read  # sheet -> raw values as the jobs' read saw them
        self.identity = identity
        self.now: dict[str, SheetNow] = {}
        self.writes: dict[str, SheetWrite] = {}
        self.layouts: dict[str, TableNow] = {}
        self.reads = 0  # value and formula reads sent to Excel
        self.calls: dict[str, int] = {}  # sheet -> write calls sent
        self.notes: list[str] = []

    # -- the fresh read and the change check ------------------------------------------------------

    def prepare(self) -> None:
        plan = self.plan
        sheets = {s.name: s for s in self.book.sheets}
        touched = set(plan.tables) | {m.table for m in plan.archives} | {m.archive for m in plan.archives} \
            | {r.table for r in plan.restores} | {r.archive for r in plan.restores}
        for name in sorted(touched):
            t = self.tables.get(name)
            if t is None or t.sheet not in sheets:
                raise WorkbookChanged(f"{self.identity}: the sheet of table {name!r} was renamed or removed since it "
                                      "was read; nothing was written", hint=AGAIN)
            self._fresh(sheets[t.sheet])
            self.layouts[name] = self._layout(t)
        wanted = [(name, rid) for name, tp in plan.tables.items() for rid in tp.updates]
        wanted += [(m.table, m.record_id) for m in plan.archives]
        # Formula cells are left out of the comparison: Excel recomputes them (=TODAY() in a person's column)
        # without anyone editing the record.
        self.rows_now = find_records(self.layouts, wanted, workbook=self.identity,
                                     skip=lambda sheet, r, c: bool(self.now[sheet].is_formula(r, c)))
        if plan.meta and META_SHEET in sheets:
            self._fresh(sheets[META_SHEET])
            self._check_sequences()
        self._plan_columns()
        self._plan_updates()
        self._plan_archives_and_restores()
        self._plan_appends()
        self._plan_options(sheets)

    def _fresh(self, sheet: Any) -> SheetNow:
        if sheet.name not in self.now:
            used = sheet.used_range
            r0, c0, values = read_block(sheet)
            self.reads += 1
            try:
                raw_f = used.formula
                self.reads += 1
                if not isinstance(raw_f, (list, tuple)):
                    raw_f = [[raw_f]]
                elif raw_f and not isinstance(raw_f[0], (list, tuple)):
                    raw_f = [list(raw_f)]
                formulas = from_a1(r0, c0, [list(r) for r in raw_f], convert=lambda v: v) if values else []
            except NotImplementedError:  # an engine that cannot read formulas synchronously
                formulas = None
            self.now[sheet.name] = SheetNow(sheet.name, from_a1(r0, c0, values, convert=lambda v: v), formulas)
        return self.now[sheet.name]

    def _layout(self, t: Table) -> TableNow:
        return find_table(t, self.now[t.sheet].values, self.read.get(t.sheet), workbook=self.identity)

    def _check_sequences(self) -> None:
        check_numbering(self.plan.meta, self.now[META_SHEET].values, self.read.get(META_SHEET) or [],
                        workbook=self.identity)

    # -- planning the writes ----------------------------------------------------------------------

    def _sheet(self, title: str) -> SheetWrite:
        return self.writes.setdefault(title, SheetWrite(title))

    def _column(self, lay: TableNow, name: str) -> int:
        col = lay.cols.get(name)
        if col is None:
            raise CrmSheetsError(f"{lay.title}: no column for {name!r}", hint="run `crm-sheets upgrade` to add it")
        return col

    def _plan_columns(self) -> None:
        for name, tp in self.plan.tables.items():
            for add in tp.columns:
                lay = self.layouts[name]
                col = _col_index(add.column)
                now = self.now[lay.title]
                if any(now.value(r, col) not in (None, "") for r in range(lay.header, len(now.values))):
                    raise WorkbookChanged(f"{self.identity}: column {add.column} of {lay.title} is not empty; nothing "
                                          "was written", hint=AGAIN)
                self._sheet(lay.title).cells[(lay.header, col)] = to_excel(add.header)
                lay.cols[add.field] = col

    def _plan_updates(self) -> None:
        for name, tp in self.plan.tables.items():
            lay = self.layouts.get(name)
            for rid, values in tp.updates.items():
                r = self.rows_now[(name, rid)]
                for f, v in values.items():
                    self._sheet(lay.title).cells[(r, self._column(lay, f))] = to_excel(v)

    def _capture(self, lay: TableNow, r: int, updates: dict[str, Any]) -> ArchivedRow:
        """A record's whole row (people's columns too) in the neutral archive format, with this write's updates."""
        now = self.now[lay.title]
        width = max(len(now.values[r]) if r < len(now.values) else 0, len(lay.headers))
        by_col = {self._column(lay, f): v for f, v in updates.items()}
        cells, seen = [], set()
        for c in range(width):
            f_text = None
            if c in by_col:
                value = plain(by_col[c]) if not isinstance(by_col[c], str) else by_col[c].removeprefix("'")
            else:
                value = plain(now.value(r, c))
                if now.is_formula(r, c):
                    f_text = str(now.formulas[r][c])[1:]
            if value == "" and f_text is None:
                continue
            h = lay.headers[c] if c < len(lay.headers) else None
            key = str(h) if h not in (None, "") and str(h) not in seen else f"[{column_letter(c)}]"
            seen.add(key)
            kind = "error" if is_error(value) else value_type(value)
            cells.append(ArchivedCell(key, column_letter(c), None if value == "" else value, kind, f_text))
        return ArchivedRow(tuple(cells))

    def _plan_archives_and_restores(self) -> None:
        self.archive_rows: dict[str, list[dict[str, Any]]] = {}
        self.restored: dict[str, list[dict[int, Any]]] = {}
        for m in self.plan.archives:
            lay = self.layouts[m.table]
            r = self.rows_now[(m.table, m.record_id)]
            updates = self.plan.tables.get(m.table).updates.get(m.record_id, {}) if m.table in self.plan.tables else {}
            row = self._capture(lay, r, updates)
            self.archive_rows.setdefault(m.archive, []).append(archive_values(m, row, self.tables))
            self._sheet(lay.title).deletes.append(r)
        for w in self.writes.values():  # the rows that leave: their updates went into the archived copies
            gone = set(w.deletes)
            if gone:
                w.cells = {rc: v for rc, v in w.cells.items() if rc[0] not in gone}
        for res in self.plan.restores:
            arch = self.layouts[res.archive]
            r, row = self._find_archived(arch, res)
            self._sheet(arch.title).deletes.append(r)
            target = self.layouts[res.table]
            by_header = {normalize_header(str(h)): c for c, h in enumerate(target.headers) if h not in (None, "")}
            out: dict[int, Any] = {}
            for cell in row.cells:
                c = by_header.get(normalize_header(cell.key))
                if c is None and cell.key.startswith("[") and cell.column:
                    c = _col_index(cell.column)
                if c is None:
                    continue
                out[c] = as_formula(cell.formula) if cell.formula else to_excel(cell.value)
            self.restored.setdefault(res.table, []).append(out)

    def _find_archived(self, lay: TableNow, res: Any) -> tuple[int, ArchivedRow]:
        rec, tab, dat = (lay.cols.get(k) for k in ("record", "table", "data"))
        if rec is None or dat is None:
            raise CrmSheetsError(f"archive table {res.archive!r} has no Record or Original row column")
        now = self.now[lay.title]
        for r in range(len(now.values) - 1, lay.header, -1):
            if is_archived_copy(res, plain(now.value(r, rec)) or None, plain(now.value(r, tab)) if tab is not None else None):
                try:
                    return r, loads(str(now.value(r, dat)))
                except ValueError:
                    raise CrmSheetsError(f"{lay.title}!{column_letter(dat)}{r + 1}: not a readable original row",
                                         hint="nothing was written") from None
        raise CrmSheetsError(f"record {res.record_id} is not in the {res.archive!r} sheet", hint="nothing to restore")

    def _plan_appends(self) -> None:
        rows: dict[str, list[dict[int, Any]]] = {}
        for name, archived in self.archive_rows.items():
            lay = self.layouts[name]
            rows.setdefault(name, []).extend({self._column(lay, k): to_excel(v) for k, v in values.items()
                                              if k in lay.cols} for values in archived)
        for name, restored in self.restored.items():
            rows.setdefault(name, []).extend(restored)
        for name, tp in self.plan.tables.items():
            lay = self.layouts[name]
            for values in tp.appends:
                rows.setdefault(name, []).append({self._column(lay, k): to_excel(v) for k, v in values.items()
                                                  if k in lay.cols or k in lay.table.schema.field_names})
        for name, new in rows.items():
            if new:
                self._append(self.layouts[name], new)

    def _append(self, lay: TableNow, new: list[dict[int, Any]]) -> None:
        """New rows right under the table's last record, in one block; rows are inserted there first when
        anything lies below (a note, a total), so nothing of the person's is overwritten."""
        now = self.now[lay.title]
        write = self._sheet(lay.title)
        start, n = lay.last + 1, len(new)
        if any(not now.blank_row(r) for r in range(start, start + n)):
            write.inserts.append((start, n))
        c0 = min(min(row) for row in new if row) if any(new) else 0
        c1 = max(max(row) for row in new if row) if any(new) else 0
        block = [[row.get(c) for c in range(c0, c1 + 1)] for row in new]
        write.blocks.append((start, c0, block))
        lay.last += n
        tables = self._list_objects(lay)
        if tables:
            name, first_col, last_col = tables
            write.resize = (name, lay.header, first_col, lay.last, last_col)

    def _list_objects(self, lay: TableNow) -> tuple[str, int, int] | None:
        """The Excel table (ListObject) whose header row is the table's: (name, first col, last col)."""
        sheet = self.book.sheets[lay.title]
        try:
            for t in sheet.tables:
                rng = t.range
                if rng.row - 1 == lay.header:
                    return t.name, rng.column - 1, rng.column - 1 + rng.shape[1] - 1
        except Exception:
            return None
        return None

    def _plan_options(self, sheets: dict[str, Any]) -> None:
        """Labels a job adds to a dropdown's list: under the list's column on the Lists sheet, and the list's
        name (list_<name>) grown to cover them; else kept in _crm_meta as the file store does."""
        if not self.plan.options:
            return
        owned = self.tables.schema.owned_sheets.get("lists")
        title = next((str(n) for n in (self.tables.meta.get("sheet.lists"), *(owned.title.values() if owned else ()), "Lists")
                      if n and str(n) in sheets), None)
        now = self._fresh(sheets[title]) if title else None
        header = now.values[0] if now and now.values else []
        self.name_updates: dict[str, str] = {}
        for name, labels in self.plan.options.items():
            lst = self.tables.lists.get(name) or self.tables.schema.lists.get(name)
            titles = {normalize_header(t) for t in ((lst.label(self.tables.lang), name, *lst.title.values()) if lst else (name,))}
            col = next((c for c, h in enumerate(header) if h is not None and normalize_header(str(h)) in titles), None)
            if col is None:
                known = [x for x in str(self.tables.meta.get(f"options.{name}") or "").split("\n") if x]
                self.plan.meta[f"options.{name}"] = "\n".join([*known, *(x for x in labels if x not in known)])
                continue
            last = max([0] + [r for r in range(1, len(now.values)) if now.value(r, col) not in (None, "")])
            for i, label in enumerate(labels):
                self._sheet(title).cells[(last + 1 + i, col)] = to_excel(label)
            letter = column_letter(col)
            self.name_updates[f"list_{name}"] = f"='{title}'!${letter}$2:${letter}${last + 1 + len(labels)}"

    # -- writing ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Send the planned writes: per sheet, inserted rows, column spans, appended blocks, the Excel table
        resized, rows deleted (bottom-up, grouped); then list names, owned sheets and _crm_meta."""
        self._write_tables_added()
        for title, w in self.writes.items():
            sheet = self.book.sheets[title]
            for r0, n in w.inserts:
                sheet.range(f"{r0 + 1}:{r0 + n}").insert(shift="down", copy_origin="format_from_left_or_above")
                self._count(title)
            for r0, c0, block in _spans(w.cells, self.now.get(title)):
                sheet.range((r0 + 1, c0 + 1), (r0 + len(block), c0 + 1)).value = block
                self._count(title)
            for r0, c0, block in w.blocks:
                if block and block[0]:
                    sheet.range((r0 + 1, c0 + 1), (r0 + len(block), c0 + len(block[0]))).value = block
                    self._count(title)
            if w.resize is not None:
                name, r0, c0, r1, c1 = w.resize
                sheet.tables[name].resize(sheet.range((r0 + 1, c0 + 1), (r1 + 1, c1 + 1)))
                self._count(title)
            self._delete_rows(sheet, title, w.deletes)
        for name, refers_to in getattr(self, "name_updates", {}).items():
            try:
                self.book.names[name].refers_to = refers_to
            except Exception:  # no such name in this book: the labels are in the list all the same
                pass
        self._write_sheets()
        self._write_meta()

    def _write_tables_added(self) -> None:
        """Whole table sheets (Merged, Audit Log for a workbook made before them): headers and rows in one write,
        an Excel table over them, column widths and number formats; the defined names they come with. Their
        dropdown rules are the file's upgrade's (crm-sheets upgrade), not written here."""
        for add in self.plan.tables_added:
            names = [s.name for s in self.book.sheets]
            if add.sheet in names:
                raise CrmSheetsError(f"{self.identity}: a sheet {add.sheet!r} exists already; nothing more was written",
                                     hint="rename it, then press Refresh again")
            sheet = self.book.sheets.add(name=add.sheet, after=self.book.sheets[len(names) - 1])
            block = [[to_excel(c.header) for c in add.columns]] + [[to_excel(v) for v in row] for row in add.rows]
            width = len(add.columns)
            block = [row + [None] * (width - len(row)) for row in block]
            sheet.range((1, 1), (len(block), width)).value = block
            last = max(len(block), 2)  # an Excel table needs a data row, even an empty one
            sheet.tables.add(source=sheet.range((1, 1), (last, width)), name=add.excel_name,
                             table_style_name=add.style)
            for i, c in enumerate(add.columns):
                if c.width:
                    sheet.range((1, i + 1)).column_width = c.width
                if c.num_format:
                    sheet.range((2, i + 1), (last, i + 1)).number_format = c.num_format
            for name, refers_to in add.names.items():
                try:
                    self.book.names.add(name, refers_to if refers_to.startswith("=") else "=" + refers_to)
                except Exception:  # a name of that spelling exists: it is the person's
                    self.notes.append(f"{add.sheet}: the name {name} exists already; kept as it is")
            self._count(add.sheet)

    def _delete_rows(self, sheet: Any, title: str, rows: list[int]) -> None:
        """Whole rows deleted, bottom-up: the groups of neighbouring rows joined into ranges of several areas
        ("40:41,17:17,5:5"), as many as fit in the 255 characters Excel takes for an address, each deleted in
        one call; an engine without such ranges deletes group by group."""
        groups = [f"{a + 1}:{b + 1}" for a, b in reversed(_runs(sorted(set(rows))))]
        chunks: list[list[str]] = []
        for g in groups:
            if chunks and len(",".join(chunks[-1] + [g])) <= 250:
                chunks[-1].append(g)
            else:
                chunks.append([g])
        for chunk in chunks:
            try:
                target = sheet.range(",".join(chunk))
            except ValueError:
                target = None
            if target is None:
                for g in chunk:
                    sheet.range(g).delete(shift="up")
                    self._count(title)
            else:
                target.delete(shift="up")
                self._count(title)

    def _count(self, title: str) -> None:
        self.calls[title] = self.calls.get(title, 0) + 1

    def _write_sheets(self) -> None:
        from crm_sheets.model.sheets import owned_sheet_name
        from crm_sheets.store.excel.render import render

        if not self.plan.sheets:
            return
        marks = {**self.tables.meta, **self.plan.meta}
        for spec in self.plan.sheets:
            names = [s.name for s in self.book.sheets]
            title = owned_sheet_name(spec.key, spec.name, marks, names) if spec.key != META_SHEET else spec.name
            old = self.book.sheets[title] if title in names else None
            if old is not None:
                # Replaced in place, not deleted and added again: its buttons (Refresh on the Dashboard), its
                # position and the references other sheets make to it stay.
                for chart in list(old.charts):
                    chart.delete()
                old.clear()
                sheet = old
            else:
                sheet = self.book.sheets.add(name=title, after=self.book.sheets[len(names) - 1])
            self.notes.extend(render(sheet, spec))
            self._count(title)
            if spec.key and spec.key != META_SHEET and self.tables.meta.get(f"sheet.{spec.key}") != title:
                self.plan.meta[f"sheet.{spec.key}"] = title

    def _write_meta(self) -> None:
        """_crm_meta keys: existing keys' values in one write of the value column's span, new keys in one block."""
        if not self.plan.meta:
            return
        names = [s.name for s in self.book.sheets]
        if META_SHEET not in names:
            raise CrmSheetsError(f"{self.identity}: the book has no {META_SHEET} sheet; nothing more was written",
                                 hint="open a crm-sheets workbook (crm-sheets new, or adopt)")
        sheet = self.book.sheets[META_SHEET]
        now = self.now.get(META_SHEET) or self._fresh(sheet)
        rows = {}
        for i, row in enumerate(now.values):
            if row and row[0] not in (None, ""):
                rows.setdefault(cell_text(row[0], strip=True), i)
        cells: dict[tuple[int, int], Any] = {}
        new = []
        for key, value in self.plan.meta.items():
            v = json.dumps(value, default=str) if isinstance(value, (dict, list)) else value
            if key in rows:
                cells[(rows[key], 1)] = to_excel(v)
            else:
                new.append([to_excel(key), to_excel(v)])
        for r0, c0, block in _spans(cells, now, fill=True):
            sheet.range((r0 + 1, c0 + 1), (r0 + len(block), c0 + 1)).value = block
            self._count(META_SHEET)
        if new:
            start = max(rows.values(), default=-1) + 1
            sheet.range((start + 1, 1), (start + len(new), 2)).value = new
            self._count(META_SHEET)


def _spans(cells: dict[tuple[int, int], Any], now: SheetNow | None, fill: bool = True) -> list[tuple[int, int, list[list[Any]]]]:
    """Cell writes as column spans: per column, one block from its first to its last written row, the cells
    between holding what they hold now (written back as they are). A span is cut where a cell between holds
    a formula or an error value (writing its value back would replace it), or, when the engine cannot say
    which cells hold formulas, at every gap."""
    by_col: dict[int, list[int]] = {}
    for r, c in cells:
        by_col.setdefault(c, []).append(r)
    out = []
    for c, rows in sorted(by_col.items()):
        rows.sort()
        start = prev = rows[0]
        block = [[cells[(start, c)]]]
        for r in rows[1:]:
            gap = range(prev + 1, r)
            keep = fill and now is not None and all(now.is_formula(g, c) is False and not is_error(now.value(g, c)) for g in gap)
            if keep:
                block.extend([[_as_is(now.value(g, c))] for g in gap])
                block.append([cells[(r, c)]])
            else:
                out.append((start, c, block))
                start, block = r, [[cells[(r, c)]]]
            prev = r
        out.append((start, c, block))
    return out


def _as_is(value: Any) -> Any:
    """A cell's current value written back unchanged (text keeps being text)."""
    return to_excel(value) if isinstance(value, (str, dt.date)) else value


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for r in rows:
        if out and r == out[-1][1] + 1:
            out[-1] = (out[-1][0], r)
        else:
            out.append((r, r))
    return out


def changes_anything(book: Any, plan: Plan, tables: Tables) -> bool:
    """Whether writing ``plan`` would change the book: records, lists or structure always do; owned sheets do
    when their values (and formulas) differ from what the sheet shows now; _crm_meta keys when their value
    differs. Reads each owned sheet once (values and formulas)."""
    from crm_sheets.model.sheets import owned_sheet_name
    from crm_sheets.store.excel.render import values as rendered

    if plan.tables or plan.archives or plan.restores or plan.options or plan.tables_added:
        return True
    for key, value in plan.meta.items():
        if cell_text(value if not isinstance(value, (dict, list)) else json.dumps(value, default=str), strip=True) \
                != cell_text(tables.meta.get(key), strip=True):
            return True
    names = [s.name for s in book.sheets]
    marks = {**tables.meta, **plan.meta}
    for spec in plan.sheets:
        title = owned_sheet_name(spec.key, spec.name, marks, names) if spec.key != META_SHEET else spec.name
        if title not in names:
            return True
        sheet = book.sheets[title]
        r0, c0, now = read_block(sheet)
        now_values = from_a1(r0, c0, now, convert=lambda v: v)
        try:
            raw_f = sheet.used_range.formula
            if not isinstance(raw_f, (list, tuple)):
                raw_f = [[raw_f]]
            formulas = from_a1(r0, c0, [list(r) for r in raw_f], convert=lambda v: v) if now else []
        except NotImplementedError:
            return True  # cannot tell: written again
        want = rendered(spec)
        rows = max(len(want), len(now_values))
        for r in range(rows):
            a = want[r] if r < len(want) else []
            b = now_values[r] if r < len(now_values) else []
            f = formulas[r] if r < len(formulas) else []
            for c in range(max(len(a), len(b))):
                x = a[c] if c < len(a) else None
                y = b[c] if c < len(b) else None
                if isinstance(x, str) and x.startswith("="):
                    if (f[c] if c < len(f) else None) != x:
                        return True
                    continue
                if not _same_cell(x, y):
                    return True
    return False


def _same_cell(want: Any, now: Any) -> bool:
    """A value as we would write it (Excel form) against what the cell holds."""
    if isinstance(want, str) and want.startswith("'"):
        want = want[1:]
    want = None if want == "" else want
    now = None if now == "" else now
    if isinstance(want, (int, float)) and not isinstance(want, bool) and isinstance(now, (int, float)) and not isinstance(now, bool):
        return float(want) == float(now)
    return want == now
