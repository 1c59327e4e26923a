"""Form definitions: the rows of the Forms sheet (or the template's, when the workbook has no Forms sheet)
read into FormDef values, each field resolved against the schema (type, list, constraints, labels en/fr).

Pure: Tables in, FormDefs out. A row that cannot be used is reported, not guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Field, ListSchema, localize, normalize_header
from crm_sheets.model.tables import Tables
from crm_sheets.model.values import cell_text

LANGS = ("en", "fr")
# Field types a visitor can fill in: references and users name records and people of the workbook.
FORM_TYPES = frozenset({"text", "long_text", "email", "phone", "url", "location", "number", "integer", "money",
                        "percent", "date", "datetime", "checkbox", "dropdown", "tags"})
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class FormField:
    field: Field
    required: bool
    labels: dict[str, str]  # lang -> label
    options: tuple[tuple[str, dict[str, str]], ...] = ()  # dropdown/tags: (key, lang -> label), from the workbook's list

    @property
    def name(self) -> str:
        return self.field.name

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels["en"]


@dataclass(frozen=True)
class FormDef:
    name: str  # in the URL: /forms/<name>
    table: str
    fields: tuple[FormField, ...]
    titles: dict[str, str]
    thank_you: dict[str, str]
    redirect: str = ""
    origins: tuple[str, ...] = ()  # sites allowed to post the plain HTML form
    active: bool = True

    def title(self, lang: str) -> str:
        return self.titles.get(lang) or self.titles.get("en") or self.name

    def thanks(self, lang: str) -> str:
        return self.thank_you.get(lang) or self.thank_you.get("en") or DEFAULT_THANKS[lang]

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)


DEFAULT_THANKS = {"en": "Thank you, your message was received.", "fr": "Merci, votre message a bien été reçu."}


@dataclass
class FormProblem:
    form: str
    row: Any
    message: str


@dataclass
class FormSet:
    forms: dict[str, FormDef] = field(default_factory=dict)
    problems: list[FormProblem] = field(default_factory=list)


def _names(raw: Any) -> list[str]:
    return [w.strip() for w in re.split(r"[,;\n]", cell_text(raw, strip=True)) if w.strip()]


def _labels(raw: Any) -> dict[str, str]:
    """'notes: Your message; consent: Send me news' -> {'notes': 'Your message', ...}"""
    out = {}
    for part in re.split(r"[;\n]", cell_text(raw, strip=True)):
        name, sep, label = part.partition(":")
        if sep and name.strip() and label.strip():
            out[normalize_header(name)] = label.strip()
    return out


def form_rows(tables: Tables) -> list[tuple[Any, dict[str, Any]]]:
    """(row label, values) of the Forms sheet; the template's rows when the workbook has no Forms sheet."""
    t = tables.get("forms")
    if t is not None:
        return [(rid, {k: v for k, v in row.items()}) for rid, row in t.df.iterrows()]
    ts = tables.schema.tables.get("forms")
    if ts is None:
        return []
    lang = tables.lang or "en"
    return [(f"template{i + 1}", {k: localize(v, lang) for k, v in r.items()}) for i, r in enumerate(ts.rows)]


def _find_table(tables: Tables, raw: Any) -> str | None:
    key = normalize_header(raw)
    if not key:
        return None
    for name, ts in tables.schema.tables.items():
        if key in ts.names() and ts.kind == "data" and ts.id_prefix:
            return name
    lst = tables.lists.get("rule_table") or tables.schema.lists.get("rule_table")
    if lst is not None:
        found = lst.lookup().get(key)
        if found in tables.schema.tables:
            return found
    return None


def _find_field(fields: tuple[Field, ...], raw: str) -> Field | None:
    key = normalize_header(raw)
    for f in fields:
        if f.name == raw or key in f.names():
            return f
    return None


def _options(lst: ListSchema | None) -> tuple[tuple[str, dict[str, str]], ...]:
    if lst is None:
        return ()
    return tuple((o.key, {lang: o.label(lang) for lang in LANGS}) for o in lst.options)


def load_forms(tables: Tables) -> FormSet:
    """Every usable form of the workbook, by name; the rows that cannot be used are in ``problems``."""
    out = FormSet()
    for rid, row in form_rows(tables):
        name = cell_text(row.get("name"), strip=True).lower()
        if not name:
            continue
        where = f"Forms row {rid}"

        def bad(message: str) -> None:
            out.problems.append(FormProblem(name, rid, f"{where} ({name}): {message}"))

        if not _NAME_RE.match(name):
            bad("the form name may hold only lower-case letters, digits, - and _")
            continue
        table = _find_table(tables, row.get("table") or "leads")
        if table is None:
            bad(f'"{cell_text(row.get("table"), strip=True)}" is not a table with IDs; write Leads, for example')
            continue
        ts = tables.schema.tables[table]
        wanted = _names(row.get("fields"))
        required = {normalize_header(n) for n in _names(row.get("required"))}
        labels = {lang: _labels(row.get(f"labels_{lang}")) for lang in LANGS}
        fields: list[FormField] = []
        problems = []
        for raw in wanted:
            f = _find_field(ts.fields, raw)
            if f is None:
                problems.append(f'{ts.sheet_name(tables.lang)} has no field "{raw}"')
                continue
            if f.type not in FORM_TYPES or f.owned_by_job:
                problems.append(f'the field "{raw}" cannot be filled in by a visitor ({f.type})')
                continue
            if any(x.name == f.name for x in fields):
                continue
            names = f.names()
            label = {lang: next((v for k, v in labels[lang].items() if k in names), f.header(lang)) for lang in LANGS}
            lst = tables.lists.get(f.list) or tables.schema.lists.get(f.list) if f.list else None
            fields.append(FormField(f, f.required or bool(names & required), label, _options(lst)))
        missing = [f.name for f in ts.fields if f.required and f.type != "id" and f.name not in {x.name for x in fields}
                   and not _has_default(f)]
        if missing:
            problems.append(f"the table's required fields {', '.join(missing)} are not in the form")
        if problems or not fields:
            bad("; ".join(problems) or "no fields")
            continue
        active = row.get("active")
        out.forms[name] = FormDef(
            name=name,
            table=table,
            fields=tuple(fields),
            titles={lang: cell_text(row.get(f"title_{lang}"), strip=True) for lang in LANGS if cell_text(row.get(f"title_{lang}"), strip=True)},
            thank_you={lang: cell_text(row.get(f"thank_you_{lang}"), strip=True) for lang in LANGS if cell_text(row.get(f"thank_you_{lang}"), strip=True)},
            redirect=cell_text(row.get("redirect"), strip=True),
            origins=tuple(o.rstrip("/").lower() for o in _names(row.get("origins"))),
            active=active is None or active is True or cell_text(active, strip=True).lower() in ("true", "1", "yes", "vrai", "oui"),
        )
    return out


def _has_default(f: Field) -> bool:
    """Required fields the applier fills itself: a lead's status (the list's first option) and dates."""
    ftype = field_type(f.type)
    return ftype.temporal or (ftype.options and not ftype.multiple and f.list is not None)
