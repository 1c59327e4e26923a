"""The schedule: slots are parsed as people write them, and a busy workbook does not stop the schedule."""
import pytest

from crm_sheets.errors import UsageError, WorkbookBusy
from crm_sheets.scheduling import make_scheduler


def test_every_and_daily_slots_become_schedule_jobs():
    scheduler = make_scheduler("crm.xlsx", every="15m", daily=["07:30", "18:00"], run=lambda p: None)
    slots = sorted((j.interval, j.unit, str(j.at_time)) for j in scheduler.jobs)
    assert slots == [(1, "days", "07:30:00"), (1, "days", "18:00:00"), (15, "minutes", "None")]


@pytest.mark.parametrize("every,daily,expected", [
    (None, [], "say when to run"),
    ("15 parsecs", [], "not a duration"),
    ("0m", [], "at least 1 minute"),
    (None, ["7h30"], "not a time"),
])
def test_bad_slots_get_a_message_saying_how_to_write_them(every, daily, expected):
    with pytest.raises(UsageError) as err:
        make_scheduler("crm.xlsx", every=every, daily=daily, run=lambda p: None)
    assert expected in str(err.value)


def test_a_busy_workbook_is_retried_at_the_next_slot_not_fatal(caplog):
    calls = []

    def run(path):
        calls.append(path)
        if len(calls) == 1:
            raise WorkbookBusy(f"{path} is open in Excel (Ana)")

    scheduler = make_scheduler("crm.xlsx", every="1m", run=run)
    scheduler.run_all()
    scheduler.run_all()
    assert calls == ["crm.xlsx", "crm.xlsx"]
    assert "open in Excel" in caplog.text
