"""A run the record does not answer parses its first data sheets while the command line loads (store/xlsx/early.py):
the run gives what it gives without that (its --json, cells and Data Issues), a file saved between that parse and
the run's read gives the saved file's results, and a damaged or hostile file gives the run's usual one-line error."""
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from crm_sheets import quick
from crm_sheets.store.core.cache import CACHE_ENV
from crm_sheets.store.state import STATE_DIR_ENV
from crm_sheets.store.xlsx import early
from crm_sheets.store.xlsx.package import open_package
from crm_sheets.store.xlsx.store import XlsxStore
from helpers import fresh_copy
from test_incremental import edit, row_of, sheets
from test_table_cache import assert_same_tables

SAMPLE = 200
NOW = "2026-11-02T09:00"
MARK, OTHER = "Zq-Alpha-1", "Zq-Gamma-1"  # the same length: a save that keeps the file's size


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path_factory.mktemp("user-state")))
    for name in (CACHE_ENV, early.SWITCH_ENV, "CRM_SHEETS_READ_THREADS"):
        monkeypatch.delenv(name, raising=False)
    yield
    early.stop()


@pytest.fixture
def taken(monkeypatch):
    """The sheets each read took from the early parse (waiting for it to have looked at the package first: in a
    test the command line is loaded already, and the read would start before the early parse has chosen)."""
    got = []
    real = early.claim

    def claim(*args, **kwargs):
        if early._current is not None:
            early._current.thread.join()
        given = real(*args, **kwargs)
        got.append(sorted(given))
        return given

    monkeypatch.setattr(early, "claim", claim)
    return got


@pytest.fixture
def book(built_book, tmp_path):
    """A workbook read once (its table cache says what a read parses first), then edited and saved whole."""
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    XlsxStore(path).read()
    edit(path, [("Leads", row_of("L-00005"), "City", MARK)])
    return path


def read(path, *, parsed_early: bool):
    if parsed_early:
        early.start(path)
        early._current.thread.join()
    try:
        return XlsxStore(path).read()
    finally:
        early.stop()


def cold_read(path):
    os.environ[CACHE_ENV] = "off"
    try:
        return XlsxStore(path).read()
    finally:
        os.environ.pop(CACHE_ENV, None)


def test_a_read_taking_the_sheets_parsed_early_gives_the_tables_of_a_read_from_scratch(book, taken):
    tables = read(book, parsed_early=True)
    assert taken == [["Activities", "Leads"]]  # the large sheets, which the read hands to its worker first
    assert_same_tables(tables, cold_read(book))
    assert tables.tables["leads"].df.loc["L-00005", "city"] == MARK


def run_entry(path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`crm-sheets run PATH ARGS` through the entry point, in this process."""
    monkeypatch.setattr(sys, "argv", ["crm-sheets", "run", str(path), *args])
    monkeypatch.setattr(quick, "_leave", lambda code: None)
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        quick.main()
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_a_run_gives_the_same_json_cells_and_data_issues_with_and_without_the_early_parse(
        built_book, tmp_path, monkeypatch, capsys, taken):
    (tmp_path / "a").mkdir()
    first = fresh_copy(built_book(sample_data=SAMPLE), tmp_path / "a")
    code, _out, err = run_entry(first, monkeypatch, capsys, "--json", "--now", NOW)
    assert code in (0, 1), err
    edit(first, [("Leads", row_of("L-00005"), "City", MARK), ("Accounts", row_of("A-00002"), "Phone", "+43 1 234567")])
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # the workbook with its record, states and table cache
    other = tmp_path / "b" / first.name
    taken.clear()
    with_early = run_entry(first, monkeypatch, capsys, "--json", "--now", "2026-11-02T09:30")
    assert taken[0] == ["Activities", "Leads"] and not any(taken[1:])  # the read took them, nothing after
    monkeypatch.setenv(early.SWITCH_ENV, "off")
    taken.clear()
    without = run_entry(other, monkeypatch, capsys, "--json", "--now", "2026-11-02T09:30")
    assert taken and not any(taken)
    assert with_early[0] == without[0] and with_early[2] == without[2]
    assert same_json(with_early[1], without[1], first, other)["written"]
    assert sheets(first) == sheets(other)  # every cell, Data Issues included


def same_json(out, expected, path, other_path) -> dict:
    """--json of two runs of copies of a workbook, the same but for where they are and their backups' time."""
    shown, wanted = json.loads(out), json.loads(expected.replace(str(other_path), str(path)))
    assert shown.pop("backup", None) == wanted.pop("backup", None) or shown["written"]  # named after the time
    assert shown == wanted
    return shown


def _rewrite(path, *, part: str | None = None, old: bytes = b"", new: bytes = b"", size: int | None = None) -> None:
    """The package written again into the same file (same inode), ``part`` with ``old`` replaced by ``new``, and
    padded by the zip comment to ``size`` bytes."""
    with zipfile.ZipFile(path) as z:
        items = [(info, z.read(info)) for info in z.infolist()]

    def write(comment: bytes) -> None:
        with open(path, "wb") as f, zipfile.ZipFile(f, "w") as out:
            for info, data in items:
                if info.filename == part:
                    assert data.count(old) == 1
                    data = data.replace(old, new)
                out.writestr(info, data)
            out.comment = comment

    write(b"")
    if size is not None:
        write(b" " * (size - os.path.getsize(path)))


def test_a_save_between_the_early_parse_and_the_read_gives_the_saved_files_tables(book, taken):
    early.start(book)
    early._current.thread.join()
    edit(book, [("Leads", row_of("L-00005"), "City", OTHER), ("Accounts", row_of("A-00002"), "Phone", "+43 1 7")])
    tables = XlsxStore(book).read()
    assert taken == [[]]
    assert tables.tables["leads"].df.loc["L-00005", "city"] == OTHER
    assert_same_tables(tables, cold_read(book))


def test_a_save_keeping_the_files_size_and_modification_time_is_told_by_its_part_keys(book, taken):
    _rewrite(book, size=os.path.getsize(book) + 500)
    with open_package(book) as pkg:
        leads = pkg.sheet("Leads").part
    early.start(book)
    early._current.thread.join()
    st = os.stat(book)
    _rewrite(book, part=leads, old=MARK.encode(), new=OTHER.encode(), size=st.st_size)  # a cell in place
    os.utime(book, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(book).st_size, os.stat(book).st_mtime_ns, os.stat(book).st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    tables = XlsxStore(book).read()
    assert tables.tables["leads"].df.loc["L-00005", "city"] == OTHER
    assert taken == [["Activities"]]  # Leads' part has another CRC-32: parsed again, not taken
    assert_same_tables(tables, cold_read(book))


def test_a_read_of_the_same_file_the_cache_holds_whole_parses_nothing_early(built_book, tmp_path, taken):
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    XlsxStore(path).read()
    early.start(path)
    early._current.thread.join()
    assert early._current._sheets == {}
    XlsxStore(path).read()
    assert not any(taken)


def test_without_a_table_cache_nothing_is_parsed_early(book):
    os.environ[CACHE_ENV] = "off"
    XlsxStore(book).read()  # writes no cache
    os.environ.pop(CACHE_ENV)
    for cache in book.parent.glob(f".{book.name}.crm-tables.cache"):
        cache.unlink()
    early.start(book)
    early._current.thread.join()
    assert early._current._sheets == {}


def entry(path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crm_sheets", "run", str(path), *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **env}, timeout=300)


def _damage_contacts(path) -> None:
    with open_package(path) as pkg:
        part = pkg.sheet("Contacts").part
    with zipfile.ZipFile(path) as z:
        data = z.read(part)
    _rewrite(path, part=part, old=data[len(data) // 2:], new=b"<c r=")


def _bomb(path) -> None:
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/media/padding.bin", b"\0" * (8 << 20))  # inflates ~1000 times


def _far_cell(path) -> None:
    import openpyxl

    from test_incremental import save

    wb = openpyxl.load_workbook(path)
    wb["Accounts"].cell(900_000, 3).value = "far away"
    save(wb, path)


@pytest.mark.slow
@pytest.mark.parametrize("harm", [_damage_contacts, _bomb, _far_cell])
def test_a_damaged_hostile_or_spread_out_file_gives_the_same_answer_with_and_without_the_early_parse(book, harm, tmp_path):
    (tmp_path / "off").mkdir()
    for f in tmp_path.glob(f"*{book.name}*"):  # the workbook and its table cache
        shutil.copy2(f, tmp_path / "off")
    off = tmp_path / "off" / book.name
    for path in (book, off):
        harm(path)
    with_early = entry(book, "--json", "--now", NOW)
    without = entry(off, "--json", "--now", NOW, **{early.SWITCH_ENV: "off"})
    assert with_early.returncode == without.returncode
    assert with_early.stderr.replace(str(book), "BOOK") == without.stderr.replace(str(off), "BOOK")
    if harm is _far_cell:
        assert with_early.returncode in (0, 1) and "cell-outside-table" in with_early.stdout
        same_json(with_early.stdout, without.stdout, book, off)
    else:
        assert with_early.returncode not in (0, 1) and with_early.stderr.count("\n") == 1, with_early.stderr
