"""Scheduled entry point: `python jobs/scheduled.py crm.xlsx --every 30m` (or --daily 07:30).

For cron or a Windows scheduled task, run `crm-sheets run crm.xlsx` instead: one run, then exit.
"""
from crm_sheets.cli import cli

if __name__ == "__main__":
    import sys

    cli(["schedule", *sys.argv[1:]])
