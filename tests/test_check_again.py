"""The runner's second look of check (after dedupe merged and automate changed records) gives what a check of
every row from scratch gives: the same findings, Data Issues sheet, counts and state, while it takes the rows
it saw in its first look, unchanged, from its memory: a row that only moved (rows above it archived, a row
inserted above it, a sort) keeps its findings, naming its new row."""
import json

import pandas as pd
import pytest
from test_check import NOW, lead, leads, make_tables

import crm_sheets.jobs.check.memory as memory
from crm_sheets.jobs.check import check
from crm_sheets.jobs.check.common import Context
from crm_sheets.model.tables import column_letter
from crm_sheets.runner import JOB_ORDER, run_jobs
from crm_sheets.sample import DEFAULT_NOW, generate

OPTIONS = {"check": {"fix": True}}


def _with_columns(tables):
    """The tables with the column letters a read gives them: findings name cells (Leads!D84) that move with rows."""
    for t in tables.tables.values():
        names = [f.name for f in t.schema.fields if f.type == "id" or f.name in t.df.columns]
        t.columns = {n: column_letter(i) for i, n in enumerate(names)}
    return tables


def _tables():
    return _with_columns(generate("sales", leads=400, seed=5).to_tables())


def _outcome(results, merged):
    first = next(r for r in results if r.job == "check")
    issues = [s.rows for s in merged.sheets if s.key == "data_issues"]
    return first.findings, first.stats, issues, first.state["phones"], first.state["rows"]


def _from_scratch(monkeypatch, jobs):
    """The same run with check's memory of rows given nothing: every look checks every row."""
    real = memory.RowMemory.__init__

    def forgetful(self, state=None):
        real(self, None)

    with monkeypatch.context() as m:
        m.setattr(memory.RowMemory, "__init__", forgetful)
        return _outcome(*run_jobs(_tables(), list(jobs), now=DEFAULT_NOW, options=OPTIONS))


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [("check", "dedupe"), JOB_ORDER], ids=["dedupe merged", "every job"])
def test_the_second_look_after_other_jobs_changed_records_equals_a_check_from_scratch(monkeypatch, jobs):
    results, merged = run_jobs(_tables(), list(jobs), now=DEFAULT_NOW, options=OPTIONS)
    archived = {a.table for r in results for a in r.changes.archives}
    assert "leads" in archived  # dedupe merged leads: the rows below them move up on the sheet
    incremental = _outcome(results, merged)
    assert incremental == _from_scratch(monkeypatch, jobs)


def test_the_second_look_names_records_as_the_next_read_of_the_written_file_does(monkeypatch):
    # What the run reports is what the next run finds on the file it wrote, so that run writes nothing: a stage
    # check added to the Stages sheet (a sheet keyed by row) is "row6" there, not the "stages:Closed wn" it had
    # in memory; a lead dedupe merged away with an unreadable date is gone from Leads, and so is its error.
    deals = [{"id": f"D-{i:05d}", "name": f"Deal {i}", "stage": "Closed wn" if i <= 3 else "Proposal",
              "close_date": pd.Timestamp("2025-06-01")} for i in range(1, 6)]
    rows = leads(lead(), lead(first_name="Bruno", email="bruno@acme.com", phone="+12125550199"),
                 lead(created=pd.Timestamp("2025-02-10")))
    tables = make_tables(deals=deals, leads=rows)
    tables["leads"].invalid[("L-00003", "last_contacted")] = "02/31/2026"
    real = memory.RowMemory.__init__
    monkeypatch.setattr(memory.RowMemory, "__init__", lambda self, state=None: real(self, None))  # every row looked at
    results, merged = run_jobs(tables, ["check", "dedupe"], now=NOW)
    assert [(a.table, a.record_id) for a in merged.archives] == [("leads", "L-00003")]
    assert [(a.table, a.record_id) for a in merged.appends] == [("stages", "stages:Closed wn")]
    found = [(f.type, f.table, f.record_id, f.cell) for f in results[0].findings]
    assert found == [("required", "stages", "row6", "Stages!C6")]
    assert list(tables["stages"].df.index)[-1] == "stages:Closed wn"  # the later jobs' tables are left as they were


def _moved_by_a_person(tables):
    """A person typed a lead on the first row and sorted the others by last name: every lead moves, and one of
    them (L-00010) also gets a new city with spaces around it."""
    leads = tables["leads"]
    df = leads.df
    typed = df.iloc[[0]].rename(index={df.index[0]: "L-09999"})
    typed.loc["L-09999", "email"] = "zora@@example.org"
    leads.df = pd.concat([typed, df.loc[df.sort_values("last_name", kind="stable").index]])
    leads.df.loc["L-00010", "city"] = "  Graz "
    leads.rows = {rid: i + 2 for i, rid in enumerate(leads.df.index)}
    return leads


def test_rows_a_person_moved_keep_their_findings_naming_their_new_rows_and_changed_ones_are_checked_again():
    tables = _tables()
    state = json.loads(json.dumps(check(tables, now=DEFAULT_NOW).state))
    before = dict(tables["leads"].rows)
    leads = _moved_by_a_person(tables)
    plan = memory.RowMemory(state["rows"]).plan(Context.build(tables, DEFAULT_NOW), leads)
    assert list(plan.sub.df.index) == ["L-09999", "L-00010"]  # the new row and the edited one, nothing else
    assert plan.moved.sum() > 390
    again, scratch = check(tables, now=DEFAULT_NOW, state=state), check(tables, now=DEFAULT_NOW)
    assert again.findings == scratch.findings and again.stats == scratch.stats
    assert again.state["rows"] == scratch.state["rows"]  # what the next run remembers: the rows' new places
    assert [s.rows for s in again.changes.sheets] == [s.rows for s in scratch.changes.sheets]
    moved = [f for f in again.findings if f.table == "leads" and f.field and f.record_id in before
             and before[f.record_id] != leads.rows[f.record_id]]
    assert moved and all(f.cell.endswith(f"{leads.columns[f.field]}{leads.rows[f.record_id]}")
                         and f.message.startswith(f.cell) for f in moved)
    assert [f.cell for f in again.findings if f.record_id == "L-09999" and f.field == "email"] == [
        f"Leads!{leads.columns['email']}2"]


def test_the_second_look_checks_again_only_the_rows_other_jobs_changed_not_those_that_moved(monkeypatch):
    plans = []
    real = memory.TablePlan.__init__

    def noted(self, *args, **kwargs):
        real(self, *args, **kwargs)
        plans.append(self)

    monkeypatch.setattr(memory.TablePlan, "__init__", noted)
    tables = _tables()
    results, merged = run_jobs(tables, ["check", "dedupe"], now=DEFAULT_NOW, options=OPTIONS)
    second = [p for p in plans if p.table.name == "leads"][-1]  # the second look's plan of Leads
    changed = {u.record_id for u in merged.updates if u.table == "leads" and u.reason != "new record"} - \
        {u.record_id for u in results[0].changes.updates}
    assert second.moved.sum() > 100  # the leads below a merged one, on their new rows
    assert set(second.sub.df.index) <= changed | {u.record_id for u in results[0].changes.updates}


def _edited_after_a_first_look(tables):
    """What a run's later jobs and a person do to the tables between two looks of check: a score and grade written
    on every lead (automate on a first run), one lead's email retyped in capitals and one's phone country changed
    (its number is read in another region), a lead archived near the top (the leads below it move up a row), and a
    product given the SKU of another (a duplicate across rows through a changed cell)."""
    leads = tables["leads"]
    df = leads.df.copy()
    df["score"] = pd.array([(i * 7) % 100 for i in range(len(df))], dtype=df["score"].dtype)
    df["grade"] = ["A" if (i * 7) % 100 >= 70 else "C" for i in range(len(df))]
    df.loc["L-00005", "email"] = str(df.loc["L-00005", "email"]).upper()
    df.loc["L-00007", "country"] = "France"
    gone = df.index[2]
    df = df.drop(index=gone)
    leads.df = df
    leads.rows = {rid: i + 2 for i, rid in enumerate(df.index)}
    products = tables["products"]
    pdf = products.df.copy()
    pdf.iloc[1, pdf.columns.get_loc("sku")] = pdf["sku"].iloc[0]
    products.df = pdf
    return gone


def test_a_look_after_jobs_wrote_scores_on_every_row_checks_only_the_changed_cells_and_finds_what_a_check_from_scratch_finds():
    tables = _tables()
    first = check(tables, now=DEFAULT_NOW, fix=True)
    assert type(first.state["rows"]) is not dict  # within the run it carries the memory of the rows' cells
    first.changes.apply_to(tables)  # its fixes, as the runner applies them
    gone = _edited_after_a_first_look(tables)
    plans = []
    real = memory.TablePlan.__init__

    def noted(self, *args, **kwargs):
        real(self, *args, **kwargs)
        plans.append(self)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(memory.TablePlan, "__init__", noted)
        again = check(tables, now=DEFAULT_NOW, state=first.state)
    scratch = check(tables, now=DEFAULT_NOW)
    assert again.findings == scratch.findings and again.stats == scratch.stats
    assert again.state["rows"] == scratch.state["rows"] and again.state["phones"] == scratch.state["phones"]
    assert [s.rows for s in again.changes.sheets] == [s.rows for s in scratch.changes.sheets]
    assert json.loads(json.dumps(again.state)) == json.loads(json.dumps(scratch.state))  # as saved
    # every lead was partly changed (its score), but only the fields whose cells changed were checked again
    leads = next(p for p in plans if p.table.name == "leads")
    fields = [f.name for f in leads.table.schema.fields]
    assert leads.partial.sum() == len(leads.table.df) and not leads.fresh.any()
    assert leads.rows_for(fields.index("score")).all()
    assert list(leads.table.df.index[leads.rows_for(fields.index("email"))]) == ["L-00005"]
    assert list(leads.table.df.index[leads.rows_for(fields.index("phone"))]) == ["L-00007"]  # read as French now
    assert not leads.rows_for(fields.index("city")).any()
    assert gone not in {f.record_id for f in again.findings}
    skus = [f for f in again.findings if f.table == "products" and f.field == "sku"]
    assert skus and skus == [f for f in scratch.findings if f.table == "products" and f.field == "sku"]


def test_an_earlier_looks_state_given_to_two_later_looks_serves_each_as_a_check_from_scratch():
    tables = _tables()
    first = check(tables, now=DEFAULT_NOW, fix=True)
    first.changes.apply_to(tables)
    _edited_after_a_first_look(tables)
    again = check(tables, now=DEFAULT_NOW, state=first.state)  # takes the cells' keys the earlier look carried
    twice = check(tables, now=DEFAULT_NOW, state=first.state)  # reads the packed memory alone
    scratch = check(tables, now=DEFAULT_NOW)
    assert again.findings == twice.findings == scratch.findings
    assert [s.rows for s in twice.changes.sheets] == [s.rows for s in scratch.changes.sheets]
    assert json.loads(json.dumps(again.state)) == json.loads(json.dumps(twice.state)) \
        == json.loads(json.dumps(scratch.state))


def test_a_cell_a_person_edited_between_two_looks_gets_its_new_findings_and_its_row_keeps_the_others():
    tables = _tables()
    first = check(tables, now=DEFAULT_NOW)
    leads = tables["leads"]
    df = leads.df.copy()
    rid = df.index[10]
    df.loc[rid, "city"] = "  graz  "  # extra spaces: a finding of the city field alone
    df.loc[rid, "created"] = pd.Timestamp(DEFAULT_NOW) + pd.Timedelta(days=40)  # a date in the future (a row check)
    leads.df = df
    again, scratch = check(tables, now=DEFAULT_NOW, state=first.state), check(tables, now=DEFAULT_NOW)
    assert again.findings == scratch.findings and again.state["rows"] == scratch.state["rows"]
    mine = {(f.type, f.field) for f in again.findings if f.record_id == rid}
    assert ("extra-spaces", "city") in mine and ("future-date", "created") in mine
    assert mine >= {(f.type, f.field) for f in first.findings if f.record_id == rid and f.field not in ("city", "created")}


def test_a_later_look_checks_the_dates_only_of_rows_whose_dates_changed_and_finds_what_a_check_from_scratch_finds():
    tables = _tables()
    leads = tables["leads"]
    df = leads.df.copy()
    future = pd.Timestamp(DEFAULT_NOW) + pd.Timedelta(days=30)
    ids = list(df.index)
    df.loc[ids[3], "created"] = future  # a future date before the first look, left alone: its finding is kept
    df.loc[ids[4], "created"] = future  # one a person corrects between the looks: its finding goes
    leads.df = df
    deals = tables["deals"]
    first = check(tables, now=DEFAULT_NOW, fix=True)
    first.changes.apply_to(tables)
    assert {f.record_id for f in first.findings if f.type == "future-date"} >= {ids[3], ids[4]}
    df = leads.df.copy()
    df["score"] = pd.array([(i * 7) % 100 for i in range(len(df))], dtype=df["score"].dtype)  # every lead partial
    df.loc[ids[4], "created"] = pd.Timestamp(DEFAULT_NOW) - pd.Timedelta(days=3)
    df.loc[ids[8], "created"] = future  # a new future date
    leads.df = df
    ddf = deals.df.copy()
    open_stage = next(s for s in ddf["stage"] if isinstance(s, str) and s.lower().startswith("prop"))
    ddf.iloc[0, ddf.columns.get_loc("stage")] = open_stage  # an open deal now: its close date may have passed
    ddf.iloc[0, ddf.columns.get_loc("close_date")] = pd.Timestamp(DEFAULT_NOW) - pd.Timedelta(days=10)
    deals.df = ddf
    again, scratch, plan = _look_again_with_leads_plan(tables, first.state)
    assert [s.rows for s in again.changes.sheets] == [s.rows for s in scratch.changes.sheets]
    found = {f.record_id for f in again.findings if f.type == "future-date"}
    assert ids[3] in found and ids[8] in found and ids[4] not in found
    stale = [f for f in again.findings if f.type == "stale-close-date"]
    assert deals.df.index[0] in {f.record_id for f in stale}
    # every lead's score changed, but only the leads whose dates changed had their dates checked again
    assert plan.partial.all()
    assert set(plan.table.df.index[plan.dates_rows()]) == {ids[4], ids[8]}


def test_a_later_look_checks_cell_limits_only_on_rows_with_a_long_text_before_or_now_and_finds_what_a_check_from_scratch_finds():
    tables = _tables()
    leads = tables["leads"]
    df = leads.df.copy()
    ids = list(df.index)
    long_text = "word " * 7000  # 35,000 characters: more than a cell holds
    df.loc[ids[2], "notes"] = long_text  # over the limit before the first look, its score alone changes after
    df.loc[ids[3], "notes"] = long_text  # shortened between the looks
    leads.df = df
    first = check(tables, now=DEFAULT_NOW, fix=True)
    first.changes.apply_to(tables)
    assert {f.record_id for f in first.findings if f.type == "cell-too-long"} == {ids[2], ids[3]}
    df = leads.df.copy()
    df["score"] = pd.array([(i * 7) % 100 for i in range(len(df))], dtype=df["score"].dtype)  # every lead partial
    df.loc[ids[3], "notes"] = "short now"
    df.loc[ids[5], "notes"] = long_text + "!"  # over the limit now
    leads.df = df
    again, scratch, plan = _look_again_with_leads_plan(tables, first.state)
    assert {f.record_id for f in again.findings if f.type == "cell-too-long"} == {ids[2], ids[5]}
    assert plan.partial.all()
    assert set(plan.table.df.index[plan.limits_rows()]) == {ids[2], ids[3], ids[5]}


def _look_again_with_leads_plan(tables, state):
    """A later look with ``state``, checked equal to a check from scratch; with the plan its memory made for Leads."""
    plans = []
    real = memory.TablePlan.__init__

    def noted(self, *args, **kwargs):
        real(self, *args, **kwargs)
        plans.append(self)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(memory.TablePlan, "__init__", noted)
        again = check(tables, now=DEFAULT_NOW, state=state)
    scratch = check(tables, now=DEFAULT_NOW)
    assert again.findings == scratch.findings and again.stats == scratch.stats
    assert again.state["rows"] == scratch.state["rows"]
    return again, scratch, next(p for p in plans if p.table.name == "leads")
