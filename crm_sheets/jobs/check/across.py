"""Check's checks across rows (unique values, options, references, owners): made once a look, and taken again instead
of made again when nothing they read changed, within a run (check --fix's second pass) and between runs.

Between runs the memory is keyed by the read's key of each table (model/memo.py ``stamp``): a table read with the key
it had when its checks across rows were made, and whose checks read nothing else that changed (its schema and
settings: check's table digest; the record IDs of the tables its references may point to, by a hash of them; the
names in Team; the lists; the rule sheets its options come from; the sheets' names), has the same findings. A person
who changed a few leads' notes has leads' checks across rows made again, and those of the tables pointing to leads
taken as they were (the leads' IDs are the same). The findings come out the same with or without the memory
(tests/test_check_across_memory.py).
"""
from __future__ import annotations

import hashlib
import inspect
from functools import lru_cache
from itertools import repeat
from typing import Any, Callable

import numpy as np

from crm_sheets.model import CellUpdate, Finding, Table, Tables
from crm_sheets.model.colhash import column_hashes
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.memo import Unkept, finding_from_json, finding_json, peek_stamp

VERSION = 1


class AcrossRows:
    """The findings of each check across rows of a data table's column, in one look. A second look of the same run
    (check --fix's second pass) takes those of a column no fix wrote, nor any table the check compares it with (Team
    for owners, Stages for a deal's stage), again (at 30k sample leads the second pass compared 40 columns' values
    with sets and other tables); a later run takes those of a table whose key is the one remembered (``state``: what
    ``state()`` returned last time)."""

    def __init__(self, state: dict | None = None) -> None:
        self._made: dict[tuple, list[Finding]] = {}
        # the (table, field) cells and the tables the fixes wrote, once a second pass begins (None: a first pass)
        self._fields: set[tuple[str, str]] | None = None
        self._tables: set[str] = set()
        ours = isinstance(state, dict) and state.get("version") == VERSION
        given = state.get("tables") if ours else None
        self._given: dict[str, dict] = {n: t for n, t in (given or {}).items()
                                        if isinstance(t, dict) and isinstance(t.get("key"), str)
                                        and isinstance(t.get("found"), dict)}
        ids = state.get("ids") if ours else None
        # table -> [the read's key of a table, the hash of its record IDs]: a table read with that key, or typed again
        # over it (the same IDs, model/memo.py stamp's base), has the same IDs, not hashed again
        self._ids: dict[str, list] = {n: v for n, v in (ids or {}).items()
                                      if isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)}
        self._look: _Look | None = None
        self._keys: dict[str, str | None] = {}  # table -> the key of its checks across rows in this look
        self._learnt: dict[str, dict[str, list] | None] = {}  # table -> mark -> findings as JSON (None: not kept)

    def begin(self, ctx: Any, tables: Tables) -> None:
        """A first look at ``tables`` (before any table's rows are planned: the read's keys are asked as they are)."""
        if self._fields is not None:
            return  # a second pass: its tables are the first's with the fixes applied, none as read
        self._look = _Look(ctx, tables, self._ids)

    def start(self, table: Table, digest: str) -> None:
        """The checks across rows of ``table`` (whose rows' own checks depend on what ``digest`` says) begin."""
        if self._fields is not None:
            return  # a second pass: what the first learnt of the tables as read stays
        key = self._look.key(table, digest) if self._look is not None else None
        self._keys[table.name] = key
        self._learnt[table.name] = {} if key is not None else None

    def fixed(self, updates: list[CellUpdate]) -> None:
        """A second pass begins, on the tables with ``updates`` applied."""
        self._fields = {(u.table, u.field) for u in updates}
        self._tables = {u.table for u in updates}

    def run(self, out: Any, table: Table, fields: set[str], tables: tuple[str, ...], check: Callable[[], None]) -> None:
        """``check()`` (a check across rows of ``table``'s ``fields`` that also reads ``tables`` whole), made or
        taken from the first pass or the last run, under the collector's current mark."""
        key = (table.name, out.mark)
        found = self._made.get(key)
        if found is not None and self._fields is not None and not any((table.name, n) in self._fields for n in fields) \
                and not any(t in self._tables for t in tables if t):
            out.items.extend(found)
            out.marks.extend(repeat(out.mark, len(found)))
            return
        learnt = self._learnt.get(table.name) if self._fields is None else None
        mark = f"{out.mark[0]},{out.mark[1]}" if out.mark is not None else ""
        kept = self._kept(table.name, mark) if learnt is not None else None
        start = len(out.items)
        if kept is not None:
            out.items.extend(kept)
            out.marks.extend(repeat(out.mark, len(kept)))
        else:
            check()
        self._made[key] = found = out.items[start:]
        if learnt is not None:
            if kept is not None:
                learnt[mark] = self._given[table.name]["found"][mark]
                return
            try:
                learnt[mark] = [finding_json(f) for f in found]
            except Unkept:
                self._learnt[table.name] = None  # a value JSON cannot carry: made again next time

    def _kept(self, name: str, mark: str) -> list[Finding] | None:
        """The findings the last run made under ``mark`` of table ``name``, when its key is this look's."""
        before = self._given.get(name)
        if before is None or before["key"] != self._keys.get(name):
            return None
        items = before["found"].get(mark)
        if not isinstance(items, list):
            return None
        try:
            return [finding_from_json(item) for item in items]
        except (TypeError, ValueError, KeyError):
            return None

    def state(self) -> dict[str, Any]:
        """Each data table's findings of this look under its key; a table not keyed in this look (not as read: the
        runner's second look, or a table the write left as it was in the confirming pass) keeps what was remembered
        of it (a later read of the table as it was then has that key again)."""
        out = {name: entry for name, entry in self._given.items()}
        for name, learnt in self._learnt.items():
            key = self._keys.get(name)
            if learnt is not None and key is not None:
                out[name] = {"key": key, "found": learnt}
        ids = dict(self._ids)
        if self._look is not None:
            ids.update(self._look.hashed)
        return {"version": VERSION, "tables": out, "ids": ids}


class _Look:
    """What a first look knows to key each table's checks across rows: the read's keys of the tables (asked before
    any table's rows are planned), and, made when a table's key asks for them, a hash of each table's record IDs,
    the names in Team, the rule sheets' rows."""

    def __init__(self, ctx: Any, tables: Tables, ids: dict[str, list]) -> None:
        self.ctx, self.tables = ctx, tables
        stamps = {name: peek_stamp(t) for name, t in tables.tables.items()
                  if t.schema.kind == "data" and getattr(t, "loaded", True)}
        self.tokens = {name: token for name, (token, _base) in stamps.items()}
        self._ids: dict[str, str] = {}
        self.hashed: dict[str, list] = {}  # table -> [its read's key, the hash of its record IDs], for the state
        for name, (token, base) in stamps.items():
            was = ids.get(name)
            if token is not None and was is not None and was[0] in (token, base):
                self._ids[name] = was[1]
                self.hashed[name] = [token, was[1]]
        self._common: str | None = None

    def key(self, table: Table, digest: str) -> str | None:
        token = self.tokens.get(table.name)
        if token is None:
            return None
        try:
            parts = (digest, token, self._of(table), self._shared())
        except (TypeError, ValueError):
            return None  # record IDs pandas cannot hash: made every time
        return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()

    def _of(self, table: Table) -> list:
        """What the checks across rows of ``table`` read of other tables."""
        tables, out = self.tables, []
        for f in table.schema.fields:
            kind = field_type(f.type)
            if kind.links_to == "record":
                names = sorted(n for n, t in tables.tables.items() if t.schema.id_prefix and t.schema.kind == "data") \
                    if f.reference == "*" else [f.reference]
                out.append((f.name, [(n, self._record_ids(n)) for n in names]))
            elif kind.links_to == "member":
                team = tables.get("team")
                names = None if team is None or "name" not in team.df.columns else repr(team.df["name"].tolist())
                out.append((f.name, "team", names))
            if f.options_from:
                src = f.options_from.partition(".")[0]
                rows = self.ctx.rule_rows(src)
                out.append((f.name, src, None if rows is None else rows.to_json(
                    orient="split", date_format="iso", default_handler=str)))
        return out

    def _record_ids(self, name: str) -> str | None:
        got = self._ids.get(name)
        if got is None:
            t = self.tables.get(name)
            if t is None or not t.schema.id_prefix:
                got = "-"
            else:  # (the run's hash of the index, model/colhash.py: report's digest hashes the same)
                hashed = column_hashes(t).index(t.df)
                got = hashlib.blake2b(np.ascontiguousarray(hashed).tobytes(), digest_size=16).hexdigest() \
                    + f":{len(t.df)}"
                if self.tokens.get(name) is not None:
                    self.hashed[name] = [self.tokens[name], got]
            self._ids[name] = got
        return got

    def _shared(self) -> str:
        """What every table's checks across rows depend on alike: the code, lists, sheets' names, language."""
        if self._common is None:
            tables = self.tables
            self._common = repr((VERSION, _code_version(), repr(sorted(tables.lists.items())),
                                 sorted((n, t.sheet) for n, t in tables.tables.items()), tables.lang, self.ctx.lang,
                                 bool(getattr(tables, "adopted", False)), list(tables.schema.tables)))
        return self._common


@lru_cache(maxsize=1)
def _code_version() -> str:
    """A digest of the code of the checks across rows (remembered findings never outlive the checks that made them)."""
    from crm_sheets.jobs.check import common, links, options
    from crm_sheets.model import normalize

    h = hashlib.sha256(VERSION.to_bytes(2, "little"))
    for module in (common, links, options, normalize):
        try:
            h.update(inspect.getsource(module).encode("utf-8"))
        except (OSError, TypeError):
            h.update(module.__name__.encode())
    return h.hexdigest()[:16]
