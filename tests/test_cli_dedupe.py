"""`crm-sheets dedupe` and `crm-sheets unmerge` end to end on a real sample workbook: a dry run writes nothing,
a run merges into the Merged sheet and moves every reference, a second run leaves the file byte for byte,
review decisions are honoured, unmerge restores the row and its references. Read back with python-calamine.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.model import ChangeSet, CellUpdate
from crm_sheets.model.schema import load_schema
from crm_sheets.runner import run
from crm_sheets.model.tables import column_letter
from crm_sheets.store import open_store
from crm_sheets.store.xlsx import XlsxStore
from helpers import as_file, content_version, fresh_copy, grid, is_sheet, records, worksheet

NOW = dt.datetime(2026, 11, 2, 9, 0)
LATER = NOW + dt.timedelta(days=1)
SCHEMA = load_schema("sales")
MERGED = SCHEMA.tables["merged"].sheet_name("en")
DECISIONS = SCHEMA.tables["dedupe_decisions"].sheet_name("en")
REVIEW = SCHEMA.owned_sheet("duplicates_review").sheet_name("en")


@pytest.fixture(scope="module")
def built(built_book, tmp_path_factory) -> Path:
    path = Path(shutil.copy(built_book(sample_data=300, now=NOW), tmp_path_factory.mktemp("dedupe") / "crm.xlsx"))
    # An unsure pair for the review tests: Gaël Bertrand and 'Bertand Gaël' (a typo, first and last
    # swapped) on one Marseille landline, which a family or an office shares (on one mobile: merged).
    store = XlsxStore(path)
    tables = store.read()
    people = {"L-00035": ("Gaël", "Bertrand"), "L-00081": ("Bertand", "Gaël")}
    values = {"email": None, "phone": "+33 4 91 55 20 10", "company": None, "city": "Marseille", "country": "France"}
    store.apply(ChangeSet(updates=[CellUpdate("leads", rid, field, value) for rid, (first, last) in people.items()
                                   for field, value in {"first_name": first, "last_name": last, **values}.items()]),
                tables)
    return path


@pytest.fixture
def path(built, tmp_path, on_backend) -> Path:
    """A fresh copy, as a file or as a Google Sheet (tests/backends.py)."""
    return on_backend(fresh_copy(built, tmp_path))


def cli_json(*args, now=NOW):
    result = CliRunner().invoke(cli, [*map(str, args), "--json", "--now", now.isoformat()])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def dedupe_json(path, *args, now=NOW):
    report = cli_json("dedupe", path, *args, now=now)
    [result] = report["results"]
    return report, result


# -- the workbook as python-calamine sees it (helpers.records) -------------------------------------


def by_id(path, table: str) -> dict[str, dict]:
    return {r["ID"]: r for r in records(path, SCHEMA.tables[table].sheet_name("en"))}


def references(path, target: str) -> dict[tuple[str, str, str], str]:
    """(table, record ID, field) -> the ID held, for every reference column that may point at ``target``."""
    out = {}
    for name, ts in SCHEMA.tables.items():
        fields = [f for f in ts.fields if f.type == "reference" and f.reference in (target, "*")]
        if not fields or not ts.id_prefix:
            continue
        for rid, row in by_id(path, name).items():
            for f in fields:
                out[(name, rid, f.name)] = row.get(f.header("en"), "")
    return out


def merged_rows(path) -> list[dict]:
    return records(path, MERGED)


# -- dedupe ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_dry_run_writes_nothing_and_lists_what_it_would_merge(path, tmp_path):
    before = content_version(path)
    report, result = dedupe_json(path, "--dry-run")
    assert content_version(path) == before and report["written"] is False
    would = {(f["record_id"], f["value"]) for f in result["findings"] if f["type"] == "duplicate-merged"}
    assert len(would) == result["stats"]["merged"] > 0
    twin = Path(shutil.copy(as_file(path), tmp_path / "twin.xlsx"))
    dedupe_json(twin)
    assert {(r["Record"], r["Merged into"]) for r in merged_rows(twin)} == would


@pytest.mark.slow
def test_dry_run_shows_the_counts_of_the_real_run(path, tmp_path):
    twin = Path(shutil.copy(as_file(path), tmp_path / "twin.xlsx"))
    dry = CliRunner().invoke(cli, ["dedupe", str(path), "--dry-run", "--now", NOW.isoformat()])
    real = CliRunner().invoke(cli, ["dedupe", str(twin), "--now", NOW.isoformat()])
    rows = [[line for line in r.output.splitlines() if line.startswith("│ dedupe")] for r in (dry, real)]
    assert rows[0] == rows[1] and rows[0], (dry.output, real.output)
    archived = int(rows[0][0].split("│")[6])
    assert archived > 0, "the table shows what the run merges, not zeros"
    dry_report, _ = dedupe_json(path, "--dry-run")
    real_report, _ = dedupe_json(Path(shutil.copy(as_file(path), tmp_path / "third.xlsx")))
    assert dry_report["changes"] == real_report["changes"]


@pytest.mark.slow
def test_json_output_equals_the_library_result(path, tmp_path):
    twin = Path(shutil.copy(as_file(path), tmp_path / "twin.xlsx"))
    dry, _ = dedupe_json(path, "--dry-run")
    library = run(path, ["dedupe"], now=NOW, dry_run=True)
    assert dry == json.loads(json.dumps(library.as_dict(), default=str))
    report, _ = dedupe_json(path)
    library = json.loads(json.dumps(run(twin, ["dedupe"], now=NOW).as_dict(), default=str))
    for r in (report, library):
        r.pop("path"), r.pop("backup")
    assert report == library and report["written"] is True


@pytest.mark.slow
def test_dedupe_moves_merged_records_to_the_merged_sheet_and_their_references_to_the_survivors(path):
    leads_before = by_id(path, "leads")
    refs_before = {t: references(path, t) for t in ("leads", "contacts", "accounts")}
    report, result = dedupe_json(path)
    assert report["written"] is True
    merged = merged_rows(path)
    assert len(merged) == result["stats"]["merged"] == len({r["Record"] for r in merged}) > 0
    for row in merged:
        assert row["Merged into"] and row["Reason"].startswith("duplicate of ")
        assert row["Merged at"] == NOW
    leads_after = by_id(path, "leads")
    gone = {r["Record"] for r in merged if r["Table"] == "leads"}
    assert gone and not gone & set(leads_after) and set(leads_after) == set(leads_before) - gone
    survivor = {r["Record"]: r["Merged into"] for r in merged}
    moved = 0
    for table in ("leads", "contacts", "accounts"):
        after = references(path, table)
        for key, old in refs_before[table].items():
            if old in survivor and key in after:
                assert after[key] == survivor[old], key
                moved += 1
    assert moved > 0  # the sample's duplicates have activities, tasks and campaign memberships


@pytest.mark.slow
def test_a_second_run_changes_nothing(path):
    dedupe_json(path)
    before = content_version(path)
    report, result = dedupe_json(path, now=LATER)
    assert content_version(path) == before
    assert report["written"] is False and result["stats"]["merged"] == result["stats"]["review"] == 0
    assert result["changes"] == {"updated_cells": 0, "appended_rows": 0, "archived_rows": 0,
                                 "restored_rows": 0, "replaced_sheets": 0}


def decide(path, decision: str) -> dict:
    """A person picks ``decision`` for the first pair of Duplicate Decisions; returns that row."""
    store = open_store(path)
    tables = store.read()
    dec = tables.df("dedupe_decisions")
    row_id = dec.index[0]
    store.apply(ChangeSet(updates=[CellUpdate("dedupe_decisions", row_id, "decision", decision)]), tables)
    return {"row": row_id, "a": dec.at[row_id, "record_a"], "b": dec.at[row_id, "record_b"]}


@pytest.mark.slow
def test_a_pair_decided_not_duplicate_is_never_asked_again(path):
    _, first = dedupe_json(path)
    assert first["stats"]["review"] >= 1
    pair = decide(path, "not_duplicate")
    _, second = dedupe_json(path, now=LATER)
    assert second["stats"]["merged"] == second["stats"]["review"] == 0
    assert second["stats"]["pending_review"] == first["stats"]["pending_review"] - 1
    rows = records(path, DECISIONS)
    assert [r["Decision"] for r in rows if {r["Record A"], r["Record B"]} == {pair["a"], pair["b"]}] == ["Not duplicate"]
    shown = grid(path, REVIEW)
    assert pair["row"] not in [c for line in shown for c in line]
    before = content_version(path)
    _, third = dedupe_json(path, now=LATER + dt.timedelta(days=1))
    assert content_version(path) == before and third["stats"]["review"] == 0


@pytest.mark.slow
def test_a_pair_decided_merge_is_merged_on_the_next_run(path):
    dedupe_json(path)
    pair = decide(path, "merge")
    _, second = dedupe_json(path, now=LATER)
    assert second["stats"]["merged"] == 1 and second["stats"]["decisions_applied"] == 1
    [row] = [r for r in merged_rows(path) if {r["Record"], r["Merged into"]} == {pair["a"], pair["b"]}]
    assert f"decided in {DECISIONS} {pair['row']}" in row["Reason"] and row["Merged at"] == LATER
    [dec] = [r for r in records(path, DECISIONS) if r["ID"] == pair["row"]]
    assert dec["Applied on"] == LATER


# -- unmerge --------------------------------------------------------------------------------------


def add_own_column(path: Path, header: str, values: dict[str, str]) -> None:
    """A person adds a column of their own right of the Leads table and fills a few cells."""
    import openpyxl

    if is_sheet(path):  # in the browser
        ws = worksheet(path, SCHEMA.tables["leads"].sheet_name("en"))
        rows = ws.get_values()
        col = max(len(r) for r in rows) + 1
        ws.add_cols(1)  # a column after the last one holding anything (the grid may end there)
        column = [[header]] + [[values.get(r[0], "")] for r in rows[1:]]
        ws.update(column, f"{column_letter(col - 1)}1", value_input_option="RAW")  # column_letter counts from 0
        return

    wb = openpyxl.load_workbook(path)
    ws = wb[SCHEMA.tables["leads"].sheet_name("en")]
    col = ws.max_column + 1
    ws.cell(1, col, header)
    for r in range(2, ws.max_row + 1):
        rid = ws.cell(r, 1).value
        if rid in values:
            ws.cell(r, col, values[rid])
    wb.save(path)


@pytest.mark.slow  # over a second
def test_unmerge_restores_the_row_its_own_columns_and_its_references(path, tmp_path):
    dry, result = dedupe_json(path, "--dry-run")
    merged = [(f["record_id"], f["value"]) for f in result["findings"]
              if f["type"] == "duplicate-merged" and f["table"] == "leads"]
    refs_before = references(path, "leads")
    # the merged lead with the most references, so that moving them back is tested
    record, survivor = max(merged, key=lambda m: sum(v == m[0] for v in refs_before.values()))
    assert sum(v == record for v in refs_before.values()) > 0
    add_own_column(path, "My notes", {record: "met at the fair", survivor: "key account"})
    original = by_id(path, "leads")[record]
    refs_before = references(path, "leads")
    assert original["My notes"] == "met at the fair"

    dedupe_json(path)
    assert record not in by_id(path, "leads")
    refs_merged = references(path, "leads")
    assert all(refs_merged[k] == survivor for k, v in refs_before.items() if v == record)
    report = cli_json("unmerge", path, record, now=LATER)
    [undo] = report["results"]
    assert undo["stats"]["restored"] == 1 and report["written"] is True

    leads = by_id(path, "leads")
    assert leads[record] == original
    assert leads[survivor]["My notes"] == "key account"
    # its references are back; those of the other merged records stay with their survivors
    assert references(path, "leads") == {k: record if refs_before[k] == record else v for k, v in refs_merged.items()}
    # the pair is remembered as not a duplicate: the next run does not merge it again
    _, again = dedupe_json(path, now=LATER + dt.timedelta(days=1))
    assert record in by_id(path, "leads")
    assert not [r for r in merged_rows(path) if r["Record"] == record and r["Merged at"] != NOW]
