"""Where a SheetEdit keeps bytes it does not hold as Python objects: the decompressed worksheet (Spool, read
back by byte range) and the rows it wrote (WrittenRows, text up to a budget, then a temporary file), so a
100k-lead sheet is edited without holding the part or its ~400 MB of rewritten rows in memory.
"""
from __future__ import annotations

import io
import tempfile
from array import array
from bisect import bisect_left
from itertools import accumulate
from typing import IO, Iterable, Iterator

SPOOL_IN_MEMORY = 1024 * 1024  # a worksheet part larger than this is spooled to a temporary file
# The rows a sheet wrote held as text before they go to a temporary file (characters): written rows are read back
# once or twice (moved, streamed out), so the file costs little; at 16 MB a sheet they were most of the write's
# memory at 30k leads.
ROWS_IN_MEMORY = 256 * 1024
# Rows (~1-2 KB each) are written and read back one by one, mostly in order: a buffer of many rows makes a
# system call per ~40 rows instead of one per ~5 (8 KB), and a read out of order copies no more than this.
FILE_BUFFER = 64 * 1024
READ_WINDOW = 64 * 1024  # what Spool.read reads ahead of a row
READ_WINDOWS = 4  # windows WrittenRows._read keeps, one per stream of rows read back in order


class Spool:
    """The decompressed worksheet, read back by byte range: in memory when small, else in a temporary file."""

    def __init__(self, data: bytes | None = None, size_hint: int = 0):
        self.data = data
        self.file: IO[bytes] | None = None
        self.on_disk = data is None and size_hint > SPOOL_IN_MEMORY
        self._window: tuple[int, bytes] | None = None  # (offset, bytes) last read ahead from the file
        if data is None:
            self.file = tempfile.TemporaryFile(buffering=FILE_BUFFER) if self.on_disk else io.BytesIO()

    def append(self, chunk: bytes) -> None:
        if self.file is not None:
            self.file.write(chunk)

    def filled(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks``, each appended to the spool as it passes."""
        for chunk in chunks:
            self.append(chunk)
            yield chunk

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        assert self.file is not None
        w = self._window
        if w is not None and w[0] <= start and end <= w[0] + len(w[1]):
            return w[1][start - w[0]: end - w[0]]
        if end - start >= READ_WINDOW:
            self.file.seek(start)
            return self.file.read(end - start)
        # rows are mostly read one after another (a first run updates most rows of a sheet): a window of the file
        # read at once answers the next rows without a seek and a read each
        self.file.seek(start)
        data = self.file.read(READ_WINDOW)
        self._window = (start, data)
        return data[: end - start]

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class WrittenRows:
    """The rows a SheetEdit wrote, by current number, as a mapping of row XML: kept as text up to a small budget,
    then as UTF-8 in a temporary file with only their offsets in memory (three arrays while rows come in
    ascending order, as a first run writes them; a dict for the others). A first run at 100k leads rewrites or
    appends ~400,000 rows (~400 MB of text); held as text up to 16 MB a sheet with a dict of offsets, they were
    ~75 MB of the write's peak at 30k."""

    def __init__(self, budget: int | None = None):
        self._text: dict[int, str] = {}
        self._rn: array[int] = array("q")  # rows in the file, ascending
        self._st: array[int] = array("q")  # their start in the file (-1: written again since, elsewhere)
        self._en: array[int] = array("q")
        self._gone = 0  # entries of the arrays marked -1
        self._late: dict[int, tuple[int, int]] = {}  # rows in the file written out of ascending order
        self._file: IO[bytes] | None = None
        self._budget = min(SPOOL_IN_MEMORY, ROWS_IN_MEMORY) if budget is None else budget
        self._held = 0  # characters held as text
        self._end = 0  # end of the file's data
        self._pos = 0  # where the file is positioned: appends seek only after a read moved it
        self._windows: list[tuple[int, bytes]] = []  # (offset, bytes) read ahead by _read, oldest first

    def _index(self, r: int) -> int:
        """Where row r is in the arrays (-1: not there)."""
        rn = self._rn
        if not rn or r > rn[-1]:
            return -1
        i = bisect_left(rn, r)
        return i if i < len(rn) and rn[i] == r and self._st[i] >= 0 else -1

    def _span(self, r: int) -> tuple[int, int]:
        at = self._late.get(r)
        if at is not None:
            return at
        i = self._index(r)
        if i < 0:
            raise KeyError(r)
        return self._st[i], self._en[i]

    def __contains__(self, r: object) -> bool:
        return r in self._text or r in self._late or isinstance(r, int) and self._index(r) >= 0

    def __getitem__(self, r: int) -> str:
        text = self._text.get(r)
        if text is not None:
            return text
        return self.raw(r).decode("utf-8")

    def raw(self, r: int) -> bytes:
        """Row r as UTF-8: a row kept in the file is not decoded to be encoded again when the part is written."""
        text = self._text.get(r)
        if text is not None:
            return text.encode("utf-8")
        start, end = self._span(r)
        assert self._file is not None
        self._file.seek(start)
        self._pos = end
        return self._file.read(end - start)

    def __setitem__(self, r: int, text: str) -> None:
        old = self._text.pop(r, None)
        if old is not None:
            self._held -= len(old)
        self._late.pop(r, None)  # its old bytes stay in the file, unused
        i = self._index(r)
        if self._held + len(text) <= self._budget:
            if i >= 0:
                self._st[i] = -1
                self._gone += 1
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
        if i >= 0:
            self._st[i], self._en[i] = start, self._end
        elif not self._rn or r > self._rn[-1]:
            self._rn.append(r)
            self._st.append(start)
            self._en.append(self._end)
        else:
            self._late[r] = (start, self._end)

    def extend(self, rows: list[tuple[int, str]]) -> None:
        """Rows new to this mapping, in ascending order past every row it holds: written to the file as one piece
        (a first run appends ~70,000 rows at 30k, most to the Audit Log), each findable as if set one by one."""
        rn = self._rn
        top = max(rn[-1] if rn else 0, max(self._text, default=0), max(self._late, default=0))
        if not rows or rows[0][0] <= top or self._held + sum(len(t) for _, t in rows) <= self._budget \
                or any(rows[k][0] >= rows[k + 1][0] for k in range(len(rows) - 1)):
            for r, text in rows:  # small, out of order or among rows held: one by one
                self[r] = text
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(buffering=FILE_BUFFER)
        data = [text.encode("utf-8") for _, text in rows]
        start = self._end
        if self._pos != start:
            self._file.seek(start)
        self._file.write(b"".join(data))
        ends = list(accumulate(map(len, data), initial=start))
        rn.extend([r for r, _ in rows])
        self._st.extend(ends[:-1])
        self._en.extend(ends[1:])
        self._end = self._pos = ends[-1]

    def raw_run(self, rows: list[int]) -> bytes:
        """raw() of each row of ``rows`` joined, read from the file a stretch at a time where they lie one after
        the other in it (rows written in order do): a first run writes ~40,000 rows at 10k."""
        out: list[bytes] = []
        a = b = -1
        for r in rows:
            text = self._text.get(r)
            if text is None:
                start, end = self._span(r)
                if start == b:
                    b = end
                    continue
                if b >= 0:
                    out.append(self._read(a, b))
                a, b = start, end
                continue
            if b >= 0:
                out.append(self._read(a, b))
                a = b = -1
            out.append(text.encode("utf-8"))
        if b >= 0:
            out.append(self._read(a, b))
        return b"".join(out)

    def _read(self, start: int, end: int) -> bytes:
        """Bytes of the file, answered from a window read ahead where one holds them. A first run writes a sheet's
        rows in the order of its change set (the leads a phone fix touched first, then every lead scored), so reading
        them back in row order follows a few ascending streams through the file: a window each (READ_WINDOWS) makes a
        read per ~50 rows instead of a seek and a read per row or two (~23,000 at 30k leads)."""
        assert self._file is not None
        for w in self._windows:
            if w[0] <= start and end <= w[0] + len(w[1]):
                return w[1][start - w[0]: end - w[0]]
        self._file.seek(start)
        if end - start >= READ_WINDOW:
            self._pos = end
            return self._file.read(end - start)
        data = self._file.read(READ_WINDOW)
        self._pos = start + len(data)
        windows = self._windows
        if len(windows) >= READ_WINDOWS:
            windows.pop(0)  # the oldest
        windows.append((start, data))
        return data[: end - start]

    def __iter__(self) -> Iterator[int]:
        yield from self._text
        st = self._st
        for i, r in enumerate(self._rn):
            if st[i] >= 0:
                yield r
        yield from self._late

    def __len__(self) -> int:
        return len(self._text) + len(self._rn) - self._gone + len(self._late)

    @property
    def size(self) -> int:
        """Characters held as text plus bytes in the file (rows written again counted twice: a hint, not a measure)."""
        return self._held + self._end

    def __bool__(self) -> bool:
        return len(self) > 0

    def items(self) -> Iterator[tuple[int, str]]:
        for r in list(self):
            yield r, self[r]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
