"""Check takes a data table nobody edited as the table it remembers (the read's key of its typed content, model/memo.py
``stamp``), without keying its rows again, and finds exactly what a check from nothing finds: random edits over
several rounds, each read through the table cache, each check from the last one's state, compared with a check
of a read from scratch (findings, fixes, Data Issues). A table changed after its read is never taken as read."""
import copy
import json
import pickle
import random
from datetime import datetime

import openpyxl
import pytest

import crm_sheets.jobs.check.memory as memory
from crm_sheets.jobs.check import check
from crm_sheets.jobs.check.sheet import data_issues_digest
from crm_sheets.model.memo import carry_stamp, read_token, stamp
from test_incremental import save
from test_table_cache import own_state_dir, read  # noqa: F401 (the fixture: the cache key in the test's folder)
from helpers import fresh_copy

SAMPLE = 300
NOW = datetime(2026, 11, 2, 9, 0)
# (header, values a person may type): tidy-ups, typos, bad dates and numbers, blanks
_EDITS = {
    "Leads": [("City", ["  Lyon", "Graz", None]), ("Email", ["ana@gmial.com", "bad mail", "x@example.org"]),
              ("Phone", ["06 12 34 56 78", "+33 6 11 22 33 44", "12"]), ("First name", ["JOHN", "ana", ""]),
              ("Created", ["31/31/2026", "2027-01-05", "2026-01-02"]), ("Notes", ["called twice", None])],
    "Contacts": [("Email", ["Bob@Example.COM ", "nope"]), ("Phone", ["0044 20 7946 0958", "abc"])],
}


def _edit_randomly(path, rng: random.Random) -> set[str]:
    """A few cells of some sheets changed (and sometimes a lead's row deleted), saved as a spreadsheet program saves;
    the tables edited."""
    wb = openpyxl.load_workbook(path)
    edited = set()
    for sheet in rng.sample(sorted(_EDITS), rng.randint(1, 2)):
        ws = wb[sheet]
        header = {c.value: c.column for c in ws[1]}
        for _ in range(rng.randint(1, 6)):
            column, values = rng.choice(_EDITS[sheet])
            ws.cell(rng.randint(2, ws.max_row), header[column]).value = rng.choice(values)
        edited.add(sheet.lower())
    if rng.random() < 0.3:
        wb["Leads"].delete_rows(rng.randint(2, wb["Leads"].max_row))
        edited.add("leads")
    team = wb["Team"]
    email = {c.value: c.column for c in team[1]}["Email"]
    if rng.random() < 0.4 and team.max_row > 3:  # a duplicate email made, or one made unique again
        a, b = rng.sample(range(2, team.max_row + 1), 2)
        team.cell(b, email).value = team.cell(a, email).value if rng.random() < 0.6 else f"new{rng.randint(1, 99)}@example.org"
        edited.add("team")
    if rng.random() < 0.3 and wb["Accounts"].max_row > 2:  # the records pointing to it point to nothing now
        wb["Accounts"].delete_rows(rng.randint(2, wb["Accounts"].max_row))
        edited.add("accounts")
    save(wb, path)
    return edited


@pytest.mark.slow
def test_check_of_tables_read_through_the_cache_after_random_edits_finds_what_a_check_from_nothing_finds(
        built_book, tmp_path, monkeypatch):
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    keyed: list[str] = []
    real = memory.column_keys

    def spy(table):
        keyed.append(table.name)
        return real(table)

    monkeypatch.setattr(memory, "column_keys", spy)
    rng, state, edited = random.Random(16), None, None
    for round_ in range(5):
        tables, _ = read(path)
        keyed.clear()
        got = check(tables, now=NOW, state=state)
        if edited is not None:  # the tables nobody edited are taken as read: their rows are not keyed
            assert set(keyed) <= edited, (round_, keyed, edited)
        scratch, _ = read(path, cached=False)
        want = check(scratch, now=NOW)
        assert got.findings == want.findings, round_
        assert got.stats == want.stats, round_
        issues = [f for f in got.findings if f.type != "vocabulary"]
        assert data_issues_digest(tables, issues) == data_issues_digest(scratch, issues), round_
        assert got.state["phones"] == want.state["phones"], round_
        # check --fix from the same memory, on the tables as read (its second pass on the fixed copies)
        fixed, wanted = check(read(path)[0], now=NOW, fix=True, state=state), check(scratch, now=NOW, fix=True)
        assert fixed.findings == wanted.findings and fixed.changes.updates == wanted.changes.updates, round_
        state = json.loads(json.dumps(got.state))  # as the outbox keeps it
        edited = _edit_randomly(path, rng)


@pytest.mark.slow
def test_a_few_edited_cells_key_only_their_rows_again_and_check_finds_what_a_check_from_nothing_finds(
        built_book, tmp_path, monkeypatch):
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    keyed: list[tuple[str, int]] = []
    real = memory.column_keys

    def spy(table):
        keyed.append((table.name, len(table.df)))
        return real(table)

    monkeypatch.setattr(memory, "column_keys", spy)
    tables, _ = read(path)
    state = json.loads(json.dumps(check(tables, now=NOW).state))
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    ws.cell(5, header["City"]).value = "  Lyon"  # a tidy-up
    ws.cell(9, header["Email"]).value = ws.cell(12, header["Email"]).value  # the same email as another lead
    ws.cell(14, header["Account"]).value = "A-09999"  # a record that is not there
    account = openpyxl.utils.get_column_letter(header["Account"])
    save(wb, path)
    for round_ in range(2):
        tables, _ = read(path)
        keyed.clear()
        got = check(tables, now=NOW, state=state)
        assert keyed == [("leads", 3)], round_  # only the rows edited, in the one table edited
        want = check(read(path, cached=False)[0], now=NOW)
        assert got.findings == want.findings and got.stats == want.stats, round_
        assert [f.value for f in got.findings if f.type == "unknown-reference" and f.cell == f"Leads!{account}14"] \
            == ["A-09999" if round_ == 0 else "A-09998"]
        state = json.loads(json.dumps(got.state))
        wb = openpyxl.load_workbook(path)  # the same cells edited back, and one more
        ws = wb["Leads"]
        ws.cell(5, header["City"]).value = "Lyon"
        ws.cell(9, header["Email"]).value = "someone.new@example.org"
        ws.cell(14, header["Account"]).value = "A-09998"
        save(wb, path)


@pytest.mark.slow
def test_a_table_changed_after_its_read_is_keyed_again_and_checked_as_it_is_now(built_book, tmp_path):
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    tables, _ = read(path)
    state = json.loads(json.dumps(check(tables, now=NOW).state))
    again, _ = read(path)
    leads = again["leads"]
    rid = leads.df.index[3]
    leads.df.loc[rid, "city"] = "  Graz"  # written into the frame the read gave, after the read
    got = check(again, now=NOW, state=state)
    assert any(f.type == "extra-spaces" and f.record_id == rid for f in got.findings)
    assert got.findings == check(again, now=NOW).findings


def test_a_tables_read_key_holds_only_while_it_is_as_read_and_never_leaves_the_process(built_book, tmp_path):
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    tables, _ = read(path, cached=False)
    leads = tables["leads"]
    stamp(leads, "k")
    assert read_token(pickle.loads(pickle.dumps(leads))) is None  # a cache or a copy never carries it
    assert read_token(copy.deepcopy(leads)) is None
    stamp(leads, "k")
    leads.typed_text[(leads.df.index[0], "city")] = "x"  # a kept raw text changed
    assert read_token(leads) is None
    stamp(leads, "k")
    leads.df = leads.df.drop(leads.df.index[0])
    assert read_token(leads) is None
    stamp(leads, "k")
    assert read_token(leads) == "k"
    assert read_token(leads) is None  # asked once: the stamp lets its columns go


def test_a_shallow_copy_of_a_table_as_read_carries_its_key_and_one_changed_since_does_not(built_book, tmp_path):
    from crm_sheets.settled import _own_copy

    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    tables, _ = read(path, cached=False)
    leads = tables["leads"]
    stamp(leads, "k")
    own = _own_copy(tables)["leads"]  # the confirming pass's copy of the tables as written
    assert own is not leads and own.df is not leads.df
    assert read_token(own) == "k" and read_token(own) is None  # asked once, as of a table read
    own = copy.copy(leads)
    own.df = leads.df.copy(deep=False)
    own.df["city"] = "Graz"  # a column of its own
    carry_stamp(leads, own)
    assert read_token(own) is None
    leads.df = leads.df.copy(deep=False)  # the original no longer as stamped: nothing to carry
    own = copy.copy(leads)
    own.df = leads.df.copy(deep=False)
    carry_stamp(leads, own)
    assert read_token(own) is None


def _run_json(path, at: str, env: dict | None = None) -> dict:
    from click.testing import CliRunner

    from crm_sheets.cli import cli

    result = CliRunner().invoke(cli, ["run", str(path), "--now", at, "--json"], env={"COLUMNS": "200", **(env or {})})
    assert result.exit_code in (0, 1), result.output  # 1: the sample's data problems
    out = json.loads(result.output)
    out.pop("path", None)
    out["backup"] = bool(out.get("backup"))  # (a file in the workbook's own folder)
    return out


@pytest.mark.slow
def test_after_a_run_that_wrote_the_next_runs_check_keys_only_the_edited_rows_and_the_run_says_what_the_full_path_says(
        built_book, tmp_path, monkeypatch):
    import shutil

    from crm_sheets import settled
    from crm_sheets.store.core.cache import CACHE_ENV

    (tmp_path / "ours").mkdir()
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path / "ours")
    assert _run_json(path, "2026-11-02T09:00")["written"]  # the first run writes (and checks the file it wrote)
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    ws.cell(5, header["City"]).value = "Graz"
    ws.cell(9, header["Notes"]).value = "called twice"
    ws.cell(12, header["Email"]).value = "bad mail"  # a finding (no fix: the run writes nothing)
    save(wb, path)
    other = tmp_path / "full"
    shutil.copytree(path.parent, other)  # the workbook and its states, for the full path
    keyed: list[tuple[str, int]] = []
    looks: list[int] = []
    real, real_state = memory.column_keys, memory.RowMemory.state

    def spy(table):
        if not looks:  # check's first look (a later one in the run may follow jobs that changed records)
            keyed.append((table.name, len(table.df)))
        return real(table)

    def state(self):
        looks.append(1)
        return real_state(self)

    monkeypatch.setattr(memory, "column_keys", spy)
    monkeypatch.setattr(memory.RowMemory, "state", state)
    got = _run_json(path, "2026-11-02T10:00")
    # the tables the run before wrote and nobody edited since are taken as read: only the edited rows are keyed
    assert keyed == [("leads", 3)], keyed
    want = _run_json(other / path.name, "2026-11-02T10:00", env={CACHE_ENV: "off", settled.SWITCH_ENV: "off"})
    assert got == want
    email = openpyxl.utils.get_column_letter(header["Email"])
    assert [f["value"] for r in got["results"] if r["job"] == "check" for f in r["findings"]
            if f["cell"] == f"Leads!{email}12"] == ["bad mail"]


@pytest.mark.slow
def test_the_confirming_pass_takes_the_tables_as_the_runs_last_look_saw_them_and_the_runs_say_what_the_full_path_says(
        built_book, tmp_path, monkeypatch):
    """A first run writes (dedupe archives leads, automate scores them, check fixes cells); its confirming pass checks
    the file as written with the memory the run's last look saved. A table whose cells are those that look keyed is
    taken as those rows, not keyed again; the run and the next run (after a person's edit) say what the full path
    (no table cache, no answers from a record) says."""
    import shutil

    from crm_sheets import settled
    from crm_sheets.store.core.cache import CACHE_ENV

    (tmp_path / "ours").mkdir()
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path / "ours")
    other = tmp_path / "full"
    shutil.copytree(path.parent, other)
    off = {CACHE_ENV: "off", settled.SWITCH_ENV: "off"}
    keyed: list[str] = []
    confirming: list[bool] = []
    real_keys, real_confirm = memory.column_keys, settled._confirm

    def spy(table):
        if confirming:
            keyed.append(table.name)
        return real_keys(table)

    def confirm(*args, **kwargs):
        confirming.append(True)
        try:
            return real_confirm(*args, **kwargs)
        finally:
            confirming.clear()

    monkeypatch.setattr(memory, "column_keys", spy)
    monkeypatch.setattr(settled, "_confirm", confirm)
    got = _run_json(path, "2026-11-02T09:00")
    assert got["written"]
    # leads: archived by dedupe, scored by automate, written; the confirming pass took them as the last look saw them
    assert "leads" not in keyed and len(keyed) < 3, keyed
    assert got == _run_json(other / path.name, "2026-11-02T09:00", env=off)
    for book in (path, other / path.name):
        wb = openpyxl.load_workbook(book)
        ws = wb["Leads"]
        header = {c.value: c.column for c in ws[1]}
        ws.cell(7, header["Email"]).value = "bad mail"
        ws.cell(8, header["City"]).value = "  Graz"
        save(wb, book)
    assert _run_json(path, "2026-11-02T10:00") == _run_json(other / path.name, "2026-11-02T10:00", env=off)


def test_a_table_as_the_last_look_saw_it_is_taken_only_while_every_value_is_the_same_to_the_bit():
    """The confirming pass's check takes a table as the run's last look saw it (without keying its rows) only while
    its columns hold the values that look keyed: a column typed again with the same values is taken; one where a 0.0
    became -0.0, or a 1.0 an integer 1, is keyed again, and every look finds what a check from nothing finds."""
    import pandas as pd
    from test_check import lead, leads, make_tables

    from crm_sheets.jobs.check.memory import Live

    def tables():
        made = make_tables(leads=leads(*[lead(email="bad mail" if i % 4 == 0 else f"a{i}@acme.com", city=f" City {i}")
                                         for i in range(9)]))
        t = made["leads"]
        t.df["notes"] = pd.Series([1.0, 0.0, "text"] * 3, index=t.df.index, dtype=object)
        return made

    def look_then_confirm(change):
        made = tables()
        first = check(made, now=NOW)
        assert isinstance(first.state["rows"], Live)
        again = check(made, now=NOW, state=first.state)  # a later look of the run: it leaves what it saw on the tables
        saved = json.loads(json.dumps(again.state))  # the state it saves, as the confirming pass is given it
        made = tables() if change is None else made
        t = made["leads"]
        if change is not None:
            values = t.df["notes"].to_numpy(dtype=object, copy=True)
            change(values)
            t.df = t.df.assign(notes=pd.Series(values, index=t.df.index, dtype=object))
        keyed = []
        real = memory.column_keys
        memory.column_keys = lambda table: (keyed.append(table.name), real(table))[1]
        try:
            got = check(made, now=NOW, state=saved)
        finally:
            memory.column_keys = real
        scratch = check(made, now=NOW)
        assert got.findings == scratch.findings
        return "leads" in keyed

    assert not look_then_confirm(lambda v: None)  # typed again, the same values: taken as seen
    assert look_then_confirm(lambda v: v.__setitem__(1, -0.0))
    assert look_then_confirm(lambda v: v.__setitem__(0, 1))
    assert look_then_confirm(None)  # other tables altogether (a read of the file): keyed
