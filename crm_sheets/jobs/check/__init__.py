"""The check job: validate every record against the schema, fix what is safe, list the rest in Data Issues.

Pure: `check(tables, now=..., fix=..., state=...)` reads the in-memory tables and returns a JobResult
(findings, cell updates with their audit entries, the Data Issues sheet, and as its state the phone
verdicts for the next run). Nothing here touches a file.
"""
from __future__ import annotations

from collections import Counter
from itertools import repeat
from dataclasses import replace
from datetime import datetime
from typing import Mapping

import numpy as np
import pandas as pd

from crm_sheets.jobs.check.common import SEVERITY_RANK, Collector, Context
from crm_sheets.jobs.check.dates import check_dates, reads
from crm_sheets.jobs.check.fields import check_column, check_constraints, check_required, text_check
from crm_sheets.jobs.check.limits import check_cell_limits, over_limit
from crm_sheets.jobs.check.memory import RowMemory, TablePlan, rows_where
from crm_sheets.jobs.check.links import (check_duplicate_ids, check_id_shapes, check_ids, check_reference, check_unique,
                                         check_user)
from crm_sheets.jobs.check.options import VOCABULARY, check_dropdown, check_tags
from crm_sheets.jobs.check.rule_sheets import check_rules
from crm_sheets.jobs.check.sheet import data_issues_digest, data_issues_sheet
from crm_sheets.model.stamp import STAMP, stamped, still_shown
from crm_sheets.jobs.check.unreadable import check_invalid, check_typed_text
from crm_sheets.model import AuditEntry, CellUpdate, Finding, JobResult, OptionAdd, RowAppend, Table, Tables
from crm_sheets.model.result import next_midnight
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import PhoneBook
from crm_sheets.model.schema import Field

__all__ = ["check", "find_problems", "fixes_for", "REASONS"]

# What the audit log says for each kind of fix.
REASONS = {
    "extra-spaces": "trimmed extra spaces",
    "name-case": "wrote the name in Title Case",
    "email-format": "wrote the email address in lower case, without spaces",
    "phone-format": "wrote the phone number in international form (E.164)",
    "country-format": "wrote the country's usual name",
    "option-spelling": "wrote the option as spelt in its list",
    "tag-spelling": "wrote the tags as spelt in their list",
    "user-spelling": "wrote the name as spelt in Team",
    "reference-format": "wrote the record ID in full",
    "email-typo": "corrected a common typo in the email's domain",
    "unknown-option": "wrote the only option the value can mean",
    "date-as-text": "converted a date typed as text to a real date",
    "number-as-text": "converted a number typed as text to a real number",
    "checkbox-as-text": "converted text to a ticked or unticked box",
}
# How a team writes what is valid: in an adopted workbook theirs, listed and rewritten only by check --fix.
TEAM_FORMATS = frozenset({"phone-format", "country-format", "name-case", "date-as-text", "number-as-text",
                          "checkbox-as-text"})
# Rule sheets whose Operator column is checked by rule_sheets.py (as 'bad-rule'), not as a plain dropdown.
_RULE_OPERATOR_TABLES = frozenset({"scoring_rules", "assignment_rules"})


def check(tables: Tables, *, now: datetime, fix: bool = False, state: dict | None = None,
          reformat: bool | None = None) -> JobResult:
    """Find the data's problems; with ``fix``, also return the safe fixes and report what remains.

    ``reformat``: in a workbook crm-sheets did not make (adopted), the team's formats are theirs (valid
    phone numbers, country names in their language, names in capitals, dates or numbers typed as text:
    TEAM_FORMATS): left as typed, and not listed, unless asked (``check --fix``); then they are tidied,
    phone numbers only when they read the same in any country (with their country code, or on a row
    naming its country).

    ``state``: the ``result.state`` of an earlier check. It holds phone verdicts (validating 130,000
    numbers is most of a 100k-lead check), so numbers seen before are not parsed again, and the rows
    checked (memory.py), so rows nobody changed are not checked again; the findings are the same with
    or without it.
    """
    # Of the run: the second pass of --fix reuses what the first found.
    phones, verdicts = PhoneBook((state or {}).get("phones")), {}
    memory = RowMemory((state or {}).get("rows"))
    across = AcrossRows()
    findings = find_problems(tables, now=now, phones=phones, verdicts=verdicts, reformat=reformat, memory=memory,
                             across=across)
    result = JobResult(job="check")
    shown_tables = tables
    if fix:
        updates = fixes_for(findings, tables)
        result.changes.updates.extend(updates)
        result.changes.audit.extend(
            AuditEntry("check", u.table, u.record_id, u.field, u.before, u.value, u.reason) for u in updates
        )
        if updates:  # what remains is what the next run would find: check the fixed data again
            shown_tables = _with_updates(tables, updates)
            phones.start_pass()
            across.fixed(updates)
            del findings  # the first pass's (100,000 at 30k leads) go before the second pass makes its own
            findings = find_problems(shown_tables, now=now, phones=phones, verdicts=verdicts, reformat=reformat,
                                     memory=memory, across=across)
        result.stats["fixed"] = len(updates)
    result.findings = findings
    severities = Counter(f.severity for f in findings)
    for severity in SEVERITY_RANK:
        result.stats[severity] = severities.get(severity, 0)
    result.stats["fixable"] = sum(1 for f in findings if f.fixable)
    options, stages = vocabulary(findings, tables)
    result.changes.options.extend(options)
    result.changes.appends.extend(stages)
    # a value added to a list is a note of this run, not an issue to list: the next run no longer finds it
    # it says when what it lists last changed, so a run that finds the same leaves it (and the file) as it is
    # and when it would show exactly what it shows, it is not laid out at all (its state keeps a digest of it)
    # and when its findings are those it was laid out from (their key: memory.py's findings_key, made without
    # going through every finding), its digest is not made either
    issues = [f for f in findings if f.type != VOCABULARY]
    before = (state or {}).get("sheet") or {}
    key = memory.findings_key(shown_tables, issues)
    if key is not None and isinstance(before, dict) and before.get("findings") == key and before.get("inputs") \
            and still_shown(before, before["inputs"], tables):
        sheets, sheet_state = [], dict(before)
    else:
        ranked: dict = {}
        shown = data_issues_digest(shown_tables, issues, keep=ranked)
        if still_shown(before, shown, tables):
            sheets, sheet_state = [], dict(before)
        else:
            # the sheet's digest for its stamp is that of what it shows (``shown``), not of its laid-out rows
            sheets, sheet_state = stamped([data_issues_sheet(shown_tables, issues, now, stamp=STAMP,
                                                             shown_order=ranked.get("order"))], now, before,
                                          digests={"data_issues": "shown:" + shown})
            sheet_state["inputs"] = shown
        if key is None:
            sheet_state.pop("findings", None)
        else:
            sheet_state["findings"] = key
    result.changes.sheets.extend(sheets)
    result.state = {"phones": phones.state(), "sheet": sheet_state, "rows": memory.state()}
    result.holds_until = next_midnight(now)  # every date-relative check reads "today" by the day
    return result


def find_problems(tables: Tables, *, now: datetime, phones: PhoneBook | None = None,
                  verdicts: dict | None = None, reformat: bool | None = None,
                  memory: RowMemory | None = None, across: AcrossRows | None = None) -> list[Finding]:
    """Every finding in the tables, unsorted (the Data Issues sheet sorts them).

    ``phones`` and ``verdicts``: caches of a run that checks more than once (check --fix), so each
    phone number is parsed and validated once; verdicts depend only on the value and the settings.
    ``memory``: the rows checked before (memory.py); a data table's rows it knows are not checked again.
    ``across``: the findings of the checks across rows of check --fix's first pass (AcrossRows).
    """
    ctx = Context.build(tables, now, phones, verdicts)
    if getattr(tables, "adopted", False):  # see check(): a team's formats are theirs
        ctx.formats = "asked" if reformat else "keep"
    out = Collector(ctx)
    if memory is not None:
        memory.begin()
    for table in tables.tables.values():
        kind = table.schema.kind
        if kind in ("archive", "log", "settings"):
            continue  # written by jobs (archive, log) or checked setting by setting (rule_sheets.py)
        if kind == "data":
            _check_data_table(ctx, out, table, (memory or RowMemory()).plan(ctx, table), across)
            continue
        _check_table(ctx, out, table)
        check_cell_limits(out, table)
    check_rules(out)
    out.items.extend(getattr(tables, "read_findings", ()))  # cells the reader left out (far outside a table)
    # A fix would write a cell over the spreadsheet limit back (trimming a 40,000-character name):
    # the cell is reported by check_cell_limits and left as it is.
    items = out.items if ctx.formats != "keep" else [f for f in out.items if f.type not in TEAM_FORMATS]
    return [replace(f, fixable=False, fix=None) if f.fixable and over_limit(f) else f for f in items]


def _check_data_table(ctx: Context, out: Collector, table: Table, plan: TablePlan,
                      across: AcrossRows | None = None) -> None:
    """A data table's checks: those across rows on every row, those of one row at a time on the rows the plan
    does not know (its ``sub`` table), the known rows' findings taken from it. In one order either way: by
    check (column by column, as _check_table), then by row. ``across``: the findings of the checks across rows
    of an earlier pass (check --fix's first), taken again for the columns no fix wrote."""
    across = AcrossRows() if across is None else across
    start = len(out.items)
    df, sub = table.df, plan.sub
    local: set = set()

    def mark(*m, own: bool = False) -> None:
        out.mark = m
        if own:
            local.add(m)

    mark(-1, 0)
    check_duplicate_ids(out, table)
    mark(-1, 1, own=True)
    whole = plan.whole  # the rows every check is made on (a row of which only some cells changed: those cells')
    check_id_shapes(out, table, None if whole.all() else df.index[whole])
    unreadable, typed = _by_field(sub.invalid), _by_field(sub.typed_text)
    fields = table.schema.fields
    for i, f in enumerate(fields):
        if f.type == "id":
            continue
        if f.name not in df.columns:
            if f.required:
                mark(i, 0)
                out.add(*_missing_column(ctx, table, f))
            continue
        col, own = df[f.name], sub.df[f.name]
        if f.required and _absent_from_sheet(table, f, col):
            mark(i, 0)
            out.add(*_missing_column(ctx, table, f, team=bool(ctx.tables.adopted)))
            continue
        raws, texts, part = unreadable.get(f.name, {}), typed.get(f.name), plan.rows_for(i)
        if part is not None:  # only the rows whose cells this field's checks read changed, and the new rows
            own = col[part]
            if raws or texts:
                mine = set(own.index)
                raws = {k: v for k, v in raws.items() if k in mine}
                texts = {k: v for k, v in (texts or {}).items() if k in mine}
        if raws and not field_type(f.type).options:  # unknown options stay in the frame: options.py reports them
            mark(i, 1, own=True)
            check_invalid(ctx, out, sub, f, raws)
        if texts:
            mark(i, 2, own=True)
            check_typed_text(out, sub, f, own, texts)
        mark(i, 3, own=True)
        check_required(out, sub, f, own, set(raws))
        mark(i, 4)
        across.run(out, table, {f.name}, (), lambda: check_unique(out, table, f, col))
        mark(i, 5)
        if field_type(f.type).options:
            across.run(out, table, {f.name}, (f.options_from or "").partition(".")[:1],
                       lambda: (check_tags if field_type(f.type).multiple else check_dropdown)(out, table, f, col))
        elif field_type(f.type).links_to == "record":
            across.run(out, table, {f.name}, (), lambda: check_reference(out, table, f, col))
        elif field_type(f.type).links_to == "member":
            across.run(out, table, {f.name}, ("team",), lambda: check_user(out, table, f, col))
        else:
            mark(i, 5, own=True)
            check_column(ctx, out, sub, f, own)
    if plan.kept_rows is not None:
        for f in fields:
            found = text_check(f)
            if found is not None and found.keep is not None and f.name in df.columns:
                found.keep(out, plan.kept_rows, f, plan.kept_rows.df[f.name])
    mark(len(fields), 0, own=True)
    limited = plan.limits_rows()  # the partial rows with a cell over the limit, before or now (the others: none)
    check_cell_limits(out, sub if limited is None else rows_where(table, limited))
    mark(len(fields) + 1, 0, own=True)
    dated = plan.dates_rows()  # the partial rows whose dates changed (the others keep their dates' findings)
    check_dates(out, sub if dated is None else _rows_of(table, dated, reads(table)))
    out.mark = None
    made = list(zip(out.marks[start:], out.items[start:]))
    plan.learn([(m, f) for m, f in made if m in local])
    every = made + plan.kept
    out.items[start:], out.marks[start:] = _in_order(df.index, every)


class AcrossRows:
    """The findings of each check across rows of a data table's column (unique values, options, references,
    owners) in one look, for check --fix's second pass: a column no fix wrote, nor any table the check compares
    it with (Team for owners, Stages for a deal's stage), has the same findings; they are taken again instead of
    made again (at 30k sample leads the second pass compared 40 columns' values with sets and other tables)."""

    def __init__(self) -> None:
        self._made: dict[tuple, list[Finding]] = {}
        # the (table, field) cells and the tables the fixes wrote, once a second pass begins (None: a first pass)
        self._fields: set[tuple[str, str]] | None = None
        self._tables: set[str] = set()

    def fixed(self, updates: list[CellUpdate]) -> None:
        """A second pass begins, on the tables with ``updates`` applied."""
        self._fields = {(u.table, u.field) for u in updates}
        self._tables = {u.table for u in updates}

    def run(self, out: Collector, table: Table, fields: set[str], tables: tuple[str, ...], check) -> None:
        """``check()`` (a check across rows of ``table``'s ``fields`` that also reads ``tables`` whole), made or
        taken from the first pass, under the collector's current mark."""
        key = (table.name, out.mark)
        found = self._made.get(key)
        if found is not None and self._fields is not None and not any((table.name, n) in self._fields for n in fields) \
                and not any(t in self._tables for t in tables if t):
            out.items.extend(found)
            out.marks.extend(repeat(out.mark, len(found)))
            return
        start = len(out.items)
        check()
        self._made[key] = out.items[start:]


def _rows_of(table: Table, mask: np.ndarray, names: frozenset[str]) -> Table:
    """The rows of ``mask`` with only the columns ``names`` (a check that reads those alone)."""
    cols = [c for c in table.df.columns if c in names]
    return replace(table, df=table.df.loc[mask, cols], invalid={}, typed_text={})


def _in_order(index: pd.Index, every: list[tuple[tuple, Finding]]) -> tuple[list[Finding], list[tuple]]:
    """The findings (and their marks) by check, then by the row's place in the table (a finding of no row
    first), then as they came: one stable sort of integer columns (a first check at 30k leads has 100,000)."""
    n = len(every)
    if not n:
        return [], []
    rids = [f.record_id for _m, f in every]
    if index.is_unique:
        at = index.get_indexer(pd.Index(rids, dtype=object))
    else:  # a shared ID: its first row
        position: dict = {}
        for k, rid in enumerate(index):
            position.setdefault(rid, k)
        at = np.fromiter((position.get(r, -1) for r in rids), dtype=np.int64, count=n)
    marks = [m for m, _f in every]
    check = np.fromiter((m[0] for m in marks), dtype=np.int64, count=n)
    step = np.fromiter((m[1] for m in marks), dtype=np.int64, count=n)
    order = np.lexsort((at, step, check)).tolist()  # lexsort is stable: ties keep the order they came in
    return [every[k][1] for k in order], [marks[k] for k in order]


def _by_field(cells: Mapping[tuple[str, str], object]) -> dict[str, dict[str, object]]:
    """{field: {record ID: raw value}} of the cells the reader kept aside (unreadable, or typed as text)."""
    out: dict[str, dict[str, object]] = {}
    for (rid, field_name), raw in cells.items():
        out.setdefault(field_name, {})[rid] = raw
    return out


def _absent_from_sheet(table: Table, f: Field, col: pd.Series) -> bool:
    """The sheet has no column for the field (its header was renamed or deleted, or a team's sheet never had
    one): said once, not as an empty cell on every row of a column that is not there."""
    return f.name not in table.columns and bool(col.isna().all())


def _missing_column(ctx: Context, table: Table, f: Field, *, team: bool = False) -> tuple:
    """``out.add``'s arguments for a required field without a column (a warning on a team's own sheet)."""
    header = f.header(ctx.lang)
    if team:
        return ("missing-column", "warning", table, None, f.name, None, f"{table.sheet} has no {header} column",
                f"add a column titled {header}, or name yours in the Mapping sheet (crm-sheets adopt)")
    own = [h for h in table.extra_columns if h]
    yours = f", or rename yours ({', '.join(repr(h) for h in own[:3])}{', ...' if len(own) > 3 else ''})" if own else ""
    return ("missing-column", "error", table, None, f.name, None, f"the column {header} is missing",
            f"add a column titled {header} in the header row{yours}")


def _check_table(ctx: Context, out: Collector, table: Table) -> None:
    df = table.df
    check_ids(out, table)
    unreadable, typed = _by_field(table.invalid), _by_field(table.typed_text)
    data = table.schema.kind == "data"
    for f in table.schema.fields:
        if f.type == "id":
            continue
        if f.name not in df.columns:
            if f.required and data:
                out.add(*_missing_column(ctx, table, f))
            continue
        col = df[f.name]
        if f.required and data and _absent_from_sheet(table, f, col):
            out.add(*_missing_column(ctx, table, f, team=bool(ctx.tables.adopted)))
            continue
        raws = unreadable.get(f.name, {})
        if raws and not field_type(f.type).options:  # unknown options stay in the frame: options.py reports them
            check_invalid(ctx, out, table, f, raws)
        if typed.get(f.name):
            check_typed_text(out, table, f, col, typed[f.name])
        check_required(out, table, f, col, set(raws))
        check_unique(out, table, f, col)
        if field_type(f.type).options and not field_type(f.type).multiple \
                and not (f.list == "rule_operator" and table.name in _RULE_OPERATOR_TABLES):
            check_dropdown(out, table, f, col)
        elif field_type(f.type).multiple:
            check_tags(out, table, f, col)
        elif field_type(f.type).links_to == "record":
            check_reference(out, table, f, col)
        elif field_type(f.type).links_to == "member":
            check_user(out, table, f, col)
        elif data:
            check_column(ctx, out, table, f, col)
        else:
            check_constraints(out, table, f, col)  # rule sheets' free text is theirs: no tidy-ups


def vocabulary(findings: list[Finding], tables: Tables) -> tuple[list[OptionAdd], list[RowAppend]]:
    """The team's own values found in dropdown columns, to add to the workbook's lists (once each), and
    their own deal stages, as rows of the Stages sheet (next in order, probability left for them to fill)."""
    options: list[OptionAdd] = []
    rows: list[RowAppend] = []
    for f in findings:
        if f.type != VOCABULARY or f.table not in tables or not f.field:
            continue
        field = tables[f.table].schema.field(f.field)
        if field.list:
            add = OptionAdd(field.list, str(f.value))
            if add not in options:
                options.append(add)
            continue
        src_table, _, src_field = (field.options_from or "").partition(".")
        src = tables.get(src_table)
        if src is None or src_field not in src.df.columns:
            continue
        values = {src_field: str(f.value)}
        if "order" in src.df.columns:
            orders = pd.to_numeric(src.df["order"], errors="coerce")
            values["order"] = int(max(orders.max() if orders.notna().any() else 0, 0)) + 1 + len(rows)
        rows.append(RowAppend(src_table, f"{src_table}:{f.value}", values))
    return options, rows


def fixes_for(findings: list[Finding], tables: Tables) -> list[CellUpdate]:
    """One CellUpdate per fixable cell (the first fixable finding of a cell wins; rows with a shared ID are left)."""
    updates: dict[tuple[str, str, str], CellUpdate] = {}
    shared: dict[str, set] = {}  # per table with a fixable finding only (a lazily read Audit Log stays unread)
    for f in findings:
        if not f.fixable or f.record_id is None or not f.field or f.field == "id":
            continue
        if f.table not in tables:
            continue
        if f.table not in shared:
            index = tables[f.table].df.index
            shared[f.table] = set(index[index.duplicated()])
        if f.record_id in shared[f.table]:
            continue
        if tables.adopted and (f.field not in tables[f.table].columns or _own(tables[f.table], f.field)):
            continue  # read from another cell ("Last, First"), or the team's own column: not ours to rewrite
        key = (f.table, f.record_id, f.field)
        if key not in updates:
            reason = REASONS.get(f.type, f.type)
            updates[key] = CellUpdate(f.table, f.record_id, f.field, f.fix, before=f.value, reason=reason)
    return list(updates.values())


def _own(t: Table, name: str) -> bool:
    return t.schema.has_field(name) and t.schema.field(name).custom


def _with_updates(tables: Tables, updates: list[CellUpdate]) -> Tables:
    """A copy of the tables with the updates applied, column by column (100,000 fixes in one go). Only the
    tables with updates are copied, and of those only the frame's blocks (a shallow copy of the columns the
    updates write: at 100k leads a deep copy of every table cost ~400 MB of peak memory)."""
    touched = {u.table for u in updates}
    copies = {name: replace(t, df=t.df.copy(deep=False), invalid=dict(t.invalid), typed_text=dict(t.typed_text))
              if name in touched else t for name, t in tables.tables.items()}
    grouped: dict[tuple[str, str], list[CellUpdate]] = {}
    for u in updates:
        grouped.setdefault((u.table, u.field), []).append(u)
    for (name, field_name), group in grouped.items():
        t = copies[name]
        ids = [u.record_id for u in group]
        values = pd.Series([u.value for u in group], index=ids)
        if field_name in t.df.columns:
            t.df.loc[ids, field_name] = values
        for rid in ids:
            t.invalid.pop((rid, field_name), None)
            t.typed_text.pop((rid, field_name), None)  # written as a real value now
    return replace(tables, tables=copies)
