"""What the command line prints: a result as rich text for people or as JSON for scripts (cli.py's
commands call these; the library's results are printed as they are, nothing is recomputed here).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click


class _Console:
    """rich's Console, made by its first use: a run printing --json never uses it, and loading rich was a twentieth
    of such a run's start (0.02 s)."""

    def __init__(self, **options) -> None:
        self._options = options
        self._made = None

    def __getattr__(self, name: str):
        made = self.__dict__.get("_made")
        if made is None:
            from rich.console import Console

            made = self._made = Console(**self._options)
        return getattr(made, name)


console = _Console(stderr=False, highlight=False)
err_console = _Console(stderr=True, highlight=False)
# What makes rich take a stream that is not a terminal for one (rich.console.Console.is_terminal): none set and
# standard error not a terminal, a Console would answer False.
_TERMINAL_ENV = ("FORCE_TERMINAL", "TTY_COMPATIBLE", "FORCE_COLOR")


def err_is_terminal() -> bool:
    """err_console.is_terminal, without making the console when standard error is plainly no terminal."""
    try:
        plain = not any(k in os.environ for k in _TERMINAL_ENV) and not sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stream, or a closed one: rich answers for itself
        plain = False
    return False if plain else err_console.is_terminal
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3  # the exit codes of docs/design.md


def RichTable(*args, **kwargs):  # noqa: N802  rich's Table, loaded by the first table printed (--json prints none)
    from rich.table import Table

    return Table(*args, **kwargs)


def escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def finish(report, as_json: bool, note: str | None = None) -> None:
    if getattr(report, "settled", None) is not None:
        finish_settled(report, as_json)
    if as_json:
        if callable(getattr(report, "results_json", None)) and _plain_run_report(report):
            echo_run_json(report)
        else:
            echo_json(report.as_dict())
    else:
        render(report)
        if note:
            console.print(note)
    sys.exit(EXIT_FINDINGS if report.errors else EXIT_OK)


def finish_settled(report, as_json: bool) -> None:
    """A run answered from an earlier run's record (settled.py): what that run found, printed as it printed it,
    without loading its findings (--json writes the recorded text)."""
    answer = report.settled
    if as_json:
        head = json.dumps(answer.as_dict(results=False), indent=2, default=str)
        click.echo(head[:-2] + ",\n  " + answer.results_json() + "\n}")
    else:
        _summary(report.path, [(r["job"], r["counts"].get("error", 0), r["counts"].get("warning", 0), 0, 0, 0, 0)
                               for r in answer.summary])
        _notes_and_errors(report.notes, answer.first_errors, answer.error_count)
        if report.delivery:
            _delivery(report.path, report.delivery, sent=0, reasons=False)
        console.print(f"Nothing changed since the run of {answer.since:%Y-%m-%d %H:%M}: {report.path} was left as it was "
                      "(no backup; nothing read or run).", soft_wrap=True)
    sys.exit(EXIT_FINDINGS if answer.error_count else EXIT_OK)


def _plain_run_report(report) -> bool:
    from crm_sheets.runner import RunReport

    return type(report).as_dict is RunReport.as_dict  # a report run adds figures after the results


def echo_run_json(report) -> None:
    """A run's --json as the answer from its record prints it (finish_settled): the head indented, the results in
    one line, made by the json module's C encoder (the run's record made the same text: it is reused)."""
    head = json.dumps(report.as_dict(results=False), indent=2, default=str)
    click.echo(head[:-2] + ",\n  ", nl=False)
    text = report.__dict__.get("_results_json")
    if text is not None:
        click.echo(text, nl=False)
    else:
        from crm_sheets.run_report import results_json_chunks

        batch: list[str] = []
        size = 0
        for chunk in results_json_chunks(report.results):
            batch.append(chunk)
            size += len(chunk)
            if size >= 1 << 20:
                click.echo("".join(batch), nl=False)
                batch, size = [], 0
        click.echo("".join(batch), nl=False)
    click.echo("\n}")


def echo_json(data) -> None:
    """json.dumps(data, indent=2) and a newline, written a MB at a time: a first run at 100k leads reports
    ~210,000 findings, over 100 MB of JSON that was held whole (and again as bytes) at the run's peak."""
    batch: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2, default=str).iterencode(data):
        batch.append(chunk)
        size += len(chunk)
        if size >= 1 << 20:
            click.echo("".join(batch), nl=False)
            batch, size = [], 0
    click.echo("".join(batch))


def render(report) -> None:
    rows = []
    for r in report.results:
        sev = [f.severity for f in r.findings]
        s = r.changes.summary()
        rows.append((r.job, sev.count("error"), sev.count("warning"), s["updated_cells"], s["appended_rows"],
                     s["archived_rows"], s["replaced_sheets"]))
    _summary(report.path, rows)
    errors = report.errors
    _notes_and_errors(getattr(report, "notes", ()), [f.message for f in errors[:15]], len(errors))
    if getattr(report, "delivery", None):
        _delivery(report.path, report.delivery, sent=len(report.delivery["sent"]), reasons=True)
    if report.dry_run:
        console.print("Dry run: nothing was written.")
    elif report.written:
        console.print(f"Saved {report.path}" + (f" (backup: {report.backup})" if report.backup else "") + ".")
    else:
        console.print(f"Nothing changed: {report.path} was left as it was (no backup).")


def _summary(path, rows) -> None:
    """The run's table: one row per job (job, errors, warnings, changed cells, new rows, archived, sheets)."""
    table = RichTable(title=f"crm-sheets on {path}", title_justify="left")
    for col in ("job", "errors", "warnings", "changed cells", "new rows", "archived", "sheets"):
        table.add_column(col, justify="left" if col == "job" else "right")
    for job, *counts in rows:
        table.add_row(job, *map(str, counts))
    console.print(table)


def _notes_and_errors(notes, first_errors: list[str], error_count: int) -> None:
    for note in notes:
        console.print(f"  [yellow]![/] {note}", soft_wrap=True)
    for message in first_errors:
        console.print(f"  [red]✗[/] {message}", soft_wrap=True)
    if error_count > 15:
        console.print(f"  … and {error_count - 15} more errors: see the Data Issues sheet.")


def _delivery(path, d: dict, *, sent: int, reasons: bool) -> None:
    """The outbox after the run: what went now, what waits; ``reasons``: why kinds wait and where to settle them."""
    console.print(f"Outbox: {sent} sent now; " + outbox_counts(d.get("totals") or {}) + ".", soft_wrap=True)
    if d["waiting"]:
        console.print("  [yellow]![/] waiting for a mail server (Settings smtp_host) or a chat URL (chat_webhook_env) to be set", soft_wrap=True)
    if not reasons:
        return
    for kind, why in (d.get("reasons") or {}).items():
        console.print(f"  [yellow]![/] {kind}: {escape(why)}", soft_wrap=True)
    if (d.get("totals") or {}).get("unknown") or (d.get("totals") or {}).get("failed"):
        console.print(f"  crm-sheets outbox {path} shows them and how to settle them.", soft_wrap=True)


def outbox_counts(totals: dict[str, int]) -> str:
    """The outbox by state, worded alike in the run summary, `crm-sheets outbox` and the Outbox sheet."""
    words = [("waiting", "waiting"), ("sending", "sending"), ("retrying", "failed (will retry)"),
             ("failed", "failed for good"), ("unknown", "to confirm")]
    return ", ".join(f"{totals.get(state, 0)} {word}" for state, word in words if totals.get(state) or state != "sending")


def render_outbox(path: Path, items, done: str | None, totals: dict[str, int] | None = None) -> None:
    """One block per item, so an 80-column terminal shows everything: the key whole on its own line (it is
    what --confirm takes), then status, kind, to, record and time, the subject, and the error."""
    if done is not None:
        if not items:
            console.print("No failed items have used up their tries; nothing to do.")
            return
        console.print(f"{len(items)} item{'s' if len(items) != 1 else ''} {done}. The next run delivers what is queued "
                      f"and the Outbox sheet shows it after that run.")
    if not items:
        console.print(f"The outbox of {path.name} is empty.")
        return
    from crm_sheets.model.effects import MAX_ATTEMPTS

    style = {"sent": "green", "failed": "red", "retrying": "red", "unknown": "yellow", "sending": "yellow", "cancelled": "dim"}
    label = {"waiting": "queued", "retrying": "failed (will retry)", "failed": "failed for good", "unknown": "unknown: to confirm"}
    if done is None:
        console.print(f"[bold]Outbox of {escape(str(path))}[/]", soft_wrap=True)
    for i in items:
        s = style.get(i.state, "default")
        console.print()
        console.print(escape(i.key), style="bold", soft_wrap=True, highlight=False)
        to = i.to or ("team chat" if i.kind == "chat" else "")
        console.print("  " + " · ".join(f for f in (f"[{s}]{label.get(i.state, i.state)}[/]", i.kind, escape(to)) if f))
        if i.subject:
            console.print("  " + escape(" ".join(i.subject.split())))
        tries = f"try {i.attempts} of {MAX_ATTEMPTS}" if i.state == "retrying" else ""
        facts = [i.record_id or "", f"queued {i.queued_at.replace('T', ' ')[:16]}", tries]
        console.print("  [dim]" + " · ".join(f for f in facts if f) + "[/]")
        if i.error:
            console.print(f"  [{s}]error:[/] {escape(i.error)}")
    console.print()
    if totals is not None:
        console.print(f"{totals.get('sent', 0)} sent, " + outbox_counts(totals) + ".", soft_wrap=True)
    unknown = [i.key for i in items if i.status == "unknown"]
    if unknown and done is None:
        console.print(f"{len(unknown)} to confirm: check whether it arrived, then crm-sheets outbox {path} --confirm KEY --delivered (or --resend).",
                      soft_wrap=True)
    if done is None and any(i.state == "failed" for i in items):
        console.print(f"Failed for good: fix the cause (the error says it), then crm-sheets outbox {path} --retry-failed, or --cancel KEY.",
                      soft_wrap=True)


def render_adopt(report) -> None:
    table = RichTable(title=f"crm-sheets adopt of {report.path} ({report.template} template)", title_justify="left")
    for col in ("sheet", "row", "col", "header", "table", "field", "found by", "example", "type"):
        whole = col in ("row", "col", "table", "field", "type")  # what a person copies into the Mapping sheet: never cut
        table.add_column(col, no_wrap=whole, overflow="fold", max_width=None if whole else 24)
    for s in report.sheets:
        for c in s.columns:
            table.add_row(s.sheet, str(s.header_row), c.column, c.header, s.table or "", c.field or "", c.found_by, c.example,
                          c.type)
    console.print(table)
    for note in report.notes:
        console.print(f"  [yellow]![/] {note}", soft_wrap=True)
    if report.dry_run:
        console.print("Dry run: nothing was written.")
    elif report.written:
        console.print(f"Saved {report.path} with its Mapping sheet" + (f" (backup: {report.backup})" if report.backup else "")
                      + ". Correct the Table and Field columns there if a guess is wrong; every run follows it.")


def render_import(report) -> None:
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


def render_upgrade(report) -> None:
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
