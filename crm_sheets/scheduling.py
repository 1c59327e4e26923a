"""Running the main job on a schedule (the `schedule` package): every N minutes or daily at set times.

A failed run is logged and retried at the next slot; a busy workbook (open in Excel) is not an
error here: its changes stay pending and land on the next run.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Callable

import schedule

from crm_sheets.errors import CrmSheetsError, UsageError, WorkbookBusy

log = logging.getLogger("crm_sheets.schedule")
_EVERY = re.compile(r"^(\d+)\s*(m|min|minutes?|h|hours?)$")
_DAILY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def make_scheduler(path: str | Path, *, every: str | None = None, daily: list[str] | None = None,
                   run: Callable[[str], object] | None = None) -> schedule.Scheduler:
    """A Scheduler that runs every job on ``path`` every N minutes/hours and/or daily at HH:MM."""
    if not every and not daily:
        raise UsageError("say when to run", hint="use --every 30m, --every 2h or --daily 07:30 (repeatable)")
    runner = run or _default_run
    scheduler = schedule.Scheduler()

    def job() -> None:
        try:
            runner(str(path))
        except WorkbookBusy as exc:
            log.warning("%s; will try again at the next slot", exc)
        except CrmSheetsError as exc:
            log.error("%s", exc)

    if every:
        m = _EVERY.match(every.strip().lower())
        if not m:
            raise UsageError(f"--every {every!r} is not a duration", hint="write it like 15m or 2h")
        n, unit = int(m.group(1)), m.group(2)
        if n < 1:
            raise UsageError("--every must be at least 1 minute")
        (scheduler.every(n).hours if unit.startswith("h") else scheduler.every(n).minutes).do(job)
    for at in daily or []:
        if not _DAILY.match(at):
            raise UsageError(f"--daily {at!r} is not a time", hint="write it as HH:MM, e.g. 07:30")
        scheduler.every().day.at(at).do(job)
    return scheduler


def _default_run(path: str) -> object:
    from crm_sheets.api import run

    report = run(path)
    log.info("ran %s on %s: %s", ", ".join(report.jobs), path, report.changes.summary())
    return report


def serve(scheduler: schedule.Scheduler, *, run_now: bool = True, poll_seconds: float = 20.0) -> None:
    """Run forever (until Ctrl-C): once now, then at every slot."""
    if run_now:
        scheduler.run_all()
    while True:
        scheduler.run_pending()
        time.sleep(poll_seconds)
