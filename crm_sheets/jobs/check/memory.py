"""Check's memory of rows: per data table, a key per row (its values and their types, its sheet row, the raw
text the reader kept of its cells) with the findings of the checks that look at that row alone, so a run
checks again only the rows whose key it has not seen. Checks across rows (IDs, unique values, options,
references, owners) are always made afresh.

Kept in check's state (plain JSON). What every row's verdict depends on besides the row (the table's columns,
its schema, settings, lists, language, the day, the Stages sheet) is a digest per table: when it changes, the
table is checked whole. The findings come out the same with or without the memory (tests/test_incremental.py).
"""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import replace
from typing import Any

import numpy as np

from crm_sheets.model import Finding, Table
from crm_sheets.model.memo import Unkept, decode, encode, row_keys

VERSION = 1


def table_digest(ctx: Any, table: Table) -> str:
    """Everything a row's own checks depend on besides the row."""
    stages = ctx.rule_rows("stages") if table.name == "deals" else None
    tables = ctx.tables
    parts = (
        VERSION, table.name, table.sheet, tuple(map(str, table.df.columns)), sorted(table.columns.items()), table.header_row,
        repr(table.schema), ctx.lang, ctx.region, ctx.title_case, str(ctx.today), repr(sorted(tables.settings.items(), key=str)),
        repr(sorted(tables.lists.items())), bool(getattr(tables, "adopted", False)), bool(getattr(tables, "date1904", False)),
        getattr(ctx, "formats", None),  # an adopted workbook's formats kept or tidied (check --fix) give other findings
        None if stages is None else stages.to_json(orient="split", date_format="iso", default_handler=str),
        _phonenumbers_version(),
    )
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


class RowMemory:
    """What check knew of each row (from the state given) and what it learns in this run (for the state it returns)."""

    def __init__(self, state: dict | None = None, moved: dict[str, dict[str, int]] | None = None) -> None:
        given, state = state, _unpacked(state)
        # table -> the sheet rows its records had when ``state`` was made, for tables whose rows moved since (the
        # runner's second look, after dedupe archived rows above them): a row remembered at another sheet row is
        # taken with its cells moved instead of being checked again (relocate()).
        self._moved = moved or {}
        self._known: dict[str, tuple[str, dict[str, list]]] = {
            name: (t["digest"], dict(t["rows"])) for name, t in (state.get("tables") or {}).items()
            if isinstance(t, dict) and isinstance(t.get("rows"), dict)
        }
        self._latest: dict[str, tuple[str, dict[str, list]]] = {}
        # The state given, while this run learns nothing new: returned as it is instead of packed again (packing
        # 100,000 rows' findings is seconds of CPU, in a run where nobody edited anything).
        self._given = given if self._known and len(self._known) == len(state.get("tables") or {}) else None
        self._given_names = set(self._known)
        self._changed: set[str] = set()  # tables of which this run learned something (a checked row, a row gone)

    def plan(self, ctx: Any, table: Table) -> "TablePlan":
        digest = table_digest(ctx, table)
        keys = row_keys(table)
        known = self._known.get(table.name)
        rows = known[1] if known is not None and known[0] == digest else {}
        old = self._moved.get(table.name)
        old_keys = row_keys(replace(table, rows=old)) if rows and keys is not None and old is not None else None
        return TablePlan(self, table, digest, keys, rows, old_keys, old)

    def state(self) -> dict[str, Any]:
        """As JSON text, deflated: 100,000 rows' findings weigh tens of MB as JSON objects, and the runner compares
        and stores the states of every run (one string is written and compared in milliseconds)."""
        if self._given is not None and not self._changed and set(self._latest) == self._given_names:
            return self._given
        tables = {name: {"digest": d, "rows": rows} for name, (d, rows) in self._latest.items()}
        # deflated as the JSON is made, a MB at a time: the whole text at 100k rows is ~100 MB, twice (str, bytes)
        packer, parts, size, out = zlib.compressobj(1), [], 0, []
        for chunk in json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).iterencode(tables):
            parts.append(chunk)
            size += len(chunk)
            if size >= 1 << 20:
                out.append(packer.compress("".join(parts).encode("utf-8", "surrogatepass")))
                parts, size = [], 0
        out.append(packer.compress("".join(parts).encode("utf-8", "surrogatepass")))
        out.append(packer.flush())
        return {"version": VERSION, "packed": base64.b64encode(b"".join(out)).decode("ascii")}


class TablePlan:
    """The rows of one table to check again (``sub``) and the findings of the others (``kept``)."""

    def __init__(self, memory: RowMemory, table: Table, digest: str, keys: np.ndarray | None, rows: dict[str, list],
                 old_keys: np.ndarray | None = None, old_rows: dict[str, int] | None = None) -> None:
        self.memory, self.table, self.digest, self.known_rows = memory, table, digest, rows
        self.hex = None if keys is None else [format(int(k), "016x") for k in keys]
        self.kept: list[tuple[tuple, Finding]] = []
        fresh = np.ones(len(table.df), dtype=bool)
        moved: dict[str, list] = {}  # new key -> the items of a row remembered at another sheet row, relocated
        if self.hex is not None and rows:
            ids, relocate = table.df.index, Relocation(table) if old_keys is not None else None
            for i, h in enumerate(self.hex):
                found = rows.get(h)
                if found is None and relocate is not None and old_keys[i] != keys[i]:
                    found = rows.get(format(int(old_keys[i]), "016x"))
                    if found is not None:
                        found = relocate(found, old_rows.get(ids[i]), table.rows.get(ids[i]))
                        if found is not None:
                            moved[h] = found
                if found is None:
                    continue
                fresh[i] = False
                for item in found:
                    self.kept.append(((item[0], item[1]), Finding(
                        item[2], item[3], table.name, item[4], item[5], decode(item[6]), item[7], item[8], decode(item[9]), item[10])))
        if moved:  # remembered as they are now (a copy: the rows given are not this table's any more)
            self.known_rows = {**rows, **moved}
        self.fresh = fresh
        self.kept_rows: Table | None = None  # the rows not checked again (their phone numbers keep their verdicts)
        if fresh.all():
            self.sub = table
        else:
            keep = set(table.df.index[fresh])
            self.sub = replace(table, df=table.df[fresh],
                               invalid={k: v for k, v in table.invalid.items() if k[0] in keep},
                               typed_text={k: v for k, v in table.typed_text.items() if k[0] in keep})
            self.kept_rows = replace(table, df=table.df[~fresh], invalid={}, typed_text={})

    def learn(self, local: list[tuple[tuple, Finding]]) -> None:
        """Remember this pass: for every row, the findings of its own checks (``local``: those of the rows checked
        now; a kept row keeps its remembered items, the same objects, not a copy)."""
        if self.hex is None:
            self.memory._latest.pop(self.table.name, None)
            return
        index = self.table.df.index
        by_row: dict[int, list] = {}
        bad: set[int] = set()
        for mark, f in local:
            i = index.get_loc(f.record_id) if f.record_id in index else -1
            if i < 0:
                continue
            try:
                item = [mark[0], mark[1], f.type, f.severity, f.record_id, f.field, encode(f.value), f.message, f.cell,
                        encode(f.fix), f.fixable]
            except Unkept:
                bad.add(i)
                continue
            by_row.setdefault(i, []).append(item)
        fresh, known = self.fresh, self.known_rows
        none = ()  # most rows have no findings of their own: one empty tuple for all of them (JSON: [])
        rows = {h: (by_row.get(i, none) if fresh[i] else known[h]) for i, h in enumerate(self.hex) if i not in bad}
        self.memory._latest[self.table.name] = (self.digest, rows)
        known = self.memory._known.get(self.table.name)
        if not (known is not None and known[0] == self.digest and known[1] is self.known_rows and not fresh.any()
                and not bad and len(rows) == len(known[1])):
            self.memory._changed.add(self.table.name)  # not every row as given: something new to remember
        if known is not None and known[0] == self.digest:
            known[1].update(rows)  # a second pass of this run (check --fix) meets these rows again
        else:
            self.memory._known[self.table.name] = (self.digest, dict(rows))


class Relocation:
    """A remembered row's items moved to another sheet row: a row's own findings name the sheet row only in their
    cell (``Leads!F12``) and the message's start (where: the cell, then the column's header), so they are those
    of the row at its new place with the row number changed there. Anything else (a cell elsewhere, no row):
    None, and the row is checked again."""

    def __init__(self, table: Table) -> None:
        from crm_sheets.model.tables import quote_sheet

        self.quoted = quote_sheet(table.sheet or table.schema.sheet_name())
        self.columns = table.columns

    def __call__(self, items: list, old: Any, new: Any) -> list | None:
        if type(old) is not int or type(new) is not int:
            return None
        out = []
        for item in items:
            col = self.columns.get(item[5] or "")
            cell = f"{self.quoted}!{col}{old}"
            message = item[7]
            if col is None or item[8] != cell or not isinstance(message, str) or not message.startswith(cell) \
                    or message[len(cell):len(cell) + 1] not in (" ", ":"):
                return None
            moved = f"{self.quoted}!{col}{new}"
            out.append([*item[:7], moved + message[len(cell):], moved, *item[9:]])
        return out


def _unpacked(state: Any) -> dict[str, Any]:
    """The tables of a state RowMemory.state() made; {} for anything else (a lost or edited state is only a miss)."""
    if not isinstance(state, dict) or state.get("version") != VERSION or not isinstance(state.get("packed"), str):
        return {}
    try:
        text = zlib.decompress(base64.b64decode(state["packed"])).decode("utf-8", "surrogatepass")
        return {"tables": json.loads(text)}
    except (ValueError, zlib.error):
        return {}


def _phonenumbers_version() -> str:
    try:
        import phonenumbers

        return str(getattr(phonenumbers, "__version__", ""))
    except ImportError:
        return ""
