"""The outbox: side effects (emails, chat posts, webhooks) delivered exactly once, or shown for a person to confirm.

Items live in a SQLite file beside the workbook (transactional, survives crashes). Each item moves
queued -> sending -> sent | failed (retried later, or for good) | unknown. A deliverer claims an item
in one statement (queued -> sending, with its name and a lease), so two deliverers running at once never
send the same item, and records the point of no return (the final "." of SMTP DATA, the HTTP request)
before passing it. An item whose deliverer died (or whose lease ran out) before that point is simply
queued again; after it, an email or chat post becomes `unknown` and is never retried automatically
(SMTP has no idempotency: a silent second copy is worse than a question), while a webhook is posted
again with the same Idempotency-Key. Every text written here is redacted (model/redact.py).

The package: items.py (the item, its states, the Transport protocol, a delivery's report), store.py (the queue,
the jobs' states and a person's actions: Outbox), deliver.py (claims, leases, sending), states.py (job states by
workbook generation), transports.py (SMTP, webhooks, the chat). Imports stay `from crm_sheets.outbox import ...`.
"""
from crm_sheets.outbox.deliver import Delivery
from crm_sheets.outbox.items import (CHAT_WEBHOOK_ENV, IDEMPOTENT_KINDS, LEASE_SECONDS, MAX_ERROR, SMTP_PASSWORD_ENV,
                                     STATUSES, Deferred, DeliveryError, DeliveryReport, OutboxItem, PermanentFailure,
                                     Transport, UncertainDelivery)
from crm_sheets.model.effects import MAX_ATTEMPTS
from crm_sheets.outbox.states import GENERATIONS_TABLE, KEEP_GENERATIONS, KEEP_MEMORIES, JobStates, read_job_states
from crm_sheets.outbox.store import Outbox, open_outbox, outbox_path
from crm_sheets.outbox.transports import (SMTP_BUDGET, SMTP_TIMEOUT, WEBHOOK_BUDGET, WEBHOOK_TIMEOUT, SmtpSettings,
                                          SmtpTransport, WebhookTransport, build_email, seconds_setting)

__all__ = ["CHAT_WEBHOOK_ENV", "GENERATIONS_TABLE", "IDEMPOTENT_KINDS", "KEEP_GENERATIONS", "KEEP_MEMORIES",
           "LEASE_SECONDS", "MAX_ATTEMPTS", "MAX_ERROR", "SMTP_BUDGET", "SMTP_PASSWORD_ENV", "SMTP_TIMEOUT", "STATUSES",
           "WEBHOOK_BUDGET", "WEBHOOK_TIMEOUT", "Deferred", "Delivery", "DeliveryError", "DeliveryReport", "JobStates",
           "Outbox", "OutboxItem", "PermanentFailure", "SmtpSettings", "SmtpTransport", "Transport",
           "UncertainDelivery", "WebhookTransport", "build_email", "open_outbox", "outbox_path", "read_job_states",
           "seconds_setting"]
