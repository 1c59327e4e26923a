"""Web forms that capture leads into the workbook: definitions from the Forms sheet, validation with the
check job's rules, a durable journal, the applier that writes it into the workbook, and the web routes.

``embed(path, base_url)`` is what `crm-sheets forms` prints; ``serve(config)`` is `crm-sheets forms-serve`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EmbedReport:
    path: str
    base_url: str
    forms: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {"url", "iframe", "html"}
    problems: list[str] = field(default_factory=list)
    waiting: int = 0  # journal entries not yet in the workbook
    rejected: list[dict] = field(default_factory=list)  # entries the workbook could not take: id, form, received, note

    def as_dict(self) -> dict:
        return {"path": self.path, "base_url": self.base_url, "forms": self.forms, "problems": self.problems,
                "waiting": self.waiting, "rejected": self.rejected}


def embed(path: str | Path, base_url: str = "http://127.0.0.1:8765", lang: str | None = None) -> EmbedReport:
    """The address and the embed snippets (iframe, plain HTML) of every active form of the workbook."""
    from crm_sheets.forms.definitions import load_forms
    from crm_sheets.forms.journal import Journal, journal_path
    from crm_sheets.forms.render import embed_snippets
    from crm_sheets.store import open_store

    tables = open_store(path).read()
    found = load_forms(tables)
    lang = lang or tables.lang or "en"
    out = EmbedReport(str(path), base_url.rstrip("/"), problems=[p.message for p in found.problems])
    for name, form in found.forms.items():
        if form.active:
            out.forms[name] = {"url": f"{out.base_url}/forms/{name}", **embed_snippets(form, out.base_url, lang)}
    if journal_path(path).exists():
        journal = Journal(journal_path(path))
        try:
            out.waiting = journal.count("waiting")
            out.rejected = [{"id": e.id, "form": e.form, "received": e.received.isoformat(), "note": e.note}
                            for e in journal.entries("rejected")]
        finally:
            journal.close()
    return out


def serve(config, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning") -> None:
    """Serve the workbook's forms (and apply the journal) until stopped."""
    import uvicorn

    from crm_sheets.forms.web import create_app

    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level, access_log=False)
