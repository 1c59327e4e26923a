"""One scheduled run, then exit: the entry point cron, systemd timers, Windows Task Scheduler and launchd call.

    python jobs/run_once.py crm.xlsx                 # every job, as `crm-sheets run`
    python jobs/run_once.py crm.xlsx check automate  # only these jobs, in job order

The run is listed in the Runs sheet (trigger: schedule). A busy workbook is tried again after 1, 2
and 5 minutes. Exit codes as `crm-sheets run`: 0 fine, 1 errors found, 2 unreadable, 3 still busy.
"""
import logging
import sys

from crm_sheets.errors import CrmSheetsError
from crm_sheets.scheduling import run_once


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        report = run_once(argv[0], argv[1:] or None)
    except CrmSheetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
