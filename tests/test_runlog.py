"""The Runs sheet: one row per run, the latest first, as many as Settings runs_keep says; a run that changes
nothing (from the command line, the schedule, a button or the menu) leaves the file as it was and shows up
with the next write."""
from datetime import datetime

import openpyxl
import pytest

from crm_sheets.errors import UsageError, WorkbookBusy
from crm_sheets.runlog import RunHistory, run_logged
from crm_sheets.runner import run
from crm_sheets.workbook import new_workbook


def runs_rows(path):
    ws = openpyxl.load_workbook(path)["Runs"]
    return [r for r in ws.iter_rows(min_row=4, values_only=True)]


def set_setting(path, key, value):
    wb = openpyxl.load_workbook(path)
    ws = wb["Settings"]
    row = next(r for r in ws.iter_rows(min_row=2) if r[0].value == key)
    row[1].value = value
    wb.save(path)


def edit_a_lead(path, value):
    """A person's edit that check tidies (extra spaces), so the next run has something to write."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    ws.cell(2, header["Company"]).value = f"{value}  Ltd"
    wb.save(path)


@pytest.mark.slow
def test_the_runs_sheet_keeps_the_latest_runs_up_to_runs_keep(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx", sample_data=50)
    set_setting(path, "runs_keep", 2)
    for hour in (9, 10, 11):
        edit_a_lead(path, f"Acme {hour}")
        run_logged(path, ["check"], trigger="schedule", now=datetime(2026, 11, 2, hour, 0))
    rows = runs_rows(path)
    assert [(r[0], r[2], r[3]) for r in rows] == [(datetime(2026, 11, 2, 11, 0), "check", "schedule"),
                                                (datetime(2026, 11, 2, 10, 0), "check", "schedule")]
    assert len(RunHistory(path).latest(10)) == 3  # the history keeps more than the sheet shows


@pytest.mark.slow
def test_a_run_that_changes_nothing_leaves_the_file_whoever_asks_and_is_listed_with_the_next_write(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx", sample_data=50)
    run_logged(path, ["check"], trigger="cli", now=datetime(2026, 11, 2, 9, 0))
    before = path.read_bytes()
    report = run_logged(path, ["check"], trigger="cli", now=datetime(2026, 11, 2, 9, 5))
    assert not report.written and path.read_bytes() == before
    for minute, trigger in ((6, "schedule"), (7, "button"), (8, "menu")):
        report = run_logged(path, ["check"], trigger=trigger, now=datetime(2026, 11, 2, 9, minute))
        assert not report.written and path.read_bytes() == before
    edit_a_lead(path, "Acme")
    run_logged(path, ["check"], trigger="menu", now=datetime(2026, 11, 2, 9, 10))
    assert [(r[0].strftime("%H:%M"), r[3]) for r in runs_rows(path)][:5] == [
        ("09:10", "menu"), ("09:08", "menu"), ("09:07", "button"), ("09:06", "schedule"), ("09:05", "command line")]


@pytest.mark.slow
def test_a_failed_run_is_listed_with_its_error(tmp_path, monkeypatch):
    path = new_workbook(tmp_path / "crm.xlsx")

    def busy(*args, **kwargs):
        raise WorkbookBusy("crm.xlsx is open in Excel (Ana)")

    monkeypatch.setattr("crm_sheets.api.run", busy)
    with pytest.raises(WorkbookBusy):
        run_logged(path, ["report"], trigger="button", now=datetime(2026, 11, 2, 8, 0))
    monkeypatch.undo()
    run_logged(path, ["check"], trigger="schedule", now=datetime(2026, 11, 2, 8, 30))
    busy_row = runs_rows(path)[1]
    assert busy_row[2:5] == ("report", "button", "busy") and busy_row[8] == "crm.xlsx is open in Excel (Ana)"


def test_an_unknown_trigger_is_refused(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx")
    with pytest.raises(UsageError, match="unknown trigger"):
        run(path, ["check"], trigger="webhook")
