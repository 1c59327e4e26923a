"""The .xlsx zip package: opened safely (zip-bomb and XML-entity guards before anything is parsed),
read as parts (sheets, rels, tables, content types, defined names), and copied member by member
into a new zip with untouched members' compressed bytes carried over as they were.
"""
from __future__ import annotations

import io
import posixpath
import re
import struct
import threading
import weakref
import zlib
from xml.parsers import expat
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator
from xml.etree.ElementTree import Element, ParseError

import zipfile

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from crm_sheets.errors import DamagedWorkbook, NotAWorkbook, UnsafeWorkbook
from crm_sheets.store.xlsx.background import write_threads
from crm_sheets.store.xlsx.deflate import LARGE_PART_LEVEL, LARGE_PART_SIZE, compressor  # noqa: F401  (parts.py imports them from here)

# Limits in the spirit of Apache POI's ZipSecureFile.
MAX_ENTRIES = 1000
MAX_INFLATE_RATIO = 100  # uncompressed / compressed, checked once an entry is past GRACE_SIZE
GRACE_SIZE = 100 * 1024
MAX_PART_SIZE = 512 * 1024 * 1024
MAX_TOTAL_SIZE = 2 * 1024 * 1024 * 1024

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
NS_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
REL_WORKSHEET = NS_REL + "/worksheet"
REL_TABLE = NS_REL + "/table"
REL_DRAWING = NS_REL + "/drawing"
REL_CHART = NS_REL + "/chart"
REL_HYPERLINK = NS_REL + "/hyperlink"
REL_CALC_CHAIN = NS_REL + "/calcChain"
CT_WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_DRAWING = "application/vnd.openxmlformats-officedocument.drawing+xml"
CT_CHART = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"


@dataclass(frozen=True)
class SheetRef:
    name: str
    sheet_id: int
    rid: str
    state: str  # visible, hidden, veryHidden
    part: str  # e.g. xl/worksheets/sheet1.xml (empty when the rel is missing)


@dataclass(frozen=True)
class Rel:
    id: str
    type: str
    target: str  # resolved part path inside the zip, or the URL when external
    external: bool = False


@dataclass(frozen=True)
class TablePart:
    part: str
    rid: str
    name: str
    display_name: str
    ref: str
    header_rows: int = 1
    totals_rows: int = 0


@dataclass(frozen=True)
class DefinedName:
    name: str
    value: str
    local_sheet_id: int | None = None
    hidden: bool = False


@dataclass
class ContentTypes:
    defaults: dict[str, str] = field(default_factory=dict)  # extension -> type
    overrides: dict[str, str] = field(default_factory=dict)  # part path (no leading /) -> type

    def type_of(self, part: str) -> str | None:
        return self.overrides.get(part) or self.defaults.get(part.rsplit(".", 1)[-1].lower())


# What zipfile raises for a damaged package: bad headers, CRC, declared sizes, a compression method or
# zip version it does not know (NotImplementedError), an encrypted member (RuntimeError).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError,
               struct.error, OverflowError)


def prefixed(xml: str, prefix: str) -> str:
    """Elements of ``xml`` with the namespace prefix a part uses for SpreadsheetML ('x:'), or as they are."""
    if not prefix:
        return xml
    return re.sub(r"<(/?)(\w+)", lambda m: f"<{m.group(1)}{prefix}{m.group(2)}", xml)


def parse_xml(data: bytes, where: str) -> Element:
    """Parse one XML part with DTDs and entities refused (billion laughs, XXE)."""
    try:
        return safe_et.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise UnsafeWorkbook(
            f"{where}: the XML declares a DTD or entities ({type(exc).__name__})",
            hint="a workbook saved by Excel or LibreOffice never does; the file was refused unread",
        ) from None
    except ParseError as exc:
        raise NotAWorkbook(f"{where}: not well-formed XML ({exc})", hint="the workbook is damaged; restore a backup") from None


def refuse_dtd(data: bytes, where: str) -> None:
    """For parts we edit as text without parsing a tree: a DTD can only sit in the prolog, before the root."""
    head = data[:4096]
    root = head.find(b"<", head.find(b"?>") + 1 if head.startswith(b"<?") else 0)
    while root != -1 and head[root:root + 4] == b"<!--":
        end = head.find(b"-->", root)
        root = head.find(b"<", end + 3) if end != -1 else -1
    if root != -1 and head[root:root + 2] == b"<!":
        raise UnsafeWorkbook(f"{where}: the XML declares a DTD or entities", hint="the file was refused unread")


def resolve(base_part: str, target: str) -> str:
    """A relationship target relative to its source part -> the part path inside the zip."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base_part), target))


def rels_path(part: str) -> str:
    d, name = posixpath.split(part)
    return posixpath.join(d, "_rels", name + ".rels")


def relative(base_part: str, target_part: str) -> str:
    return posixpath.relpath(target_part, posixpath.dirname(base_part) or ".")


class Package:
    """A workbook opened for reading; parts are read on demand, XML always through defusedxml."""

    def __init__(self, path: Path, zf: zipfile.ZipFile):
        self.path = path
        self.zip = zf
        self.infos = {i.filename: i for i in zf.infolist()}
        wb = self.xml("xl/workbook.xml")
        self.content_types = self._content_types()
        self.workbook_rels = self.rels("xl/workbook.xml")
        by_id = {r.id: r for r in self.workbook_rels}
        self.sheets: list[SheetRef] = []
        for s in wb.iter(f"{{{NS_MAIN}}}sheet"):
            rid = s.get(f"{{{NS_REL}}}id", "")
            rel = by_id.get(rid)
            self.sheets.append(
                SheetRef(s.get("name", ""), int(s.get("sheetId", "0") or 0), rid, s.get("state", "visible"),
                         rel.target if rel else "")
            )
        self.defined_names = [
            DefinedName(d.get("name", ""), d.text or "",
                        int(d.get("localSheetId")) if d.get("localSheetId") is not None else None,
                        d.get("hidden") in ("1", "true"))
            for d in wb.iter(f"{{{NS_MAIN}}}definedName")
        ]
        pr = wb.find(f"{{{NS_MAIN}}}workbookPr")
        self.date1904 = pr is not None and pr.get("date1904") in ("1", "true")

    # -- context manager
    def __enter__(self) -> "Package":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.zip.close()

    # -- parts
    def has(self, part: str) -> bool:
        return part in self.infos

    def read(self, part: str) -> bytes:
        try:
            return self.zip.read(self.infos[part])
        except KeyError:
            raise NotAWorkbook(f"{self.path}: part {part} is missing", hint="the workbook is damaged; restore a backup") from None
        except _ZIP_ERRORS as exc:
            raise DamagedWorkbook(f"{self.path}: part {part} cannot be read ({one_line(exc)})", hint=DAMAGED_HINT) from None

    def stream(self, part: str, size: int = 1 << 20) -> Iterator[bytes]:
        """A part's bytes, decompressed piece by piece (for worksheets too large to hold whole)."""
        if part not in self.infos:
            self.read(part)  # the "part is missing" error
        try:
            with self.zip.open(self.infos[part]) as f:
                while True:
                    chunk = f.read(size)
                    if not chunk:
                        return
                    yield chunk
        except _ZIP_ERRORS as exc:
            raise DamagedWorkbook(f"{self.path}: part {part} cannot be read ({one_line(exc)})", hint=DAMAGED_HINT) from None

    def xml(self, part: str) -> Element:
        return parse_xml(self.read(part), f"{self.path.name}:{part}")

    def rels(self, part: str) -> list[Rel]:
        rp = rels_path(part)
        if rp not in self.infos:
            return []
        out = []
        for r in self.xml(rp).iter(f"{{{NS_PKG_REL}}}Relationship"):
            external = r.get("TargetMode") == "External"
            target = r.get("Target", "")
            out.append(Rel(r.get("Id", ""), r.get("Type", ""), target if external else resolve(part, target), external))
        return out

    def _content_types(self) -> ContentTypes:
        ct = ContentTypes()
        root = self.xml("[Content_Types].xml") if self.has("[Content_Types].xml") else None
        if root is None:
            return ct
        for d in root.iter(f"{{{NS_CT}}}Default"):
            ct.defaults[d.get("Extension", "").lower()] = d.get("ContentType", "")
        for o in root.iter(f"{{{NS_CT}}}Override"):
            ct.overrides[o.get("PartName", "").lstrip("/")] = o.get("ContentType", "")
        return ct

    # -- sheets and tables
    def sheet(self, name: str) -> SheetRef | None:
        for s in self.sheets:
            if s.name == name:
                return s
        folded = name.casefold()  # Excel sheet names are case-insensitive
        return next((s for s in self.sheets if s.name.casefold() == folded), None)

    def tables(self, sheet: SheetRef) -> list[TablePart]:
        out = []
        for rel in self.rels(sheet.part):
            if rel.type != REL_TABLE or rel.external or not self.has(rel.target):
                continue
            t = self.xml(rel.target)
            out.append(TablePart(rel.target, rel.id, t.get("name", ""), t.get("displayName", ""), t.get("ref", ""),
                                 int(t.get("headerRowCount", "1")), int(t.get("totalsRowCount", "0") or 0)))
        return out


def open_package(path: str | Path) -> Package:
    """Open a workbook after checking it is a zip, is a workbook and is not built to hurt the reader."""
    path = Path(path)
    if not path.is_file():
        raise NotAWorkbook(f"{path}: no such file", hint="check the path")
    with open(path, "rb") as f:
        magic = f.read(8)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise NotAWorkbook(f"{path}: this is a password-protected or old-format (.xls) workbook",
                           hint="save it from Excel as an .xlsx workbook without a password")
    try:
        zf = zipfile.ZipFile(path)
    except _ZIP_ERRORS as exc:
        raise NotAWorkbook(f"{path}: not an .xlsx workbook (not a zip package: {one_line(exc)})",
                           hint="open it in Excel or LibreOffice and save it as .xlsx") from None
    try:
        check_zip(zf, path)
        if "xl/workbook.xml" not in {i.filename for i in zf.infolist()}:
            raise NotAWorkbook(f"{path}: a zip file but not an .xlsx workbook (no xl/workbook.xml)",
                               hint="open it in Excel or LibreOffice and save it as .xlsx")
        return Package(path, zf)
    except BaseException:
        zf.close()
        raise


def check_zip(zf: zipfile.ZipFile, path: Path) -> None:
    """Refuse zip bombs from the central directory alone (Python never inflates past a declared size)."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise UnsafeWorkbook(f"{path}: the package has {len(infos)} parts (more than {MAX_ENTRIES})",
                             hint="a workbook never needs that many; the file was refused unread")
    seen: set[str] = set()
    total = 0
    for i in infos:
        if i.filename in seen:
            raise UnsafeWorkbook(f"{path}: part {i.filename} appears twice in the package",
                                 hint="the file was refused unread")
        seen.add(i.filename)
        if i.flag_bits & 0x1:
            raise NotAWorkbook(f"{path}: part {i.filename} is encrypted", hint="save the workbook without a password")
        if i.file_size > MAX_PART_SIZE:
            raise UnsafeWorkbook(f"{path}: part {i.filename} inflates to {i.file_size:,} bytes (limit {MAX_PART_SIZE:,})",
                                 hint="the file was refused unread")
        if i.file_size > GRACE_SIZE and i.file_size > MAX_INFLATE_RATIO * max(i.compress_size, 1):
            raise UnsafeWorkbook(
                f"{path}: part {i.filename} inflates {i.file_size / max(i.compress_size, 1):,.0f} times "
                f"(limit {MAX_INFLATE_RATIO}); this looks like a zip bomb",
                hint="the file was refused unread",
            )
        total += i.file_size
    if total > MAX_TOTAL_SIZE:
        raise UnsafeWorkbook(f"{path}: the package inflates to {total:,} bytes (limit {MAX_TOTAL_SIZE:,})",
                             hint="the file was refused unread")


# ---------------------------------------------------------------------------------------------
# Saying why a part cannot be read

DAMAGED_HINT = ("the file is damaged: open it in Excel or LibreOffice and save it again, "
                "or restore a copy from the .crm-backups folder beside it")


def one_line(text: object, limit: int = 200) -> str:
    """An exception's text as one short line (the CLI prints every error on one line)."""
    line = re.sub(r"\s+", " ", str(text)).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def part_problem(path: str | Path, part: str) -> str | None:
    """Why one part of the package cannot be read, or None when it reads as well-formed XML.

    Only called once a reader has failed, to name the cause: the member is inflated and checked
    (CRC, declared size) and parsed as a stream, so a large sheet costs no more memory than a chunk.
    """
    parser = expat.ParserCreate()

    def no_dtd(*_args: object) -> None:
        raise ValueError("the XML declares a DTD")

    parser.StartDoctypeDeclHandler = no_dtd
    try:
        with zipfile.ZipFile(path) as zf, zf.open(part) as f:
            while True:
                chunk = f.read(1 << 20)
                parser.Parse(chunk, not chunk)
                if not chunk:
                    return None
    except KeyError:
        return "the part is missing"
    except expat.ExpatError as exc:
        return f"not well-formed XML: {expat.errors.messages[exc.code]} at line {exc.lineno}, column {exc.offset + 1}"
    except _ZIP_ERRORS as exc:
        return f"the zip member is broken ({one_line(exc)})"


def damaged(path: str | Path, part: str, what: str, exc: BaseException | None = None) -> DamagedWorkbook:
    """The error for a part that failed to read: names the file, the part and the cause."""
    why = part_problem(path, part) if part else None
    if why is None:
        why = one_line(f"{type(exc).__name__}: {exc}") if exc is not None else "it cannot be read"
    return DamagedWorkbook(f"{Path(path).name}: {what} ({part}) cannot be read: {why}", hint=DAMAGED_HINT)


def first_damaged_part(path: str | Path, parts: Iterable[str]) -> tuple[str, str] | None:
    """The first of these parts that cannot be read, with why (for a failure not tied to one part)."""
    for part in parts:
        why = part_problem(path, part)
        if why is not None:
            return part, why
    return None


# ---------------------------------------------------------------------------------------------
# Writing a copy


class Packed:
    """A large new part deflated as soon as it is made, as PackageWriter.write would deflate it: a regenerated sheet
    (a Data Issues sheet of ~170,000 findings at 100k leads is over 100 MB of XML) waits for the write as a tenth
    of its size. With a worker thread (background.write_threads) it is deflated there while this thread renders the
    next sheet; one part at a time, so at most one part's XML is held beside the one being made."""

    _last: "weakref.ref[Packed] | None" = None  # the part deflated last, perhaps still in its thread

    def __init__(self, data: bytes | list[bytes]):
        """``data``: the part, or its pieces in order (let go one by one as they are deflated)."""
        pieces = data if isinstance(data, list) else [data]
        self.size = sum(map(len, pieces))
        self._packed = b""
        self._crc = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        last = Packed._last() if Packed._last is not None else None
        if last is not None:
            last.wait()
        if write_threads():
            self._thread = threading.Thread(target=self._deflate, args=(pieces,), name="crm-write-deflate", daemon=True)
            self._thread.start()
            Packed._last = weakref.ref(self)
        else:
            self._deflate(pieces)

    def _deflate(self, pieces: list[bytes]) -> None:
        try:
            c = compressor(self.size > LARGE_PART_SIZE)
            out, crc = [], 0
            for k, piece in enumerate(pieces):
                out.append(c.compress(piece))
                crc = zlib.crc32(piece, crc)
                pieces[k] = b""
            out.append(c.flush())
            self._packed = b"".join(out)
            self._crc = crc & 0xFFFFFFFF
        except BaseException as exc:  # raised where the part is asked for
            self._error = exc

    def wait(self) -> None:
        """Until the part is deflated (its error raised here)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error

    @property
    def packed(self) -> bytes:
        self.wait()
        return self._packed

    @property
    def crc(self) -> int:
        self.wait()
        return self._crc

    def __len__(self) -> int:
        return self.size

    def data(self) -> bytes:
        return zlib.decompress(self.packed, -15)


class PackageWriter:
    """Writes a zip: members copied raw from a source zip (compressed bytes untouched) or new parts."""

    def __init__(self, out: IO[bytes]):
        self.out = out
        self.entries: list[tuple[zipfile.ZipInfo, int]] = []  # (info with sizes, local header offset)
        self.names: set[str] = set()

    def copy_raw(self, src: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        self.write_raw(info, self.read_raw(src, info))

    @staticmethod
    def read_raw(src: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        """A member's compressed bytes as they are in ``src``."""
        fp = src.fp
        assert fp is not None
        fp.seek(info.header_offset)
        header = fp.read(30)
        if header[:4] != b"PK\x03\x04":
            raise NotAWorkbook(f"part {info.filename}: bad local header", hint="the workbook is damaged; restore a backup")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        fp.seek(info.header_offset + 30 + name_len + extra_len)
        return fp.read(info.compress_size)

    def write_raw(self, info: zipfile.ZipInfo, data: bytes) -> None:
        """A member copied as its compressed bytes (read_raw's)."""
        self._write(info, data, info.compress_type, info.CRC, info.file_size)

    def write(self, info: zipfile.ZipInfo, data: bytes) -> None:
        """A new or rewritten part, compressed like the original (deflate unless it was stored)."""
        method = zipfile.ZIP_STORED if info.compress_type == zipfile.ZIP_STORED else zipfile.ZIP_DEFLATED
        if method == zipfile.ZIP_DEFLATED:
            c = compressor(len(data) > LARGE_PART_SIZE)
            packed = c.compress(data) + c.flush()
        else:
            packed = data
        self._write(info, packed, method, zlib.crc32(data) & 0xFFFFFFFF, len(data))

    def write_packed(self, info: zipfile.ZipInfo, part: "Packed") -> None:
        """A part compressed already (Packed), as write() would have compressed it."""
        self._write(info, part.packed, zipfile.ZIP_DEFLATED, part.crc, part.size)

    def write_stream(self, info: zipfile.ZipInfo, chunks: Iterable[bytes], large: bool = False) -> None:
        """A rewritten part given as a stream of bytes: compressed as it comes, never held whole (``large``: deflated
        as a large part, see deflate.py).

        The local header is written first with zero sizes and patched once the sizes are known;
        an output that cannot seek gets the compressed bytes buffered instead.
        """
        method = zipfile.ZIP_STORED if info.compress_type == zipfile.ZIP_STORED else zipfile.ZIP_DEFLATED
        seekable = self.out.seekable()
        offset = self.out.tell()
        if seekable:
            self._write(info, b"", method, 0, 0)
        sink = self.out if seekable else io.BytesIO()
        start = sink.tell()
        c = compressor(large) if method == zipfile.ZIP_DEFLATED else None
        crc = size = 0
        for chunk in chunks:
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
            sink.write(c.compress(chunk) if c else chunk)
        if c:
            sink.write(c.flush())
        if not seekable:
            self._write(info, sink.getvalue(), method, crc, size)  # type: ignore[attr-defined]
            return
        end = self.out.tell()
        if end > 0xFFFFFFFF or size > 0xFFFFFFFF:
            raise ValueError("workbook too large for a zip without zip64")
        out, _ = self.entries[-1]
        out.CRC, out.compress_size, out.file_size = crc, end - start, size
        self.out.seek(offset + 14)  # crc-32, compressed size, uncompressed size of the local header
        self.out.write(struct.pack("<LLL", crc, end - start, size))
        self.out.seek(end)

    def _write(self, info: zipfile.ZipInfo, packed: bytes, method: int, crc: int, size: int) -> None:
        if info.filename in self.names:
            raise ValueError(f"part {info.filename} written twice")
        self.names.add(info.filename)
        out = zipfile.ZipInfo(info.filename, info.date_time)
        out.compress_type = method
        out.CRC = crc
        out.file_size = size
        out.compress_size = len(packed)
        out.external_attr = info.external_attr
        out.internal_attr = info.internal_attr
        out.create_system = info.create_system
        out.comment = info.comment
        # bit 3 (data descriptor) is dropped: sizes are known and written in the local header
        out.flag_bits = (info.flag_bits & 0x0806) | (0x800 if _needs_utf8(info.filename) else 0)
        offset = self.out.tell()
        if offset > 0xFFFFFFFF or size > 0xFFFFFFFF or len(packed) > 0xFFFFFFFF:
            raise ValueError("workbook too large for a zip without zip64")
        name = info.filename.encode("utf-8")
        dosdate = (out.date_time[0] - 1980) << 9 | out.date_time[1] << 5 | out.date_time[2]
        dostime = out.date_time[3] << 11 | out.date_time[4] << 5 | (out.date_time[5] // 2)
        self.out.write(struct.pack("<4sHHHHHLLLHH", b"PK\x03\x04", 20, out.flag_bits, method, dostime, dosdate,
                                   crc, len(packed), size, len(name), 0))
        self.out.write(name)
        self.out.write(packed)
        self.entries.append((out, offset))

    def close(self) -> None:
        start = self.out.tell()
        for info, offset in self.entries:
            name = info.filename.encode("utf-8")
            comment = info.comment or b""
            dosdate = (info.date_time[0] - 1980) << 9 | info.date_time[1] << 5 | info.date_time[2]
            dostime = info.date_time[3] << 11 | info.date_time[4] << 5 | (info.date_time[5] // 2)
            self.out.write(struct.pack("<4sBBHHHHHLLLHHHHHLL", b"PK\x01\x02", 20, info.create_system, 20,
                                       info.flag_bits, info.compress_type, dostime, dosdate, info.CRC,
                                       info.compress_size, info.file_size, len(name), 0, len(comment), 0,
                                       info.internal_attr, info.external_attr, offset))
            self.out.write(name)
            self.out.write(comment)
        size = self.out.tell() - start
        n = len(self.entries)
        self.out.write(struct.pack("<4sHHHHLLH", b"PK\x05\x06", 0, 0, n, n, size, start, 0))


def _needs_utf8(name: str) -> bool:
    return not name.isascii()


def new_info(name: str, like: zipfile.ZipInfo | None = None) -> zipfile.ZipInfo:
    """ZipInfo for a rewritten part (keeps the original's date and attributes) or a new one."""
    if like is not None:
        return like
    info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def member_bytes(path: Path) -> dict[str, bytes]:
    """Every part of a zip, uncompressed (for tests and diagnostics)."""
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


__all__ = [
    "ContentTypes", "DefinedName", "Package", "PackageWriter", "Rel", "SheetRef", "TablePart",
    "check_zip", "member_bytes", "new_info", "open_package", "parse_xml", "refuse_dtd", "relative",
    "rels_path", "resolve",
]
