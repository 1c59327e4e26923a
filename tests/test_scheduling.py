"""The schedule: the Schedule sheet is read as people write it; on a fake clock, due jobs run in order,
one run at a time, a busy workbook is retried with backoff and caught up once, and each run is in the Runs sheet."""
import datetime as dt
import types

import openpyxl
import pytest
import schedule as schedule_pkg

from crm_sheets.errors import WorkbookBusy
from crm_sheets.runlog import RunHistory
from crm_sheets.scheduling import ScheduleError, Scheduler, Slot, make_scheduler, schedule_from_tables, slots_from_options
from crm_sheets.store import open_store
from crm_sheets.workbook import new_workbook


class FakeClock:
    """The time the scheduler, the `schedule` package and the runs all see; tests move it by hand."""

    def __init__(self, start: dt.datetime):
        self.t = start

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, **kw) -> None:
        self.t += dt.timedelta(**kw)


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock(dt.datetime(2026, 11, 2, 6, 55))  # a Monday

    class FakeDatetime(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return fake.t

    shim = types.SimpleNamespace(**{k: getattr(dt, k) for k in dir(dt) if not k.startswith("__")})
    shim.datetime = FakeDatetime
    monkeypatch.setattr(schedule_pkg, "datetime", shim)
    return fake


def tick_until(scheduler, clock, end, step_minutes=1):
    while clock.t < end:
        scheduler.tick()
        clock.advance(minutes=step_minutes)


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_the_template_schedule_checks_hourly_automates_every_15_minutes_reports_at_7_and_reminds_on_weekdays(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx")
    slots = schedule_from_tables(open_store(path).read())
    assert slots == [
        Slot("check", every_minutes=60, name="Check the data"),
        Slot("automate", every_minutes=15, name="Automations"),
        Slot("report", at="07:00", days="every_day", name="Morning reports"),
        Slot("automate", at="08:30", days="weekdays", name="Reminders"),
    ]


def test_a_french_workbook_schedule_reads_the_same(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx", lang="fr")
    assert [s.job for s in schedule_from_tables(open_store(path).read())] == ["check", "automate", "report", "automate"]


def _edit_schedule(path, row, column, value):
    wb = openpyxl.load_workbook(path)
    ws = wb["Schedule"]
    col = next(c.column for c in ws[1] if c.value == column)
    ws.cell(row=row, column=col, value=value)
    wb.save(path)


@pytest.mark.slow
def test_a_schedule_row_that_cannot_be_read_names_its_row_column_and_value(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx")
    _edit_schedule(path, 4, "At (HH:MM)", "7h30")
    with pytest.raises(ScheduleError) as err:
        make_scheduler(path, run=lambda *a: None)
    assert "Schedule row 4, column At (HH:MM): '7h30' is not a time of day; write it as HH:MM" in str(err.value)


@pytest.mark.slow
def test_a_row_with_both_an_interval_and_a_time_is_refused(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx")
    _edit_schedule(path, 2, "At (HH:MM)", "09:00")
    with pytest.raises(ScheduleError, match="fill exactly one of them"):
        make_scheduler(path, run=lambda *a: None)


@pytest.mark.slow
def test_an_inactive_row_does_not_run(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx")
    _edit_schedule(path, 2, "Active", False)
    assert [s.job for s in make_scheduler(path, run=lambda *a: None).slots] == ["automate", "report", "automate"]


@pytest.mark.parametrize("every,daily,expected", [
    ("15 parsecs", [], "not a duration"),
    ("0m", [], "at least 1 minute"),
    (None, ["7h30"], "not a time"),
])
def test_bad_command_line_slots_get_a_message_saying_how_to_write_them(every, daily, expected):
    with pytest.raises(ScheduleError, match=expected):
        slots_from_options(every, daily)


def test_every_and_daily_options_run_everything():
    assert slots_from_options("2h", ["7:30"]) == [Slot("run", every_minutes=120, name="--every 2h"),
                                                 Slot("run", at="07:30", name="--daily 7:30")]


@pytest.mark.slow
def test_on_a_fake_clock_due_jobs_run_in_order_one_run_at_a_time_and_each_run_is_in_the_runs_history(tmp_path, clock):
    path = new_workbook(tmp_path / "crm.xlsx", now=clock.t)
    scheduler = make_scheduler(path, now=clock)  # the real runner, trigger "schedule"
    scheduler.start()
    tick_until(scheduler, clock, dt.datetime(2026, 11, 2, 7, 30))
    assert [(t.strftime("%H:%M"), jobs, outcome) for t, jobs, outcome in scheduler.history] == [
        ("06:55", ["check", "automate"], "ok"),  # the every-N-minutes rows run once at start, in job order
        ("07:00", ["report"], "ok"),
        ("07:10", ["automate"], "ok"),
        ("07:25", ["automate"], "ok"),
    ]
    # The runs that wrote (the first check, the first report) show in the Runs sheet; the automate runs
    # that found nothing new left the file as it was, and wait in the history for the next write.
    ws = openpyxl.load_workbook(path)["Runs"]
    rows = [r for r in ws.iter_rows(min_row=4, values_only=True)]
    assert [(r[0].strftime("%H:%M"), r[2], r[3], r[4]) for r in rows] == [
        ("07:00", "report", "schedule", "OK"),
        ("06:55", "check, automate", "schedule", "OK"),
    ]
    assert [(r.started.strftime("%H:%M"), r.jobs, r.trigger) for r in RunHistory(path).latest()] == [
        ("07:25", ("automate",), "schedule"),
        ("07:10", ("automate",), "schedule"),
        ("07:00", ("report",), "schedule"),
        ("06:55", ("check", "automate"), "schedule"),
    ]


def test_a_run_longer_than_its_interval_is_not_run_again_for_each_missed_slot(clock):
    runs = []

    def slow_run(path, jobs, now):
        runs.append(now.strftime("%H:%M"))
        clock.advance(minutes=40)  # the run takes 40 minutes; the slot is every 15

    scheduler = Scheduler("crm.xlsx", [Slot("automate", every_minutes=15)], run=slow_run, now=clock)
    scheduler.start()
    tick_until(scheduler, clock, dt.datetime(2026, 11, 2, 9, 0))
    assert runs == ["06:55", "07:36", "08:17", "08:58"]  # one run after another: missed slots are not piled up


def test_a_busy_workbook_is_retried_with_backoff_and_caught_up_once(clock, caplog):
    runs = []

    def run(path, jobs, now):
        runs.append((now.strftime("%H:%M"), jobs))
        if now < dt.datetime(2026, 11, 2, 7, 10):
            raise WorkbookBusy(f"{path} is open in Excel (Ana)")

    slots = [Slot("automate", every_minutes=5), Slot("report", at="07:00")]
    scheduler = Scheduler("crm.xlsx", slots, run=run, now=clock, backoff=(60, 120, 300))
    scheduler.start()
    tick_until(scheduler, clock, dt.datetime(2026, 11, 2, 7, 20))
    assert runs == [
        ("06:55", ["automate"]),  # busy: again in 1 minute
        ("06:56", ["automate"]),  # busy: again in 2 minutes
        ("06:58", ["automate"]),  # busy: again in 5 minutes (report came due at 07:00 meanwhile)
        ("07:03", ["automate", "report"]),  # busy: again in 5 minutes
        ("07:08", ["automate", "report"]),  # busy
        ("07:13", ["automate", "report"]),  # free: everything missed runs once
        ("07:15", ["automate"]),  # back on the 5-minute rhythm
    ]
    assert "open in Excel" in caplog.text


def test_a_busy_run_from_the_schedule_is_listed_in_the_runs_history(tmp_path, monkeypatch):
    from crm_sheets.runlog import RunHistory

    path = new_workbook(tmp_path / "crm.xlsx")

    def busy(*args, **kwargs):
        raise WorkbookBusy(f"{path.name} is open in Excel (Ana)")

    monkeypatch.setattr("crm_sheets.api.run", busy)
    scheduler = Scheduler(path, [Slot("check", every_minutes=30)])
    scheduler.start()
    assert scheduler.tick() == "busy"
    [last] = RunHistory(path).latest(1)
    assert (last.jobs, last.trigger, last.result, last.first_error) == (("check",), "schedule", "busy", "crm.xlsx is open in Excel (Ana)")


def test_run_once_waits_for_a_busy_workbook_then_gives_up_with_busy():
    from crm_sheets.scheduling import run_once

    calls, slept = [], []

    def run(path, jobs, now):
        calls.append(jobs)
        if len(calls) < 3:
            raise WorkbookBusy("crm.xlsx is open in Excel (Ana)")
        return "report"

    assert run_once("crm.xlsx", ["report", "check"], run=run, sleep=slept.append) == "report"
    assert calls == [["check", "report"]] * 3 and slept == [60, 120]

    def always_busy(path, jobs, now):
        raise WorkbookBusy("crm.xlsx is open in Excel (Ana)")

    with pytest.raises(WorkbookBusy):
        run_once("crm.xlsx", ["check"], run=always_busy, sleep=slept.append)


@pytest.mark.slow
def test_the_cron_entry_point_runs_a_job_and_lists_it_in_the_runs_sheet(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    path = new_workbook(tmp_path / "crm.xlsx")
    script = Path(__file__).resolve().parent.parent / "jobs" / "run_once.py"
    done = subprocess.run([sys.executable, str(script), str(path), "check"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    row = [c.value for c in openpyxl.load_workbook(path)["Runs"][4]]
    assert row[2:5] == ["check", "schedule", "OK"]


@pytest.mark.slow
def test_a_workbook_made_before_the_schedule_sheet_follows_the_template_defaults(tmp_path):
    from crm_sheets.scheduling import load_schedule

    path = new_workbook(tmp_path / "crm.xlsx")
    wb = openpyxl.load_workbook(path)
    del wb["Schedule"]
    wb.save(path)
    assert [(s.job, s.every_minutes, s.at, s.days) for s in load_schedule(path)] == [
        ("check", 60, None, "every_day"), ("automate", 15, None, "every_day"),
        ("report", None, "07:00", "every_day"), ("automate", None, "08:30", "weekdays")]
