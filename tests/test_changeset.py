"""ChangeSet.apply_to: the in-memory tables the next job sees, typed as the reader types them."""
from __future__ import annotations

import datetime as dt
import json
import time
import warnings

import pandas as pd
import pytest

from crm_sheets.model import ChangeSet, RowAppend, RowArchive, RowRestore, Table, Tables, load_schema
from crm_sheets.model.tables import empty_frame

pytestmark = pytest.mark.filterwarnings("error::FutureWarning", "error::DeprecationWarning")

SCHEMA = load_schema("sales")


def tables(n: int = 3) -> Tables:
    ids = [f"L-{i:05d}" for i in range(1, n + 1)]
    df = empty_frame(SCHEMA.table("leads"), ids)
    df["first_name"] = pd.Series([f"Name{i}" for i in range(n)], index=df.index, dtype=object)
    df["created"] = pd.Series(pd.to_datetime([f"2024-01-{i % 28 + 1:02d}" for i in range(n)]), index=df.index)
    df["score"] = pd.Series(range(n), index=df.index, dtype="Int64")
    df["engagement"] = pd.Series([float(i) for i in range(n)], index=df.index)
    df["consent"] = pd.Series([i % 2 == 0 for i in range(n)], index=df.index, dtype="boolean")
    leads = Table(SCHEMA.table("leads"), df, sheet="Leads", rows={rid: i + 2 for i, rid in enumerate(ids)}, next_id=n + 1)
    merged = Table(SCHEMA.table("merged"), empty_frame(SCHEMA.table("merged")), sheet="Merged")
    return Tables(SCHEMA, {"leads": leads, "merged": merged}, lang="en")


def dtypes(t: Tables) -> dict[str, str]:
    return {k: str(v) for k, v in t["leads"].df.dtypes.items()}


def test_updates_set_values_and_keep_each_columns_dtype():
    t = tables()
    before = dtypes(t)
    cs = ChangeSet()
    cs.update("leads", "L-00002", "created", dt.date(2025, 12, 31))
    cs.update("leads", "L-00001", "score", 42)
    cs.update("leads", "L-00003", "score", None)
    cs.update("leads", "L-00002", "engagement", 7)
    cs.update("leads", "L-00001", "consent", False)
    cs.update("leads", "L-00003", "first_name", "Zoé")
    cs.apply_to(t)
    df = t["leads"].df
    assert df.loc["L-00002", "created"] == pd.Timestamp("2025-12-31")
    assert df.loc["L-00001", "score"] == 42 and df.loc["L-00003", "score"] is pd.NA
    assert df.loc["L-00002", "engagement"] == 7.0 and df.loc["L-00001", "consent"] == False  # noqa: E712
    assert df.loc["L-00003", "first_name"] == "Zoé" and df.loc["L-00001", "first_name"] == "Name0"
    assert dtypes(t) == before


def test_a_text_in_a_date_column_turns_only_that_column_to_object():
    t = tables()
    cs = ChangeSet()
    cs.update("leads", "L-00001", "created", "next week")
    cs.update("leads", "L-00002", "score", 5)
    cs.apply_to(t)
    df = t["leads"].df
    assert df["created"].dtype == object and df.loc["L-00001", "created"] == "next week"
    assert df.loc["L-00002", "created"] == pd.Timestamp("2024-01-02")
    assert str(df["score"].dtype) == "Int64"


def test_a_later_update_of_a_cell_wins_and_clears_its_invalid_value():
    t = tables()
    t["leads"].invalid[("L-00001", "score")] = "lots"
    cs = ChangeSet()
    cs.update("leads", "L-00001", "score", 1)
    cs.update("leads", "L-00001", "score", 2)
    cs.apply_to(t)
    assert t["leads"].df.loc["L-00001", "score"] == 2 and not t["leads"].invalid



def test_a_cell_written_as_a_number_is_no_longer_text_for_check_to_convert():
    t = tables()  # a pending change set applied before the jobs run: check must not convert the cell twice
    t["leads"].typed_text[("L-00001", "engagement")] = "1,250"
    cs = ChangeSet()
    cs.update("leads", "L-00001", "engagement", 1250.0)
    cs.apply_to(t)
    assert t["leads"].df.loc["L-00001", "engagement"] == 1250.0 and not t["leads"].typed_text

@pytest.mark.parametrize("kept", [1, 40])
def test_updates_clear_the_kept_text_of_exactly_the_cells_they_write_and_keep_the_rest_in_order(kept: int):
    """Fewer kept cells than updated records (they are looked through) or more (the records are): the same cells go."""
    t = tables(30)
    leads = t["leads"]
    ids = list(leads.df.index)
    entries = [((ids[k % 30], "score" if k % 3 else "engagement"), f"raw {k}") for k in range(kept)]
    leads.invalid = dict(entries)
    leads.typed_text = dict(reversed(entries))
    cs = ChangeSet()
    written = ids[::2] if kept > 1 else ids[:5]
    for rid in written:
        cs.update("leads", rid, "score", 7)
    cs.apply_to(t)
    gone = {(rid, "score") for rid in written}
    assert leads.invalid == {k: v for k, v in entries if k not in gone}
    assert list(leads.typed_text) == [k for k in dict(reversed(entries)) if k not in gone]
    assert (leads.df.loc[written, "score"] == 7).all()


@pytest.mark.parametrize("twice", [False, True])
def test_an_update_of_a_record_the_table_lacks_adds_it_whether_or_not_ids_repeat(twice: bool):
    t = tables(4)
    leads = t["leads"]
    if twice:  # a hand-made sheet with an ID twice
        leads.df = pd.concat([leads.df, leads.df.iloc[[1]]])
    cs = ChangeSet()
    cs.update("leads", "L-00002", "first_name", "Bo")
    cs.update("leads", "L-00009", "first_name", "New")
    cs.update("leads", "L-00003", "first_name", "Cy")
    cs.apply_to(t)
    df = leads.df
    assert list(df.index) == ["L-00001", "L-00002", "L-00003", "L-00004"] + (["L-00002"] if twice else []) + ["L-00009"]
    assert list(df["first_name"]) == ["Name0", "Bo", "Cy", "Name3"] + (["Bo"] if twice else []) + ["New"]


def test_appended_rows_are_typed_and_an_update_of_an_appended_row_wins():
    t = tables()
    before = dtypes(t)
    cs = ChangeSet()
    cs.appends.append(RowAppend("leads", "L-00004", {"id": "L-00004", "first_name": "Fay", "created": dt.date(2025, 1, 2),
                                                       "score": 5, "unknown": "ignored"}))
    cs.appends.append(RowAppend("leads", "L-00005", {"first_name": "Gus"}))  # nothing in the date column
    cs.update("leads", "L-00004", "score", 9)
    cs.apply_to(t)
    df = t["leads"].df
    assert list(df.index) == ["L-00001", "L-00002", "L-00003", "L-00004", "L-00005"]
    assert df.loc["L-00004", "created"] == pd.Timestamp("2025-01-02") and df.loc["L-00004", "score"] == 9
    assert df.loc["L-00005", "first_name"] == "Gus" and pd.isna(df.loc["L-00005", "created"])
    assert dtypes(t) == before and "unknown" not in df.columns


def test_appending_to_an_empty_table_keeps_its_dtypes():
    t = tables(0)
    before = dtypes(t)
    ChangeSet(appends=[RowAppend("leads", "L-00001", {"first_name": "Ana", "score": 3})]).apply_to(t)
    assert t["leads"].df.loc["L-00001", "score"] == 3 and dtypes(t) == before


def test_archived_rows_go_and_sequences_only_grow():
    t = tables()
    cs = ChangeSet(archives=[RowArchive("leads", "L-00001", "merged"), RowArchive("leads", "L-00003", "merged")],
                   sequences={"leads": 2})
    cs.apply_to(t)
    assert list(t["leads"].df.index) == ["L-00002"] and t["leads"].next_id == 4


def test_an_archived_record_takes_its_unreadable_and_typed_text_cells_with_it():
    # A merged lead whose date was unreadable ("02/31/2026") left the Leads sheet: a later look at the table in
    # the same run (check's second one) must not report a cell the written sheet no longer has.
    t = tables()
    leads = t["leads"]
    leads.invalid = {("L-00001", "created"): "02/31/2026", ("L-00002", "created"): "13/13/2025"}
    leads.typed_text = {("L-00001", "score"): "12", ("L-00002", "score"): "7"}
    ChangeSet(archives=[RowArchive("leads", "L-00001", "merged")]).apply_to(t)
    assert leads.invalid == {("L-00002", "created"): "13/13/2025"}
    assert leads.typed_text == {("L-00002", "score"): "7"}


def test_a_restored_record_comes_back_with_its_archived_values():
    t = tables()
    original = {"ID": "L-00009", "First name": "Ida", "Status": "Qualified", "Created": 45658, "Score": 12,
                "Consent": True, "_cells": {"Score": {"c": "Z", "t": "n"}}}
    merged = t["merged"]
    merged.df = pd.concat([merged.df, pd.DataFrame(
        {"record": ["L-00009"], "table": ["leads"], "data": [json.dumps(original)]}, index=pd.Index(["3"], name=merged.df.index.name),
    ).astype({c: merged.df[c].dtype for c in ("record", "table", "data")})])
    ChangeSet(restores=[RowRestore("merged", "L-00009", "leads")]).apply_to(t)
    df = t["leads"].df
    assert df.loc["L-00009", "first_name"] == "Ida" and df.loc["L-00009", "status"] == "qualified"
    assert df.loc["L-00009", "created"] == pd.Timestamp("2025-01-01") and df.loc["L-00009", "score"] == 12
    assert bool(df.loc["L-00009", "consent"]) is True
    assert merged.df.empty


def test_a_restore_without_the_archive_in_memory_changes_nothing():
    t = tables()
    ChangeSet(restores=[RowRestore("merged", "L-00042", "leads")]).apply_to(t)
    assert list(t["leads"].df.index) == ["L-00001", "L-00002", "L-00003"]


@pytest.mark.slow
def test_forty_thousand_updates_apply_without_warnings_in_well_under_a_second_each_thousand():
    t = tables(20_000)
    cs = ChangeSet()
    for i in range(20_000):
        cs.update("leads", f"L-{i + 1:05d}", "score", i * 2)
        cs.update("leads", f"L-{i + 1:05d}", "first_name", f"N{i}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        start = time.perf_counter()
        cs.apply_to(t)
        took = time.perf_counter() - start
    assert t["leads"].df.loc["L-20000", "score"] == 39_998 and took < 2.0


def test_meta_keys_written_by_a_job_are_seen_by_the_next_job():
    from crm_sheets.model.changeset import ChangeSet as CS
    from crm_sheets.model.schema import load_schema
    from crm_sheets.model.tables import Tables

    tables = Tables(load_schema("sales"), {}, meta={"template": "sales"})
    CS(meta={"dedupe.review_digest": "abc"}).apply_to(tables)
    assert tables.meta == {"template": "sales", "dedupe.review_digest": "abc"}
