"""The Outbox sheet: what automate has queued, sent or could not send, for people to see in the workbook.

A pure function of the outbox's items (anything with the OutboxItem attributes) to a SheetSpec.
Items to confirm, failed or waiting come first, then the most recent sent ones; the title row counts
them by the same states as the run summary and `crm-sheets outbox`. Addresses and errors are redacted.
"""
from __future__ import annotations

from typing import Any, Iterable

from crm_sheets.model import Cell, SheetSpec
from crm_sheets.model.effects import count_states, delivery_state
from crm_sheets.model.redact import redact

RECENT_SENT = 200  # sent items shown; the outbox file keeps them all
LABELS = {
    "en": {
        "title": "Outbox", "columns": ("Status", "Kind", "To / channel", "Subject / text", "Record", "Queued at", "Error"),
        "note": "What automate sends. Without a mail server (Settings smtp_host) emails wait here; unknown means "
                "the connection broke while sending: check whether it arrived before sending again. Failed: needs you means the "
                "server refused it for good or it ran out of tries: fix the cause, then crm-sheets outbox --retry-failed.",
        "status": {"waiting": "Queued", "sending": "Sending", "sent": "Sent", "retrying": "Failed (will retry)",
                   "failed": "Failed: needs you", "unknown": "Unknown: please confirm", "cancelled": "Cancelled"},
        "kind": {"email": "Email", "chat": "Team chat", "webhook": "Webhook"}, "chat": "team chat",
        "counts": {"waiting": "{} waiting", "sending": "{} sending", "retrying": "{} failed (will retry)",
                   "failed": "{} failed for good", "unknown": "{} to confirm", "sent": "{} sent"},
    },
    "fr": {
        "title": "Boîte d'envoi", "columns": ("Statut", "Type", "Destinataire / canal", "Objet / texte", "Fiche", "Mis en file le", "Erreur"),
        "note": "Ce qu'automate envoie. Sans serveur d'envoi (Paramètres smtp_host) les e-mails attendent ici ; « inconnu » "
                "signifie que la connexion a coupé pendant l'envoi : vérifiez s'il est arrivé avant de renvoyer. « Échec : à traiter » : "
                "le serveur l'a refusé définitivement ou les essais sont épuisés ; corrigez la cause puis crm-sheets outbox --retry-failed.",
        "status": {"waiting": "En attente", "sending": "En cours d'envoi", "sent": "Envoyé", "retrying": "Échec (nouvel essai)",
                   "failed": "Échec : à traiter", "unknown": "Inconnu : à confirmer", "cancelled": "Annulé"},
        "kind": {"email": "E-mail", "chat": "Chat d'équipe", "webhook": "Webhook"}, "chat": "chat d'équipe",
        "counts": {"waiting": "{} en attente", "sending": "{} en cours d'envoi", "retrying": "{} en échec (nouvel essai)",
                   "failed": "{} en échec définitif", "unknown": "{} à confirmer", "sent": "{} envoyés"},
    },
}
_STYLE = {"sent": "good", "failed": "bad", "retrying": "bad", "unknown": "warn", "waiting": None, "sending": "warn", "cancelled": "muted"}
_ORDER = {"unknown": 0, "failed": 1, "retrying": 2, "sending": 3, "waiting": 4, "sent": 5, "cancelled": 6}


def outbox_sheet(items: Iterable[Any], *, lang: str = "en", name: str | None = None) -> SheetSpec:
    L = LABELS.get(lang, LABELS["en"])
    items = list(items)
    state = {i.key: delivery_state(i.status, i.attempts) for i in items}
    waiting = [i for i in items if i.status != "sent"]
    sent = sorted((i for i in items if i.status == "sent"), key=lambda i: i.updated_at, reverse=True)[:RECENT_SENT]
    shown = sorted(waiting, key=lambda i: (_ORDER.get(state[i.key], 9), i.queued_at, i.key)) + sent
    counts = count_states(items)
    summary = ", ".join(text.format(counts[s]) for s, text in L["counts"].items() if counts[s] or s in ("waiting", "failed", "unknown"))
    rows: list[list[Any]] = [
        [Cell(L["title"], "title"), None, Cell(summary, "subtitle")],
        [Cell(L["note"], "subtitle")],
        [Cell(c, "header") for c in L["columns"]],
    ]
    for i in shown:
        p = i.payload or {}
        if i.kind == "email":
            to, what = p.get("to", ""), p.get("subject", "")
        elif i.kind == "webhook":
            to, what = redact(p.get("url", "")), str((p.get("body") or {}).get("rule", ""))
        else:
            to, what = L["chat"], p.get("text", "")
        record = f"{i.record_id}" if i.record_id else ""
        rows.append([
            Cell(L["status"].get(state[i.key], i.status), _STYLE.get(state[i.key])),
            L["kind"].get(i.kind, i.kind),
            to,
            Cell(what, "wrap"),
            record,
            Cell(i.queued_at.replace("T", " "), None),
            Cell(redact(i.error) if i.error else "", "wrap" if i.error else None),
        ])
    last = len(rows)
    return SheetSpec(
        name=name or L["title"], key="outbox", rows=rows,
        widths={0: 22, 1: 12, 2: 34, 3: 60, 4: 12, 5: 18, 6: 50},
        freeze=(3, 0), autofilter=f"A3:G{max(last, 3)}",
    )
