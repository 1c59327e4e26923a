"""Planning an import: export rows in, a ChangeSet and a report out. Pure (no file, no clock): the rows are
read already, the workbook's tables are given. Each source record finds its record in the workbook (by
its external ID, then people by email and the dedupe job's scoring, companies by domain or name, deals by
name and account), relations resolve by source ID or readable key, and only what differs is written.
"""
from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

import pandas as pd

from crm_sheets.imports import meaning
from crm_sheets.imports.mapping import FileMap, custom_name, custom_title
from crm_sheets.imports.source_rows import (  # noqa: F401  (importable from here as before)
    EXTERNAL_ID, EXTERNAL_KEY, EXTERNAL_TITLE, PEOPLE, TABLE_ORDER, Rec, domain, plain_value, records, same_value,
    split_name,
)
from crm_sheets.jobs.dedupe.keys import company_key  # one notion of 'same company' with dedupe
from crm_sheets.model.changeset import AuditEntry, ChangeSet, CellUpdate, OptionAdd, RowAppend
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import fold
from crm_sheets.model.schema import Field, normalize_header
from crm_sheets.model.tables import Tables
from crm_sheets.model.values import as_text, cell_text, fold_option, is_blank, is_empty, literal, option_lookup, parse_value, read_context
from crm_sheets.store.mapping import WHOLE_KEY

_VENDORS = ("salesforce", "hubspot", "pipedrive", "csv")


@dataclass
class Problem:
    """Something a person should look at: where (file, line, column), the value, what happened, what to do."""

    file: str
    line: int
    column: str
    value: str
    problem: str
    fix: str

    def message(self) -> str:
        where = f"{self.file}, line {self.line}" + (f", column {self.column!r}" if self.column else "")
        value = f" {self.value!r}" if self.value else ""
        return f"{where}:{value} {self.problem}; {self.fix}"


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


@dataclass
class Plan:
    changes: ChangeSet = field(default_factory=ChangeSet)
    counts: dict[str, Counts] = field(default_factory=dict)
    skipped: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    custom_fields: list[tuple[str, str, str]] = field(default_factory=list)  # (table, field, title) added

    def count(self, table: str) -> Counts:
        return self.counts.setdefault(table, Counts())


@lru_cache(maxsize=8192)
def _title_key(title: str) -> str:
    return normalize_header(title)



# ---------------------------------------------------------------------------------------------
# The plan


class Planner:
    def __init__(self, tables: Tables, *, tz: tzinfo | None, now: datetime):
        self.tables = tables
        self.tz = tz
        self.now = now
        self.plan = Plan()
        self.ctx = replace(read_context(tables.settings), date1904=tables.date1904)
        self.by_ext: dict[str, dict[str, str]] = {}
        self.by_key: dict[str, dict[Any, str]] = {}
        self.run_ids: dict[tuple[str, str, str], str] = {}  # (vendor, table, source ID) -> our ID
        self.new: dict[str, dict[str, dict[str, Any]]] = {}  # table -> ID -> values of created records
        self.first_line: dict[str, Rec] = {}  # our ID -> the record that made or matched it first
        self.options_added: set[tuple[str, str]] = set()
        self.stages_added: dict[str, str] = {}
        self.customs: dict[tuple[str, str], str] = {}  # (table, folded title) -> field name
        self._field_cache: dict[str, dict[str, Field]] = {}
        self._column_cache: dict[str, tuple[dict[str, Any], dict[str, int]]] = {}
        self._lookups: dict[str, dict[str, str]] = {}
        self._stage_cache: tuple | None = None
        self._team: tuple[set[str], dict[str, str]] | None = None
        self._owners_noted: set[str] = set()
        self._index()

    # -- indexes of the workbook's records
    def _index(self) -> None:
        for name, t in self.tables.tables.items():
            if t.schema.kind != "data" or not t.schema.id_prefix:
                continue
            df = t.df
            ext = self.by_ext.setdefault(name, {})
            if EXTERNAL_ID in df.columns:
                for rid, v in df[EXTERNAL_ID].items():
                    if not is_empty(v) and not pd.isna(v):
                        ext.setdefault(cell_text(v, strip=True), rid)
                        if ":" not in cell_text(v, strip=True):  # a team's own "Salesforce ID" column (adopt): the bare source ID
                            for vendor in _VENDORS:
                                ext.setdefault(f"{vendor}:{cell_text(v, strip=True)}", rid)
            cols = [c for c in ("email", "name", "website", "company", "first_name", "last_name", "account") if c in df.columns]
            columns = [df[c].to_numpy(object) for c in cols]  # one pass over plain arrays: 100k rows stay fast
            for i, rid in enumerate(df.index):
                self._add_keys(name, rid, {c: col[i] for c, col in zip(cols, columns)})

    def _add_keys(self, table: str, rid: str, values: dict[str, Any]) -> None:
        keys = self.by_key.setdefault(table, {})
        get = lambda c: cell_text(values.get(c), strip=True) if not is_blank(values.get(c)) else ""  # noqa: E731
        if get("email"):
            keys.setdefault(("email", get("email").casefold()), rid)
        if table in ("accounts", "clients"):
            if get("website") and domain(get("website")):
                keys.setdefault(("domain", domain(get("website"))), rid)
            if get("name") and company_key(get("name")):
                keys.setdefault(("name", company_key(get("name"))), rid)
        elif table == "deals" and get("name"):
            keys.setdefault(("deal", fold(get("name")), get("account")), rid)
        full = " ".join(x for x in (get("first_name"), get("last_name")) if x)
        if table in PEOPLE and full:
            keys.setdefault(("person", fold(full)), rid)

    # -- the run
    def run(self, recs: list[Rec], maps: list[FileMap]) -> Plan:
        self._custom_fields(recs, maps)
        order = {t: i for i, t in enumerate(TABLE_ORDER)}
        tables = sorted({r.table for r in recs}, key=lambda t: (order.get(t, 99), t))
        for name in tables:
            todo = [r for r in recs if r.table == name]
            if name not in self.tables:
                for r in todo:
                    self._skip(r, f"the workbook has no {name} table")
                continue
            for r in todo:
                self._links(r, other_tables=True)
            self._match(name, todo)
            for r in todo:
                if r.id:
                    self._links(r, other_tables=False)
                    self._write(r)
        self._finish()
        return self.plan

    def _skip(self, r: Rec, reason: str) -> None:
        self.plan.count(r.table).skipped += 1
        self.plan.skipped.append(Problem(r.file, r.line, "", r.raw_id, f"skipped: {reason}", "nothing was imported from this row"))

    # -- custom fields: columns no field takes
    def _custom_fields(self, recs: list[Rec], maps: list[FileMap]) -> None:
        wanted: dict[str, list[str]] = {}
        for r in recs:
            for k in r.values:
                if isinstance(k, tuple):
                    titles = wanted.setdefault(r.table, [])
                    if k[1] not in titles:
                        titles.append(k[1])
        for fm in maps:  # columns empty in every row still become fields: the export had them
            for header, table in fm.unmapped():
                titles = wanted.setdefault(table, [])
                title = custom_title(header, fm.vendor)
                if title not in titles and normalize_header(title) != EXTERNAL_KEY:
                    titles.append(title)
        has_fields = "fields" in self.tables
        for table in dict.fromkeys(r.table for r in recs if r.ext):
            t = self.tables.get(table)
            if t is not None and not t.schema.has_field(EXTERNAL_ID):
                if has_fields:
                    lang = self.tables.lang or "en"
                    self._add_custom(table, EXTERNAL_ID, EXTERNAL_TITLE.get(lang, EXTERNAL_TITLE["en"]))
                else:
                    self.plan.notes.append(f"{table}: the source IDs are not kept (the workbook has no Fields sheet to add "
                                           "an External ID column to): records are matched by email, domain or name")
        for table, titles in wanted.items():
            if table not in self.tables:
                continue
            t = self.tables[table]
            for title in titles:
                key = normalize_header(title)
                existing = next((f for f in t.schema.fields if key in f.names()), None)
                if existing is not None and existing.type != "id":
                    self.customs[(table, key)] = existing.name
                    continue
                if not has_fields:
                    self.plan.notes.append(f"{table}: column {title!r} was not kept: the workbook has no Fields sheet to "
                                           "add it to (run crm-sheets upgrade, then import again)")
                    continue
                name = custom_name(title)
                while t.schema.has_field(name):
                    name += "_2"
                self._add_custom(table, name, title)
                self.customs[(table, key)] = name

    def _add_custom(self, table: str, name: str, title: str) -> None:
        """A text field of the table, as a row of the Fields sheet (the reader reads it from there next time)."""
        t = self.tables[table]
        f = Field(name=name, type="text", title={"en": title, self.tables.lang or "en": title}, custom=True)
        self.tables.schema = self.tables.schema.with_custom_fields([(table, f)])
        t.schema = self.tables.schema.tables[table]
        if name not in t.df.columns:
            t.df[name] = pd.Series(index=t.df.index, dtype=object)
        self.plan.changes.appends.append(RowAppend("fields", "", {"table": table, "name": name, "title": title, "type": "text"}))
        self.plan.custom_fields.append((table, name, title))

    # -- relations
    def _links(self, r: Rec, other_tables: bool) -> None:
        missing: dict[str, tuple[str, str, Any, str]] = {}
        for fname, target, by, raw, header in r.links:
            if (target == r.table) == other_tables or fname in r.values:
                continue
            rid = self._resolve(target, by, raw, r.vendor)
            if rid is None and by == "id":  # an export may name the record where an ID was expected
                rid = self._resolve(target, "key", raw, r.vendor)
            if rid is not None:
                r.values[fname] = rid
                r.columns[fname] = header
                missing.pop(fname, None)
            else:
                missing.setdefault(fname, (target, by, raw, header))
        for target, fname in (("accounts", "account"), ("clients", "client"), ("contacts", "contact")):
            other = r.row.get(target)  # Pipedrive: the organization and person of the same row
            if not other_tables and other is not None and other is not r and other.id and fname not in r.values \
                    and self.tables[r.table].schema.has_field(fname):
                r.values[fname] = other.id
                missing.pop(fname, None)
        for fname, (target, by, raw, header) in missing.items():
            what = {"id": "source ID", "key": "name"}.get(by, "ID or name")
            single = {"accounts": "account", "clients": "client", "contacts": "contact", "leads": "lead", "deals": "deal",
                      "people": "person"}.get(target, target)
            self.plan.problems.append(Problem(
                r.file, r.line, header, cell_text(raw, strip=True), f"no {single} of the import or the workbook has this {what}",
                f"import the {single} file in the same call (or add the {single}) and import again; the link was left empty"))

    def _resolve(self, table: str, by: str, raw: Any, vendor: str) -> str | None:
        text = cell_text(raw, strip=True)
        if not text or table not in self.tables:
            return None
        if by in ("id", "auto"):
            rid = self.run_ids.get((vendor, table, text)) or self.by_ext.get(table, {}).get(f"{vendor}:{text}") \
                or self.by_ext.get(table, {}).get(text)
            if rid:
                return rid
            if by == "auto" and text in self.tables[table].df.index:
                return text
            if by == "id":
                return None
        keys = self.by_key.get(table, {})
        if table in ("accounts", "clients"):
            d = domain(text) if " " not in text.strip() else ""  # "initrode.com" is a domain, "Acme Inc." a name
            return (keys.get(("domain", d)) if d else None) or keys.get(("name", company_key(text)))
        if table in PEOPLE:
            return keys.get(("email", text.casefold())) or keys.get(("person", fold(text)))
        if table == "deals":
            return next((rid for k, rid in keys.items() if k[0] == "deal" and k[1] == fold(text)), None)
        return None

    # -- matching
    def _match(self, table: str, recs: list[Rec]) -> None:
        keys = self.by_key.setdefault(table, {})
        ext = self.by_ext.setdefault(table, {})
        unmatched: list[Rec] = []
        for r in recs:
            if not self._worth(r):
                continue
            rid = ext.get(r.ext) if r.ext else None
            if rid is None:
                rid = self._natural(table, r, keys)
            if rid is None:
                unmatched.append(r)
                continue
            self._take(r, rid)
        if table in PEOPLE and unmatched and len(self.tables[table].df):
            found = self._dedupe(table, unmatched)
            for r in unmatched:
                if r in found:
                    r.fill_only = True  # a likely match, not a sure one: it never overwrites what is there
                    self._take(r, found[r])
            unmatched = [r for r in unmatched if not r.id]
        for r in unmatched:
            rid = (ext.get(r.ext) if r.ext else None) or self._natural(table, r, keys)  # an earlier row of this run
            if rid is not None:
                self._take(r, rid)
                continue
            rid = self.tables[table].allocate_id()
            r.id, r.new = rid, True
            self.new.setdefault(table, {})[rid] = {}
            self.first_line[rid] = r
            self._register(r)

    def _worth(self, r: Rec) -> bool:
        v = {k: x for k, x in r.values.items() if not isinstance(k, tuple)}
        if not v and not r.links:
            self._skip(r, "no value under a mapped column")
            return False
        if r.table in PEOPLE and not any(cell_text(v.get(k), strip=True) for k in ("last_name", "first_name", "email")):
            self._skip(r, "a person with neither a name nor an email")
            return False
        if r.table in ("accounts", "clients", "deals") and not cell_text(v.get("name"), strip=True):
            self._skip(r, f"no {'deal' if r.table == 'deals' else 'account'} name")
            return False
        return True

    def _natural(self, table: str, r: Rec, keys: dict) -> str | None:
        v = r.values
        if table in PEOPLE and cell_text(v.get("email"), strip=True):
            return keys.get(("email", cell_text(v["email"], strip=True).casefold()))
        if table in ("accounts", "clients"):
            d = domain(cell_text(v.get("website"), strip=True))
            return (keys.get(("domain", d)) if d else None) or keys.get(("name", company_key(cell_text(v.get("name"), strip=True))))
        if table == "deals":
            acc = v.get("account")
            return keys.get(("deal", fold(cell_text(v.get("name"), strip=True)), cell_text(acc, strip=True) if isinstance(acc, str) else ""))
        return None

    def _dedupe(self, table: str, recs: list[Rec]) -> dict[Rec, str]:
        """People without an email match: scored against the workbook's people by the dedupe job's rules;
        a pair at or above its automatic threshold is the same person."""
        from crm_sheets.jobs.dedupe import MatchSettings, find_pairs
        from crm_sheets.model.tables import Table, Tables as _Tables

        t = self.tables[table]
        temp = {f"~{i}": r for i, r in enumerate(recs)}
        cols = [c for c in ("first_name", "last_name", "email", "phone", "mobile", "company", "website", "city",
                            "country", "account") if c in t.df.columns]
        extra = pd.DataFrame([{c: self._plain(t, c, r.values.get(c)) for c in cols} for r in recs],
                             index=pd.Index(list(temp), dtype=object, name=t.df.index.name), columns=cols)
        df = pd.concat([t.df[cols].astype(object), extra])
        scratch = {table: Table(t.schema, df, sheet=t.sheet)}
        if table == "contacts" and "accounts" in self.tables:
            scratch["accounts"] = self.tables["accounts"]
        view = _Tables(self.tables.schema, scratch, lang=self.tables.lang, settings=self.tables.settings)
        settings = MatchSettings.from_tables(self.tables)
        out: dict[Rec, str] = {}
        for p in find_pairs(view, settings, floor=settings.auto, tables_to_match=(table,)):
            a, b = (p.id_a, p.id_b) if p.id_a in temp else (p.id_b, p.id_a)
            if a in temp and b not in temp and temp[a] not in out:
                out[temp[a]] = b
        return out

    def _plain(self, t, c: str, raw: Any) -> Any:
        if c not in t.schema.field_names or raw is None or isinstance(raw, tuple):
            return None
        return cell_text(raw, strip=True) or None

    def _take(self, r: Rec, rid: str) -> None:
        r.id = rid
        kept = self._old(r.table, rid, EXTERNAL_ID) if rid in self.tables[r.table].df.index else None
        if r.ext and not is_blank(kept) and cell_text(kept, strip=True) not in (r.ext, r.ext.partition(":")[2]):
            r.fill_only = True  # the record came from another system first: this one fills what it lacks
        if rid in self.first_line and self.first_line[rid] is not r:
            first = self.first_line[rid]
            if rid in self.new.get(r.table, {}):
                r.new = True  # a second row of the run for the same record: it fills what the first left blank
                self.plan.skipped.append(Problem(r.file, r.line, "", r.raw_id, f"the same record as {first.file}, line {first.line}",
                                                 "its values fill only what that row left empty"))
        else:
            self.first_line[rid] = r
        self._register(r)

    def _register(self, r: Rec) -> None:
        if r.ext:
            self.by_ext.setdefault(r.table, {}).setdefault(r.ext, r.id)
        if r.raw_id:
            self.run_ids.setdefault((r.vendor, r.table, r.raw_id), r.id)
        values = {k: v for k, v in r.values.items() if isinstance(k, str)}
        self._add_keys(r.table, r.id, values)

    # -- values
    def _fields(self, table: str) -> dict[str, Field]:
        fields = self._field_cache.get(table)
        if fields is None:
            fields = self._field_cache[table] = {f.name: f for f in self.tables[table].schema.fields}
        return fields

    def _old(self, table: str, rid: str, name: str) -> Any:
        """The workbook's value of a record's field (its raw text when it could not be read as its type)."""
        t = self.tables[table]
        raw = t.invalid.get((rid, name))
        if raw is not None:
            return raw
        cols = self._column_cache.get(table)
        if cols is None:  # plain arrays and row positions, made once: .at per cell is slow at 100k records
            cols = self._column_cache[table] = ({c: t.df[c].to_numpy(object) for c in t.df.columns},
                                                {rid: i for i, rid in enumerate(t.df.index)})
        arrays, rows = cols
        return arrays[name][rows[rid]] if name in arrays and rid in rows else None

    def _write(self, r: Rec) -> None:
        fields = self._fields(r.table)
        values: dict[str, Any] = {}
        for k, raw in r.values.items():
            if isinstance(k, tuple):
                name = self.customs.get((r.table, _title_key(k[1])))
                if name is None:
                    continue
                f = fields[name]
            elif k in fields:
                f = fields[k]
            else:
                continue
            if f.type == "id" or f.owned_by_job:
                continue
            value = self._convert(r, f, raw, r.columns.get(k, ""))
            if not is_blank(value):
                values[f.name] = value
        if r.ext and EXTERNAL_ID in fields:
            values.setdefault(EXTERNAL_ID, r.ext)
        columns = self.tables[r.table].columns
        if WHOLE_KEY in columns and "first_name" not in columns and "last_name" not in columns:
            # an adopted sheet keeps people as "Last, First" in one column: a new one is written so; a known one
            # keeps the name as the team wrote it
            first, last = values.pop("first_name", None), values.pop("last_name", None)
            if r.new and (first or last):
                values[WHOLE_KEY] = f"{last}, {first}" if first and last else (last or first)
        if r.table == "leads" and "status" not in values and "status" in fields:
            values["status"] = "new" if r.new else None
            values = {k: v for k, v in values.items() if v is not None}
        counts = self.plan.count(r.table)
        if r.new:
            mine = self.new[r.table][r.id]
            first = not mine
            for k, v in values.items():
                mine.setdefault(k, v)
            if first:
                counts.created += 1
            return
        changed = False
        for k, v in values.items():
            old = self._old(r.table, r.id, k)
            if (k == EXTERNAL_ID or r.fill_only) and not is_blank(old):
                continue  # the record keeps the ID of where it came from first, and its values when not surely it
            if same_value(fields[k], old, v):
                continue
            self.plan.changes.updates.append(CellUpdate(r.table, r.id, k, v, before=plain_value(old), reason="import"))
            self.plan.changes.audit.append(AuditEntry("import", r.table, r.id, k, plain_value(old), v, f"import of {r.file}"))
            changed = True
        if self.first_line.get(r.id) is r:
            if changed:
                counts.updated += 1
            else:
                counts.unchanged += 1

    def _convert(self, r: Rec, f: Field, raw: Any, header: str) -> Any:
        ftype = field_type(f.type)
        if ftype.links_to == "record":
            return raw if isinstance(raw, str) else None
        if isinstance(raw, str):
            raw = literal(raw.strip())  # str methods drop the Text mark; the writer needs it (quote prefix)
        if ftype.temporal:
            value = raw if isinstance(raw, datetime) else meaning.iso_datetime(raw, self.tz) if isinstance(raw, str) else None
            if value is None:
                value, ok = parse_value(f, raw, self.ctx)
                if not ok:
                    return self._bad(r, header, raw, "is not a date", "write it as 2025-03-14")
                return value
            return value if ftype.with_time else meaning.as_date_value(value)
        if ftype.boolean:
            value = meaning.boolean(raw)
            return value if value is not None else self._bad(r, header, raw, "is not yes or no", "write true or false")
        if ftype.options and not ftype.multiple and f.options_from:
            return self._stage(cell_text(raw, strip=True))
        if ftype.options and not ftype.multiple and f.list:
            return self._option(f, raw)
        if ftype.links_to == "member":
            return self._owner(cell_text(raw, strip=True))
        if ftype.pattern:  # the text people type (text, email, phone, url, location...): kept as it is
            return cell_text(raw, strip=True) if not isinstance(raw, str) else raw
        value, ok = parse_value(f, raw, self.ctx)
        if not ok:
            return self._bad(r, header, raw, f"is not a {f.type}", "correct it in the workbook")
        return value

    def _bad(self, r: Rec, header: str, raw: Any, problem: str, fix: str) -> Any:
        self.plan.problems.append(Problem(r.file, r.line, header, cell_text(raw, strip=True), problem, f"kept as text; {fix}"))
        return cell_text(raw, strip=True)

    def _option(self, f: Field, raw: Any) -> Any:
        if f.list == "company_size" and isinstance(raw, (int, float)) or f.list == "company_size" and re.match(r"^\d+$", cell_text(raw, strip=True)):
            return meaning.company_size(float(raw))
        text = cell_text(raw, strip=True)
        lst = self.tables.list(f.list)
        lookup = self._lookups.get(f.list)
        if lookup is None:
            lookup = self._lookups[f.list] = option_lookup(lst)
        folded = fold_option(text)
        key = lookup.get(folded) or meaning.meaning(f.list, text)
        if key is not None:
            return key
        lookup[folded] = text  # the value joins the list: later rows find it
        if (f.list, folded) not in self.options_added:
            self.options_added.add((f.list, folded))
            self.plan.changes.options.append(OptionAdd(f.list, text))
            self.plan.notes.append(f"{text!r} joins the {lst.label(self.tables.lang or 'en')} list (a value of the import)")
        return text

    def _stages(self) -> tuple[list[str], str | None, str | None, int]:
        if self._stage_cache is None:
            self._stage_cache = self._read_stages()
        return self._stage_cache

    def _read_stages(self) -> tuple[list[str], str | None, str | None, int]:
        st = self.tables.get("stages")
        if st is None or "stage" not in st.df.columns:
            rows = self.tables.schema.tables["stages"].rows if "stages" in self.tables.schema.tables else ()
            lang = self.tables.lang or "en"
            labels = [(r["stage"].get(lang) or r["stage"]["en"]) if isinstance(r["stage"], dict) else str(r["stage"]) for r in rows]
            won = next((l for l, r in zip(labels, rows) if r.get("won")), None)
            lost = next((l for l, r in zip(labels, rows) if r.get("lost")), None)
            return labels, won, lost, len(labels)
        df = st.df
        labels = [cell_text(x, strip=True) for x in df["stage"] if not is_blank(x)]
        flag = lambda c: next((cell_text(s, strip=True) for s, w in zip(df["stage"], df[c]) if not is_blank(w) and bool(w)), None) if c in df.columns else None  # noqa: E731
        orders = [o for o in (df["order"] if "order" in df.columns else []) if not is_blank(o)]
        return labels, flag("won"), flag("lost"), int(max(orders, default=len(labels)))

    def _stage(self, text: str) -> str | None:
        if not text:
            return None
        labels, won, lost, top = self._stages()
        by_fold = {fold_option(x): x for x in labels}
        if fold_option(text) in by_fold:
            return by_fold[fold_option(text)]
        sense = meaning.stage_meaning(text)
        if sense == "won" and won:
            return won
        if sense == "lost" and lost:
            return lost
        if sense:
            english = {fold_option(r["stage"]["en"]): r["stage"] for r in self.tables.schema.tables["stages"].rows
                       if isinstance(r.get("stage"), dict)} if "stages" in self.tables.schema.tables else {}
            names = english.get(fold_option(sense), {})
            for x in (sense, *names.values()):
                if fold_option(x) in by_fold:
                    return by_fold[fold_option(x)]
        if fold_option(text) not in self.stages_added:
            order = top + len(self.stages_added) + 1
            self.stages_added[fold_option(text)] = text
            self.plan.changes.appends.append(RowAppend("stages", "", {"stage": text, "order": order, "won": sense == "won",
                                                                      "lost": sense == "lost"}))
            self.plan.notes.append(f"stage {text!r} joins the Stages sheet with its win probability left blank: fill it in")
        return self.stages_added[fold_option(text)]

    def _owner(self, text: str) -> str:
        team = self.tables.get("team")
        if team is None or "name" not in team.df.columns:
            return text
        if self._team is None:
            names = [cell_text(n, strip=True) for n in team.df["name"] if not is_blank(n)]
            emails = {cell_text(e, strip=True).casefold(): cell_text(n, strip=True) for n, e in zip(team.df["name"], team.df.get("email", [])) if not is_blank(e) and not is_blank(n)}
            self._team = ({n.casefold() for n in names}, emails)
        names, emails = self._team
        if text.casefold() in emails:
            return emails[text.casefold()]
        if text.casefold() not in names and text.casefold() not in self._owners_noted:
            self._owners_noted.add(text.casefold())
            self.plan.notes.append(f"owner {text!r} is not a name in Team: add the person to the Team sheet (with the "
                                   "same Name), or replace it in the Owner columns")
        return text

    # -- the change set
    def _finish(self) -> None:
        for table, recs in self.new.items():
            for rid, values in recs.items():
                self.plan.changes.appends.append(RowAppend(table, rid, values))
            self.plan.changes.sequences[table] = self.tables[table].next_id
        if "audit_log" in self.tables:
            for e in self.plan.changes.audit:
                self.plan.changes.appends.append(RowAppend("audit_log", "", {
                    "at": self.now, "job": e.job, "table": e.table, "record": e.record_id, "field": e.field,
                    "before": "" if is_blank(e.before) else as_text(e.before), "after": "" if is_blank(e.after) else as_text(e.after),
                    "reason": e.reason}))
        self.plan.changes.audit = []


def plan_import(tables: Tables, maps: list[FileMap], *, tz: tzinfo | None, now: datetime) -> Plan:
    """The change set that brings the export rows of ``maps`` into ``tables``, and what it does."""
    planner = Planner(tables, tz=tz, now=now)
    for fm in maps:
        if fm.problem:
            planner.plan.problems.append(Problem(fm.file.name, 1, "", "", f"not imported: {fm.problem}",
                                                 "name its table with --table, or its vendor with --from"))
    return planner.run(records([fm for fm in maps if not fm.problem]), maps)
