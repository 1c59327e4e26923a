"""A team's own CRM workbook, built the way teams build them (title rows above the headers, a legend under
the table, formula fallbacks filled down, their own statuses, their own Dashboard), is never damaged: every
cell they typed stays, IDs and new columns go in the real header row, a second run changes nothing.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.runner import run
from crm_sheets.store import read_workbook
from helpers import calamine, nonempty_cells

NOW = dt.datetime(2026, 11, 2, 9, 0)
HEADERS = ["First Name", "Last Name", "Company", "Email", "Phone", "Status", "Last Contacted", "Our notes"]
# Statuses as a team uses them: their own "On Hold" and "Disqualified", one typo of Qualified
STATUSES = ["Qualified"] * 6 + ["Disqualified"] * 10 + ["On Hold"] * 5 + ["New"] * 4 + ["Contacted"] * 3 + ["Qualifed"]
FIRST, LAST = 5, 5 + len(STATUSES) - 1  # the records' rows: headers on row 4, under two title rows


def team_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws["A1"] = "ACME Sales Pipeline"
    ws["A2"] = "Owner: sales team. Updated every Monday."
    for j, h in enumerate(HEADERS, 1):
        ws.cell(4, j, h)
    for i, status in enumerate(STATUSES):
        r = FIRST + i
        for j, v in enumerate([f"Ann{i}", f"Smith{i}", f"Company {i}", f"ann{i}@company{i}.com", f"+1 415 555 {1000 + i}",
                               status, dt.datetime(2026, 10, 1) + dt.timedelta(days=i), "keep"], 1):
            ws.cell(r, j, v)
    for r in range(LAST + 1, LAST + 4):  # formulas filled down the sheet show their fallbacks
        ws.cell(r, 6, "-")
        ws.cell(r, 8, "N/A")
    ws.cell(LAST + 5, 1, "Legend")
    ws.cell(LAST + 6, 5, "Days Until Next Action (>=)")
    ws.cell(LAST + 6, 6, 7)
    ws.cell(LAST + 7, 5, "Days Until Next Action (<)")
    ws.cell(LAST + 7, 6, 3)
    team = wb.create_sheet("Team")
    team["A1"] = "Our team"
    for j, h in enumerate(["Name", "Email", "Role"], 1):
        team.cell(3, j, h)
    for i, n in enumerate(["Alice Doe", "Bob Roe"]):
        for j, v in enumerate([n, f"{n.split()[0].lower()}@acme.com", "Sales"], 1):
            team.cell(4 + i, j, v)
    dash = wb.create_sheet("Dashboard")
    dash["A1"] = "Our own dashboard"
    dash["A2"] = "Won this month"
    dash["B2"] = 12
    wb.save(path)
    return path


@pytest.fixture
def path(tmp_path) -> Path:
    return team_workbook(tmp_path / "team.xlsx")


def invoke(*args) -> object:
    result = CliRunner().invoke(cli, [*map(str, args), "--now", NOW.isoformat()])
    assert result.exit_code in (0, 1), result.output
    return result


def kept(before: dict, after: dict) -> dict:
    """The cells of ``before`` that ``after`` no longer holds as they were."""
    return {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}


# -- IDs and new columns ----------------------------------------------------------------------------


@pytest.mark.slow
def test_ids_go_in_the_header_row_under_title_rows_and_a_second_run_finds_them(path):
    invoke("check", path)
    invoke("run", path)
    leads, team = nonempty_cells(path, "Leads"), nonempty_cells(path, "Team")
    id_headers = [k for k, v in leads.items() if v == "ID"]
    assert id_headers == [(4, len(HEADERS) + 1)], "one ID column, its header on the header row (row 4)"
    assert [k for k, v in team.items() if v == "ID"] == [(3, 4)]
    ids = [leads.get((r, len(HEADERS) + 1)) for r in range(FIRST, LAST + 1)]
    assert ids == [f"L-{n:05d}" for n in range(1, len(STATUSES) + 1)]
    assert max(j for _, j in leads) == len(HEADERS) + 1, "no second ID column"


# -- refused workbooks -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_refused_workbook_gets_no_file_beside_it(tmp_path):
    path = tmp_path / "inventory.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Inventory"
    wb.active.append(["Part", "Qty"])
    wb.active.append(["bolt", 3])
    wb.save(path)
    for command in (["check"], ["check", "--fix"], ["run"], ["dedupe"], ["automate"], ["report"], ["run", "--dry-run"]):
        result = CliRunner().invoke(cli, [command[0], str(path), *command[1:]])
        assert result.exit_code == 2, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.xlsx"]


# -- the team's vocabulary ---------------------------------------------------------------------------


def run_json(*args) -> dict:
    import json

    result = invoke(*args, "--json")
    return json.loads(result.stdout)


def findings(report: dict, kind: str | None = None) -> list[dict]:
    return [f for r in report["results"] for f in r["findings"] if kind is None or f["type"] == kind]


@pytest.mark.slow
def test_a_status_the_team_uses_is_added_to_their_list_and_never_rewritten(path):
    report = run_json("check", path, "--fix")
    status = {r: v for (r, j), v in nonempty_cells(path, "Leads").items() if j == 6 and FIRST <= r <= LAST}
    assert [status[r] for r in range(FIRST, LAST + 1)] == STATUSES[:-1] + ["Qualified"], \
        "Disqualified and On Hold are kept; only the one-off typo Qualifed is corrected"
    notes = [n for n in report["notes"] if "Lead status list" in n]
    assert len(notes) == 2 and any('"Disqualified" is used in 10 rows' in n for n in notes) and any('"On Hold"' in n for n in notes)
    assert not [f for f in findings(report) if f["field"] == "status" and f["severity"] == "error"]
    again = run_json("check", path)
    assert not findings(again, "option-added") and not [f for f in findings(again) if f["field"] == "status"]
    assert read_workbook(path).lists["lead_status"].keys()[-2:] == ["Disqualified", "On Hold"]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    from crm_sheets.workbook import new_workbook

    return new_workbook(tmp_path_factory.mktemp("made") / "crm.xlsx", sample_leads=50, now=NOW)


@pytest.mark.slow
def test_in_a_crm_sheets_workbook_a_rare_other_word_is_never_fixed_and_a_used_one_joins_the_lists_sheet(made, tmp_path):
    import shutil

    from crm_sheets.model import ChangeSet
    from crm_sheets.store.xlsx import XlsxStore

    path = Path(shutil.copy(made, tmp_path / "crm.xlsx"))
    store = XlsxStore(path)
    tables = store.read()
    ids = list(tables["leads"].df.index)
    changes = ChangeSet()
    for rid, value in zip(ids, ["Disqualified", "Qualifed", "Nurturing", "Nurturing", "Nurturing"]):
        changes.update("leads", rid, "status", value)
    store.apply(changes, tables)

    report = run_json("check", path, "--fix")
    after = read_workbook(path)
    leads = after["leads"].df
    assert leads.at[ids[0], "status"] == "Disqualified" and leads.at[ids[1], "status"] == "qualified"
    [other] = [f for f in findings(report) if f["record_id"] == ids[0] and f["field"] == "status"]
    assert other["severity"] == "error" and "Qualified" not in other["message"], "never offered as a typo of Qualified"
    assert list(leads.loc[ids[2:5], "status"]) == ["Nurturing"] * 3
    assert "Nurturing" in after.lists["lead_status"].keys()
    lists = calamine(path).get_sheet_by_name("Lists").to_python()
    col = lists[0].index("Lead status")
    labels = [row[col] for row in lists[1:] if row[col] != ""]
    assert labels[-1] == "Nurturing" and labels[:-1] == [o.label("en") for o in load_lists()["lead_status"].options]
    with __import__("zipfile").ZipFile(path) as z:
        workbook = z.read("xl/workbook.xml").decode()
    end = 1 + len(labels)
    assert f"$2:${chr(65 + col)}${end}<" in workbook.split('name="list_lead_status"')[1].split("</")[0] + "<", \
        "the dropdown's list reaches the new value"
    assert not findings(run_json("check", path), "option-added")


def load_lists():
    from crm_sheets.model.schema import load_schema

    return load_schema("sales").lists


# -- a team's own sheets -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_teams_own_dashboard_is_never_replaced_ours_takes_another_name(path):
    before = nonempty_cells(path, "Dashboard")
    report = run_json("report", path)
    book = calamine(path)
    assert nonempty_cells(path, "Dashboard") == before
    assert "CRM Dashboard" in book.sheet_names and nonempty_cells(path, "CRM Dashboard")
    assert any("'Dashboard' is left as it is" in n and "'CRM Dashboard'" in n for n in report["notes"])
    again = run_json("report", path)
    assert nonempty_cells(path, "Dashboard") == before
    assert [s for s in calamine(path).sheet_names if "Dashboard" in s] == ["Dashboard", "CRM Dashboard"]
    assert not any("left as it is" in n for n in again["notes"]), "said once"


def test_a_second_team_sheet_of_our_name_pushes_ours_one_further(tmp_path):
    path = team_workbook(tmp_path / "team.xlsx")
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("CRM Dashboard")["A1"] = "an older attempt"
    wb.save(path)
    invoke("report", path)
    assert nonempty_cells(path, "CRM Dashboard") == {(1, 1): "an older attempt"}
    assert nonempty_cells(path, "CRM Dashboard 2")


# -- rows that are not records -----------------------------------------------------------------------


@pytest.mark.slow
def test_legends_fallback_rows_and_totals_are_not_records(tmp_path):
    path = team_workbook(tmp_path / "team.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    ws.insert_rows(LAST + 1)  # a totals row right under the records
    ws.cell(LAST + 1, 1, "Total")
    ws.cell(LAST + 1, 6, len(STATUSES))
    wb.save(path)
    before = nonempty_cells(path, "Leads")
    tables = read_workbook(path)
    leads = tables["leads"]
    assert len(leads) == len(STATUSES) and max(leads.rows.values()) == LAST
    assert any("not records" in n for n in tables.notes)
    report = run_json("run", path)
    after = nonempty_cells(path, "Leads")
    id_col = len(HEADERS) + 1
    assert not [r for (r, j) in after if j == id_col and r > LAST], "no ID beside a row that is not a record"
    assert not [f for f in findings(report) if f["table"] == "leads" and f["cell"] and any(
        f["cell"].endswith(str(r)) for r in range(LAST + 1, LAST + 9))]
    for r in range(LAST + 1, LAST + 9):  # every cell of those rows stays as typed
        assert {k: v for k, v in after.items() if k[0] == r} == {k: v for k, v in before.items() if k[0] == r}
    assert after[(LAST + 7, 5)] == "Days Until Next Action (>=)" and after[(LAST + 2, 6)] == "-"


def test_a_company_called_total_is_a_record_a_total_row_is_not(tmp_path):
    path = team_workbook(tmp_path / "team.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    ws.cell(FIRST, 3, "Total Energies")
    ws.cell(FIRST + 1, 1, "Total")  # a first name, with an email beside it
    ws.insert_rows(LAST + 1)
    ws.cell(LAST + 1, 1, "Grand total:")
    ws.cell(LAST + 1, 7, 28)
    wb.save(path)
    leads = read_workbook(path)["leads"]
    assert len(leads) == len(STATUSES) and max(leads.rows.values()) == LAST
    assert set(leads.df["company"]) >= {"Total Energies"} and "Total" in set(leads.df["first_name"])


def test_a_row_typed_under_a_blank_row_is_still_a_record(tmp_path):
    path = team_workbook(tmp_path / "team.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    ws.delete_rows(LAST + 1, 10)
    ws.cell(LAST + 2, 1, "Zoe")
    ws.cell(LAST + 2, 2, "Stone")
    wb.save(path)
    leads = read_workbook(path)["leads"]
    assert len(leads) == len(STATUSES) + 1 and leads.df["last_name"].iloc[-1] == "Stone"


# -- nothing damaged, a second run changes nothing ---------------------------------------------------


@pytest.mark.slow
def test_every_source_cell_stays_and_a_second_run_changes_nothing(path):
    sheets = ("Leads", "Team", "Dashboard")
    before = {s: nonempty_cells(path, s) for s in sheets}
    invoke("check", path)
    invoke("dedupe", path)
    invoke("run", path)
    after = {s: nonempty_cells(path, s) for s in sheets}
    for s in sheets:
        changed = kept(before[s], after[s])
        if s == "Leads":  # run's fixes write the one typo Qualifed; the team's phones stay as they write them
            assert set(changed) == {(LAST, 6)}
        else:
            assert changed == {}, s
    snapshot = path.read_bytes()
    for command in (["check"], ["dedupe"], ["report"], ["run"]):
        report = run_json(command[0], path, *command[1:])
        assert report["changes"]["updated_cells"] == 0 and report["changes"]["appended_rows"] == 0, command
    assert path.read_bytes() == snapshot, "the second runs write the workbook exactly as it was"
    assert [s for s in calamine(path).sheet_names if s.startswith("CRM")] == ["CRM Dashboard"]
    invoke("check", "--fix", path)  # asked for: numbers written with their country code go to E.164, nothing else
    changed = kept(after["Leads"], nonempty_cells(path, "Leads"))
    assert set(changed) == {(r, 5) for r in range(FIRST, LAST + 1)}
    assert all(new == old.replace(" ", "") for (old, new) in changed.values())


# -- archive sheets ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_missing_merged_and_audit_log_sheet_is_created_by_the_write_never_an_upgrade_request(path):
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    ws.insert_rows(FIRST + 1)  # the first lead typed twice
    for j, v in enumerate(["Ann0", "Smith0", "Company 0", "ann0@company0.com", "+1 415 555 1000", "Qualified", None, "again"], 1):
        ws.cell(FIRST + 1, j, v)
    wb.save(path)
    dry = run_json("dedupe", path, "--dry-run")
    report = run_json("dedupe", path)
    assert report["written"] is True and dry["results"][0]["changes"] == report["results"][0]["changes"]
    assert report["results"][0]["changes"]["archived_rows"] == 1
    book = calamine(path)
    assert {"Merged", "Audit Log"} <= set(book.sheet_names)
    merged = book.get_sheet_by_name("Merged").to_python()
    assert [row[0] for row in merged[1:]] == ["L-00002"] and '"Our notes":"again"' in merged[1][5]
    assert len(book.get_sheet_by_name("Audit Log").to_python()) == 2
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".") and "pending" in p.name) == []
    snapshot = path.read_bytes()
    again = run_json("dedupe", path)
    assert again["results"][0]["changes"]["archived_rows"] == 0 and path.read_bytes() == snapshot


@pytest.mark.slow
def test_a_stage_and_a_tag_the_team_uses_join_their_stages_sheet_and_tags_list(made, tmp_path):
    import shutil

    from crm_sheets.model import ChangeSet
    from crm_sheets.store.xlsx import XlsxStore

    path = Path(shutil.copy(made, tmp_path / "crm.xlsx"))
    store = XlsxStore(path)
    tables = store.read()
    deals, leads = list(tables["deals"].df.index[:3]), list(tables["leads"].df.index[:3])
    orders = tables["stages"].df["order"]
    changes = ChangeSet()
    for rid in deals:
        changes.update("deals", rid, "stage", "Proposal/Quote")
    for rid in leads:
        changes.update("leads", rid, "tags", "Reseller")
    store.apply(changes, tables)

    report = run_json("check", path, "--fix")
    after = read_workbook(path)
    assert list(after["deals"].df.loc[deals, "stage"]) == ["Proposal/Quote"] * 3
    stages = after["stages"].df
    [row] = stages[stages["stage"] == "Proposal/Quote"].to_dict("records")
    assert row["order"] == orders.max() + 1 and row["probability"] != row["probability"], "probability left to fill"
    assert "Reseller" in after.lists["tags"].keys() and list(after["leads"].df.loc[leads, "tags"]) == ["Reseller"] * 3
    assert sum("Proposal/Quote" in n for n in report["notes"]) == 1 and sum('"Reseller"' in n for n in report["notes"]) == 1
    again = run_json("check", path)
    assert not findings(again, "option-added")
    assert not [f for f in findings(again) if f["type"] in ("unknown-option", "unknown-tag")]


def test_rows_appended_to_a_table_move_a_legend_under_it_down_instead_of_writing_over_it(path):
    from crm_sheets.model import ChangeSet, RowAppend
    from crm_sheets.store.xlsx import XlsxStore

    before = nonempty_cells(path, "Leads")
    store = XlsxStore(path)
    tables = store.read()
    changes = ChangeSet()
    for i in range(6):
        rid = tables["leads"].allocate_id()
        changes.appends.append(RowAppend("leads", rid, {"first_name": f"New{i}", "last_name": f"Lead{i}", "status": "new"}))
    store.apply(changes, tables)
    after = nonempty_cells(path, "Leads")
    for (r, j), v in before.items():
        moved = r + 6 if r > LAST else r
        assert after.get((moved, j)) == v, ((r, j), v)
    assert [after.get((r, 2)) for r in range(LAST + 1, LAST + 7)] == [f"Lead{i}" for i in range(6)]
    assert len(read_workbook(path)["leads"]) == len(STATUSES) + 6
