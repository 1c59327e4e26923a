"""Where a SheetEdit keeps bytes it does not hold as Python objects: the decompressed worksheet (Spool, read
back by byte range) and the rows it wrote (WrittenRows, text up to a budget, then a temporary file), so a
100k-lead sheet is edited without holding the part or its ~400 MB of rewritten rows in memory.
"""
from __future__ import annotations

import io
import tempfile
from typing import IO, Iterator

SPOOL_IN_MEMORY = 16 * 1024 * 1024  # a worksheet part larger than this is spooled to a temporary file
# Rows (~1-2 KB each) are written and read back one by one, mostly in order: a buffer of many rows makes a
# system call per ~40 rows instead of one per ~5 (8 KB), and a read out of order copies no more than this.
FILE_BUFFER = 64 * 1024


class Spool:
    """The decompressed worksheet, read back by byte range: in memory when small, else in a temporary file."""

    def __init__(self, data: bytes | None = None, size_hint: int = 0):
        self.data = data
        self.file: IO[bytes] | None = None
        self.on_disk = data is None and size_hint > SPOOL_IN_MEMORY
        if data is None:
            self.file = tempfile.TemporaryFile(buffering=FILE_BUFFER) if self.on_disk else io.BytesIO()

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


class WrittenRows:
    """The rows a SheetEdit wrote, by current number, as a mapping of row XML: kept as text up to a budget,
    then as UTF-8 in a temporary file with only their offsets in memory. A first run at 100k leads rewrites or
    appends ~400,000 rows (~400 MB of text), which were all held until the part was streamed out."""

    def __init__(self, budget: int | None = None):
        self._text: dict[int, str] = {}
        self._at: dict[int, tuple[int, int]] = {}  # row -> (start, end) in the file
        self._file: IO[bytes] | None = None
        self._budget = SPOOL_IN_MEMORY if budget is None else budget
        self._held = 0  # characters held as text
        self._end = 0  # end of the file's data
        self._pos = 0  # where the file is positioned: appends seek only after a read moved it

    def __contains__(self, r: object) -> bool:
        return r in self._text or r in self._at

    def __getitem__(self, r: int) -> str:
        text = self._text.get(r)
        if text is not None:
            return text
        start, end = self._at[r]
        assert self._file is not None
        self._file.seek(start)
        self._pos = end
        return self._file.read(end - start).decode("utf-8")

    def raw(self, r: int) -> bytes:
        """Row r as UTF-8: a row kept in the file is not decoded to be encoded again when the part is written."""
        text = self._text.get(r)
        if text is not None:
            return text.encode("utf-8")
        start, end = self._at[r]
        assert self._file is not None
        self._file.seek(start)
        self._pos = end
        return self._file.read(end - start)

    def __setitem__(self, r: int, text: str) -> None:
        old = self._text.pop(r, None)
        if old is not None:
            self._held -= len(old)
        self._at.pop(r, None)  # its old bytes stay in the file, unused
        if self._held + len(text) <= self._budget:
            self._text[r] = text
            self._held += len(text)
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(buffering=FILE_BUFFER)
        data = text.encode("utf-8")
        start = self._end
        if self._pos != start:  # a seek flushes the write buffer: one per row written made a system call each
            self._file.seek(start)
        self._file.write(data)
        self._end = self._pos = start + len(data)
        self._at[r] = (start, self._end)

    def __iter__(self) -> Iterator[int]:
        yield from self._text
        yield from self._at

    def __len__(self) -> int:
        return len(self._text) + len(self._at)

    def __bool__(self) -> bool:
        return bool(self._text) or bool(self._at)

    def items(self) -> Iterator[tuple[int, str]]:
        for r in list(self):
            yield r, self[r]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
