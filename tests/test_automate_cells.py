"""Automate reads a record's cells by column position (templates.Cells): the values an email or task shows are the
frame's as it is now, after automate set a cell, added a column or replaced the frame."""
from __future__ import annotations

import pandas as pd
import pytest

from crm_sheets.jobs.automate.templates import Cells, cell


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"first_name": ["Ana", "Bo"], "email": ["ana@acme.com", None]}, index=["L-1", "L-2"])


def test_a_cell_reads_the_frames_value_after_it_was_set():
    df = _frame()
    assert cell(df, "L-2", "first_name") == "Bo"
    df.at["L-2", "first_name"] = "Bob"
    assert cell(df, "L-2", "first_name") == "Bob"
    df.at["L-2", "email"] = "bob@acme.com"
    assert Cells(df, "L-2").get("email") == "bob@acme.com"


def test_a_column_added_to_the_same_frame_is_found_and_the_others_keep_their_place():
    df = _frame()
    assert Cells(df, "L-1").get("owner") is None
    df.insert(0, "owner", ["Sam", "Kim"])  # before the others: every position moves
    row = Cells(df, "L-1")
    assert (row.get("owner"), row["first_name"], row["email"]) == ("Sam", "Ana", "ana@acme.com")
    assert row.get("missing", "none") == "none"


def test_a_new_frame_in_the_place_of_an_old_one_is_read_as_itself():
    for k in range(50):  # frames come and go (ids are reused): each is read by its own columns
        df = pd.DataFrame({f"c{k}": [k], "name": [f"n{k}"]}, index=["A-1"])
        assert cell(df, "A-1", "name") == f"n{k}"
        assert Cells(df, "A-1")[f"c{k}"] == k


def test_an_id_given_twice_reads_its_rows_and_a_column_given_twice_is_refused_as_before():
    twice = pd.DataFrame({"name": ["Ana", "Bo"]}, index=["L-1", "L-1"])
    assert list(Cells(twice, "L-1")["name"]) == ["Ana", "Bo"]
    df = pd.DataFrame([["Ana", "x"], ["Bo", "y"]], columns=["name", "name"], index=["L-1", "L-2"])
    with pytest.raises(ValueError):  # not one cell: never the first or last of the two taken silently
        Cells(df, "L-1")["name"]


def _typed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "name": pd.array(["Ana", None, "Cy"], dtype=object),
        "score": pd.array([3, None, 7], dtype="Int64"),
        "amount": [1.5, float("nan"), 2.0],
        "consent": pd.array([True, None, False], dtype="boolean"),
        "created": pd.to_datetime(["2026-01-05", None, "2026-03-01"]),
        "mixed": pd.array(["7", 7, 7.5], dtype=object),
    }, index=["L-1", "L-2", "L-3"])


def _same(a, b) -> bool:
    return (a is b) or (type(a) is type(b) and (a == b or (pd.isna(a) and pd.isna(b))))


def test_cells_read_what_iat_reads_in_every_kind_of_column_through_writes_that_copy_or_retype_columns():
    base = _typed_frame()
    df = base.copy(deep=False)  # automate's working copy shares the caller's columns until it writes
    names = list(df.columns)

    def agrees():
        for rid in df.index:
            row = Cells(df, rid)
            for name in names:
                want = df.iat[df.index.get_loc(rid), df.columns.get_loc(name)]
                assert _same(row[name], want), (rid, name, row[name], want)

    agrees()
    df.at["L-2", "score"] = 4  # copy-on-write: the column is copied, the caller's frame keeps its value
    df.at["L-2", "name"] = "Bo"
    agrees()
    assert Cells(df, "L-2")["score"] == 4 and pd.isna(Cells(base, "L-2")["score"])
    df.at["L-3", "name"] = "Cyd"  # now in place
    df["amount"] = df["amount"].astype(object)  # a text in a number column: the column becomes object first
    df.at["L-1", "amount"] = "n/a"
    df["created"] = df["created"].astype(object)
    df.loc["L-2", "consent"] = True
    agrees()
    assert (Cells(df, "L-3")["name"], Cells(df, "L-1")["amount"]) == ("Cyd", "n/a")
    assert Cells(base, "L-1")["amount"] == 1.5 and Cells(base, "L-3")["name"] == "Cy"
