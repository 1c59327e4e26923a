"""The scheduler recipes in jobs/ are well-formed and call entry points that exist."""
import plistlib
import re
from pathlib import Path

JOBS = Path(__file__).resolve().parent.parent / "jobs"


def test_the_launchd_agent_is_a_valid_plist_that_keeps_the_schedule_running():
    agent = plistlib.loads((JOBS / "launchd" / "org.crm-sheets.schedule.plist").read_bytes())
    assert agent["ProgramArguments"][1:] == ["schedule", "crm.xlsx"] and agent["KeepAlive"] is True


def test_every_cron_line_runs_the_one_run_entry_point_with_a_real_job():
    lines = [line for line in (JOBS / "cron" / "crontab.example").read_text().splitlines()
             if line.strip() and not line.startswith(("#", "CRM=", "PY="))]
    assert len(lines) == 4
    for line in lines:
        fields = line.split()
        assert len(fields[:5]) == 5 and "jobs/run_once.py" in line
        assert re.search(r"run_once\.py crm\.xlsx (check|dedupe|automate|report)\b", line)
    assert (JOBS / "run_once.py").exists() and (JOBS / "scheduled.py").exists()


def test_the_systemd_units_start_the_schedule_and_a_timed_run():
    service = (JOBS / "systemd" / "crm-sheets-schedule.service").read_text()
    assert re.search(r"(?m)^ExecStart=.*crm-sheets schedule crm\.xlsx$", service)
    timer = (JOBS / "systemd" / "crm-sheets-check.timer").read_text()
    assert "OnCalendar=hourly" in timer and "Persistent=true" in timer
    once = (JOBS / "systemd" / "crm-sheets-check.service").read_text()
    assert re.search(r"(?m)^ExecStart=.*jobs/run_once\.py crm\.xlsx check$", once)


def test_the_windows_task_script_calls_the_one_run_entry_point():
    cmd = (JOBS / "windows" / "run_once.cmd").read_text()
    assert r"jobs\run_once.py crm.xlsx %*" in cmd
