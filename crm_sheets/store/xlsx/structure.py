"""The shape of a workbook package as `crm-sheets upgrade` needs it: where each table sits and which columns
beside it people use (read), and the XML of what upgrade adds (written): data validations, column widths,
a whole table sheet and its Excel table part. The writer (writer.py) places these parts in the package.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Iterable, Mapping
from xml.sax.saxutils import escape, quoteattr

from crm_sheets.model.changeset import TableAdd
from crm_sheets.model.sheets import SheetSpec
from crm_sheets.model.tables import Tables, column_letter
from crm_sheets.store.core.layout import TableLayout, WorkbookLayout
from crm_sheets.store.xlsx.package import open_package
from crm_sheets.store.xlsx.sheet import SheetEdit
from crm_sheets.store.xlsx.sheetxml import sheet_views, cell_xml, column_index, excel_serial, inline_string, number_text, split_ref

CT_TABLE = "application/vnd.openxmlformats-officedocument.spreadsheetml.table+xml"
_CELL_REF = re.compile(r'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{1,3})\d+"')
_HAS_VALUE = re.compile(r"<(?:\w+:)?(?:v>|f\b|t\b[^>]*>[^<])")
# The children of <worksheet> that may follow <sheetData>, in the order the schema requires.
_TAIL_ORDER = (
    "sheetCalcPr", "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState", "dataConsolidate",
    "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting", "dataValidations", "hyperlinks",
    "printOptions", "pageMargins", "pageSetup", "headerFooter", "rowBreaks", "colBreaks", "customProperties",
    "cellWatches", "ignoredErrors", "smartTags", "drawing", "legacyDrawing", "legacyDrawingHF", "drawingHF",
    "picture", "oleObjects", "controls", "webPublishItems", "tableParts", "extLst",
)


# ---------------------------------------------------------------------------------------------
# Reading: where the tables are


def used_columns(sheet: Any, after: int = -1) -> set[int]:
    """0-based indexes of the columns (right of ``after``) where any row of a SheetEdit has a value."""
    used: set[int] = set()
    last_cell = f"<{sheet.p}c "
    for r, row in sheet.rows.items():
        # cells are in column order: a row whose last cell is left of ``after`` needs no closer look
        i = row.rfind(last_cell)
        m = _CELL_REF.match(row, i) if i >= 0 else None
        if i < 0 or (m is not None and column_index(m.group(1)) <= after):
            continue
        for col, c in sheet.cells(r).items():
            i = column_index(col)
            if i > after and i not in used and _HAS_VALUE.search(c.xml):
                used.add(i)
    return used


def read_layout(path: str | Path, tables: Tables, only: Iterable[str] | None = None) -> WorkbookLayout:
    """Where each table of ``tables`` (as read from ``path``; or only those named) sits, and what people keep beside it."""
    out: dict[str, TableLayout] = {}
    with open_package(path) as pkg:
        names = frozenset(d.name for d in pkg.defined_names if d.local_sheet_id is None)
        wanted = set(tables.tables if only is None else only)
        for name, t in tables.tables.items():
            if name not in wanted:
                continue
            ref = pkg.sheet(t.sheet)
            if ref is None or not ref.part:
                continue
            sheet = SheetEdit.open(pkg, ref.part)
            parts = pkg.tables(ref)
            part = next((p for p in parts if t.schema.excel_name in (p.name, p.display_name)), None)
            cols = [column_index(c) for c in t.columns.values()]
            if part is not None:
                a, _, b = part.ref.partition(":")
                (c1, r1), (c2, r2) = split_ref(a), split_ref(b or a)
                header, first, last, end = r1 + part.header_rows - 1, column_index(c1), column_index(c2), r2
            else:
                header = _header_row(sheet, t)
                first, last = min(cols, default=0), max(cols, default=0)
                end = max([header + 1, *t.rows.values()])
            out[name] = TableLayout(ref.name, header, first, last, end, part is not None,
                                    frozenset(used_columns(sheet, last)), _validation_end(sheet.tail, first, last, header + 1))
            sheet.close()
        sheets = tuple(s.name for s in pkg.sheets)
    return WorkbookLayout(sheets, names, out)


def _header_row(sheet: Any, t: Any) -> int:
    if getattr(t, "header_row", 0):
        return t.header_row
    letters = set(t.columns.values())
    for r in sorted(sheet.rows)[:10]:
        if letters & set(sheet.cells(r)):
            return r
    return 1


def _validation_end(tail: str, first: int, last: int, first_row: int) -> int | None:
    """How far down the validations of the table's data cells reach (the builder gives them all one end)."""
    ends = []
    for sqref in re.findall(r'<(?:\w+:)?dataValidation\b[^>]*?\bsqref="([^"]*)"', tail):
        for part in sqref.split():
            a, _, b = part.partition(":")
            try:
                (c1, r1), (_, r2) = split_ref(a), split_ref(b or a)
            except ValueError:
                continue
            if r1 == first_row and first <= column_index(c1) <= last and r2 > r1:
                ends.append(r2)
    return max(ends, default=None)


# ---------------------------------------------------------------------------------------------
# Writing: validations, columns, a table sheet


_OPERATORS = {
    "between": None, "not between": "notBetween", "==": "equal", "=": "equal", "equal to": "equal",
    "!=": "notEqual", "<>": "notEqual", "not equal to": "notEqual", ">": "greaterThan", "greater than": "greaterThan",
    "<": "lessThan", "less than": "lessThan", ">=": "greaterThanOrEqual", "greater than or equal to": "greaterThanOrEqual",
    "<=": "lessThanOrEqual", "less than or equal to": "lessThanOrEqual",
}
_TYPES = {"any": None, "integer": "whole", "decimal": "decimal", "list": "list", "date": "date", "time": "time",
          "length": "textLength", "custom": "custom"}


def _formula(value: Any, date1904: bool) -> str:
    if isinstance(value, (list, tuple)):
        return '"' + ",".join(str(v).replace('"', '""') for v in value) + '"'
    if isinstance(value, (dt.date, dt.datetime)):
        return number_text(excel_serial(value, date1904))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_text(value)
    text = str(value)
    return text[1:] if text.startswith("=") else text


def validation_xml(sqref: str, rule: Mapping[str, Any], date1904: bool = False) -> str:
    """One <dataValidation> from a rule in XlsxWriter's terms (what the builder's column_rule returns)."""
    kind = _TYPES.get(str(rule.get("validate", "any")))
    attrs = []
    if kind:
        attrs.append(f'type="{kind}"')
    style = rule.get("error_type", "stop")
    if style in ("warning", "information"):
        attrs.append(f'errorStyle="{style}"')
    op = _OPERATORS.get(str(rule.get("criteria", "between")))
    if kind and kind not in ("list", "custom") and op:
        attrs.append(f'operator="{op}"')
    attrs.append('allowBlank="1"' if rule.get("ignore_blank", True) else 'allowBlank="0"')
    attrs.append(f'showInputMessage="{int(rule.get("show_input", True))}"')
    attrs.append(f'showErrorMessage="{int(rule.get("show_error", True))}"')
    for key, attr in (("error_title", "errorTitle"), ("error_message", "error"),
                      ("input_title", "promptTitle"), ("input_message", "prompt")):
        if rule.get(key):
            attrs.append(f"{attr}={quoteattr(str(rule[key]))}")
    attrs.append(f"sqref={quoteattr(sqref)}")
    formulas = ""
    if kind == "list":
        formulas = f"<formula1>{escape(_formula(rule['source'], date1904))}</formula1>"
    elif kind == "custom":
        formulas = f"<formula1>{escape(_formula(rule['value'], date1904))}</formula1>"
    elif kind:
        if "minimum" in rule:
            formulas = (f"<formula1>{escape(_formula(rule['minimum'], date1904))}</formula1>"
                        f"<formula2>{escape(_formula(rule['maximum'], date1904))}</formula2>")
        else:
            formulas = f"<formula1>{escape(_formula(rule['value'], date1904))}</formula1>"
    tag = f"<dataValidation {' '.join(attrs)}"
    return f"{tag}>{formulas}</dataValidation>" if formulas else f"{tag}/>"


def add_to_tail(tail: str, p: str, tag: str, children: str, count: int) -> str:
    """Append children to a list element of the worksheet after <sheetData> (created in its place if absent)."""
    m = re.search(rf"<{p}{tag}\b([^>]*?)(/?)>", tail)
    if m is not None:
        attrs, empty = m.group(1), m.group(2)
        old = re.search(r'\bcount="(\d+)"', attrs)
        total = (int(old.group(1)) if old else 0) + count
        attrs = re.sub(r'\bcount="\d+"', f'count="{total}"', attrs) if old else f'{attrs} count="{total}"'
        if empty:
            return tail[: m.start()] + f"<{p}{tag}{attrs}>{children}</{p}{tag}>" + tail[m.end():]
        close = tail.index(f"</{p}{tag}>", m.end())
        return tail[: m.start()] + f"<{p}{tag}{attrs}>" + tail[m.end(): close] + children + tail[close:]
    block = f'<{p}{tag} count="{count}">{children}</{p}{tag}>'
    later = _TAIL_ORDER[_TAIL_ORDER.index(tag) + 1:]
    found = [mm.start() for t in later for mm in [re.search(rf"<{p}{t}\b", tail)] if mm]
    at = min(found) if found else tail.rindex(f"</{p}worksheet>")
    return tail[:at] + block + tail[at:]


def add_col(head: str, p: str, index: int, width: float | None, style: int | None) -> str:
    """A <col> for a new column, unless some <col> already covers it (then people's width and look stay)."""
    for m in re.finditer(rf'<{p}col\b[^>]*?\bmin="(\d+)"[^>]*?\bmax="(\d+)"', head):
        if int(m.group(1)) <= index + 1 <= int(m.group(2)):
            return head
    attrs = f'min="{index + 1}" max="{index + 1}" width="{(width or 13) + 0.7109375:g}"'
    attrs += f' style="{style}"' if style else ""
    col = f"<{p}col {attrs} customWidth=\"1\"/>"
    cols = re.search(rf"<{p}cols\b[^>]*>(.*?)</{p}cols>", head, re.S)
    if cols is None:
        at = head.rindex(f"<{p}sheetData")
        return head[:at] + f"<{p}cols>{col}</{p}cols>" + head[at:]
    body = cols.group(1)
    pos = len(body)
    for m in re.finditer(rf'<{p}col\b[^>]*?\bmin="(\d+)"[^>]*?/>', body):
        if int(m.group(1)) > index + 1:
            pos = m.start()
            break
    return head[: cols.start(1)] + body[:pos] + col + body[pos:] + head[cols.end(1):]


def table_sheet_xml(add: TableAdd, header_xfs: list[int | None], cell_xfs: list[int | None], last_row: int,
                    date1904: bool = False) -> bytes:
    """The worksheet of a new table sheet: headers, template rows, widths, looks, validations, its table part."""
    n = len(add.columns)
    last = column_letter(max(n, 1) - 1)
    cols = "".join(
        f'<col min="{i + 1}" max="{i + 1}" width="{(c.width or 13) + 0.7109375:g}"'
        + (f' style="{cell_xfs[i]}"' if cell_xfs[i] else "") + ' customWidth="1"/>'
        for i, c in enumerate(add.columns)
    )
    header = "".join(inline_string(f"{column_letter(i)}1", c.header, header_xfs[i]) for i, c in enumerate(add.columns))
    rows = [f'<row r="1" ht="20.25" customHeight="1">{header}</row>']
    for r, values in enumerate(add.rows, start=2):
        cells = "".join(cell_xml(f"{column_letter(i)}{r}", v, cell_xfs[i] if i < n else None, date1904)
                        for i, v in enumerate(values))
        rows.append(f'<row r="{r}">{cells}</row>')
    end = max(len(add.rows) + 1, 2)
    validations = [validation_xml(sqref, rule, date1904) for c in add.columns for sqref, rule in c.validations]
    tab = f'<tabColor rgb="FF{add.tab_color.lstrip("#").upper()[-6:]}"/>' if add.tab_color else ""
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">',
        f'<sheetPr>{tab}<pageSetUpPr fitToPage="1"/></sheetPr>',
        f'<dimension ref="A1:{last}{end}"/>',
        sheet_views(SheetSpec(add.sheet, add.table, freeze=(1, add.freeze_cols))),
        '<sheetFormatPr defaultRowHeight="15"/>',
        f"<cols>{cols}</cols>" if cols else "",
        f"<sheetData>{''.join(rows)}</sheetData>",
        f'<dataValidations count="{len(validations)}">{"".join(validations)}</dataValidations>' if validations else "",
        '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>',
        '<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>',
        '<headerFooter><oddFooter>&amp;L&amp;8&amp;A&amp;R&amp;8&amp;P / &amp;N</oddFooter></headerFooter>',
        '<tableParts count="1"><tablePart r:id="rId1"/></tableParts>',
        "</worksheet>",
    ]
    return "".join(parts).encode("utf-8")


def table_part_xml(add: TableAdd, table_id: int) -> bytes:
    """The Excel table (ListObject) over a new table sheet's headers and rows."""
    end = max(len(add.rows) + 1, 2)
    ref = f"A1:{column_letter(max(len(add.columns), 1) - 1)}{end}"
    columns = "".join(f'<tableColumn id="{i}" name={quoteattr(c.header)}/>' for i, c in enumerate(add.columns, start=1))
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<table xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" id="{table_id}" '
        f'name={quoteattr(add.excel_name)} displayName={quoteattr(add.excel_name)} ref="{ref}" totalsRowShown="0">'
        f'<autoFilter ref="{ref}"/><tableColumns count="{len(add.columns)}">{columns}</tableColumns>'
        f'<tableStyleInfo name={quoteattr(add.style)} showFirstColumn="0" showLastColumn="0" showRowStripes="1" '
        'showColumnStripes="0"/></table>'
    ).encode("utf-8")


def add_defined_names(workbook_xml: str, names: Iterable[tuple[str, str]]) -> str:
    """Add workbook-level defined names (name, formula without '=') to workbook.xml."""
    m = re.search(r"<(\w+:)?workbook\b", workbook_xml)
    p = (m.group(1) or "") if m else ""
    items = "".join(f"<{p}definedName name={quoteattr(n)}>{escape(f.lstrip('='))}</{p}definedName>" for n, f in names)
    if not items:
        return workbook_xml
    if re.search(rf"<{p}definedNames\s*/>", workbook_xml):
        return re.sub(rf"<{p}definedNames\s*/>", f"<{p}definedNames>{items}</{p}definedNames>", workbook_xml, count=1)
    if f"</{p}definedNames>" in workbook_xml:
        return workbook_xml.replace(f"</{p}definedNames>", items + f"</{p}definedNames>", 1)
    at = workbook_xml.index(f"</{p}sheets>") + len(f"</{p}sheets>")
    return workbook_xml[:at] + f"<{p}definedNames>{items}</{p}definedNames>" + workbook_xml[at:]


__all__ = ["CT_TABLE", "TableLayout", "WorkbookLayout", "add_col", "add_defined_names", "add_to_tail",
           "read_layout", "table_part_xml", "table_sheet_xml", "used_columns", "validation_xml"]
