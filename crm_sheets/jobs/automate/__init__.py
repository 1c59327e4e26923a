"""The automate job: the rules people edit in sheets — scoring, routing, follow-ups, emails, digests.

rules.py compiles conditions; scoring, assignment, workflows (+ actions), sequences and reminders
apply them; templates.py renders emails; outbox_sheet.py shows the outbox. Pure: model in, JobResult out.
"""
from crm_sheets.jobs.automate.job import automate
from crm_sheets.jobs.automate.outbox_sheet import outbox_sheet

__all__ = ["automate", "outbox_sheet"]
