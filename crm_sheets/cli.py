"""The `crm-sheets` command line: options in, one library call, rendering out. No logic lives here.

Exit codes: 0 ok, 1 data problems remain (errors found), 2 usage or unreadable input,
3 the workbook is busy (open in Excel/LibreOffice, another run writing) or changed under us.
"""
from __future__ import annotations

import functools
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import click

from crm_sheets import __version__
from crm_sheets.cli_output import (  # noqa: F401  what a command prints, and how (and the exit codes)
    EXIT_BUSY, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, console, err_console, err_is_terminal, escape as _escape, finish as _finish,
    render as _render, render_adopt as _render_adopt, render_import as _render_import, render_outbox as _render_outbox,
    render_upgrade as _render_upgrade,
)
from crm_sheets.errors import CrmSheetsError


class CrmGroup(click.Group):
    """Turns every CrmSheetsError into one red line and its exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrmSheetsError as exc:
            from crm_sheets.model.redact import redact

            err_console.print(f"[bold red]error:[/] {_escape(redact(exc))}", soft_wrap=True)
            sys.exit(exc.exit_code)


def _parse_now(_ctx, _param, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date/time such as 2026-11-02T09:00") from None


def job_options(fn: Callable) -> Callable:
    """Options shared by every command that runs jobs on a workbook."""

    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for scripts.")
    @click.option("--now", callback=_parse_now, metavar="ISO", help="Run as if it were this date/time (reproducible runs).")
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def _step(message: str) -> None:
    err_console.log(message) if err_is_terminal() else None


@click.group(cls=CrmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crm-sheets")
def cli() -> None:
    """crm-sheets: a spreadsheet-native CRM. Your workbook is the database; these jobs keep it healthy."""


@cli.command()
@click.argument("path")
@click.option("--template", default="sales", show_default=True, help="Workbook template: sales, services or personal.")
@click.option("--lang", default="en", show_default=True, help="Language of sheet names, headers and lists: en or fr.")
@click.option("--sample-data", "sample_data", type=click.IntRange(0, 300_000), default=0, metavar="N", help="Fill the workbook with N sample leads (and matching accounts, deals, activities...).")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed of the sample data.")
@click.option("--force", is_flag=True, help="Replace an existing file (a backup of it is kept beside it).")
def new(path: str, template: str, lang: str, sample_data: int, seed: int, force: bool) -> None:
    """Create a new CRM workbook at PATH from a template (a .xlsm PATH also gets the Refresh/Check/Dedupe buttons;
    gsheets://ID builds it in that existing, empty Google spreadsheet)."""
    from crm_sheets.api import new_workbook

    if path.startswith("gsheets:/"):
        from crm_sheets.store.gsheets.transfer import new_spreadsheet

        with console.status(f"Building {path}"):
            pushed = new_spreadsheet(path, template=template, lang=lang, sample_data=sample_data, seed=seed, force=force)
        console.print(f"Created the CRM in [bold]{path}[/] ({template}, {lang}): {pushed.message}.")
        return
    path = Path(path)
    with console.status(f"Building {path.name}"):
        out = new_workbook(path, template=template, lang=lang, sample_data=sample_data, seed=seed, force=force)
    console.print(f"Created [bold]{out}[/] ({template}, {lang}{f', {sample_data} sample leads' if sample_data else ''}).")


@cli.command("run")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--job", "jobs", multiple=True, help="Run only this job (repeatable). Default: every job, in order.")
@click.option("--fix/--no-fix", "fix", default=True, show_default=True, help="Let check apply its safe fixes.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Compute everything, write nothing.")
@job_options
def run_cmd(path: Path, jobs: tuple[str, ...], fix: bool, dry_run: bool, as_json: bool, now: datetime | None) -> None:
    """Run every job (check, dedupe, automate, report) over one read and one write of PATH."""
    from crm_sheets.settled import answer, run_options

    quick = sys.modules.get("crm_sheets.quick")  # the entry point asked the record already with these arguments
    asked = quick is not None and quick.asked == (str(path), tuple(jobs), fix, now)
    if not dry_run and not asked:  # nothing changed since a run whose result still holds: answered before loading the jobs
        at = now or datetime.now().replace(microsecond=0)
        answered = answer(path, list(jobs) or None, run_options(fix), at, trigger="cli", shown=str(path))
        if answered is not None:
            _finish(answered, as_json)
    from crm_sheets.api import run

    _finish(run(path, list(jobs) or None, fix=fix, dry_run=dry_run, now=now, on_step=_step), as_json)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--fix", is_flag=True, help="Apply safe normalisations (spaces, emails, phones, countries, dropdowns, dates typed as text).")
@click.option("--dry-run", "dry_run", is_flag=True, help="Report only; do not write the Data Issues sheet or fixes.")
@job_options
def check(path: Path, fix: bool, dry_run: bool, as_json: bool, now: datetime | None) -> None:
    """Validate every record of PATH and list the problems in the Data Issues sheet."""
    from crm_sheets.api import check

    _finish(check(path, fix=fix, dry_run=dry_run, now=now, on_step=_step), as_json)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", "dry_run", is_flag=True, help="Show what would be merged; write nothing.")
@job_options
def dedupe(path: Path, dry_run: bool, as_json: bool, now: datetime | None) -> None:
    """Find and merge duplicate leads, contacts and accounts in PATH (reversibly)."""
    from crm_sheets.api import dedupe

    _finish(dedupe(path, dry_run=dry_run, now=now, on_step=_step), as_json)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", "dry_run", is_flag=True, help="Show what the rules would do; write, queue and send nothing.")
@job_options
def automate(path: Path, dry_run: bool, as_json: bool, now: datetime | None) -> None:
    """Run the rule sheets of PATH: scoring, assignment, automations, sequences, digests; send through the outbox."""
    from crm_sheets.api import automate

    _finish(automate(path, dry_run=dry_run, now=now, on_step=_step), as_json)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--status", type=click.Choice(["queued", "sending", "sent", "failed", "unknown", "cancelled"]), help="List only the items in this status.")
@click.option("--confirm", "confirm", metavar="KEY", help="Settle an item left unknown by a broken connection: add --delivered or --resend.")
@click.option("--delivered/--resend", "delivered", default=None, help="With --confirm: it arrived (mark it sent), or it did not (queue it again, same Message-ID).")
@click.option("--retry-failed", "retry_failed", is_flag=True, help="Queue again the failed items that used up their tries or were refused for good.")
@click.option("--cancel", "cancel", metavar="KEY", help="Never send this item.")
@job_options
def outbox(path: Path, status: str | None, confirm: str | None, delivered: bool | None, retry_failed: bool, cancel: str | None,
           as_json: bool, now: datetime | None) -> None:
    """List what automate queued, sent or could not send for PATH; confirm, resend, retry or cancel items."""
    from crm_sheets.outbox import open_outbox

    actions = [a for a in (confirm, retry_failed or None, cancel) if a]
    if len(actions) > 1:
        raise click.UsageError("give one of --confirm KEY, --retry-failed or --cancel KEY at a time")
    if confirm and delivered is None:
        raise click.UsageError(f"say whether {confirm} arrived: --confirm {confirm} --delivered, or --confirm {confirm} --resend")
    if delivered is not None and not confirm:
        raise click.UsageError("--delivered and --resend go with --confirm KEY")
    now = now or datetime.now().replace(microsecond=0)
    box = open_outbox(path)
    if confirm:
        items, done = [box.confirm(confirm, delivered=delivered, now=now)], "marked sent" if delivered else "queued again (same Message-ID)"
    elif retry_failed:
        items, done = box.retry_failed(now=now), "queued again"
    elif cancel:
        items, done = [box.cancel(cancel, now=now)], "cancelled"
    else:
        items, done = box.items(status), None
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in items], indent=2, default=str))
        return
    _render_outbox(path, items, done, box.counts() if done is None and status is None else None)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("record_id")
@job_options
def unmerge(path: Path, record_id: str, as_json: bool, now: datetime | None) -> None:
    """Restore a merged record RECORD_ID and its references in PATH."""
    from crm_sheets.api import unmerge

    _finish(unmerge(path, record_id, now=now, on_step=_step), as_json)


@cli.command("report")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--pdf", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.pdf",
              help="Also print the dashboard and report sheets to this PDF, landscape (needs LibreOffice).")
@job_options
def report_cmd(path: Path, pdf: Path | None, as_json: bool, now: datetime | None) -> None:
    """Regenerate the dashboard, report sheets, board and calendar of PATH; --pdf prints them to one PDF."""
    from crm_sheets.api import report

    _finish(report(path, pdf=pdf, now=now, on_step=_step), as_json,
            note=f"Printed the reports to [bold]{pdf}[/]." if pdf else None)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default=Path("demo"))
@click.option("--sample-data", "sample_data", type=click.IntRange(50, 300_000), default=500, show_default=True, metavar="N", help="Number of sample leads.")
@click.option("--lang", default="en", show_default=True, help="Language of the workbook: en or fr.")
@job_options
def demo(directory: Path, sample_data: int, lang: str, as_json: bool, now: datetime | None) -> None:
    """Create a sample workbook in DIRECTORY and run every job on it."""
    from crm_sheets.api import demo as run_demo

    with console.status("Building the demo workbook"):
        path, report = run_demo(directory, sample_data=sample_data, lang=lang, now=now, on_step=_step)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    _render(report)
    console.print(f"\nOpen [bold]{path}[/] in Excel, LibreOffice or Google Sheets. Start with the Start sheet,")
    console.print("then look at Data Issues (what check found) and the Audit Log (every automated change).")


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--every", metavar="DURATION", help="Instead of the Schedule sheet: run every job every DURATION, e.g. 15m or 2h.")
@click.option("--daily", multiple=True, metavar="HH:MM", help="Instead of the Schedule sheet: run every job every day at HH:MM (repeatable).")
def schedule(path: Path, every: str | None, daily: tuple[str, ...]) -> None:
    """Run the jobs of PATH as its Schedule sheet says (or --every/--daily), until stopped with Ctrl-C."""
    import logging

    from crm_sheets.model.redact import RedactingFilter
    from crm_sheets.scheduling import make_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for handler in logging.getLogger().handlers:  # what a run logs may quote a URL or a server's reply
        handler.addFilter(RedactingFilter())
    scheduler = make_scheduler(path, every=every, daily=list(daily))
    console.print(f"Running crm-sheets on {path}: {'; '.join(s.describe() for s in scheduler.slots)}. Ctrl-C stops.")
    try:
        scheduler.serve_forever()
    except KeyboardInterrupt:
        console.print("Stopped.")


@cli.command()
@click.argument("path")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep 127.0.0.1 behind a reverse proxy or tunnel).")
@click.option("--port", type=int, default=8765, show_default=True, help="Port to listen on.")
@click.option("--forms/--no-forms", default=True, show_default=True, help="Also serve the workbook's web forms at /forms/<name>.")
@click.option("--base-url", default="", help="Public address of this server, for the forms' Origin check behind a proxy.")
@click.option("--allow-origin", "allow_origins", multiple=True, metavar="URL", help="A site allowed to post every form (repeat for more).")
def serve(path: str, host: str, port: int, forms: bool, base_url: str, allow_origins: tuple[str, ...]) -> None:
    """Serve PATH over HTTP: POST /jobs/run for the Google Sheets CRM menu (signed with CRM_SHEETS_SERVE_SECRET)
    and the web forms of the Forms sheet."""
    from crm_sheets.serve import serve as run_server

    run_server(path, host=host, port=port, forms=forms, base_url=base_url, allow_origins=allow_origins)


@cli.command("push")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("spreadsheet")
@click.option("--replace", is_flag=True, help="Replace every sheet of a spreadsheet that already holds values.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for scripts.")
def push_cmd(path: Path, spreadsheet: str, replace: bool, as_json: bool) -> None:
    """Copy the CRM workbook PATH into the Google spreadsheet SPREADSHEET (gsheets://ID, empty unless --replace)."""
    from crm_sheets.store.gsheets.transfer import push_workbook

    with console.status(f"Copying {path.name} to {spreadsheet}"):
        result = push_workbook(path, spreadsheet, replace=replace)
    if as_json:
        click.echo(json.dumps({"spreadsheet": result.spreadsheet_id, "sheets": result.sheets, "cells": result.cells,
                               "calls": result.calls, "skipped": sorted(set(result.skipped)), "kept": result.kept}, indent=2))
        return
    console.print(result.message)


@cli.command("pull")
@click.argument("spreadsheet")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH when it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for scripts.")
def pull_cmd(spreadsheet: str, path: Path, force: bool, as_json: bool) -> None:
    """Copy the Google spreadsheet SPREADSHEET (gsheets://ID) into a new CRM workbook file PATH (.xlsx)."""
    from crm_sheets.store.gsheets.transfer import pull_workbook

    with console.status(f"Copying {spreadsheet} to {path.name}"):
        result = pull_workbook(spreadsheet, path, force=force)
    if as_json:
        click.echo(json.dumps({"path": str(result.path), "sheets": result.sheets, "cells": result.cells,
                               "calls": result.calls,
                               "cut": [{"sheet": c.sheet, "cell": c.cell, "row": c.row, "column": c.cell.rsplit("!", 1)[1].rstrip("0123456789"),
                                        "header": c.header, "length": c.length} for c in result.cut]}, indent=2))
        return
    console.print(result.message)


@cli.command("add-buttons")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--configure", is_flag=True, help="Also fill the xlwings.conf sheet with this machine's Python and PYTHONPATH.")
@click.option("--libreoffice", is_flag=True, help="Install the crm_sheets macro (refresh, check, dedupe) for LibreOffice Calc; PATH is then optional.")
@click.option("--macro-folder", "macro_folder", type=click.Path(path_type=Path), default=None,
              help="Install the LibreOffice macro here instead of the profile's Scripts/python folder (or set CRM_SHEETS_LIBREOFFICE_MACROS).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for scripts.")
def add_buttons_cmd(path: Path | None, configure: bool, libreoffice: bool, macro_folder: Path | None, as_json: bool) -> None:
    """Put Refresh, Check and Dedupe buttons (xlwings VBA) on the Start and Dashboard sheets of PATH (.xlsm), and/or install the LibreOffice macro."""
    from crm_sheets.buttons import add_buttons
    from crm_sheets.libreoffice import install_macro

    if path is None and not libreoffice:
        raise click.UsageError("add-buttons needs a workbook PATH (or --libreoffice to install the LibreOffice macro)")
    report = add_buttons(path, configure=configure) if path is not None else None
    macro = install_macro(macro_folder) if libreoffice else None
    if as_json:
        out = report.as_dict() if report else {}
        if macro:
            out["libreoffice"] = macro.as_dict()
        click.echo(json.dumps(out, indent=2))
        return
    if report:
        console.print(f"Buttons Refresh, Check and Dedupe on {', '.join(report.sheets)} of [bold]{report.path}[/] (xlwings {report.xlwings}).")
        for key, value in report.configured.items():
            console.print(f"  xlwings.conf {key} = {value}")
    if macro:
        console.print(f"LibreOffice macro installed: [bold]{macro.path}[/] (runs {macro.interpreter}).")
        console.print("  In Calc: Tools > Macros > Run Macro... > My Macros > crm_sheets > refresh (or check, dedupe).")


@cli.command("upgrade")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", "dry_run", is_flag=True, help="Show what would be added; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for scripts.")
def upgrade_cmd(path: Path, dry_run: bool, as_json: bool) -> None:
    """Add the Fields sheet's custom fields and the template's new fields and tables to PATH, keeping every cell."""
    from crm_sheets.upgrade import upgrade

    report = upgrade(path, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    _render_upgrade(report)


@cli.command("adopt")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--template", default=None, help="Template to map onto: sales, services or personal (default: the one the sheets fit best).")
@click.option("--dry-run", "dry_run", is_flag=True, help="Print the proposed mapping as a table; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for scripts.")
def adopt_cmd(path: Path, template: str | None, dry_run: bool, as_json: bool) -> None:
    """Take a workbook your team made as it is: map its sheets and columns onto a template (a Mapping sheet you can correct)."""
    from crm_sheets.adopt import adopt

    report = adopt(path, template=template, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    _render_adopt(report)


@cli.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--from", "source", type=click.Choice(["auto", "salesforce", "hubspot", "pipedrive", "csv"]), default="auto",
              show_default=True, help="Whose export the files are (auto: told by their headers).")
@click.option("--table", default=None, help="Import every file into this table (leads, contacts, accounts, deals...).")
@click.option("--time-zone", "time_zone", default=None, metavar="ZONE", help="The team's time zone for date-times with an offset (default: Settings time_zone, else this computer's).")
@click.option("--dry-run", "dry_run", is_flag=True, help="Show what would be created and updated; write nothing.")
@job_options
def import_cmd(path: Path, sources: tuple[Path, ...], source: str, table: str | None, time_zone: str | None,
               dry_run: bool, as_json: bool, now: datetime | None) -> None:
    """Import CRM exports (Salesforce, HubSpot, Pipedrive, any CSV or .xlsx) into PATH; importing again updates in place."""
    from crm_sheets.imports import import_files

    report = import_files(path, list(sources), source=source, table=table, dry_run=dry_run, now=now, time_zone=time_zone)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        _render_import(report)
    sys.exit(EXIT_FINDINGS if report.problems else EXIT_OK)


@cli.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--to", "to", type=click.Choice(["salesforce", "hubspot", "csv"]), required=True, help="Whose import format to write.")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for scripts.")
def export_cmd(path: Path, to: str, directory: Path, as_json: bool) -> None:
    """Export the accounts, contacts, leads and deals of PATH as CSV files for Salesforce, HubSpot or any tool."""
    from crm_sheets.imports import export_workbook

    report = export_workbook(path, to, directory)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    for f in report.files:
        console.print(f"Wrote [bold]{f['file']}[/] ({f['table']}: {f['rows']} rows, {f['columns']} columns)")


@cli.command()
def templates() -> None:
    """List the workbook templates."""
    from crm_sheets.model.schema import load_schema, available_templates

    for name in available_templates():
        s = load_schema(name)
        console.print(f"[bold]{name}[/]  {s.title['en']}: {len(s.data_tables())} data tables")


# ---------------------------------------------------------------------------------------------


@cli.command("forms")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--base-url", default="http://127.0.0.1:8765", show_default=True, help="Address the forms server is reached at.")
@click.option("--lang", default=None, help="Language of the snippets: en or fr (default: the workbook's).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for scripts.")
def forms_cmd(path: Path, base_url: str, lang: str | None, as_json: bool) -> None:
    """Print the address and the embed snippets (iframe and plain HTML) of the workbook's web forms."""
    from crm_sheets.forms import embed

    report = embed(path, base_url=base_url, lang=lang)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        return
    for problem in report.problems:
        err_console.print(f"[yellow]![/] {problem}", soft_wrap=True)
    if not report.forms:
        console.print("No active form: add a row to the Forms sheet.")
    if report.waiting:
        console.print(f"{report.waiting} submissions wait to be written into {path.name} (by crm-sheets forms-serve).")
    for r in report.rejected:
        err_console.print(f"[yellow]![/] submission {r['id']} ({r['form']}, {r['received'][:16]}) was set aside: {r['note']}",
                          soft_wrap=True)
    for name, snippet in report.forms.items():
        click.echo(f"# {name}: {snippet['url']}\n")
        click.echo("<!-- in an iframe -->")
        click.echo(snippet["iframe"] + "\n")
        click.echo("<!-- or as plain HTML on your page (add your site to the form's Sites allowed) -->")
        click.echo(snippet["html"])


def _rate(_ctx, _param, value: str) -> tuple[float, float]:
    number, _, unit = value.partition("/")
    seconds = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "hour": 3600.0}.get(unit.strip() or "min")
    try:
        if seconds is None or float(number) <= 0:
            raise ValueError
        return float(number), seconds
    except ValueError:
        raise click.BadParameter(f"{value!r}: write a number per s, min or h, e.g. 10/min") from None


@cli.command("forms-serve")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port to listen on.")
@click.option("--base-url", default="", help="Public address of this server, for the Origin check behind a proxy.")
@click.option("--allow-origin", "allow_origins", multiple=True, metavar="URL", help="A site allowed to post every form (repeat for more).")
@click.option("--ip-rate", default="10/min", show_default=True, callback=_rate, help="Submissions per visitor address.")
@click.option("--form-rate", default="300/min", show_default=True, callback=_rate, help="Submissions per form, all visitors.")
@click.option("--max-body", default=16384, show_default=True, type=int, help="Largest submission in bytes.")
@click.option("--max-journal-mb", default=256, show_default=True, type=int, help="Journal size past which submissions get 503.")
@click.option("--apply-interval", default=5.0, show_default=True, type=float, help="Seconds between writes of the journal into the workbook.")
@click.option("--trust-proxy", is_flag=True, help="Take the visitor's address from X-Forwarded-For.")
def forms_serve(path: Path, host: str, port: int, base_url: str, allow_origins: tuple[str, ...], ip_rate, form_rate,
                max_body: int, max_journal_mb: int, apply_interval: float, trust_proxy: bool) -> None:
    """Serve the workbook's web forms and write what visitors send into it (until Ctrl+C)."""
    from crm_sheets.forms import serve
    from crm_sheets.forms.web import FormsConfig

    config = FormsConfig(path, base_url=base_url, allow_origins=allow_origins, ip_rate=ip_rate, form_rate=form_rate,
                         max_body=max_body, max_journal_bytes=max_journal_mb * 1024 * 1024,
                         apply_interval=apply_interval, trust_proxy=trust_proxy)
    console.print(f"Serving the forms of {path.name} on http://{host}:{port}/forms/ (Ctrl+C to stop)")
    serve(config, host=host, port=port)
