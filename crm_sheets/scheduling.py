"""Running jobs on a schedule a person can read: the workbook's Schedule sheet (or --every/--daily).

One scheduler runs one workbook, one run at a time: the jobs due at the same moment share one run
(one read, one write, in job order). A busy workbook (open in Excel, another run holding the store's
lock) is retried with a growing delay, and slots that came due meanwhile are caught up in one run.
Every run, failed or not, is listed in the Runs sheet (trigger: schedule).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import schedule

from crm_sheets.errors import CrmSheetsError, UsageError, WorkbookBusy

log = logging.getLogger("crm_sheets.schedule")
JOBS = ("run", "check", "dedupe", "automate", "report")  # "run" is every job, as `crm-sheets run`
DAYS = ("every_day", "weekdays", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BACKOFF = (60, 120, 300, 600, 900)  # seconds before the 1st, 2nd, ... retry of a busy workbook
_EVERY = re.compile(r"^(\d+)\s*(m|min|minutes?|h|hours?)$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(:[0-5]\d)?$")


class ScheduleError(UsageError):
    """A row of the Schedule sheet (or a --every/--daily option) cannot be understood."""


@dataclass(frozen=True)
class Slot:
    """One row of the Schedule: run ``job`` every N minutes, or at HH:MM on some days."""

    job: str
    every_minutes: int | None = None
    at: str | None = None  # "HH:MM"
    days: str = "every_day"
    name: str = ""

    def jobs(self) -> list[str]:
        from crm_sheets.runner import available_jobs

        return available_jobs() if self.job == "run" else [self.job]

    def describe(self) -> str:
        when = f"every {self.every_minutes} min" if self.every_minutes else f"{self.days.replace('_', ' ')} at {self.at}"
        return f"{self.name or self.job}: {self.job} {when}"


# ---------------------------------------------------------------------------------------------
# Reading slots


def slots_from_options(every: str | None, daily: list[str] | None) -> list[Slot]:
    """--every 15m / --every 2h and --daily HH:MM (repeatable): every job at each slot."""
    slots = []
    if every:
        m = _EVERY.match(every.strip().lower())
        if not m:
            raise ScheduleError(f"--every {every!r} is not a duration", hint="write it like 15m or 2h")
        n = int(m.group(1)) * (60 if m.group(2).startswith("h") else 1)
        if n < 1:
            raise ScheduleError("--every must be at least 1 minute")
        slots.append(Slot("run", every_minutes=n, name=f"--every {every}"))
    for at in daily or []:
        if not _TIME.match(at.strip()):
            raise ScheduleError(f"--daily {at!r} is not a time", hint="write it as HH:MM, e.g. 07:30")
        slots.append(Slot("run", at=_hhmm(at), name=f"--daily {at}"))
    return slots


def schedule_from_tables(tables: Any) -> list[Slot]:
    """The active rows of the workbook's Schedule table; the template's rows when the workbook has none."""
    from crm_sheets.model.schema import load_schema

    table = tables.get("schedule")
    if table is None:
        try:
            template = load_schema(tables.schema.name).tables.get("schedule")
        except CrmSheetsError:
            template = None
        if template is None:
            raise ScheduleError("this workbook has no Schedule sheet",
                                hint="run `crm-sheets upgrade` to add it, or give --every 30m / --daily 07:30")
        return _template_slots(template, tables.schema)
    lang = tables.lang or "en"
    sheet = table.schema.sheet_name(lang)
    slots = []
    for rid, row in table.df.iterrows():
        where = f"{sheet} row {str(rid).removeprefix('row')}"

        def bad(field_name: str, value: Any, what: str) -> ScheduleError:
            header = table.schema.field(field_name).header(lang)
            return ScheduleError(f"{where}, column {header}: {value!r} {what}")

        for (inv_id, field_name), raw in table.invalid.items():
            if inv_id == rid and field_name in ("job", "every_minutes", "at", "days", "active"):
                raise bad(field_name, raw, "cannot be read; fix the cell or untick Active")
        if not _present(row.get("active")) or not bool(row.get("active")):
            continue
        slots.append(_slot(row.to_dict(), bad))
    return slots


def load_schedule(path: str | Path) -> list[Slot]:
    from crm_sheets.store import open_store

    return schedule_from_tables(open_store(path).read())


def _template_slots(template: Any, schema: Any) -> list[Slot]:
    """The rows the template ships (for a workbook made before the Schedule sheet existed)."""
    from crm_sheets.model.schema import localize, normalize_header

    lookups = {f.name: schema.lists[f.list].lookup() for f in template.fields if f.list and f.list in schema.lists}
    out = []
    for row in template.rows:
        values = {k: localize(v, "en") for k, v in row.items()}
        for k, lookup in lookups.items():
            if isinstance(values.get(k), str):
                values[k] = lookup.get(normalize_header(values[k]), values[k])
        if values.get("active", True):
            out.append(_slot(values, lambda f, v, what: ScheduleError(f"template Schedule, {f}: {v!r} {what}")))
    return out


def _slot(values: dict[str, Any], bad: Callable[[str, Any, str], ScheduleError]) -> Slot:
    job = str(values.get("job") or "").strip()
    if job not in JOBS:
        raise bad("job", job, f"is not a job; choose one of {', '.join(JOBS)}")
    every = values.get("every_minutes")
    at = values.get("at")
    days = str(values.get("days") or "every_day").strip() if _present(values.get("days")) else "every_day"
    has_every, has_at = _present(every), _present(at) and str(at).strip() != ""
    if has_every == has_at:
        raise bad("every_minutes", every if has_every else None,
                  "and At: fill exactly one of them (every N minutes, or a time of day such as 07:30)")
    if has_every:
        try:
            minutes = int(every)
        except (TypeError, ValueError):
            raise bad("every_minutes", every, "is not a whole number of minutes") from None
        if minutes < 1:
            raise bad("every_minutes", every, "must be at least 1")
        return Slot(job, every_minutes=minutes, name=str(values.get("name") or ""))
    hhmm = _time_text(at)
    if hhmm is None:
        raise bad("at", at, "is not a time of day; write it as HH:MM, e.g. 07:30")
    if days not in DAYS:
        raise bad("days", days, f"is not a day; choose one of {', '.join(DAYS)}")
    return Slot(job, at=hhmm, days=days, name=str(values.get("name") or ""))


def _present(value: Any) -> bool:
    import pandas as pd

    try:
        return value is not None and not bool(pd.isna(value))
    except (TypeError, ValueError):
        return True


def _time_text(value: Any) -> str | None:
    """HH:MM from what a spreadsheet gives for a time: text, a time, a date-time or a fraction of a day."""
    if isinstance(value, dt.datetime):
        return f"{value.hour:02d}:{value.minute:02d}"
    if isinstance(value, dt.time):
        return f"{value.hour:02d}:{value.minute:02d}"
    if isinstance(value, (int, float)) and 0 <= value < 1:
        minutes = round(value * 24 * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    text = str(value).strip()
    return _hhmm(text) if _TIME.match(text) else None


def _hhmm(text: str) -> str:
    h, m = text.strip().split(":")[:2]
    return f"{int(h):02d}:{int(m):02d}"


# ---------------------------------------------------------------------------------------------
# The scheduler

RunFunction = Callable[[str, list[str], dt.datetime], Any]


def _default_run(path: str, jobs: list[str], now: dt.datetime) -> Any:
    from crm_sheets.runlog import run_logged

    return run_logged(path, jobs, trigger="schedule", now=now)


class Scheduler:
    """Runs the slots of one workbook. ``tick()`` does what is due now; ``serve_forever()`` ticks until Ctrl-C."""

    def __init__(self, path: str | Path, slots: list[Slot], *, run: RunFunction | None = None,
                 now: Callable[[], dt.datetime] | None = None, backoff: tuple[int, ...] = BACKOFF,
                 follow_sheet: bool = False):
        if not slots:
            raise ScheduleError("nothing to schedule: no active row in the Schedule sheet",
                                hint="tick Active on a row, or give --every 30m / --daily 07:30")
        self.path = str(path)
        self._run = run or _default_run
        self._now = now or (lambda: dt.datetime.now().replace(microsecond=0))
        self.backoff = backoff
        self.follow_sheet = follow_sheet  # re-read the Schedule sheet from each run's tables
        self.due: set[str] = set()
        self.retry_at: dt.datetime | None = None
        self.attempts = 0
        self.history: list[tuple[dt.datetime, list[str], str]] = []  # (start, jobs, outcome) of each run
        self._install(slots)

    def _install(self, slots: list[Slot]) -> None:
        self.slots = list(slots)
        self.schedule = schedule.Scheduler()
        for slot in self.slots:
            mark = _Marker(self.due, slot.jobs())
            if slot.every_minutes:
                self.schedule.every(slot.every_minutes).minutes.do(mark)
            elif slot.days == "every_day":
                self.schedule.every().day.at(slot.at).do(mark)
            else:
                for day in (("monday", "tuesday", "wednesday", "thursday", "friday") if slot.days == "weekdays" else (slot.days,)):
                    getattr(self.schedule.every(), day).at(slot.at).do(mark)

    def start(self) -> None:
        """What runs at once when the schedule starts: the every-N-minutes rows (the others wait for their time)."""
        for slot in self.slots:
            if slot.every_minutes:
                self.due.update(slot.jobs())

    def tick(self) -> str | None:
        """Run what is due (one run for all of it). Returns "ok", "busy", "failed" or None when nothing ran."""
        from crm_sheets.runner import JOB_ORDER

        self.schedule.run_pending()
        now = self._now()
        if not self.due or (self.retry_at is not None and now < self.retry_at):
            return None
        jobs = [j for j in JOB_ORDER if j in self.due]
        try:
            report = self._run(self.path, jobs, now)
        except WorkbookBusy as exc:
            delay = self.backoff[min(self.attempts, len(self.backoff) - 1)]
            self.attempts += 1
            self.retry_at = now + dt.timedelta(seconds=delay)
            log.warning("%s; trying %s again at %s", exc, ", ".join(jobs), self.retry_at.strftime("%H:%M:%S"))
            self.history.append((now, jobs, "busy"))
            return "busy"
        except CrmSheetsError as exc:
            log.error("%s: %s", ", ".join(jobs), exc)
            outcome = "failed"
        else:
            outcome = "ok"
            summary = getattr(getattr(report, "changes", None), "summary", None)
            log.info("ran %s on %s%s", ", ".join(jobs), Path(self.path).name, f": {summary()}" if summary else "")
            self._follow(report)
        self.due.clear()
        self.retry_at, self.attempts = None, 0
        self.history.append((now, jobs, outcome))
        return outcome

    def _follow(self, report: Any) -> None:
        """A person edited the Schedule sheet: the slots read in this run's tables replace the old ones."""
        tables = getattr(report, "tables", None)
        if not self.follow_sheet or tables is None or tables.get("schedule") is None:
            return
        try:
            slots = schedule_from_tables(tables)
        except ScheduleError as exc:
            log.error("%s; keeping the schedule as it was", exc)
            return
        if slots and slots != self.slots:
            log.info("the Schedule sheet changed: %s", "; ".join(s.describe() for s in slots))
            self._install(slots)

    def seconds_to_next(self) -> float:
        waits = [self.schedule.idle_seconds or 0.0]
        if self.due and self.retry_at is not None:
            waits.append((self.retry_at - self._now()).total_seconds())
        return max(0.0, min(waits))

    def serve_forever(self, *, sleep: Callable[[float], None] = time.sleep, poll_seconds: float = 30.0) -> None:
        self.start()
        while True:
            self.tick()
            sleep(min(poll_seconds, max(1.0, self.seconds_to_next())))


class _Marker:
    """A schedule job: marks its jobs as due (the scheduler runs everything due in one run)."""

    def __init__(self, due: set[str], jobs: list[str]):
        self.due, self.jobs = due, jobs
        self.__name__ = "+".join(jobs)  # schedule's repr of a job wants a name

    def __call__(self) -> None:
        self.due.update(self.jobs)


def make_scheduler(path: str | Path, *, every: str | None = None, daily: list[str] | None = None,
                   run: RunFunction | None = None, now: Callable[[], dt.datetime] | None = None) -> Scheduler:
    """The scheduler of ``path``: --every/--daily when given, else the workbook's Schedule sheet (followed
    as people edit it)."""
    if every or daily:
        return Scheduler(path, slots_from_options(every, daily), run=run, now=now)
    return Scheduler(path, load_schedule(path), run=run, now=now, follow_sheet=True)


def run_once(path: str | Path, jobs: list[str] | None = None, *, retries: tuple[int, ...] = BACKOFF[:3],
             run: RunFunction | None = None, sleep: Callable[[float], None] = time.sleep,
             now: Callable[[], dt.datetime] | None = None) -> Any:
    """One scheduled run for cron, systemd timers, Task Scheduler or launchd: a busy workbook is tried again
    after each delay of ``retries``; WorkbookBusy goes to the caller when it is still busy after them."""
    from crm_sheets.runner import JOB_ORDER, available_jobs

    jobs = [j for j in JOB_ORDER if j in jobs] if jobs and "run" not in jobs else available_jobs()
    runner = run or _default_run
    clock = now or (lambda: dt.datetime.now().replace(microsecond=0))
    for attempt, delay in enumerate((*retries, None)):
        try:
            return runner(str(path), jobs, clock())
        except WorkbookBusy as exc:
            if delay is None:
                raise
            log.warning("%s; trying again in %d s", exc, delay)
            sleep(delay)
