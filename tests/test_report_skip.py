"""The report computes only when what its figures are made from changed: an edit to a column it reads gives new
figures, an edit anywhere else gives the kept ones, and either way they are exactly a full computation's."""
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

import crm_sheets.jobs.report as report_job
from crm_sheets.jobs.report import compute, report
from crm_sheets.jobs.report.memory import READS, figures_from_json, figures_json
from crm_sheets.model import Table, Tables

NOW = datetime(2026, 3, 15, 9, 0)


@pytest.fixture(scope="module")
def sample():
    from crm_sheets.sample import generate

    return generate("sales", leads=400, seed=7, now=NOW).to_tables("en")


def copy(tables: Tables) -> Tables:
    return Tables(tables.schema, {n: Table(t.schema, t.df.copy()) for n, t in tables.tables.items()},
                  lang=tables.lang, lists=dict(tables.lists), settings=dict(tables.settings))


def full(tables: Tables, now: datetime):
    """The figures, findings and counts of a run without a state: everything computed."""
    return report(tables, now=now)


def same_result(a, b) -> None:
    assert repr(a.data) == repr(b.data)
    assert a.data.as_dict() == b.data.as_dict()
    assert a.findings == b.findings
    assert {k: v for k, v in a.stats.items() if k != "sheets"} == {k: v for k, v in b.stats.items() if k != "sheets"}


@pytest.fixture
def computes(monkeypatch):
    """How many times the report computed its figures."""
    calls = []

    def counted(tables, now):
        calls.append(now)
        return compute(tables, now)

    monkeypatch.setattr(report_job, "compute", counted)
    return calls


def test_an_edit_to_a_column_the_report_does_not_read_gives_the_kept_figures_without_computing(sample, computes):
    tables = copy(sample)
    first = report(tables, now=NOW)
    leads = tables["leads"].df
    assert "city" not in READS["leads"]
    leads["city"] = leads["city"].astype(object)
    leads.iloc[:10, leads.columns.get_loc("city")] = "Somewhere else"
    again = report(tables, now=NOW + timedelta(hours=5), state=first.state)
    assert len(computes) == 1  # the first run only
    # the same sheets, stamped with the first run's time: the store finds nothing to rewrite (in a workbook
    # holding them, still_shown lays out none)
    assert [s.rows for s in again.changes.sheets] == [s.rows for s in first.changes.sheets]
    assert repr(again.data.now) == repr(NOW + timedelta(hours=5))
    same_result(again, full(tables, NOW + timedelta(hours=5)))


def test_an_edit_to_a_column_the_report_reads_changes_the_figures(sample, computes):
    tables = copy(sample)
    first = report(tables, now=NOW)
    deals = tables["deals"].df
    usd = next(i for i, c in enumerate(deals["currency"]) if c == "USD")  # an open deal here (no Stages rows)
    deals.iloc[usd, deals.columns.get_loc("amount")] = float(deals["amount"].iloc[usd]) + 1000.0
    again = report(tables, now=NOW, state=first.state)
    assert len(computes) == 2
    assert again.data.dashboard.open_value == pytest.approx(first.data.dashboard.open_value + 1000.0)
    assert again.changes.sheets  # the dashboard shows another total
    same_result(again, full(tables, NOW))


def test_the_next_day_the_figures_are_computed_again(sample, computes):
    tables = copy(sample)
    first = report(tables, now=NOW)
    later = NOW + timedelta(days=1)
    again = report(tables, now=later, state=first.state)
    assert len(computes) == 2
    same_result(again, full(tables, later))


def test_a_setting_the_figures_use_is_an_input(sample, computes):
    tables = copy(sample)
    first = report(tables, now=NOW)
    tables.settings["report_period"] = "quarter"
    again = report(tables, now=NOW, state=first.state)
    assert len(computes) == 2 and again.data.period == "quarter"
    same_result(again, full(tables, NOW))


def test_a_deleted_report_sheet_is_made_again_from_the_kept_figures(sample, computes):
    tables = copy(sample)
    first = report(tables, now=NOW)
    again = report(tables, now=NOW, state=first.state)  # no sheet is in these tables' workbook: all made again
    assert len(computes) == 1
    built = full(tables, NOW)
    assert [s.key for s in again.changes.sheets] == [s.key for s in built.changes.sheets]
    assert [s.rows for s in again.changes.sheets] == [s.rows for s in built.changes.sheets]


def test_every_column_the_figures_read_is_named_in_reads(sample):
    """Blank every column READS does not name, and empty every table it does not name: the same figures."""
    tables = copy(sample)
    for name, t in tables.tables.items():
        keep = READS.get(name, ())
        for col in t.df.columns:
            if col not in keep:
                t.df[col] = pd.Series(np.nan, index=t.df.index, dtype=object)
        if name not in READS:
            tables.tables[name] = Table(t.schema, t.df.iloc[0:0])
    assert repr(compute(tables, NOW)) == repr(compute(sample, NOW))


def test_the_kept_figures_come_back_equal(sample):
    fig = compute(sample, NOW)
    kept = figures_json(fig)
    assert kept is not None
    assert repr(figures_from_json(kept, NOW)) == repr(fig)
    assert figures_from_json("not a kept text", NOW) is None


@pytest.mark.slow
def test_a_run_after_a_colleague_edited_notes_gives_the_same_report_without_computing(built_book, tmp_path, monkeypatch):
    """Through the workbook: a run writes; a colleague edits leads' City and saves the whole file; the next run's
    report takes its kept figures (the committed state's), equal to computing them from what that run read."""
    import openpyxl

    import crm_sheets
    from helpers import fresh_copy

    path = fresh_copy(built_book(sample_data=300, now=NOW), tmp_path)
    crm_sheets.run(path, now=NOW)
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    for row in range(2, 12):
        ws.cell(row, header["City"]).value = "Porto"
    wb.save(path)
    calls = []
    monkeypatch.setattr(report_job, "compute", lambda tables, now: calls.append(now) or compute(tables, now))
    later = NOW + timedelta(hours=1)
    done = crm_sheets.run(path, now=later)
    assert calls == []
    job = next(r for r in done.results if r.job == "report")
    assert repr(job.data) == repr(compute(done.tables, later))


def test_a_table_read_as_last_time_keeps_its_digest_and_one_changed_since_its_read_is_hashed_again(
        sample, computes, monkeypatch):
    """The digest of what the figures read is one per table; a table with the read's key the last run hashed it under
    (model/memo.py stamp), still as read, keeps that digest without its cells being hashed. A table changed after its
    read, or read with another key, is hashed: a lead's status mistyped after the read gives new figures, equal to a
    full computation's."""
    import crm_sheets.jobs.report.memory as memory
    from crm_sheets.model.memo import read_stamp, stamp

    tables = copy(sample)
    for name, t in tables.tables.items():
        stamp(t, f"read key of {name}")
    first = report(tables, now=NOW)
    assert set(first.state["parts"]) == {n for n in READS if n in tables.tables}
    hashed = []
    real = memory.frame_keys
    monkeypatch.setattr(memory, "frame_keys", lambda t, names: hashed.append(t.name) or real(t, names))

    again = copy(sample)  # the same tables read again: the same keys
    for name, t in again.tables.items():
        stamp(t, f"read key of {name}")
    computes.clear()
    kept = report(again, now=NOW, state=first.state)
    assert hashed == [] and computes == []
    same_result(kept, full(again, NOW))

    edited = copy(sample)  # read with the same keys and checked, then a lead's status changed: not the table as read
    for name, t in edited.tables.items():
        stamp(t, f"read key of {name}")
        read_stamp(t)  # (check asks for the read's key first)
    leads = edited["leads"].df
    status = leads["status"].astype(object).copy()
    status.iloc[0] = "won" if status.iloc[0] != "won" else "new"
    leads["status"] = status
    hashed.clear()
    computes.clear()
    changed = report(edited, now=NOW, state=first.state)
    assert hashed == ["leads"] and len(computes) == 1
    same_result(changed, full(edited, NOW))
    assert repr(changed.data) != repr(kept.data)


def _with_stages(tables: Tables, names: list[str]) -> Tables:
    """The tables with a Stages sheet whose rows are named ``names`` (its records' names: a sheet without IDs)."""
    out = copy(tables)
    rows = [("Prospecting", 1, 0.1, False, False), ("Proposal", 2, 0.5, False, False),
            ("Closed won", 3, 1.0, True, False), ("Closed lost", 4, 0.0, False, True), ("Scoping", 5, None, None, None)]
    df = pd.DataFrame({"stage": [r[0] for r in rows], "order": pd.array([r[1] for r in rows], dtype="Int64"),
                       "probability": [r[2] for r in rows], "won": pd.array([r[3] for r in rows], dtype="boolean"),
                       "lost": pd.array([r[4] for r in rows], dtype="boolean")},
                      index=pd.Index(names[:len(rows)], dtype=object, name="id"))
    out.tables["stages"] = Table(tables.schema.tables["stages"], df)
    return out


def test_a_stage_appended_by_a_run_and_read_back_under_its_sheet_row_gives_the_kept_figures(sample, computes):
    """A stage a job appended is named after its text in the run that appended it ('stages:Scoping') and after its
    sheet row once read back ('row6'): the next run, on the same rows, takes the kept figures."""
    ran = _with_stages(sample, ["row2", "row3", "row4", "row5", "stages:Scoping"])
    first = report(ran, now=NOW)
    read_back = _with_stages(sample, ["row2", "row3", "row4", "row5", "row6"])
    again = report(read_back, now=NOW, state=first.state)
    assert len(computes) == 1
    same_result(again, full(read_back, NOW))
    # the stages' order is still read: two stages swapped give new figures
    swapped = _with_stages(sample, ["row2", "row3", "row4", "row5", "row6"])
    swapped["stages"].df.loc[["row2", "row3"], "order"] = pd.array([2, 1], dtype="Int64")
    before = len(computes)
    moved = report(swapped, now=NOW, state=first.state)
    assert len(computes) == before + 1
    same_result(moved, full(swapped, NOW))
