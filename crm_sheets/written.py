"""The tables a read of the file a run just wrote gives, made from the run's own tables and the change sets it
wrote (``tables_as_written``), and where the writer puts each record's row (``rows_as_written``): the table
cache is filled from them after a write, and the confirming pass runs on them (runner.py, settled.py).
"""
from __future__ import annotations

import bisect
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.limits import too_long
from crm_sheets.model.tables import Tables


def rows_as_written(tables: Tables, changes: ChangeSet, only: set[str] | None = None) -> dict[str, dict[str, int]]:
    """Each changed table's record rows as the writer lays them out: archived rows go and the rows below
    move up; new records follow the last one, in order. ``only``: of these tables (the others are left out)."""
    gone: dict[str, set[str]] = {}
    for a in changes.archives:
        gone.setdefault(a.table, set()).add(a.record_id)
    out = {}
    for name, t in tables.tables.items():
        if only is not None and name not in only:
            continue
        removed = sorted(r for rid, r in t.rows.items() if rid in gone.get(name, ()))
        new = [rid for rid in t.df.index if rid not in t.rows]
        if not removed and not new:
            continue
        # a row number the write gives is one the table holds already (its rows are mostly one run of numbers):
        # that very int, not a new one per record (at 100k leads ~400,000 records' rows, 32 bytes each, held
        # through check's second look, and through the cache's fill and the confirming pass as the rows written)
        held = {r: r for r in t.rows.values()}
        out_of = gone.get(name, ())
        rows = {}
        for rid, r in t.rows.items():
            if rid not in out_of:
                k = bisect.bisect_left(removed, r) if removed else 0
                rows[rid] = held.get(r - k, r - k) if k else r
        del held
        last = max(rows.values(), default=t.header_row or 1)
        rows.update({rid: last + i for i, rid in enumerate(new, 1)})
        out[name] = rows
    return out


# What a read types cells with besides their sheet (store/core/read.py): _crm_meta keys, tables, owned sheets
_TYPING_META = ("template", "schema_version", "lang", "adopted")
_TYPING_META_PREFIXES = ("setting.", "sheet.", "options.")
_TYPING_TABLES = ("settings", "fields")
_TYPING_SHEETS = ("lists", "mapping")


class LogRows:
    """A log table and the rows a write appended to it (their RowAppends, in order), left by ``tables_as_written``
    with ``logs_later`` to be made the table as written by ``logs_as_written``."""

    __slots__ = ("table", "appends")

    def __init__(self, table: Any, appends: list) -> None:
        self.table, self.appends = table, appends


def tables_as_written(tables: Tables, changes: ChangeSet, *others: ChangeSet,
                      logs_later: bool = False) -> dict[str, tuple[Any, str]]:
    """The tables a read of the file just written gives, made from the run's own (``tables``, as the jobs left
    them, and the change sets written): table name -> (table, how). The table cache is filled from these instead
    of parsing the written file again (XlsxStore.remember_tables), and the confirming pass (settled.py) runs on
    them.

    ``logs_later``: a log the write appended to is given as a LogRows (its table and the appended rows, which it
    keeps alive), made a table by ``logs_as_written`` once the caller let the change sets go (at 100k leads a first
    run's Audit Log gains ~200,000 rows, ~80 MB as a table, which sat beside the whole change set).

    "kept": a table the write left alone, the run's own object as its read made it. "written": a table of records
    (IDs) the run updated, appended to or archived from, a new Table sharing the run's frame, its rows where the
    writer puts them (archived rows go and those below move up; new ones follow the last); its unreadable and
    typed-text cells written already left with them (ChangeSet.apply_to). "numbered": the same, with new IDs (a
    read types it with another ID sequence). "relisted": the same, its dropdown columns of lists the write added
    the team's values to typed again with those lists (``_read_again``).

    Left out, so parsed from the file: an archive or a log the write appended to, a table something was restored
    to, a column of another dtype than its field's type (it reads back otherwise), a field written without a
    column of its own, a tags column of a list that gained values, and every changed table when the write
    changed what else cells are typed with (Settings, Fields, the Lists sheet, columns, _crm_meta keys)."""
    from copy import copy

    import pandas as pd

    from crm_sheets.model.fieldtypes import field_type
    from crm_sheets.model.tables import dtype_for

    written = [changes, *others]
    touched: set[str] = set()
    for cs in written:
        touched |= cs.tables_touched()
    touched.update(name for name, t in tables.tables.items() if t.assigned_ids)
    sheets = {spec.name for cs in written for spec in cs.sheets}
    typing_changed = any(
        cs.columns or cs.tables or any(spec.key in _TYPING_SHEETS for spec in cs.sheets)
        or any(k in _TYPING_META or str(k).startswith(_TYPING_META_PREFIXES) for k in cs.meta)
        for cs in written) or bool(touched & set(_TYPING_TABLES))
    unsafe = {a.archive for cs in written for a in cs.archives} | {r.table for cs in written for r in cs.restores}
    unsafe |= {r.archive for cs in written for r in cs.restores}
    logged: dict[str, list] = {}  # a log's rows the write appended (the Audit Log), in order
    for cs in written:
        for a in cs.appends:
            if a.table in tables and tables[a.table].schema.kind == "log":
                logged.setdefault(a.table, []).append(a)
    unsafe |= {a.table for cs in written for a in cs.appends
               if a.table not in tables or not (tables[a.table].schema.id_prefix or a.table in logged)}
    fields: dict[str, set[str]] = {}
    for cs in written:
        for u in cs.updates:
            fields.setdefault(u.table, set()).add(u.field)
        for a in cs.appends:
            fields.setdefault(a.table, set()).update(a.values)
    relisted = {o.list for cs in written for o in cs.options}  # lists the write added the team's values to
    renumbered = rows_as_written(tables, _merged(written), touched)
    sequenced = {n for cs in written for n in cs.sequences}
    out: dict[str, tuple[Any, str]] = {}
    for name, t in tables.tables.items():
        if t.sheet in sheets:
            continue
        if name not in touched:
            out[name] = (t, "kept")
            continue
        if typing_changed or name in unsafe or not fields.get(name, set()) <= {"id", *t.columns}:
            continue
        if name in logged and touched_only_by_appends(name, written):
            if logs_later:
                out[name] = (LogRows(t, logged[name]), "written")
                continue
            log = _log_as_written(t, logged[name], tables)
            if log is not None:
                out[name] = (log, "written")
            continue
        if not t.schema.id_prefix:
            continue
        expected = [f.name for f in t.schema.fields if f.type != "id"]
        if list(t.df.columns) != expected or any(str(t.df[f.name].dtype) != str(dtype_for(f.type))
                                                 for f in t.schema.fields if f.type != "id"):
            continue
        new = copy(t)
        if t.df.index.dtype != object:  # rows appended in memory: the reader's index holds plain str objects
            new.df = t.df.set_axis(pd.Index(t.df.index.to_numpy(dtype=object), dtype=object, name=t.df.index.name),
                                   axis=0)  # the data shared (copy on write)
        # rows the write did not move are the run's mapping itself (a copy per changed table was ~1 MB per 10,000
        # records, held through the cache fill and the confirming pass, which never writes to a mapping: settled.py)
        new.rows = renumbered.get(name, t.rows)
        new.invalid, new.typed_text = dict(t.invalid), dict(t.typed_text)
        new.assigned_ids = ()
        options = [f for f in t.schema.fields if f.list in relisted and field_type(f.type).options and not f.options_from]
        if any(field_type(f.type).multiple for f in options):
            continue
        for f in options:
            _read_again(new, f, tables)
        numbered = name in sequenced or bool(t.assigned_ids)
        out[name] = (new, "relisted" if options else "numbered" if numbered else "written")
    return out


def logs_as_written(as_written: dict[str, tuple[Any, str]], tables: Tables) -> dict[str, tuple[Any, str]]:
    """``as_written`` (tables_as_written with ``logs_later``) with each LogRows made the log table as written, or
    left out when its rows might not read back as they are (then the cache's fill parses its sheet)."""
    for name, (t, how) in list(as_written.items()):
        if type(t) is LogRows:
            appends, t.appends = t.appends, []
            log = _log_as_written(t.table, appends, tables)
            del appends
            if log is None:
                del as_written[name]
            else:
                as_written[name] = (log, how)
    return as_written


def _read_again(t, f, tables: Tables) -> None:
    """A dropdown column as a read with the lists as written types it (the team's values added to its list are
    options now: no longer unreadable, and spelt as the option): its cells as written (the reader's raw text of
    an unknown option, the value otherwise) typed again. Replaces the table's frame and unreadable cells."""
    import pandas as pd

    from crm_sheets.model.column_read import parse_column
    from crm_sheets.model.tables import dtype_for
    from crm_sheets.model.values import fold_option, option_lookup, read_context

    raws = t.df[f.name].to_numpy(dtype=object, copy=True)
    raws[pd.isna(raws)] = None
    at = t.df.index.get_indexer(pd.Index([rid for rid, name in t.invalid if name == f.name], dtype=object))
    for k, ((rid, name), raw) in zip(at, ((key, v) for key, v in t.invalid.items() if key[1] == f.name)):
        if k >= 0:
            raws[k] = raw
    lst = tables.lists.get(f.list)
    options = option_lookup(lst) if lst is not None else {fold_option(e): e for e in f.constraints.enum} or None
    ctx = replace(read_context(tables.settings), date1904=tables.date1904)
    values, bad = parse_column(f, raws, ctx, options, {})
    t.df = t.df.assign(**{f.name: pd.Series(values, index=t.df.index, dtype=dtype_for(f.type), copy=False)})
    ids = t.df.index.to_numpy(dtype=object)
    t.invalid = {k: v for k, v in t.invalid.items() if k[1] != f.name}
    t.invalid.update({(ids[i], f.name): raw for i, raw in bad.items()})


def touched_only_by_appends(name: str, written: list[ChangeSet]) -> bool:
    return not any(u.table == name for cs in written for u in cs.updates) and not any(
        name in (a.table, a.archive) for cs in written for a in cs.archives) and not any(
        name in (r.table, r.archive) for cs in written for r in cs.restores)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")  # characters a cell's XML does not keep as they are (\r among them)


def _log_as_written(t, appends: list, tables: Tables):
    """A log table (rows keyed by sheet row) with the rows the write appended below its last one, typed as a read
    of their cells types them; None when a value might not read back as it is (a text too long for a cell, or
    with characters XML does not keep, a value of another kind than text, date or number)."""
    from copy import copy

    import numpy as np
    import pandas as pd

    from crm_sheets.model.column_read import parse_column
    from crm_sheets.model.fieldtypes import field_type
    from crm_sheets.model.tables import dtype_for
    from crm_sheets.model.values import read_context

    fields = [f for f in t.schema.fields if f.type != "id"]
    if (list(t.df.columns) != [f.name for f in fields] or any(f.name not in t.columns for f in fields)
            or any(field_type(f.type).options for f in fields)):
        return None
    texts_written = []
    for a in appends:
        for v in a.values.values():
            if isinstance(v, str):
                texts_written.append(v)
            elif not (v is None or isinstance(v, (datetime, int, float)) and not isinstance(v, bool)):
                return None
    if any(too_long(v) or v.isspace() for v in texts_written) or _CONTROL.search("\t".join(texts_written)):
        return None
    n = len(appends)
    last = max(t.rows.values(), default=t.header_row or 1)
    rows = list(range(last + 1, last + 1 + n))
    ids = [f"row{r}" for r in rows]
    index = pd.Index(ids, dtype=object, name=t.df.index.name)
    ctx = replace(read_context(tables.settings), date1904=tables.date1904)
    data, invalid, typed_text = {}, dict(t.invalid), dict(t.typed_text)
    for f in fields:
        raws = np.empty(n, dtype=object)
        raws[:] = [a.values.get(f.name) for a in appends]
        texts: dict[int, Any] = {}
        values, bad = parse_column(f, raws, ctx, None, texts)
        invalid.update({(ids[i], f.name): raw for i, raw in bad.items()})
        typed_text.update({(ids[i], f.name): raw for i, raw in texts.items()})
        data[f.name] = pd.Series(values, index=index, dtype=dtype_for(f.type), copy=False)
    added = pd.DataFrame(data, index=index)
    df = pd.concat([t.df, added]) if len(t.df) else added
    if any(str(df[f.name].dtype) != str(dtype_for(f.type)) for f in fields):
        return None
    new = copy(t)
    new.df, new.invalid, new.typed_text = df, invalid, typed_text
    new.rows = {**t.rows, **dict(zip(ids, rows))}
    return new


def _merged(written: list[ChangeSet]) -> ChangeSet:
    if len(written) == 1:
        return written[0]
    out = ChangeSet()
    for cs in written:
        out.archives += cs.archives
    return out
