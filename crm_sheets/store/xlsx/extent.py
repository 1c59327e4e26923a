"""How far a sheet's cells really reach, found before any grid is allocated.

The fast reader builds one dense grid from the first to the last cell holding a value, so a single
stray cell at XFD1048576 asks for 17 billion cells. This module scans a sheet's XML as a stream (the
<dimension> element can lie) for an upper bound of its used range; a sheet too spread out for its
number of cells is re-read from a copy without its far-away cells, which are named, never read as records.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from crm_sheets.model.tables import column_letter
from crm_sheets.store.xlsx import deflate

# A grid may always hold this many cells (≈130 MB in the reader), or this many times the cells
# the sheet really has; beyond that the far-away cells are left out, and a sheet still over MAX_GRID
# (≈650 MB in the reader) is refused. 300,000 leads × 30 columns is 9 million cells.
MIN_GRID = 4_000_000
DENSITY = 4
MAX_GRID = 20_000_000
# A row more than ROW_SLACK rows (plus twice the rows above it) below the rows above it, or a column
# as far right of the columns before it, is not part of the sheet's table.
ROW_SLACK = 1000
COL_SLACK = 64
MAX_COL = 16_384
MAX_ROW = 1_048_576  # the sheet's limits (the fast reader places a cell beyond them too: extents are not capped)
STRAYS_SHOWN = 5

_CHUNK = 1 << 20
_CARRY_LIMIT = 1 << 16  # a tag longer than this is not a row or a cell tag we need to see whole


def _cut_at_last_tag(data: bytes) -> tuple[bytes, bytes]:
    """``data`` cut before its last tag, which the next chunk may end: (what can be scanned now, what is carried)."""
    cut = _last_tag(data)
    return data[:cut], data[cut:]


def _last_tag(data: bytes) -> int:
    """Where ``data``'s last tag starts (the next chunk may end it), or its length for a tag longer than the carry
    limit or none."""
    cut = data.rfind(b"<")
    return len(data) if cut == -1 or len(data) - cut > _CARRY_LIMIT else cut
# A row tag with its r attribute when present; a cell tag with the letters of its reference. The
# namespace prefix (usually none) is written into the pattern: an optional prefix group would make
# the regex engine try it at every '<' of a 100 MB sheet. The attributes before r are matched with
# their quoted values: a value may hold '>' or ' r="A1"', which must neither hide nor fake the real
# r attribute (the fast reader reads attributes properly).
_ROOT = re.compile(rb'<([\w.-]+:)?worksheet\b')
_ATTRS_BEFORE_R = rb'(?:\s+(?!r\s*=)[\w:.-]+\s*=\s*(?:"[^"]*"|\'[^\']*\'))*'
# (no space needed after a quoted value: the fast reader reads <c r="A1"r="B2"> as a cell with two attributes r)
_ATTRS = rb'((?:(?:\s+|(?<=["\']))[\w:.-]+\s*=\s*(?:"[^"]*"|\'[^\']*\'))*)\s*'
_ATTR = re.compile(rb'([\w:.-]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
# Letters and digits of any length: the fast reader reads a reference of any length (its numbers wrap around at
# 2**32, so the value read here is never below the one it places the cell by).
_REF = re.compile(rb'\$?([A-Za-z]*)\$?(\d*)$')
_HAS_VALUE = re.compile(rb'<(?:[\w.-]+:)?(?:v|is|f)\b')
_SHEET_DATA = re.compile(rb'<(?:[\w.-]+:)?sheetData\b[^>]*?(?:/>|>)')
_SHEET_DATA_END = re.compile(rb'</(?:[\w.-]+:)?sheetData\s*>')
_ANY_PREFIX = rb'(?:[\w.-]+:)?'
# A cell or row tag with a namespace prefix, whatever it is (looked for as the rare ':', cheap), and every attribute r
# of a chunk, whatever its element: the fast reader reads <x:c> as a cell in any sheet and places a cell by its LAST
# attribute r (spaces around '=' or not).
_PREFIXED_TAG = re.compile(rb':(?:c|row)[\s/>]')
_ANY_R = re.compile(rb'(?<![\w.:-])r\s*=\s*["\']\$?([A-Za-z]*)\$?(\d*)')
# The rest of a cell tag of the usual shape after its r attribute: an s and a t attribute (each optional, in this
# order, as Excel, LibreOffice, openpyxl and this package write them) and the tag's end. A cell with any other
# attribute after its r, a second r among them, is of another shape. (Only single-character negations inside, which
# the regex engine runs as a tight loop: a tail with character classes or a repeated group cost twice the search.)
_USUAL_TAIL = rb'(?: s="[^"]*+"|)(?: t="[^"]*+"|)(?:>|/>| />)'


def _tag_patterns(prefix: bytes | None) -> tuple[re.Pattern, re.Pattern]:
    """(row, cell): a row tag with its row number, a cell tag with the letters of its first r, whatever the order of
    their attributes (the exact, slower look; see _quick_cells for the usual shape). ``prefix`` None: whatever the
    namespace prefix."""
    p = _ANY_PREFIX if prefix is None else re.escape(prefix)
    row = re.compile(rb'<' + p + rb'row(?=[\s/>])(?:' + _ATTRS_BEFORE_R + rb'\s+r\s*=\s*["\'](\d+))?')
    cell = re.compile(rb'<' + p + rb'c(?=[\s/>])(?:' + _ATTRS_BEFORE_R + rb'\s+r\s*=\s*["\']\$?([A-Za-z]{1,4}))?')
    return row, cell


@lru_cache(maxsize=256)
def _quick_cells(prefix: bytes, bound: int) -> re.Pattern:
    """Each cell tag's column letters when it has the usual shape (``<c r="AB12"``, r first, then at most an s and a
    t attribute: ``_USUAL_TAIL``), b'' for a cell of another shape: then the chunk is looked at exactly. The row of the
    reference must be at most ``bound``: the fast reader places a cell by its own reference, whatever the row element
    around it says (<row r="2"><c r="XFD1048576">). In one pass with the letters: a separate search cost as much
    again."""
    digits = str(bound).encode()
    upto = [rb"\d{1,%d}" % (len(digits) - 1)] if len(digits) > 1 else []  # fewer digits
    upto += [digits[:i] + b"[0-%c]" % (digits[i] - 1) + rb"\d{%d}" % (len(digits) - i - 1)
             for i in range(len(digits)) if digits[i] > ord("0")]  # as many digits, smaller
    upto.append(digits)
    return re.compile(rb'<' + re.escape(prefix) + rb'c(?: r="([A-Z]{1,3})(?:' + b"|".join(upto) + rb')"(?='
                      + _USUAL_TAIL + rb')|(?=[\s/>]))')


def _element_patterns() -> tuple[re.Pattern, re.Pattern]:
    """Whole row and cell elements (attributes, content), whatever their namespace prefix, for the slow path that
    rewrites a sheet: group 2 the attributes, 3 the content (1 the prefix)."""
    row = re.compile(rb'<(?P<p>' + _ANY_PREFIX + rb')row(?=[\s/>])' + _ATTRS + rb'(?:/>|>(.*?)</(?P=p)row\s*>)', re.S)
    cell = re.compile(rb'<(?P<p>' + _ANY_PREFIX + rb')c(?=[\s/>])' + _ATTRS + rb'(?:/>|>(.*?)</(?P=p)c\s*>)', re.S)
    return row, cell


def _r_attr(attrs: bytes | None) -> tuple[bytes, bytes] | None:
    """(column letters, row digits) of the r attribute among these attributes (the last, as the fast reader takes
    it), or None."""
    found = None
    for m in _ATTR.finditer(attrs or b""):
        if m.group(1) == b"r":
            ref = _REF.match(m.group(2) if m.group(2) is not None else m.group(3))
            found = (ref.group(1), ref.group(2)) if ref else (b"", b"")
    return found


@dataclass
class Extent:
    """An upper bound of a sheet's used range (1-based last row and column) and its number of cells."""

    rows: int = 0
    cols: int = 0
    cells: int = 0

    @property
    def grid(self) -> int:
        return self.rows * self.cols

    def too_spread(self) -> bool:
        return self.grid > min(MAX_GRID, max(MIN_GRID, DENSITY * self.cells))


@dataclass
class Trimmed:
    """A sheet's XML without its far-away cells, and what was left out."""

    xml: bytes
    last_row: int
    last_col: int
    strays: list[str] = field(default_factory=list)  # A1 references of left-out cells holding a value
    stray_count: int = 0


def column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def scan(chunks) -> Extent:
    """The extent of a sheet from its XML as a stream of byte chunks.

    Rows and cells without an ``r`` attribute follow the one before them, so each one can only push
    the bound one step further: the bound adds them up rather than placing them exactly.
    """
    ext = Extent()
    max_r = rowless = 0
    max_cell_row = 0  # the furthest row a cell's own reference names (when beyond the row elements')
    max_letters = b""
    cellless = 0
    carry = b""
    row_tag = None
    prefix = b""
    any_row, any_cell = _tag_patterns(None)
    for chunk in _with_end(chunks):
        data = carry + chunk if carry else chunk
        if row_tag is None:
            root = _ROOT.search(data[:1 << 16])
            prefix = root.group(1) or b"" if root else b""
            row_tag, _cell = _tag_patterns(prefix)
        data, carry = _cut_at_last_tag(data) if chunk else (data, b"")
        if not data:
            continue
        prefixed = _PREFIXED_TAG.search(data) is not None  # a tag with a prefix, the sheet's own or another
        for r in (any_row if prefixed else row_tag).findall(data):
            if r:
                max_r = max(max_r, int(r))
            else:
                rowless += 1
        # Row elements come before their cells, so in a sane sheet no cell names a row beyond those seen so far
        refs = _quick_cells(prefix, max(max_r + rowless, max_cell_row, 1)).findall(data)
        letters = set(refs)
        if b"" in letters or prefixed:
            # a cell of another shape (attributes before r or after it, a second r, quotes, no r, a row beyond, a
            # prefix): exactly, every attribute r of the chunk counting as a cell's
            refs = any_cell.findall(data)
            letters = set(refs)
            for found_letters, found_row in _ANY_R.findall(data):
                letters.add(found_letters)
                max_cell_row = max(max_cell_row, int(found_row or 0))
        ext.cells += len(refs)
        if b"" in letters:
            cellless += refs.count(b"")
            letters.discard(b"")
        if letters:
            top = max(letters, key=lambda x: (len(x), x.upper()))
            if (len(top), top.upper()) > (len(max_letters), max_letters.upper()):
                max_letters = top
    # not capped at the sheet's limits: the fast reader places a cell by its reference, beyond them too
    ext.rows = max(max_r + rowless, max_cell_row)
    ext.cols = column_number(max_letters) + cellless
    return ext


def _with_end(chunks):
    yield from chunks
    yield b""


def scan_part(path: str | Path, part: str, zf: zipfile.ZipFile | None = None) -> Extent:
    """The extent of one worksheet part of the package at ``path`` (zip errors propagate); ``zf``: the package
    opened already (its central directory is not read again for each sheet).

    The usual sheet is checked against the bound its <dimension> element gives (``bounded``: one search that finds
    nothing, on the part inflated straight from the package); any other is scanned (``scan``)."""
    if zf is None:
        with zipfile.ZipFile(path) as own:
            return scan_part(path, part, own)
    info = zf.getinfo(part)
    chunks = _inflated(zf, info)
    found = bounded(chunks) if chunks is not None else None
    if found is not None:
        return found
    with zf.open(part) as f:
        return scan(iter(lambda: f.read(_CHUNK), b""))


def _inflated(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes] | None:
    """The part's bytes in chunks of at most _CHUNK, inflated from its raw bytes in the package by ISA-L when it is
    installed (deflate.inflater: about 1.6 times faster than zipfile's zlib, and no CRC pass: the fast reader checks
    the part's CRC as it parses it); None for a part neither stored nor deflated, or encrypted. Never more bytes than
    the zip directory declares (as zipfile): a part that holds more ends in a chunk bound() takes for unusual."""
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    fp = zf.fp
    if fp is None:
        return None
    fp.seek(info.header_offset)
    header = fp.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    return _inflate(fp, start, info.compress_size, info.file_size, info.compress_type == zipfile.ZIP_STORED)


def _inflate(fp: IO[bytes], start: int, packed: int, size: int, stored: bool) -> Iterator[bytes]:
    at, end, total = start, start + packed, 0
    if stored:
        while at < end:
            fp.seek(at)  # the handle is this thread's, but not only this generator's between two chunks
            out = fp.read(min(_CHUNK, end - at))
            if not out:
                break
            at += len(out)
            total += len(out)
            yield out
        if total != size:
            yield _UNUSUAL
        return
    inflater = deflate.inflater()
    pending = b""
    while not inflater.eof:
        if not pending:
            if at >= end:
                break
            fp.seek(at)
            pending = fp.read(min(_CHUNK >> 2, end - at))
            if not pending:
                break
            at += len(pending)
        out = inflater.decompress(pending, _CHUNK)
        if not out and inflater.unconsumed_tail == pending and not inflater.eof:
            break  # no progress: a damaged stream, for zipfile and the parser to say so
        pending = inflater.unconsumed_tail
        total += len(out)
        if total > size:
            break
        if out:
            yield out
    if total != size or not inflater.eof:
        yield _UNUSUAL


# What ends an inflated part that is not what the zip directory declares (cut short, longer, damaged): a cell tag of
# another shape, so bound() gives up on it and the part is scanned as zipfile reads it.
_UNUSUAL = b"<c>"


_DIMENSION = re.compile(rb'<(?:[\w.-]+:)?dimension\s+ref\s*=\s*["\'](?:[A-Z]{1,3}\d{1,7}:)?([A-Z]{1,3})(\d{1,7})["\']')


def _at_most_number(bound: int) -> bytes:
    """A regex alternative matching the decimal numbers (digits only) not above ``bound`` (> 0). The alternatives
    with as many digits as ``bound`` come first: most numbers of a sheet have them, and a number of fewer digits
    tried first would backtrack digit by digit before they were."""
    digits = str(bound).encode()
    upto = [digits]
    upto += [digits[:i] + b"[0-%c]" % (digits[i] - 1) + rb"\d{%d}" % (len(digits) - i - 1)
             for i in range(len(digits)) if digits[i] > ord("0")]
    if len(digits) > 1:
        upto.append(rb"\d{1,%d}" % (len(digits) - 1))
    return b"(?:" + b"|".join(upto) + b")"


def _at_most_letters(bound: bytes) -> bytes:
    """A regex alternative matching the column letters (A-Z) not right of ``bound``."""
    upto = [rb"[A-Z]{1,%d}" % (len(bound) - 1)] if len(bound) > 1 else []
    upto += [bound[:i] + b"[A-%c]" % (bound[i] - 1) + rb"[A-Z]{%d}" % (len(bound) - i - 1)
             for i in range(len(bound)) if bound[i] > ord("A")]
    upto.append(bound)
    return b"(?:" + b"|".join(upto) + b")"


@lru_cache(maxsize=64)
def _outside(letters: bytes, rows: int) -> re.Pattern:
    """A cell tag that is not ``<c r="AB12"`` (r first, double quotes, then at most an s and a t attribute: see
    _USUAL_TAIL) with its letters up to ``letters`` and its row up to ``rows``. Row elements are not looked at (a
    search stopping at every '<' cost twice as much as one stopping at cells): the fast reader places a cell that has
    a reference by that reference, whatever the row element around it says, and a row element far below holding no
    cell, or cells with references inside, adds nothing to its grid; a cell without a reference is of another shape,
    found here."""
    # (the test for a tag, '<c' and not '<col', after the one for the usual shape: most cells stop at the first)
    return re.compile(rb'<c(?! r="' + _at_most_letters(letters) + _at_most_number(rows) + rb'"' + _USUAL_TAIL
                      + rb')(?=[\s/>])')


# A cell tag with a namespace prefix, whatever the prefix: the fast reader reads <x:c> as a cell in a sheet whose own
# elements have none. Looked for as the pair ':c' with numpy, twice as fast as a regex search for the rare ':' (a
# sheet whose elements have a prefix is scanned).
_COLON_C = int.from_bytes(b":c", "little")
_TAG_NAME_END = frozenset(b" \t\n\r/>")


def _prefixed_cell(data: bytes, start: int, end: int) -> bool:
    """Whether data[start:end] holds ':c' followed by the end of a tag name (the byte after may lie past ``end``)."""
    size = end - start
    for off in (0, 1):
        pairs = np.frombuffer(data, "<u2", max(0, (size - off) // 2), start + off)
        for i in np.flatnonzero(pairs == _COLON_C).tolist():
            at = start + off + 2 * i + 2
            if at >= len(data) or data[at] in _TAG_NAME_END:
                return True
    return False


def _outside_found(pattern: re.Pattern, data: bytes, start: int, end: int) -> bool:
    """Whether data[start:end] holds a cell tag outside the bound or of another shape, or any prefixed cell tag."""
    return pattern.search(data, start, end) is not None or _prefixed_cell(data, start, end)


def bounded(chunks) -> Extent | None:
    """The extent its <dimension> element says, when every cell tag of the sheet is of the usual shape inside it
    (``_outside`` finds none, and no cell tag has a namespace prefix) and the bound is not too spread for the
    cells counted; None otherwise (the caller then scans the sheet: a <dimension> may lie, or be missing). A tag cut
    by a chunk's end is carried into the next chunk, as ``scan`` does; one longer than the carry limit counts as
    outside. The cells are counted only for a bound over MIN_GRID (below it no count makes it too spread)."""
    carry = b""
    pattern: re.Pattern | None = None
    ext = Extent()
    count = False
    for chunk in _with_end(chunks):
        if pattern is None:
            data = carry + chunk if carry else chunk
            if chunk and len(data) < 1 << 16 and b"sheetData" not in data:
                carry = data  # the root and the <dimension> come before the cells: wait for them
                continue
            root = _ROOT.search(data[:1 << 16])
            dim = _DIMENSION.search(data[:1 << 16])
            if root is None or dim is None or root.group(1):
                return None
            ext.rows, ext.cols = int(dim.group(2)), column_number(dim.group(1))
            if ext.rows < 1 or ext.cols > MAX_COL or ext.rows > MAX_ROW:
                return None
            pattern = _outside(dim.group(1), ext.rows)
            count = ext.grid > MIN_GRID
            chunk, carry = data, b""
        # The tag the last chunk ended in is searched whole on its own: the carried part and this chunk up to its first
        # '<' (a tag ends before the next one starts); the chunk itself from there, not copied behind the carry.
        start = 0
        if carry:
            start = chunk.find(b"<")
            if start == -1 and chunk and len(carry) + len(chunk) <= _CARRY_LIMIT:
                carry += chunk  # the tag goes on in the next chunk
                continue
            start = len(chunk) if start == -1 else start
            head = carry + chunk[:start]
            if _outside_found(pattern, head, 0, len(head)):
                return None
            if count:
                ext.cells += head.count(b"<c ")
        cut = _last_tag(chunk) if chunk else len(chunk)  # searched up to there, not sliced (a copy of each chunk)
        cut = max(cut, start)
        carry = chunk[cut:]
        if cut == start:
            continue
        if _outside_found(pattern, chunk, start, cut):
            return None
        if count:
            ext.cells += chunk.count(b"<c ", start, cut)
    if pattern is None or (count and ext.too_spread()):
        return None
    return ext


def trim(xml: bytes, sheet: str) -> Trimmed:
    """The sheet's XML without the cells far below or far right of its table (see ROW_SLACK, COL_SLACK).

    Exact positions are needed here, so every row and cell is looked at: this is the slow path, taken
    only for a sheet whose extent is out of proportion to its cells.
    """
    head = _SHEET_DATA.search(xml)
    if head is None or xml[head.start(): head.end()].endswith(b"/>"):
        return Trimmed(xml, 0, 0)
    tail = _SHEET_DATA_END.search(xml, head.end())
    body_end = tail.start() if tail else len(xml)
    body = xml[head.end(): body_end]
    row_element, cell_element = _element_patterns()  # whatever their prefix: the fast reader reads <x:c> too

    # Pass 1: where each row and each cell holding a value is.
    rows: list[tuple[int, int, int, list[tuple[int, int, int, bool, int]]]] = []  # (row, start, end, cells)
    row_no = 0
    for m in row_element.finditer(body):
        r = _r_attr(m.group(2))
        row_no = int(r[1]) if r and r[1] else row_no + 1
        cells = []
        col = 0
        content = m.group(3) or b""
        for c in cell_element.finditer(content):
            ref = _r_attr(c.group(2))
            col = column_number(ref[0]) if ref and ref[0] else col + 1
            at = int(ref[1]) if ref and ref[1] else row_no  # the fast reader places a cell by its own reference
            cells.append((col, c.start(), c.end(), bool(c.group(3) and _HAS_VALUE.search(c.group(3))), at))
        rows.append((row_no, m.start(), m.end(), cells))

    valued_rows = sorted({at for _r, _s, _e, cells in rows for *_x, v, at in cells if v})
    last_row = _last_near(valued_rows, ROW_SLACK)
    valued_cols = sorted({c for r, _s, _e, cells in rows if r <= last_row for c, _a, _b, v, at in cells if v and at <= last_row})
    last_col = _last_near(valued_cols, COL_SLACK)

    # Pass 2: the same XML with the far rows and cells left out.
    out = [xml[: head.end()]]
    pos = 0
    strays: list[str] = []
    count = 0
    for row_no, start, end, cells in rows:
        out.append(body[pos:start])
        pos = end
        far = [c for c in cells if row_no > last_row or c[0] > last_col or c[4] > last_row]
        for col, *_x, valued, at in far:
            if valued:
                count += 1
                if len(strays) < STRAYS_SHOWN:
                    strays.append(f"{column_letter(col - 1)}{at}")
        if row_no > last_row:
            continue
        element = body[start:end]
        if far:
            m = row_element.match(element)
            content_at = m.start(3)
            kept = bytearray(element[:content_at])
            at = 0
            content = m.group(3)
            for col, cs, ce, _v, row_at in cells:
                kept += content[at:cs]
                if col <= last_col and row_at <= last_row:
                    kept += content[cs:ce]
                at = ce
            kept += element[content_at + at:]
            element = bytes(kept)
        out.append(element)
    out.append(body[pos:])
    out.append(xml[body_end:])
    return Trimmed(b"".join(out), last_row, last_col, strays, count)


def _last_near(numbers: list[int], slack: int) -> int:
    """The last of these sorted numbers that is not far beyond the ones before it: the largest n_k with
    n_k <= slack + 2k (k counting from 1), so blank rows inside a table are kept and a lone far cell is not."""
    last = 0
    for k, n in enumerate(numbers, start=1):
        if n <= slack + 2 * k:
            last = n
    return last


def trimmed_package(path: str | Path, part: str, xml: bytes) -> io.BytesIO:
    """A copy of the package in memory with one part replaced (every other member copied as it is)."""
    from crm_sheets.store.xlsx.package import PackageWriter, new_info

    buf = io.BytesIO()
    with zipfile.ZipFile(path) as zf:
        writer = PackageWriter(buf)
        for info in zf.infolist():
            if info.filename == part:
                writer.write(new_info(part, info), xml)
            else:
                writer.copy_raw(zf, info)
        writer.close()
    buf.seek(0)
    return buf


def read_part(path: str | Path, part: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(part)


__all__ = ["Extent", "Trimmed", "bounded", "scan", "scan_part", "trim", "trimmed_package", "read_part"]
