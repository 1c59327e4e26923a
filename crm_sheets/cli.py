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
from rich.console import Console
from rich.table import Table as RichTable

from crm_sheets import __version__
from crm_sheets.errors import CrmSheetsError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3
console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


class CrmGroup(click.Group):
    """Turns every CrmSheetsError into one red line and its exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrmSheetsError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
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
    err_console.log(message) if err_console.is_terminal else None


@click.group(cls=CrmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crm-sheets")
def cli() -> None:
    """crm-sheets: a spreadsheet-native CRM. Your workbook is the database; these jobs keep it healthy."""


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--template", default="sales", show_default=True, help="Workbook template: sales, services or personal.")
@click.option("--lang", default="en", show_default=True, help="Language of sheet names, headers and lists: en or fr.")
@click.option("--sample-data", "sample_data", type=click.IntRange(0, 300_000), default=0, metavar="N", help="Fill the workbook with N sample leads (and matching accounts, deals, activities...).")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed of the sample data.")
@click.option("--force", is_flag=True, help="Replace an existing file (a backup of it is kept beside it).")
def new(path: Path, template: str, lang: str, sample_data: int, seed: int, force: bool) -> None:
    """Create a new CRM workbook at PATH from a template."""
    from crm_sheets.workbook import new_workbook

    with console.status(f"Building {path.name}"):
        out = new_workbook(path, template=template, lang=lang, sample_leads=sample_data, seed=seed, force=force)
    console.print(f"Created [bold]{out}[/] ({template}, {lang}{f', {sample_data} sample leads' if sample_data else ''}).")


@cli.command("run")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--job", "jobs", multiple=True, help="Run only this job (repeatable). Default: every job, in order.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Compute everything, write nothing.")
@job_options
def run_cmd(path: Path, jobs: tuple[str, ...], dry_run: bool, as_json: bool, now: datetime | None) -> None:
    """Run every job (check, dedupe, automate, report) over one read and one write of PATH."""
    from crm_sheets.runner import run

    report = run(path, list(jobs) or None, now=now, dry_run=dry_run, options={"check": {"fix": True}}, on_step=_step)
    _finish(report, as_json)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--fix", is_flag=True, help="Apply safe normalisations (spaces, emails, phones, countries, dropdowns, dates typed as text).")
@click.option("--dry-run", "dry_run", is_flag=True, help="Report only; do not write the Data Issues sheet or fixes.")
@job_options
def check(path: Path, fix: bool, dry_run: bool, as_json: bool, now: datetime | None) -> None:
    """Validate every record of PATH and list the problems in the Data Issues sheet."""
    from crm_sheets.runner import run

    report = run(path, ["check"], now=now, dry_run=dry_run, options={"check": {"fix": fix}}, on_step=_step)
    _finish(report, as_json)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", "dry_run", is_flag=True, help="Show what would be merged; write nothing.")
@job_options
def dedupe(path: Path, dry_run: bool, as_json: bool, now: datetime | None) -> None:
    """Find and merge duplicate leads, contacts and accounts in PATH (reversibly)."""
    from crm_sheets.runner import run

    # the runner's dry run writes nothing; the job computes the real change set, so the counts shown are the real run's
    report = run(path, ["dedupe"], now=now, dry_run=dry_run, on_step=_step)
    _finish(report, as_json)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", "dry_run", is_flag=True, help="Show what the rules would do; write, queue and send nothing.")
@job_options
def automate(path: Path, dry_run: bool, as_json: bool, now: datetime | None) -> None:
    """Run the rule sheets of PATH: scoring, assignment, automations, sequences, digests; send through the outbox."""
    from crm_sheets.runner import run

    report = run(path, ["automate"], now=now, dry_run=dry_run, on_step=_step)
    _finish(report, as_json)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--status", type=click.Choice(["queued", "sending", "sent", "failed", "unknown", "cancelled"]), help="List only the items in this status.")
@click.option("--confirm", "confirm", metavar="KEY", help="Settle an item left unknown by a broken connection: add --delivered or --resend.")
@click.option("--delivered/--resend", "delivered", default=None, help="With --confirm: it arrived (mark it sent), or it did not (queue it again, same Message-ID).")
@click.option("--retry-failed", "retry_failed", is_flag=True, help="Queue again the failed items that used up their tries.")
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
    _render_outbox(path, items, done)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("record_id")
@job_options
def unmerge(path: Path, record_id: str, as_json: bool, now: datetime | None) -> None:
    """Restore a merged record RECORD_ID and its references in PATH."""
    from crm_sheets.runner import run

    report = run(path, ["unmerge"], now=now, options={"unmerge": {"record_id": record_id}}, on_step=_step)
    _finish(report, as_json)


@cli.command("report")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--pdf", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.pdf",
              help="Also print the dashboard and report sheets to this PDF, landscape (needs LibreOffice).")
@job_options
def report_cmd(path: Path, pdf: Path | None, as_json: bool, now: datetime | None) -> None:
    """Regenerate the dashboard, report sheets, board and calendar of PATH; --pdf prints them to one PDF."""
    from crm_sheets.runner import run

    now = now or datetime.now().replace(microsecond=0)  # one clock for the sheets and the figures printed
    report = run(path, ["report"], now=now, on_step=_step)
    if pdf:
        from crm_sheets.export.pdf import export_pdf

        _step(f"Printing the reports to {pdf.name} with LibreOffice")
        export_pdf(path, pdf, [s.name for r in report.results for s in r.changes.sheets])
    if as_json:
        from crm_sheets.jobs.report import compute

        data = {**report.as_dict(), "pdf": str(pdf) if pdf else None, "figures": compute(report.tables, now).as_dict()}
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        _render(report)
        if pdf:
            console.print(f"Printed the reports to [bold]{pdf}[/].")
    sys.exit(EXIT_FINDINGS if report.errors else EXIT_OK)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default=Path("demo"))
@click.option("--sample-data", "sample_data", type=click.IntRange(50, 300_000), default=500, show_default=True, metavar="N", help="Number of sample leads.")
@click.option("--lang", default="en", show_default=True, help="Language of the workbook: en or fr.")
@job_options
def demo(directory: Path, sample_data: int, lang: str, as_json: bool, now: datetime | None) -> None:
    """Create a sample workbook in DIRECTORY and run every job on it."""
    from crm_sheets.workbook import demo as run_demo

    with console.status("Building the demo workbook"):
        path, report = run_demo(directory, sample_leads=sample_data, lang=lang, now=now, on_step=_step)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    _render(report)
    console.print(f"\nOpen [bold]{path}[/] in Excel, LibreOffice or Google Sheets. Start with the Start sheet,")
    console.print("then look at Data Issues (what check found) and the Audit Log (every automated change).")


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--every", metavar="DURATION", help="Run every DURATION, e.g. 15m or 2h.")
@click.option("--daily", multiple=True, metavar="HH:MM", help="Run every day at HH:MM (repeatable).")
def schedule(path: Path, every: str | None, daily: tuple[str, ...]) -> None:
    """Run every job on PATH on a schedule, until stopped with Ctrl-C."""
    import logging

    from crm_sheets.scheduling import make_scheduler, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    scheduler = make_scheduler(path, every=every, daily=list(daily))
    console.print(f"Running crm-sheets on {path} ({', '.join(filter(None, [every and f'every {every}', *daily]))}). Ctrl-C stops.")
    try:
        serve(scheduler)
    except KeyboardInterrupt:
        console.print("Stopped.")


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


def _finish(report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        _render(report)
    sys.exit(EXIT_FINDINGS if report.errors else EXIT_OK)


def _render(report) -> None:
    table = RichTable(title=f"crm-sheets on {report.path}", title_justify="left")
    for col in ("job", "errors", "warnings", "changed cells", "new rows", "archived", "sheets"):
        table.add_column(col, justify="left" if col == "job" else "right")
    for r in report.results:
        sev = [f.severity for f in r.findings]
        s = r.changes.summary()
        table.add_row(r.job, str(sev.count("error")), str(sev.count("warning")), str(s["updated_cells"]), str(s["appended_rows"]), str(s["archived_rows"]), str(s["replaced_sheets"]))
    console.print(table)
    for note in getattr(report, "notes", ()):
        console.print(f"  [yellow]![/] {note}", soft_wrap=True)
    for f in report.errors[:15]:
        console.print(f"  [red]✗[/] {f.message}", soft_wrap=True)
    if len(report.errors) > 15:
        console.print(f"  … and {len(report.errors) - 15} more errors: see the Data Issues sheet.")
    if getattr(report, "delivery", None):
        d = report.delivery
        console.print(f"Outbox: {len(d['sent'])} sent, {len(d['waiting'])} waiting (no mail server or chat URL set), "
                      f"{len(d['failed'])} failed (retried next run), {len(d['unknown'])} to confirm.")
    if report.dry_run:
        console.print("Dry run: nothing was written.")
    elif report.written:
        console.print(f"Saved {report.path}" + (f" (backup: {report.backup})" if report.backup else "") + ".")
    else:
        console.print("Nothing to change.")


def _render_outbox(path: Path, items, done: str | None) -> None:
    if done is not None:
        if not items:
            console.print("No failed items have used up their tries; nothing to do.")
            return
        console.print(f"{len(items)} item{'s' if len(items) != 1 else ''} {done}. The next run delivers what is queued "
                      f"and the Outbox sheet shows it after that run.")
    if not items:
        console.print(f"The outbox of {path.name} is empty.")
        return
    style = {"sent": "green", "failed": "red", "unknown": "yellow", "sending": "yellow", "cancelled": "dim"}
    table = RichTable(title=None if done else f"Outbox of {path}", title_justify="left")
    for col in ("key", "status", "kind", "to / channel", "subject", "record", "queued", "error"):
        whole = col in ("key", "status", "kind", "record", "queued")  # a key is copied into --confirm: never wrapped
        table.add_column(col, no_wrap=whole, overflow="fold" if not whole else "ellipsis")
    for i in items:
        s = style.get(i.status)
        table.add_row(i.key, f"[{s}]{i.status}[/]" if s else i.status, i.kind, i.to or ("team chat" if i.kind == "chat" else ""),
                      i.subject[:80], i.record_id or "", i.queued_at.replace("T", " ")[:16], i.error or "")
    console.print(table)
    unknown = [i.key for i in items if i.status == "unknown"]
    if unknown and done is None:
        console.print(f"{len(unknown)} to confirm: check whether it arrived, then crm-sheets outbox {path} --confirm KEY --delivered (or --resend).")


def _render_adopt(report) -> None:
    table = RichTable(title=f"crm-sheets adopt of {report.path} ({report.template} template)", title_justify="left")
    for col in ("sheet", "row", "col", "header", "table", "field", "found by", "example"):
        whole = col in ("row", "col", "table", "field")  # what a person copies into the Mapping sheet: never cut
        table.add_column(col, no_wrap=whole, overflow="fold", max_width=None if whole else 24)
    for s in report.sheets:
        for c in s.columns:
            table.add_row(s.sheet, str(s.header_row), c.column, c.header, s.table or "", c.field or "", c.found_by, c.example)
    console.print(table)
    for note in report.notes:
        console.print(f"  [yellow]![/] {note}", soft_wrap=True)
    if report.dry_run:
        console.print("Dry run: nothing was written.")
    elif report.written:
        console.print(f"Saved {report.path} with its Mapping sheet" + (f" (backup: {report.backup})" if report.backup else "")
                      + ". Correct the Table and Field columns there if a guess is wrong; every run follows it.")


def _render_import(report) -> None:
    if report.created_workbook:
        console.print(f"Created [bold]{report.path}[/] from the sales template.")
    files = RichTable(title=f"crm-sheets import into {report.path}", title_justify="left")
    for col in ("file", "from", "table", "rows", "mapped", "custom fields"):
        files.add_column(col, justify="right" if col in ("rows", "mapped", "custom fields") else "left")
    for f in report.files:
        files.add_row(f["file"], f["vendor"], ", ".join(f["tables"]) or f"not imported: {f['problem']}", str(f["rows"]),
                      str(len(f["mapped"])), str(len(f["unmapped"])))
    console.print(files)
    counts = RichTable(show_header=True)
    for col in ("table", "created", "updated", "unchanged", "skipped"):
        counts.add_column(col, justify="left" if col == "table" else "right")
    for name, c in report.counts.items():
        counts.add_row(name, str(c.created), str(c.updated), str(c.unchanged), str(c.skipped))
    console.print(counts)
    for f in report.files:
        if f["unmapped"]:
            cols = ", ".join(u["column"] for u in f["unmapped"][:10]) + (", ..." if len(f["unmapped"]) > 10 else "")
            console.print(f"  {f['file']}: kept as custom fields: {cols}", soft_wrap=True)
    for p in report.skipped:
        console.print(f"  [yellow]skipped[/] {p.message()}", soft_wrap=True)
    for p in report.problems:
        console.print(f"  [red]![/] {p.message()}", soft_wrap=True)
    for note in report.notes:
        console.print(f"  [yellow]![/] {note}", soft_wrap=True)
    if report.dry_run:
        console.print("Dry run: nothing was written.")
    elif report.written:
        console.print(f"Saved {report.path}" + (f" (backup: {report.backup})" if report.backup else "") + ".")
    else:
        console.print("Nothing to change: the workbook already holds these records.")


def _render_upgrade(report) -> None:
    if report.added_columns or report.added_tables:
        table = RichTable(title=f"crm-sheets upgrade of {report.path}", title_justify="left")
        for col in ("added", "table", "field", "sheet", "column"):
            table.add_column(col)
        for t in report.added_tables:
            table.add_row("table", t.table, "", t.sheet, "")
        for c in report.added_columns:
            table.add_row("column", c.table, c.field, c.sheet, c.column)
        console.print(table)
    before, after = report.schema_version_before, report.schema_version_after
    version = f"schema version {before} -> {after}" if after != before else f"schema version {after}"
    console.print(f"{report.template} template, {version}.")
    for note in report.notes:
        console.print(f"  [yellow]![/] {note}", soft_wrap=True)
    if not report.changed:
        console.print("Nothing to upgrade.")
    elif report.dry_run:
        console.print("Dry run: nothing was written.")
    elif report.written:
        console.print(f"Saved {report.path}" + (f" (backup: {report.backup})" if report.backup else "") + ".")
