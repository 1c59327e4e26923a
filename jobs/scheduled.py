"""The long-running schedule: `python jobs/scheduled.py crm.xlsx` runs the jobs as the workbook's Schedule
sheet says (or `--every 30m` / `--daily 07:30`), until stopped. The same as `crm-sheets schedule`.

Run it as a systemd service, a launchd agent with KeepAlive, or a Task Scheduler task started at log on
(recipes in jobs/README.md). For one run per trigger of cron or a timer, use jobs/run_once.py.
"""
from crm_sheets.cli import cli

if __name__ == "__main__":
    import sys

    cli(["schedule", *sys.argv[1:]])
