"""What a run shows is what a run from nothing shows, whatever a person did to the workbook or its memories in
between: real edits (openpyxl's whole-package save, LibreOffice's round trip that renumbers shared strings), a
moved clock, and damaged, old or missing memories beside the workbook. Each case edits a copy of one workbook
after its first run, runs `crm-sheets run --json` with every memory and from nothing (incremental_harness.py),
and compares exit codes, findings, stats, deliveries and every sheet's cells."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from datetime import datetime

import openpyxl
import pytest

from incremental_harness import (cli, differences, forget_memories, libreoffice_round_trip, outcome, pair,
                                 side_files)
from test_incremental import save

NOW = "2026-03-15T09:00"
LATER = "2026-03-15T10:00"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A sample workbook after its first run, with its memories beside it (one per module: copy before use)."""
    folder = tmp_path_factory.mktemp("adversarial")
    book = folder / "w.xlsx"
    subprocess.run([sys.executable, "-m", "crm_sheets", "new", str(book), "--sample-data", "300"], check=True,
                   capture_output=True)
    code, out, err = cli(book, "--now", NOW)
    assert out is not None and out["written"], err
    return folder


def column_of(ws, title: str) -> int:
    return next(c.column for c in ws[1] if c.value == title)


def row_of(ws, key: str) -> int:
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == key)


def edited(fn):
    """An edit made in openpyxl and saved whole (every part rewritten)."""
    def apply(book):
        wb = openpyxl.load_workbook(book)
        fn(wb)
        save(wb, book)
    apply.__name__ = fn.__name__
    return apply


@edited
def sort_leads_by_company(wb):
    ws = wb["Leads"]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2, max_row=ws.max_row)]
    rows = [r for r in rows if any(v is not None for v in r)]
    col = column_of(ws, "Company") - 1
    rows.sort(key=lambda r: str(r[col] or ""))
    for i, values in enumerate(rows, start=2):
        for j, v in enumerate(values, start=1):
            ws.cell(i, j).value = v


@edited
def insert_and_delete_rows_in_the_middle(wb):
    ws = wb["Leads"]
    ws.delete_rows(40, 3)
    ws.insert_rows(80, 2)
    ws.cell(80, column_of(ws, "First name")).value = "Inserted"
    ws.cell(80, column_of(ws, "Last name")).value = "Person"
    ws.cell(80, column_of(ws, "Email")).value = "inserted.person@example.org"


@edited
def blank_a_row(wb):
    ws = wb["Leads"]
    for c in ws[57]:
        c.value = None


@edited
def a_new_duplicate_and_a_broken_one(wb):
    ws = wb["Contacts"]
    first, last, email = column_of(ws, "First name"), column_of(ws, "Last name"), column_of(ws, "Email")
    for col in (first, last, email):  # contact 5 becomes contact 4's twin
        ws.cell(6, col).value = ws.cell(5, col).value
    ws = wb["Leads"]
    ws.cell(10, column_of(ws, "Last name")).value = "Zzyzx-Nobody"
    ws.cell(10, column_of(ws, "Email")).value = None
    ws.cell(11, column_of(ws, "Phone")).value = "+44 20 7946 0000"


@edited
def settings_lists_and_a_scoring_rule(wb):
    ws = wb["Settings"]
    ws.cell(row_of(ws, "check_title_case"), column_of(ws, "Value")).value = False
    rules = wb["Scoring Rules"]
    rules.cell(row_of(rules, "Target industry"), column_of(rules, "Points")).value = 35
    lists = wb["Lists"]
    lists.cell(3, 2).value = (lists.cell(3, 2).value or "x") + " (renamed)"


@edited
def rename_a_header(wb):
    ws = wb["Leads"]
    ws.cell(1, column_of(ws, "City")).value = "Town"


@edited
def add_their_own_column(wb):
    ws = wb["Leads"]
    col = ws.max_column + 1
    ws.cell(1, col).value = "My notes"
    for r in range(2, 30):
        ws.cell(r, col).value = f"note {r}"


@edited
def hide_a_column(wb):
    ws = wb["Leads"]
    letter = openpyxl.utils.get_column_letter(column_of(ws, "Phone"))
    ws.column_dimensions[letter].hidden = True


@edited
def type_a_date_as_text(wb):
    ws = wb["Leads"]
    ws.cell(12, column_of(ws, "Created")).value = "2026-03-01"
    ws.cell(13, column_of(ws, "Created")).value = "1 March 2026"


@edited
def change_only_a_format(wb):
    ws = wb["Leads"]
    ws.cell(14, column_of(ws, "Created")).number_format = "dd/mm/yyyy"
    ws.cell(15, column_of(ws, "Company")).font = openpyxl.styles.Font(bold=True)


@edited
def edit_the_audit_log(wb):
    ws = wb["Audit Log"]
    ws.cell(2, 2).value = "edited by hand"
    ws.delete_rows(3)


@edited
def remove_the_audit_logs_header_row(wb):
    wb["Audit Log"].delete_rows(1)


def records(ws) -> list[int]:
    """The sheet rows of a table's records (an ID in column A)."""
    return [r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value]


def team_name(wb, i: int) -> str:
    ws = wb["Team"]
    return ws.cell(records(ws)[i], column_of(ws, "Name")).value


@edited
def edit_the_columns_jobs_decide_on(wb):
    """Status, Owner, Email, Phone, Company, Industry, Source, consent and size of some leads: what check, dedupe,
    scoring, assignment and the reports read (the bench edits only Notes and City)."""
    ws = wb["Leads"]
    rows = random.Random(11).sample(records(ws), 12)
    ws.cell(rows[0], column_of(ws, "Status")).value = "Qualified"
    ws.cell(rows[1], column_of(ws, "Status")).value = "Unqualified"
    ws.cell(rows[2], column_of(ws, "Owner")).value = team_name(wb, 0)
    ws.cell(rows[3], column_of(ws, "Owner")).value = None
    for title in ("First name", "Last name", "Email"):  # a lead typed in again as another lead's twin
        ws.cell(rows[4], column_of(ws, title)).value = ws.cell(rows[5], column_of(ws, title)).value
    ws.cell(rows[6], column_of(ws, "Email")).value = "not-an-email"
    ws.cell(rows[7], column_of(ws, "Phone")).value = "+44 20 7946 0123"
    ws.cell(rows[8], column_of(ws, "Company")).value = "Brand New Company Ltd"
    ws.cell(rows[9], column_of(ws, "Industry")).value = ws.cell(rows[10], column_of(ws, "Industry")).value
    ws.cell(rows[10], column_of(ws, "Source")).value = "Referral"
    ws.cell(rows[11], column_of(ws, "Email consent")).value = "Yes"
    ws.cell(rows[11], column_of(ws, "Company size")).value = "1000+"


@edited
def edit_accounts_deals_activities_and_tasks(wb):
    rng = random.Random(13)
    ws = wb["Accounts"]
    rows = rng.sample(records(ws), 4)
    ws.cell(rows[0], column_of(ws, "Industry")).value = "Retail"
    ws.cell(rows[1], column_of(ws, "Owner")).value = team_name(wb, 1)
    ws.cell(rows[2], column_of(ws, "Satisfaction")).value = 2
    ws.cell(rows[3], column_of(ws, "Account name")).value = ws.cell(rows[0], column_of(ws, "Account name")).value
    ws = wb["Deals"]
    rows = rng.sample(records(ws), 4)
    ws.cell(rows[0], column_of(ws, "Stage")).value = "Closed won"
    ws.cell(rows[1], column_of(ws, "Stage")).value = "Closed lost"
    ws.cell(rows[2], column_of(ws, "Amount")).value = 123456
    ws.cell(rows[3], column_of(ws, "Owner")).value = team_name(wb, 0)
    ws = wb["Activities"]
    rows = rng.sample(records(ws), 4)
    ws.cell(rows[0], column_of(ws, "Type")).value = "Call"
    ws.cell(rows[1], column_of(ws, "Summary")).value = "edited by hand"
    ws.cell(rows[2], column_of(ws, "Date")).value = ws.cell(rows[3], column_of(ws, "Date")).value
    ws = wb["Tasks"]
    rows = rng.sample(records(ws), 3)
    ws.cell(rows[0], column_of(ws, "Status")).value = "Done"
    ws.cell(rows[1], column_of(ws, "Owner")).value = team_name(wb, 2)
    ws.cell(rows[2], column_of(ws, "Due")).value = ws.cell(rows[2], column_of(ws, "Created")).value


@edited
def edit_the_rule_sheets(wb):
    ws = wb["Assignment Rules"]
    ws.cell(2, column_of(ws, "Active")).value = not bool(ws.cell(2, column_of(ws, "Active")).value)
    ws = wb["Automations"]
    ws.cell(3, column_of(ws, "Days")).value = 9
    ws = wb["Stages"]
    ws.cell(3, column_of(ws, "Win probability")).value = 0.33
    ws = wb["Scoring Rules"]
    ws.cell(2, column_of(ws, "Points")).value = (ws.cell(2, column_of(ws, "Points")).value or 0) + 7


@edited
def decide_on_duplicates_and_set_someone_away(wb):
    ws = wb["Duplicate Decisions"]
    asked = records(ws)
    if asked:
        ws.cell(asked[0], column_of(ws, "Decision")).value = "Merge"
    if len(asked) > 1:
        ws.cell(asked[1], column_of(ws, "Decision")).value = "Not duplicate"
    ws = wb["Team"]
    ws.cell(records(ws)[1], column_of(ws, "Away")).value = True
    ws.cell(records(ws)[2], column_of(ws, "Capacity")).value = 10


@edited
def add_leads_at_the_bottom_without_ids(wb):
    ws = wb["Leads"]
    last = records(ws)[-1]
    for i in range(3):
        ws.cell(last + 1 + i, column_of(ws, "First name")).value = f"Added{i}"
        ws.cell(last + 1 + i, column_of(ws, "Last name")).value = "Person"
        ws.cell(last + 1 + i, column_of(ws, "Email")).value = f"added{i}.person@example.org"
        ws.cell(last + 1 + i, column_of(ws, "Status")).value = "New"
    for title in ("First name", "Last name", "Email", "Company", "Phone"):  # a lead typed in twice
        ws.cell(last + 4, column_of(ws, title)).value = ws.cell(10, column_of(ws, title)).value


@edited
def swap_ids_retype_one_and_delete_an_account(wb):
    ws = wb["Leads"]
    rows = records(ws)
    a, b = rows[20], rows[40]
    ws.cell(a, 1).value, ws.cell(b, 1).value = ws.cell(b, 1).value, ws.cell(a, 1).value
    ws.cell(rows[60], 1).value = "L-99999"
    contacts = wb["Contacts"]
    for title in ("First name", "Last name", "Email"):  # a contact becomes a lead's person: linked, not merged
        contacts.cell(records(contacts)[5], column_of(contacts, title)).value = ws.cell(rows[80], column_of(ws, title)).value
    accounts = wb["Accounts"]
    accounts.delete_rows(records(accounts)[3])
    deals = wb["Deals"]
    deals.cell(records(deals)[2], column_of(deals, "Stage")).value = None


@edited
def type_other_kinds_of_values(wb):
    """Text where a number, date or yes/no is, a number where a phone is: the typed text and unreadable cells."""
    ws = wb["Leads"]
    rows = random.Random(17).sample(records(ws), 6)
    ws.cell(rows[0], column_of(ws, "Created")).value = "2026-03-01"
    ws.cell(rows[1], column_of(ws, "Engagement")).value = "12"
    ws.cell(rows[2], column_of(ws, "Email consent")).value = "TRUE"
    ws.cell(rows[3], column_of(ws, "Score")).value = 99
    ws.cell(rows[4], column_of(ws, "Last contacted")).value = "yesterday"
    ws.cell(rows[5], column_of(ws, "Phone")).value = 4402079460123
    ws = wb["Deals"]
    ws.cell(records(ws)[5], column_of(ws, "Amount")).value = "12,500"
    ws.cell(records(ws)[5], column_of(ws, "Close date")).value = "15/03/2026"


@edited
def append_activities_without_ids(wb):
    """Activities typed under the last one (no ID, as a person types them), copying the first ones' links."""
    ws = wb["Activities"]
    last = records(ws)[-1]
    for i, r in enumerate(records(ws)[:12]):
        for c in range(2, ws.max_column + 1):
            ws.cell(last + 1 + i, c).value = ws.cell(r, c).value
        ws.cell(last + 1 + i, column_of(ws, "Summary")).value = f"typed by hand {i}"


@edited
def move_the_leads_sheet_and_rename_an_account(wb):
    """Sheets in another order, and an account others point to renamed."""
    wb.move_sheet("Leads", offset=3)
    ws = wb["Accounts"]
    ws.cell(records(ws)[2], column_of(ws, "Account name")).value = "Renamed Holdings Ltd"


def nothing(book):
    pass


def lo_only(book):
    """A LibreOffice round trip and nothing else."""


EDITS = {f.__name__: f for f in (
    nothing, sort_leads_by_company, insert_and_delete_rows_in_the_middle, blank_a_row, a_new_duplicate_and_a_broken_one,
    settings_lists_and_a_scoring_rule, rename_a_header, add_their_own_column, hide_a_column, type_a_date_as_text,
    change_only_a_format, edit_the_audit_log, remove_the_audit_logs_header_row, edit_the_columns_jobs_decide_on,
    edit_accounts_deals_activities_and_tasks, edit_the_rule_sheets, decide_on_duplicates_and_set_someone_away,
    add_leads_at_the_bottom_without_ids, swap_ids_retype_one_and_delete_an_account, type_other_kinds_of_values,
    append_activities_without_ids, move_the_leads_sheet_and_rename_an_account)}


def damage(what: str, how: str, base_dir):
    """Damage one memory of the incremental copy: delete, truncate, random bytes, or the older one."""
    def apply(book):
        path = side_files(book)[what]
        if how == "delete":
            path.unlink()
        elif how == "truncate":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif how == "random":
            data = bytearray(path.read_bytes())
            rng = random.Random(16)
            for _ in range(64):
                data[rng.randrange(len(data))] = rng.randrange(256)
            path.write_bytes(bytes(data))
        elif how == "older":
            shutil.copy(side_files(base_dir / "w.xlsx")[what], path)
    return apply


def compare(tmp_path, base_dir, edit, now: str, *, libreoffice: bool = False, memories=None, prepare=None,
            again: str | None = None):
    """Edit the workbook, copy its folder (the full path gets the same bytes and outbox), damage or keep the
    memories on one side and drop them on the other, run both ways and assert the same outcome; with ``again``,
    run both once more at that time (what the edited run left beside the workbook is used next)."""
    inc_dir = tmp_path / "inc"
    shutil.copytree(base_dir, inc_dir, ignore=shutil.ignore_patterns(".crm-backups"))
    inc = inc_dir / "w.xlsx"
    if prepare is not None:  # before the edit, on the incremental side only (e.g. a run that moves the memories on)
        prepare(inc)
    edit(inc)
    if libreoffice:
        libreoffice_round_trip(inc, tmp_path / "profile")
    full_dir = tmp_path / "full"
    shutil.copytree(inc_dir, full_dir, ignore=shutil.ignore_patterns(".crm-backups"))
    full = full_dir / "w.xlsx"
    if memories is not None:
        memories(inc)
    forget_memories(full)
    a = outcome(inc, *cli(inc, "--now", now))
    b = outcome(full, *cli(full, "--now", now, full=True))
    diff = differences(a, b)
    assert not diff, "\n".join(diff)
    if again is not None:
        forget_memories(full)
        a2 = outcome(inc, *cli(inc, "--now", again))
        b2 = outcome(full, *cli(full, "--now", again, full=True))
        diff = differences(a2, b2)
        assert not diff, "run again:\n" + "\n".join(diff)
    return a, b


@pytest.mark.slow
def test_a_renamed_account_a_lead_given_anothers_email_and_a_deal_moved_on_give_what_a_run_from_nothing_gives(base, tmp_path):
    """Edits whose effect reaches past the cells edited: an account's new name is its contacts' company (the people
    dedupe pairs again from its index), a lead given another lead's email (its name another: two people sharing an
    inbox, kept apart), and a deal moved to Proposal fires the rules watching its stage. The incremental path gives
    what a run from nothing gives."""
    seen = {}

    @edited
    def edit(wb):
        accounts, contacts = wb["Accounts"], wb["Contacts"]
        linked = {contacts.cell(r, column_of(contacts, "Account")).value for r in records(contacts)}
        r = next(r for r in records(accounts) if accounts.cell(r, 1).value in linked)
        accounts.cell(r, column_of(accounts, "Account name")).value = "Renamed Holdings Ltd"
        leads = wb["Leads"]
        email = column_of(leads, "Email")
        a, b = [r for r in records(leads)[10:] if leads.cell(r, email).value][:2]
        leads.cell(a, email).value = leads.cell(b, email).value
        seen["twins"] = {leads.cell(a, 1).value, leads.cell(b, 1).value}
        deals = wb["Deals"]
        stage = column_of(deals, "Stage")
        r = next(r for r in records(deals) if deals.cell(r, stage).value not in ("Proposal", "Closed won", "Closed lost"))
        deals.cell(r, stage).value = "Proposal"
        seen["deal"] = deals.cell(r, 1).value

    a, _ = compare(tmp_path, base, edit, LATER)
    found = {job["job"]: job for job in a["results"]}
    # two people with other names sharing an inbox are not one person: both stay, as a run from nothing keeps them
    assert seen["twins"] <= {row[0] for row in a["cells"]["Leads"]}
    assert found["automate"]["stats"].get("tasks_created", 0) >= 1
    assert any(seen["deal"] in str(row) for row in a["cells"]["Tasks"])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edit_saved_by_openpyxl_gives_what_a_run_from_nothing_gives(base, tmp_path, name):
    compare(tmp_path, base, EDITS[name], LATER)


@pytest.mark.slow
def test_an_audit_log_without_its_header_row_is_left_out_on_a_writing_run_as_an_eager_read_leaves_it(base, tmp_path):
    """The Audit Log is read lazily (model/lazy.py); a writing run used to stop with exit 2 when its header row was
    gone, where an eager read leaves the sheet alone and logs into a new Audit Log."""
    @edited
    def headerless_and_a_fix(wb):
        wb["Audit Log"].delete_rows(1)
        ws = wb["Leads"]
        ws.cell(5, column_of(ws, "City")).value = "  Lyon"  # check tidies it: an Audit Log entry

    a, b = compare(tmp_path, base, headerless_and_a_fix, LATER)
    assert a["exit"] in (0, 1)
    log = a["cells"]["Audit Log (2)"]
    assert log[0][:2] == ["When", "Job"] and any(row[3] == "L-00004" and row[4] == "city" for row in log[1:])
    assert a["cells"]["Audit Log"] == b["cells"]["Audit Log"]  # their sheet left as it was


LIBREOFFICE_EDITS = ("lo_only", "sort_leads_by_company", "insert_and_delete_rows_in_the_middle",
                     "a_new_duplicate_and_a_broken_one", "settings_lists_and_a_scoring_rule", "type_a_date_as_text",
                     "edit_the_audit_log", "edit_the_columns_jobs_decide_on", "add_leads_at_the_bottom_without_ids",
                     "add_their_own_column")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
@pytest.mark.parametrize("name", LIBREOFFICE_EDITS)
def test_an_edit_saved_through_libreoffice_gives_what_a_run_from_nothing_gives(base, tmp_path, name):
    """LibreOffice rewrites every part and renumbers the shared strings: no sheet is found by its bytes."""
    edit = EDITS.get(name, lo_only)
    compare(tmp_path, base, edit, LATER, libreoffice=True, again="2026-03-15T11:00")


@pytest.mark.slow
@pytest.mark.parametrize("now", ["2026-03-16T09:00", "2026-04-15T09:00", "2026-03-14T09:00"])
def test_a_day_or_a_month_later_gives_what_a_run_from_nothing_gives(base, tmp_path, now):
    """The clock moved on (or back: a machine's clock set wrong) with nothing edited."""
    compare(tmp_path, base, nothing, now)


def city_edit(book):
    wb = openpyxl.load_workbook(book)
    ws = wb["Leads"]
    ws.cell(20, column_of(ws, "City")).value = "Graz"
    save(wb, book)


def run_once(book):
    """A run with an edit before it, so the memories beside the workbook move on from the base's."""
    city_edit(book)
    code, out, err = cli(book, "--now", LATER)
    assert out is not None, err


@pytest.mark.slow
@pytest.mark.parametrize("what", ["cache", "record"])
@pytest.mark.parametrize("how", ["delete", "truncate", "random", "older"])
def test_a_missing_cut_short_damaged_or_older_memory_is_ignored(base, tmp_path, what, how):
    compare(tmp_path, base, blank_a_row, "2026-03-15T12:00", memories=damage(what, how, base), prepare=run_once,
            again="2026-03-15T13:00")


@pytest.mark.slow
@pytest.mark.parametrize("what", ["cache", "record"])
@pytest.mark.parametrize("how", ["truncate", "random", "older"])
def test_a_damaged_or_older_memory_of_an_unedited_workbook_is_ignored(base, tmp_path, what, how):
    """Nothing edited: the run would be answered from the record and the cache, were they to be believed."""
    compare(tmp_path, base, nothing, "2026-03-15T12:00", memories=damage(what, how, base), prepare=run_once)


KILLED = """
import os, signal, sys
from crm_sheets.outbox import Outbox
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
Outbox.commit_states = die
sys.argv = ["crm-sheets", "run", sys.argv[1], "--json", "--now", sys.argv[2]]
from crm_sheets.cli import cli
cli()
"""


@pytest.mark.slow
def test_a_run_killed_between_its_write_and_its_state_commit_then_run_again_gives_what_a_run_from_nothing_gives(base, tmp_path):
    def killed(book):
        city_edit(book)
        proc = subprocess.run([sys.executable, "-c", KILLED, str(book), LATER], capture_output=True, text=True)
        assert proc.returncode == -9, proc.stderr  # died after replacing the file, its states only prepared
    compare(tmp_path, base, nothing, "2026-03-15T12:00", prepare=killed, again="2026-03-15T13:00")


@pytest.mark.slow
def test_an_older_workbook_put_back_beside_newer_memories_gives_what_a_run_from_nothing_gives(base, tmp_path):
    """A backup restored by hand: the file is the first run's, the cache, record and states are a later run's."""
    def put_back(book):
        shutil.copy(base / "w.xlsx", book)
    compare(tmp_path, base, put_back, "2026-03-15T12:00", prepare=run_once, again="2026-03-15T13:00")



@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known divergence, not fixed: report's memory (still_shown) does not see a "
                   "hand edit of a report sheet; the full path lays the sheet out again and overwrites the edit")
def test_a_report_sheet_typed_over_by_hand_is_laid_out_again_as_a_run_from_nothing_does(base, tmp_path):
    @edited
    def typed_over_the_dashboard(wb):
        wb["Dashboard"].cell(5, 2).value = 12345
    compare(tmp_path, base, typed_over_the_dashboard, LATER)
