"""The library's face: one function per command, on a workbook path. Each reads the workbook, runs its
job(s), writes once and returns the result that the command's `--json` prints. The CLI, the schedule
and the demo call these, so what a command does (which jobs, with fixes or not) is decided here once.

A keyword argument has the name of the flag that feeds it: `--sample-data N` is `sample_data=N`,
`--dry-run` is `dry_run=True`, `--now ISO` is `now=datetime(...)`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from crm_sheets.model.tables import Tables
from crm_sheets.runner import RunReport
from crm_sheets.runner import run as _run_jobs
from crm_sheets.settled import run_options
from crm_sheets.workbook import demo, new_workbook

__all__ = ["automate", "check", "dedupe", "demo", "new_workbook", "open_workbook", "report", "run", "unmerge",
           "ReportRun", "RunReport"]

Step = Callable[[str], None]


def open_workbook(path: str | Path) -> Tables:
    """Read the workbook: one typed pandas DataFrame per table (``tables["leads"].df``, indexed by record
    ID), its settings and lists. A snapshot to look at; change the workbook through the jobs."""
    from crm_sheets.store import open_store

    return open_store(path).read()


def run(path: str | Path, jobs: list[str] | None = None, *, fix: bool = True, dry_run: bool = False,
        now: datetime | None = None, on_step: Step | None = None, trigger: str = "cli") -> RunReport:
    """The main job (`crm-sheets run`, the schedule, the buttons, the menu, the demo): check with its safe
    fixes, dedupe, automate and report (or only ``jobs``, in that order) over one read and one write.
    ``dry_run`` computes everything and writes, queues and saves nothing; ``trigger`` (cli, schedule,
    button, menu) is what the Runs sheet says asked for the run."""
    return _run_jobs(path, jobs, now=now, dry_run=dry_run, options=run_options(fix), on_step=on_step,
                     trigger=trigger)


def check(path: str | Path, *, fix: bool = False, dry_run: bool = False, now: datetime | None = None,
          on_step: Step | None = None) -> RunReport:
    """Validate every record and list the problems in the Data Issues sheet; ``fix`` also applies the safe fixes."""
    return _run_jobs(path, ["check"], now=now, dry_run=dry_run, options={"check": {"fix": fix, "reformat": fix}},
                     on_step=on_step)


def dedupe(path: str | Path, *, dry_run: bool = False, now: datetime | None = None, on_step: Step | None = None) -> RunReport:
    """Find and merge duplicate leads, contacts and accounts (reversibly); ask about the unsure pairs."""
    return _run_jobs(path, ["dedupe"], now=now, dry_run=dry_run, on_step=on_step)


def automate(path: str | Path, *, dry_run: bool = False, now: datetime | None = None, on_step: Step | None = None) -> RunReport:
    """Run the rule sheets (scoring, assignment, automations, sequences, digests) and deliver through the outbox."""
    return _run_jobs(path, ["automate"], now=now, dry_run=dry_run, on_step=on_step)


def unmerge(path: str | Path, record_id: str, *, now: datetime | None = None, on_step: Step | None = None) -> RunReport:
    """Restore the merged record ``record_id`` and its references; the pair is remembered as not a duplicate."""
    return _run_jobs(path, ["unmerge"], now=now, options={"unmerge": {"record_id": record_id}}, on_step=on_step)


@dataclass
class ReportRun(RunReport):
    """A report run: what every run returns, plus the figures the sheets show and the PDF printed."""

    figures: dict[str, Any] | None = None
    pdf: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "pdf": self.pdf, "figures": self.figures}


def report(path: str | Path, *, pdf: str | Path | None = None, now: datetime | None = None,
           on_step: Step | None = None) -> ReportRun:
    """Regenerate the dashboard, the report sheets, the board and the calendar; ``pdf`` also prints the
    dashboard and the reports to that PDF through LibreOffice."""
    now = now or datetime.now().replace(microsecond=0)  # one clock for the sheets and the figures returned
    done = _run_jobs(path, ["report"], now=now, on_step=on_step, settled_answer=False)  # its figures and tables
    result = ReportRun(**{f.name: getattr(done, f.name) for f in fields(RunReport) if f.init})
    job = next(r for r in done.results if r.job == "report")
    result.figures = job.data.as_dict() if job.data is not None else None
    if pdf:
        from crm_sheets.export.pdf import export_pdf

        if on_step:
            on_step(f"Printing the reports to {Path(pdf).name} with LibreOffice")
        from crm_sheets.export.pdf import report_sheets

        # a report whose sheets already show what it computed lays out none: print them as they are
        export_pdf(path, pdf, [s.name for s in job.changes.sheets] or report_sheets(done.tables))
        result.pdf = str(pdf)
    return result
