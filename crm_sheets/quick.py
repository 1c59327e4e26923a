"""The command line's entry point: `crm-sheets run PATH` answered from the record of an earlier run (settled.py)
before the command line itself (click, rich: a third of such a run's time) is loaded; everything else, and any
run the record does not answer, goes to cli.py as it always did.

Only argument lists it reads exactly as cli.py's `run` would are answered here (PATH, --json, --now, --job,
--fix/--no-fix); anything else (--dry-run, --help, an unknown option) goes to cli.py untouched.
"""
from __future__ import annotations

import sys
from typing import Any

# The arguments this process asked the record with and got no answer (cli.run_cmd then does not ask again).
asked: tuple | None = None


def main() -> None:
    global asked
    parsed = _parse(sys.argv[1:])
    if parsed is not None:
        try:
            report = _ask(*parsed)
        except Exception as exc:  # noqa: BLE001  the full command line asks again and reports it as it always did
            from crm_sheets.errors import CrmSheetsError

            if isinstance(exc, CrmSheetsError):  # as CrmGroup.invoke reports it (a busy workbook waited once)
                from crm_sheets.cli_output import err_console, escape
                from crm_sheets.model.redact import redact

                err_console.print(f"[bold red]error:[/] {escape(redact(exc))}", soft_wrap=True)
                sys.exit(exc.exit_code)
        else:
            if report is not None:
                _print(report, parsed[3])  # exits
            asked = _key(*parsed)
    from crm_sheets.cli import cli

    try:
        cli()
    except SystemExit as done:
        _leave(done.code)
        raise
    finally:
        asked = None


def _leave(code: Any) -> None:
    """End the process with ``code`` as exiting would, without taking its heap apart object by object: a run's
    tables are millions of objects (at 30k leads that took 0.2 s of CPU after the command was done). The exit
    handlers run and the standard streams are flushed first; files are closed where they are written (the
    spill's temporary files have no name). Returns (and the interpreter exits as usual) when another thread
    still runs, the code is not a number, or a stream cannot be flushed (a closed pipe: the usual exit says so)."""
    import threading

    if not (code is None or isinstance(code, int)) or threading.active_count() > 1:
        return
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return  # a profiler or a coverage tool writes its report after the command returns: let it
    import atexit
    import os

    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(code or 0)


def _key(path: str, jobs: list[str], fix: bool, as_json: bool, now: Any) -> tuple:
    from pathlib import Path

    return (str(Path(path)), tuple(jobs), fix, now)  # as cli.run_cmd sees them


def _parse(args: list[str]) -> tuple | None:
    """(path, jobs, fix, as_json, now) of `run PATH ...` when every argument is one this reads as click does, else
    None."""
    if len(args) < 2 or args[0] != "run":
        return None
    path = None
    jobs: list[str] = []
    fix, as_json, now = True, False, None
    rest = iter(args[1:])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif arg in ("--fix", "--no-fix"):
            fix = arg == "--fix"
        elif name in ("--job", "--now"):
            if not eq:
                value = next(rest, None)
                if value is None:
                    return None
            if name == "--job":
                jobs.append(value)
            elif value:
                from datetime import datetime

                try:
                    now = datetime.fromisoformat(value)
                except ValueError:
                    return None  # click's own message
        elif arg.startswith("-") or path is not None:
            return None
        else:
            path = arg
    if path is None or not path:
        return None
    return path, jobs, fix, as_json, now


def _ask(path: str, jobs: list[str], fix: bool, as_json: bool, now: Any) -> Any:
    """The answer from the record as cli.run_cmd asks for it, or None."""
    from datetime import datetime
    from pathlib import Path

    from crm_sheets.settled import answer, run_options

    at = now or datetime.now().replace(microsecond=0)
    return answer(Path(path), jobs or None, run_options(fix), at, trigger="cli", shown=str(Path(path)))


def _print(report: Any, as_json: bool) -> None:
    """Print the answer and exit as cli.run_cmd does (a closed pipe ends the command as click ends it)."""
    try:
        if as_json and sys.platform != "win32" and _write_json(report):
            sys.exit(1 if report.error_count else 0)  # cli_output's EXIT_FINDINGS, EXIT_OK
    except BrokenPipeError:
        sys.stdout = sys.stderr = None  # nothing more can be written (as click.core.main does on EPIPE)
        sys.exit(1)
    from crm_sheets.cli_output import finish_settled

    finish_settled(report, as_json)


def _write_json(report: Any) -> bool:
    """cli_output.finish_settled's --json, bytes as they are in the record (not decoded, scanned for ANSI codes
    and encoded again as click.echo does with text: both are ASCII, json.dumps' default). False: not written."""
    import json

    from crm_sheets.settled import load

    rec = load(report.record_file, with_results=True)
    results = rec.results_json if rec is not None else b'"results": []'
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is None or not results.isascii() or b"\x1b" in results:
        return False
    head = json.dumps(report.as_dict(results=False), indent=2, default=str)
    out.flush()
    buffer.write((head[:-2] + ",\n  ").encode())
    buffer.write(results)
    buffer.write(b"\n}\n")
    buffer.flush()
    return True
