"""What a workbook button runs: `crm_sheets.excel.refresh(job)`, called by the CrmSheets VBA module through
xlwings' RunPython (see builder/vba.py). It finds the workbook that called it, runs the jobs (trigger
"button", listed in the Runs sheet) and tells the person how it went.

When Excel called (``xw.Book.caller()``), the jobs read and write the open workbook through the live store
(excel://, crm_sheets.store.excel), never the file underneath, and the result shows in a message box and on
the Start sheet. Without a live Excel (the command line, Linux), the jobs run on the workbook's file.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from crm_sheets.errors import CrmSheetsError, UsageError, WorkbookBusy

JOBS = ("run", "check", "dedupe", "automate", "report")


def refresh(job: str = "run", *, vba: str | None = None, book: Any = None) -> Any:
    """Run ``job`` ("run": every job) on the calling workbook. ``vba`` is the xlwings version the
    buttons were made with. A failure is one line on stderr and exit code, which xlwings shows in Excel
    (and, with a live book, a message box and the Start sheet say it too)."""
    try:
        return _refresh(job, vba, book)
    except CrmSheetsError as exc:
        print(f"crm-sheets: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None


def _refresh(job: str, vba: str | None, book: Any) -> Any:
    from crm_sheets.runlog import run_logged

    if job not in JOBS:
        raise UsageError(f"the button asks for job {job!r}", hint=f"jobs are {', '.join(JOBS)}")
    if book is None:
        check_xlwings(vba)
        book = caller_book()
    elif vba:
        check_xlwings(vba)
    jobs = None if job == "run" else [job]
    if book is None:  # no live Excel: the workbook's file
        path = workbook_from_argv()
        try:
            report = run_logged(path, jobs, trigger="button")  # the library's run: check with its safe fixes
        except WorkbookBusy as exc:
            raise WorkbookBusy(f"{exc}", hint="the changes are kept and written by the next run once the workbook "
                                               "is closed (crm-sheets run), or by the schedule") from None
        tell(None, summary_text(report))
        return report
    return _refresh_live(book, jobs)


def _refresh_live(book: Any, jobs: list[str] | None) -> Any:
    """The jobs on the open book (the live store: open_store of its path is the book while attached); the run's
    state files (outbox, Runs history) stay beside the workbook's file as for a file run."""
    from datetime import datetime

    from crm_sheets.runlog import run_logged
    from crm_sheets.store.excel import attached
    from crm_sheets.store.excel.status import show_status

    started = datetime.now().replace(microsecond=0)
    try:
        with attached(book):
            report = run_logged(Path(str(book.fullname)), jobs, trigger="button", now=started)
    except CrmSheetsError as exc:
        _quietly(show_status, book, [("", started), ("Result", "failed"), ("Jobs", ", ".join(jobs or ["all"])),
                                     ("Changes", ""), ("First error", exc.message)])
        tell(book, f"crm-sheets could not run: {exc}")
        raise
    s = report.changes.summary()
    first = report.errors[0].message if report.errors else ""
    meta = dict(getattr(report.tables, "meta", None) or {}) if report.tables is not None else {}
    _quietly(show_status, book, [
        ("", started),
        ("Result", f"{len(report.errors)} errors, {sum(f.severity == 'warning' for f in report.findings)} warnings"),
        ("Jobs", ", ".join(report.jobs)),
        ("Changes", f"{s['updated_cells']} cells, {s['appended_rows']} rows added, {s['archived_rows']} merged"),
        ("First error", first),
    ], meta)
    tell(book, summary_text(report, live=True))
    return report


def _quietly(fn: Any, *args: Any) -> None:
    """The Start sheet's status is a courtesy: a book that refuses it (protected sheet) still gets the message box."""
    try:
        fn(*args)
    except Exception:
        pass


def check_xlwings(vba: str | None) -> None:
    """The VBA of the buttons and this Python's xlwings must be the same version."""
    try:
        import xlwings
    except ImportError:
        raise UsageError("this Python has no xlwings", hint="pip install 'crm-sheets[excel]'") from None
    if vba and vba != xlwings.__version__:
        raise UsageError(f"the buttons were made with xlwings {vba} but this Python has xlwings {xlwings.__version__}",
                         hint="run `crm-sheets add-buttons` on this workbook again (or pip install xlwings==" + vba + ")")


def caller_book() -> Any:
    """The workbook whose button was pressed, or None when no Excel is attached (as on Linux)."""
    import xlwings as xw

    try:
        return xw.Book.caller()
    except Exception:  # no Excel, no engine, no caller: every engine fails its own way
        return None


def workbook_from_argv(argv: list[str] | None = None, path: list[str] | None = None) -> Path:
    """The workbook RunPython names with --wb=NAME, found in the folders its command puts first on
    sys.path (the workbook's own folder): how the button finds its file without a live Excel."""
    argv = sys.argv if argv is None else argv
    name = next((a.split("=", 1)[1].strip('"') for a in argv if a.startswith("--wb=")), None)
    if not name:
        raise UsageError("no workbook called this (no --wb= argument)",
                         hint="press a button in the workbook, or run crm-sheets run PATH")
    if Path(name).is_absolute() and Path(name).exists():
        return Path(name)
    for folder in sys.path if path is None else path:
        candidate = Path(folder or ".") / name
        if candidate.is_file():
            return candidate
    raise UsageError(f"cannot find {name} in the workbook's folder",
                     hint="set ADD_WORKBOOK_TO_PYTHONPATH to true in the xlwings.conf sheet")


def summary_text(report: Any, live: bool = False, *, saved: str = "") -> str:
    """What a button tells the person; ``saved`` replaces the last line (how to see the changes)."""
    errors, warnings = len(report.errors), sum(f.severity == "warning" for f in report.findings)
    s = report.changes.summary()
    lines = [f"crm-sheets ran {', '.join(report.jobs)}: {errors} errors, {warnings} warnings.",
             f"{s['updated_cells']} cells changed, {s['appended_rows']} rows added, {s['archived_rows']} merged."]
    lines += [f"- {f.message}" for f in report.errors[:5]]
    if saved:
        lines.append(saved)
    elif live:
        lines.append("Written into this workbook; save it to keep them." if report.written else "Nothing needed changing.")
    else:
        lines.append("Saved; reopen the workbook to see the changes." if report.written else "Nothing needed changing.")
    return "\n".join(lines)


def tell(book: Any, text: str) -> None:
    """A message box in Excel when a workbook is attached; the console otherwise."""
    if book is not None:
        try:
            book.app.alert(text, title="crm-sheets")
            return
        except Exception:  # an engine without alerts: fall through to the console
            pass
    print(text)
