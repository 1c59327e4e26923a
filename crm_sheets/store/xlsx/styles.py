"""Named cell styles (crm_sheets.model.sheets.STYLES) as cell formats appended to xl/styles.xml.

Existing formats are never changed or reordered; ours are added once and found again on the next
run by comparing their content, so styles.xml does not grow with every refresh.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Hashable, Iterable, Mapping
from xml.etree.ElementTree import Element
from xml.sax.saxutils import quoteattr

from crm_sheets.store.xlsx.package import NS_MAIN, parse_xml, prefixed

_HEADER_FILL = "FF1F4E78"
_BORDER_THIN = (
    '<border><left style="thin"><color rgb="FFBFBFBF"/></left><right style="thin"><color rgb="FFBFBFBF"/></right>'
    '<top style="thin"><color rgb="FFBFBFBF"/></top><bottom style="thin"><color rgb="FFBFBFBF"/></bottom>'
    "<diagonal/></border>"
)


def _fill(rgb: str) -> str:
    return f'<fill><patternFill patternType="solid"><fgColor rgb="{rgb}"/><bgColor indexed="64"/></patternFill></fill>'


def _font(size: float = 11, bold: bool = False, italic: bool = False, color: str | None = None, underline: bool = False) -> str:
    return (
        "<font>" + ("<b/>" if bold else "") + ("<i/>" if italic else "") + ("<u/>" if underline else "")
        + f'<sz val="{size:g}"/>' + (f'<color rgb="{color}"/>' if color else '<color theme="1"/>')
        + '<name val="Calibri"/><family val="2"/><scheme val="minor"/></font>'
    )


@dataclass(frozen=True)
class StyleDef:
    font: str | None = None
    fill: str | None = None
    border: str | None = None
    num_fmt: str | None = None  # a format code; built-in ones are recognised
    alignment: str | None = None  # an <alignment .../> element


_MONEY = "#,##0.00"
_LEFT = '<alignment horizontal="left"/>'
STYLE_DEFS: dict[str, StyleDef] = {
    "title": StyleDef(font=_font(18, bold=True, color="FF1F4E78")),
    "subtitle": StyleDef(font=_font(10, italic=True, color="FF7F7F7F")),
    "header": StyleDef(font=_font(11, bold=True, color="FFFFFFFF"), fill=_fill(_HEADER_FILL), border=_BORDER_THIN,
                       alignment='<alignment vertical="center" wrapText="1"/>'),
    "text": StyleDef(),
    "wrap": StyleDef(alignment='<alignment vertical="top" wrapText="1"/>'),
    "integer": StyleDef(num_fmt="#,##0"),
    "number": StyleDef(num_fmt="#,##0.00"),
    "money": StyleDef(num_fmt=_MONEY),
    "percent": StyleDef(num_fmt="0.0%"),
    "date": StyleDef(num_fmt="yyyy-mm-dd"),
    "datetime": StyleDef(num_fmt="yyyy-mm-dd hh:mm"),
    # a KPI tile is a caption over its figure: both flush left, so they line up (numbers would go right)
    "kpi_label": StyleDef(font=_font(9, color="FF7F7F7F"), alignment=_LEFT),
    "kpi_value": StyleDef(font=_font(20, bold=True), num_fmt="#,##0", alignment=_LEFT),
    "kpi_money": StyleDef(font=_font(20, bold=True), num_fmt=_MONEY, alignment=_LEFT),
    "kpi_percent": StyleDef(font=_font(20, bold=True), num_fmt="0.0%", alignment=_LEFT),
    "good": StyleDef(fill=_fill("FFC6EFCE"), font=_font(color="FF006100")),
    "bad": StyleDef(fill=_fill("FFFFC7CE"), font=_font(color="FF9C0006")),
    "warn": StyleDef(fill=_fill("FFFFEB9C"), font=_font(color="FF9C5700")),
    "muted": StyleDef(font=_font(color="FF7F7F7F")),
    "link": StyleDef(font=_font(color="FF0563C1", underline=True)),
    "card": StyleDef(fill=_fill("FFF2F2F2"), border=_BORDER_THIN, alignment='<alignment vertical="top" wrapText="1"/>'),
    # headers of table sheets as the builder draws them: required (orange underline) and computed (grey)
    "header_required": StyleDef(font=_font(11, bold=True, color="FFFFFFFF"), fill=_fill(_HEADER_FILL),
                                border=_BORDER_THIN.replace('<bottom style="thin"><color rgb="FFBFBFBF"/>',
                                                            '<bottom style="thick"><color rgb="FFED7D31"/>'),
                                alignment='<alignment vertical="center" wrapText="1"/>'),
    "header_owned": StyleDef(font=_font(11, bold=True, italic=True, color="FFFFFFFF"), fill=_fill("FF7F7F7F"),
                             border=_BORDER_THIN, alignment='<alignment vertical="center" wrapText="1"/>'),
}

# Excel's built-in number formats that we use (no numFmt element needed).
_BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9, "0.00%": 10}


def money_format(currency: str | None) -> str:
    if not currency:
        return _MONEY
    code = re.sub(r"[^A-Za-z]", "", currency)[:3].upper()
    return f'{_MONEY}\\ "{code}"' if code else _MONEY


def _canon(el: Element) -> tuple:
    """Content of an element, independent of attribute order and whitespace (how we recognise our own)."""
    return (el.tag, tuple(sorted(el.attrib.items())), (el.text or "").strip(), tuple(_canon(c) for c in el))


class _Section:
    """One list of styles.xml (fonts, fills, borders, cellXfs): existing items plus the ones we add."""

    def __init__(self, root: Element, tag: str):
        self.tag = tag
        el = root.find(f"{{{NS_MAIN}}}{tag}")
        self.items = [_canon(c) for c in el] if el is not None else []
        self.original = len(self.items)
        self.added: list[str] = []

    def index_of(self, xml: str) -> int:
        canon = _canon(parse_xml(f'<x xmlns="{NS_MAIN}">{xml}</x>'.encode(), "style")[0])
        if canon in self.items:
            return self.items.index(canon)
        self.items.append(canon)
        self.added.append(xml)
        return len(self.items) - 1


def ensure_styles(styles_xml: bytes, wanted: Iterable[tuple[str, str | None]]) -> tuple[bytes, dict[tuple[str, str | None], int]]:
    """Add the (style name, currency) formats to styles.xml; return the new XML and each one's xf index."""
    looks: dict[Hashable, StyleDef] = {}
    for name, currency in sorted(set(wanted), key=lambda x: (x[0], x[1] or "")):
        d = STYLE_DEFS.get(name, StyleDef())
        looks[(name, currency)] = replace(d, num_fmt=money_format(currency)) if name in ("money", "kpi_money") else d
    return ensure_looks(styles_xml, looks)  # type: ignore[return-value]


def column_look(num_format: str | None = None, wrap: bool = False, align: str | None = None,
                owned: bool = False) -> StyleDef:
    """The look of a table column's data cells as the builder makes it: top-aligned, its number format,
    wrapped long text, a grey tint when a job computes it."""
    attrs = ' vertical="top"' + (f" horizontal={quoteattr(align)}" if align else "") + (' wrapText="1"' if wrap else "")
    return StyleDef(font=_font(color="FF595959") if owned else None, fill=_fill("FFF2F2F2") if owned else None,
                    num_fmt=num_format, alignment=f"<alignment{attrs}/>")


def ensure_looks(styles_xml: bytes, looks: Mapping[Hashable, StyleDef]) -> tuple[bytes, dict[Hashable, int]]:
    """Add cell formats (StyleDef) to styles.xml, reusing equal ones; return the new XML and each one's xf index."""
    root = parse_xml(styles_xml, "xl/styles.xml")
    fonts, fills, borders, xfs = (_Section(root, t) for t in ("fonts", "fills", "borders", "cellXfs"))
    num_fmts: dict[str, int] = {}
    nf_el = root.find(f"{{{NS_MAIN}}}numFmts")
    if nf_el is not None:
        for n in nf_el:
            num_fmts.setdefault(n.get("formatCode", ""), int(n.get("numFmtId", "0")))
    next_fmt = max([163, *num_fmts.values()]) + 1
    new_fmts: list[str] = []
    out: dict[Hashable, int] = {}
    for key, d in looks.items():
        code = d.num_fmt
        fmt_id = 0
        if code:
            fmt_id = _BUILTIN_FORMATS.get(code, num_fmts.get(code, -1))
            if fmt_id < 0:
                fmt_id = num_fmts[code] = next_fmt
                next_fmt += 1
                new_fmts.append(f"<numFmt numFmtId={quoteattr(str(fmt_id))} formatCode={quoteattr(code)}/>")
        font_id = fonts.index_of(d.font) if d.font else 0
        fill_id = fills.index_of(d.fill) if d.fill else 0
        border_id = borders.index_of(d.border) if d.border else 0
        applies = (
            (' applyNumberFormat="1"' if fmt_id else "") + (' applyFont="1"' if d.font else "")
            + (' applyFill="1"' if d.fill else "") + (' applyBorder="1"' if d.border else "")
            + (' applyAlignment="1"' if d.alignment else "")
        )
        xf = f'<xf numFmtId="{fmt_id}" fontId="{font_id}" fillId="{fill_id}" borderId="{border_id}" xfId="0"{applies}'
        xf += f">{d.alignment}</xf>" if d.alignment else "/>"
        out[key] = xfs.index_of(xf)
    text = styles_xml.decode("utf-8")
    prefix = _root_prefix(text)
    if new_fmts:
        old = len(nf_el) if nf_el is not None else 0
        text = _append(text, prefix, "numFmts", new_fmts, old, after_root=True)
    for section in (fonts, fills, borders, xfs):
        if section.added:
            text = _append(text, prefix, section.tag, section.added, section.original)
    return text.encode("utf-8"), out


_PLAIN_XF = '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'


def ensure_quote_prefix(styles_xml: bytes, index: int | None) -> tuple[bytes, int]:
    """The cell format ``index`` (None: the default one) with quotePrefix="1" added, Excel's mark of a cell
    whose text starts like a formula: shown exactly, and still text after a person edits it. The copy keeps
    everything else of the format; an equal one (an earlier run's) is reused, else it is appended once."""
    text = styles_xml.decode("utf-8")
    prefix = _root_prefix(text)
    block = re.search(rf"<{prefix}cellXfs\b[^>]*?(?:/>|>(.*?)</{prefix}cellXfs>)", text, re.S)
    items = re.findall(rf"<{prefix}xf\b[^>]*?(?:/>|>.*?</{prefix}xf>)", block.group(1) or "", re.S) if block else []
    i = index or 0
    source = items[i] if i < len(items) else _PLAIN_XF
    if prefix:  # compared and appended without the root's prefix (_append puts it back)
        source = re.sub(rf"<(/?){prefix}", r"<\1", source)
    quoted = re.sub(r'<xf\b', '<xf quotePrefix="1"', re.sub(r'\squotePrefix="[^"]*"', "", source, count=1), count=1)
    root = parse_xml(styles_xml, "xl/styles.xml")
    xfs = _Section(root, "cellXfs")
    out = xfs.index_of(quoted)
    if xfs.added:
        text = _append(text, prefix, xfs.tag, xfs.added, xfs.original)
    return text.encode("utf-8"), out


def quote_free(styles_xml: bytes) -> dict[int, int]:
    """Cell formats with quotePrefix="1" -> the equal format without it, where styles.xml has one: a cell
    written with ordinary text (or a new row copying a row's looks) should not keep another value's prefix."""
    if b"quotePrefix" not in styles_xml:  # most workbooks: no parsing
        return {}
    root = parse_xml(styles_xml, "xl/styles.xml")
    el = root.find(f"{{{NS_MAIN}}}cellXfs")
    items = list(el) if el is not None else []
    plain: dict[tuple, int] = {}
    quoted: dict[int, tuple] = {}
    for i, xf in enumerate(items):
        if xf.get("quotePrefix") in ("1", "true"):
            xf = Element(xf.tag, {k: v for k, v in xf.attrib.items() if k != "quotePrefix"})
            xf.extend(items[i])
            quoted[i] = _canon(xf)
        else:
            plain.setdefault(_canon(xf), i)
    return {i: plain[c] for i, c in quoted.items() if c in plain}


# Excel's built-in number formats by id (ECMA-376 18.8.30), to name the format of a cell that uses one.
BUILTIN_FORMAT_CODES = {
    0: None, 1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%", 10: "0.00%", 11: "0.00E+00", 12: "# ?/?",
    13: "# ??/??", 14: "mm-dd-yy", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy", 18: "h:mm AM/PM", 19: "h:mm:ss AM/PM",
    20: "h:mm", 21: "h:mm:ss", 22: "m/d/yy h:mm", 37: "#,##0 ;(#,##0)", 38: "#,##0 ;[Red](#,##0)",
    39: "#,##0.00;(#,##0.00)", 40: "#,##0.00;[Red](#,##0.00)", 45: "mm:ss", 46: "[h]:mm:ss", 47: "mmss.0",
    48: "##0.0E+0", 49: "@",
}


def number_formats(styles_xml: bytes) -> list[str | None]:
    """The number format code of each cell format (by its cellXfs index); None for General."""
    if not styles_xml:
        return []
    root = parse_xml(styles_xml, "xl/styles.xml")
    codes: dict[int, str | None] = dict(BUILTIN_FORMAT_CODES)
    nf_el = root.find(f"{{{NS_MAIN}}}numFmts")
    for n in nf_el if nf_el is not None else ():
        try:
            codes[int(n.get("numFmtId", "0"))] = n.get("formatCode") or None
        except ValueError:
            continue
    xfs = root.find(f"{{{NS_MAIN}}}cellXfs")
    out: list[str | None] = []
    for xf in xfs if xfs is not None else ():
        try:
            out.append(codes.get(int(xf.get("numFmtId", "0"))))
        except ValueError:
            out.append(None)
    return out


def _root_prefix(text: str) -> str:
    m = re.search(r"<(\w+:)?styleSheet\b", text)
    return m.group(1) or "" if m else ""


def _append(text: str, prefix: str, tag: str, items: list[str], old: int, after_root: bool = False) -> str:
    """Append children to a list element of styles.xml and fix its count attribute."""
    items_xml = "".join(prefixed(i, prefix) for i in items)
    full = prefix + tag
    m = re.search(rf"<{full}\b([^>]*?)(/?)>", text)
    if m is None:
        if not after_root:
            raise ValueError(f"styles.xml has no <{tag}>")
        root = re.search(r"<(\w+:)?styleSheet\b[^>]*>", text)
        assert root is not None
        block = f'<{full} count="{len(items)}">{items_xml}</{full}>'
        return text[: root.end()] + block + text[root.end():]
    attrs, empty = m.group(1), m.group(2)
    count_m = re.search(r'\bcount="(\d+)"', attrs)
    new_attrs = re.sub(r'\bcount="\d+"', f'count="{old + len(items)}"', attrs) if count_m else f'{attrs} count="{old + len(items)}"'
    if empty:
        return text[: m.start()] + f"<{full}{new_attrs}>{items_xml}</{full}>" + text[m.end():]
    close = text.find(f"</{full}>", m.end())
    return text[: m.start()] + f"<{full}{new_attrs}>" + text[m.end(): close] + items_xml + text[close:]
