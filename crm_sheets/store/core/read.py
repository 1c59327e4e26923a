"""Reading a workbook's grids into typed Tables: tables and columns found by name, never by position.

Owns the way from a GridSource's cell values (crm_sheets.store.core.grid) to `Tables`, for every backend:
the hidden _crm_meta sheet, the template and language, the header row of each table, people's own columns,
Settings, Lists and custom Fields, and IDs for rows typed without one. Reading a single cell is
crm_sheets.model.values' job.
"""
from __future__ import annotations

import gc
import re
from operator import attrgetter, ne
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from crm_sheets.errors import CrmSheetsError, NotAWorkbook, SchemaError
from crm_sheets.model.schema import (
    FIELD_TYPES, LANGUAGES, Constraints, Field, ListSchema, Option, Schema, TableSchema,
    available_templates, load_schema, normalize_header,
)
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.findings import Finding
from crm_sheets.model.tables import META_SHEET, Table, Tables, column_index, column_letter, dtype_for, format_id
from crm_sheets.adopt.sniff import plain_lead_sheet
from crm_sheets.store.core.cache import TableCache, by_field, code_fingerprint, column_digest, context_key, digest
from crm_sheets.store.core.grid import GridSource
from crm_sheets.model.lazy import LAZY_KINDS, HeaderRowMissing, LazyTable
from crm_sheets.model.memo import stamp
from crm_sheets.store.core.header import HEADER_SCAN_ROWS, Layout, header_lookup, header_matches, table_layout
from crm_sheets.store.mapping import mapped_schema, split_whole_names
from crm_sheets.model.column_read import parse_column
from crm_sheets.model.values import (
    ReadContext, as_text, fold_option, is_empty, option_lookup, parse_checkbox, parse_value,
    read_context,
)

CUSTOM_TYPES = tuple(t for t in FIELD_TYPES if field_type(t).custom)  # what a person may pick in the Fields sheet
_FIELD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
NOT_OURS_HINT = ("run `crm-sheets adopt PATH` to map your own sheets and columns onto a CRM, or create one with "
                 "`crm-sheets new` and paste your rows into its tables (columns are found by their headers)")
_NOT_OURS_HINT = NOT_OURS_HINT


_NAME = attrgetter("__name__")


def _types_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which cells of two object arrays of one length hold values whose types have different names (1 and "1" hash
    alike). Mapped in C (type, the name, the comparison): a Python function called for each cell cost ~0.2 s for
    the two columns of 30,000 leads an edit changed."""
    names = (map(_NAME, map(type, x.tolist())) for x in (a, b))
    return np.fromiter(map(ne, *names), dtype=bool, count=len(a))


def read_tables(src: GridSource, schema: Schema | None = None, cache: TableCache | None = None) -> Tables:
    """Read a crm-sheets workbook, given as grids, into typed Tables (see docs/design.md for the conventions).

    Tables with IDs are indexed by record ID; rule, settings, archive and log tables (no id_prefix)
    by a synthetic key ``row<N>``, N being the sheet row. A row without an ID, or repeating an ID
    already seen above it (a copy-pasted record), gets a new one, listed in ``Table.assigned_ids``.
    A cell that cannot be read as its type is null in the frame and its raw value is in
    ``Table.invalid``; dropdown and tags cells keep their unknown text in the frame as well. A cell
    of a typed column holding text that reads as the type ('2025-03-14' typed as text in a date
    column) has its value in the frame and its text in ``Table.typed_text``. Cells of a range merged
    down a data table's column all read as the range's top cell. Serial numbers in date columns
    follow the workbook's date system (1900 or 1904). The caller closes ``src``.

    With ``cache`` (crm_sheets.store.core.cache), a table whose sheet kept its part bytes or its cells, read
    with the same schema, settings and lists, is taken from the cache instead of being parsed or typed again (a
    table with a few columns' cells changed has only those typed again); the tables made here are handed to the
    cache to keep.
    """
    collecting = gc.isenabled()
    gc.disable()  # millions of new cell objects would trigger full collections that free nothing
    try:
        tables = _read_tables(src, schema, src, src.table_locations(), src.date1904, src, cache)
    finally:
        if collecting:
            gc.enable()
    for sheet, note, cell in src.strays():
        tables.notes.append(note)
        owner = next((name for name, t in tables.tables.items() if t.sheet == sheet), sheet)
        tables.read_findings.append(Finding("cell-outside-table", "warning", owner, None, None, None, note, cell=cell))
    return tables


def _read_tables(src: GridSource, schema: Schema | None, book: GridSource, excel_tables: Mapping[str, tuple[str, int]],
                 date1904: bool, grids: GridSource, cache: TableCache | None = None) -> Tables:
    notes: list[str] = []
    meta = _read_meta(grids)
    if schema is None:
        schema = _schema_for(src, book, excel_tables, grids, meta, notes, cache)
    lang = _language(book, schema, meta, notes)
    located = _locate_tables(book, excel_tables, schema)
    mapping = _mapping(book, grids, schema, meta)  # a Mapping sheet (crm-sheets adopt) says where each table is
    if not mapping:  # no Mapping sheet: a lead sheet named Sheet1, CRM, Kunden... found by its headers (adopt/sniff.py)
        mapping = plain_lead_sheet(book.sheet_names, grids, schema, located, _ours(meta), lang)
    if mapping:
        located = {n: w for n, w in located.items() if n in mapping or w[0] not in {m.sheet for m in mapping.values()}}
        located.update({n: (m.sheet, m.header_row - 1) for n, m in mapping.items()})
    part_key = getattr(grids, "part_key", None) if cache is not None else None
    parts = {sheet: part_key(sheet) for sheet, _hint in located.values()} if part_key is not None else {}
    reusable = {sheet for sheet, _hint in located.values()
                if cache is not None and cache.reusable_by_part(sheet, parts.get(sheet))}
    lazy = _lazy_tables(grids, schema, located, mapping, cache, reusable)
    # sheets a cached table comes back for by their part are not parsed at all (unless what they are read with
    # changed), nor are the sheets of lazy tables (parsed if something asks for their cells)
    grids.read_ahead([sheet for name, (sheet, _hint) in located.items() if sheet not in reusable and name not in lazy])

    settings: dict[str, Any] = {}
    if "settings" in located:
        settings = _read_settings(grids, schema, located["settings"], lang)
    for key in (k for k, v in meta.items() if k.startswith("setting.") and not is_empty(v)):  # what adopt read from
        if is_empty(settings.get(key[len("setting."):])):  # the team's cells, unless their Settings sheet says
            settings[key[len("setting."):]] = meta[key]
    ctx = replace(read_context(settings), date1904=date1904)

    if "fields" in located:
        schema = _with_custom_fields(grids, schema, located["fields"], lang, ctx)
    if mapping:  # the team's own columns and datetime columns, as its Mapping sheet says (store/mapping.py)
        schema = mapped_schema(schema, mapping, lang)
    lists = _read_lists(book, grids, schema, lang)
    lists = _meta_options(lists, meta, lang)

    tables: dict[str, Table] = {}
    later: list[Tables] = []  # the Tables made here, for what a lazy table's read says when it happens
    for name, (sheet, hint) in located.items():
        t = schema.tables[name]
        layout: Layout | None = None
        laid = False  # whether ``layout`` was looked for already
        if cache is not None:
            context = _context_key(t, sheet, hint, lang, ctx, lists, meta, mapping.get(name))
            part, content = parts.get(sheet), None
            found = cache.table(name, sheet, context, part=part)
            if found is None and name in lazy:
                pass  # not parsed now (below)
            elif found is None:  # parsed, and typed only where its cells changed
                layout, laid = _layout(grids, sheet, t, lang, hint, mapping.get(name)), True
                if layout is not None:
                    content = _content(layout)
                    found = cache.table(name, sheet, context, part=part, content=content)
                    again = cache.retype(name, sheet, context, content) if found is None else None
                    if again is not None:
                        base = cache.cached_content(name)  # the content the cached table was typed from
                        table, moved = _retyped(again[0], t, layout, again[1], ctx, lists)
                        tables[name] = table
                        note = _skipped_note(sheet, layout)
                        if note:
                            notes.append(note)
                        _keep(cache, grids, tables, name, sheet, context, part, content, note)
                        _stamp(cache, tables[name], name, context, content, base=base, changed=moved)
                        del layout
                        grids.forget(sheet)
                        continue
            if found is not None:
                found.schema = t
                if cache.hits.get(name) == "given" and name not in mapping and not _lazy_next_time(t, grids):
                    # after our write: its cells' digests
                    cache.complete(name, _written_content(found, t, lang, ctx, lists, meta, cache.given_content(name)))
                tables[name] = found
                _stamp(cache, found, name, context, None)
                if cache.found[name].note:
                    notes.append(cache.found[name].note)
                grids.forget(sheet)
                continue
        if name in lazy:
            tables[name] = LazyTable(schema=t, sheet=sheet, loader=_loader(
                grids.reopen, t, sheet, hint, lang, ctx, lists, meta, src.name, later))
            if cache is not None:  # kept as unread: a read of the same bytes gives it lazy again
                cache.keep_lazy(name, sheet, context, part=part, hint=hint)
            continue
        if not laid:
            layout = _layout(grids, sheet, t, lang, hint, mapping.get(name))
        if layout is None:
            notes.append(f"{src.name}: sheet {sheet!r} has no header row naming the columns of {t.sheet_name(lang)}; skipped")
            continue
        tables[name] = _build_table(t, sheet, layout, ctx, lists, meta)
        note = _skipped_note(sheet, layout)
        if note:
            notes.append(note)
        if cache is not None:
            _keep(cache, grids, tables, name, sheet, context, part, content, note)
            _stamp(cache, tables[name], name, context, content)
        del layout
        grids.forget(sheet)  # a sheet's raw cells are no longer needed: keep peak memory down
    if not meta.get("template") or meta.get("adopted"):  # a team's workbook: say which sheets were not read
        notes.extend(_unread(src, book, grids, schema, {w[0] for w in located.values()}, set(tables), meta, lang))
    made = Tables(schema=schema, tables=tables, lang=lang, settings=settings, lists=lists, meta=meta,
                  source=src.source, notes=notes, date1904=date1904, sheet_names=tuple(book.sheet_names),
                  adopted=not meta.get("template") or bool(meta.get("adopted")))
    later.append(made)
    return made


def _layout(grids: GridSource, sheet: str, t: TableSchema, lang: str, hint: int | None, mapped: Any) -> Layout | None:
    """Where the table's header, columns and records are in its sheet (None: no header row names its columns)."""
    merged = grids.merged(sheet) if t.kind == "data" else ()
    fixed = mapped.columns if mapped is not None else None
    layout = table_layout(grids[sheet], t, lang, hint, merged=merged, fixed=fixed,
                          listed=mapped.listed if mapped is not None else None)
    if layout is not None and fixed is not None:
        split_whole_names(layout.columns, layout.cells)  # a "Last, First" column: both names, its cells left whole
    return layout


def _skipped_note(sheet: str, layout: Layout) -> str | None:
    if not layout.skipped:
        return None
    return f"{sheet}: {_rows_text(layout.skipped)} not records (formula fallbacks, totals, a legend or notes); left as they are"


def _content(layout: Layout) -> tuple[str, dict[str, str]]:
    """A table's content key (the table cache's, store/core/cache.py): a digest of everything its typing reads of
    the sheet besides the cells of its columns (header row, columns, people's own columns, the rows that are
    records and those that are not), and one digest per column of the cells of its records (merged ranges filled
    down already). Equal keys, with the same context, type to the same table; equal layouts and ID columns type
    the columns whose digests are equal to the same columns."""
    shape = digest(layout.header_row, sorted(layout.columns.items()), layout.extras, layout.sheet_rows, layout.skipped)
    return shape, {name: column_digest(cells) for name, cells in layout.cells.items()}


def _written_content(table: Table, t: TableSchema, lang: str, ctx: ReadContext, lists: Mapping[str, ListSchema],
                     meta: Mapping[str, Any], carried: Any) -> Any:
    """The content key (``_content``) a read of the file our write just made would give ``table`` (written.py's
    table as the writer laid it out: rows moved up, archived or appended, cells updated), for the table cache,
    without parsing the sheet: the layout's digest from the table's header row, columns and rows, and the digest
    of each column's cells as calamine reads them back, made from the table's values (text as is, numbers as
    floats, dates as dates, options as their labels, empty as '', unreadable cells and typed text as their raw). A column's digest is kept
    only when those cells, typed as ``_build_table`` types them, give the table's column exactly (values,
    unreadable cells, typed text): a next read finding cells with that digest types them to that column, so
    taking the column from the cached table is exact; when the guess of the cells is wrong the digest only
    differs, and the column is typed again. ``carried``: the digests known already (cache.py ``_carried``), kept."""
    try:
        ids = table.df.index
        rows = list(map(table.rows.get, ids.tolist()))
        if not set(map(type, rows)) <= {int} or (len(rows) > 1 and not (np.diff(np.array(rows)) > 0).all()):
            return carried
        columns = sorted((name, column_index(letter)) for name, letter in table.columns.items())
        if type(table.header_row) is not int or type(table.extra_columns) is not tuple:
            return carried
        shape = digest(table.header_row - 1, columns, table.extra_columns, rows, [])
        if carried is not None and carried[0] != shape:
            return carried  # a layout this cannot make again (rows that are not records): as the read left it
        digests = dict(carried[1]) if carried is not None else {}
        if t.id_prefix:
            if "id" not in digests and "id" in table.columns:
                raws = ids.to_numpy(dtype=object)
                texts, assigned, next_id, _index = _assign_ids(raws, t.id_prefix, meta.get(f"seq.{t.name}"))
                if assigned or next_id != table.next_id or texts != raws.tolist():
                    return (shape, {}) if carried is None else carried
                digests["id"] = column_digest(raws)
        elif ids.tolist() != [f"row{r}" for r in rows]:
            return carried
        fields = {f.name: f for f in t.fields}
        faults = by_field(table.invalid, table.typed_text)
        for name, _j in columns:
            if name not in digests and name in fields and name in table.df.columns:
                raws = _cells_as_written(table, fields[name], faults.get(name, ({}, {})), lang, ctx, lists)
                if raws is not None:
                    digests[name] = column_digest(raws)
        return shape, digests
    except Exception:  # never worth failing a read for: the columns are typed again
        return carried


def _cells_as_written(table: Table, f: Field, faults: tuple[dict, dict], lang: str, ctx: ReadContext,
                      lists: Mapping[str, ListSchema]) -> Any:
    """The cells of field ``f``'s column as calamine reads back what the writer wrote of ``table`` (an object
    array; option keys shown as their labels, as plan.field_value writes them), when typing them gives the
    table's column exactly; None otherwise."""
    col = table.df[f.name]
    dtype = dtype_for(f.type)
    if str(col.dtype) != str(dtype):
        return None
    n = len(col)
    raws = np.empty(n, dtype=object)
    missing = col.isna().to_numpy()
    if dtype == "object":
        values = col.to_numpy(dtype=object)
        if infer_dtype(values, skipna=True) not in ("string", "empty"):
            return None
        ftype = field_type(f.type)
        if ftype.text and not ftype.options and not any(faults):
            # text as typed: the cells are the values ('' where empty), typed back as they are (checked here
            # instead of typing them again: every value a non-empty text, stripped if the type strips)
            if not np.equal(values[missing], None).all() or (values == "").any():
                return None
            if ftype.strip:
                uniques = pd.unique(values[~missing]).tolist()
                if list(map(str.strip, uniques)) != uniques:
                    return None
            raws[:] = values
            raws[missing] = ""
            return raws
        if ftype.options and f.list and not missing.all():
            if f.list not in lists:
                return None
            labels = {o.key: o.label(lang) for o in lists[f.list].options}
            codes, uniques = pd.factorize(values)
            shown = np.empty(len(uniques), dtype=object)
            shown[:] = [", ".join(labels.get(k.strip(), k.strip()) for k in u.split(",") if k.strip())
                        if ftype.multiple else labels.get(u, u) for u in uniques.tolist()]
            values = shown[codes]  # (missing cells: -1, made '' below)
        raws[:] = values
    elif dtype in ("float64", "Int64"):
        raws[:] = col.to_numpy(dtype="float64", na_value=np.nan).tolist()
    elif dtype == "boolean":
        raws[:] = [bool(v) for v in col.to_numpy(dtype=bool, na_value=False).tolist()]
    elif str(dtype).startswith("datetime64"):
        if field_type(f.type).with_time:
            raws[:] = np.asarray(col.dt.to_pydatetime(), dtype=object)
        else:
            raws[:] = col.dt.date.tolist()
    else:
        return None
    raws[missing] = ""
    invalid, typed_text = faults
    for cells in (invalid, typed_text):
        if cells:
            at = table.df.index.get_indexer(pd.Index([rid for rid, _f in cells], dtype=object))
            if (at < 0).any():
                return None
            raws[at] = list(cells.values())
    texts: dict[int, Any] = {}
    values, bad = parse_column(f, raws, ctx, _options_for(f, lists), texts)
    ids = table.df.index
    if {(ids[i], f.name): raw for i, raw in bad.items()} != invalid:
        return None
    if {(ids[i], f.name): raw for i, raw in texts.items()} != typed_text:
        return None
    if dtype == "object":  # the same texts, None where empty (not NaN)
        mine, theirs = np.asarray(values, dtype=object), col.to_numpy(dtype=object)
        empty = pd.isna(mine)  # (the table's own empties are ``missing``, found above)
        if (not (empty == missing).all() or not (mine[~empty] == theirs[~empty]).all()
                or not np.equal(mine[empty], None).all() or not np.equal(theirs[empty], None).all()):
            return None
    elif not pd.Series(values, index=ids, dtype=dtype, copy=False).equals(col):
        return None
    return raws


def _stamp(cache: TableCache, table: Any, name: str, context: str, content: Any, *, base: Any = None,
           changed: Any = None) -> None:
    """Mark a table with a key of its typed content (model/memo.py ``stamp``: check's row memory takes a table
    with the key it remembers as the table it saw, without keying its rows again): the reading code, what the
    sheet is read with and its content key, made by this read or by the read that made the cached table found by
    its part. Data tables only (check's memory is of them). A table our write changed, given to the cache after it
    (``hits == "given"``), gets the key the next read of the file as written gives it (that read finds this very
    table, pickled, under its completed content key), so the confirming pass's check learns it; a given table the
    write left alone keeps none (the next read gives the table the cache had, not this one). Never one whose
    content key does not name every column it has."""
    if cache.keep_only or not isinstance(table, Table) or table.schema.kind != "data" \
            or (name in cache.given and cache.hits.get(name) != "given"):
        return
    if content is None:
        entry = cache.found.get(name)
        content = entry.content if entry is not None and cache.hits.get(name) in ("part", "content", "given") else None
    try:
        if not content or set(content[1]) != set(table.columns):
            return
        # a table typed again over a cached one (base: that one's content) says which rows differ from it
        of = _token(context, base) if changed is not None and base and set(base[1]) == set(table.columns) else None
        stamp(table, _token(context, content), of, changed if of is not None else None)
    except Exception:  # a key is an optimisation only
        return


def _token(context: str, content: Any) -> str:
    """The read's key of a table typed with ``context`` from ``content`` (its columns' digests in any order: a read
    lists them as the sheet has them, the cache's fill as it completes them)."""
    return digest(code_fingerprint(), context, content[0], sorted(content[1].items()))


def _keep(cache: TableCache, grids: GridSource, tables: dict[str, Table], name: str, sheet: str, context: str,
          part: Any, content: Any, note: str | None) -> None:
    """Hand a table made by this read to the cache."""
    has_strays = getattr(grids, "has_strays", None)
    cache.keep(name, sheet, context, part=part, content=content, note=note,
               strays=bool(has_strays(sheet)) if has_strays is not None else False)
    if cache.keep_only:  # a read only for the cache (after our own write): pickled now, the table let go
        tables[name] = cache.pickled(name, tables[name])


def _retyped(table: Table, t: TableSchema, layout: Layout, changed: list[str], ctx: ReadContext,
             lists: Mapping[str, ListSchema]) -> tuple[Table, np.ndarray | None]:
    """The cached ``table`` (the same layout and record IDs as ``layout``) with the fields ``changed`` typed again
    from the layout's cells, as _build_table types them: its frame's columns replaced, their unreadable cells and
    typed text made again (kept in the order _build_table gives them: by field, then by row). With it, the rows
    (positions in the frame) whose cells in those fields differ from the cached table's (None: not known)."""
    table.schema = t
    before = (table.df, table.invalid, table.typed_text)
    changed_set = set(changed)
    ids = table.df.index.to_numpy(dtype=object)
    invalid: dict[str, dict] = {}
    typed_text: dict[str, dict] = {}
    data = {}
    for f in t.fields:
        raws = layout.cells.get(f.name)
        if f.type == "id" or f.name not in changed_set or raws is None:
            continue
        texts: dict[int, Any] = {}
        values, bad = parse_column(f, raws, ctx, _options_for(f, lists), texts)
        invalid[f.name] = {(ids[i], f.name): raw for i, raw in bad.items()}
        typed_text[f.name] = {(ids[i], f.name): raw for i, raw in texts.items()}
        data[f.name] = pd.Series(values, index=table.df.index, dtype=dtype_for(f.type), copy=False)
    if data:
        df = table.df.copy(deep=False)
        for f_name, series in data.items():
            df[f_name] = series
        table.df = df
    table.invalid = _in_field_order(t, table.invalid, invalid)
    table.typed_text = _in_field_order(t, table.typed_text, typed_text)
    return table, _rows_changed(before, table, list(data))


def _rows_changed(before: tuple, table: Table, names: list[str]) -> np.ndarray | None:
    """The positions of the rows of ``table`` whose cells in the columns ``names`` (their values, the values'
    types, the raw text kept of them) differ from those of ``before`` (the cached frame, its unreadable cells
    and typed text, with the same record IDs in the same order); None when that cannot be told. Made for check's
    memory of rows (model/memo.py ``stamp``): only those rows are keyed again."""
    try:
        old, old_invalid, old_typed = before
        df = table.df
        if not old.index.equals(df.index) or not df.index.is_unique:
            return None
        n = len(df)
        out = np.zeros(n, dtype=bool)
        for name in names:
            a, b = old[name] if name in old.columns else None, df[name]
            if a is None or a.dtype != b.dtype:
                return None
            out |= pd.util.hash_pandas_object(a, index=False).to_numpy() != \
                pd.util.hash_pandas_object(b, index=False).to_numpy()
            if b.dtype == object:  # the hash reads 1 and "1" alike: their types too
                out |= _types_differ(a.to_numpy(), b.to_numpy())
        wanted = set(names)
        raws: dict = {}
        for side, kinds in enumerate(((old_invalid, old_typed), (table.invalid, table.typed_text))):
            for k, cells in enumerate(kinds):
                for key, raw in cells.items():
                    if key[1] in wanted:
                        raws.setdefault(key, [None, None])[side] = (k, type(raw).__name__, repr(raw))
        differ = [key[0] for key, (x, y) in raws.items() if x != y]
        if differ:
            at = df.index.get_indexer(pd.Index(differ, dtype=object))
            if (at < 0).any():
                return None
            out[at] = True
        return np.flatnonzero(out)
    except Exception:  # an optimisation only: the rows are all keyed
        return None


def _in_field_order(t: TableSchema, kept: Mapping[tuple[str, str], Any], fresh: Mapping[str, dict]) -> dict:
    """(ID, field) -> raw: the fields' entries of ``fresh`` instead of those of ``kept``, by field in schema order."""
    grouped: dict[str, list] = {}
    for key, raw in kept.items():
        grouped.setdefault(key[1], []).append((key, raw))
    out: dict = {}
    for f in t.fields:
        old = grouped.pop(f.name, ())
        out.update(fresh[f.name] if f.name in fresh else old)
    for rest in grouped.values():  # a field the schema no longer has (never for the same context)
        out.update(rest)
    return out


def _lazy_tables(grids: GridSource, schema: Schema, located: Mapping[str, tuple[str, int | None]], mapping: Mapping,
                 cache: TableCache | None, reusable: set[str]) -> set[str]:
    """The tables this read leaves unparsed (model/lazy.py): log tables of a backend that can open the same
    workbook again (``reopen``), placed by their own sheet (not a Mapping sheet), whose sheet the cache does not
    have by its part (a table found by its part costs nothing to take), unless the read only fills the cache
    (``keep_only``: every table is pickled). After our own write, a log table the run never read is left unread
    again, read from the file as written when something asks."""
    if getattr(grids, "reopen", None) is None or (cache is not None and cache.keep_only):
        return set()
    return {name for name, (sheet, _hint) in located.items()
            if schema.tables[name].kind in LAZY_KINDS and name not in mapping and sheet not in reusable}


def _lazy_next_time(t: TableSchema, grids: GridSource) -> bool:
    """Whether a read of this workbook leaves the table unparsed unless the cache has its sheet by its part (a log
    table placed by its own sheet, _lazy_tables): such a read never looks the table up by its content, so after our
    write the digests of its cells as written (``_written_content``: 0.1 s for the Audit Log a first run at 30k leads
    writes, ~60,000 rows) are never used. (A Mapping sheet's table is asked about before this.)"""
    return t.kind in LAZY_KINDS and getattr(grids, "reopen", None) is not None


def lazy_table(open_grids: Any, tables: Tables, name: str, sheet: str, hint: int | None) -> LazyTable:
    """The table ``name`` of ``tables`` as a lazy table read from ``sheet`` of the grids ``open_grids()`` gives
    (which refuses a workbook other than the one ``tables`` was read from), typed as read_tables types it: for
    Tables that come whole from the table cache with a table that read left unread."""
    t = tables.schema.tables[name]
    ctx = replace(read_context(tables.settings), date1904=tables.date1904)
    return LazyTable(schema=t, sheet=sheet, loader=_loader(open_grids, t, sheet, hint, tables.lang, ctx, tables.lists,
                                                           tables.meta, Path(tables.source).name, [tables]))


def _loader(reopen: Any, t: TableSchema, sheet: str, hint: int | None, lang: str, ctx: ReadContext,
            lists: Mapping[str, ListSchema], meta: Mapping[str, Any], book: str, made: list[Tables]) -> Any:
    """What parses a lazy table's sheet when it is first asked for: the workbook opened again (the backend
    refuses with WorkbookChanged when it is no longer the workbook read), the sheet read as the eager read would
    have read it; cells far outside it are reported with the read's notes and findings."""
    lists, meta = dict(lists), dict(meta)  # as they are now: jobs may add options or keys before it is read

    def load() -> Table:
        collecting = gc.isenabled()
        gc.disable()
        try:
            grids = load.reopen()
            try:
                layout = table_layout(grids[sheet], t, lang, hint)
                strays = grids.strays()
            finally:
                grids.close()
            if layout is None:  # the eager read would have skipped it with a note (lazy.read_or_leave_out does)
                raise HeaderRowMissing(f"{book}: sheet {sheet!r} has no header row naming the columns of "
                                       f"{t.sheet_name(lang)}; nothing was written",
                                       note=f"{book}: sheet {sheet!r} has no header row naming the columns of "
                                            f"{t.sheet_name(lang)}; skipped",
                                       hint=f"put back the header row of {sheet!r} (copy it from a new workbook: "
                                            "`crm-sheets new`) and run again")
            table = _build_table(t, sheet, layout, ctx, lists, meta)
        finally:
            if collecting:
                gc.enable()
        for tables in made:
            for _sheet, note, cell in strays:
                tables.notes.append(note)
                tables.read_findings.append(Finding("cell-outside-table", "warning", t.name, None, None, None, note,
                                                    cell=cell))
        return table

    load.reopen = reopen  # type: ignore[attr-defined]  # (model/lazy.py repoint)
    return load


def _context_key(t: TableSchema, sheet: str, hint: int | None, lang: str, ctx: ReadContext,
                 lists: Mapping[str, ListSchema], meta: Mapping[str, Any], mapped: Any) -> str:
    """What a table's typed values depend on besides its sheet's cells: its schema (custom fields too), where
    its headers are, the language, the Settings that type values, its fields' options, its ID sequence, and
    what a Mapping sheet says of its columns."""
    where = None if mapped is None else (mapped.sheet, mapped.header_row, sorted(mapped.columns.items()),
                                         sorted(mapped.listed), sorted(mapped.custom.items()), sorted(mapped.types.items()))
    options = [(f.name, _options_for(f, lists)) for f in t.fields]
    return context_key(t, sheet, hint, lang, ctx, options, meta.get(f"seq.{t.name}"), where)


def _unread(src: GridSource, book: GridSource, grids: GridSource, schema: Schema, used: set[str], read: set[str],
            meta: Mapping[str, Any], lang: str) -> list[str]:
    """Notes for the sheets of a team's workbook whose headers look like a table that was not read (a lead
    sheet named CRM or Sheet1): never ignored without a word."""
    ours = {str(v) for k, v in meta.items() if k.startswith("sheet.") and v} | {META_SHEET}
    ours |= {t for o in schema.owned_sheets.values() for t in o.title.values()}
    out = []
    for sheet in book.sheet_names:
        if sheet in used or sheet in ours or sheet.casefold() == META_SHEET:
            continue
        grid = grids[sheet]
        for t in schema.tables.values():
            if t.kind != "data" or t.name in read:
                continue
            lookup = header_lookup(t, lang)
            if max((header_matches(row, lookup)[0] for row in grid[:HEADER_SCAN_ROWS]), default=0) >= 3:
                out.append(f"{sheet}: its headers look like {t.sheet_name(lang)}, but it is not read as them; "
                           f"run `crm-sheets adopt {src.name}` to map it")
                break
        grids.forget(sheet)
    return out


def _ours(meta: Mapping[str, Any]) -> set[str]:
    return {str(v) for k, v in meta.items() if k.startswith("sheet.") and v} | {META_SHEET}


def _mapping(book: GridSource, grids: GridSource, schema: Schema, meta: Mapping[str, Any]) -> dict:
    """The tables the workbook's Mapping sheet places (see store/mapping.py), or {} when it has none."""
    from crm_sheets.store.mapping import read_mapping

    name = meta.get("sheet.mapping")  # ours only when _crm_meta marks it
    sheet = next((s for s in book.sheet_names if s == name), None) if name else None
    if sheet is None:
        return {}
    found = read_mapping(grids[sheet], schema)
    return {n: m for n, m in found.items() if m.sheet in book.sheet_names}


def _rows_text(rows: list[int]) -> str:
    """'row 12 is' / 'rows 12, 14-16 are': sheet rows as a person reads them."""
    spans: list[list[int]] = []
    for r in rows:
        if spans and r == spans[-1][1] + 1:
            spans[-1][1] = r
        else:
            spans.append([r, r])
    text = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans[:8]) + (", ..." if len(spans) > 8 else "")
    return f"row {text} is" if len(rows) == 1 else f"rows {text} are"


def _find_sheet(book: GridSource, names: set[str]) -> str | None:
    for sheet in book.sheet_names:
        if normalize_header(sheet) in names:
            return sheet
    return None


# ---------------------------------------------------------------------------------------------
# Meta, template and language


def _read_meta(grids: GridSource) -> dict[str, Any]:
    sheet = next((s for s in grids.sheet_names if s.casefold() == META_SHEET), None)
    meta: dict[str, Any] = {}
    if sheet is None:
        return meta
    for row in grids[sheet]:
        if len(row) < 2 or is_empty(row[0]):
            continue
        key = as_text(row[0]).strip()
        if key.casefold() == "key":  # the header row
            continue
        value = row[1]
        if key.startswith("seq.") or key == "schema_version":
            try:
                value = int(float(value))
            except (TypeError, ValueError):
                value = None  # an unreadable sequence: IDs continue after the highest one found
        elif isinstance(value, str):
            value = value.strip()
        meta[key] = None if is_empty(value) else value
    return meta


def _schema_for(src: GridSource, book: GridSource, excel_tables: Mapping[str, tuple[str, int]], grids: GridSource,
                meta: Mapping[str, Any], notes: list[str], cache: TableCache | None = None) -> Schema:
    template = meta.get("template")
    if template:
        try:
            return cache.schema(str(template), load_schema) if cache is not None else load_schema(str(template))
        except CrmSheetsError:
            raise SchemaError(
                f"{src.source}: the {META_SHEET} sheet names the template {template!r}, which this crm-sheets does not have",
                hint="upgrade crm-sheets, or fix the template row of the hidden _crm_meta sheet",
            ) from None
    # No meta sheet (it was deleted, or the workbook was copied sheet by sheet): recognise the
    # template from its tables, counting only sheets whose headers look like that table's.
    best, best_score = None, 0
    for name in available_templates():
        try:
            candidate = load_schema(name)
        except CrmSheetsError:  # a broken template cannot be this workbook's
            continue
        score = 0
        located = _locate_tables(book, excel_tables, candidate)
        for tname, (sheet, hint) in located.items():
            t = candidate.tables[tname]
            if table_layout(grids[sheet], t, "en", hint, probe=True) is not None:
                score += 2 if t.kind == "data" else 1
        score += 2 * len(plain_lead_sheet(book.sheet_names, grids, candidate, located, _ours(meta)))
        if score > best_score:
            best, best_score = candidate, score
    if best is None or best_score < 2:  # one data table whose headers match is enough: a plain lead list
        raise NotAWorkbook(
            f"{src.source}: not a crm-sheets workbook (no {META_SHEET} sheet, and its sheets do not match a CRM template)",
            hint=_NOT_OURS_HINT,
        )
    what = f"no template in its {META_SHEET} sheet" if meta else f"no {META_SHEET} sheet"
    notes.append(f"{src.name}: {what}; read as the {best.name!r} template recognised from its sheets")
    return best


def _language(book: GridSource, schema: Schema, meta: Mapping[str, Any], notes: list[str]) -> str:
    lang = str(meta.get("lang") or "").strip().lower()
    if lang in LANGUAGES:
        return lang
    sheets = {normalize_header(s) for s in book.sheet_names}
    counts = {lg: sum(normalize_header(t.sheet_name(lg)) in sheets for t in schema.tables.values()) for lg in LANGUAGES}
    found = max(LANGUAGES, key=lambda lg: (counts[lg], lg == "en"))
    if meta.get("template"):  # a workbook we did not make says nothing of its language: no news
        notes.append(f"{META_SHEET} has no language; reading the workbook as {found!r} from its sheet names")
    return found


def _locate_tables(book: GridSource, excel_tables: Mapping[str, tuple[str, int]], schema: Schema) -> dict[str, tuple[str, int | None]]:
    """table name -> (sheet, header row hint): by Excel table name first, then by sheet name."""
    found: dict[str, tuple[str, int | None]] = {}
    used: set[str] = set()
    for t in schema.tables.values():
        where = excel_tables.get(normalize_header(t.excel_name))
        if where is not None and where[0] in book.sheet_names:
            found[t.name] = where
            used.add(where[0])
    for sheet in book.sheet_names:
        if sheet in used or sheet.casefold() == META_SHEET:
            continue
        t = schema.find_table(sheet)
        if t is not None and t.name not in found:
            found[t.name] = (sheet, None)
            used.add(sheet)
    return found


# ---------------------------------------------------------------------------------------------
# Headers and rows


# ---------------------------------------------------------------------------------------------
# Settings, custom fields, lists


def _read_settings(grids: GridSource, schema: Schema, where: tuple[str, int | None], lang: str) -> dict[str, Any]:
    """Setting key -> value typed by the schema's setting type (numbers, booleans), text stripped."""
    t = schema.tables["settings"]
    layout = table_layout(grids[where[0]], t, lang, where[1])
    if layout is None or "setting" not in layout.cells:
        return {}
    keys = layout.cells["setting"]
    values = layout.cells.get("value", [None] * len(keys))
    out: dict[str, Any] = {}
    neutral = ReadContext()
    for key_raw, raw in zip(keys, values):
        if is_empty(key_raw):
            continue
        key = as_text(key_raw).strip()
        spec = schema.setting(key)
        if is_empty(raw):
            out[key] = None
        elif spec is not None and not field_type(spec.type).free_text:
            value, ok = parse_value(Field(key, spec.type, {"en": key}), raw, neutral)
            out[key] = value if ok else raw  # unreadable: kept as typed, for check to report
        elif isinstance(raw, str):
            out[key] = raw.strip()
        elif spec is not None:  # a text setting typed as a number: its text
            out[key] = as_text(raw)
        else:
            out[key] = int(raw) if isinstance(raw, float) and raw.is_integer() else raw
    return out


def _with_custom_fields(grids: GridSource, schema: Schema, where: tuple[str, int | None], lang: str, ctx: ReadContext) -> Schema:
    """The schema plus the Fields sheet's custom fields (a dropdown's options become list custom_<table>_<name>)."""
    sheet, hint = where
    t = schema.tables["fields"]
    layout = table_layout(grids[sheet], t, lang, hint)
    if layout is None or not layout.sheet_rows:
        return schema
    n = len(layout.sheet_rows)
    col = {f.name: layout.cells.get(f.name, [None] * n) for f in t.fields}
    tables_lookup = option_lookup(schema.lists["rule_table"]) if "rule_table" in schema.lists else {}
    types_lookup = {fold_option(x): x for x in CUSTOM_TYPES}
    if "field_type" in schema.lists:
        types_lookup.update({k: v for k, v in option_lookup(schema.lists["field_type"]).items() if v in CUSTOM_TYPES})
    seen: set[tuple[str, str]] = set()
    for i, sheet_row in enumerate(layout.sheet_rows):
        def fail(problem: str, hint: str | None = None) -> SchemaError:
            return SchemaError(f"{sheet}, row {sheet_row}: {problem}", hint=hint or "fix or delete this row of the Fields sheet")

        text = {k: ("" if is_empty(v[i]) else as_text(v[i]).strip()) for k, v in col.items()}
        if not any(text.values()):
            continue
        data_tables = [x for x in schema.tables.values() if x.kind == "data"]
        table_name = tables_lookup.get(fold_option(text["table"])) if text["table"] else None
        if table_name is None and text["table"]:
            found = schema.find_table(text["table"])
            table_name = found.name if found is not None else None
        if table_name not in schema.tables or schema.tables[table_name].kind != "data":
            raise fail(
                f"unknown table {text['table']!r}" if text["table"] else "the Table column is empty",
                hint=f"use one of {', '.join(x.sheet_name(lang) for x in data_tables)}",
            )
        name = text["name"]
        if not name:
            raise fail("the Field name column is empty")
        if not _FIELD_NAME_RE.match(name):
            suggestion = re.sub(r"[^a-z0-9]+", "_", normalize_header(name) and name.lower()).strip("_")
            raise fail(f"field name {name!r} must use lower-case letters, digits and _ only",
                       hint=f"write it as {suggestion!r}" if suggestion and _FIELD_NAME_RE.match(suggestion) else None)
        ftype = types_lookup.get(fold_option(text["type"])) if text["type"] else None
        if ftype is None:
            raise fail(f"unknown type {text['type']!r}" if text["type"] else "the Type column is empty",
                       hint=f"use one of {', '.join(CUSTOM_TYPES)}")
        if (table_name, name) in seen:
            raise fail(f"field {name!r} of {table_name} is defined twice")
        seen.add((table_name, name))
        required = parse_checkbox(col["required"][i]) if not is_empty(col["required"][i]) else False
        if required is None:
            raise fail(f"Required should be yes or no, not {text['required']!r}")
        title = text["title"] or name.replace("_", " ").capitalize()
        list_name = None
        if field_type(ftype).options:
            options = [o for o in dict.fromkeys(re.split(r"\s*[,;\n]\s*", text["options"])) if o]
            if not options:
                raise fail(f"a {ftype} field needs its options, separated by commas, in the Options column")
            list_name = f"custom_{table_name}_{name}"
            lst = ListSchema(list_name, {"en": title, lang: title}, tuple(Option(o, {"en": o, lang: o}) for o in options))
            schema = replace(schema, lists={**schema.lists, list_name: lst})
        desc = {"en": text["description"], lang: text["description"]} if text["description"] else {}
        f = Field(name=name, type=ftype, title={"en": title, lang: title}, description=desc,
                  constraints=Constraints(required=required), list=list_name, custom=True)
        try:
            schema = schema.with_custom_fields([(table_name, f)])
        except SchemaError as exc:
            raise fail(exc.message.split(": ", 1)[-1], exc.hint) from None
    return schema


def _read_lists(book: GridSource, grids: GridSource, schema: Schema, lang: str) -> dict[str, ListSchema]:
    """The schema's lists plus the options people added on the Lists sheet (key = the label typed)."""
    lists = dict(schema.lists)
    owned = schema.owned_sheet("lists")
    sheet = _find_sheet(book, {normalize_header(x) for x in (*owned.title.values(), "lists")})
    if sheet is None:
        return lists
    grid = grids[sheet]
    by_title: dict[str, str] = {}
    for lst in lists.values():
        by_title.setdefault(normalize_header(lst.label(lang)), lst.name)
    for lst in lists.values():
        for x in (lst.name, *lst.title.values()):
            by_title.setdefault(normalize_header(x), lst.name)
    best, best_m = None, 0
    for r in range(min(HEADER_SCAN_ROWS, len(grid))):
        m = sum(1 for c in grid[r] if isinstance(c, str) and normalize_header(c) in by_title)
        if m > best_m:
            best, best_m = r, m
    if best is None:
        return lists
    for j, cell in enumerate(grid[best]):
        name = by_title.get(normalize_header(cell)) if isinstance(cell, str) else None
        if name is None:
            continue
        lst = lists[name]
        labels = (as_text(row[j]).strip() for row in grid[best + 1:] if j < len(row) and not is_empty(row[j]))
        lists[name] = _with_labels(lst, labels, lang)
    return lists


def _with_labels(lst: ListSchema, labels: Iterable[str], lang: str) -> ListSchema:
    """The list with the team's labels it does not know yet added as options (label in every language)."""
    known = option_lookup(lst)
    added = []
    for label in labels:
        if label and fold_option(label) not in known:
            known[fold_option(label)] = label
            added.append(Option(label, {"en": label, lang: label}))
    return replace(lst, options=(*lst.options, *added)) if added else lst


def _meta_options(lists: dict[str, ListSchema], meta: Mapping[str, Any], lang: str) -> dict[str, ListSchema]:
    """Values a team uses that crm-sheets added to a list of a workbook without a Lists sheet (_crm_meta
    ``options.<list>``: one label a line)."""
    for key, value in meta.items():
        name = key[len("options."):] if key.startswith("options.") else None
        if name not in lists or is_empty(value):
            continue
        lists[name] = _with_labels(lists[name], (x.strip() for x in as_text(value).split("\n")), lang)
    return lists


# ---------------------------------------------------------------------------------------------
# One table


def _options_for(f: Field, lists: Mapping[str, ListSchema]) -> dict[str, str] | None:
    if not field_type(f.type).options or f.options_from:
        return None  # options_from (deal stage): the text is kept as typed
    if f.list and f.list in lists:
        return option_lookup(lists[f.list])
    if f.constraints.enum:
        return {fold_option(e): e for e in f.constraints.enum}
    return None


def _assign_ids(raws: Any, prefix: str, seq: Any) -> tuple[list[str], list[str], int, pd.Index]:
    """IDs as typed (stripped); empty or repeated ones get the next number of the sequence. Also the
    IDs as the frame's index, built once (hashing 100,000s of IDs is most of this function's time)."""
    if infer_dtype(raws, skipna=False) == "string":  # the usual column: every cell a str
        texts = list(map(str.strip, raws))
    else:
        texts = [r.strip() if type(r) is str else ("" if is_empty(r) else as_text(r).strip()) for r in raws]
    joined = "\n".join(texts)
    if joined.count("\n") == len(texts) - 1:  # no ID holds a line break: one regex pass finds the numbers
        numbers = map(int, re.findall(rf"^{re.escape(prefix)}-(\d+)$", joined, flags=re.M))
    else:
        head = prefix + "-"
        numbers = (int(s[len(head):]) for s in texts if s.startswith(head) and s[len(head):].isdigit())
    next_id = max(int(seq or 1), max(numbers, default=0) + 1)
    assigned: list[str] = []
    index = pd.Index(texts, dtype=object, name="id")
    for i in np.flatnonzero(index.duplicated() | (index == "")).tolist():
        texts[i] = format_id(prefix, next_id)  # new IDs are above every ID in the sheet: no clash
        next_id += 1
        assigned.append(texts[i])
    if assigned:
        index = pd.Index(texts, dtype=object, name="id")
    return texts, assigned, next_id, index


def _build_table(t: TableSchema, sheet: str, layout: Layout, ctx: ReadContext, lists: Mapping[str, ListSchema],
                 meta: Mapping[str, Any]) -> Table:
    n = len(layout.sheet_rows)
    assigned: list[str] = []
    next_id = 1
    if t.id_prefix:
        raw_ids = layout.cells.get("id", [None] * n)
        ids, assigned, next_id, index = _assign_ids(raw_ids, t.id_prefix, meta.get(f"seq.{t.name}"))
    else:
        ids = [f"row{r}" for r in layout.sheet_rows]
        index = pd.Index(ids, dtype=object, name="id")
    data: dict[str, pd.Series] = {}
    invalid: dict[tuple[str, str], Any] = {}
    typed_text: dict[tuple[str, str], Any] = {}
    for f in t.fields:
        if f.type == "id":
            continue
        raws = layout.cells.get(f.name)
        if raws is None:  # a field the sheet has no column for (yet): all empty
            data[f.name] = pd.Series([None] * n, index=index, dtype=dtype_for(f.type))
            continue
        texts: dict[int, Any] = {}
        values, bad = parse_column(f, raws, ctx, _options_for(f, lists), texts)
        for i, raw in bad.items():
            invalid[(ids[i], f.name)] = raw
        for i, raw in texts.items():
            typed_text[(ids[i], f.name)] = raw
        data[f.name] = pd.Series(values, index=index, dtype=dtype_for(f.type), copy=False)
    df = pd.DataFrame(data, index=index) if data else pd.DataFrame(index=index)
    return Table(
        schema=t,
        df=df,
        sheet=sheet,
        rows=dict(zip(ids, layout.sheet_rows)),
        columns={name: column_letter(j) for name, j in layout.columns.items()},
        invalid=invalid,
        typed_text=typed_text,
        extra_columns=layout.extras,
        header_row=layout.header_row + 1,
        assigned_ids=tuple(assigned),
        next_id=next_id,
    )
