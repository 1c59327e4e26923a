"""The package-level half of a patch: owned sheets rendered and replaced, _crm_meta, workbook.xml and its rels,
content types, app.xml, table parts, and writing the new zip (changed parts written, every other member copied
with its compressed bytes). writer._Patch adds the table and row edits on top.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from xml.sax.saxutils import escape, quoteattr

from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.schema import Field
from crm_sheets.model.sheets import SheetSpec, owned_sheet_name
from crm_sheets.model.tables import META_SHEET, Tables, column_letter
from crm_sheets.store.core.plan import Plan
from crm_sheets.store.xlsx.package import (
    CT_WORKSHEET, LARGE_PART_SIZE, REL_CALC_CHAIN, REL_WORKSHEET, Package, PackageWriter, Packed, TablePart, new_info,
    prefixed, refuse_dtd, relative, rels_path,
)
from crm_sheets.store.xlsx.background import BackgroundWriter, write_threads
from crm_sheets.store.xlsx.sheetxml import cell_xml, column_index, inline_string, render_sheet, split_ref, styles_needed
from crm_sheets.store.xlsx.styles import ensure_looks, ensure_styles
from crm_sheets.store.xlsx.vml import REL_VML, insert_legacy_drawing, only_buttons
from crm_sheets.store.xlsx.cells import SharedStrings, cell_value
from crm_sheets.store.xlsx.sheet import SheetEdit


_DROP_WITH_SHEET = ("/drawing", "/chart", "/comments", "/vmlDrawing", "/table", "/printerSettings", "/threadedComment",
                    "/chartUserShapes", "/hyperlink")


@dataclass
class TableState:
    name: str
    sheet: SheetEdit
    part: TablePart | None
    header_row: int
    end_row: int  # last data row (>= header_row)
    cols: dict[str, str]  # field -> column letter
    first_col: int
    last_col: int
    schema_fields: dict[str, Field] = field(default_factory=dict)
    ref_end: int = 0  # last row of the table part's range (minus removed rows)
    touched: bool = False  # rows appended or removed: the table part's range must follow
    new_columns: list[tuple[str, str]] = field(default_factory=list)  # (column letter, header) added

    def ref(self) -> str:
        end = max(self.end_row, self.header_row + 1)
        return f"{column_letter(self.first_col)}{self.header_row}:{column_letter(self.last_col)}{end}"


class PackagePatch:
    def __init__(self, pkg: Package, tables: Tables):
        self.pkg = pkg
        self.tables = tables
        self.replaced: dict[str, bytes] = {}
        self.added: dict[str, bytes] = {}
        self.deleted: set[str] = set()
        self.reserved: set[str] = set()  # part names given out by _free_part
        self.ct_add: dict[str, str] = {}
        self.sheets: dict[str, SheetEdit] = {}
        self.states: dict[str, TableState] = {}
        self._sst: SharedStrings | None = None
        self.workbook_text: str | None = None
        self.wb_rels_text: str | None = None
        self.new_sheet_names: list[str] = []
        self.meta_updates: dict[str, Any] = {}
        self._marks: dict[str, Any] | None = None  # the package's own sheet.<key> rows of _crm_meta, read once
        self.recalc = False

    # -- loading
    def sheet_edit(self, part: str) -> SheetEdit:
        if part not in self.sheets:
            self.sheets[part] = SheetEdit.open(self.pkg, part)
        return self.sheets[part]

    @property
    def sst(self) -> "SharedStrings":
        if self._sst is None:
            part = next((r.target for r in self.pkg.workbook_rels if r.type.endswith("/sharedStrings")), "xl/sharedStrings.xml")
            self._sst = SharedStrings(self.pkg.read(part) if self.pkg.has(part) else b"", part)
        return self._sst

    def _looks(self, looks: dict[Any, Any]) -> dict[Any, int]:
        part = next((r.target for r in self.pkg.workbook_rels if r.type.endswith("/styles")), "xl/styles.xml")
        current = self.replaced.get(part) or self.pkg.read(part)
        new, xfs = ensure_looks(current, looks)
        if new != current:
            self.replaced[part] = new
        return xfs

    def _styles(self, wanted: Iterable[tuple[str, str | None]]) -> dict[tuple[str, str | None], int]:
        part = next((r.target for r in self.pkg.workbook_rels if r.type.endswith("/styles")), "xl/styles.xml")
        current = self.replaced.get(part) or self.pkg.read(part)
        new, xfs = ensure_styles(current, wanted)
        if new != current:
            self.replaced[part] = new
        return xfs

    # -- sequences, owned sheets, workbook
    def _sequences_and_sheets(self, plan: Plan) -> None:
        for spec in plan.sheets:
            self._replace_sheet(spec)
        self.meta_updates.update(plan.meta)
        if self.meta_updates:
            self._write_meta()

    def unchanged(self) -> bool:
        """Nothing so far changes the package: no worksheet edited, no part added or dropped, every part
        replaced by its own bytes (an owned sheet that renders as it is was not even replaced)."""
        return (not any(s.changed for s in self.sheets.values()) and not self.added and not self.deleted
                and not self.new_sheet_names and self.workbook_text is None and self.wb_rels_text is None
                and all(self.pkg.has(p) and self.pkg.read(p) == (data.data() if isinstance(data, Packed) else data)
                        for p, data in self.replaced.items()))

    def ride(self, rider: ChangeSet) -> None:
        """Write the rider's owned sheets and _crm_meta keys after the change set (see apply_changeset)."""
        self.meta_updates = {}
        for spec in rider.sheets:
            self._replace_sheet(spec)
        self.meta_updates.update(rider.meta)
        if self.meta_updates:
            self._write_meta()

    def _write_meta(self) -> None:
        ref = self.pkg.sheet(META_SHEET)
        if ref is None or not ref.part:
            spec = SheetSpec(name=META_SHEET, key=META_SHEET, rows=[["Key", "Value"]], hidden=True, landscape=False)
            spec.rows += [[k, v] for k, v in sorted(self.meta_updates.items())]
            self._add_sheet(spec, META_SHEET)
            return
        sheet = self.sheet_edit(ref.part)
        found: dict[str, int] = {}
        for r in sorted(sheet.rows):
            a = sheet.cells(r).get("A")
            if a is not None:
                found[str(cell_value(a, self.sst))] = r
        for key, value in self.meta_updates.items():
            r = found.get(key)
            if r is None:
                r = sheet.max_row() + 1
                last = sheet.cells(r - 1)
                sa, sb = (last.get(c).style if last.get(c) else None for c in ("A", "B"))
                sheet.put_cells(r, {"A": inline_string(f"A{r}", key, sa), "B": cell_xml(f"B{r}", value, sb) or None})
                self._extend_meta_table(ref, r)
            else:
                old = sheet.cells(r).get("B")
                sheet.put_cells(r, {"B": cell_xml(f"B{r}", value, old.style if old else None) or None})

    def _extend_meta_table(self, ref: Any, r: int) -> None:
        for part in self.pkg.tables(ref):
            a, _, b = part.ref.partition(":")
            c2, r2 = split_ref(b or a)
            key = f"__meta__{part.part}"
            if key in self.states:
                self.states[key].end_row = r
            elif r2 == r - 1:
                st = TableState("_meta", self.sheet_edit(ref.part), part, split_ref(a)[1], r, {},
                                 column_index(split_ref(a)[0]), column_index(c2), ref_end=r2, touched=True)
                self.states[key] = st

    def _sheet_marks(self) -> dict[str, Any]:
        """The ``sheet.<key>`` rows of the package's own _crm_meta: which sheets are ours, as the file says now."""
        if self._marks is None:
            self._marks = {}
            ref = self.pkg.sheet(META_SHEET)
            if ref is not None and ref.part:
                sheet = self.sheet_edit(ref.part)
                for r in sorted(sheet.rows):
                    a, b = sheet.cells(r).get("A"), sheet.cells(r).get("B")
                    key = cell_value(a, self.sst) if a is not None else None
                    if isinstance(key, str) and key.startswith("sheet.") and b is not None:
                        self._marks[key] = cell_value(b, self.sst)
        return self._marks

    def _replace_sheet(self, spec: SheetSpec) -> None:
        # only a sheet _crm_meta marks as ours is replaced; a team's sheet of the same name stays as it is
        sheets = [*(s.name for s in self.pkg.sheets), *self.new_sheet_names]
        marks = {**self.tables.meta, **self._sheet_marks()}
        wanted = owned_sheet_name(spec.key, spec.name, marks, sheets) if spec.key != META_SHEET else spec.name
        existing = self.pkg.sheet(wanted)
        if existing is None or not existing.part:
            name = self._add_sheet(spec, wanted)
        else:
            name = existing.name
            kept = set(self.deleted)
            buttons = None
            for rel in self.pkg.rels(existing.part):
                if rel.external or not any(rel.type.endswith(k) for k in _DROP_WITH_SHEET):
                    continue
                if rel.type.endswith("/vmlDrawing") and only_buttons(self.pkg.read(rel.target)):
                    buttons = rel.target  # macro buttons (crm-sheets add-buttons) stay on the regenerated sheet
                    continue
                self._drop_part_tree(rel.target)
            self._render_into(spec, existing.part, name, dropped=self.deleted - kept, buttons=buttons)
            if spec.hidden and existing.state == "visible":
                self._set_sheet_state(name, "hidden")
        if spec.key and spec.key != META_SHEET and self.tables.meta.get(f"sheet.{spec.key}") != name:
            self.meta_updates[f"sheet.{spec.key}"] = name  # the mark that tells our sheet from the team's

    def _drop_part_tree(self, part: str) -> None:
        if not self.pkg.has(part) or part in self.deleted:
            return
        self.deleted.add(part)
        rp = rels_path(part)
        if self.pkg.has(rp):
            self.deleted.add(rp)
            for rel in self.pkg.rels(part):
                if not rel.external and any(rel.type.endswith(k) for k in ("/chart", "/chartStyle", "/chartColorStyle", "/chartUserShapes")):
                    self._drop_part_tree(rel.target)

    def _render_into(self, spec: SheetSpec, part: str, name: str, dropped: set[str] | None = None,
                     buttons: str | None = None) -> None:
        """Write a SheetSpec into a worksheet part with its rels, drawing and charts. Replacing a sheet
        (``dropped``: the parts it had) that renders exactly as it is changes nothing at all."""
        wanted = styles_needed(spec)
        xfs = self._styles(wanted) if wanted else {}
        drawing = charts = None
        if spec.charts:
            drawing = self._free_part("xl/drawings/drawing{}.xml")
            charts = [self._free_part("xl/charts/chart{}.xml") for _ in spec.charts]
        out = render_sheet(spec, name, xfs, self.pkg.date1904, drawing, charts)
        if buttons:
            out.xml = insert_legacy_drawing(out.xml.decode("utf-8"), "rIdButtons").encode("utf-8")
            out.rels.append(("rIdButtons", REL_VML, buttons, False))
        # a large sheet is deflated from its pieces (never joined) unless its bytes are needed: a sheet that may render
        # as it is (same size) is compared whole; a stored (not deflated) part is written as it is
        deflate = out.size > LARGE_PART_SIZE and (not self.pkg.has(part) or self.pkg.infos[part].compress_type != zipfile.ZIP_STORED)
        if deflate and dropped is not None and self.pkg.has(part) and self.pkg.infos[part].file_size == out.size:
            deflate = False
        writes: dict[str, bytes | Packed | None] = {part: Packed(out.body) if deflate else out.xml}  # None: the part goes
        rels = "".join(
            f'<Relationship Id="{rid}" Type="{typ}" Target={quoteattr(target if ext else relative(part, target))}'
            + (' TargetMode="External"' if ext else "") + "/>"
            for rid, typ, target, ext in out.rels
        )
        rp = rels_path(part)
        if out.rels:
            writes[rp] = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="'
                          f'http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>').encode()
        elif self.pkg.has(rp):
            writes[rp] = None
        writes.update(out.parts)
        if dropped is not None and self._unchanged(writes, dropped):
            self.deleted -= dropped
            return
        for p, data in writes.items():
            if data is None:
                self.deleted.add(p)
            else:
                self._put(p, data)
        self.ct_add.update(out.content_types)
        self.recalc = True

    def _unchanged(self, writes: dict[str, bytes | None], dropped: set[str]) -> bool:
        """Every part written is in the package as it is, and every part dropped comes back."""
        for p, data in writes.items():
            if data is None or not self.pkg.has(p) or p in self.replaced or p in self.sheets:
                return False
            if self.pkg.infos[p].file_size != len(data) or self.pkg.read(p) != data:
                return False
        return dropped <= set(writes)

    def _put(self, part: str, data: bytes) -> None:
        self.deleted.discard(part)
        if self.pkg.has(part):
            self.replaced[part] = data
        else:
            self.added[part] = data

    def _free_part(self, pattern: str) -> str:
        """The first free name of the pattern, reserved: a part dropped by this change set is free again,
        so a replaced sheet's charts keep their names run after run (and [Content_Types].xml stays as it was)."""
        n = 1
        while True:
            p = pattern.format(n)
            if p not in self.reserved and p not in self.added and (not self.pkg.has(p) or p in self.deleted):
                self.reserved.add(p)
                return p
            n += 1

    # -- workbook.xml, its rels, content types, app.xml
    def _workbook(self) -> str:
        if self.workbook_text is None:
            data = self.pkg.read("xl/workbook.xml")
            refuse_dtd(data, "xl/workbook.xml")
            self.workbook_text = data.decode("utf-8")
        return self.workbook_text

    def _wb_rels(self) -> str:
        if self.wb_rels_text is None:
            data = self.pkg.read(rels_path("xl/workbook.xml"))
            refuse_dtd(data, "xl/_rels/workbook.xml.rels")
            self.wb_rels_text = data.decode("utf-8")
        return self.wb_rels_text

    def _add_sheet(self, spec: SheetSpec, name: str) -> str:
        part = self._register_sheet(name, spec.hidden)
        self._render_into(spec, part, name)
        return name

    def _register_sheet(self, name: str, hidden: bool = False) -> str:
        """A new worksheet part listed in workbook.xml (after every existing sheet), its rels and content type."""
        part = self._free_part("xl/worksheets/sheet{}.xml")
        rels_text = self._wb_rels()
        ids = {int(x) for x in re.findall(r'Id="rId(\d+)"', rels_text)}
        rid = f"rId{max(ids, default=0) + 1}"
        while f'Id="{rid}"' in rels_text:
            rid = f"rId{int(rid[3:]) + 1}"
        self.wb_rels_text = rels_text.replace(
            "</Relationships>",
            f'<Relationship Id="{rid}" Type="{REL_WORKSHEET}" Target="{relative("xl/workbook.xml", part)}"/></Relationships>',
        )
        wb = self._workbook()
        prefix = _prefix_for(wb, "http://schemas.openxmlformats.org/officeDocument/2006/relationships") or "r"
        if prefix == "r" and "xmlns:r=" not in wb:
            wb = re.sub(r"(<(?:\w+:)?workbook\b)", r'\1 xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"', wb, count=1)
        ids_s = [int(x) for x in re.findall(r'<(?:\w+:)?sheet\b[^>]*?\bsheetId="(\d+)"', wb)]
        sheet_id = max(ids_s, default=0) + 1
        mp = re.search(r"<(\w+:)?sheets\b", wb)
        p = (mp.group(1) or "") if mp else ""
        state = ' state="hidden"' if hidden else ""
        el = f'<{p}sheet name={quoteattr(name)} sheetId="{sheet_id}"{state} {prefix}:id="{rid}"/>'
        if re.search(rf"<{p}sheets\s*/>", wb):
            wb = re.sub(rf"<{p}sheets\s*/>", f"<{p}sheets>{el}</{p}sheets>", wb, count=1)
        else:
            wb = wb.replace(f"</{p}sheets>", f"{el}</{p}sheets>", 1)
        self.workbook_text = wb
        self.ct_add[part] = CT_WORKSHEET
        self.new_sheet_names.append(name)
        return part

    def _set_sheet_state(self, name: str, state: str) -> None:
        wb = self._workbook()
        m = re.search(rf"<(?:\w+:)?sheet\b[^>]*?\bname={re.escape(quoteattr(name))}[^>]*?/>", wb)
        if m:
            tag = re.sub(r'\sstate="[^"]*"', "", m.group())
            tag = tag[:-2].rstrip() + f' state="{state}"/>'
            self.workbook_text = wb[: m.start()] + tag + wb[m.end():]

    def _finish_workbook(self) -> None:
        sheets_changed = any(s.changed for s in self.sheets.values()) or any(
            self.pkg.content_types.type_of(p) == CT_WORKSHEET for p in self.replaced) or self.new_sheet_names
        if sheets_changed:
            calc = next((r for r in self.pkg.workbook_rels if r.type == REL_CALC_CHAIN), None)
            if calc is not None or self.pkg.has("xl/calcChain.xml"):
                self.deleted.add(calc.target if calc else "xl/calcChain.xml")
                rels = self._wb_rels()
                self.wb_rels_text = re.sub(rf'<Relationship\b[^>]*?Type="{re.escape(REL_CALC_CHAIN)}"[^>]*?/>', "", rels)
        if self.recalc or sheets_changed:
            wb = self._workbook()
            m = re.search(r"<(\w+:)?calcPr\b[^>]*?/?>", wb)
            if m:
                tag = re.sub(r'\sfullCalcOnLoad="[^"]*"', "", m.group())
                end = -2 if tag.endswith("/>") else -1
                tag = tag[:end].rstrip() + ' fullCalcOnLoad="1"' + tag[end:]
                wb = wb[: m.start()] + tag + wb[m.end():]
            else:
                p = (re.search(r"<(\w+:)?workbook\b", wb).group(1) or "")
                after = None
                for t in ("definedNames", "externalReferences", "functionGroups", "sheets"):
                    mm = re.search(rf"</{p}{t}>|<{p}{t}\s*/>", wb)
                    if mm:
                        after = mm.end()
                        break
                if after is not None:
                    wb = wb[:after] + f'<{p}calcPr fullCalcOnLoad="1"/>' + wb[after:]
            self.workbook_text = wb
        if self.workbook_text is not None:
            self.replaced["xl/workbook.xml"] = self.workbook_text.encode("utf-8")
        if self.wb_rels_text is not None:
            self.replaced[rels_path("xl/workbook.xml")] = self.wb_rels_text.encode("utf-8")
        self._content_types()
        if self.new_sheet_names and self.pkg.has("docProps/app.xml"):
            app = self.pkg.read("docProps/app.xml")
            refuse_dtd(app, "docProps/app.xml")
            new = _app_titles(app.decode("utf-8"), self.new_sheet_names)
            if new is not None:
                self.replaced["docProps/app.xml"] = new.encode("utf-8")

    def _content_types(self) -> None:
        gone = {p for p in self.deleted if p in self.pkg.content_types.overrides}
        if not self.ct_add and not gone:
            return
        text = self.pkg.read("[Content_Types].xml").decode("utf-8")
        for p in gone:
            text = re.sub(rf'<Override\b[^>]*?PartName="/{re.escape(p)}"[^>]*?/>', "", text)
        adds = "".join(
            f'<Override PartName="/{p}" ContentType="{t}"/>' for p, t in self.ct_add.items()
            if self.pkg.content_types.overrides.get(p) != t or p in gone
        )
        text = text.replace("</Types>", adds + "</Types>")
        self.replaced["[Content_Types].xml"] = text.encode("utf-8")

    def _table_parts(self) -> None:
        for st in self.states.values():
            if st.part is None or not st.sheet.changed:
                continue
            data = self.replaced.get(st.part.part) or self.pkg.read(st.part.part)
            refuse_dtd(data, st.part.part)
            text = data.decode("utf-8")
            old = st.part.ref
            a, _, b = old.partition(":")
            if not st.touched and not st.new_columns:
                continue
            end = max(st.end_row, st.ref_end, st.header_row + 1) + st.part.totals_rows
            new = f"{column_letter(st.first_col)}{split_ref(a)[1]}:{column_letter(st.last_col)}{end}"
            if new == old:
                continue
            text = re.sub(r'(<(?:\w+:)?table\b[^>]*?\bref=")[^"]*(")', rf"\g<1>{new}\2", text, count=1)
            af_end = end - st.part.totals_rows
            af = f"{column_letter(st.first_col)}{split_ref(a)[1]}:{column_letter(st.last_col)}{af_end}"
            text = re.sub(r'(<(?:\w+:)?autoFilter\b[^>]*?\bref=")[^"]*(")', rf"\g<1>{af}\2", text, count=1)
            if st.new_columns:
                ids = [int(x) for x in re.findall(r'<(?:\w+:)?tableColumn\b[^>]*?\bid="(\d+)"', text)]
                p = (re.search(r"<(\w+:)?tableColumns\b", text).group(1) or "")
                new_cols = "".join(
                    f'<{p}tableColumn id="{max(ids, default=0) + i + 1}" name={quoteattr(h)}/>'
                    for i, (_, h) in enumerate(st.new_columns)
                )
                text = text.replace(f"</{p}tableColumns>", new_cols + f"</{p}tableColumns>", 1)
                count = len(ids) + len(st.new_columns)
                text = re.sub(rf'(<{p}tableColumns\b[^>]*?\bcount=")\d+(")', rf"\g<1>{count}\2", text, count=1)
            self.replaced[st.part.part] = text.encode("utf-8")
            # conditional formats and validations that named the table's exact range follow it
            for old_ref, new_ref in ((old, new), (_data_ref(old, st.part), _data_ref(new, st.part))):
                if old_ref and new_ref and old_ref != new_ref:
                    st.sheet.tail = re.sub(rf'(\bsqref="(?:[^"]*\s)?){re.escape(old_ref)}(?=[\s"])', rf"\g<1>{new_ref}", st.sheet.tail)

    # -- output
    def write(self, dst: Path) -> None:
        try:
            self._table_parts()
            streamed = {part: sheet for part, sheet in self.sheets.items() if sheet.changed}
            self._finish_workbook()
            with open(dst, "wb") as f:
                # with a second core, the parts are deflated and written by a worker while this thread makes the
                # next rows of a sheet (the same calls in the same order: the same bytes)
                w: PackageWriter | BackgroundWriter = PackageWriter(f)
                if write_threads():
                    w = BackgroundWriter(w)
                try:
                    self._write_parts(w, streamed)
                except BaseException:
                    if isinstance(w, BackgroundWriter):
                        w.abort()  # the worker's error when it came first, as it would have in one thread
                    raise
        finally:
            for sheet in self.sheets.values():
                sheet.close()

    def _write_parts(self, w: PackageWriter | BackgroundWriter, streamed: dict[str, SheetEdit]) -> None:
        """Every member of the new package, in the order of the old one's, then the parts added."""
        for info in self.pkg.zip.infolist():
            name = info.filename
            if name in self.deleted:
                continue
            if name in streamed:
                sheet = streamed[name]
                w.write_stream(info, sheet.chunks(), sheet.spooled or max(info.file_size, sheet.written_size()) > LARGE_PART_SIZE)
            elif name in self.replaced:
                data = self.replaced[name]
                w.write_packed(info, data) if isinstance(data, Packed) else w.write(info, data)
            else:
                w.copy_raw(self.pkg.zip, info)
        for name, data in self.added.items():
            if name not in self.deleted:
                w.write_packed(new_info(name), data) if isinstance(data, Packed) else w.write(new_info(name), data)
        w.close()


def first_overlap(st: TableState, index: int) -> bool:
    """A column inside the table's range already (a column of the Excel table, named or not)."""
    return st.part is not None and st.first_col <= index <= st.last_col


def _data_ref(ref: str, part: TablePart) -> str | None:
    a, _, b = ref.partition(":")
    if not b:
        return None
    c1, r1 = split_ref(a)
    c2, r2 = split_ref(b)
    return f"{c1}{r1 + part.header_rows}:{c2}{r2 - part.totals_rows}"


def _prefix_for(text: str, ns: str) -> str | None:
    m = re.search(rf'xmlns:(\w+)="{re.escape(ns)}"', text)
    return m.group(1) if m else None


def _app_titles(text: str, names: Iterable[str]) -> str | None:
    """docProps/app.xml lists sheet titles; add ours after the existing worksheets (None: leave it)."""
    names = list(names)
    hp = re.search(r"(<vt:lpstr>(?:Worksheets|Feuilles de calcul)</vt:lpstr></vt:variant>\s*<vt:variant>\s*<vt:i4>)(\d+)(</vt:i4>)", text)
    tv = re.search(r'(<TitlesOfParts>\s*<vt:vector size=")(\d+)("[^>]*>)(.*?)(</vt:vector>)', text, re.S)
    if not hp or not tv:
        return None
    count = int(hp.group(2))
    items = re.findall(r"<vt:lpstr>.*?</vt:lpstr>", tv.group(4), re.S)
    items[count:count] = [f"<vt:lpstr>{escape(n)}</vt:lpstr>" for n in names]
    text = text[: hp.start(2)] + str(count + len(names)) + text[hp.end(2):]
    tv = re.search(r'(<TitlesOfParts>\s*<vt:vector size=")(\d+)("[^>]*>)(.*?)(</vt:vector>)', text, re.S)
    assert tv is not None
    return text[: tv.start(2)] + str(len(items)) + tv.group(3) + "".join(items) + text[tv.start(5):]
