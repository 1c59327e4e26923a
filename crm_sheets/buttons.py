"""Macro workbooks: Refresh, Check and Dedupe buttons on the Start and Dashboard sheets (`crm-sheets
add-buttons`, and `crm-sheets new crm.xlsm`).

The package is patched, never rebuilt: the VBA project (builder/vba.py), its relationship and content
type, and per sheet a VML drawing with the buttons (drawn by XlsxWriter's insert_button) and its
legacyDrawing reference go in; every other part is copied byte for byte.
"""
from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from crm_sheets.errors import NotAWorkbook, UsageError, WorkbookBusy
from crm_sheets.store.xlsx.vml import REL_VML, insert_legacy_drawing

REL_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
CT_MACRO_MAIN = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
CT_VBA = "application/vnd.ms-office.vbaProject"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
BUTTON_SHEETS = ("start", "dashboard")  # owned sheet keys that get the buttons
BUTTON_CELL = {"start": (1, 2), "dashboard": (1, 10)}  # (row, col) of the first button, 0-based
CONF_SHEET = "xlwings.conf"


@dataclass
class ButtonsReport:
    path: str
    sheets: list[str] = field(default_factory=list)  # sheets that got the buttons
    configured: dict[str, str] = field(default_factory=dict)  # xlwings.conf rows written
    xlwings: str = ""

    def as_dict(self) -> dict:
        return {"path": self.path, "sheets": self.sheets, "configured": self.configured, "xlwings": self.xlwings}


def add_buttons(path: str | Path, *, out: str | Path | None = None, configure: bool = False) -> ButtonsReport:
    """Give the workbook at ``path`` its buttons, written to ``out`` (default: ``path``, which must be .xlsm;
    a .xlsx gets a .xlsm beside it). With ``configure``, fill the xlwings.conf sheet for this machine."""
    from crm_sheets.builder.vba import crm_project, xlwings_version

    src = Path(path)
    if not src.exists():
        raise NotAWorkbook(f"{src}: no such file", hint="create one with `crm-sheets new crm.xlsm`")
    if src.suffix.lower() not in (".xlsx", ".xlsm"):
        raise NotAWorkbook(f"{src}: not an Excel workbook (.xlsx or .xlsm)")
    dst = Path(out) if out else src.with_suffix(".xlsm")
    if dst.suffix.lower() != ".xlsm":
        raise UsageError(f"{dst}: a workbook with buttons is a macro workbook", hint="give it the .xlsm extension")
    if dst != src and dst.exists():
        raise UsageError(f"{dst} exists already", hint=f"run crm-sheets add-buttons {dst}, or move it away first")
    for p in {src, dst}:
        owner = p.with_name("~$" + p.name)
        if owner.exists():
            raise WorkbookBusy(f"{p.name} is open in Excel ({owner.name} exists)", hint="close it, then try again")
    report = ButtonsReport(path=str(dst), xlwings=xlwings_version())
    with zipfile.ZipFile(src) as z:
        infos = z.infolist()
        parts = {i.filename: z.read(i.filename) for i in infos}
    changed = _patch(parts, crm_project(), report)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        from crm_sheets.store.xlsx.package import PackageWriter, new_info

        with zipfile.ZipFile(src) as zin, open(tmp, "wb") as fh:
            writer = PackageWriter(fh)
            for info in infos:
                if info.filename in changed:
                    writer.write(new_info(info.filename, info), changed.pop(info.filename))
                else:
                    writer.copy_raw(zin, info)  # compressed bytes untouched
            for name, data in changed.items():
                writer.write(new_info(name), data)
            writer.close()
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, (dst if dst.exists() else src).stat().st_mode & 0o7777)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if configure:
        report.configured = configure_xlwings(dst)
    return report


def _patch(parts: dict[str, bytes], vba: bytes, report: ButtonsReport) -> dict[str, bytes]:
    """The parts to write (new or changed), from the package's ``parts``."""
    changed: dict[str, bytes] = {"xl/vbaProject.bin": vba}
    ct = parts["[Content_Types].xml"].decode("utf-8")
    ct = re.sub(r'(<Override PartName="/xl/workbook.xml" ContentType=")[^"]*(")', rf"\g<1>{CT_MACRO_MAIN}\g<2>", ct)
    if 'PartName="/xl/vbaProject.bin"' not in ct:  # an Override: a Default for .bin may be printer settings
        ct = ct.replace("</Types>", f'<Override PartName="/xl/vbaProject.bin" ContentType="{CT_VBA}"/></Types>')
    if 'Extension="vml"' not in ct:
        ct = ct.replace("<Default ", f'<Default Extension="vml" ContentType="{CT_VML}"/><Default ', 1)
    changed["[Content_Types].xml"] = ct.encode("utf-8")
    wb_rels_name = "xl/_rels/workbook.xml.rels"
    wb_rels = parts[wb_rels_name].decode("utf-8")
    if REL_VBA not in wb_rels:
        changed[wb_rels_name] = _add_rel(wb_rels, REL_VBA, "vbaProject.bin")[0].encode("utf-8")
    wb_xml = parts["xl/workbook.xml"].decode("utf-8")
    pr = re.search(r"<workbookPr\b[^>]*>", wb_xml)
    if pr is None or "codeName=" not in pr.group(0):  # the VBA project's ThisWorkbook module is this workbook
        if pr is not None:
            wb_xml = wb_xml[:pr.start()] + '<workbookPr codeName="ThisWorkbook"' + wb_xml[pr.start() + len("<workbookPr"):]
        else:  # CT_Workbook order: fileVersion, fileSharing, workbookPr, workbookProtection, bookViews, sheets
            at = re.search(r"<(workbookProtection|bookViews|sheets)\b", wb_xml).start()
            wb_xml = wb_xml[:at] + '<workbookPr codeName="ThisWorkbook"/>' + wb_xml[at:]
        changed["xl/workbook.xml"] = wb_xml.encode("utf-8")
    sheets = _sheet_parts(parts)
    next_block = 1 + max([int(x) for p, d in parts.items() if p.endswith(".vml")
                          for x in re.findall(rb'<o:idmap[^>]*data="(\d+)', d)] or [0])
    for key in BUTTON_SHEETS:
        found = next(((name, part) for name, part in sheets.items() if _sheet_key(name) == key), None)
        if found is None:
            continue
        name, part = found
        _buttons_on_sheet(parts, changed, part, key, next_block)
        next_block += 1
        report.sheets.append(name)
    if not report.sheets:
        raise NotAWorkbook("this workbook has no Start or Dashboard sheet to put the buttons on",
                           hint="is it a crm-sheets workbook? `crm-sheets new crm.xlsm` makes one")
    return changed


def _sheet_parts(parts: dict[str, bytes]) -> dict[str, str]:
    """Sheet name -> worksheet part, in workbook order."""
    wb = parts["xl/workbook.xml"].decode("utf-8")
    rels = parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
    targets = {m.group(1): m.group(2) for m in re.finditer(r'<Relationship\b[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)}
    targets.update({m.group(2): m.group(1) for m in re.finditer(r'<Relationship\b[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)})
    out = {}
    for m in re.finditer(r"<sheet\b[^>]*>", wb):
        tag = m.group(0)
        name = _unescape(re.search(r'\bname="([^"]*)"', tag).group(1))
        rid = re.search(r'\br:id="([^"]*)"', tag)
        if rid and rid.group(1) in targets:
            t = targets[rid.group(1)]
            out[name] = t.lstrip("/") if t.startswith("/") else "xl/" + t
    return out


def _sheet_key(name: str) -> str | None:
    """Which owned sheet this is (start, dashboard), by its name in any template language."""
    from crm_sheets.model.schema import normalize_header

    folded = normalize_header(name)
    return next((key for key, titles in _button_sheet_titles().items() if folded in titles), None)


@functools.lru_cache(maxsize=1)
def _button_sheet_titles() -> dict[str, frozenset[str]]:
    from crm_sheets.model.schema import available_templates, load_schema, normalize_header

    schemas = [load_schema(t) for t in available_templates()]
    return {key: frozenset(normalize_header(title) for s in schemas for title in s.owned_sheet(key).title.values())
            for key in BUTTON_SHEETS}


def _unescape(text: str) -> str:
    from xml.sax.saxutils import unescape

    return unescape(text, {"&quot;": '"', "&apos;": "'"})


def _add_rel(rels: str, typ: str, target: str) -> tuple[str, str]:
    ids = {int(x) for x in re.findall(r'Id="rId(\d+)"', rels)}
    rid = f"rId{max(ids, default=0) + 1}"
    return rels.replace("</Relationships>", f'<Relationship Id="{rid}" Type="{typ}" Target="{target}"/></Relationships>'), rid


def _buttons_on_sheet(parts: dict[str, bytes], changed: dict[str, bytes], part: str, key: str, block: int) -> None:
    folder, file = part.rsplit("/", 1)
    rels_name = f"{folder}/_rels/{file}.rels"
    rels = parts.get(rels_name, b"").decode("utf-8") or (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"></Relationships>')
    sheet = parts[part].decode("utf-8")
    vml_rel = re.search(rf'<Relationship\b[^>]*Type="{re.escape(REL_VML)}"[^>]*/>', rels)
    if vml_rel:  # buttons put there before are replaced; a sheet with notes keeps them and is left alone
        target = re.search(r'Target="([^"]+)"', vml_rel.group(0)).group(1)
        vml_part = _resolve(part, target)
        if b'ObjectType="Button"' not in parts.get(vml_part, b"") or b'ObjectType="Note"' in parts.get(vml_part, b""):
            raise UsageError(f"{part}: the sheet has notes or drawings of its own where the buttons go",
                             hint="remove its notes, or add the buttons by hand")
        same = re.search(rb'<o:idmap[^>]*data="(\d+)', parts[vml_part])  # its shape ids stay as they were
        changed[vml_part] = button_vml(key, int(same.group(1)) if same else block)
        return
    n = 1
    while f"xl/drawings/vmlDrawing{n}.vml" in parts or f"xl/drawings/vmlDrawing{n}.vml" in changed:
        n += 1
    vml_part = f"xl/drawings/vmlDrawing{n}.vml"
    changed[vml_part] = button_vml(key, block)
    rels, rid = _add_rel(rels, REL_VML, f"../drawings/vmlDrawing{n}.vml")
    changed[rels_name] = rels.encode("utf-8")
    changed[part] = insert_legacy_drawing(sheet, rid).encode("utf-8")


def _resolve(base: str, target: str) -> str:
    import posixpath

    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), target))


def button_vml(key: str, block: int) -> bytes:
    """The VML drawing of the three buttons, drawn by XlsxWriter's insert_button (shape ids of ``block``)."""
    import io

    import xlsxwriter

    from crm_sheets.builder.vba import BUTTONS

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet()
    row, col = BUTTON_CELL[key]
    for i, (caption, sub, _job) in enumerate(BUTTONS):
        ws.insert_button(row + 2 * i, col, {"macro": sub, "caption": caption, "width": 110, "height": 30})
    wb.close()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        vml = z.read("xl/drawings/vmlDrawing1.vml").decode("utf-8")
    vml = vml.replace('data="1"', f'data="{block}"')
    vml = re.sub(r"_x0000_s1(\d{3})", lambda m: f"_x0000_s{block * 1024 + int(m.group(1)) - 24}", vml)
    return vml.encode("utf-8")


# ---------------------------------------------------------------------------------------------
# xlwings.conf


def conf_rows() -> dict[str, str]:
    """The xlwings.conf settings for this machine: this Python, and where crm_sheets is importable from."""
    import crm_sheets

    interpreter = sys.executable
    if sys.platform == "win32" and interpreter.lower().endswith("python.exe"):
        quiet = interpreter[:-len("python.exe")] + "pythonw.exe"  # no console window flashing at each click
        interpreter = quiet if os.path.exists(quiet) else interpreter
    key = "Interpreter_Win" if sys.platform == "win32" else "Interpreter_Mac"
    return {key: interpreter, "PYTHONPATH": str(Path(crm_sheets.__file__).resolve().parent.parent)}


def configure_xlwings(path: str | Path) -> dict[str, str]:
    """Write the xlwings.conf sheet (a sheet crm-sheets owns) through the store, like any job's sheet."""
    from crm_sheets.model.changeset import ChangeSet
    from crm_sheets.model.sheets import SheetSpec
    from crm_sheets.store import open_store

    rows = conf_rows()
    store = open_store(path)
    tables = store.read()
    spec = SheetSpec(name=CONF_SHEET, key="xlwings_conf", rows=[[k, v] for k, v in rows.items()],
                     widths={0: 18, 1: 70}, landscape=False)
    store.apply(ChangeSet(sheets=[spec]), tables)
    return rows
