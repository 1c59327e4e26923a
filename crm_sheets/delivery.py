"""The run's delivery step: automate's effects queued in the outbox before the write (with the Outbox sheet when
it would show something new), the Outbox sheet written again after delivery when delivery changed what it
shows, and the delivery channels made from Settings. The runner (runner.py) calls these in that order.
"""
from __future__ import annotations

import hashlib
import os
from datetime import datetime
from typing import Any, Callable

from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.result import JobResult
from crm_sheets.model.tables import Tables


def queue_effects(box, auto: JobResult, tables: Tables, changes: ChangeSet, now: datetime, states: dict[str, Any]) -> str | None:
    """Queue automate's effects and add the Outbox sheet to the write when it would show something new
    (or the workbook is written anyway). Returns the sheet's digest, committed with the write's states."""
    from crm_sheets.heap import collector_paused
    from crm_sheets.jobs.automate import outbox_sheet

    # (an item, its payload and its sheet row per effect, thousands on a first run: no cycles among them)
    with collector_paused():
        box.enqueue(auto.effects, now)
        if "outbox" not in tables.schema.owned_sheets:
            return None
        digest = shown_digest(box.shown())
        if changes.is_empty() and (states.get("outbox_sheet") or {}).get("digest") == digest:
            return None
        items = box.items()  # the sheet is laid out: now the items, payloads and all
        name = tables.schema.owned_sheet("outbox").sheet_name(tables.lang or "en")
        changes.sheets.append(outbox_sheet(items, lang=tables.lang or "en", name=name))
        return outbox_digest(items)


def outbox_digest(items) -> str:
    """As _queue computes it: an item's state shows in its status and error (the last try says it was the last)."""
    return shown_digest([(i.key, i.status, i.error) for i in items])


def shown_digest(shown: list[tuple]) -> str:
    """outbox_digest of the items whose (key, status, error) are ``shown`` (Outbox.shown: no payload read)."""
    return hashlib.sha256(repr(shown).encode()).hexdigest()


def show_delivery(store, box, tables: Tables, now: datetime, step: Callable[[str], None]) -> None:
    """The Outbox sheet written before delivery showed the queue. When delivery changed what it shows, write
    that sheet again (only it, and without a backup: it is made from the outbox file), so the workbook, the
    run summary and `crm-sheets outbox` agree. A workbook opened or changed meanwhile keeps the sheet as it
    was until the next run, which shows it."""
    from crm_sheets.errors import CrmSheetsError
    from crm_sheets.jobs.automate import outbox_sheet
    if "outbox" not in tables.schema.owned_sheets:
        return
    digest = shown_digest(box.shown())
    if (box.load_state("outbox_sheet") or {}).get("digest") == digest or store.open_by() is not None:
        return
    items = box.items()
    digest = outbox_digest(items)  # as the sheet shows them (an item may have moved since)
    if store.pending() is not None:
        return  # a change set waits for the next run: a write now would drop it as done
    name = tables.schema.owned_sheet("outbox").sheet_name(tables.lang or "en")
    sheet = ChangeSet()
    sheet.sheets.append(outbox_sheet(items, lang=tables.lang or "en", name=name))
    step("Showing what was delivered in the Outbox sheet")
    kept = getattr(store, "backups", None)
    if hasattr(store, "backups"):  # a file store would back up the workbook for this one sheet: not worth it
        store.backups = 0
    try:
        store.apply(sheet, tables)
    except CrmSheetsError:
        return
    finally:
        if hasattr(store, "backups"):
            store.backups = kept
    box.save_state("outbox_sheet", {"digest": digest}, now)


def transports(tables: Tables) -> dict[str, Any]:
    """Delivery channels from Settings: SMTP when smtp_host is set, the team chat when the environment
    variable named by chat_webhook_env holds a URL (never the workbook), webhooks always. Timeouts and
    per-run budgets (seconds): smtp_timeout, smtp_budget, webhook_timeout, webhook_budget."""
    from crm_sheets.outbox import WEBHOOK_BUDGET, WEBHOOK_TIMEOUT, SmtpSettings, SmtpTransport, WebhookTransport, seconds_setting

    timeout = seconds_setting(tables.setting, "webhook_timeout", WEBHOOK_TIMEOUT)
    budget = seconds_setting(tables.setting, "webhook_budget", WEBHOOK_BUDGET)
    out: dict[str, Any] = {"webhook": WebhookTransport(timeout=timeout, budget=budget)}
    smtp = SmtpSettings.from_settings(tables.setting)
    if smtp is not None:
        out["email"] = SmtpTransport(smtp)
    env = str(tables.setting("chat_webhook_env", "") or "").strip()
    url = os.environ.get(env, "").strip() if env else ""
    if url:
        out["chat"] = WebhookTransport(url, timeout=timeout, budget=budget)  # registers the URL as a secret
    return out
