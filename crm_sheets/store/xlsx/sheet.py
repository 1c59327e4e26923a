"""One worksheet part edited as text, row by row: SheetEdit reads the part once (spooled to disk when large),
keeps the rows a patch changes, moves rows (formulas, merged ranges and other references follow) and streams
the part out again; nothing else of the XML is parsed or rewritten. Where its bytes live is spool.py's; which
row each row becomes, and the references that follow, rowmoves.py's.
"""
from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from crm_sheets.errors import CrmSheetsError
from crm_sheets.model.tables import column_letter
from crm_sheets.store.xlsx.package import Package, refuse_dtd
from crm_sheets.store.xlsx.sheetxml import column_index, split_ref
from crm_sheets.store.xlsx import spool
from crm_sheets.store.xlsx.background import read_ahead
from crm_sheets.store.xlsx.spool import Spool, WrittenRows
from crm_sheets.store.xlsx.rowmoves import Removal, RowMap  # noqa: F401  (Removal: the writer imports it from here)




_ROW_R = re.compile(r'\br="(\d+)"')
_ROW_R_B = re.compile(rb'\br="(\d+)"')
_CELL_R = re.compile(r'\br="([A-Z]{1,3})(\d+)"')
S_ATTR = re.compile(r'\bs="(\d+)"')
_SPANS = re.compile(r'\sspans="[^"]*"')
T_ATTR = re.compile(r'\bt="(\w+)"')


@dataclass
class CellXml:
    col: str
    xml: str

    @property
    def open_tag(self) -> str:
        return self.xml[: self.xml.index(">") + 1]

    @property
    def style(self) -> int | None:
        m = S_ATTR.search(self.open_tag)
        return int(m.group(1)) if m else None


def _ascending(numbers: Iterable[int | None]) -> bool:
    last = 0
    for n in numbers:
        if n is not None:
            if n <= last:
                return False
            last = n
    return True


def column_order(letters: str) -> tuple[int, str]:
    return len(letters), letters  # "B" < "AA": the order of columns


def _in_column_order(cells: dict[str, str]) -> bool:
    last = (0, "")
    for col in cells:
        key = (len(col), col)
        if key <= last:
            return False
        last = key
    return True


def _split_cells(row: str, p: str) -> dict[str, str] | None:
    """The cells of a row as written by Excel, LibreOffice and crm-sheets (each <c> starting with r="..." and
    followed at once by the next), split at C speed; None for any other row (the regular expression reads it).
    A first run parses every updated row: this costs about a third less than the regular expression."""
    opener = f'<{p}c r="'
    parts = row.split(opener)
    n = len(parts) - 1
    if not n or row.count(f"<{p}c") != n:  # a cell without r="" first, or rich text (<color>, <charset>)
        return None
    head = parts[0]
    close = f"</{p}row>"
    last = parts[-1]
    if head.count("<") != 1 or not head.endswith(">") or not last.endswith(close):
        return None
    parts[-1] = last[: -len(close)]
    out = {}
    for part in parts[1:]:
        ref = part[: part.find('"')]
        col = ref.rstrip("0123456789")
        if not (col.isupper() and col.isascii() and col.isalpha() and len(col) <= 3 and len(ref) > len(col)) \
                or not part.endswith(("</" + p + "c>", "/>")):  # anything between two cells: not this path
            return None
        out[col] = opener + part
    return out


def _numbered_elsewhere(row: str, head: str, start: int = 0) -> bool:
    r"""Whether ``head`` (a cell's start up to its column letters) is followed by a digit somewhere in ``row`` from
    ``start`` on: the regular expression head + r"\d" without compiling one per column and row (a first run asks
    ~90,000 times)."""
    k = row.find(head, start)
    n = len(head)
    while k >= 0:
        if row[k + n: k + n + 1].isdecimal():  # what \d matches in a str pattern: Unicode category Nd
            return True
        k = row.find(head, k + 1)
    return False


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
                 size_hint: int = 0, ahead: bool = False):
        """The part's XML as ``data``, or as ``chunks`` of about ``size_hint`` bytes in all; with ``ahead``, the
        chunks are read (inflated) and spooled by a worker while this thread finds the rows."""
        self.part = part
        if data is not None:
            self._spool = Spool(data)
            chunks = [data]
        else:
            self._spool = Spool(None, size_hint)
            # each chunk spooled as it comes (by the worker of a read ahead: see open), before this thread scans it
            chunks = self._spool.filled(chunks or [])
        self.p = ""
        self.head = ""
        self.tail = ""
        self._rn: array[int] = array("q")  # source row numbers
        self._st: array[int] = array("q")  # start offset of each source row in the spool
        self._en: array[int] = array("q")  # end offset
        self._no_r: set[int] = set()  # source rows written without r="": numbered when read
        self._sorted = True
        self._by_number: dict[int, int] | None = None
        if ahead:
            chunks = read_ahead(chunks or [])
            try:
                self._scan(part, chunks)
            finally:
                chunks.close()  # (stops the worker when the scan stopped early)
        else:
            self._scan(part, chunks or [])
        p = self.p
        # a cell, with its column letters when its start tag has r="..." (group 1)
        self._cell_re = re.compile(rf'(<{p}c\b(?=[^>]*?\br="([A-Z]{{1,3}})\d)?[^>]*?(?:/>|>.*?</{p}c>))', re.S)
        self._parsed: tuple[int, str, dict[str, str]] | None = None  # the last row parsed, until a change
        self._splice_source: int | None = None  # the source row cell_spans found, for splice_cells
        # only in cell start tags: text such as r="A5" inside a value must never be renumbered
        self._renumber_re = re.compile(rf'(<{self.p}row\b[^>]*?\br="|<{self.p}c\b[^>]*?\br="[A-Z]{{1,3}})\d+(?=")')
        self._over = WrittenRows()  # rows written, by current number
        self._taken: set[int] = set()  # source rows replaced by a row of _over
        self._maps: list[RowMap] = []  # row moves, in order, still to apply to source rows
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
        if info.file_size <= spool.SPOOL_IN_MEMORY:
            return cls(part, pkg.read(part))
        return cls(part, chunks=pkg.stream(part), size_hint=info.file_size, ahead=True)

    def written_size(self) -> int:
        """About how many bytes of rows this sheet wrote (a sheet that grew from a small part is deflated as a large one)."""
        return self._over.size

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
        after_tag = len(open_tag) + 4  # where a number written first in a row's tag starts: <row r="N"
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
                        # <row r="N": the number read where it is (what the regular expression finds first there)
                        at = j + after_tag
                        q = buf.find(b'"', at, tag_end)
                        if q > at and buf.startswith(b' r="', at - 4) and buf[at:q].isdigit():
                            number = int(buf[at:q])
                        else:
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
            number = m.moves.get(number, number)
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
                row = self._renumber(row, new)
                number = new
            if "<f" in row:
                row = m.formulas(row)
        return row

    def _renumber(self, row: str, number: int) -> str:
        """Row XML numbered ``number`` (its row tag and its cells' references). Split and joined rather than
        substituted: a template naming a different number per row is parsed anew each time (re caches 512)."""
        parts = self._renumber_re.split(row)  # [text, tag up to the number, text, ...]: the old numbers dropped
        n = str(number)
        parts[1::2] = [tag + n for tag in parts[1::2]]
        return "".join(parts)

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
                yield number, self._over[number] if text else None
            else:
                for i in payload:
                    yield self._current(self._rn[i]), (self._source_text(i) if text else None)  # type: ignore[misc]

    # -- reading
    def cells(self, r: int) -> dict[str, CellXml]:
        """The cells of row r by column letter."""
        return {col: CellXml(col, xml) for col, xml in self.raw_cells(r).items()}

    def raw_cells(self, r: int) -> dict[str, str]:
        """The cells of row r as XML by column letter (do not change the dict: the next call may share it)."""
        return self._row(r)[1]

    def _row(self, r: int) -> tuple[str | None, dict[str, str]]:
        if self._parsed is not None and self._parsed[0] == r:
            return self._parsed[1], self._parsed[2]
        row = self.row_text(r)
        if not row or row.endswith("/>") and row.count("<") == 1:
            return row, {}
        out = _split_cells(row, self.p)
        if out is not None:
            self._parsed = (r, row, out)
            return row, out
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
        if "spans" in tag:
            tag = _SPANS.sub("", tag)  # spans is an optional hint; ours could be wrong
        if tag.endswith("/>"):
            tag = tag[:-2].rstrip() + ">"
        if not ordered:  # a new cell is most often the row's last (a new row's cells come in order): no sort then
            ordered = _in_column_order(current)
        body = "".join(current.values() if ordered else (current[c] for c in sorted(current, key=column_order)))
        if not body and row_attrs is None and existing is None:
            return
        if r not in self._over:
            i = self._source_of(r)
            if i is not None:
                self._taken.add(i)
        self._over[r] = f"{tag}{body}</{self.p}row>"
        self._parsed = None
        self.changed = True

    def cell_spans(self, r: int, cols: Iterable[str]) -> tuple[str, dict[str, tuple[int, int]]] | None:
        """Row r's XML and where each cell of ``cols`` lies in it (start, end), found by its start tag alone:
        an update of a few cells need not split a row of twenty. A missing cell is an empty span where it goes:
        before </row> right of the row's last cell, else before the first cell right of it. None when a cell is
        written without r="" first or twice, or the row is not written as crm-sheets, Excel and LibreOffice write
        it (put_cells handles those rows)."""
        if r in self._over:
            row = self._over[r]
            self._splice_source = None
        else:
            i = self._splice_source = self._source_of(r)  # for splice_cells: looked up once
            row = None if i is None else self._source_text(i)
        if not row:
            return None
        p = self.p
        close = f"</{p}c>"
        found: dict[str, tuple[int, int]] = {}
        last: tuple[int, str, tuple[int, str]] | None = None  # the row's last cell (its end, column and order), looked
        # up when a cell is missing
        starts: list[tuple[int, tuple[int, str]]] | None = None  # where each cell starts, when one goes between
        for col in cols:
            # a cell of the column is looked for first: most cells a first run adds (a lead's score, grade and
            # reason) are in no column of their row yet, and one look at the row says so
            head = f'<{p}c r="{col}'
            h = row.find(head)
            key = f"{head}{r}\""  # the quote ends the reference: B1 never finds B12
            a = -1 if h < 0 else row.find(key, h)
            if a < 0:
                if h >= 0 and _numbered_elsewhere(row, head, h):
                    return None  # a cell of this column numbered for another row: put_cells writes over it
                if last is None:
                    end = len(row) - len(f"</{p}row>")
                    if not row.endswith(f"</{p}row>"):
                        return None
                    k = row.rfind(f'<{p}c r="', 0, end)
                    if k < 0:
                        return None
                    ref = row[k + len(p) + 6: row.find('"', k + len(p) + 6)]
                    last_col = ref.rstrip("0123456789")
                    if ref[len(last_col):] != str(r) or not last_col.isalpha():
                        return None
                    j = row.find(">", k)
                    if (j + 1 if row[j - 1] == "/" else row.find(close, j) + len(close)) != end:
                        return None  # something after the last cell (white space, extLst): not a plain row
                    last = (end, last_col, column_order(last_col))
                if column_order(col) <= last[2]:
                    # a new cell between others: before the first cell right of it (cells in column order, each
                    # with r="" first, or put_cells, which sorts them, writes another row)
                    if starts is None:
                        starts = [(m.start(), column_order(m.group(1))) for m in re.finditer(
                            rf'<{p}c r="([A-Z]{{1,3}})\d+"', row)]
                        if len(starts) != row.count(f"<{p}c ") or f"<{p}c>" in row or f"<{p}c/>" in row \
                                or any(starts[k][1] >= starts[k + 1][1] for k in range(len(starts) - 1)):
                            return None
                    at = column_order(col)
                    a = next(a for a, c in starts if c > at)
                    found[col] = (a, a)
                    continue
                found[col] = (last[0], last[0])
                continue
            j = row.find(">", a + len(key))
            if j < 0:
                return None
            if row[j - 1] == "/":
                b = j + 1
            else:  # text holds no "<" (XML escapes it): the first </c> closes this cell
                b = row.find(close, j)
                if b < 0:
                    return None
                b += len(close)
            if row.find(key, b) >= 0:
                return None  # the same reference twice (a hand-made file): the last one wins in put_cells
            found[col] = (a, b)
        return row, found

    def splice_cells(self, r: int, row: str, spans: dict[str, tuple[int, int]], cells: dict[str, str | None]) -> None:
        """put_cells(r, cells) for cells found by cell_spans(r, ...) in ``row``: each replaced in place (None or ""
        removes it) or added after the last, the rest of the row copied as it is; the same row put_cells writes
        for a row of plain cells."""
        tag_end = row.index(">") + 1
        tag = row[:tag_end]
        if "spans" in tag:
            tag = _SPANS.sub("", tag)  # spans is an optional hint; ours could be wrong
        if len(spans) == 1:
            [(col, (a, b))] = spans.items()
            text = f"{tag}{row[tag_end:a]}{cells[col] or ''}{row[b:]}"
        else:
            pieces = [tag]
            pos = tag_end
            # in the order of the places; cells added at one place in column order ("Z" before "AA")
            for a, b, _, col in sorted([(a, b, len(col), col) for col, (a, b) in spans.items()]):
                pieces.append(row[pos:a])
                pieces.append(cells[col] or "")
                pos = b
            pieces.append(row[pos:])
            text = "".join(pieces)
        i = self._splice_source
        if i is not None and r not in self._over:
            self._taken.add(i)
        self._over[r] = text
        self._parsed = None
        self.changed = True

    def append_row(self, r: int, cells: dict[str, str | None], row_attrs: str) -> None:
        """put_cells(r, cells, row_attrs) for a row that does not exist yet (past ``max_row()``, not written):
        the same row, without looking for one to keep."""
        body = {col: x for col, x in cells.items() if x}
        text = "".join(body.values() if _in_column_order(body) else (body[c] for c in sorted(body, key=column_order)))
        self.append_row_xml(r, text, row_attrs)

    def append_rows_xml(self, rows: list[tuple[int, str]], row_attrs: str) -> None:
        """append_row_xml of each (row, cells' XML) of ``rows``, in ascending order, in one go."""
        tag = f'<{self.p}row r="{{}}"{row_attrs}>'
        if "spans" in tag:
            tag = _SPANS.sub("", tag)
        if tag.endswith("/>"):
            tag = tag[:-2].rstrip() + ">"
        head, _, tail = tag.partition("{}")
        close = f"</{self.p}row>"
        self._over.extend([(r, f"{head}{r}{tail}{body}{close}") for r, body in rows])
        self._parsed = None
        self.changed = True

    def append_row_xml(self, r: int, body: str, row_attrs: str) -> None:
        """append_row with the cells given as their XML, in column order already."""
        tag = f'<{self.p}row r="{r}"{row_attrs}>'
        if "spans" in tag:
            tag = _SPANS.sub("", tag)
        if tag.endswith("/>"):
            tag = tag[:-2].rstrip() + ">"
        self._over[r] = f"{tag}{body}</{self.p}row>"
        self._parsed = None
        self.changed = True

    def move_rows(self, moves: "dict[int, int | None] | Removal") -> None:
        """Renumber rows (old -> new; None removes the row) and the references formulas make to them."""
        if not moves:
            return
        remap = RowMap(moves)
        self._parsed = None
        over, self._over = self._over, WrittenRows()
        for r, row in over.items():
            new = moves.get(r, r)
            if new is None:
                continue
            if new != r:
                row = self._renumber(row, new)
            if "<f" in row:
                row = remap.formulas(row)
            self._over[new] = row
        over.close()
        if len(self._taken) < len(self._rn):
            self._maps.append(remap)
        self.tail = remap.tail_refs(self.tail, self.p)
        self.changed = True

    # -- output
    def _plan(self) -> Iterator[tuple[str, int, Any]]:
        """The rows in order: ("over", number, None) for rows written (their XML is the caller's to fetch), ("source", number, [indexes]) for runs
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
            rows.update((n, ("over", None)) for n in over)
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
                yield "over", over[oi], None
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
            yield "over", n, None

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
        raw_run = self._over.raw_run
        over: list[int] = []  # rows written, read back a stretch at a time (rows of ~1-4 KB: about a block)
        stretch = max(1, block >> 12)
        for kind, number, payload in self._plan():
            if kind == "over":
                over.append(number)
                if len(over) >= stretch:
                    out.append(raw_run(over))
                    size += len(out[-1])
                    over = []
            else:
                if over:
                    out.append(raw_run(over))
                    size += len(out[-1])
                    over = []
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
        if over:
            out.append(raw_run(over))
        if out:
            yield b"".join(out)
        yield self.tail.encode("utf-8")

    def to_bytes(self) -> bytes:
        return b"".join(self.chunks())

    def close(self) -> None:
        self._spool.close()
        self._over.close()

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
