"""Dedupe on a first run: the rounds the runner runs until nothing more merges, and the confirming pass on the
file as written, give what dedupe from scratch gives. A result that changes nothing is given again while nothing
dedupe reads changed: sheet rows renumbered by the write and rows other jobs appended to tables no match or
decision names are not such a change (the cells of its findings are placed again); a moved decision row is."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import crm_sheets.jobs.dedupe.job as dedupe_job
from crm_sheets.jobs.dedupe import dedupe
from crm_sheets.model import Tables
from crm_sheets.runner import run_jobs
from crm_sheets.sample import DEFAULT_NOW, generate
from test_dedupe import NOW, SCHEMA, UNSURE, apply, lead, table, workbook


def written(tables: Tables) -> None:
    """What a write does to the tables dedupe reads: records get consecutive sheet rows below the header (the
    rows merged records left are gone), rows appended in memory get theirs, and automate appends an activity."""
    for t in tables.tables.values():
        t.rows = {rid: 2 + k for k, rid in enumerate(t.df.index)}
    act = tables.get("activities")
    if act is not None:
        rid = "AC-99999"
        act.df.loc[rid] = pd.Series({"type": "call", "subject": "appended after dedupe"}, dtype=object).reindex(act.df.columns)
        act.rows[rid] = len(act.df) + 1


def result_of(r) -> tuple:
    return ([f.as_dict() for f in r.findings], r.stats, r.changes.summary(), r.changes.sheets, r.changes.meta)


def no_pairing(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("dedupe paired records again")
    monkeypatch.setattr(dedupe_job, "find_pairs", refuse)


@pytest.mark.slow
def test_the_confirming_pass_after_merges_is_answered_from_the_last_round_and_equals_dedupe_from_scratch(monkeypatch):
    tables = generate("sales", leads=400, seed=5).to_tables()
    results, changes = run_jobs(tables, ["dedupe"], now=DEFAULT_NOW)
    (first,) = results
    assert first.stats["merged"] and changes.archives
    tables.meta.update(changes.meta)
    written(tables)
    scratch = dedupe(tables, now=DEFAULT_NOW)
    assert scratch.changes.is_empty()
    state = json.loads(json.dumps(first.state))
    no_pairing(monkeypatch)
    confirming = dedupe(tables, now=DEFAULT_NOW, state=state)
    assert result_of(confirming) == result_of(scratch)


def test_possible_duplicates_given_again_point_at_the_rows_their_records_moved_to(monkeypatch):
    # without a Duplicate Decisions sheet an unsure pair is only reported: a result that changes nothing but has
    # findings with cells
    tables = Tables(SCHEMA, {"leads": table("leads", UNSURE)}, settings={})
    leads = tables["leads"]
    leads.columns = {"id": "A", **leads.columns}
    leads.rows = {rid: 2 + k for k, rid in enumerate(leads.df.index)}
    tables.meta.update(dedupe(tables, now=NOW).changes.meta)  # the review sheet as the store writes it
    settled = dedupe(tables, now=NOW)
    assert settled.changes.is_empty() and any(f.type == "possible-duplicate" and f.cell for f in settled.findings)
    state = json.loads(json.dumps(settled.state))
    leads.rows = {rid: 10 + 3 * k for k, rid in enumerate(leads.df.index)}  # rows inserted above them
    scratch = dedupe(tables, now=NOW)
    assert [f.cell for f in scratch.findings] != [f.cell for f in settled.findings]
    no_pairing(monkeypatch)
    assert result_of(dedupe(tables, now=NOW, state=state)) == result_of(scratch)


def test_a_decision_row_that_moved_lays_out_the_review_sheet_again():
    tables = workbook(leads=UNSURE)
    first = dedupe(tables, now=NOW)
    apply(tables, first)
    settled = dedupe(tables, now=NOW)
    assert settled.changes.is_empty()
    state = json.loads(json.dumps(settled.state))
    dec = tables["dedupe_decisions"]
    dec.rows = {rid: row + 5 for rid, row in dec.rows.items()}  # the review sheet links to these rows
    again = dedupe(tables, now=NOW, state=state)
    assert result_of(again) == result_of(dedupe(tables, now=NOW))
    assert [s.key for s in again.changes.sheets] == ["duplicates_review"]


def test_a_matched_cell_edited_after_the_last_run_pairs_again():
    tables = workbook(leads=[lead("L-00001", "Ana", "Lopez", "ana@acme.com", company="Acme"),
                             lead("L-00002", "Bo", "Chen", "bo@example.org")])
    settled = dedupe(tables, now=NOW)
    assert settled.changes.is_empty() or apply(tables, settled) is None
    state = json.loads(json.dumps(dedupe(tables, now=NOW).state))
    tables.df("leads").loc["L-00002", ["first_name", "last_name", "email"]] = ["Ana", "Lopez", "ana@acme.com"]
    again = dedupe(tables, now=NOW, state=state)
    assert again.stats["merged"] == 1


# ---------------------------------------------------------------------------------------------
# rounds: a round starts from the people of the round before (matchkeys.PeopleRounds)

CHAIN = [lead("L-00001", "Ana", "Lopez", "ana.lopez@acme.com", "", "", "Paris", created="2024-01-01"),
         lead("L-00002", "Ana", "Lopez", "ana.lopez@acme.com", "+33 1 42 68 53 00", "", "", created="2024-02-01"),
         lead("L-00003", "Ana", "Lopez", "", "+33 1 42 68 53 00", "", "Paris", created="2024-03-01")]


def settled_run(tables: Tables, monkeypatch, carry: bool, now=NOW) -> tuple:
    """dedupe as the runner runs it (rounds until nothing more merges), with or without the people carried."""
    from crm_sheets.jobs.dedupe import matchkeys

    used = []
    real = matchkeys.PeopleRounds.records

    def records(self, *args, **kwargs):
        got = real(self, *args, **kwargs) if carry else None
        used.append(got is not None)
        return got

    with monkeypatch.context() as m:
        m.setattr(matchkeys.PeopleRounds, "records", records)
        results, changes = run_jobs(tables, ["dedupe"], now=now)
    (r,) = results
    outcome = (result_of(r), changes.updates, changes.archives, changes.appends, changes.audit,
               {k: v for k, v in r.state.items()},
               {name: repr(t.df.to_dict("split")) for name, t in tables.tables.items()})
    return outcome, any(used)


def test_a_chain_that_merges_only_in_the_second_round_settles_as_dedupe_from_scratch(monkeypatch):
    # L-00001 and L-00002 share an email: merged, L-00001 gets the phone; only then is L-00003 (that phone, that
    # name, that city) sure enough to be merged too, in the runner's second round
    carried, used = settled_run(workbook(leads=CHAIN, settings={"default_country": "FR"}), monkeypatch, carry=True)
    assert used  # the second round started from the first round's people
    fresh, _ = settled_run(workbook(leads=CHAIN, settings={"default_country": "FR"}), monkeypatch, carry=False)
    assert carried == fresh
    archives = carried[2]
    assert [(a.record_id, a.info["merged_into"]) for a in archives] == [("L-00002", "L-00001"), ("L-00003", "L-00001")]


@pytest.mark.slow
def test_rounds_on_the_sample_data_merge_link_and_ask_as_rounds_from_scratch(monkeypatch):
    carried, used = settled_run(generate("sales", leads=600, seed=11).to_tables(), monkeypatch, True, DEFAULT_NOW)
    assert used
    fresh, _ = settled_run(generate("sales", leads=600, seed=11).to_tables(), monkeypatch, False, DEFAULT_NOW)
    assert carried == fresh
    assert carried[0][1]["merged"] and carried[0][1]["linked"]
