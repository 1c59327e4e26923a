"""Rows check does not look at again keep what a look at every row would give them: the phone numbers they hold
stay in the state with their verdicts, and the memory a first look makes of every row is the one a look row by
row makes, on messy values (spaces, letters, emoji, dates and numbers typed as text, countries unknown or absent)."""
import json

import pandas as pd
from test_check import NOW, lead, leads, make_tables

import crm_sheets.jobs.check.memory as memory
from crm_sheets.jobs.check import check

MESSY = [
    lead(phone="+1 (212) 555-0101", country="United States"),
    lead(phone="  020 7946 0958 ", country="United Kingdom"),
    lead(phone="06 12 34 56 78", country="France"),
    lead(phone="06 12 34 56 78", country=None),  # the same text read in the default region
    lead(phone="call me 📞 0612", country="France"),
    lead(phone="+33 6 12 34 56 78", country="Atlantis"),
    lead(phone="0049 30 1234567", country="germany "),
    lead(phone="555-CALL-NOW", country="United States", city="  Lyon", first_name="ANA"),
    lead(phone="+12125550100", country="United States", created=pd.Timestamp("2025-06-01")),
    lead(phone="+1 212 555 0199 ext. 12", country="Canada", email=" Ana@ACME.com"),
    lead(phone="2125550100", country="  ", last_name="o'neil"),
    lead(phone="\t", country="France"),
]


def _tables():
    return make_tables(leads=leads(*MESSY))


def test_numbers_of_rows_not_checked_again_stay_in_the_state_as_a_look_at_every_row_reads_them():
    tables = _tables()
    first = check(tables, now=NOW)
    df = tables["leads"].df.copy()
    df.loc["L-00001", "city"] = "Boston"  # one row changed: the others are taken from the memory
    df.loc["L-00003", "country"] = "Germany"  # its number is read in another region now
    tables["leads"].df = df
    again, scratch = check(tables, now=NOW, state=first.state), check(tables, now=NOW)
    assert again.findings == scratch.findings
    assert json.loads(json.dumps(again.state["phones"])) == json.loads(json.dumps(scratch.state["phones"]))
    read = again.state["phones"]["verdicts"]
    assert "06 12 34 56 78" in read["DE"] and "06 12 34 56 78" in read["US"]  # the changed row's and the kept one's


def test_a_first_look_remembers_every_row_as_a_look_row_by_row_does(monkeypatch):
    tables = _tables()
    tables["leads"].typed_text[("L-00002", "created")] = "2025-13-45"
    fast = check(tables, now=NOW, fix=True)
    monkeypatch.setattr(memory.TablePlan, "_learn_fresh", None)  # learn() then takes its row-by-row way
    slow = check(_tables_with_text(), now=NOW, fix=True)
    assert fast.findings == slow.findings
    assert json.dumps(fast.state, sort_keys=True) == json.dumps(slow.state, sort_keys=True)


def _tables_with_text():
    tables = _tables()
    tables["leads"].typed_text[("L-00002", "created")] = "2025-13-45"
    return tables


def test_a_memory_packed_a_few_findings_at_a_time_is_the_state_a_whole_pack_gives_and_reads_back(monkeypatch):
    tables = _tables()
    whole = check(tables, now=NOW).state["rows"]
    monkeypatch.setattr(memory, "_PIECE", 2)  # the messy leads' findings in many pieces
    pieces = check(tables, now=NOW).state["rows"]
    assert json.dumps(pieces, sort_keys=True) == json.dumps(whole, sort_keys=True)
    packed = pieces["tables"]["leads"]
    rows = memory.Rows.unpack(packed["digest"], packed["packed"])
    assert rows is not None and len(rows.items) > 2
    again = check(tables, now=NOW, state={"rows": json.loads(json.dumps(pieces))})
    assert again.findings == check(tables, now=NOW).findings


def test_an_edit_that_moves_rows_is_learnt_as_a_look_row_by_row_learns_it(monkeypatch):
    def edited():
        tables = _tables()
        first = check(tables, now=NOW)
        t = tables["leads"]
        df = t.df.copy()
        df.loc["L-00004", "city"] = "Boston"  # changed whole: checked again
        df.loc["L-00011", "phone"] = "+44 20 7946 0958"
        t.df = df.drop(index="L-00002")  # a row deleted: the rows under it move up a sheet row
        t.rows = {rid: row - (row > t.rows["L-00002"]) for rid, row in t.rows.items() if rid != "L-00002"}
        return tables, first, json.loads(json.dumps(first.state))  # (as the next run reads it)

    tables, first, state = edited()
    fast = check(tables, now=NOW, state=state)
    monkeypatch.setattr(memory.TablePlan, "_merged", None)  # learn() then takes its row-by-row way
    tables, first, state = edited()
    slow = check(tables, now=NOW, state=state)
    assert fast.findings == slow.findings == check(tables, now=NOW).findings
    cells = {f.cell for f in first.findings if f.record_id == "L-00008"}
    assert cells and not cells & {f.cell for f in fast.findings if f.record_id == "L-00008"}  # kept, on its new row
    assert json.dumps(fast.state, sort_keys=True) == json.dumps(slow.state, sort_keys=True)
