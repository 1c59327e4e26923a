"""The dedupe and unmerge jobs: turn match pairs and people's decisions into one change set.

Above Settings dedupe_auto_threshold a pair is merged; between it and dedupe_review_threshold it is
asked once in Duplicate Decisions (a schema table, so the next run reads the answer back: Merge is
applied, Not duplicate is remembered forever). A lead that is already a contact, or works for an
existing account, is linked through its Contact / Account column, never merged across tables.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.errors import UsageError
from crm_sheets.jobs.dedupe.index import KeyMemory
from crm_sheets.jobs.dedupe.keys import know_mobile_kinds, mobile_kinds
from crm_sheets.jobs.dedupe.matching import MatchPair, MatchSettings, OrgPairs, find_pairs
from crm_sheets.jobs.dedupe.matchkeys import PeopleRounds
from crm_sheets.jobs.dedupe.merge import JOB, SURVIVOR_RULES, Clusters, Ranker, plain_value, merge_groups, parse_repointed
from crm_sheets.jobs.dedupe.review import (DECISIONS, REVIEW_DIGEST, SHOWN, SUMMARY, Decision, read_decisions, review_sheet,
                                          sheet_digest, summary, table_of)
from crm_sheets.model import AuditEntry, ChangeSet, Finding, JobResult, RowAppend, RowRestore, Tables
from crm_sheets.model.colhash import share
from crm_sheets.model.result import ALWAYS
from crm_sheets.model.memo import Unkept, finding_from_json, finding_json, row_keys, table_part
from crm_sheets.model.tables import format_id
from crm_sheets.model.values import cell_text, is_blank

_LINK_FIELD = {"contacts": "contact", "accounts": "account"}  # lead column set for a cross-table match


def dedupe(tables: Tables, *, now: datetime, state: dict | None = None) -> JobResult:
    """Merge sure duplicates, link leads to their contact/account, ask about the unsure pairs.

    A dry run is the runner's: it shows this change set and writes nothing, so it counts what a real run does.
    ``state``: what the last run returned. When that run changed nothing and the tables it read are the same
    now (a digest of every record, the settings, lists and review sheet's digest), nothing can have come
    to merge, link or ask: its findings and counts are given again without pairing anyone. Otherwise the
    match keys of the records it saw (index.py) are found again by their cells, and computed only for the
    records that are new or changed: the pairs are the same as without the state.
    """
    # The digest only when it can serve: to compare with a kept result, or to keep one (a run that merges
    # does not hash every table for nothing)
    parts: dict = {}  # each table's digest beside the read's key of the table it was made of, for the state
    inputs = inputs_digest(tables, parts=state.get("parts"), into=parts) \
        if isinstance(state, dict) and state.get("inputs") else None
    kept = _remembered(state, inputs, tables)
    if kept is not None:
        if parts and parts != state.get("parts"):  # (tables read with other keys, of the same cells)
            kept.state = {**state, "parts": parts}
        return kept
    carried = state.get(ROUND) if isinstance(state, dict) else None
    if isinstance(carried, Round):
        memory, org_pairs, people = carried.memory, carried.org_pairs, carried.people
    else:
        memory = KeyMemory(state.get("keys") if isinstance(state, dict) else None)
        know_mobile_kinds(state.get("mobile") if isinstance(state, dict) else None)
        org_pairs = OrgPairs(state.get("orgs") if isinstance(state, dict) else None,
                             state.get("pindex") if isinstance(state, dict) else None)
        people = PeopleRounds()
    # (the runner pauses the garbage collector for it: GC_PAUSED_FOR)
    result = _dedupe(tables, now=now, memory=memory, org_pairs=org_pairs, people=people)
    if result.changes.is_empty():
        result.state = _remember(result, inputs or inputs_digest(tables, into=parts), parts)
        result.state["keys"] = memory.state()
        result.state["orgs"] = org_pairs.state()
        result.state["pindex"] = org_pairs.index_state()
        result.state["mobile"] = mobile_kinds()
    elif result.changes.updates or result.changes.archives or result.changes.restores:
        # records changed: the runner runs dedupe again on the tables as this round left them (runner.SETTLED),
        # and that round starts from this one's keys and organisation pairs, in memory (the runner keeps no
        # key starting with '_'); the keys are packed only by a round that changes nothing, the last one.
        result.state = {ROUND: Round(memory.carried(), org_pairs.carried(), people.after(result.changes))}
    else:
        result.state = {"keys": memory.state(), "orgs": org_pairs.state(), "pindex": org_pairs.index_state(),
                        "mobile": mobile_kinds()}
    return result


ROUND = "_round"


@dataclass(frozen=True)
class Round:
    """What a round of dedupe hands the next round of the same run (never saved)."""

    memory: KeyMemory
    org_pairs: OrgPairs
    people: PeopleRounds  # the people's keys, for the records this round's changes do not touch


_STATE_VERSION = 4  # 4: a digest per table (3: the digest leaves the records' sheet rows out, kept findings placed again)

# The columns of a table that dedupe reads when it merges nothing: the texts of the match keys (matchkeys.py),
# the Contact / Account links, a branch's parent, and what the review sheet and the summaries show (review.py;
# a decision may name a record of any table). A run that merges reads whole rows, but then it changed
# something, and a result that changes something is never given again.
_READ = frozenset({"first_name", "last_name", "email", "phone", "mobile", "country", "city", "company", "website",
                   "address", "name", "contact", "account", "parent", "type"}
                  | {f for fields in (*SHOWN.values(), *SUMMARY.values()) for f in fields})
share(_READ)  # check hashed these columns before dedupe keys them: their hashes are kept (model/colhash.py)


_MATCHED = ("leads", "contacts", "people", "accounts")  # the tables find_pairs reads


def inputs_digest(tables: Tables, *, parts: Any = None, into: dict | None = None) -> str | None:
    """A digest of everything _dedupe reads when it changes nothing: the columns it reads of the tables it
    matches (their values, IDs, order and the raw text kept of their cells; accounts also give contacts their
    company), the whole Duplicate Decisions table with the sheet rows the review sheet links to, the tables a
    decision's record may be in (by its ID's prefix: the review sheet shows it), each table's name, kind and
    ID prefix, the settings, lists, language and the digest of the review sheet in _crm_meta.
    Left out, as nothing that changes nothing reads them: a cell dedupe never reads (a lead's Notes), the
    tables no match or decision names (what automate appends to Activities or Tasks after dedupe), the Merged
    archive, and the sheet rows of records: those show only in the findings' cells, which _remembered places
    again. So the confirming pass on the file as written (rows renumbered where merged records left, the other
    jobs' rows appended) is answered from the run's last round.
    None when a table cannot be keyed (records sharing an ID).

    Made of one digest per table. ``parts``: those of the last run, each beside the read's key of the table it was
    made of (model/memo.py table_token): a table read with that key, whose columns read are still as read, has that
    digest again without its cells being hashed (a person who edited a few leads has only leads hashed, not
    contacts and accounts). ``into`` gets this run's, for the state."""
    h = hashlib.sha256()
    for part in _digest_parts(tables, parts if isinstance(parts, dict) else {}, into):
        if part is None:
            return None
        h.update(part)
    return h.hexdigest()


def _digest_parts(tables: Tables, parts: dict, into: dict | None):
    """The bytes inputs_digest hashes, in order (None: a table cannot be keyed): a head, then a digest per table."""
    yield repr((_STATE_VERSION, tables.lang, sorted(tables.settings.items(), key=str), sorted(tables.lists.items()),
                str(tables.meta.get(REVIEW_DIGEST) or ""),
                [(name, t.schema.kind, t.schema.id_prefix) for name, t in tables.tables.items()])).encode("utf-8", "surrogatepass")
    dec = tables.get(DECISIONS)
    named: set[str] = set()
    if dec is not None:
        for field in ("record_a", "record_b"):
            if field in dec.df.columns:
                named |= {cell_text(v, strip=True).rsplit("-", 1)[0] for v in dec.df[field].unique()}
    for name, t in tables.tables.items():
        if t.schema.kind == "log" or not (name in _MATCHED or name == DECISIONS or (t.schema.id_prefix or None) in named):
            continue
        head = repr((name, t.sheet, tuple(map(str, t.df.columns)), sorted(t.columns.items()), t.next_id,
                     repr(t.schema))).encode("utf-8", "surrogatepass")
        if name == DECISIONS:  # (small, and its sheet rows count: hashed every time)
            keys = row_keys(t, with_rows=False)
            if keys is None:
                yield None
                return
            placed = _review_rows(t)
            yield hashlib.sha256(head + np.concatenate([keys, np.array([placed[r] for r in t.df.index], dtype=np.uint64)])
                                 .tobytes()).digest()
            continue
        columns = [c for c in t.df.columns if c in _READ]
        # (its read key: its values, types, record IDs and kept raw texts, with what else the digest holds of it)
        part = table_part(name, t, columns, head, parts, into, lambda: _table_digest(t, columns, head))
        if part is None:
            yield None
            return
        yield part.encode("ascii")


def _table_digest(t, columns: list[str], head: bytes) -> str | None:
    """A matched table's digest: its columns dedupe reads, by row (of the column hashes check made already:
    model/colhash.py); None when it cannot be keyed."""
    keys = row_keys(t, with_rows=False, columns=columns, kept_fields=_READ)
    return None if keys is None else hashlib.sha256(head + keys.tobytes()).hexdigest()


def _review_rows(dec) -> dict[str, int]:
    """The sheet row of each Duplicate Decisions row, as the review sheet links to it: rows asked by an earlier
    round of this run (the runner runs dedupe again after merges) are not in the sheet yet: they go below its
    last row, in order (as the writer appends them)."""
    rows_of = dict(dec.rows)
    last_row = max(rows_of.values(), default=1)
    for k, row_id in enumerate(rid for rid in dec.df.index if rid not in rows_of):
        rows_of[row_id] = last_row + 1 + k
    return rows_of


def _remember(result: JobResult, inputs: str | None, parts: dict | None = None) -> dict[str, Any]:
    """What the next run needs to give this result again: only a result that changes nothing is kept (with the
    digests of the tables its inputs digest is made of, ``parts``, by the read's keys of those tables)."""
    if inputs is None or not result.changes.is_empty():
        return {}
    try:
        found = [finding_json(f) for f in result.findings]
    except Unkept:
        return {}
    return {"version": _STATE_VERSION, "inputs": inputs, "stats": dict(result.stats), "findings": found,
            **({"parts": parts} if parts else {})}


def _remembered(state: dict | None, inputs: str | None, tables: Tables) -> JobResult | None:
    if inputs is None or not isinstance(state, dict) or state.get("version") != _STATE_VERSION or state.get("inputs") != inputs:
        return None
    try:
        findings = [_placed(finding_from_json(item), tables) for item in state["findings"]]
    except (KeyError, TypeError, ValueError):
        return None
    return JobResult("dedupe", ChangeSet(), findings, stats=dict(state["stats"]), state=state, holds_until=ALWAYS)


def _placed(f: Finding, tables: Tables) -> Finding:
    """A kept finding with its cell where its record is now (the digest leaves sheet rows out). A result that
    changes nothing has cells only on its possible duplicates (the first record's ID cell, as _dedupe puts it);
    any other finding with a cell is not given again (ValueError: the full path runs)."""
    if f.cell is None:
        return f
    t = tables.get(f.table)
    if f.type != "possible-duplicate" or t is None or f.record_id is None:
        raise ValueError(f"a kept {f.type} finding names a cell")
    return replace(f, cell=t.cell(f.record_id, "id"))


def _dedupe(tables: Tables, *, now: datetime, memory: KeyMemory | None = None, org_pairs: OrgPairs | None = None,
            people: PeopleRounds | None = None) -> JobResult:
    s = MatchSettings.from_tables(tables)
    changes, findings = ChangeSet(), []
    rule = str(tables.setting("dedupe_survivor", "oldest") or "oldest").strip().lower()
    if rule not in SURVIVOR_RULES:
        findings.append(Finding("invalid-setting", "warning", "settings", None, "value", rule,
                                f"Settings dedupe_survivor: {rule!r} is not one of {', '.join(SURVIVOR_RULES)}; "
                                f"the oldest record was kept. Fix the setting."))
        rule = "oldest"

    decisions = read_decisions(tables)
    never = {d.key for d in decisions if d.decision == "not_duplicate"}
    kept_apart = len(never)
    if "accounts" in tables and "parent" in tables.df("accounts").columns:
        # A branch and its parent are two accounts on purpose, even through a third one.
        parents = tables.df("accounts")["parent"]
        never |= {frozenset((str(c), str(p))) for c, p in parents.items() if not is_blank(p)}
    asked = {d.key: d for d in decisions}
    dec = tables.get(DECISIONS)
    decisions_sheet = (dec.sheet if dec is not None and dec.sheet else
                       tables.schema.tables[DECISIONS].sheet_name(tables.lang) if DECISIONS in tables.schema.tables else DECISIONS)
    pairs = [p for p in find_pairs(tables, s, memory=memory, org_pairs=org_pairs, rounds=people) if p.key not in never]
    stats: dict[str, Any] = {"pairs_found": len(pairs), "kept_apart": kept_apart}

    # 1. what to merge: sure pairs, then people's Merge decisions
    clusters: dict[str, Clusters] = {}
    why: dict[str, str] = {}
    links: list[tuple[MatchPair | None, str, str, str]] = []  # (pair, lead, target table, target id)
    done_rows: list[Decision] = []
    for p in pairs:
        if p.score < s.auto:
            continue
        if p.cross:
            links.append((p, p.id_a, p.table_b, p.id_b))
            continue
        if clusters.setdefault(p.table_a, Clusters(never)).union(p.id_a, p.id_b):
            why.setdefault(p.id_b, f"duplicate of {p.id_a}, {p.explain()}")
            why.setdefault(p.id_a, f"duplicate of {p.id_b}, {p.explain()}")
        if p.key in asked and not asked[p.key].applied:
            done_rows.append(asked[p.key])
    for d in decisions:
        if d.decision != "merge" or d.applied:
            continue
        ta, tb = table_of(tables, d.record_a), table_of(tables, d.record_b)
        done_rows.append(d)
        if ta is None or tb is None:
            continue  # one of them is gone already (merged or deleted): nothing left to do
        if ta == tb and ta in ("leads", "contacts", "accounts", "people"):
            if clusters.setdefault(ta, Clusters(never)).union(d.record_a, d.record_b):
                note = f"decided in {decisions_sheet} {d.row_id}"
                why[d.record_b] = f"duplicate of {d.record_a}, {note}"
                why.setdefault(d.record_a, f"duplicate of {d.record_b}, {note}")
        elif {ta, tb} in ({"leads", "contacts"}, {"leads", "accounts"}):
            lead, other = (d.record_a, d.record_b) if ta == "leads" else (d.record_b, d.record_a)
            links.append((None, lead, tb if ta == "leads" else ta, other))

    # 2. merge each group into its survivor
    merged_into: dict[str, str] = {}
    for table, cl in clusters.items():
        sheet = tables[table].sheet or tables[table].schema.sheet_name(tables.lang)
        groups = cl.groups()
        ranker = Ranker(tables, table, (r for g in groups for r in g), rule)
        for info in merge_groups(tables, table, [ranker.rank(g) for g in groups], now=now, why=why, changes=changes):
            merged_into[info["record"]] = info["merged_into"]
            findings.append(Finding(
                "duplicate-merged", "info", table, info["record"], None, info["merged_into"],
                f"{sheet} {info['record']} merged into {info['merged_into']} ({info['reason']}); "
                f"crm-sheets unmerge {info['record']} undoes it.",
                cell=tables[table].cell(info["record"], "id"),
            ))
    stats["merged"] = len(merged_into)

    # 3. link leads to the contact they already are / the account they work for
    set_now: dict[tuple[str, str], str] = {}
    linked = 0
    leads = tables.get("leads")
    # the Contact and Account cells, as they are, of the leads a link names (read once: a large list links
    # thousands of leads; a run that links none reads none of them)
    named = leads.df.index.isin({merged_into.get(lead, lead) for _, lead, _, _ in links}) if leads is not None and links else None
    linked_now = {f: ({r: not is_blank(v) for r, v in leads.df[f][named].items()} if named is not None else {})
                  for f in _LINK_FIELD.values() if leads is not None and f in leads.df.columns}
    headers = {f: leads.schema.field(f).header(tables.lang) for f in linked_now} if leads is not None else {}
    for p, lead, target_table, target in links:
        lead = merged_into.get(lead, lead)
        field = _LINK_FIELD[target_table]
        if field not in linked_now or lead not in linked_now[field]:
            continue
        if linked_now[field][lead] or (lead, field) in set_now:
            continue  # already linked (by a person or an earlier run): never overwritten
        why_text = p.explain() if p else f"decided in {decisions_sheet}"
        reason = f"{lead} is {target} ({why_text})"
        changes.update("leads", lead, field, target, before=None, reason=reason)
        changes.audit.append(AuditEntry(JOB, "leads", lead, field, None, target, reason))
        set_now[(lead, field)] = target
        linked += 1
        kind = "lead-is-contact" if target_table == "contacts" else "lead-at-account"
        where = leads.cell(lead, field)
        findings.append(Finding(kind, "info", "leads", lead, field, target,
                                f"{where}: this lead {'is already contact' if field == 'contact' else 'works for account'} "
                                f"{target} ({why_text}); linked in the {headers[field]} column.",
                                cell=where))
    stats["linked"] = linked

    # 4. the unsure pairs: asked once in Duplicate Decisions
    for d in done_rows:
        if dec is not None and d.row_id in dec.df.index:
            changes.update(DECISIONS, d.row_id, "applied", now, before=None, reason="decision applied")
    stats["decisions_applied"] = sum(1 for d in done_rows if d.decision == "merge")
    new_rows: list[Decision] = []
    next_id = dec.next_id if dec is not None else 1
    seen: set[frozenset[str]] = set()
    for p in pairs:
        if p.score >= s.auto or p.score < s.review:
            continue
        a, b = merged_into.get(p.id_a, p.id_a), merged_into.get(p.id_b, p.id_b)
        key = frozenset((a, b))
        if a == b or key in asked or key in never or key in seen:
            continue
        if p.cross and leads is not None:
            field = _LINK_FIELD[p.table_b]
            if (a, field) in set_now or (field in leads.df.columns and not is_blank(leads.df.at[a, field])):
                continue  # the lead is linked already
        seen.add(key)
        row_id = format_id(tables[DECISIONS].schema.id_prefix, next_id) if dec is not None else f"new-{len(new_rows) + 1}"
        next_id += 1
        new_rows.append(Decision(row_id, a, b, "", False, p.score, "; ".join(p.reasons)))
        findings.append(Finding("possible-duplicate", "warning", p.table_a, a, None, b,
                                f"{tables[p.table_a].sheet or p.table_a} {a} and {b} may be the same "
                                f"({p.explain()}); pick Merge or Not duplicate in {decisions_sheet} {row_id}.",
                                cell=tables[p.table_a].cell(a, "id")))
    if dec is not None:
        for d in new_rows:
            ta, tb = table_of(tables, d.record_a), table_of(tables, d.record_b)
            values = {
                "record_a": d.record_a, "summary_a": summary(tables, ta, d.record_a) if ta else "",
                "record_b": d.record_b, "summary_b": summary(tables, tb, d.record_b) if tb else "",
                "score": d.score, "reason": d.reason, "decision": None, "asked": now, "applied": None,
            }
            changes.appends.append(RowAppend(DECISIONS, d.row_id, values))
        if new_rows:
            changes.sequences[DECISIONS] = next_id
    elif new_rows:
        findings.append(Finding("missing-table", "warning", DECISIONS, None, None, None,
                                "This workbook has no Duplicate Decisions sheet, so review decisions cannot be kept; "
                                "run crm-sheets upgrade to add it."))
    stats["review"] = len(new_rows)

    # 5. the Duplicates Review sheet: every undecided pair, side by side
    pending = [d for d in decisions if not d.decision and not d.applied and d.key not in never
               and all(table_of(tables, r) and r not in merged_into for r in (d.record_a, d.record_b))] + new_rows
    rows_of = _review_rows(dec) if dec is not None else {}
    last_row = max(rows_of.values(), default=1)
    # this round's new rows go below those (as the writer appends them)
    for k, row_id in enumerate([d.row_id for d in new_rows if d.row_id not in rows_of]):
        rows_of[row_id] = last_row + 1 + k
    sheet = review_sheet(tables, pending, rows_of)
    digest = sheet_digest(sheet)
    if str(tables.meta.get(REVIEW_DIGEST) or "") != digest:
        # Rewritten only when it would show something else than what the last run wrote: a run that
        # finds nothing new leaves the workbook untouched.
        changes.sheets.append(sheet)
        changes.meta[REVIEW_DIGEST] = digest
    stats["review_sheet"] = "rewritten" if changes.sheets else "unchanged"
    stats["pending_review"] = len(pending)
    return JobResult("dedupe", changes, findings, stats=stats, holds_until=ALWAYS)  # pairs do not age


def unmerge(tables: Tables, record_id: str, *, now: datetime) -> JobResult:
    """Put a merged record back: its row, every reference moved away from it, the fields it filled.

    The pair is then remembered as 'not duplicate', so the next dedupe does not merge it again.
    """
    arch = tables.get("merged")
    df = arch.df if arch is not None else pd.DataFrame()
    if df.empty or "record" not in df.columns:
        raise UsageError(f"{record_id} was not merged: the Merged sheet is empty", hint="check the ID in the Merged sheet")
    rows = df[df["record"].astype(str).str.strip() == record_id]
    if rows.empty:
        raise UsageError(f"{record_id} is not in the Merged sheet", hint="unmerge takes the ID of a merged record, as shown in its Record column")
    if "merged_at" in rows.columns:
        rows = rows.sort_values("merged_at", kind="stable")
    row = rows.iloc[-1]
    table, survivor = cell_text(row.get("table"), strip=True), cell_text(row.get("merged_into"), strip=True)
    if table not in tables:
        raise UsageError(f"{record_id}: the Merged sheet says table {table!r}, which this workbook does not have")
    changes, findings = ChangeSet(), []
    changes.restores.append(RowRestore("merged", record_id, table))
    changes.audit.append(AuditEntry(JOB, table, record_id, "", f"merged into {survivor}", "restored", "unmerge"))
    moved_back = 0
    for ref_table, rid, field in parse_repointed(cell_text(row.get("repointed"))):
        t = tables.get(ref_table)
        if t is None or rid not in t.df.index or field not in t.df.columns:
            continue
        if cell_text(t.df.at[rid, field], strip=True) != survivor:
            findings.append(Finding("unmerge-kept", "warning", ref_table, rid, field, t.df.at[rid, field],
                                    f"{t.cell(rid, field)} now holds {t.df.at[rid, field]!r}, not {survivor}: "
                                    f"someone changed it since the merge, so it was left as it is."))
            continue
        reason = f"unmerge {record_id} from {survivor}"
        changes.update(ref_table, rid, field, record_id, before=survivor, reason=reason)
        changes.audit.append(AuditEntry(JOB, ref_table, rid, field, survivor, record_id, reason))
        moved_back += 1
    emptied = 0
    filled = cell_text(row.get("filled"), strip=True)
    if filled and survivor in tables[table].df.index:
        try:
            values = json.loads(filled)
        except ValueError:
            values = {}
        for field, value in values.items():
            if field not in tables[table].df.columns:
                continue
            now_value = tables[table].df.at[survivor, field]
            if plain_value(now_value) == value:
                reason = f"unmerge {record_id}: the value came from it"
                changes.update(table, survivor, field, None, before=now_value, reason=reason)
                changes.audit.append(AuditEntry(JOB, table, survivor, field, now_value, None, reason))
                emptied += 1
    _remember_apart(tables, record_id, survivor, now, changes)
    stats = {"restored": 1, "references_moved_back": moved_back, "fields_emptied": emptied, "table": table,
             "survivor": survivor}
    return JobResult("unmerge", changes, findings, stats=stats)


def _remember_apart(tables: Tables, record_id: str, survivor: str, now: datetime, changes: ChangeSet) -> None:
    """Record 'not duplicate' for the pair, so that dedupe never merges it again."""
    dec = tables.get(DECISIONS)
    if dec is None:
        return
    key = frozenset((record_id, survivor))
    for d in read_decisions(tables):
        if d.key == key:
            changes.update(DECISIONS, d.row_id, "decision", "not_duplicate", before=d.decision or None,
                           reason=f"unmerge {record_id}")
            return
    row_id = format_id(dec.schema.id_prefix, dec.next_id)
    changes.appends.append(RowAppend(DECISIONS, row_id, {
        "record_a": survivor, "record_b": record_id, "decision": "not_duplicate", "asked": now, "applied": now,
        "reason": f"unmerged by a person on {now:%Y-%m-%d}",
    }))
    changes.sequences[DECISIONS] = dec.next_id + 1
