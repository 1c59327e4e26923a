"""A write's work beside the main thread (store/xlsx/background.py): the package a worker deflates and writes is
the file one thread writes, byte for byte, and a failure on either side fails the write as one thread would,
leaving the workbook as it was."""
from __future__ import annotations

import errno
import io
import pickle
import shutil
import threading
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from crm_sheets.errors import CrmSheetsError
from crm_sheets.model import ChangeSet
from crm_sheets.runner import run
from crm_sheets.store import safety
from crm_sheets.store.xlsx import XlsxStore, background, parts, spool
from crm_sheets.store.xlsx import writer as writer_module
from crm_sheets.store.xlsx.background import BackgroundWriter, read_ahead
from crm_sheets.store.xlsx.package import PackageWriter, new_info
from crm_sheets.store.xlsx.sheet import SheetEdit
from crm_sheets.store.xlsx.writer import apply_changeset
from crm_sheets.workbook import new_workbook

NOW = datetime(2026, 11, 2, 9, 0)


@pytest.fixture
def small_pieces(monkeypatch):
    """Sheets spooled, parts deflated apart and workers held back at a few KB, so a small workbook takes every path
    a large one takes (a sheet inflated ahead, a rendered sheet deflated in a thread, a worker waiting for room)."""
    monkeypatch.setattr(spool, "SPOOL_IN_MEMORY", 4096)
    monkeypatch.setattr(parts, "LARGE_PART_SIZE", 4096)
    monkeypatch.setattr(background, "AHEAD_BYTES", 8192)


@pytest.fixture(scope="module")
def first_write(tmp_path_factory):
    """A sample workbook and what its first run hands the writer: (workbook as read, change set, tables, rider)."""
    folder = tmp_path_factory.mktemp("first-write")
    book = new_workbook(folder / "crm.xlsx", sample_leads=120, now=NOW)
    kept = {}
    real = writer_module.apply_changeset

    def keep(src, dst, changeset, tables, *, rider=None):
        if not kept:
            shutil.copy(src, folder / "as-read.xlsx")
            kept["inputs"] = pickle.dumps((changeset, tables, rider))
        return real(src, dst, changeset, tables, rider=rider)

    writer_module.apply_changeset = keep
    try:
        run(book, now=NOW, options={"check": {"fix": True}})
    finally:
        writer_module.apply_changeset = real
    return folder / "as-read.xlsx", kept["inputs"]


def workers() -> list[str]:
    """The write's worker and read-ahead threads still alive (a rendered sheet's deflate ends on its own)."""
    return [t.name for t in threading.enumerate() if t.name in ("crm-write", "crm-write-inflate")]


def write_with(threads: str, first_write, out: Path, monkeypatch) -> bytes:
    monkeypatch.setenv("CRM_SHEETS_WRITE_THREADS", threads)
    src, inputs = first_write
    changeset, tables, rider = pickle.loads(inputs)
    apply_changeset(src, out, changeset, tables, rider=rider)
    return out.read_bytes()


def test_the_worker_writes_the_file_one_thread_writes_byte_for_byte(first_write, tmp_path, monkeypatch, small_pieces):
    alone = write_with("0", first_write, tmp_path / "alone.xlsx", monkeypatch)
    beside = write_with("1", first_write, tmp_path / "beside.xlsx", monkeypatch)
    assert beside == alone
    with zipfile.ZipFile(tmp_path / "beside.xlsx") as z:
        assert z.testzip() is None
        names = z.namelist()
    assert any(n.startswith("xl/worksheets/") for n in names)


def test_a_disk_failure_in_the_worker_fails_the_write_as_in_one_thread(first_write, tmp_path, monkeypatch, small_pieces):
    real = PackageWriter._write
    calls = [0]

    def full(self, info, *args):
        calls[0] += 1
        if calls[0] == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, info, *args)

    monkeypatch.setattr(PackageWriter, "_write", full)
    errors = []
    for threads in ("0", "1"):
        calls[0] = 0
        with pytest.raises(OSError) as e:
            write_with(threads, first_write, tmp_path / f"out{threads}.xlsx", monkeypatch)
        errors.append((e.value.errno, str(e.value)))
    assert errors[0] == errors[1] == (errno.ENOSPC, "[Errno 28] No space left on device")
    assert workers() == []  # the worker is gone


def test_a_failure_making_a_sheet_stops_the_worker_and_is_the_error_raised(first_write, tmp_path, monkeypatch, small_pieces):
    real = SheetEdit.chunks

    def broken(self, *args, **kwargs):
        for k, chunk in enumerate(real(self, *args, **kwargs)):
            if k == 2:
                raise MemoryError("made up")
            yield chunk

    monkeypatch.setattr(SheetEdit, "chunks", broken)
    with pytest.raises(MemoryError, match="made up"):
        write_with("1", first_write, tmp_path / "out.xlsx", monkeypatch)
    assert workers() == []


def test_a_failed_write_in_the_worker_leaves_the_workbook_as_it_was_and_keeps_the_changes(tmp_path, monkeypatch, small_pieces):
    monkeypatch.setenv("CRM_SHEETS_WRITE_THREADS", "1")
    path = new_workbook(tmp_path / "crm.xlsx", sample_leads=60, now=NOW)
    before = path.read_bytes()
    store = XlsxStore(path)
    tables = store.read()
    changes = ChangeSet()
    changes.update("leads", tables.df("leads").index[0], "notes", "called back")

    def full(self, info, *args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PackageWriter, "_write", full)
    with pytest.raises(CrmSheetsError, match="No space left"):
        store.apply(changes, tables)
    assert path.read_bytes() == before
    assert safety.stale_temp_files(path) == []
    assert store.pending() == changes


def test_read_ahead_gives_every_chunk_in_order_then_the_sources_error(monkeypatch):
    monkeypatch.setenv("CRM_SHEETS_WRITE_THREADS", "1")

    def source():
        for k in range(50):
            yield bytes([k]) * 1000
        raise OSError(errno.EIO, "the disk went away")

    got = []
    with pytest.raises(OSError, match="disk went away"):
        for chunk in read_ahead(source(), limit=3000):
            got.append(chunk)
    assert got == [bytes([k]) * 1000 for k in range(50)]


def test_read_ahead_stopped_early_stops_its_worker_and_closes_the_source(monkeypatch):
    monkeypatch.setenv("CRM_SHEETS_WRITE_THREADS", "1")
    closed = threading.Event()

    def source():
        try:
            for k in range(10_000):
                yield b"x" * 1000
        finally:
            closed.set()

    chunks = read_ahead(source(), limit=4000)
    assert next(chunks) == b"x" * 1000
    chunks.close()
    assert closed.is_set()
    assert workers() == []


def test_the_background_writer_writes_what_the_package_writer_writes(monkeypatch):
    parts_in = [("a.xml", b"<a/>" * 5000), ("b.bin", bytes(range(256)) * 400)]
    outs = []
    for threaded in (False, True):
        buf = io.BytesIO()
        w = PackageWriter(buf)
        target = BackgroundWriter(w, limit=2048) if threaded else w
        target.write(new_info(parts_in[0][0]), parts_in[0][1])
        target.write_stream(new_info("c.xml"), (b"<c>%d</c>" % k for k in range(3000)), large=True)
        target.write(new_info(parts_in[1][0]), parts_in[1][1])
        target.close()
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    with zipfile.ZipFile(io.BytesIO(outs[1])) as z:
        assert z.read("c.xml") == b"".join(b"<c>%d</c>" % k for k in range(3000))
        assert z.namelist() == ["a.xml", "c.xml", "b.bin"]
