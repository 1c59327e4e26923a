"""The Audit Log is read only when something asks for its cells (model/lazy.py): a run that never looks at it says
and writes exactly what a run that read it first says and writes; whatever does ask (a job, a write logging
changes) gets the table an eager read gives; a workbook saved by someone after the read is refused, never read
as if it were the one the run started from."""
import copy
import json
import shutil
from dataclasses import replace
from datetime import datetime

import pytest
from click.testing import CliRunner

import crm_sheets.runner as runner
from crm_sheets.cli import cli
from crm_sheets.errors import WorkbookChanged
from crm_sheets.model.lazy import LazyTable, is_unread
from crm_sheets.store.core import read as read_mod
from crm_sheets.store.core.cache import CACHE_ENV
from crm_sheets.store.state import STATE_DIR_ENV
from crm_sheets.store.xlsx.store import XlsxStore
from helpers import fresh_copy
from test_incremental import edit, row_of, same_outcome, sheets
from test_table_cache import assert_same_tables, read

SAMPLE = 300
LATER = "2026-03-15T09:00"  # both runs on the same day: the edited run has nothing of its own to write (as bench_run's)


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path_factory, monkeypatch):
    """The user's cache key in a folder of the test's own."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path_factory.mktemp("user-state")))
    monkeypatch.delenv(CACHE_ENV, raising=False)


@pytest.fixture
def loads(monkeypatch):
    """How many times a lazy table's sheet was read."""
    count = []
    real = LazyTable._load

    def counted(self):
        if not self.loaded:
            count.append(self.sheet)
        return real(self)

    monkeypatch.setattr(LazyTable, "_load", counted)
    return count


def eager(m) -> None:
    """Reads as before lazy tables: every table parsed by the read."""
    m.setattr(read_mod, "LAZY_KINDS", frozenset())


def two_runs_apart(built_book, tmp_path):
    """A workbook after its first run (cache, record and outbox beside it), copied into folders a and b."""
    (tmp_path / "a").mkdir()
    book = fresh_copy(built_book(sample_data=SAMPLE), tmp_path / "a")
    assert cli_run(book)["written"]
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    return book, tmp_path / "b" / book.name


def cli_run(path) -> dict:
    out = CliRunner().invoke(cli, ["run", str(path), "--json", "--now", LATER])
    assert out.exit_code in (0, 1), out.output
    found = json.loads(out.output)
    found.pop("path", None)
    return found


@pytest.mark.slow  # whole runs of a built workbook
def test_an_edited_run_after_a_whole_package_save_leaves_the_audit_log_unread_and_says_what_an_eager_run_says(
        built_book, tmp_path, monkeypatch, loads):
    a, b = two_runs_apart(built_book, tmp_path)
    loads.clear()  # the first run's write read it (it logged its changes)
    for path in (a, b):  # two notes, saved as a spreadsheet program saves (every part rewritten)
        edit(path, [("Leads", row_of("L-00007"), "Notes", "called back"), ("Leads", row_of("L-00009"), "Notes", "met at a fair")])
    made = []
    real = read_mod._loader
    with monkeypatch.context() as m:
        m.setattr(read_mod, "_loader", lambda *args: made.append(args[2]) or real(*args))
        lazy = cli_run(a)
    assert made == ["Audit Log"]  # the read left it for later (the cache did not have its sheet by its bytes)
    assert not lazy["written"] and loads == []  # and no job nor write asked for it: it was never parsed
    with monkeypatch.context() as m:
        eager(m)
        full = cli_run(b)
    assert lazy == full
    assert sheets(a) == sheets(b)


@pytest.mark.slow  # whole runs of a built workbook
def test_a_run_that_logs_its_changes_reads_the_audit_log_and_writes_what_an_eager_run_writes(
        built_book, tmp_path, monkeypatch, loads):
    a, b = two_runs_apart(built_book, tmp_path)
    loads.clear()  # the first run's write read it (it logged its changes)
    for path in (a, b):  # a fixable email: check --fix rewrites it and logs the change in the Audit Log
        edit(path, [("Leads", row_of("L-00011"), "Email", "  Someone@Example.COM ")])
    at = datetime(2026, 3, 15, 9, 0)
    lazy = runner.run(a, now=at, options={"check": {"fix": True}}, settled_answer=False)
    assert lazy.written and loads == ["Audit Log"]  # the write appended below its last row: it was read once
    with monkeypatch.context() as m:
        eager(m)
        full = runner.run(b, now=at, options={"check": {"fix": True}}, settled_answer=False)
    same_outcome(lazy, full, a, b)
    assert any("Someone" in str(c) or "someone" in str(c) for row in sheets(a)["Audit Log"][-3:] for c in row)


def test_a_lazily_read_audit_log_is_the_table_an_eager_read_gives_to_whatever_asks(built_book, tmp_path, monkeypatch):
    book = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    tables, cache = read(book)
    log = tables["audit_log"]
    assert is_unread(log) and log.sheet == "Audit Log" and log.name == "audit_log"
    twin, derived = copy.copy(log), replace(tables, tables=dict(tables.tables))["audit_log"]
    with monkeypatch.context() as m:
        eager(m)
        fresh, _ = read(book, cached=False)
    assert not is_unread(fresh["audit_log"])

    def entries_by_job(t) -> dict:  # what a job reading the log would ask of it
        df = t["audit_log"].df
        return df.groupby("job").size().to_dict() if len(df) else {}

    assert entries_by_job(tables) == entries_by_job(fresh)
    assert_same_tables(tables, fresh)
    assert twin.df is log.df and derived.rows == fresh["audit_log"].rows  # a copy shares the one read


def test_a_read_whole_from_the_cache_gives_the_audit_log_lazily_and_the_same(built_book, tmp_path, loads):
    book = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    read(book)
    again, cache = read(book)
    assert set(cache.hits.values()) == {"whole"} and is_unread(again["audit_log"])
    fresh, _ = read(book, cached=False)
    assert_same_tables(again, fresh)
    assert loads == ["Audit Log", "Audit Log"]  # each read's own, once each


def test_a_workbook_saved_after_the_read_is_refused_when_its_audit_log_is_asked_for(built_book, tmp_path):
    book = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    tables = XlsxStore(book).read()
    edit(book, [("Leads", row_of("L-00005"), "City", "Graz")])  # someone saves while the run is at work
    with pytest.raises(WorkbookChanged, match="changed on disk"):
        tables["audit_log"].df


def test_a_write_that_leaves_the_audit_log_alone_leaves_it_unread_and_the_cache_then_holds_it_as_written(
        built_book, tmp_path, monkeypatch, loads):
    from crm_sheets.model.changeset import ChangeSet
    from crm_sheets.written import tables_as_written

    book = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    with monkeypatch.context() as m:
        eager(m)
        before, _ = read(book, cached=False)
    loads.clear()
    store = XlsxStore(book)
    tables = store.read()
    changes = ChangeSet()
    changes.update("leads", "L-00005", "city", "Graz", reason="a person's wish")  # nothing logged
    changes.apply_to(tables)  # as the runner does between jobs: the tables as the jobs left them
    assert is_unread(tables["audit_log"]) and store.apply(changes, tables).written
    log = tables["audit_log"]
    assert is_unread(log) and loads == []  # the write did not need it, nor parse it
    # asked after the write, it is read from the file as written (its sheet as it was): the run's tables stay readable
    assert log.df.equals(before["audit_log"].df) and log.rows == before["audit_log"].rows and loads == ["Audit Log"]
    written = store.remember_tables(tables_as_written(tables, changes))  # what a run does after its write
    assert written is not None
    again, cache = read(book)
    assert set(cache.hits.values()) == {"whole"}
    with monkeypatch.context() as m:
        eager(m)
        fresh, _ = read(book, cached=False)
    assert_same_tables(again, fresh)


def test_an_audit_log_a_write_left_alone_is_refused_once_someone_saves_after_that_write(built_book, tmp_path):
    from crm_sheets.model.changeset import ChangeSet

    book = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    store = XlsxStore(book)
    tables = store.read()
    changes = ChangeSet()
    changes.update("leads", "L-00005", "city", "Graz", reason="a person's wish")
    changes.apply_to(tables)
    assert store.apply(changes, tables).written and is_unread(tables["audit_log"])
    edit(book, [("Audit Log", lambda ws, header: 3, "Job", "typed over by hand")])  # someone saves after our write
    with pytest.raises(WorkbookChanged, match="changed on disk"):
        tables["audit_log"].df

