"""Dedupe's blocking index of people (jobs/dedupe/pairindex.py): a run after edits pairs again only what the edits can
change, and finds what dedupe from scratch finds: the same pairs, merges, links, questions, findings and review
sheet, after people's real edits (names, emails, phones, companies and cities changed, leads added that duplicate
others, a duplicate broken, rows deleted, records archived by a merge) and in the runner's rounds of a first run."""
from __future__ import annotations

import json
import random

import pytest

from crm_sheets.jobs.dedupe import dedupe, find_pairs, matching
from crm_sheets.jobs.dedupe.matching import OrgPairs
from crm_sheets.model import Tables
from crm_sheets.runner import run_jobs
from crm_sheets.sample import DEFAULT_NOW, generate

_NAMES = ["Anna", "Bob", "Carla", "Dieter", "Eve", "Maria", "John"]


def outcome(r) -> tuple:
    """What a person sees of a dedupe result: findings, counts, the change set (merges, links, new questions, the
    Duplicates Review sheet)."""
    c = r.changes
    return ([f.as_dict() for f in r.findings], r.stats, c.summary(), repr(c.updates), repr(c.archives), repr(c.appends),
            repr(c.sheets), c.meta)


def first_run(tables: Tables) -> tuple:
    """Dedupe's pairs of a first run, with the key memory and kept pairs it leaves for the next run."""
    from crm_sheets.jobs.dedupe.index import KeyMemory
    from crm_sheets.jobs.dedupe.matchkeys import PeopleRounds

    memory, org_pairs = KeyMemory(), OrgPairs()
    return memory, org_pairs, find_pairs(tables, memory=memory, org_pairs=org_pairs, rounds=PeopleRounds())


def saved_state(memory, org_pairs) -> dict:
    """Dedupe's key memory and kept pairs after a run, as the outbox keeps them (through JSON)."""
    return json.loads(json.dumps({"keys": memory.state(), "orgs": org_pairs.state(), "pindex": org_pairs.index_state()}))


def restored(state: dict) -> tuple:
    """The key memory and kept pairs the next run starts from, made of ``saved_state``'s state."""
    from crm_sheets.jobs.dedupe.index import KeyMemory

    return KeyMemory(state["keys"]), OrgPairs(state["orgs"], state["pindex"])


def edit(tables: Tables, rng: random.Random) -> None:
    """A few edits a team makes between two runs, in leads and contacts."""
    for name in ("leads", "contacts"):
        t = tables[name]
        df = t.df
        for _ in range(rng.randint(2, 6)):
            rid = rng.choice(list(df.index))
            other = rng.choice(list(df.index))
            op = rng.random()
            if op < 0.15:
                df.loc[rid, "first_name"] = rng.choice(_NAMES)
            elif op < 0.3:
                df.loc[rid, "email"] = rng.choice([None, f"x{rng.randint(0, 9)}@gmail.com", df.at[other, "email"]])
            elif op < 0.4:
                df.loc[rid, "phone"] = df.at[other, "phone"]  # a switchboard, or another's line
            elif op < 0.5 and "company" in df.columns:
                df.loc[rid, "company"] = rng.choice(["Acme", None, df.at[other, "company"]])
            elif op < 0.6:
                df.loc[rid, "city"] = rng.choice(["Lyon", "Boston", "Leeds"])
            elif op < 0.7:  # a row deleted
                t.df = df = df.drop(index=rid)
            elif op < 0.88:  # a new record duplicating another (sometimes with a typo)
                row = df.loc[other].copy()
                if rng.random() < 0.5:
                    row["last_name"] = f"{row['last_name']}e"
                df.loc[f"{rid.rsplit('-', 1)[0]}-9{rng.randint(10000, 99999)}"] = row
            else:  # a duplicate broken: another name, no email
                df.loc[rid, "last_name"] = "Zzyzx"
                df.loc[rid, "email"] = None


@pytest.mark.parametrize("on_the_frame_from", [None, 0.0, 2.0])
def test_pairs_after_random_edits_are_those_found_from_scratch(monkeypatch, on_the_frame_from):
    # (on_the_frame_from: the edited pairs scored on the whole frame, 0.0, or on a copy of the records they need,
    # 2.0, whatever their share of it: the same pairs either way)
    from crm_sheets.jobs.dedupe import pairindex

    if on_the_frame_from is not None:
        monkeypatch.setattr(pairindex, "_ON_THE_FRAME_FROM", on_the_frame_from)
    tables = generate("sales", leads=900, seed=3).to_tables()
    rng = random.Random(3)
    used = []
    real = matching.people_pairs_again
    monkeypatch.setattr(matching, "people_pairs_again", lambda *a: used.append(real(*a)) or used[-1])
    org_pairs = OrgPairs()
    from crm_sheets.jobs.dedupe.index import KeyMemory
    from crm_sheets.jobs.dedupe.matchkeys import PeopleRounds

    memory = KeyMemory()
    find_pairs(tables, memory=memory, org_pairs=org_pairs, rounds=PeopleRounds())
    for _ in range(6):
        state = saved_state(memory, org_pairs)
        edit(tables, rng)
        memory, org_pairs = restored(state)
        used.clear()
        got = find_pairs(tables, memory=memory, org_pairs=org_pairs, rounds=PeopleRounds())
        assert got == find_pairs(tables)
        assert used and used[-1] is not None  # paired from the index, not everyone again


def settled(tables: Tables, state: dict | None) -> tuple:
    """dedupe as the runner runs it on a workbook: rounds until nothing more merges, from the last run's state."""
    results, _ = run_jobs(tables, ["dedupe"], now=DEFAULT_NOW, options={"dedupe": {"state": state}} if state else None)
    (r,) = results
    return r


@pytest.mark.slow
def test_dedupe_after_edits_merges_links_and_asks_as_dedupe_from_scratch(monkeypatch):
    rng = random.Random(8)
    tables = generate("sales", leads=700, seed=8).to_tables()
    twin = generate("sales", leads=700, seed=8).to_tables()
    first = settled(tables, None)
    settled(twin, None)
    state = json.loads(json.dumps(first.state, default=str))
    assert state.get("pindex")
    used = []
    real = matching.people_pairs_again
    monkeypatch.setattr(matching, "people_pairs_again", lambda *a: used.append(real(*a)) or used[-1])
    for _ in range(3):
        seed = rng.random()
        edit(tables, random.Random(seed))
        edit(twin, random.Random(seed))
        used.clear()
        kept = settled(tables, state)
        fresh = settled(twin, None)
        assert outcome(kept) == outcome(fresh)
        assert any(u is not None for u in used)
        state = json.loads(json.dumps(kept.state, default=str))
        assert {n: repr(t.df.to_dict("split")) for n, t in tables.tables.items()} == \
            {n: repr(t.df.to_dict("split")) for n, t in twin.tables.items()}


@pytest.mark.slow
def test_the_rounds_of_a_first_run_pair_from_the_index_as_rounds_from_scratch(monkeypatch):
    used = []
    real = matching.people_pairs_again
    monkeypatch.setattr(matching, "people_pairs_again", lambda *a: used.append(real(*a)) or used[-1])
    with_index = settled(generate("sales", leads=600, seed=11).to_tables(), None)
    assert any(u is not None for u in used)  # the second round paired only what the first round's merges changed
    monkeypatch.setattr(OrgPairs, "people_index", lambda self: None)
    scratch = settled(generate("sales", leads=600, seed=11).to_tables(), None)
    assert outcome(with_index) == outcome(scratch)
    assert with_index.stats["merged"]


def test_pairs_taken_by_sorting_and_scored_a_few_at_a_time_are_those_found_from_scratch(monkeypatch):
    from crm_sheets.jobs.dedupe import pairindex

    def book():
        return generate("sales", leads=600, seed=5).to_tables()

    used = []
    real = matching.people_pairs_again
    monkeypatch.setattr(matching, "people_pairs_again", lambda *a: used.append(real(*a)) or used[-1])
    whole = settled(book(), None)
    monkeypatch.setattr(pairindex, "_SCORED_AT_ONCE", 7)  # every round's pairs scored seven at a time
    monkeypatch.setattr(pairindex, "_SORTED_FROM", 2)  # and made distinct by sorting, as millions of them are
    monkeypatch.setattr(pairindex, "_COMPARED_AT_ONCE", 3)  # and the pairs now compared with those then three at a time
    used.clear()
    sliced = settled(book(), None)
    assert any(u for u in used)  # a round paired from the index, and found pairs
    assert outcome(sliced) == outcome(whole)
    assert sliced.state == whole.state  # the pairs kept for the next run too, in their order
    monkeypatch.setattr(OrgPairs, "people_index", lambda self: None)
    assert outcome(sliced) == outcome(settled(book(), None))
    assert sliced.stats["merged"]


def test_a_sorted_sheet_or_a_damaged_index_pairs_everyone_again_and_the_same(monkeypatch):
    from crm_sheets.jobs.dedupe.index import KeyMemory
    from crm_sheets.jobs.dedupe.matchkeys import PeopleRounds

    tables = generate("sales", leads=300, seed=4).to_tables()
    memory, org_pairs, _ = first_run(tables)
    state = saved_state(memory, org_pairs)
    leads = tables["leads"]
    leads.df.loc[leads.df.index[4], "city"] = "Lyon"
    leads.df = leads.df.iloc[::-1]  # sorted by a person: the order of blocks may move
    used = []
    real = matching.people_pairs_again
    monkeypatch.setattr(matching, "people_pairs_again", lambda *a: used.append(real(*a)) or used[-1])
    memory, org_pairs = restored(state)
    got = find_pairs(tables, memory=memory, org_pairs=org_pairs, rounds=PeopleRounds())
    assert used == [None] and got == find_pairs(tables)
    damaged = dict(state["pindex"], blob="not base64 at all")
    used.clear()
    got = find_pairs(tables, memory=KeyMemory(state["keys"]), org_pairs=OrgPairs(state["orgs"], damaged),
                     rounds=PeopleRounds())
    assert used == [] and got == find_pairs(tables)


def test_only_the_edited_people_are_read_again_and_the_pairs_are_those_from_scratch(monkeypatch):
    """Names, emails, phones, companies and cities edited, an account renamed (its contacts' company), rows added
    and deleted: the records whose cells are as they were keep their keys unread, the pairs are dedupe's from scratch."""
    from crm_sheets.jobs.dedupe import matchkeys
    from crm_sheets.jobs.dedupe.matchkeys import PeopleRounds

    tables = generate("sales", leads=800, seed=21).to_tables()
    rng = random.Random(21)
    memory, org_pairs, first = first_run(tables)
    assert first == find_pairs(tables)
    read = []
    real = matchkeys._person_texts
    monkeypatch.setattr(matchkeys, "_person_texts", lambda t, name, df: read.append((name, len(df))) or real(t, name, df))
    for k in range(5):
        state = saved_state(memory, org_pairs)
        edit(tables, rng)
        acc = tables["accounts"].df
        if k % 2:  # an account renamed: its contacts' company changes with it
            rid = rng.choice(list(acc.index))
            acc.loc[rid, "name"] = rng.choice(["Acme", acc.at[rng.choice(list(acc.index)), "name"]])
        memory, org_pairs = restored(state)
        read.clear()
        got = find_pairs(tables, memory=memory, org_pairs=org_pairs, rounds=PeopleRounds())
        leads_read = sum(n for name, n in read if name == "leads")
        assert got == find_pairs(tables)
        assert 0 < leads_read <= 30  # the leads edited or added, not the whole list


def test_the_kinds_of_phone_numbers_found_are_known_to_the_next_run_of_the_same_phone_library(monkeypatch):
    import phonenumbers

    from crm_sheets.jobs.dedupe import keys

    monkeypatch.setattr(keys, "_KIND_BY_PREFIX", {})
    assert keys.is_mobile("447911123456") is True and keys.is_mobile("33142685300") is False
    kept = json.loads(json.dumps(keys.mobile_kinds()))
    monkeypatch.setattr(keys, "_KIND_BY_PREFIX", {})

    def unread(*_a, **_k):
        raise AssertionError("the number was looked up again")

    monkeypatch.setattr(keys.phonenumbers, "parse", unread)
    keys.know_mobile_kinds(kept)
    assert keys.is_mobile("447911654321") is True and keys.is_mobile("33142999999") is False
    monkeypatch.setattr(keys, "_KIND_BY_PREFIX", {})
    keys.know_mobile_kinds(dict(kept, version=f"not {phonenumbers.__version__}"))  # another library: looked up again
    assert keys._KIND_BY_PREFIX == {}


def test_a_lead_typed_again_as_a_contact_and_one_edited_away_pair_across_tables_as_from_scratch(monkeypatch):
    """Edits across leads and contacts (a lead made the twin of a contact, a lead already a contact made another
    person): the run pairing from the index links and unlinks as dedupe from scratch, and pairs from the index."""
    from crm_sheets.jobs.dedupe.matchkeys import PeopleRounds

    tables = generate("sales", leads=900, seed=5).to_tables()
    memory, org_pairs, first = first_run(tables)
    crossed = [p for p in first if p.table_a == "leads" and p.table_b == "contacts"]
    assert crossed
    used = []
    real = matching.people_pairs_again
    monkeypatch.setattr(matching, "people_pairs_again", lambda *a: used.append(real(*a)) or used[-1])
    rng = random.Random(5)
    leads, contacts = tables["leads"], tables["contacts"]
    linked = {p.id_a for p in crossed}
    for k in range(3):
        state = saved_state(memory, org_pairs)
        twin = rng.choice([r for r in leads.df.index if r not in linked])
        contact = rng.choice([c for c in contacts.df.index if isinstance(contacts.df.at[c, "email"], str)])
        for f in ("first_name", "last_name", "email", "phone"):
            leads.df.loc[twin, f] = contacts.df.at[contact, f]
        away = crossed[k].id_a
        leads.df.loc[away, ["first_name", "last_name", "email", "phone"]] = ["Ottoline", "Quillfeather", None, None]
        memory, org_pairs = restored(state)
        used.clear()
        got = find_pairs(tables, memory=memory, org_pairs=org_pairs, rounds=PeopleRounds())
        assert got == find_pairs(tables)
        assert used and used[-1] is not None  # paired from the index, not everyone again
        assert (twin, contact) in {(p.id_a, p.id_b) for p in got if p.table_b == "contacts"}
        assert away not in {p.id_a for p in got if p.table_b == "contacts"}
        linked.add(twin)


def test_distinct_pair_codes_taken_by_sorting_are_those_taken_by_hashing_in_their_order(monkeypatch):
    import numpy as np
    import pandas as pd

    from crm_sheets.jobs.dedupe import pairindex

    monkeypatch.setattr(pairindex, "_SORTED_FROM", 2)
    rng = np.random.default_rng(4)
    for n in (2, 3, 50, 5000):
        for dtype in (np.int64, np.uint64):
            codes = rng.integers(0, max(n // 3, 2), n).astype(dtype)
            got = pairindex._uniq(codes)
            assert got.dtype == codes.dtype and got.tolist() == pd.unique(codes).tolist()


def test_leads_at_accounts_are_kept_through_edits_of_cities_and_found_again_when_a_company_changes(monkeypatch):
    """A lead's best account depends on company keys alone: a run after cities were edited takes the pairs the last
    run found for the same keys; a lead whose company became an account's name, or stopped being one, is paired
    again, and the pairs are those from scratch either way."""
    from crm_sheets.jobs.dedupe.matchkeys import PeopleRounds

    tables = generate("sales", leads=900, seed=9).to_tables()
    memory, org_pairs, first = first_run(tables)
    at_accounts = [p for p in first if p.table_a == "leads" and p.table_b == "accounts"]
    assert at_accounts
    paired = []
    real = matching._lead_account_pairs_of
    monkeypatch.setattr(matching, "_lead_account_pairs_of", lambda *a: paired.append(1) or real(*a))
    leads = tables["leads"].df
    rng = random.Random(9)
    away = at_accounts[0].id_a
    joining = rng.choice([r for r in leads.index if r not in {p.id_a for p in at_accounts}])
    for edit_company in (False, True, False):
        state = saved_state(memory, org_pairs)
        for rid in rng.sample(list(leads.index), 10):
            leads.loc[rid, "city"] = rng.choice(["Lyon", "Boston", "Leeds", "Graz"])
        if edit_company:
            leads.loc[away, "company"] = "Quillfeather Looms"
            for f in ("company", "email"):  # as a colleague at that account's
                leads.loc[joining, f] = leads.at[at_accounts[1].id_a, f]
        memory, org_pairs = restored(state)
        paired.clear()
        got = find_pairs(tables, memory=memory, org_pairs=org_pairs, rounds=PeopleRounds())
        assert got == find_pairs(tables)
        assert len(paired) == (2 if edit_company else 1)  # (the second: from scratch)
        found = {(p.id_a, p.id_b) for p in got if p.table_b == "accounts"}
        if edit_company:
            assert (away, at_accounts[0].id_b) not in found
            assert (joining, at_accounts[1].id_b) in found


def test_a_damaged_memory_of_keys_keys_everyone_again_and_pairs_the_same():
    import base64

    from crm_sheets.jobs.dedupe.index import KeyMemory
    from crm_sheets.jobs.dedupe.matchkeys import PeopleRounds

    tables = generate("sales", leads=300, seed=4).to_tables()
    memory = KeyMemory()
    first = find_pairs(tables, memory=memory, org_pairs=OrgPairs(), rounds=PeopleRounds())
    state = json.loads(json.dumps(memory.state()))
    not_deflated = base64.b64encode(b"not a deflate stream").decode("ascii")
    damaged = {kind: ({part: not_deflated for part in parts} if isinstance(parts, dict) else parts)
               for kind, parts in state.items()}
    again = KeyMemory(damaged)
    assert find_pairs(tables, memory=again, org_pairs=OrgPairs(), rounds=PeopleRounds()) == first
    assert again.computed == memory.computed > len(tables["leads"].df)  # none known: every record keyed again


def test_pair_codes_put_together_sorted_and_looked_up_are_those_numpy_finds():
    import numpy as np

    from crm_sheets.jobs.dedupe import pairindex

    rng = np.random.default_rng(5)
    for n in (0, 1, 2, 50, 5000):
        chunks = [rng.integers(0, max(n, 2) * 3, rng.integers(0, n + 1)) for _ in range(4)]
        together = np.concatenate(chunks)
        ordered = pairindex._sorted_distinct(iter(chunks))
        assert ordered.tolist() == np.unique(together).tolist()
        asked = rng.integers(0, max(n, 2) * 3, n)
        at, found = pairindex._found_in(ordered, asked)
        assert found.tolist() == np.isin(asked, together).tolist()
        assert (ordered[at[found]] == asked[found]).all()


def test_pairs_kept_for_the_next_run_are_under_their_own_frames_digest_when_a_freed_frames_id_is_given_again(monkeypatch):
    # The runner's rounds of one run hand their frames on (OrgPairs.carried); a frame of people of the first round is
    # freed during the third, and Python may give its id to a frame made then: that frame's pairs are kept under its
    # own digest, not under the digest of the people the freed frame held.
    import builtins

    import pandas as pd

    from crm_sheets.jobs.dedupe.matching import MatchPair, MatchSettings, frame_digest

    s = MatchSettings()
    people_pair = MatchPair("leads", "L-00001", "leads", "L-00002", 0.99, ("same email",))
    org_pair = MatchPair("accounts", "A-00001", "accounts", "A-00002", 0.95, ("same name",))
    accounts = pd.DataFrame({"rid": ["A-00001", "A-00002", "A-00003"], "table": "accounts",
                             "company": ["Acme", "Acme", "Borealis"]})

    def people(k: int) -> pd.DataFrame:
        return pd.DataFrame({"rid": [f"L-0000{k}", "L-00002"], "table": "leads", "first": ["Ana", "Ana"]})

    rounds = OrgPairs()
    first = people(1)
    rounds.pairs(first, s, 0.75, "people", lambda: [people_pair], digest="people of round 1")
    rounds = rounds.carried()
    rounds.pairs(people(3), s, 0.75, "people", lambda: [people_pair], digest="people of round 2")
    rounds = rounds.carried()
    freed = id(first)
    del first  # nothing holds the first round's frame any more
    orgs = accounts.iloc[:2]
    # whether Python gives the freed frame's id to the next frame made is up to its allocator: as if it did
    monkeypatch.setattr(matching, "id", lambda x: freed if x is orgs else builtins.id(x), raising=False)
    rounds.pairs(people(4), s, 0.75, "people", lambda: [people_pair], digest="people of round 3")
    rounds.pairs(orgs, s, 0.75, compute=lambda: [org_pair])
    kept = rounds.state()
    assert kept == {"people of round 3": [["leads", "L-00001", "leads", "L-00002", 0.99, ["same email"]]],
                    frame_digest(orgs, s, 0.75): [["accounts", "A-00001", "accounts", "A-00002", 0.95, ["same name"]]]}
