"""automate(): scoring, assignment, workflow automations, sequences and digests in one pure pass.

Order matters and is fixed: scores and owners first (so emails can name the owner), then the
Automations rows in sheet order, then drip sequences (which may include members just added). The
returned state is the new snapshot plus the keys that fired (less those that can never fire again, see
prune.py); the runner stores it beside the workbook.
"""
from __future__ import annotations

import copy
from datetime import datetime

from crm_sheets.jobs.automate.actions import MEMBER_LINK
from crm_sheets.jobs.automate.assignment import assign_owners
from crm_sheets.jobs.automate.context import Run, working_copy
from crm_sheets.jobs.automate.evaluated import Evaluated
from crm_sheets.jobs.automate.prune import prune_fired
from crm_sheets.jobs.automate.scoring import score_leads
from crm_sheets.jobs.automate.sequences import advance_sequences, compile_sequences
from crm_sheets.jobs.automate.snapshot import take
from crm_sheets.jobs.automate.workflows import compile_automations, run_automations, watched
from crm_sheets.model import JobResult, Tables
from crm_sheets.model.result import next_midnight
from crm_sheets.model.normalize import fold

STATE_VERSION = 1


def automate(tables: Tables, *, now: datetime, state: dict | None = None, dry_run: bool = False) -> JobResult:
    """Run every automation rule of the workbook on ``tables`` as of ``now``.

    ``state`` is what the previous run returned (None on a first run). With ``dry_run`` the result is
    computed the same way but the returned state is the one given, so nothing counts as done.
    """
    # Read only (the snapshot of 100,000 leads is not copied): what the run changes is copied into Run below.
    prev = state if state else {}
    run = Run(working_copy(tables), now, state={"round_robin": dict(prev.get("round_robin") or {})},
              fired=dict(prev.get("fired") or {}))
    score_leads(run)
    assign_owners(run)
    automations = compile_automations(run)
    memory = Evaluated(run, prev, automations)
    run_automations(run, automations, prev, memory)
    run.flush()
    awaited = {fold(a.template) for a in automations if a.action == "add_to_campaign" and a.table in MEMBER_LINK}
    advance_sequences(run, compile_sequences(run, awaited))
    run.flush()
    periodic = {a.key for a in automations if a.trigger in ("schedule", "date_reached")}
    fired, dropped = prune_fired(run.fired, run.tables, run.today.date(), periodic=periodic)
    if dropped:
        run.count("fired_keys_pruned", dropped)
    new_state = {
        "version": STATE_VERSION,
        "last_run": now.isoformat(timespec="seconds"),
        "tables": take(run.tables, watched(automations)),
        "fired": fired,
        "round_robin": run.state["round_robin"],
        "evaluated": memory.state(),
    }
    result = JobResult(job="automate", changes=run.changes, findings=run.findings, effects=run.effects,
                       stats=dict(sorted(run.stats.items())), state=copy.deepcopy(prev) if dry_run else new_state)
    result.stats["dry_run"] = dry_run
    # Every time-based trigger and condition reads "today" by the day (quiet periods, dates reached, schedules,
    # sequences' due days, within-N-days): nothing can fire before the next midnight on the same tables.
    result.holds_until = next_midnight(now)
    return result
