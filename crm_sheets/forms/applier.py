"""The applier: moves journal entries into the workbook through the store, in batches, exactly once.

Entries are applied in ID order; the last applied ID is written into the workbook (``_crm_meta``
``forms.applied``) in the same atomic write as the rows, so after a kill between the write and
``Journal.mark`` the next round finds them applied instead of adding them again. A submission that
matches an existing record (the dedupe job's matching, at its automatic threshold) updates that
record (empty fields filled, ticked boxes ticked) instead of adding a duplicate; every submission is
logged as an Activity, which is how the next automate run fires "Form submitted" for updated records.
While the workbook is open in Excel or LibreOffice, or another run writes it, entries wait.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from crm_sheets.errors import CrmSheetsError, WorkbookBusy, WorkbookChanged
from crm_sheets.forms.journal import Entry, Journal
from crm_sheets.model.changeset import ChangeSet, RowAppend
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.tables import Table, Tables
from crm_sheets.model.values import as_text, is_blank, literal

log = logging.getLogger(__name__)
META_KEY = "forms.applied"  # _crm_meta: "<journal ident>:<last entry ID written into the workbook>"
DEFAULT_BATCH = 500
KEEP_DAYS = 7  # applied entries stay this long in the journal (longer than a form token lives)
PRUNE_EVERY = 3600.0


@dataclass
class ApplyOutcome:
    applied: list[tuple[int, str, str | None, str | None]] = field(default_factory=list)  # (entry, status, record, note)
    settled: int = 0  # entries found already in the workbook (a kill before they were marked)
    waiting: int = 0  # entries left for a later round
    busy: str = ""  # why nothing was written, when the workbook was busy

    @property
    def created(self) -> list[str]:
        return [r for _, s, r, n in self.applied if s == "applied" and n == "new"]


def last_applied(tables: Tables, ident: str) -> int:
    """The last entry of the journal ``ident`` written into the workbook (0: none of this journal's)."""
    owner, _, number = str(tables.meta.get(META_KEY) or "").rpartition(":")
    if owner != ident:
        return 0
    try:
        return int(number)
    except ValueError:
        return 0


def apply_waiting(workbook: str | Path, journal: Journal, *, now: datetime | None = None,
                  batch: int = DEFAULT_BATCH, store_options: dict | None = None) -> ApplyOutcome:
    """One round: read the workbook, write up to ``batch`` waiting entries into it, mark them applied."""
    from crm_sheets.store import open_store
    from crm_sheets.store.safety import office_lock_holder

    out = ApplyOutcome()
    entries = journal.waiting(batch)
    if not entries:
        return out
    holder = office_lock_holder(workbook)
    if holder is not None:  # checked first, so a busy workbook gets no pending change set from us
        out.busy, out.waiting = f"{Path(workbook).name} is open by {holder}", len(entries)
        return out
    now = now or datetime.now().replace(microsecond=0)
    store = open_store(workbook, **(store_options or {}))
    try:
        tables = store.read()
        base = store.pending()
        if base is not None:  # a change set a busy run left: written with ours, as the runner does
            base.apply_to(tables)
        ident = journal.ident()
        done = last_applied(tables, ident)
        if any(e.id <= done for e in entries):
            out.settled = journal.settle_through(done)
            entries = [e for e in entries if e.id > done]
            if not entries:
                if base is not None:  # they were only in the pending change set: write it now
                    store.apply(base, tables)
                return out
        try:
            changes, outcomes = plan(tables, entries, now)
        except Exception as e:  # one entry the workbook cannot take must not hold back the others
            if len(entries) > 1:
                return apply_waiting(workbook, journal, now=now, batch=1, store_options=store_options)
            log.exception("forms: entry %s cannot be applied", entries[0].id)
            outcome = (entries[0].id, "rejected", None, f"could not be applied: {type(e).__name__}: {e}")
            journal.mark([outcome])
            out.applied = [outcome]
            return out
        changes.meta[META_KEY] = f"{ident}:{max(e.id for e in entries)}"
        merged = ChangeSet().extend(base).extend(changes) if base is not None else changes
        store.apply(merged, tables)
    except (WorkbookBusy, WorkbookChanged) as e:
        out.busy, out.waiting = e.message, len(entries)
        return out
    journal.mark(outcomes)
    out.applied = outcomes
    return out


# ---------------------------------------------------------------------------------------------
# Planning the change set (pure: tables and entries in)


def plan(tables: Tables, entries: list[Entry], now: datetime) -> tuple[ChangeSet, list[tuple[int, str, str | None, str | None]]]:
    """The change set that writes ``entries`` and each entry's outcome (entry ID, status, record, note)."""
    changes = ChangeSet()
    outcomes: list[tuple[int, str, str | None, str | None]] = []
    by_table: dict[str, list[tuple[Entry, dict[str, Any]]]] = {}
    for e in entries:
        name = e.values.get("table")
        t = tables.get(name) if isinstance(name, str) else None
        if t is None or not t.schema.id_prefix:
            outcomes.append((e.id, "rejected", None, f"the workbook has no table {name!r}"))
            continue
        by_table.setdefault(name, []).append((e, _typed(t, e.values.get("fields") or {})))
    for name, items in by_table.items():
        t = tables[name]
        target = _matches(tables, name, items)
        created: dict[int, str] = {}  # entry -> new record ID
        for e, values in items:
            match = target.get(e.id)
            if match is not None and match[0] == "entry":  # an earlier submission of this batch
                match = ("record", created.get(match[1]) or target.get(match[1], (None, None))[1])
            if match is not None and match[1] is not None:
                rid = match[1]
                notes = _update(changes, tables, t, rid, values, created, now)
                outcomes.append((e.id, "applied", rid, "updated"))
            else:
                rid = t.allocate_id()
                created[e.id] = rid
                changes.appends.append(RowAppend(name, rid, _new_row(tables, t, values, e, now)))
                notes = []
                outcomes.append((e.id, "applied", rid, "new"))
            _log_activity(changes, tables, t, rid, e, values, notes, now)
        changes.sequences[name] = t.next_id
    return changes, outcomes


def _typed(t: Table, fields: dict[str, Any]) -> dict[str, Any]:
    """The journal's JSON values as the table's types (dates back to datetimes); unknown fields dropped."""
    out = {}
    for name, value in fields.items():
        if not t.schema.has_field(name) or value is None:
            continue
        if field_type(t.schema.field(name).type).temporal and isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                continue
        elif isinstance(value, str):  # JSON keeps no marker: formula-looking text is marked literal again
            value = literal(value)
        out[name] = value
    return out


def _matches(tables: Tables, name: str, items: list[tuple[Entry, dict[str, Any]]]) -> dict[int, tuple[str, Any]]:
    """entry ID -> ('record', existing ID) or ('entry', earlier entry ID) for submissions that are duplicates,
    by the dedupe job's own matching at its automatic-merge threshold."""
    if name not in ("leads", "contacts", "people"):
        return {}
    from crm_sheets.jobs.dedupe import MatchSettings, find_pairs

    t = tables[name]
    probe_ids = [f"FORM-{e.id}" for e, _ in items]
    rows = pd.DataFrame([{c: v.get(c) for c in t.df.columns} for _, v in items], index=pd.Index(probe_ids, dtype=object),
                        columns=t.df.columns, dtype=object)
    df = pd.concat([t.df.astype(object), rows]) if len(t.df) else rows
    probe = Tables(schema=tables.schema, tables={name: Table(schema=t.schema, df=df, sheet=t.sheet)}, lang=tables.lang,
                   settings=tables.settings, lists=tables.lists, meta=tables.meta, date1904=tables.date1904)
    try:
        settings = MatchSettings.from_tables(tables)
        pairs = find_pairs(probe, settings, floor=settings.auto, tables_to_match=(name,))
    except Exception:  # a duplicate the next dedupe run merges is better than submissions that never go in
        log.exception("forms: matching the submissions against %s failed; they are added as new records", name)
        return {}
    order = {pid: i for i, pid in enumerate(probe_ids)}
    best: dict[int, tuple[float, tuple[str, Any]]] = {}
    for p in pairs:
        if p.table_a != name or p.table_b != name:
            continue
        for mine, other in ((p.id_a, p.id_b), (p.id_b, p.id_a)):
            if mine not in order:
                continue
            if other in order:
                if order[other] >= order[mine]:
                    continue  # the later submission joins the earlier one, not the other way round
                target = ("entry", int(other.split("-", 1)[1]))
            else:
                target = ("record", other)
            eid = int(mine.split("-", 1)[1])
            # an existing record beats an earlier submission of the batch; then the best score wins
            rank = (p.score + (1.0 if target[0] == "record" else 0.0), target)
            if eid not in best or rank[0] > best[eid][0]:
                best[eid] = rank
    return {eid: target for eid, (_, target) in best.items()}


def _new_row(tables: Tables, t: Table, values: dict[str, Any], e: Entry, now: datetime) -> dict[str, Any]:
    row = dict(values)
    for f in t.schema.fields:
        if f.name in row or f.type == "id":
            continue
        if f.name == "created" and field_type(f.type).temporal:
            row[f.name] = now if field_type(f.type).with_time else datetime(now.year, now.month, now.day)
        elif f.name == "source" and f.list and "web_form" in tables.list(f.list).keys():
            row[f.name] = "web_form"
        elif f.required and field_type(f.type).options and not field_type(f.type).multiple and f.list:
            keys = tables.list(f.list).keys()
            row[f.name] = keys[0] if keys else None
    return row


def _update(changes: ChangeSet, tables: Tables, t: Table, rid: str, values: dict[str, Any],
            created: dict[int, str], now: datetime) -> list[str]:
    """Fill the record's empty fields from the submission and tick what the visitor ticked; never
    overwrite what is there. Returns the lines for the Activity: what the form said that differs."""
    notes = []
    appended = next((a for a in reversed(changes.appends) if a.table == t.name and a.record_id == rid), None)
    for name, value in values.items():
        if appended is not None:
            before = appended.values.get(name)
        elif rid in t.df.index and name in t.df.columns:
            before = t.df.at[rid, name]
        else:
            continue
        if isinstance(before, pd.Series):  # an ID twice in a hand-made sheet: the first row
            before = before.iloc[0]
        f = t.schema.field(name)
        if field_type(f.type).boolean:
            if value is True and before is not True:
                _set(changes, tables, t, rid, name, True, before, appended, now)
            continue
        if is_blank(before):
            _set(changes, tables, t, rid, name, value, None, appended, now)
        elif _shown(before) != _shown(value):
            notes.append(f"{f.header(tables.lang or 'en')}: the form said {_shown(value)} (kept {_shown(before)})")
    return notes


def _set(changes: ChangeSet, tables: Tables, t: Table, rid: str, name: str, value: Any, before: Any,
         appended: RowAppend | None, now: datetime) -> None:
    if appended is not None:  # a record this batch adds: its row gets the value
        values = dict(appended.values)
        values[name] = value
        changes.appends[changes.appends.index(appended)] = RowAppend(appended.table, appended.record_id, values)
        return
    changes.update(t.name, rid, name, value, before=before, reason="web form")
    if "audit_log" in tables:
        changes.appends.append(RowAppend("audit_log", "", {
            "at": now, "job": "forms", "table": t.name, "record": rid, "field": name,
            "before": "" if is_blank(before) else _shown(before), "after": _shown(value), "reason": "web form submission",
        }))


def _shown(value: Any) -> str:
    if is_blank(value):
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return as_text(value)


def _log_activity(changes: ChangeSet, tables: Tables, t: Table, rid: str, e: Entry, values: dict[str, Any],
                  notes: list[str], now: datetime) -> None:
    acts = tables.get("activities")
    if acts is None or not acts.schema.id_prefix:
        return
    link = next((f.name for f in acts.schema.fields if field_type(f.type).links_to == "record" and f.reference == t.name), None)
    if link is None:
        return
    lang = tables.lang or "en"
    lines = [f"{t.schema.field(k).header(lang)}: {_shown(v)}" for k, v in values.items() if not is_blank(v)]
    title = str(e.values.get("title") or e.form)
    when = (e.received.astimezone().replace(tzinfo=None) if e.received.tzinfo else e.received).replace(microsecond=0)
    row: dict[str, Any] = {link: rid, "date": when,
                           "subject": f"{title} (form entry {e.id})",
                           "summary": "\n".join(lines + notes)}
    for name, key in (("type", "form"), ("channel", "web"), ("direction", "inbound")):
        f = next((x for x in acts.schema.fields if x.name == name), None)
        if f is not None and f.list and key in tables.list(f.list).keys():
            row[name] = key
    changes.appends.append(RowAppend("activities", acts.allocate_id(), row))
    changes.sequences["activities"] = acts.next_id


# ---------------------------------------------------------------------------------------------
# The background thread of a server


class Applier(threading.Thread):
    """Runs ``apply_waiting`` every ``interval`` seconds, and soon after ``wake()``; a busy workbook waits."""

    def __init__(self, workbook: str | Path, journal: Journal, *, interval: float = 5.0, batch: int = DEFAULT_BATCH,
                 on_round: Callable[[ApplyOutcome], None] | None = None, store_options: dict | None = None):
        super().__init__(name="crm-sheets-forms-applier", daemon=True)
        self.workbook, self.journal, self.interval, self.batch = Path(workbook), journal, interval, batch
        self.on_round = on_round
        self.store_options = store_options
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.last: ApplyOutcome | None = None
        self.last_error: str = ""
        self._pruned = 0.0

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float | None = 30) -> None:
        self._stop.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            more = self.round()
            while more and not self._stop.is_set():  # a full batch: more are waiting
                more = self.round()

    def round(self) -> bool:
        if time.monotonic() - self._pruned > PRUNE_EVERY:  # applied entries are in the workbook: the journal stays small
            self._pruned = time.monotonic()
            try:
                self.journal.prune(KEEP_DAYS)
            except Exception:
                log.exception("forms: pruning the journal failed")
        try:
            outcome = apply_waiting(self.workbook, self.journal, batch=self.batch, store_options=self.store_options)
        except CrmSheetsError as e:
            self.last_error = e.message
            log.warning("forms: %s", e)
            return False
        except Exception as e:  # a bug must not stop the intake: entries stay in the journal
            self.last_error = f"{type(e).__name__}: {e}"
            log.exception("forms: applying the journal failed")
            return False
        self.last, self.last_error = outcome, outcome.busy
        if self.on_round is not None:
            self.on_round(outcome)
        return not outcome.busy and len(outcome.applied) + outcome.settled >= self.batch
