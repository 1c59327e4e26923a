"""Creating workbooks: a new one from a template (optionally with sample data), and the demo.

Library entry points behind `crm-sheets new` and `crm-sheets demo`.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable

from crm_sheets.errors import UsageError
from crm_sheets.model.schema import LANGUAGES, available_templates, load_schema


def new_workbook(
    path: str | Path,
    *,
    template: str = "sales",
    lang: str = "en",
    sample_data: int = 0,
    seed: int = 7,
    force: bool = False,
    now: datetime | None = None,
    sample_leads: int | None = None,
) -> Path:
    """Build a workbook from ``template`` at ``path``; with ``sample_data``, fill it with that many sample
    leads (and matching accounts, deals, activities...). ``sample_leads`` is the old name of ``sample_data``."""
    from crm_sheets.builder import build_workbook

    sample_leads = sample_data if sample_leads is None else sample_leads

    if lang not in LANGUAGES:
        raise UsageError(f"unknown language {lang!r}", hint=f"choose one of {', '.join(LANGUAGES)}")
    if template not in available_templates():
        raise UsageError(f"unknown template {template!r}", hint=f"choose one of {', '.join(available_templates())}")
    if sample_leads and not 50 <= sample_leads <= 300_000:
        raise UsageError(f"--sample-data {sample_leads}: sample data has 50 to 300,000 leads", hint="use 0 for an empty workbook")
    schema = load_schema(template)
    data = None
    if sample_leads:
        from crm_sheets.sample import generate

        data = generate(schema, leads=sample_leads, seed=seed, now=now, lang=lang).tables
    path = Path(path)
    if path.suffix.lower() == ".xlsm":  # a macro workbook: built as .xlsx, then given its buttons
        return _new_macro_workbook(path, schema, lang=lang, data=data, force=force, now=now)
    return build_workbook(path, schema, lang=lang, data=data, force=force, now=now)


def _new_macro_workbook(path: Path, schema, *, lang: str, data, force: bool, now: datetime | None) -> Path:
    import tempfile

    from crm_sheets.builder import build_workbook
    from crm_sheets.buttons import add_buttons

    if path.exists() and not force:
        build_workbook(path, schema, lang=lang, data=data, force=False, now=now)  # refuses, with its message
    with tempfile.TemporaryDirectory(prefix=".crm-new-", dir=path.parent) as tmp:
        plain = Path(tmp) / f"{path.stem}.xlsx"
        build_workbook(plain, schema, lang=lang, data=data, force=False, now=now, file_name=path.name)
        _first_report(plain, now)
        if path.exists():  # --force: the old one goes to the backups, as build_workbook does
            build_workbook(path, schema, lang=lang, data=None, force=True, now=now)
            path.unlink()
        add_buttons(plain, out=path)
    return path


def _first_report(path: Path, now: datetime | None) -> None:
    """The report sheets of a new macro workbook, so that its Dashboard exists to carry the buttons."""
    from crm_sheets.runner import run_jobs
    from crm_sheets.store import open_store

    store = open_store(path, backups=0)
    tables = store.read()
    _results, changes = run_jobs(tables, ["report"], now=now or datetime.now().replace(microsecond=0))
    store.apply(changes, tables)


def demo(
    directory: str | Path = "demo",
    *,
    sample_data: int = 500,
    lang: str = "en",
    now: datetime | None = None,
    on_step: Callable[[str], None] | None = None,
    sample_leads: int | None = None,
):
    """Create ``directory/crm.xlsx`` with ``sample_data`` sample leads and run every job on it (as
    `crm-sheets run` does). Returns (path, RunReport). ``sample_leads`` is the old name of ``sample_data``."""
    from crm_sheets.api import run
    from crm_sheets.outbox import outbox_path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "crm.xlsx"
    new_workbook(path, sample_data=sample_data if sample_leads is None else sample_leads, lang=lang, force=True, now=now)
    # A new demo workbook starts automate afresh: the state of a previous demo's records would make
    # today's sample records look already seen, and nothing would fire.
    outbox_path(path).unlink(missing_ok=True)
    report = run(path, now=now, on_step=on_step)
    return path, report
