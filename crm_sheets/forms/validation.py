"""What a visitor typed, made safe and checked: neutralising (nothing from a form becomes a formula),
typing each value as its field, and validating the record with the check job's own rules.

Pure: a FormDef, the workbook's Tables (schema, lists, settings) and the posted strings in; clean
values and per-field errors (in the visitor's language) out.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import pandas as pd

from crm_sheets.forms.definitions import FormDef, FormField
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.tables import Table, Tables, dtype_for
from crm_sheets.model.values import literal, option_lookup, parse_value, read_context

# XML 1.0 cannot hold C0 controls other than tab, CR and LF: they are dropped.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# How long a posted value may be, and the type's name in an error, are the field type's (max_length, noun).
PROBE_ID = "form-submission"  # the record ID the check rules see for the visitor's record

# The check job's finding types, in words for a visitor (its own messages address a sheet's cells).
MESSAGES = {
    "required": {"en": "Please fill in this field.", "fr": "Veuillez remplir ce champ."},
    "invalid-email": {"en": "Please enter a valid email address.", "fr": "Veuillez saisir une adresse e-mail valide."},
    "invalid-phone": {"en": "Please enter a valid phone number, with its country code (+44 …).",
                      "fr": "Veuillez saisir un numéro de téléphone valide, avec l'indicatif (+33 …)."},
    "invalid-url": {"en": "Please enter a web address such as https://www.example.com.",
                    "fr": "Veuillez saisir une adresse web comme https://www.example.com."},
    "invalid-country": {"en": "Please enter a country name.", "fr": "Veuillez saisir un nom de pays."},
    "pattern-mismatch": {"en": "This value does not have the expected form.", "fr": "Cette valeur n'a pas la forme attendue."},
    "below-minimum": {"en": "This number is too small.", "fr": "Ce nombre est trop petit."},
    "above-maximum": {"en": "This number is too large.", "fr": "Ce nombre est trop grand."},
    "unknown-option": {"en": "Please choose one of the options.", "fr": "Veuillez choisir l'une des options."},
    "unreadable": {"en": "This value cannot be read as a {type}.", "fr": "Cette valeur n'est pas un(e) {type} valide."},
    "too-long": {"en": "Please keep this under {n} characters.", "fr": "Veuillez rester sous {n} caractères."},
}
# Finding types that stop a submission even when check only warns about them in a sheet.
BLOCKING = frozenset({"invalid-email", "invalid-phone", "invalid-url", "unknown-option"})


def neutralise(text: str) -> str:
    """The text as text for any spreadsheet: control characters dropped, a formula-looking value marked
    as literal ``Text`` (kept exactly as typed; each store writes it so that it stays text)."""
    return literal(_CONTROL.sub("", text.replace("\x00", "")))


@dataclass
class Submission:
    """The outcome of validating one posted form."""

    values: dict[str, Any] = field(default_factory=dict)  # field name -> JSON-able value (see encode)
    errors: dict[str, str] = field(default_factory=dict)  # field name -> message in the visitor's language
    typed: dict[str, str] = field(default_factory=dict)  # field name -> what the visitor typed (to show again)

    @property
    def ok(self) -> bool:
        return not self.errors


def message(kind: str, lang: str, **kw: Any) -> str:
    text = MESSAGES.get(kind, MESSAGES["pattern-mismatch"])
    return (text.get(lang) or text["en"]).format(**kw)


def encode(value: Any) -> Any:
    """A typed value as JSON: dates as ISO text (the applier reads them back by the field's type)."""
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _raw(f: FormField, posted: Mapping[str, list[str]]) -> str | None:
    values = [v for v in posted.get(f.name, []) if isinstance(v, str)]
    ftype = field_type(f.field.type)
    if ftype.boolean:
        return "true" if any(v.strip().lower() in ("on", "true", "1", "yes") for v in values) else "false"
    if ftype.multiple:
        return ", ".join(v.strip() for v in values if v.strip()) or None
    if ftype.with_time and values and "T" in values[0]:  # <input type=datetime-local>
        return values[0].replace("T", " ")
    return values[0] if values else None


def validate(form: FormDef, tables: Tables, posted: Mapping[str, list[str]], *, lang: str = "en",
             now: dt.datetime | None = None) -> Submission:
    """Type and check what was posted for ``form``; errors are keyed by field name, in ``lang``."""
    out = Submission()
    ctx = read_context(tables.settings)
    if ctx.date_order is None:
        ctx = replace(ctx, date_order="YMD")  # browsers send ISO dates
    ctx = replace(ctx, decimal=".")  # and numbers with a dot
    row: dict[str, Any] = {}
    invalid: dict[tuple[str, str], Any] = {}
    for f in form.fields:
        ftype = field_type(f.field.type)
        raw = _raw(f, posted)
        if raw is not None:
            raw = _CONTROL.sub("", raw)
            out.typed[f.name] = raw
            if not (ftype.boolean or ftype.multiple):
                raw = raw.strip()
            limit = ftype.max_length
            if len(raw) > limit:
                out.errors[f.name] = message("too-long", lang, n=limit)
                continue
        if not raw:
            if f.required:
                out.errors[f.name] = message("required", lang)
            continue
        options = option_lookup(tables.list(f.field.list)) if f.field.list else None
        value, ok = parse_value(f.field, raw, ctx, options)
        if not ok:
            if ftype.options:
                out.errors[f.name] = message("unknown-option", lang)
            else:
                out.errors[f.name] = message("unreadable", lang, type=ftype.noun.get(lang, f.field.type))
            invalid[(PROBE_ID, f.name)] = raw
            continue
        if ftype.boolean and value is False and f.required:
            out.errors[f.name] = message("required", lang)
            continue
        row[f.name] = value
    for finding in check_record(form, tables, row, invalid, now or dt.datetime.now()):
        if finding.field and finding.field not in out.errors and form.field(finding.field) is not None:
            if finding.severity == "error" or finding.type in BLOCKING:
                out.errors[finding.field] = message(finding.type, lang)
    for name, value in row.items():
        if name in out.errors:
            continue
        if isinstance(value, str):
            value = _clean_text(form.field(name), value, tables)
        out.values[name] = encode(value)
    return out


def _clean_text(f: FormField, value: str, tables: Tables) -> str:
    """The type's tidy form of a visitor's text (a phone number in E.164, an email in lower case), kept literal."""
    ftype = field_type(f.field.type)
    tidy = ftype.normalise(value, str(tables.setting("default_country", "US") or "US"))
    if tidy is None:
        return neutralise(value)
    return tidy if ftype.normal_form_safe else neutralise(tidy)


def check_record(form: FormDef, tables: Tables, row: dict[str, Any], invalid: dict, now: dt.datetime) -> list:
    """The check job's findings for the one record the visitor made (alone in its table)."""
    from crm_sheets.jobs.check import find_problems

    ts = tables.schema.tables[form.table]
    fields = tuple(f for f in ts.fields if f.type == "id" or form.field(f.name))
    # Only the form's fields: the ones the applier fills (status, created) are not the visitor's to fill.
    index = pd.Index([PROBE_ID], dtype=object, name="id")
    df = pd.DataFrame({f.name: pd.Series([row.get(f.name)], index=index, dtype=dtype_for(f.type) if f.name in row else object)
                       for f in fields if f.type != "id"}, index=index)
    table = Table(schema=replace(ts, fields=fields), df=df, sheet=ts.sheet_name(tables.lang or "en"),
                  rows={PROBE_ID: 2}, invalid=dict(invalid))
    probe = Tables(schema=tables.schema, tables={form.table: table}, lang=tables.lang, settings=tables.settings,
                   lists=tables.lists, meta={}, date1904=tables.date1904)
    return [f for f in find_problems(probe, now=now) if f.record_id == PROBE_ID]
