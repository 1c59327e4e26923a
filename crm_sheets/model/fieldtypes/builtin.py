"""The field types crm-sheets started with: text-like, numbers, dates, checkboxes, options and links.

One class per type; the behaviour they share lives in the few family classes at the top (text, number,
temporal, options). A new type goes in a module of its own (see rating.py): __init__.py imports every
module of the package.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from crm_sheets.model import values as V
from crm_sheets.model.fieldtypes.base import FieldType, register

_NUMBER_KINDS = frozenset({"floating", "integer", "mixed-integer-float"})
_DATE_KINDS = frozenset({"date", "datetime"})


# ---------------------------------------------------------------------------------------------
# Families


class TextType(FieldType):
    """Kept as typed; check tidies spaces and the type's own form (email, phone, url, country)."""

    text = True
    pattern = True
    fits_content = True
    width = 18


class NumberType(FieldType):
    dtype = "float64"
    numeric = True
    native = (float, int)
    native_kinds = _NUMBER_KINDS
    as_text_slug = "number-as-text"
    input_type = "number"
    input_step = "any"

    def parse(self, field: Any, raw: Any, ctx: Any, options: Any) -> Any:
        return V.read_number(field, raw, ctx, options)

    def native_values(self, values: np.ndarray, native: np.ndarray) -> None:
        """Turn the numbers of number cells (``values[native]``) into what the frame holds, in place
        (percent: 25 -> 0.25). Numbers are numbers: nothing to do."""

    def refuse_native(self, values: np.ndarray, native: np.ndarray) -> np.ndarray | None:
        """Which numbers of number cells (a mask within ``native``) this type cannot hold (integer: 2.5):
        kept aside as unreadable. None: every number fits."""
        return None

    def frame_value(self, value: Any) -> Any:
        return int(value) if self.whole else float(value)

    sample_scale, sample_digits = 3, 0  # log-normal around e**scale, rounded to digits

    def samples(self, ctx: Any, n: int, field: Any, blank: Any) -> Any:
        lo = field.constraints.minimum if field.constraints.minimum is not None else 0
        v = np.round(lo + ctx.rng.lognormal(self.sample_scale, 1, n), self.sample_digits)
        if field.constraints.maximum is not None:
            v = np.minimum(v, field.constraints.maximum)
        return np.where(blank, np.nan, v)

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "whole" if self.whole else "decimal", "percent": self.percent}

    def to_text(self, value: Any, lang: str = "en") -> str:
        """12,400 or 1,250.50 (12\u202f400 and 1\u202f250,50 in French); percent: 25% (25 % in French)."""
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return super().to_text(value, lang)
        if self.percent:
            return f"{value * 100:.0f} %" if lang == "fr" else f"{value * 100:.0f}%"
        s = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
        return s.replace(",", "\u202f").replace(".", ",") if lang == "fr" else s


class TemporalType(FieldType):
    dtype = "datetime64[ns]"
    temporal = True
    native_kinds = _DATE_KINDS
    as_text_slug = "date-as-text"

    def frame_value(self, value: Any) -> Any:
        return pd.Timestamp(value)

    def samples(self, ctx: Any, n: int, field: Any, blank: Any) -> Any:
        return ctx.dates(n, self.with_time, blank)

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "date"}


class OptionsType(FieldType):
    """Keys of a list (the Lists sheet, an enum or another table's column), shown by their labels."""

    options = True

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "list", "strict": not self.multiple}

    def schema_problem(self, field: Any, schema: Any) -> tuple[str, str | None] | None:
        if not field.list and not field.constraints.enum and not field.options_from:
            return f"a {self.name} field needs a 'list' (a name from lists:), 'options_from' or an enum", None
        if field.options_from:
            src_table, _, src_field = field.options_from.partition(".")
            if src_table not in schema.tables or not schema.tables[src_table].has_field(src_field):
                return f"options_from {field.options_from!r} is not a table.field of this schema", None
        if field.list and field.list not in schema.lists:
            return f"list {field.list!r} does not exist", f"lists are {', '.join(schema.lists) or '(none)'}"
        return None


# ---------------------------------------------------------------------------------------------
# Text-like


class IdType(TextType):
    name = "id"
    pattern = False
    fits_content = False
    custom = False
    strip = True  # an ID is compared exactly: spaces around it are never part of it
    width = 11
    help = {"en": "Record ID. Leave empty on new rows: crm-sheets gives one.",
            "fr": "Identifiant de la fiche. Laissez vide sur une nouvelle ligne : crm-sheets en attribue un."}

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "unique"}


class Text(TextType):
    name = "text"
    text_check = "text"
    free_text = True
    unique_rule = True
    help = {"en": "Text.", "fr": "Texte."}


class LongText(TextType):
    name = "long_text"
    free_text = True
    max_length = 5000
    width = 42
    wrap = True
    help = {"en": "Text, as long as you need.", "fr": "Texte, aussi long que nécessaire."}
    input_type = "textarea"


class Email(TextType):
    name = "email"
    text_check = "email"
    compare = "casefold"
    width = 28
    unique_rule = True
    input_type = "email"
    help = {"en": "An email address.", "fr": "Une adresse e-mail."}

    def normalise(self, text: str, default_country: str = "US") -> str | None:
        return text.strip().lower()

    def planted_errors(self, field: Any) -> list[str]:
        return ["invalid-email", "email-typo"]

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "email"}


class Phone(TextType):
    name = "phone"
    text_check = "phone"
    compare = "digits"
    width = 17
    input_type = "tel"
    help = {"en": "A phone number, best with its country code: +1 415 555 0100.",
            "fr": "Un numéro de téléphone, de préférence avec l'indicatif : +33 6 12 34 56 78."}

    normal_form_safe = True

    def planted_errors(self, field: Any) -> list[str]:
        return ["invalid-phone"]

    def normalise(self, text: str, default_country: str = "US") -> str | None:
        import re

        from crm_sheets.model.normalize import normalize_phone

        e164 = normalize_phone(text, default_country)
        if e164 and re.fullmatch(r"\+\d{4,16}", e164):
            return e164  # a checked phone number in E.164: digits after a plus, never a formula
        return None

    def sheets_number_format(self) -> tuple[str, str] | None:
        return ("TEXT", "@")  # Sheets would read +33... as a formula and 0612... as a number

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "note"}


class Url(TextType):
    name = "url"
    text_check = "url"
    compare = "casefold"
    width = 26
    input_type = "url"
    help = {"en": "A web address: https://example.com", "fr": "Une adresse web : https://exemple.fr"}

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "note"}


class Location(TextType):
    name = "location"
    text_check = "place"
    compare = "fold"
    place = True
    help = {"en": "A place: country, city or address.", "fr": "Un lieu : pays, ville ou adresse."}


class Reference(TextType):
    """The ID of a record of another table (``reference: <table>``, or ``*`` for any table)."""

    name = "reference"
    links_to = "record"
    pattern = False
    fits_content = False
    custom = False
    width = 11
    help = {"en": "The ID of a record of {table}.", "fr": "L'ID d'une fiche de {table}."}
    help_any = {"en": "The ID of a record.", "fr": "L'ID d'une fiche."}

    def help_text(self, lang: str = "en", **values: Any) -> str:
        if not values.get("table"):
            return self.help_any.get(lang) or self.help_any["en"]
        return super().help_text(lang, table=values["table"])

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "reference"}

    def schema_problem(self, field: Any, schema: Any) -> tuple[str, str | None] | None:
        if not field.reference:
            return "a reference field needs 'reference: <table>'", None
        if field.reference == "*":
            return None
        if field.reference not in schema.tables:
            return f"reference to unknown table {field.reference!r}", f"tables are {', '.join(schema.tables)}"
        if not schema.tables[field.reference].id_prefix:
            return f"table {field.reference!r} has no IDs to refer to", None
        return None

    def planted_errors(self, field: Any) -> list[str]:
        return ["unknown-reference"] if field.reference != "*" else []

    def samples(self, ctx: Any, n: int, field: Any, blank: Any) -> Any:
        if field.required and ctx.id_pools.get(field.reference):
            # Optional links stay empty: a random link (a lead tied to a stranger's contact) would lie.
            return ctx.with_none(ctx.pick(ctx.id_pools[field.reference], n), blank)
        return None


class User(TextType):
    """A member of the Team table, by name."""

    name = "user"
    links_to = "member"
    pattern = False
    custom = False
    width = 17
    help = {"en": "A name from {team}.", "fr": "Un nom de {team}."}

    def help_text(self, lang: str = "en", **values: Any) -> str:
        return super().help_text(lang, team=values.get("team") or "Team")

    def samples(self, ctx: Any, n: int, field: Any, blank: Any) -> Any:
        return ctx.with_none(ctx.pick(ctx.team, n), blank) if ctx.team else None

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "user"}

    def schema_problem(self, field: Any, schema: Any) -> tuple[str, str | None] | None:
        return ("a user field needs a 'team' table", None) if "team" not in schema.tables else None


# ---------------------------------------------------------------------------------------------
# Numbers


class Number(NumberType):
    name = "number"
    noun = {"en": "number", "fr": "nombre"}
    width = 12
    kind = "a number"
    how = "type a number such as 1250.5"
    help = {"en": "A number.", "fr": "Un nombre."}

    def number_format(self, currency: str | None = None, lang: str = "en") -> str | None:
        return "#,##0.00"

    def sheets_number_format(self) -> tuple[str, str] | None:
        return ("NUMBER", "#,##0.##")


class Integer(NumberType):
    name = "integer"
    noun = {"en": "whole number", "fr": "nombre entier"}
    dtype = "Int64"
    whole = True
    width = 10
    kind = "a whole number"
    how = "type a whole number such as 12"
    input_step = "1"
    help = {"en": "A whole number.", "fr": "Un nombre entier."}

    def parse(self, field: Any, raw: Any, ctx: Any, options: Any) -> Any:
        return V.read_integer(field, raw, ctx, options)

    def refuse_native(self, values: np.ndarray, native: np.ndarray) -> np.ndarray | None:
        return native & (np.mod(np.nan_to_num(values), 1) != 0)  # 2.5 is not rounded into an integer column

    def samples(self, ctx: Any, n: int, field: Any, blank: Any) -> Any:
        lo = int(field.constraints.minimum or 0)
        hi = int(field.constraints.maximum) if field.constraints.maximum is not None else lo + 20
        v = ctx.rng.integers(lo, hi + 1, n)
        return [None if b else int(x) for b, x in zip(blank, v)]

    def number_format(self, currency: str | None = None, lang: str = "en") -> str | None:
        return "#,##0"

    def sheets_number_format(self) -> tuple[str, str] | None:
        return ("NUMBER", "0")

    def planted_errors(self, field: Any) -> list[str]:
        bounded = field.constraints.minimum is not None and field.constraints.maximum is not None
        return ["below-minimum"] if bounded else []


class Money(NumberType):
    name = "money"
    noun = {"en": "amount", "fr": "montant"}
    per_currency = True
    sample_scale, sample_digits = 7, 2
    width = 15
    kind = "an amount"
    how = "type an amount such as 1250.00 (the currency has its own column or setting)"
    help = {"en": "An amount ({currency}).", "fr": "Un montant ({currency})."}
    help_row = {"en": "An amount in the row's currency.", "fr": "Un montant dans la devise de la ligne."}

    def help_text(self, lang: str = "en", **values: Any) -> str:
        if values.get("row_currency"):
            return self.help_row.get(lang) or self.help_row["en"]
        return super().help_text(lang, currency=values.get("currency") or "")

    def parse(self, field: Any, raw: Any, ctx: Any, options: Any) -> Any:
        return V.read_money(field, raw, ctx, options)

    def number_format(self, currency: str | None = None, lang: str = "en") -> str | None:
        from crm_sheets.model.fieldtypes.formats import money_format

        return money_format(currency, lang)

    def sheets_number_format(self) -> tuple[str, str] | None:
        return ("CURRENCY", "#,##0.00")

    def planted_errors(self, field: Any) -> list[str]:
        return ["number-as-text"] + (["below-minimum"] if field.constraints.minimum is not None else [])


class Percent(NumberType):
    name = "percent"
    noun = {"en": "percentage", "fr": "pourcentage"}
    percent = True
    width = 10
    kind = "a percentage"
    how = "type a percentage such as 25%"
    help = {"en": "A percentage, e.g. 25%.", "fr": "Un pourcentage, par ex. 25 %."}

    def parse(self, field: Any, raw: Any, ctx: Any, options: Any) -> Any:
        return V.read_percent(field, raw, ctx, options)

    def native_values(self, values: np.ndarray, native: np.ndarray) -> None:
        block = values[native]
        values[native] = np.where(np.abs(block) > 1, block / 100, block)  # a bare 25 means 25 % (see parse_value)

    def samples(self, ctx: Any, n: int, field: Any, blank: Any) -> Any:
        return np.where(blank, np.nan, np.round(ctx.rng.random(n), 2))

    def number_format(self, currency: str | None = None, lang: str = "en") -> str | None:
        return "0%"

    def sheets_number_format(self) -> tuple[str, str] | None:
        return ("PERCENT", "0%")


# ---------------------------------------------------------------------------------------------
# Dates


class Date(TemporalType):
    name = "date"
    noun = {"en": "date", "fr": "date"}
    native = (V.date, V.datetime)
    width = 13
    kind = "a date"
    how = "type a date such as 2025-03-31"
    input_type = "date"
    help = {"en": "A date, e.g. 2025-03-31.", "fr": "Une date, par ex. 31/03/2025."}

    def parse(self, field: Any, raw: Any, ctx: Any, options: Any) -> Any:
        return V.read_date(field, raw, ctx, options)

    def number_format(self, currency: str | None = None, lang: str = "en") -> str | None:
        return "yyyy-mm-dd"

    def sheets_number_format(self) -> tuple[str, str] | None:
        from crm_sheets.model.fieldtypes.formats import SHEETS_DATE_PATTERN

        return ("DATE", SHEETS_DATE_PATTERN)

    def planted_errors(self, field: Any) -> list[str]:
        return ["date-as-text", "invalid-date"]


class DateTime(TemporalType):
    name = "datetime"
    noun = {"en": "date and time", "fr": "date et heure"}
    with_time = True
    native = (V.datetime, V.date)
    width = 17
    kind = "a date and time"
    how = "type a date and time such as 2025-03-31 14:30"
    input_type = "datetime-local"
    help = {"en": "A date and time, e.g. 2025-03-31 14:30.", "fr": "Une date et une heure, par ex. 31/03/2025 14:30."}

    def parse(self, field: Any, raw: Any, ctx: Any, options: Any) -> Any:
        return V.read_datetime(field, raw, ctx, options)

    def number_format(self, currency: str | None = None, lang: str = "en") -> str | None:
        return "yyyy-mm-dd hh:mm"

    def sheets_number_format(self) -> tuple[str, str] | None:
        from crm_sheets.model.fieldtypes.formats import SHEETS_DATETIME_PATTERN

        return ("DATE_TIME", SHEETS_DATETIME_PATTERN)


# ---------------------------------------------------------------------------------------------
# Checkboxes and options


class Checkbox(FieldType):
    name = "checkbox"
    dtype = "boolean"
    boolean = True
    native = (bool,)
    native_kinds = frozenset({"boolean"})
    width = 10
    align = "center"
    kind = "TRUE or FALSE"
    how = "type TRUE or FALSE, or tick the box"
    as_text_slug = "checkbox-as-text"
    input_type = "checkbox"
    help = {"en": "TRUE or FALSE.", "fr": "VRAI ou FAUX."}

    def parse(self, field: Any, raw: Any, ctx: Any, options: Any) -> Any:
        return V.read_checkbox(field, raw, ctx, options)

    def frame_value(self, value: Any) -> Any:
        return bool(value)

    def samples(self, ctx: Any, n: int, field: Any, blank: Any) -> Any:
        return ctx.rng.random(n) < 0.3  # never blank: an unticked box is FALSE

    def number_format(self, currency: str | None = None, lang: str = "en") -> str | None:
        from crm_sheets.model.fieldtypes.formats import BOOLEAN_FORMATS

        # Excel shows TRUE/FALSE (VRAI/FAUX) whatever the format; LibreOffice shows 1/0 unless told.
        return BOOLEAN_FORMATS.get(lang, BOOLEAN_FORMATS["en"])

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "boolean"}


class _Listed(OptionsType):
    help_from = {"en": "Pick from the list ({list}).", "fr": "Choisissez dans la liste ({list})."}

    def help_text(self, lang: str = "en", **values: Any) -> str:
        if values.get("options_from"):
            return (self.help_from.get(lang) or self.help_from["en"]).format(list=values["options_from"])
        return super().help_text(lang, list=values.get("list", ""))


class Dropdown(_Listed):
    name = "dropdown"
    compare = "option"
    width = 15
    input_type = "select"
    help = {"en": "Pick from the list ({list}).", "fr": "Choisissez dans la liste ({list})."}

    def parse(self, field: Any, raw: Any, ctx: Any, options: Mapping[str, str] | None) -> Any:
        return V.read_option(field, raw, ctx, options)

    def planted_errors(self, field: Any) -> list[str]:
        return ["unknown-option"]

    def samples(self, ctx: Any, n: int, field: Any, blank: Any) -> Any:
        if field.list or field.constraints.enum:
            keys = ctx.option_keys(field.list) if field.list else list(field.constraints.enum)
            return ctx.with_none(ctx.pick(keys, n), blank)
        if field.options_from:
            opts = ctx.source_options(field.options_from)
            return ctx.pick(opts, n) if opts else [None] * n
        return None


class Tags(_Listed):
    name = "tags"
    multiple = True
    width = 20
    input_type = "select-multiple"
    help = {"en": "One or more tags from {list}, separated by commas.",
            "fr": "Une ou plusieurs étiquettes de {list}, séparées par des virgules."}

    def parse(self, field: Any, raw: Any, ctx: Any, options: Mapping[str, str] | None) -> Any:
        return V.read_tags(field, raw, ctx, options)


# The order of the schema's list of types (and of the hint of an unknown type).
for _cls in (IdType, Text, LongText, Number, Integer, Money, Percent, Date, DateTime, Email, Phone, Url, Location,
             Dropdown, Tags, Checkbox, Reference, User):
    register(_cls)
