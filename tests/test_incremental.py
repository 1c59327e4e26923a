"""A run costs what changed, and what it shows is what a run from scratch shows: the same edits go through the
incremental path (the jobs' memories of the last run: check's rows, dedupe's last result, the digests of what
Data Issues and the reports were laid out from) and through the full path (those memories dropped before every run), and the two
workbooks, findings and report figures come out identical. A changed setting or rule sheet makes the
incremental path do the full work."""
import json
import math
import shutil
from datetime import datetime

import openpyxl
import pandas as pd
import pytest

import crm_sheets.runner as runner
from crm_sheets.jobs.check import check
from crm_sheets.jobs.check.memory import RowMemory
from crm_sheets.jobs.check.common import Context
from crm_sheets.jobs.report import report
from crm_sheets.sample import DEFAULT_NOW, generate
from helpers import calamine, fresh_copy

SAMPLE = 300
# Sheets that say when and how long a run took, or carry the file's generation: the rest must be equal.
_CLOCK_SHEETS = {"_crm_meta", "Runs"}


def forget_caches(states: dict) -> dict:
    """The jobs' states without what only saves work: what a run from scratch gets."""
    out = json.loads(json.dumps(states, default=str))
    if isinstance(out.get("check"), dict):
        out["check"].pop("rows", None)
        if isinstance(out["check"].get("sheet"), dict):
            out["check"]["sheet"].pop("inputs", None)
            out["check"]["sheet"].pop("findings", None)
    if isinstance(out.get("report"), dict):
        out["report"].pop("inputs", None)
    out.pop("dedupe", None)
    if isinstance(out.get("automate"), dict):
        out["automate"].pop("evaluated", None)
    return out


def full_run(path, at: datetime, monkeypatch):
    """`run` as a run from scratch: the committed states reach the jobs without their caches."""
    real = runner.base_states

    def without_caches(*args, **kwargs):
        states, settled = real(*args, **kwargs)
        return forget_caches(states), settled

    with monkeypatch.context() as m:
        m.setattr(runner, "base_states", without_caches)
        return runner.run(path, now=at, options={"check": {"fix": True}}, settled_answer=False)  # the whole run


def sheets(path) -> dict[str, list]:
    wb = calamine(path)
    return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names if name not in _CLOCK_SHEETS}


def same_outcome(a, b, path_a, path_b) -> None:
    assert [f.as_dict() for f in a.findings] == [f.as_dict() for f in b.findings]
    # the same cells and rows written; the incremental path leaves out of its change set the sheets that the
    # full path lays out only for the writer to find them as they are
    assert {k: v for k, v in a.changes.summary().items() if k != "replaced_sheets"} == \
        {k: v for k, v in b.changes.summary().items() if k != "replaced_sheets"}
    assert a.written == b.written
    fig_a = next(r.data for r in a.results if r.job == "report").as_dict()
    fig_b = next(r.data for r in b.results if r.job == "report").as_dict()
    assert fig_a == fig_b
    shown_a, shown_b = sheets(path_a), sheets(path_b)
    assert shown_a.keys() == shown_b.keys()
    for name in shown_a:
        assert shown_a[name] == shown_b[name], f"sheet {name} differs"


def save(wb, path) -> None:
    """openpyxl's save, keeping every digit of a number as Excel and LibreOffice do (openpyxl writes 16: 41/283
    would come back one unit of its 17th digit away, and a report sheet showing it differ from a fresh one)."""
    from openpyxl.cell import _writer
    from openpyxl.compat import safe_string

    def every_digit(value):
        return repr(value) if isinstance(value, float) and math.isfinite(value) else safe_string(value)

    real, _writer.safe_string = _writer.safe_string, every_digit
    try:
        wb.save(path)
    finally:
        _writer.safe_string = real


def edit(path, changes) -> None:
    """A person's edits, saved as a spreadsheet program saves (every part of the package rewritten)."""
    wb = openpyxl.load_workbook(path)
    for sheet, find, column, value in changes:
        ws = wb[sheet]
        header = {c.value: c.column for c in ws[1]}
        row = find(ws, header)
        ws.cell(row, header[column]).value = value
    save(wb, path)


def add_row(sheet: str, values: dict):
    """A person types a new row under the last one (no ID: the run gives it one)."""
    def change(path) -> None:
        wb = openpyxl.load_workbook(path)
        ws = wb[sheet]
        header = {c.value: c.column for c in ws[1]}
        row = ws.max_row + 1
        for column, value in values.items():
            ws.cell(row, header[column]).value = value
        save(wb, path)
    return change


def delete_row(sheet: str, key: str):
    """A person deletes a record's whole row."""
    def change(path) -> None:
        wb = openpyxl.load_workbook(path)
        ws = wb[sheet]
        ws.delete_rows(row_of(key)(ws, None))
        save(wb, path)
    return change


def copy_cell(sheet: str, source: str, target: str, column: str):
    """A person copies a record's cell into another record's (a Team email made a duplicate)."""
    def change(path) -> None:
        wb = openpyxl.load_workbook(path)
        ws = wb[sheet]
        header = {c.value: c.column for c in ws[1]}
        ws.cell(row_of(target)(ws, header), header[column]).value = ws.cell(row_of(source)(ws, header), header[column]).value
        save(wb, path)
    return change


def unmerge_one(path, at) -> None:
    """`crm-sheets unmerge` of the first record the Merged sheet holds."""
    merged = calamine(path).get_sheet_by_name("Merged").to_python()
    header = list(merged[0])
    record = next(r[header.index("Record")] for r in merged[1:] if r[header.index("Table")] in ("leads", "Leads"))
    runner.run(path, ["unmerge"], now=at, options={"unmerge": {"record_id": record}})


def row_of(key: str):
    """The row whose first cell is ``key`` (a setting's or a record's)."""
    def find(ws, header):
        for r in range(2, ws.max_row + 1):
            if ws.cell(r, 1).value == key:
                return r
        raise AssertionError(f"{key} not in {ws.title}")
    return find


@pytest.mark.slow
def test_the_incremental_path_and_a_run_from_scratch_show_the_same_after_every_edit(built_book, tmp_path, monkeypatch):
    inc = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    (tmp_path / "full").mkdir()
    full = tmp_path / "full" / inc.name
    shutil.copy(inc, full)
    day = datetime(2026, 11, 2, 9, 0)
    steps = [
        ("first run", day, []),
        ("nothing edited", day.replace(minute=15), []),
        ("leads edited", day.replace(hour=10), [
            ("Leads", row_of("L-00003"), "City", "  Lyon"),           # a tidy-up for check
            ("Leads", row_of("L-00007"), "Email", "ana@gmial.com"),   # a typo
            ("Leads", row_of("L-00011"), "Phone", "06 12 34 56 78"),  # a number to write in E.164
            ("Leads", row_of("L-00013"), "First name", "JOHN"),
            ("Leads", row_of("L-00017"), "Notes", "called twice"),
            ("Leads", row_of("L-00019"), "Created", "31/31/2026"),    # not a date
        ]),
        ("a new lead", day.replace(hour=11), add_row("Leads", {
            "First name": "Zora", "Last name": "Quill", "Email": "zora.quill@example.org", "Company": "Quill & Co",
            "Phone": "+33 6 11 22 33 44", "City": "Lyon"})),
        ("the same lead typed again", day.replace(hour=11, minute=30), add_row("Leads", {
            "First name": "Zora", "Last name": "Quill", "Email": "zora.quill@example.org", "Company": "Quill and Co",
            "City": "Lyon"})),
        # (with spaces for check to tidy: a save that changes nothing the jobs write makes the full path lay out the
        # report sheets again and find them as openpyxl saved them, not byte for byte as we wrote them)
        ("a lead's email changed", day.replace(hour=12), [("Leads", row_of("L-00021"), "Email", " someone.else@example.com ")]),
        ("a row deleted", day.replace(hour=13), delete_row("Leads", "L-00023")),
        ("a merge undone", day.replace(hour=14), unmerge_one),
        ("an email made a duplicate", day.replace(hour=14, minute=20), copy_cell("Team", "TM-00001", "TM-00002", "Email")),
        ("the duplicate email changed", day.replace(hour=14, minute=40), [("Team", row_of("TM-00002"), "Email", "new.one@example.org")]),
        ("an account others point to deleted", day.replace(hour=15), delete_row("Accounts", "A-00001")),
        ("the next day", day.replace(day=3), []),  # dates in the future yesterday are not today
        ("a setting changed", day.replace(day=3, hour=11), [("Settings", row_of("check_title_case"), "Value", "FALSE")]),
        ("a rule sheet changed", day.replace(day=3, hour=12), [("Scoring Rules", row_of("Target industry"), "Points", 35)]),
        ("nothing edited again", day.replace(day=3, hour=13), []),
    ]
    for label, at, changes in steps:
        if changes is unmerge_one:
            unmerge_one(inc, at)
            unmerge_one(full, at)
        elif callable(changes):
            changes(inc)
            changes(full)
        elif changes:
            edit(inc, changes)
            edit(full, changes)
        a = runner.run(inc, now=at, options={"check": {"fix": True}})
        b = full_run(full, at, monkeypatch)
        same_outcome(a, b, inc, full)
        if label == "an email made a duplicate":
            assert any(f.type == "duplicate-value" and f.table == "team" for f in a.findings)
        if label == "an account others point to deleted":
            assert any(f.type == "unknown-reference" and f.value == "A-00001" for f in a.findings)
        if label.startswith("nothing edited"):
            assert not a.written and not b.written, label


def _sample_tables():
    data = generate("sales", leads=400, seed=5)
    return data.to_tables()


@pytest.mark.slow
def test_check_remembers_rows_and_checks_only_the_changed_ones_again():
    tables, now = _sample_tables(), DEFAULT_NOW
    first = check(tables, now=now, fix=False)
    state = json.loads(json.dumps(first.state))
    leads = tables["leads"]
    leads.df.loc[leads.df.index[5], "city"] = "  Graz"
    ctx = Context.build(tables, now)
    plan = RowMemory(state["rows"]).plan(ctx, leads)
    assert list(plan.sub.df.index) == [leads.df.index[5]]  # only the edited lead is checked again
    assert check(tables, now=now, state=state).findings == check(tables, now=now).findings


@pytest.mark.slow
def test_check_keeps_its_row_memory_as_given_when_nothing_changed_and_learns_an_edit():
    tables, now = _sample_tables(), DEFAULT_NOW
    state = json.loads(json.dumps(check(tables, now=now).state))
    again = check(tables, now=now, state=state)
    assert again.state["rows"] is state["rows"]  # nothing checked again: the memory is not packed anew
    leads = tables["leads"]
    leads.df.loc[leads.df.index[7], "city"] = "  Graz"
    edited = check(tables, now=now, state=state)
    assert edited.state["rows"] != state["rows"]
    assert edited.findings == check(tables, now=now).findings
    leads.df = leads.df.drop(leads.df.index[9])  # a row gone is something new to remember too
    assert check(tables, now=now, state=edited.state).state["rows"] != edited.state["rows"]


@pytest.mark.slow
def test_check_keeps_the_memory_of_a_table_nobody_edited_as_given_and_ignores_a_damaged_one():
    tables, now = generate("sales", leads=120, seed=3).to_tables(), DEFAULT_NOW
    leads = tables["leads"]
    leads.df = leads.df.rename(index={leads.df.index[6]: "lead six"})  # an ID of another shape: remembered too
    state = json.loads(json.dumps(check(tables, now=now).state))
    leads.df.loc[leads.df.index[4], "city"] = "  Graz"
    edited = check(tables, now=now, state=state)
    assert any(f.type == "invalid-id" and f.record_id == "lead six" for f in edited.findings)
    before, after = state["rows"]["tables"], edited.state["rows"]["tables"]
    assert after["leads"]["packed"] != before["leads"]["packed"]
    assert after["contacts"]["packed"] is before["contacts"]["packed"]  # not unpacked and packed again
    assert edited.findings == check(tables, now=now).findings
    damaged = json.loads(json.dumps(edited.state))
    damaged["rows"]["tables"]["leads"]["packed"] = damaged["rows"]["tables"]["leads"]["packed"][:-12] + "AAAA"
    assert check(tables, now=now, state=damaged).findings == check(tables, now=now).findings
    ctx = Context.build(tables, now)
    assert len(RowMemory(damaged["rows"]).plan(ctx, leads).sub.df) == len(leads.df)  # a damaged memory is a miss


@pytest.mark.slow
def test_check_fix_takes_the_same_findings_with_and_without_its_row_memory():
    tables, now = generate("sales", leads=150, seed=4).to_tables(), DEFAULT_NOW
    state = json.loads(json.dumps(check(tables, now=now).state))
    leads = tables["leads"]
    leads.df.loc[leads.df.index[2], "email"] = " Someone@Example.COM "  # a fix: check --fix looks twice
    leads.df.loc[leads.df.index[3], "created"] = pd.Timestamp("2031-01-01")  # a date kept in the memory
    with_memory = check(tables, now=now, fix=True, state=state)
    without = check(tables, now=now, fix=True, state={"phones": state.get("phones")})
    assert with_memory.findings == without.findings and with_memory.stats == without.stats
    assert with_memory.changes.updates == without.changes.updates
    again = check(tables, now=now, fix=True, state=json.loads(json.dumps(with_memory.state)))
    assert again.findings == without.findings


@pytest.mark.slow
def test_a_changed_setting_or_day_makes_check_look_at_every_row_again():
    tables, now = _sample_tables(), DEFAULT_NOW
    state = json.loads(json.dumps(check(tables, now=now).state))
    leads = tables["leads"]
    assert len(RowMemory(state["rows"]).plan(Context.build(tables, now), leads).sub.df) == 0
    tables.settings["check_title_case"] = False
    plan = RowMemory(state["rows"]).plan(Context.build(tables, now), leads)
    assert len(plan.sub.df) == len(leads.df) and not plan.kept
    assert check(tables, now=now, state=state).findings == check(tables, now=now).findings
    tables.settings.pop("check_title_case")
    later = now.replace(year=now.year + 1)
    assert len(RowMemory(state["rows"]).plan(Context.build(tables, later), leads).sub.df) == len(leads.df)
    assert check(tables, now=later, state=state).findings == check(tables, now=later).findings


@pytest.mark.slow
def test_dedupe_gives_its_last_result_again_only_while_nothing_it_reads_changed():
    from crm_sheets.jobs.dedupe import dedupe

    tables, now = _sample_tables(), DEFAULT_NOW
    first = dedupe(tables, now=now)
    assert "inputs" not in first.state  # it merged: no result to give again (only its match keys, index.py)
    first.changes.apply_to(tables)
    settled = dedupe(tables, now=now)
    assert settled.changes.is_empty() and settled.state["inputs"]
    state = json.loads(json.dumps(settled.state))
    again = dedupe(tables, now=now, state=state)
    assert again.findings == settled.findings and again.stats == settled.stats and again.changes.is_empty()
    tables.settings["dedupe_review_threshold"] = 0.3  # a setting changed: every pair scored again
    lower = dedupe(tables, now=now, state=state)
    assert lower.state.get("inputs") != state["inputs"]
    assert lower.stats == dedupe(tables, now=now).stats and lower.stats["pairs_found"] > settled.stats["pairs_found"]


@pytest.mark.slow
def test_report_lays_out_its_sheets_again_only_when_what_they_show_changed():
    tables, now = _sample_tables(), DEFAULT_NOW
    first = report(tables, now=now)
    state = json.loads(json.dumps(first.state))
    written = [spec.name for spec in first.changes.sheets]  # as the writer leaves the workbook: sheets marked ours
    tables.meta.update({f"sheet.{spec.key}": spec.name for spec in first.changes.sheets})
    tables.sheet_names = tuple(tables.sheet_names) + tuple(written)
    again = report(tables, now=now.replace(hour=now.hour + 1), state=state)
    assert again.changes.sheets == [] and again.stats["sheets"] == first.stats["sheets"]
    assert again.data.as_dict() == report(tables, now=now.replace(hour=now.hour + 1)).data.as_dict()
    tables.sheet_names = tuple(n for n in tables.sheet_names if n != "Forecast")  # a person deleted one
    assert len(report(tables, now=now, state=state).changes.sheets) == first.stats["sheets"]
    tables.sheet_names += ("Forecast",)
    tables.settings["report_period"] = "quarter"  # a setting the sheets show: laid out again
    assert len(report(tables, now=now, state=state).changes.sheets) == first.stats["sheets"]


def _automate_tables(leads: int = 400):
    """The sample data with the template's rule sheets, plus a daily rule with a condition and a quiet-deals rule
    without one: the triggers whose records automate's memory narrows down (jobs/automate/evaluated.py)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from bench_automate import sample_tables

    tables = sample_tables(leads)
    auto = tables["automations"]
    extra = [
        {"name": "Call hot leads", "table": "Leads", "trigger": "Every week", "trigger_value": "daily",
         "condition": "status = Qualified", "action": "Create task", "template": "Call {{ first_name }}", "active": True},
        {"name": "Quiet deals", "table": "Deals", "trigger": "No activity for N days", "days": 10,
         "action": "Create task", "template": "Wake {{ name }} up", "active": True},
    ]
    for k, row in enumerate(extra):
        rid = f"row{len(auto.df) + 2 + k}"
        auto.df.loc[rid] = pd.Series(row, dtype=object)
        auto.rows[rid] = len(auto.df) + 1
    return tables


def _automate_outcome(result, changes):
    state = {k: v for k, v in result.state.items() if k not in ("evaluated", "last_run")}
    return ([f.as_dict() for f in result.findings], [(e.kind, e.key, e.payload) for e in result.effects],
            [(u.table, u.record_id, u.field, str(u.value)) for u in changes.updates],
            [(a.table, a.record_id, {k: str(v) for k, v in a.values.items()}) for a in changes.appends],
            json.loads(json.dumps(state, default=str)))


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_automate_looks_only_where_values_or_dates_moved_and_acts_as_a_run_from_scratch():
    import copy

    from crm_sheets.jobs.automate.context import Run, working_copy
    from crm_sheets.jobs.automate.evaluated import Evaluated
    from crm_sheets.jobs.automate.workflows import compile_automations

    inc = _automate_tables()
    full = copy.deepcopy(inc)
    day = datetime(2026, 11, 2, 9, 0)

    def lead_edit(t):
        df = t["leads"].df
        df.loc[df.index[3], "status"] = "qualified"
        df.loc[df.index[4], "status"] = "contacted"
        new = df.iloc[[7]].copy()
        new.index = pd.Index(["L-09999"], name=df.index.name)
        t["leads"].df = pd.concat([df, new])

    def activity_deleted(t):
        acts = t["activities"]
        linked = acts.df[acts.df["deal"].notna()]
        acts.df = acts.df.drop(index=linked.index[:3])

    def lead_deleted(t):
        t["leads"].df = t["leads"].df.drop(index=t["leads"].df.index[5])

    def rule_edited(t):
        auto = t["automations"].df
        auto.loc[auto["name"] == "Quiet deals", "days"] = 20

    def setting_changed(t):
        t.settings["grade_a"] = 60

    steps = [
        ("first run", day, None),
        ("nothing new", day.replace(minute=15), None),
        ("leads edited and added", day.replace(hour=10), lead_edit),
        ("activities deleted", day.replace(hour=11), activity_deleted),
        ("the next day", day.replace(day=3), None),
        ("a lead deleted", day.replace(day=3, hour=10), lead_deleted),
        ("a rule edited", day.replace(day=3, hour=11), rule_edited),
        ("a setting changed", day.replace(day=4, hour=9), setting_changed),
        ("nothing new again", day.replace(day=4, hour=9, minute=15), None),
    ]
    state_inc = state_full = None
    narrowed = 0
    for label, at, change in steps:
        if change:
            change(inc)
            change(full)
        if state_inc is not None:
            run = Run(working_copy(inc), at, state={})
            autos = compile_automations(run)
            memory = Evaluated(run, state_inc, autos)
            narrowed += sum(1 for a in autos if a.trigger == "schedule" and a.action != "send_digest"
                            and memory.candidates(a, period=at.date().isoformat()) is not None)
        a_res, a_changes = runner.run_jobs(inc, ["automate"], now=at, options={"automate": {"state": state_inc}})
        b_res, b_changes = runner.run_jobs(full, ["automate"], now=at, options={"automate": {"state": state_full}})
        assert _automate_outcome(a_res[0], a_changes) == _automate_outcome(b_res[0], b_changes), label
        state_inc = json.loads(json.dumps(a_res[0].state, default=str))
        state_full = {k: v for k, v in json.loads(json.dumps(b_res[0].state, default=str)).items() if k != "evaluated"}
    assert narrowed >= 3  # the runs within a day looked at the changed records only


def test_dedupe_computes_match_keys_only_for_new_and_changed_records_and_pairs_the_same():
    from crm_sheets.jobs.dedupe import find_pairs
    from crm_sheets.jobs.dedupe.index import KeyMemory

    tables = _sample_tables()
    first = KeyMemory()
    assert find_pairs(tables, memory=first) == find_pairs(tables)
    leads = tables["leads"]
    copied = leads.df.iloc[[9]].copy()  # the same person typed again, with a new email
    copied.index = pd.Index(["L-09999"], name=leads.df.index.name)
    copied["email"] = "another.mailbox@example.org"
    leads.df = pd.concat([leads.df.drop(index=leads.df.index[20]), copied])  # and a lead deleted
    leads.df.loc[leads.df.index[4], "last_name"] = "Someone-Else"  # a lead whose keys changed
    again = KeyMemory(first.state())
    pairs = find_pairs(tables, memory=again)
    assert pairs == find_pairs(tables)
    assert again.computed == 2  # the new lead and the renamed one; every other record's keys were known
    assert any("L-09999" in p.key for p in pairs)
    kept = KeyMemory(again.state())
    assert find_pairs(tables, memory=kept) == pairs and kept.computed == 0
    assert KeyMemory("not a memory").computed == 0 and find_pairs(tables, memory=KeyMemory("garbage")) == pairs


def test_dedupe_packs_again_only_the_keys_of_changed_records_and_keeps_the_rest_as_given():
    from crm_sheets.jobs.dedupe import find_pairs
    from crm_sheets.jobs.dedupe.index import KeyMemory, _unpack_kind
    from crm_sheets.outbox.states import split_states

    tables = generate("sales", leads=3000, seed=5).to_tables()
    first = KeyMemory()
    find_pairs(tables, memory=first)
    given = json.loads(json.dumps(first.state()))
    assert set(given["people|US"]) == {"b"}
    leads = tables["leads"]
    for k in (4, 40):  # two leads renamed
        leads.df.loc[leads.df.index[k], "last_name"] = f"Someone-Else-{k}"
    again = KeyMemory(given)
    pairs = find_pairs(tables, memory=again)
    assert pairs == find_pairs(tables) and again.computed == 2
    state = again.state()
    assert state["people|US"]["b"] is given["people|US"]["b"]  # the base as given: not packed again
    assert len(_unpack_kind({"d": state["people|US"]["d"]})[0]) == 2  # the newcomers alone
    # the base is a piece of the states of its own: a commit does not write it again
    _, pieces_given = split_states({"dedupe": {"keys": given}})
    _, pieces_now = split_states({"dedupe": {"keys": state}})
    assert set(pieces_given) <= set(pieces_now) and pieces_given
    kept = KeyMemory(json.loads(json.dumps(state)))
    assert find_pairs(tables, memory=kept) == pairs and kept.computed == 0
    assert kept.state()["people|US"] == state["people|US"]  # nothing new: the same parts
    # a third of the leads deleted: the entries no record has any more are too many, the base is packed again
    leads.df = leads.df.iloc[: len(leads.df) * 2 // 3]
    smaller = KeyMemory(json.loads(json.dumps(kept.state())))
    assert find_pairs(tables, memory=smaller) == find_pairs(tables) and smaller.computed == 0
    packed = smaller.state()
    fresh = KeyMemory()
    find_pairs(tables, memory=fresh)
    assert packed["people|US"] == fresh.state()["people|US"]  # as a memory made from nothing


def test_the_data_issues_digest_takes_a_date_remembered_in_another_time_unit_as_the_same():
    from dataclasses import replace

    from crm_sheets.jobs.check.sheet import data_issues_digest
    from crm_sheets.model import Finding

    tables = generate("sales", leads=50, seed=3).to_tables()
    a = Finding("future-date", "warning", "leads", "L-00001", "created", pd.Timestamp("2031-01-01").as_unit("ns"), "m")
    same = replace(a, value=pd.Timestamp("2031-01-01").as_unit("s"))  # as check's row memory gives it back
    assert data_issues_digest(tables, [a]) == data_issues_digest(tables, [same])
    assert data_issues_digest(tables, [a]) != data_issues_digest(tables, [replace(a, value="2031-01-01 00:00:00")])


def test_dedupe_keeps_organisation_pairs_between_runs_and_pairs_the_same(monkeypatch):
    from crm_sheets.jobs.dedupe import find_pairs, matching
    from crm_sheets.jobs.dedupe.matching import OrgPairs

    tables = _sample_tables()
    accounts = tables["accounts"]
    twin = accounts.df.iloc[[3]].copy()  # an account typed twice: a pair of organisations to keep
    twin.index = pd.Index(["A-09999"], name=accounts.df.index.name)
    accounts.df = pd.concat([accounts.df, twin])
    first = OrgPairs()
    pairs = find_pairs(tables, org_pairs=first)
    assert pairs == find_pairs(tables) and any("A-09999" in p.key for p in pairs)
    kept = json.loads(json.dumps(first.state()))  # as dedupe's state keeps it
    scored = []
    real = matching._org_pairs
    monkeypatch.setattr(matching, "_org_pairs", lambda *a: scored.append(1) or real(*a))
    assert find_pairs(tables, org_pairs=OrgPairs(kept)) == pairs and not scored  # nothing scored again
    accounts.df.loc["A-09999", "name"] = "Another Name Entirely"
    again = find_pairs(tables, org_pairs=OrgPairs(kept))
    assert scored == [1] and again == find_pairs(tables)  # the accounts scored again, the leads' organisations not
    assert find_pairs(tables, org_pairs=OrgPairs({"x": "garbage"})) == again


@pytest.mark.slow
def test_dedupe_gives_its_result_again_when_only_cells_it_never_reads_changed():
    from crm_sheets.jobs.dedupe import dedupe
    from crm_sheets.runner import _settle

    tables = generate("sales", leads=1500, seed=5).to_tables()  # with pairs left to review
    first = dedupe(tables, now=DEFAULT_NOW)
    first.changes.apply_to(tables)
    state = json.loads(json.dumps(_settle(dedupe, first, tables, DEFAULT_NOW, {}).state))
    done = dedupe(tables, now=DEFAULT_NOW, state=state)
    assert done.changes.is_empty() and done.stats["pending_review"] > 0
    state = json.loads(json.dumps(done.state))
    leads = tables.df("leads")
    leads.loc[leads.index[7], "notes"] = "called back, not interested"  # a cell dedupe never reads
    again = dedupe(tables, now=DEFAULT_NOW, state=state)
    assert again.state is state  # given again, nothing paired
    fresh = dedupe(tables, now=DEFAULT_NOW)
    assert (again.findings, again.stats) == (fresh.findings, fresh.stats) and fresh.changes.is_empty()
    # a field the review sheet shows, of a record in an undecided pair: the sheet is rewritten, as from nothing
    shown = next(f.record_id for f in done.findings if f.type == "possible-duplicate" and f.table == "leads")
    leads.loc[shown, "job_title"] = "Chief Everything Officer"
    changed = dedupe(tables, now=DEFAULT_NOW, state=state)
    fresh = dedupe(tables, now=DEFAULT_NOW)
    assert changed.state is not state and changed.changes.sheets and repr(changed.changes.sheets) == repr(fresh.changes.sheets)
    assert (changed.findings, changed.stats) == (fresh.findings, fresh.stats)


def test_dedupe_keeps_people_pairs_between_runs_and_pairs_the_same_after_edits_in_and_out_of_blocks(monkeypatch):
    from crm_sheets.jobs.dedupe import find_pairs, matching
    from crm_sheets.jobs.dedupe.matching import OrgPairs

    tables = _sample_tables()
    leads, contacts = tables["leads"], tables["contacts"]
    memory = [OrgPairs()]
    pairs = find_pairs(tables, org_pairs=memory[0])
    assert pairs == find_pairs(tables)
    paired = []
    real = matching._people_pairs
    monkeypatch.setattr(matching, "_people_pairs", lambda *a: paired.append(1) or real(*a))

    def again() -> list:
        """find_pairs given the last run's kept pairs (as dedupe's state keeps them): what find_pairs finds without."""
        paired.clear()
        memory[0] = kept = OrgPairs(json.loads(json.dumps(memory[0].state())))
        got = find_pairs(tables, org_pairs=kept)
        assert got == find_pairs(tables)
        return got

    # what dedupe reads but pairs no person by (an activity's contact): the people are not paired again
    activities = tables["activities"]
    activities.df.loc[activities.df.index[0], "contact"] = contacts.df.index[5]
    assert again() == pairs and paired == [1]  # (once: find_pairs without kept pairs, in again())
    # a lead moved into another's block (its name, company and email) and a paired lead moved out of every block
    a, b = leads.df.index[[2, 3]]
    c = next(p.id_a for p in pairs if p.table_a == p.table_b == "leads" and a not in p.key and b not in p.key)
    was = leads.df.loc[[a, c]].copy()
    for field in ("first_name", "last_name", "company", "email"):
        leads.df.loc[a, field] = leads.df.at[b, field]
    for field, value in (("first_name", "Quorra"), ("last_name", "Zzyzx-Unheard"), ("company", "Nowhere Ltd"),
                         ("email", None), ("phone", None), ("website", None)):
        leads.df.loc[c, field] = value
    moved = again()
    assert paired == [1, 1] and any(p.key == {a, b} for p in moved) and not any(c in p.key for p in moved)
    # and back as they were: the first run's pairs, paired again (the kept pairs are the moved frame's)
    for rid in (a, c):
        for field in was.columns:
            leads.df.loc[rid, field] = was.at[rid, field]
    assert again() == pairs and paired == [1, 1]
    assert again() == pairs and paired == [1]  # nothing edited since: the kept pairs
    # a contact's company is its account's name: an account renamed pairs the people again
    accounts = tables["accounts"]
    linked = contacts.df["account"].dropna()
    accounts.df.loc[linked.iloc[0], "name"] = "Renamed Holdings"
    again()  # (the same pairs as find_pairs from scratch: again() asserts it)
    assert paired == [1, 1]
    # the leads in another order (a sort): paired again, as from scratch
    leads.df = leads.df.iloc[::-1]
    again()
    assert paired == [1, 1]
    # a damaged or foreign state is only a miss
    assert find_pairs(tables, org_pairs=OrgPairs({"x": [["leads", "L-1", "leads", "L-2", 0.99, []]]})) == find_pairs(tables)


@pytest.mark.slow  # a dozen automate runs on 400 sample leads, twice
@pytest.mark.parametrize("seed", [3, 17])
def test_automate_after_random_edits_and_a_moving_clock_acts_as_a_run_from_scratch(seed):
    """People change statuses, stages, owners and dates between runs, add leads, and the clock moves by minutes,
    hours and days: automate with its memory of the last run (which records it looked at, the snapshot its field
    changes compare with) queues, changes and reports what a run that forgot what it looked at does."""
    import copy
    import random

    rng = random.Random(seed)
    inc = _automate_tables()
    auto = inc["automations"]
    extra = [
        {"name": "Closing today", "table": "Deals", "trigger": "Date reached", "trigger_field": "close_date",
         "days": 0, "action": "Create task", "template": "Close {{ name }}", "active": True},
        {"name": "New owner", "table": "Leads", "trigger": "Field changed", "trigger_field": "owner",
         "action": "Create task", "template": "Meet {{ first_name }}", "active": True},
    ]
    for k, row in enumerate(extra):
        rid = f"row{len(auto.df) + 2 + k}"
        auto.df.loc[rid] = pd.Series(row, dtype=object)
        auto.rows[rid] = len(auto.df) + 1
    full = copy.deepcopy(inc)
    statuses = ["new", "contacted", "qualified", "unqualified", "converted"]
    stages = sorted({s for s in inc["deals"].df["stage"].dropna()} | {"proposal", "closed_won"})
    owners = sorted({o for o in inc["leads"].df["owner"].dropna()}) + [None]

    def edit(t, picks):
        leads, deals = t["leads"].df, t["deals"].df
        for kind, at, value in picks:
            if kind == "status":
                leads.loc[leads.index[at % len(leads)], "status"] = value
            elif kind == "owner":
                leads.loc[leads.index[at % len(leads)], "owner"] = value
            elif kind == "stage":
                deals.loc[deals.index[at % len(deals)], "stage"] = value
            elif kind == "close_date":
                deals.loc[deals.index[at % len(deals)], "close_date"] = value
            elif kind == "last_contacted":
                leads.loc[leads.index[at % len(leads)], "last_contacted"] = value
            elif kind == "new_lead":
                row = leads.iloc[[at % len(leads)]].copy()
                row.index = pd.Index([value], name=leads.index.name)
                t["leads"].df = leads = pd.concat([leads, row])

    at = datetime(2026, 11, 2, 9, 0)
    state_inc = state_full = None
    for step in range(7):
        if step:
            at += rng.choice([pd.Timedelta(minutes=15), pd.Timedelta(hours=3), pd.Timedelta(days=1), pd.Timedelta(days=9)])
            day = pd.Timestamp(at).normalize()
            picks = []
            for _ in range(rng.randint(1, 8)):
                kind = rng.choice(["status", "owner", "stage", "close_date", "last_contacted", "new_lead"])
                value = {"status": lambda: rng.choice(statuses), "owner": lambda: rng.choice(owners),
                         "stage": lambda: rng.choice(stages),
                         "close_date": lambda: day + pd.Timedelta(days=rng.randint(-2, 3)),
                         "last_contacted": lambda: day - pd.Timedelta(days=rng.randint(0, 40)),
                         "new_lead": lambda: f"L-{90000 + step * 10 + len(picks)}"}[kind]()
                picks.append((kind, rng.randrange(10_000), value))
            edit(inc, picks)
            edit(full, picks)
        a_res, a_changes = runner.run_jobs(inc, ["automate"], now=at, options={"automate": {"state": state_inc}})
        b_res, b_changes = runner.run_jobs(full, ["automate"], now=at, options={"automate": {"state": state_full}})
        assert _automate_outcome(a_res[0], a_changes) == _automate_outcome(b_res[0], b_changes), (step, at)
        state_inc = json.loads(json.dumps(a_res[0].state, default=str))
        state_full = {k: v for k, v in json.loads(json.dumps(b_res[0].state, default=str)).items() if k != "evaluated"}
