"""The work of a write that runs beside this thread: the new package deflated and written by a worker
(BackgroundWriter) while this thread makes the parts, a worksheet inflated ahead of the scan that reads it
(read_ahead), a rendered sheet deflated while the next is rendered (package.Packed).

zlib, ISA-L, CRC-32 and file I/O release the GIL, so on a second core they cost this thread nothing. The
calls, their arguments and their order are those of a write in one thread: the bytes written are the same,
and a failure fails the write as it would have in one thread (the first failing step's error is raised).
CRM_SHEETS_WRITE_THREADS=0 does all of it in this thread.
"""
from __future__ import annotations

import os
import queue
import threading
import zipfile
from typing import Any, Callable, Iterable, Iterator

# What a read-ahead or a writer holds at most, beyond what it works on (bytes): a worksheet is streamed in
# blocks of 1 MB, so a few blocks keep the worker fed without holding a sheet.
AHEAD_BYTES = 16 << 20


def write_threads() -> bool:
    """Whether a write uses a worker thread: on two cores or more; CRM_SHEETS_WRITE_THREADS=0 turns it off
    (1 turns it on)."""
    env = os.environ.get("CRM_SHEETS_WRITE_THREADS", "").strip()
    if env.isdigit():
        return int(env) > 0
    return (os.cpu_count() or 1) > 1


class _Budget:
    """Bytes handed to a worker and not done yet, at most ``limit`` (one item alone may be larger)."""

    def __init__(self, limit: int | None = None):
        self.limit = AHEAD_BYTES if limit is None else limit
        self.used = 0
        self.cv = threading.Condition()

    def take(self, n: int, stop: threading.Event | None = None) -> bool:
        """Wait for room for ``n`` bytes; False when ``stop`` is set first."""
        with self.cv:
            while self.used and self.used + n > self.limit:
                if stop is not None and stop.is_set():
                    return False
                self.cv.wait(0.1 if stop is not None else None)
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self.cv:
            self.used -= n
            self.cv.notify_all()


def read_ahead(chunks: Iterable[bytes], limit: int | None = None) -> Iterator[bytes]:
    """The chunks of ``chunks``, produced by a worker thread up to ``limit`` bytes ahead (a worksheet inflated
    while this thread scans it). An error of the worker is raised here, after the chunks before it. Close the
    iterator when stopping early: the worker stops and closes ``chunks``."""
    if not write_threads():
        yield from chunks
        return
    items: queue.SimpleQueue[tuple[bytes | None, BaseException | None]] = queue.SimpleQueue()
    budget = _Budget(limit)
    stop = threading.Event()

    def work() -> None:
        it = iter(chunks)
        try:
            for chunk in it:
                if stop.is_set() or not budget.take(len(chunk), stop):
                    return
                items.put((chunk, None))
            items.put((None, None))
        except BaseException as exc:  # raised in the reading thread, in order
            items.put((None, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name="crm-write-inflate", daemon=True)
    worker.start()
    try:
        while True:
            chunk, exc = items.get()
            if chunk is None:
                if exc is not None:
                    raise exc
                return
            budget.give(len(chunk))
            yield chunk
    finally:
        stop.set()
        with budget.cv:
            budget.cv.notify_all()
        worker.join()


class _Abort(Exception):
    """Ends the stream a worker is writing when the write is abandoned."""


_JOB, _CHUNK, _END, _DONE, _ABORT = range(5)  # what the worker is given: (kind, size, payload)


class BackgroundWriter:
    """A package.PackageWriter driven from this thread and run by a worker: members are read and parts made here,
    deflated, summed and written there, in the order they are given. ``close()`` finishes the zip and raises the
    worker's error if it had one; ``abort()`` (after a failure here) lets the worker finish what it was given and
    raises its error if one came first (in one thread that step would have failed before this one), else returns
    for the caller to raise its own. The file is the caller's to close, after either."""

    def __init__(self, writer: Any, limit: int | None = None):
        self.writer = writer
        self.error: BaseException | None = None
        self._items: queue.SimpleQueue[tuple[int, int, Any]] = queue.SimpleQueue()
        self._budget = _Budget(limit)
        self._worker = threading.Thread(target=self._work, name="crm-write", daemon=True)
        self._worker.start()

    # -- this thread
    def copy_raw(self, src: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        data = self.writer.read_raw(src, info)  # read here: the source zip is this thread's
        self._give(len(data), self.writer.write_raw, info, data)

    def write(self, info: zipfile.ZipInfo, data: bytes) -> None:
        self._give(len(data), self.writer.write, info, data)

    def write_packed(self, info: zipfile.ZipInfo, part: Any) -> None:
        self._give(0, self.writer.write_packed, info, part)

    def write_stream(self, info: zipfile.ZipInfo, chunks: Iterable[bytes], large: bool = False) -> None:
        self._give(0, self._stream, info, large)
        for chunk in chunks:
            self._raise()
            self._budget.take(len(chunk))
            self._items.put((_CHUNK, len(chunk), chunk))
        self._items.put((_END, 0, None))

    def close(self) -> None:
        self._give(0, self.writer.close)
        self._items.put((_DONE, 0, None))
        self._worker.join()
        self._raise()

    def abort(self) -> None:
        self._items.put((_ABORT, 0, None))
        self._worker.join()
        self._raise()

    def _give(self, size: int, fn: Callable[..., Any], *args: Any) -> None:
        self._raise()
        self._budget.take(size)
        self._items.put((_JOB, size, (fn, args)))

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    # -- the worker
    def _work(self) -> None:
        while True:
            kind, size, payload = self._items.get()
            if kind == _DONE or kind == _ABORT:
                return
            try:
                if kind == _JOB and self.error is None:  # after an error, what comes is taken and dropped
                    fn, args = payload
                    fn(*args)
            except _Abort:
                return
            except BaseException as exc:
                self.error = exc
            finally:
                self._budget.give(size)

    def _stream(self, info: zipfile.ZipInfo, large: bool) -> None:
        chunks = self._chunks()
        try:
            self.writer.write_stream(info, chunks, large)
        finally:
            chunks.close()

    def _chunks(self) -> Iterator[bytes]:
        while True:
            kind, size, chunk = self._items.get()
            if kind == _ABORT:
                raise _Abort
            if kind == _END:
                return
            try:
                yield chunk
            finally:
                self._budget.give(size)
