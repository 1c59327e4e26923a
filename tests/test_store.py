"""XlsxStore end to end on real workbooks: built by the builder, read by the reader, written by the zip
patcher, checked with python-calamine; under office locks, injected faults, concurrent edits, and on a
workbook saved by LibreOffice.
"""
from __future__ import annotations

import errno
import hashlib
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from crm_sheets.errors import CrmSheetsError, NotAWorkbook, UsageError, WorkbookBusy, WorkbookChanged
from crm_sheets.model import Cell, ChangeSet, SheetSpec
from crm_sheets.store import open_store
from crm_sheets.store.base import ApplyResult
from crm_sheets.store.pending import load_pending
from crm_sheets.store.safety import FileOps, list_backups, stale_temp_files
from crm_sheets.store.xlsx import XlsxStore

from helpers import cell, fresh_copy

LEADS = pd.DataFrame(
    {
        "first_name": ["Ana", "Bob", "Chloé", "Dev", "Eve"],
        "last_name": ["Lopez", "Martin", "Durand", "Patel", "Stone"],
        "email": ["ana@acme.io", "bob@globex.com", "chloe@initech.fr", "dev@umbrella.in", "eve@hooli.com"],
        "company": ["Acme", "Globex", "Initech", "Umbrella", "Hooli"],
        "engagement": [3.0, 0.0, 12.5, 7.0, 1.0],
    },
    index=pd.Index([f"L-{i:05d}" for i in range(1, 6)], name="id"),
)


@pytest.fixture
def built(built_book) -> Path:
    return built_book(leads=LEADS)


@pytest.fixture
def workbook(built, tmp_path) -> Path:
    return fresh_copy(built, tmp_path)


def edits(tables) -> tuple[ChangeSet, dict[str, object]]:
    """A change set touching two lead cells (one a would-be formula) and a report sheet; what calamine should see."""
    leads = tables["leads"]
    first, second = list(leads.df.index[:2])
    changes = ChangeSet()
    changes.update("leads", first, "company", "=HYPERLINK(\"http://evil\")")
    changes.update("leads", second, "company", "Acme Renamed")
    changes.sheets.append(SheetSpec("Data Issues", "data_issues", rows=[[Cell("Title", style="title")], ["a", 1.5]]))
    expected = {
        leads.cell(first, "company"): "=HYPERLINK(\"http://evil\")",
        leads.cell(second, "company"): "Acme Renamed",
        "'Data Issues'!A2": "a",
    }
    return changes, expected


def assert_shows(path: Path, expected: dict[str, object]) -> None:
    for ref, value in expected.items():
        sheet, address = ref.rsplit("!", 1)
        assert cell(path, address, sheet.strip("'").replace("''", "'")) == value, ref


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_open_store_reads_the_workbook_it_names_and_refuses_what_it_cannot_open(workbook, tmp_path):
    assert list(open_store(workbook).read()["leads"].df["email"]) == list(LEADS["email"])
    (tmp_path / "crm.csv").write_text("id,email\n", encoding="utf-8")
    with pytest.raises(NotAWorkbook, match="not an Excel workbook"):
        open_store(tmp_path / "crm.csv")
    with pytest.raises(UsageError, match="onedrive:// backend is not available"):
        open_store("onedrive://crm")


def test_apply_writes_values_a_spreadsheet_program_reads_back(workbook):
    store = XlsxStore(workbook)
    tables = store.read()
    changes, expected = edits(tables)
    result = store.apply(changes, tables)
    assert isinstance(result, ApplyResult)
    assert result.written and not result.pending
    assert result.message.startswith("wrote 2 cells, 1 sheet to crm.xlsx (backup: .crm-backups/crm.")
    assert_shows(workbook, expected)
    again = XlsxStore(workbook).read()
    first, second = list(tables["leads"].df.index[:2])
    assert again["leads"].df.loc[first, "company"] == "=HYPERLINK(\"http://evil\")"
    assert again["leads"].df.loc[second, "company"] == "Acme Renamed"


def test_backup_is_the_workbook_as_it_was(workbook):
    before = sha(workbook)
    store = XlsxStore(workbook)
    tables = store.read()
    result = store.apply(edits(tables)[0], tables)
    assert sha(Path(result.backup)) == before
    assert list_backups(workbook) == [Path(result.backup)]


def test_excel_lock_blocks_the_write_and_the_changes_land_on_the_next_run(workbook):
    owner = workbook.with_name("~$crm.xlsx")
    owner.write_bytes(bytes([3]) + b"Ana".ljust(53) + b"\x03\x00" + "Ana".encode("utf-16-le"))
    before = sha(workbook)
    store = XlsxStore(workbook)
    tables = store.read()
    changes, expected = edits(tables)
    with pytest.raises(WorkbookBusy) as e:
        store.apply(changes, tables)
    assert e.value.exit_code == 3
    assert "crm.xlsx is open by Ana (Excel)" in e.value.message
    assert sha(workbook) == before

    owner.unlink()
    next_run = XlsxStore(workbook)
    tables = next_run.read()
    pending = next_run.pending()
    assert pending == changes
    pending.apply_to(tables)
    assert next_run.apply(ChangeSet().extend(pending), tables).written
    assert_shows(workbook, expected)
    assert next_run.pending() is None


def test_a_workbook_saved_by_someone_else_after_our_read_is_not_overwritten(workbook):
    ours, theirs = XlsxStore(workbook), XlsxStore(workbook)
    tables, their_tables = ours.read(), theirs.read()
    their_changes, their_view = edits(their_tables)
    theirs.apply(their_changes, their_tables)
    with pytest.raises(WorkbookChanged):
        ours.apply(edits(tables)[0], tables)
    assert_shows(workbook, their_view)


class FailNth(FileOps):
    def __init__(self, n: int):
        self.n, self.count = n, 0

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name in ("write", "write_bytes", "fsync", "fsync_dir", "replace", "copy", "backup", "backup_as_read", "exchange", "unlink"):

            def op(*args):
                self.count += 1
                if self.count == self.n:
                    raise OSError(errno.EIO, f"injected {name} failure")
                return attr(*args)

            return op
        return attr


@pytest.mark.slow
def test_failing_each_file_operation_with_the_real_writer_keeps_old_or_new_workbook(built, tmp_path):
    n = 0
    while True:
        n += 1
        path = tmp_path / f"run{n}" / "crm.xlsx"
        path.parent.mkdir()
        shutil.copy(built, path)
        before = sha(path)
        ops = FailNth(n)
        store = XlsxStore(path, ops=ops)
        tables = store.read()
        changes, expected = edits(tables)
        try:
            store.apply(changes, tables)
        except CrmSheetsError:
            pass
        assert stale_temp_files(path) == []
        if sha(path) == before:
            assert load_pending(path) == changes, f"fault {n} lost the change set"
        else:
            assert_shows(path, expected)
        if ops.count < n:
            break
    assert n >= 6


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_a_workbook_saved_by_libreoffice_reads_and_writes_like_our_own(built, tmp_path):
    out = tmp_path / "lo"
    proc = subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless", "--convert-to", "xlsx",
         "--outdir", str(out), str(built)],
        capture_output=True, timeout=180,
    )
    path = out / "crm.xlsx"
    assert path.exists(), proc.stderr.decode()
    ours = XlsxStore(built).read()
    store = XlsxStore(path)
    tables = store.read()
    assert list(tables["leads"].df.index) == list(ours["leads"].df.index)
    assert tables["leads"].df["company"].tolist() == ours["leads"].df["company"].tolist()
    changes, expected = edits(tables)
    assert store.apply(changes, tables).written
    assert_shows(path, expected)
    again = XlsxStore(path).read()
    assert again["leads"].df.loc[tables["leads"].df.index[1], "company"] == "Acme Renamed"


def _run_and_apply(path: str, company: str, barrier, results) -> None:
    store = XlsxStore(Path(path), lock_timeout=0.0)
    tables = store.read()
    changes = ChangeSet()
    changes.update("leads", "L-00001", "company", company)
    barrier.wait()
    try:
        store.apply(changes, tables)
        results.put((company, "written"))
    except (WorkbookBusy, WorkbookChanged) as e:
        results.put((company, type(e).__name__))


@pytest.mark.slow  # another process
def test_two_processes_writing_the_same_workbook_never_both_write(workbook):
    import multiprocessing
    import sys

    ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_run_and_apply, args=(str(workbook), c, barrier, results)) for c in ("First", "Second")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = dict(results.get(timeout=5) for _ in procs)
    winners = [c for c, what in outcomes.items() if what == "written"]
    assert len(winners) == 1, outcomes
    assert set(outcomes.values()) - {"written"} <= {"WorkbookBusy", "WorkbookChanged"}
    assert XlsxStore(workbook).read()["leads"].df.loc["L-00001", "company"] == winners[0]
