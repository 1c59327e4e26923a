"""apply_changeset: write a ChangeSet into a copy of an .xlsx package, patching only the parts it owns.

Untouched zip members are copied with their compressed bytes as they were; a changed worksheet is
edited as text row by row (no workbook object model, so charts, shapes and sparklines survive) and
streamed from its zip member into the new one, so a write costs the sheets it changes, not the workbook.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import re
import tempfile
import zipfile
import zlib
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Iterator
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ExpatError
from xml.sax.saxutils import escape, quoteattr

from crm_sheets.errors import CrmSheetsError, DamagedWorkbook
from crm_sheets.model.changeset import ChangeSet, ColumnAdd, RowRestore, TableAdd
from crm_sheets.model.schema import Field, normalize_header
from crm_sheets.model.sheets import SheetSpec, owned_sheet_name
from crm_sheets.model.tables import META_SHEET, Table, Tables, column_letter
from crm_sheets.store.base import NothingToWrite
from crm_sheets.store.core.archive import ArchivedCell, ArchivedRow, has_time, is_date_format, loads as load_archived
from crm_sheets.store.core.plan import ArchiveMove, Plan, archive_values, is_archived_copy, make_plan
from crm_sheets.store.package import (
    CT_WORKSHEET, LARGE_PART_LEVEL, REL_CALC_CHAIN, REL_TABLE, REL_WORKSHEET, Package, PackageWriter, TablePart, new_info,
    open_package, refuse_dtd, relative, rels_path,
)
from crm_sheets.store.package import DAMAGED_HINT, one_line
from crm_sheets.model.limits import too_long
from crm_sheets.model.values import from_serial
from crm_sheets.store.sheetxml import (
    cell_xml, column_index, excel_serial, inline_string, number_text, render_sheet, split_ref, styles_needed,
)
from crm_sheets.store.structure import (
    CT_TABLE, add_col, add_defined_names, add_to_tail, table_part_xml, table_sheet_xml, used_columns, validation_xml,
)
from crm_sheets.store.styles import STYLE_DEFS, StyleDef, column_look, ensure_looks, ensure_styles, number_formats
from crm_sheets.store.vml import REL_VML, insert_legacy_drawing, only_buttons

_HAS_VALUE_RE = re.compile(r"<(?:\w+:)?(?:v>|t\b[^>]*>[^<])")
_DROP_WITH_SHEET = ("/drawing", "/chart", "/comments", "/vmlDrawing", "/table", "/printerSettings", "/threadedComment",
                    "/chartUserShapes", "/hyperlink")


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


# ---------------------------------------------------------------------------------------------
# One worksheet, edited as text


_ROW_R = re.compile(r'\br="(\d+)"')
_ROW_R_B = re.compile(rb'\br="(\d+)"')
_SPOOL_IN_MEMORY = 16 * 1024 * 1024  # a worksheet part larger than this is spooled to a temporary file
_CELL_R = re.compile(r'\br="([A-Z]{1,3})(\d+)"')
_S_ATTR = re.compile(r'\bs="(\d+)"')
_T_ATTR = re.compile(r'\bt="(\w+)"')


@dataclass
class _Cell:
    col: str
    xml: str

    @property
    def open_tag(self) -> str:
        return self.xml[: self.xml.index(">") + 1]

    @property
    def style(self) -> int | None:
        m = _S_ATTR.search(self.open_tag)
        return int(m.group(1)) if m else None


def _ascending(numbers: Iterable[int | None]) -> bool:
    last = 0
    for n in numbers:
        if n is not None:
            if n <= last:
                return False
            last = n
    return True


def _column_order(letters: str) -> tuple[int, str]:
    return len(letters), letters  # "B" < "AA": the order of columns


class _Spool:
    """The decompressed worksheet, read back by byte range: in memory when small, else in a temporary file."""

    def __init__(self, data: bytes | None = None, size_hint: int = 0):
        self.data = data
        self.file: IO[bytes] | None = None
        self.on_disk = data is None and size_hint > _SPOOL_IN_MEMORY
        if data is None:
            self.file = tempfile.TemporaryFile() if self.on_disk else io.BytesIO()

    def append(self, chunk: bytes) -> None:
        if self.file is not None:
            self.file.write(chunk)

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        assert self.file is not None
        self.file.seek(start)
        return self.file.read(end - start)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class _Rows:
    """The rows of a SheetEdit as a read-only mapping (row number -> row XML), read on demand."""

    def __init__(self, sheet: "SheetEdit"):
        self.sheet = sheet

    def __contains__(self, r: object) -> bool:
        return isinstance(r, int) and self.sheet.row_text(r) is not None

    def get(self, r: int, default: str | None = None) -> str | None:
        text = self.sheet.row_text(r)
        return default if text is None else text

    def __getitem__(self, r: int) -> str:
        text = self.sheet.row_text(r)
        if text is None:
            raise KeyError(r)
        return text

    def __iter__(self) -> Iterator[int]:
        return (r for r, _ in self.sheet.iter_rows(text=False))

    def keys(self) -> Iterator[int]:
        return iter(self)

    def items(self) -> Iterator[tuple[int, str]]:
        return self.sheet.iter_rows(text=True)  # type: ignore[return-value]

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        return bool(self.sheet._over) or any(True for _ in self)


class SheetEdit:
    """One worksheet part, edited row by row without ever holding it whole.

    The part is decompressed once into a spool (a temporary file when large) while an index of row
    offsets is built; a row is read back and parsed only when the change set looks at it. Rows written
    are kept as text, row moves are recorded as maps, and ``chunks()`` streams the new part: runs of
    untouched rows are copied as bytes from the spool, the rest is rewritten row by row.
    """

    def __init__(self, part: str, data: bytes | None = None, *, chunks: Iterable[bytes] | None = None,
                 size_hint: int = 0):
        self.part = part
        if data is not None:
            self._spool = _Spool(data)
            chunks = [data]
        else:
            self._spool = _Spool(None, size_hint)
        self.p = ""
        self.head = ""
        self.tail = ""
        self._rn: array[int] = array("q")  # source row numbers
        self._st: array[int] = array("q")  # start offset of each source row in the spool
        self._en: array[int] = array("q")  # end offset
        self._no_r: set[int] = set()  # source rows written without r="": numbered when read
        self._sorted = True
        self._by_number: dict[int, int] | None = None
        self._scan(part, chunks or [])
        p = self.p
        # a cell, with its column letters when its start tag has r="..." (group 1)
        self._cell_re = re.compile(rf'(<{p}c\b(?=[^>]*?\br="([A-Z]{{1,3}})\d)?[^>]*?(?:/>|>.*?</{p}c>))', re.S)
        self._parsed: tuple[int, str, dict[str, str]] | None = None  # the last row parsed, until a change
        # only in cell start tags: text such as r="A5" inside a value must never be renumbered
        self._renumber_re = re.compile(rf'(<{self.p}row\b[^>]*?\br="|<{self.p}c\b[^>]*?\br="[A-Z]{{1,3}})\d+"')
        self._over: dict[int, str] = {}  # rows written, by current number
        self._taken: set[int] = set()  # source rows replaced by a row of _over
        self._maps: list[_RowMap] = []  # row moves, in order, still to apply to source rows
        self.rows = _Rows(self)
        self.changed = False
        self.widest = 0  # widest column we wrote, for <dimension>

    @classmethod
    def open(cls, pkg: Package, part: str) -> "SheetEdit":
        """A worksheet of the package, decompressed as a stream (never whole in memory when large)."""
        info = pkg.infos.get(part)
        if info is None:
            pkg.read(part)  # raises the package's "part is missing" error
        assert info is not None
        if info.file_size <= _SPOOL_IN_MEMORY:
            return cls(part, pkg.read(part))
        return cls(part, chunks=pkg.stream(part), size_hint=info.file_size)

    @property
    def spooled(self) -> bool:
        """Large enough to be spooled to a temporary file (and written back at a faster deflate level)."""
        return self._spool.on_disk

    # -- scanning the part once
    def _scan(self, part: str, chunks: Iterable[bytes]) -> None:
        it = iter(chunks)
        buf = b""
        pos = 0  # spool offset of buf[0]
        first = True

        def more() -> bool:
            nonlocal buf, first
            chunk = next(it, None)
            if chunk is None:
                return False
            self._spool.append(chunk)
            buf += chunk
            if first and (len(buf) >= 4096 or not chunk):
                refuse_dtd(buf, part)
                first = False
            return True

        root = start = None
        while start is None:
            if root is None:
                root = re.search(rb"<(\w+:)?worksheet\b", buf)
                if root is not None:
                    self.p = (root.group(1) or b"").decode()
            if root is not None:
                start = re.search(rb"<" + self.p.encode() + rb"sheetData\b[^>]*?(/?)>", buf)
            if start is None and not more():
                if first:
                    refuse_dtd(buf, part)
                raise CrmSheetsError(f"{part}: worksheet has no sheetData", hint="the workbook is damaged; restore a backup")
        if first:
            refuse_dtd(buf, part)
            first = False
        p = self.p
        if start.group(1):  # <sheetData/>
            self.head = buf[: start.start()].decode("utf-8") + f"<{p}sheetData>"
            rest = [buf[start.end():]]
            while more():
                rest.append(buf)
                buf = b""
            self.tail = f"</{p}sheetData>" + b"".join(rest).decode("utf-8")
            return
        self.head = buf[: start.end()].decode("utf-8")
        pos += start.end()
        buf = buf[start.end():]
        open_tag, close_row, close_data = f"<{p}row".encode(), f"</{p}row>".encode(), f"</{p}sheetData>".encode()
        rn, st, en, row_r = self._rn, self._st, self._en, _ROW_R_B
        last = 0
        i = 0
        k = buf.find(close_data)  # once per refill: rows never hold </sheetData>
        while True:
            j = buf.find(open_tag, i)
            if k != -1 and (j == -1 or k < j):
                break
            complete = False
            if j != -1 and j + len(open_tag) < len(buf):
                after = buf[j + len(open_tag)]
                if after not in b" \t\r\n/>":  # <rowBreaks>, say: not a row
                    i = j + len(open_tag)
                    continue
                tag_end = buf.find(b">", j)
                if tag_end != -1:
                    if buf[tag_end - 1] == 47:  # "/>"
                        end = tag_end + 1
                    else:
                        end = buf.find(close_row, tag_end)
                        end = end + len(close_row) if end != -1 else -1
                    if end != -1:
                        complete = True
                        m = row_r.search(buf, j, tag_end)
                        number = int(m.group(1)) if m else last + 1
                        if m is None:
                            self._no_r.add(len(rn))
                        if number <= last:
                            self._sorted = False
                        rn.append(number)
                        st.append(pos + j)
                        en.append(pos + end)
                        last = number
                        i = end
            if not complete:
                keep = j if j != -1 else max(len(buf) - len(close_data), i)
                pos += keep
                buf = buf[keep:]
                i = 0
                if not more():
                    raise CrmSheetsError(f"{part}: worksheet ends inside its sheetData",
                                         hint="the workbook is damaged; restore a backup")
                k = buf.find(close_data)
        rest = [buf[k:]]
        buf = b""
        while more():
            rest.append(buf)
            buf = b""
        self.tail = b"".join(rest).decode("utf-8")

    # -- where a row is
    def _source_index(self, number: int) -> int | None:
        if self._sorted:
            i = bisect_left(self._rn, number)
            return i if i < len(self._rn) and self._rn[i] == number else None
        if self._by_number is None:
            self._by_number = {n: i for i, n in enumerate(self._rn)}
        return self._by_number.get(number)

    def _source_of(self, r: int) -> int | None:
        """The source row now at row r (None when no untouched source row is there)."""
        for m in reversed(self._maps):
            back = m.inverse.get(r)
            if back is not None:
                r = back
            elif r in m.moves:
                return None  # that row moved away or went, and nothing moved in
        i = self._source_index(r)
        return None if i is None or i in self._taken else i

    def _current(self, number: int) -> int | None:
        for m in self._maps:
            if number in m.moves:
                number = m.moves[number]
                if number is None:
                    return None
        return number

    def _source_text(self, i: int, raw: bytes | None = None) -> str:
        """Source row i as it is now (numbered, moved, its formulas following moved rows)."""
        row = (self._spool.read(self._st[i], self._en[i]) if raw is None else raw).decode("utf-8")
        number = self._rn[i]
        if i in self._no_r:
            row = row.replace("row", f'row r="{number}"', 1)
        for m in self._maps:
            new = m.moves.get(number, number)
            if new is None:
                break
            if new != number:
                row = self._renumber_re.sub(lambda mm, n=new: f'{mm.group(1)}{n}"', row)
                number = new
            if "<f" in row:
                row = m.formulas(row)
        return row

    def row_text(self, r: int) -> str | None:
        """The XML of row r as it is now (None: no such row)."""
        if r in self._over:
            return self._over[r]
        i = self._source_of(r)
        return None if i is None else self._source_text(i)

    def iter_rows(self, text: bool = True) -> Iterator[tuple[int, str | None]]:
        """Every row in row order as (number, XML) (XML None when ``text`` is false)."""
        for kind, number, payload in self._plan():
            if kind == "over":
                yield number, payload if text else None
            else:
                for i in payload:
                    yield self._current(self._rn[i]), (self._source_text(i) if text else None)  # type: ignore[misc]

    # -- reading
    def cells(self, r: int) -> dict[str, _Cell]:
        """The cells of row r by column letter."""
        return {col: _Cell(col, xml) for col, xml in self.raw_cells(r).items()}

    def raw_cells(self, r: int) -> dict[str, str]:
        """The cells of row r as XML by column letter (do not change the dict: the next call may share it)."""
        return self._row(r)[1]

    def _row(self, r: int) -> tuple[str | None, dict[str, str]]:
        if self._parsed is not None and self._parsed[0] == r:
            return self._parsed[1], self._parsed[2]
        row = self.row_text(r)
        if not row or row.endswith("/>") and row.count("<") == 1:
            return row, {}
        found = self._cell_re.findall(row)  # [(xml, column letters or "")]
        if all(col for _, col in found):
            out = {col: xml for xml, col in found}
        else:
            out = {}
            col = ""
            for xml, ref in found:
                if ref:
                    col = ref
                    out[col] = xml
                else:  # no r="": the column after the previous cell's
                    col = column_letter(column_index(col) + 1 if col else 0)
                    out[col] = xml.replace("c", f'c r="{col}{r}"', 1)
        self._parsed = (r, row, out)
        return row, out

    def row_tag(self, r: int) -> str:
        row = self.row_text(r) or f'<{self.p}row r="{r}">'
        return row[: row.index(">") + 1]

    def max_row(self) -> int:
        top = max(self._over, default=0)
        if not self._maps and self._sorted:
            n = len(self._rn)
            while n and n - 1 in self._taken:
                n -= 1
            return max(top, self._rn[n - 1] if n else 0)
        for i, number in enumerate(self._rn):
            if i not in self._taken:
                cur = self._current(number)
                if cur is not None and cur > top:
                    top = cur
        return top

    # -- writing
    def put_cells(self, r: int, cells: dict[str, str | None], row_attrs: str | None = None) -> None:
        """Replace or add cells of row r (None or "" removes a cell); keeps the other cells as they are."""
        existing, parsed = self._row(r)
        current = dict(parsed)
        ordered = True
        for col, x in cells.items():
            if x:
                ordered = ordered and col in current
                current[col] = x
            else:
                current.pop(col, None)
        if row_attrs is not None:
            tag = f'<{self.p}row r="{r}"{row_attrs}>'
        else:
            tag = existing[: existing.index(">") + 1] if existing else f'<{self.p}row r="{r}">'
        tag = re.sub(r'\sspans="[^"]*"', "", tag)  # spans is an optional hint; ours could be wrong
        if tag.endswith("/>"):
            tag = tag[:-2].rstrip() + ">"
        body = "".join(current.values() if ordered else (current[c] for c in sorted(current, key=_column_order)))
        if not body and row_attrs is None and existing is None:
            return
        if r not in self._over:
            i = self._source_of(r)
            if i is not None:
                self._taken.add(i)
        self._over[r] = f"{tag}{body}</{self.p}row>"
        self._parsed = None
        self.changed = True

    def move_rows(self, moves: dict[int, int | None]) -> None:
        """Renumber rows (old -> new; None removes the row) and the references formulas make to them."""
        if not moves:
            return
        remap = _RowMap(moves)
        self._parsed = None
        over, self._over = self._over, {}
        for r, row in over.items():
            new = moves.get(r, r)
            if new is None:
                continue
            if new != r:
                row = self._renumber_re.sub(lambda m, n=new: f'{m.group(1)}{n}"', row)
            if "<f" in row:
                row = remap.formulas(row)
            self._over[new] = row
        if len(self._taken) < len(self._rn):
            self._maps.append(remap)
        self.tail = remap.tail_refs(self.tail, self.p)
        self.changed = True

    # -- output
    def _plan(self) -> Iterator[tuple[str, int, Any]]:
        """The rows in order: ("over", number, xml) for rows written, ("source", number, [indexes]) for runs
        of source rows (each run's rows keep their order in the spool). A row written wins over a source
        row of the same number; of two source rows of one number (a hand-made file), the last wins."""
        over = sorted(self._over)
        current, taken, rn = self._current, self._taken, self._rn
        identity = not self._maps
        numbers = ((i, rn[i] if identity else current(rn[i])) for i in range(len(rn)) if i not in taken)
        if not self._sorted or not identity and not _ascending(cur for _, cur in numbers):
            rows: dict[int, tuple[str, Any]] = {}
            for i in range(len(rn)):
                cur = None if i in taken else current(rn[i])
                if cur is not None:
                    rows[cur] = ("source", [i])
            rows.update((n, ("over", self._over[n])) for n in over)
            for n in sorted(rows):
                yield rows[n][0], n, rows[n][1]
            return
        if not identity:
            numbers = ((i, current(rn[i])) for i in range(len(rn)) if i not in taken)
        oi = 0
        run: list[int] = []
        run_start = 0
        for i, cur in numbers:
            if cur is None:
                continue
            while oi < len(over) and over[oi] <= cur:
                if run:
                    yield "source", run_start, run
                    run = []
                yield "over", over[oi], self._over[over[oi]]
                oi += 1
                if over[oi - 1] == cur:
                    break
            else:
                if not run:
                    run_start = cur
                run.append(i)
        if run:
            yield "source", run_start, run
        for n in over[oi:]:
            yield "over", n, self._over[n]

    def chunks(self, block: int = 1 << 20) -> Iterator[bytes]:
        """The new worksheet part as a stream of bytes."""
        head = self.head
        dim = re.search(r'(<(?:\w+:)?dimension\b[^>]*\bref=")([^"]*)(")', head)
        if dim:
            head = head[: dim.start(2)] + self._dimension(dim.group(2)) + head[dim.end(2):]
        yield head.encode("utf-8")
        out: list[bytes] = []
        size = 0
        raw_ok = not self._maps
        st, en, rn = self._st, self._en, self._rn
        for kind, _, payload in self._plan():
            if kind == "over":
                out.append(payload.encode("utf-8"))
                size += len(out[-1])
            else:
                idx = payload
                a = 0
                while a < len(idx):
                    # a stretch of rows that lie one after the other in the spool, up to ``block`` bytes
                    b = a + 1
                    while b < len(idx) and idx[b] == idx[b - 1] + 1 and en[idx[b]] - st[idx[a]] < block:
                        b += 1
                    base = st[idx[a]]
                    data = self._spool.read(base, en[idx[b - 1]])
                    if (raw_ok or b"<f" not in data and all(self._current(rn[i]) == rn[i] for i in idx[a:b])) \
                            and (not self._no_r or self._no_r.isdisjoint(range(idx[a], idx[b - 1] + 1))):
                        out.append(data)
                        size += len(data)
                    else:
                        for i in idx[a:b]:
                            text = self._source_text(i, data[st[i] - base: en[i] - base])
                            out.append(text.encode("utf-8"))
                            size += len(out[-1])
                    a = b
                    if size >= block:
                        yield b"".join(out)
                        out, size = [], 0
            if size >= block:
                yield b"".join(out)
                out, size = [], 0
        if out:
            yield b"".join(out)
        yield self.tail.encode("utf-8")

    def to_bytes(self) -> bytes:
        return b"".join(self.chunks())

    def close(self) -> None:
        self._spool.close()

    def _dimension(self, old: str) -> str:
        first = old.split(":")[0] or "A1"
        try:
            first_col, first_row = split_ref(first)
        except ValueError:
            first_col, first_row = "A", 1
        last_col = column_index(split_ref(old.split(":")[-1])[0]) if ":" in old else column_index(first_col)
        top = self.max_row()
        if top:
            for col in self.cells(top):
                last_col = max(last_col, column_index(col))
        # the widest row may be any row; scanning all would cost O(sheet), so widen only from what we wrote
        last_col = max(last_col, self.widest)
        last_row = max(top, first_row)
        return f"{first_col}{first_row}:{column_letter(last_col)}{last_row}"


class _RowMap:
    """Maps row numbers through a set of moves, for formula references in and around moved rows."""

    _REF = re.compile(r"(?<![A-Za-z0-9_.!'\]$])(\$?)([A-Z]{1,3})(\$?)(\d+)(?![\d(A-Za-z_!])")
    _RANGE = r"(?<![A-Za-z0-9_.!'\]$])(\$?[A-Z]{1,3}\$?\d+):(\$?[A-Z]{1,3}\$?\d+)(?![\d(A-Za-z_!])"
    _STRING = re.compile(r'("[^"]*")')
    _F = re.compile(r"(<(?:\w+:)?f\b[^>]*>)(.*?)(</(?:\w+:)?f>)", re.S)

    def __init__(self, moves: dict[int, int | None]):
        self.moves = moves
        self.inverse = {new: old for old, new in moves.items() if new is not None}

    def row(self, r: int, edge: str = "") -> int | None:
        if r not in self.moves:
            return r
        new = self.moves[r]
        if new is not None or not edge:
            return new
        step = 1 if edge == "start" else -1
        probe = r + step
        while probe in self.moves and self.moves[probe] is None:
            probe += step
        return self.row(probe)

    def formula(self, text: str) -> str:
        parts = self._STRING.split(text)
        for i in range(0, len(parts), 2):  # odd parts are string literals
            parts[i] = re.sub(self._RANGE + "|" + self._REF.pattern, self._one, parts[i])
        return "".join(parts)

    def _one(self, m: re.Match) -> str:
        if m.group(1):  # a range: shrink to surviving rows
            a = self._REF.fullmatch(m.group(1))
            b = self._REF.fullmatch(m.group(2))
            if not a or not b:
                return m.group(0)
            ra, rb = self.row(int(a.group(4)), "start"), self.row(int(b.group(4)), "end")
            if ra is None or rb is None or ra > rb:
                return "#REF!"
            return f"{a.group(1)}{a.group(2)}{a.group(3)}{ra}:{b.group(1)}{b.group(2)}{b.group(3)}{rb}"
        new = self.row(int(m.group(6)))
        if new is None:
            return "#REF!"
        return f"{m.group(3)}{m.group(4)}{m.group(5)}{new}"

    def formulas(self, row: str) -> str:
        def fix(m: re.Match) -> str:
            tag = m.group(1)
            ref = re.search(r'\bref="([^"]*)"', tag)
            if ref:
                tag = tag[: ref.start(1)] + self.sqref(ref.group(1)) + tag[ref.end(1):]
            body = html.unescape(m.group(2))
            return tag + escape(self.formula(body)) + m.group(3)

        return self._F.sub(fix, row)

    def sqref(self, sqref: str) -> str:
        out = []
        for part in sqref.split():
            a, _, b = part.partition(":")
            try:
                ca, ra = split_ref(a)
                cb, rb = split_ref(b) if b else (ca, ra)
            except ValueError:
                out.append(part)
                continue
            na, nb = self.row(ra, "start" if b else ""), self.row(rb, "end" if b else "")
            if na is None or nb is None or na > nb:
                continue
            out.append(f"{ca}{na}:{cb}{nb}" if b else f"{ca}{na}")
        return " ".join(out)

    def tail_refs(self, tail: str, p: str) -> str:
        """Hyperlinks and merged cells follow their rows; those on removed rows go."""
        def fix(m: re.Match) -> str:
            new = self.sqref(m.group(2))
            return m.group(1) + new + m.group(3) if new else ""

        tail = re.sub(rf'(<{p}hyperlink\b[^>]*?\bref=")([^"]*)("[^>]*?(?:/>|>.*?</{p}hyperlink>))', fix, tail, flags=re.S)
        tail = re.sub(rf'(<{p}mergeCell\b[^>]*?\bref=")([^"]*)("[^>]*?/>)', fix, tail)
        count = len(re.findall(rf"<{p}mergeCell\b", tail))
        return re.sub(rf'(<{p}mergeCells\b[^>]*?\bcount=")\d+(")', rf"\g<1>{count}\2", tail)


# ---------------------------------------------------------------------------------------------
# Cell values in and out


class SharedStrings:
    """xl/sharedStrings.xml, split once (at C speed) and decoded only where a cell we read points."""

    def __init__(self, data: bytes, part: str):
        refuse_dtd(data, part)
        text = data.decode("utf-8")
        m = re.search(r"<(\w+:)?sst\b", text)
        p = (m.group(1) or "") if m else ""
        self._close = f"</{p}si>"
        self.items = text.split(f"<{p}si")[1:]  # each starts with ">" or "/>" of its <si>
        self.cache: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.items)

    def has(self, i: int) -> bool:
        return 0 <= i < len(self.items)

    def __getitem__(self, i: int) -> str:
        if i not in self.cache:
            item = self.items[i]
            body = "" if item.startswith("/>") else item[item.index(">") + 1: item.find(self._close)]
            self.cache[i] = _inline_text(body)
        return self.cache[i]


def _unescape(text: str) -> str:
    return html.unescape(text)


def _inline_text(xml: str) -> str:
    body = re.sub(r"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", "", xml, flags=re.S)
    return "".join(_unescape(t) for t in re.findall(r"<(?:\w+:)?t\b[^>]*>(.*?)</(?:\w+:)?t>", body, re.S))


def _value_text(xml: str) -> str | None:
    m = re.search(r"<(?:\w+:)?v>(.*?)</(?:\w+:)?v>", xml, re.S)
    return _unescape(m.group(1)) if m else None


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _sst_has(sst: "SharedStrings | list[str]", i: int) -> bool:
    return sst.has(i) if isinstance(sst, SharedStrings) else 0 <= i < len(sst)


def cell_value(cell: _Cell, sst: "SharedStrings | list[str]") -> Any:
    """The value a cell shows (text, number, bool), as stored: no number format applied."""
    tag = cell.open_tag
    t = _T_ATTR.search(tag)
    t = t.group(1) if t else "n"
    if t == "inlineStr":
        return _inline_text(cell.xml)
    v = _value_text(cell.xml)
    if v is None:
        return None
    if t == "s":
        i = int(v)
        return sst[i] if _sst_has(sst, i) else None
    if t == "b":
        return v.strip() in ("1", "true")
    if t in ("str", "e", "d"):
        return v
    try:
        return _number(v)
    except ValueError:
        return v


def archived_cell(key: str, cell: _Cell, sst: "SharedStrings | list[str]", number_format: str | None,
                  date1904: bool) -> ArchivedCell | None:
    """A cell in the neutral archive format (None for a cell holding nothing): a number shown as a date
    becomes the date, text stays text, a formula keeps its text (shared and array formulas only their value)."""
    t = _T_ATTR.search(cell.open_tag)
    t = t.group(1) if t else "n"
    value = cell_value(cell, sst)
    f = re.search(r"<(?:\w+:)?f\b([^>]*)>(.*?)</(?:\w+:)?f>", cell.xml, re.S)
    formula = _unescape(f.group(2)) if f and 't="shared"' not in f.group(1) and 't="array"' not in f.group(1) else None
    if value is None and formula is None:
        return None
    kind = {"b": "bool", "e": "error", "n": "number"}.get(t, "text")
    if kind == "number" and isinstance(value, str):
        kind = "text"  # a number cell holding something else: kept as its text
    if kind == "number" and value is not None and is_date_format(number_format):
        when = from_serial(float(value), date1904)
        if when is not None:
            whole = when == dt.datetime(when.year, when.month, when.day)
            value, kind = (when.date(), "date") if whole and not has_time(number_format) else (when, "datetime")
    return ArchivedCell(key, cell.col, value, kind, formula, number_format)


def archived_xml(ref: str, cell: ArchivedCell, style: int | None, date1904: bool) -> str:
    """Write an archived cell back: its value as its type, its formula (never a value parsed as one)."""
    s = f' s="{style}"' if style else ""
    f = f"<f>{escape(cell.formula)}</f>" if cell.formula else ""
    v = cell.value
    if not f:
        if cell.type == "error" and v is not None:
            return f'<c r="{ref}"{s} t="e"><v>{escape(str(v))}</v></c>'
        return cell_xml(ref, v, style, date1904)
    if v is None:
        return f'<c r="{ref}"{s}>{f}</c>'
    if cell.type == "bool":
        return f'<c r="{ref}"{s} t="b">{f}<v>{int(bool(v))}</v></c>'
    if cell.type == "error":
        return f'<c r="{ref}"{s} t="e">{f}<v>{escape(str(v))}</v></c>'
    if cell.type in ("date", "datetime") and isinstance(v, (dt.date, dt.datetime)):
        return f'<c r="{ref}"{s}>{f}<v>{number_text(excel_serial(v, date1904))}</v></c>'
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f'<c r="{ref}"{s}>{f}<v>{number_text(v)}</v></c>'
    return f'<c r="{ref}"{s} t="str">{f}<v>{escape(str(v))}</v></c>'


def record_xml(ref: str, rec: dict[str, Any], sst: "SharedStrings | list[str]") -> str:
    """Write a cell back from the .xlsx cell record of a row archived before the neutral format: same value
    type, style, shared-string index when still valid."""
    s = f' s="{rec["s"]}"' if rec.get("s") else ""
    t, v = rec.get("t"), rec.get("v")
    f = f"<f>{escape(rec['f'])}</f>" if rec.get("f") else ""
    if v is None and not f:
        return f'<c r="{ref}"{s}/>' if s else ""
    if t == "text":
        i = rec.get("i")
        if i is not None and _sst_has(sst, i) and sst[i] == v:
            return f'<c r="{ref}"{s} t="s"><v>{i}</v></c>'
        return inline_string(ref, str(v), rec.get("s"))
    if t == "b":
        return f'<c r="{ref}"{s} t="b">{f}<v>{int(bool(v))}</v></c>'
    if t in ("str", "e", "d"):
        return f'<c r="{ref}"{s} t="{t}">{f}<v>{escape(str(v))}</v></c>'
    if v is None:
        return f'<c r="{ref}"{s}>{f}</c>'
    return f'<c r="{ref}"{s}>{f}<v>{escape(rec.get("raw") or number_text(v))}</v></c>'


# ---------------------------------------------------------------------------------------------
# A table on its sheet


@dataclass
class _TableState:
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


class _Patch:
    def __init__(self, pkg: Package, tables: Tables):
        self.pkg = pkg
        self.tables = tables
        self.replaced: dict[str, bytes] = {}
        self.added: dict[str, bytes] = {}
        self.deleted: set[str] = set()
        self.reserved: set[str] = set()  # part names given out by _free_part
        self.ct_add: dict[str, str] = {}
        self.sheets: dict[str, SheetEdit] = {}
        self.states: dict[str, _TableState] = {}
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

    def _columns_from_headers(self, t: Table, sheet: SheetEdit, header_row: int) -> dict[str, str]:
        out = {}
        for col, c in sheet.cells(header_row).items():
            text = cell_value(c, self.sst)
            key = normalize_header(text) if text is not None else ""
            for f in t.schema.fields:
                if key and key in f.names() and f.name not in out:
                    out[f.name] = col
        return out

    def headers(self, st: _TableState) -> dict[str, str]:
        """Column letter -> header text of a table's header row."""
        out = {}
        for col, c in st.sheet.cells(st.header_row).items():
            if st.first_col <= column_index(col) <= st.last_col:
                v = cell_value(c, self.sst)
                out[col] = "" if v is None else str(v)
        return out

    def column(self, st: _TableState, field_name: str) -> str:
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

    def _free_column(self, st: _TableState) -> int:
        """Where a new column of the table goes: right after it, or past the columns people use beside it."""
        used = used_columns(st.sheet, st.last_col)
        index = st.last_col + 1
        while index in used:
            index += 1
        return index

    def _claim_column(self, st: _TableState, field_name: str, col: str, header: str) -> None:
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
            st.sheet.tail = add_to_tail(st.sheet.tail, st.sheet.p, "dataValidations", _prefixed(items, st.sheet.p), len(rules))
        st.sheet.changed = True

    def _header_xf(self, st: _TableState, add: ColumnAdd) -> int | None:
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

    def _looks(self, looks: dict[Any, Any]) -> dict[Any, int]:
        part = next((r.target for r in self.pkg.workbook_rels if r.type.endswith("/styles")), "xl/styles.xml")
        current = self.replaced.get(part) or self.pkg.read(part)
        new, xfs = ensure_looks(current, looks)
        if new != current:
            self.replaced[part] = new
        return xfs

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
        for table, tp in plan.tables.items():
            if not tp.updates:
                continue
            st = self.state(table)
            rows = self.tables[table].rows
            for record_id, values in tp.updates.items():
                self._set(st, rows[record_id], values)
        for a in plan.archives:
            st = self.state(a.table)
            r = self.tables[a.table].rows[a.record_id]
            captured.append((a, self._capture(st, r)))
            removals.setdefault(a.table, []).append(r)
        for res in plan.restores:
            ast = self.state(res.archive)
            r, row = self._find_archived(ast, res)
            removals.setdefault(res.archive, []).append(r)
            appends.setdefault(res.table, []).append((None, self._restored_cells(self.state(res.table), row)))
        for a, row in captured:
            ast = self.state(a.archive)
            appends.setdefault(a.archive, []).append((None, self._append_cells(ast, archive_values(a, row, self.tables))))
        for table, tp in plan.tables.items():
            if tp.appends:
                st = self.state(table)
                for values in tp.appends:
                    appends.setdefault(table, []).append((None, self._append_cells(st, values)))
        for name, rows in removals.items():
            self._remove_rows(self.state(name), sorted(set(rows)))
        for name, rows in appends.items():
            self._append_rows(self.state(name), [cells for _, cells in rows])
        self._add_options(plan.options)
        self._sequences_and_sheets(plan)

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

    def _set(self, st: _TableState, r: int, values: dict[str, Any]) -> None:
        cells = st.sheet.raw_cells(r)
        out: dict[str, str | None] = {}
        for name, value in values.items():
            col = self.column(st, name)
            old = cells.get(col)
            v = value  # in the workbook's form already (core.plan.field_value)
            if too_long(v):  # a person's value over a cell's limit: never written back (cut), the cell stays as it is
                continue
            s = _S_ATTR.search(old, 0, old.index(">")) if old else None
            style = int(s.group(1)) if s else None
            out[col] = cell_xml(f"{col}{r}", v, style if style is not None else self._date_xf(v), self.pkg.date1904) or None
        st.sheet.put_cells(r, out)
        self.recalc = True

    def _append_cells(self, st: _TableState, values: dict[str, Any]) -> dict[str, str]:
        """Cells of a new row, as {column: xml with a placeholder row number}; styles come later."""
        out = {}
        for name, value in values.items():
            if name not in st.schema_fields and name not in st.cols:
                continue  # info keys the archive table has no column for
            out[self.column(st, name)] = ("value", value)
        return out  # type: ignore[return-value]

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

    def _find_archived(self, ast: _TableState, res: RowRestore) -> tuple[int, ArchivedRow]:
        rec_col, table_col, data_col = (ast.cols.get(k) for k in ("record", "table", "data"))
        if not rec_col or not data_col:
            raise CrmSheetsError(f"archive table {res.archive!r} has no Record or Original row column",
                                 hint="run `crm-sheets upgrade` to repair the sheet")
        for r in range(ast.end_row, ast.header_row, -1):  # the latest archived copy wins
            cells = ast.sheet.cells(r)
            record = cell_value(cells[rec_col], self.sst) if rec_col in cells else None
            table = cell_value(cells[table_col], self.sst) if table_col and table_col in cells else None
            if not is_archived_copy(res, record, table):
                continue
            raw = cell_value(cells[data_col], self.sst) if data_col in cells else None
            try:
                return r, load_archived(str(raw))
            except ValueError:
                raise CrmSheetsError(f"{ast.sheet.part}: row {r} of {res.archive!r} has no readable original row",
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

    def _remove_rows(self, st: _TableState, rows: list[int]) -> None:
        removed = [r for r in rows if st.header_row < r <= st.end_row]
        if not removed:
            return
        moves: dict[int, int | None] = {}
        shift = 0
        gone = set(removed)
        for r in range(removed[0], st.end_row + 1):
            if r in gone:
                moves[r] = None
                shift += 1
            elif shift:
                moves[r] = r - shift
        st.sheet.move_rows(moves)
        st.end_row -= len(removed)
        st.ref_end -= len(removed)
        st.touched = True
        self.recalc = True

    def _append_rows(self, st: _TableState, rows: list[dict[str, Any]]) -> None:
        self._make_room(st, len(rows))
        template = st.end_row if st.end_row > st.header_row else st.header_row + 1
        tmpl_cells = st.sheet.cells(template)
        tmpl_styles = {col: c.style for col, c in tmpl_cells.items() if c.style is not None}
        tag = st.sheet.row_tag(template) if template in st.sheet.rows else ""
        tmpl_attrs = re.sub(r'\s(r|spans)="[^"]*"', "", tag[tag.index("row") + 3:].rstrip("/>").rstrip(">")) if tag else ""
        for values in rows:
            r = st.end_row + 1
            row_attrs = values.pop("__row__", None)
            cells: dict[str, str | None] = {}
            for col, style in tmpl_styles.items():
                if st.first_col <= column_index(col) <= st.last_col:
                    cells[col] = f'<c r="{col}{r}" s="{style}"/>'
            for col, (kind, v) in values.items():
                ref = f"{col}{r}"
                if kind == "record":  # a row archived by an older version: as it was
                    cells[col] = record_xml(ref, v, self.sst) or None
                elif kind == "archived":
                    style = self._format_xf(tmpl_styles.get(col), v.number_format)
                    cells[col] = archived_xml(ref, v, style, self.pkg.date1904) or None
                else:
                    style = tmpl_styles.get(col)
                    cells[col] = cell_xml(ref, v, style if style is not None else self._date_xf(v), self.pkg.date1904) or None
            attrs = f" {row_attrs}" if row_attrs else tmpl_attrs
            st.sheet.put_cells(r, cells, row_attrs=attrs if r not in st.sheet.rows else None)
            st.sheet.widest = max(st.sheet.widest, st.last_col)
            st.end_row = r
            st.touched = True
        self.recalc = True

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
                and all(self.pkg.has(p) and self.pkg.read(p) == data for p, data in self.replaced.items()))

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
                st = _TableState("_meta", self.sheet_edit(ref.part), part, split_ref(a)[1], r, {},
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
        wanted = owned_sheet_name(spec.key, spec.name, marks, sheets) if spec.key != "_crm_meta" else spec.name
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
        writes: dict[str, bytes | None] = {part: out.xml}  # None: the part goes
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
                w = PackageWriter(f)
                for info in self.pkg.zip.infolist():
                    name = info.filename
                    if name in self.deleted:
                        continue
                    if name in streamed:
                        sheet = streamed[name]
                        w.write_stream(info, sheet.chunks(), LARGE_PART_LEVEL if sheet.spooled else 6)
                    elif name in self.replaced:
                        w.write(info, self.replaced[name])
                    else:
                        w.copy_raw(self.pkg.zip, info)
                for name, data in self.added.items():
                    if name not in self.deleted:
                        w.write(new_info(name), data)
                w.close()
        finally:
            for sheet in self.sheets.values():
                sheet.close()


def first_overlap(st: _TableState, index: int) -> bool:
    """A column inside the table's range already (a column of the Excel table, named or not)."""
    return st.part is not None and st.first_col <= index <= st.last_col


def _prefixed(xml: str, p: str) -> str:
    return re.sub(r"<(/?)(\w+)", lambda m: f"<{m.group(1)}{p}{m.group(2)}", xml) if p else xml


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

