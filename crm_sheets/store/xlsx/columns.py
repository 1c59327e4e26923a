"""New columns and tables in an .xlsx package, and the columns of the tables a change set writes to: where a
field's column is (a missing one is added right of the table, past people's own columns), header texts, the
team's values added to the Lists sheet, tables added by `crm-sheets upgrade`. The writer's patch (writer.py) is
built on this class.
"""
from __future__ import annotations

import re
from typing import Any

from crm_sheets.errors import CrmSheetsError
from crm_sheets.model.changeset import ColumnAdd, TableAdd
from crm_sheets.model.schema import normalize_header
from crm_sheets.model.tables import Table, column_letter
from crm_sheets.store.xlsx.cells import cell_value
from crm_sheets.store.xlsx.package import REL_TABLE, prefixed, relative, rels_path
from crm_sheets.store.xlsx.parts import PackagePatch, TableState, first_overlap
from crm_sheets.store.xlsx.sheet import SheetEdit
from crm_sheets.store.xlsx.sheetxml import column_index, inline_string, split_ref
from crm_sheets.store.xlsx.structure import (
    CT_TABLE, add_col, add_defined_names, add_to_tail, table_part_xml, table_sheet_xml, used_columns, validation_xml,
)
from crm_sheets.store.xlsx.styles import STYLE_DEFS, column_look

_HAS_VALUE_RE = re.compile(r"<(?:\w+:)?(?:v>|t\b[^>]*>[^<])")


class ColumnsPatch(PackagePatch):
    """The columns and tables part of a change set's patch; `state` (a table's place in its sheet) is the writer's."""

    def state(self, table_name: str) -> TableState:
        raise NotImplementedError

    def _columns_from_headers(self, t: Table, sheet: SheetEdit, header_row: int) -> dict[str, str]:
        out = {}
        for col, c in sheet.cells(header_row).items():
            text = cell_value(c, self.sst)
            key = normalize_header(text) if text is not None else ""
            for f in t.schema.fields:
                if key and key in f.names() and f.name not in out:
                    out[f.name] = col
        return out

    def headers(self, st: TableState) -> dict[str, str]:
        """Column letter -> header text of a table's header row (read again only when that row changed:
        each archived record asks for them)."""
        text = st.sheet.row_text(st.header_row)
        memo = self.__dict__.setdefault("_headers", {})
        found = memo.get(id(st.sheet), (None, None, None))
        if found[0] == text and found[1] == (st.header_row, st.first_col, st.last_col):
            return dict(found[2])
        out = self._read_headers(st)
        memo[id(st.sheet)] = (text, (st.header_row, st.first_col, st.last_col), out)
        return dict(out)

    def _read_headers(self, st: TableState) -> dict[str, str]:
        out = {}
        for col, c in st.sheet.cells(st.header_row).items():
            if st.first_col <= column_index(col) <= st.last_col:
                v = cell_value(c, self.sst)
                out[col] = "" if v is None else str(v)
        return out

    def column(self, st: TableState, field_name: str) -> str:
        """The column of a field; a field the sheet lacks gets a new column at the right of the table."""
        col = st.cols.get(field_name)
        if col:
            return col
        f = st.schema_fields.get(field_name)
        if f is None:
            raise CrmSheetsError(f"table {st.name!r} has no field {field_name!r}", hint="check the job's change set")
        index = self._free_column(st)
        col = column_letter(index)
        header = f.header(self.tables.lang)
        left = st.sheet.cells(st.header_row).get(column_letter(st.last_col))
        st.sheet.put_cells(st.header_row, {col: inline_string(f"{col}{st.header_row}", header, left.style if left else None)})
        self._claim_column(st, field_name, col, header)
        return col

    def _free_column(self, st: TableState) -> int:
        """Where a new column of the table goes: right after it, or past the columns people use beside it."""
        used = used_columns(st.sheet, st.last_col)
        index = st.last_col + 1
        while index in used:
            index += 1
        return index

    def _claim_column(self, st: TableState, field_name: str, col: str, header: str) -> None:
        """A new column joins the Excel table when it is right beside it; past people's columns it stays outside."""
        index = column_index(col)
        if index == st.last_col + 1 or st.part is None:
            st.last_col = max(st.last_col, index)
            if st.part is not None:
                st.new_columns.append((col, header))
        st.cols[field_name] = col
        st.sheet.widest = max(st.sheet.widest, index)

    # -- new columns and tables (crm-sheets upgrade)
    def _add_columns(self, table: str, adds: list[ColumnAdd]) -> None:
        """New columns of one table: headers, the look of the table's rows and column, validations."""
        st = self.state(table)
        adds = [a for a in adds if a.field not in st.cols]  # already there: upgrading twice changes nothing
        if not adds:
            return
        taken = used_columns(st.sheet, min(column_index(a.column) for a in adds) - 1)
        r = st.header_row
        header: dict[str, str | None] = {}
        body: dict[str, str] = {}
        for add in adds:
            index = column_index(add.column)
            if index in taken or first_overlap(st, index):
                raise CrmSheetsError(
                    f"{self.pkg.path.name}: column {add.column} of sheet {self.tables[table].sheet!r} is not free for "
                    f"the new column {add.header!r}", hint="read the workbook again and run crm-sheets upgrade again")
            xf = self._looks({"cells": column_look(add.num_format, add.wrap, add.align, add.owned)})["cells"]
            header[add.column] = inline_string(f"{add.column}{r}", add.header, self._header_xf(st, add))
            body[add.column] = f' s="{xf}"/>'
            self._claim_column(st, add.field, add.column, add.header)
            st.sheet.head = add_col(st.sheet.head, st.sheet.p, index, add.width, xf)
        st.sheet.put_cells(r, header)
        for row in range(r + 1, max(st.end_row, st.ref_end, r + 1) + 1):  # one pass over the rows for all columns
            st.sheet.put_cells(row, {col: f'<c r="{col}{row}"{tail}' for col, tail in body.items()})
        rules = [(sqref, rule) for add in adds for sqref, rule in add.validations]
        if rules:
            items = "".join(validation_xml(sqref, rule, self.pkg.date1904) for sqref, rule in rules)
            st.sheet.tail = add_to_tail(st.sheet.tail, st.sheet.p, "dataValidations", prefixed(items, st.sheet.p), len(rules))
        st.sheet.changed = True

    def _header_xf(self, st: TableState, add: ColumnAdd) -> int | None:
        """The look of the table's other headers of the same kind (required, computed, plain)."""
        headers = st.sheet.cells(st.header_row)
        for name, col in st.cols.items():
            f = st.schema_fields.get(name)
            c = headers.get(col)
            if f is not None and c is not None and c.style is not None and f.type != "id" \
                    and (f.required, bool(f.owned_by_job)) == (add.required, add.owned):
                return c.style
        look = "header_owned" if add.owned else "header_required" if add.required else "header"
        return self._styles([(look, None)])[(look, None)]

    def _add_table(self, add: TableAdd) -> None:
        if self.pkg.sheet(add.sheet) is not None or add.sheet.casefold() in (n.casefold() for n in self.new_sheet_names):
            raise CrmSheetsError(f"{self.pkg.path.name}: a sheet named {add.sheet!r} already exists",
                                 hint="rename it, then run crm-sheets upgrade again")
        part = self._register_sheet(add.sheet)
        looks: dict[Any, Any] = {}
        for i, c in enumerate(add.columns):
            looks[("h", i)] = STYLE_DEFS["header_owned" if c.owned else "header_required" if c.required else "header"]
            looks[("c", i)] = column_look(c.num_format, c.wrap, c.align, c.owned)
        xfs = self._looks(looks)
        n = range(len(add.columns))
        last_row = max([len(add.rows) + 1, 2] + [split_ref(sq.split(":")[-1])[1] for c in add.columns for sq, _ in c.validations])
        self._put(part, table_sheet_xml(add, [xfs[("h", i)] for i in n], [xfs[("c", i)] for i in n], last_row, self.pkg.date1904))
        table_part = self._free_part("xl/tables/table{}.xml")
        self._put(table_part, table_part_xml(add, self._next_table_id()))
        self.ct_add[table_part] = CT_TABLE
        self._put(rels_path(part), (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="'
            'http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{REL_TABLE}" Target="{relative(part, table_part)}"/></Relationships>').encode())
        defined = {d.name.casefold() for d in self.pkg.defined_names if d.local_sheet_id is None}
        names = [(k, v) for k, v in add.names.items() if k.casefold() not in defined]
        if names:
            self.workbook_text = add_defined_names(self._workbook(), names)
        self.recalc = True

    def _next_table_id(self) -> int:
        ids = [0]
        for name in [*self.pkg.infos, *self.added]:
            if self.pkg.content_types.type_of(name) == CT_TABLE or self.ct_add.get(name) == CT_TABLE:
                data = self.added.get(name) or self.pkg.read(name)
                m = re.search(rb'<(?:\w+:)?table\b[^>]*?\bid="(\d+)"', data)
                ids.append(int(m.group(1)) if m else 0)
        return max(ids) + 1

    # -- the team's values added to lists
    def _add_options(self, wanted: dict[str, list[str]]) -> None:
        """Each value goes below the last label of its list's column on the Lists sheet (and its list_<name>
        defined name grows with it); a workbook without our Lists sheet keeps them in _crm_meta (options.<list>)."""
        if not wanted:
            return
        owned = self.tables.schema.owned_sheets.get("lists")
        names = [self.tables.meta.get("sheet.lists"), *(owned.title.values() if owned else ()), "Lists"]
        ref = next((self.pkg.sheet(str(n)) for n in names if n and self.pkg.sheet(str(n)) is not None), None)
        columns: dict[str, tuple[int, str]] = {}  # list name -> (header row, column letter)
        if ref is not None and ref.part and ref.name not in {t.sheet for t in self.tables.tables.values()}:
            sheet = self.sheet_edit(ref.part)
            titles: dict[str, str] = {}
            for name in wanted:
                lst = self.tables.lists.get(name) or self.tables.schema.lists.get(name)
                if lst is not None:
                    for t in (lst.label(self.tables.lang), name, *lst.title.values()):
                        titles.setdefault(normalize_header(t), name)
            for r in sorted(sheet.rows)[:10]:
                for col, c in sheet.cells(r).items():
                    v = cell_value(c, self.sst)
                    name = titles.get(normalize_header(str(v))) if v is not None else None
                    if name is not None and name not in columns:
                        columns[name] = (r, col)
            for name, (header, col) in columns.items():
                last = header
                for r in sorted(sheet.rows):
                    c = sheet.cells(r).get(col) if r > header else None
                    if c is not None and _HAS_VALUE_RE.search(c.xml):
                        last = r
                above = sheet.cells(last).get(col) if last > header else None
                for i, label in enumerate(wanted[name], start=1):
                    sheet.put_cells(last + i, {col: inline_string(f"{col}{last + i}", label, above.style if above else None)})
                self._grow_list_name(name, ref.name, col, last, last + len(wanted[name]))
        for name, labels in wanted.items():
            if name in columns:
                continue
            known = [x for x in str(self.tables.meta.get(f"options.{name}") or "").split("\n") if x]
            self.meta_updates[f"options.{name}"] = "\n".join([*known, *(x for x in labels if x not in known)])

    def _grow_list_name(self, name: str, sheet: str, col: str, old_end: int, new_end: int) -> None:
        """The list_<name> defined name (the dropdowns' source) reaches the new labels when it ended at the old last one."""
        wb = self._workbook()
        pattern = re.compile(rf'(<(?:\w+:)?definedName\b[^>]*\bname="list_{re.escape(name)}"[^>]*>[^<]*?\${col}\$\d+:\${col}\$){old_end}(<)')
        new = pattern.sub(lambda m: f"{m.group(1)}{new_end}{m.group(2)}", wb, count=1)
        if new != wb:
            self.workbook_text = new
