"""Reading one cell as its field's type (the registry's readers), and the small helpers every layer shares:
blank checks, a value as the text its cell shows, literal text that only looks like a formula.

Pure functions, no I/O: the store's reader parses every cell with them and `check --fix` proposes
their result as the fix. A value that cannot be read without guessing is returned unread
(``ok=False``), never coerced. Text forms of numbers, money, dates and options: model/typed_text.py;
a whole column at once: model/column_read.py.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Mapping

import pandas as pd

from crm_sheets.model.schema import Field
# Numbers, money, dates, checkboxes and options typed as text live in typed_text; importable from here too.
from crm_sheets.model.typed_text import (  # noqa: F401
    EXCEL_EPOCH, cell_datetime, fold_option, from_serial, option_lookup, parse_checkbox,
    parse_datetime, parse_money, parse_number,
)

# ---------------------------------------------------------------------------------------------
# Context: how this workbook's people write dates and numbers

DATE_ORDERS = ("MDY", "DMY", "YMD")
_MDY_REGIONS = {"US", "PH", "FM", "MH", "PW"}  # regions that write month/day/year
_YMD_LANGS = {"ja", "zh", "ko", "hu", "lt", "mn"}
_COMMA_DECIMAL_LANGS = {
    "fr", "de", "es", "it", "pt", "nl", "da", "sv", "nb", "no", "fi", "pl", "cs", "sk", "ru", "uk",
    "tr", "el", "ro", "hu", "bg", "hr", "sl", "lt", "lv", "et", "id", "vi", "ca",
}
_DOT_DECIMAL_LOCALES = {"de-CH", "de-LI", "it-CH", "es-MX", "es-US"}  # e.g. de-CH writes 1'234.50


@dataclass(frozen=True)
class ReadContext:
    """What the Settings sheet says about the people typing: date order, decimal mark, currency, country."""

    date_order: str | None = None  # 'MDY' | 'DMY' | 'YMD'; None = unknown: ambiguous dates are not read
    decimal: str = "."  # the decimal separator of numbers typed as text
    currency: str | None = None  # ISO code of money columns without a currency of their own
    default_country: str | None = None  # ISO alpha-2, for phone numbers without +country code
    date1904: bool = False  # the workbook counts serial day numbers from 1904 (old Mac Excel), not 1900


def read_context(settings: Mapping[str, Any]) -> ReadContext:
    """The ReadContext of a workbook from its Settings (``locale``, ``currency``, ``default_country``).

    en-US -> MDY with '.', en-GB -> DMY with '.', fr-FR (any fr-*) -> DMY with ','. An empty or
    missing locale leaves the date order unknown, so 03/04/2025 stays unread rather than guessed.
    """
    locale = str(settings.get("locale") or "").strip().replace("_", "-")
    lang, _, region = locale.partition("-")
    lang, region = lang.lower(), region.upper()
    order: str | None
    if not lang:
        order, decimal = None, "."
    else:
        if lang in _YMD_LANGS:
            order = "YMD"
        elif region in _MDY_REGIONS or (lang == "en" and not region):
            order = "MDY"
        else:
            order = "DMY"
        decimal = "," if lang in _COMMA_DECIMAL_LANGS and f"{lang}-{region}" not in _DOT_DECIMAL_LOCALES else "."
    currency = str(settings.get("currency") or "").strip().upper() or None
    country = str(settings.get("default_country") or "").strip().upper() or None
    return ReadContext(date_order=order, decimal=decimal, currency=currency, default_country=country)


# ---------------------------------------------------------------------------------------------
# One cell

@lru_cache(maxsize=None)
def _ftype(name: str) -> Any:
    """The registry's type object (model.fieldtypes imports this module's readers, so it is looked up late)."""
    from crm_sheets.model.fieldtypes import field_type

    return field_type(name)


def as_text(raw: Any) -> str:
    """A typed cell as the text a person would see: 42.0 -> '42', True -> 'TRUE', a date -> ISO."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, float):
        return str(int(raw)) if raw.is_integer() and abs(raw) < 1e16 else repr(raw)
    if isinstance(raw, datetime):
        return raw.isoformat(sep=" ") if (raw.hour, raw.minute, raw.second, raw.microsecond) != (0, 0, 0, 0) else raw.date().isoformat()
    if isinstance(raw, (date, time)):
        return raw.isoformat()
    return str(raw)


# ---------------------------------------------------------------------------------------------
# Literal text: what came from outside and only looks like a formula

# A spreadsheet reads typed text that starts with one of these as a formula (tab, CR and LF: a CSV
# export moves it to another cell and the next character starts it).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\x00")


class Text(str):
    """Text from outside (a web form, an import) that looks like a formula and must stay exactly as typed.

    The value is what the person typed, with no apostrophe added; the marker tells each medium to keep it
    text: the xlsx file writes strings as string cells (never formulas) and can add Excel's quotePrefix
    style so that editing the cell keeps it text; a live Excel book or Google Sheets, which read what is
    written as if typed, must write it quoted or raw; a CSV export prefixes it (``csv_safe``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Text({str.__repr__(self)})"


def literal(text: str) -> str:
    """``text`` marked as literal Text when a spreadsheet would read it as a formula, else as it is."""
    return Text(text) if isinstance(text, str) and text.startswith(FORMULA_STARTS) else text


def csv_safe(text: str) -> str:
    """Text for a CSV file: one that starts like a formula gets a leading apostrophe, the standard
    defence against CSV injection (a spreadsheet opening the file shows the text; our import removes it)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# The helpers every layer uses for "no value" and "as text" (use these, not a local copy):
#   is_missing(v)  None, NaN, NA, NaT             is_blank(v)   is_missing, or only spaces (what jobs call empty)
#   is_empty(raw)  a raw cell: None, '' or NaN    as_text(v)    what a cell shows: 42.0 -> '42', TRUE, ISO dates
#   cell_text(v)   as_text, '' for no value; cell_text(v, strip=True) without surrounding spaces
# One job compares values in its own way on purpose: automate's snapshot.canonical folds case and accents (a
# change of case is no change) and its texts are kept in the states between runs.


def is_missing(value: Any) -> bool:
    """No value: None, NaN, pandas' NA or NaT. A string, even blank, is a value (see ``is_blank``)."""
    return value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value)


def is_blank(value: Any) -> bool:
    """No value, or only spaces: what jobs treat as an empty cell."""
    if isinstance(value, str):
        return not value.strip()
    if is_missing(value):
        return True
    try:
        return bool(value != value)  # numpy's NaT and NaN of other widths
    except (TypeError, ValueError):  # a missing value that refuses to be a bool
        return True


def cell_text(value: Any, *, strip: bool = False) -> str:
    """A value as the text a person sees in its cell (``as_text``), '' for no value (never 'nan').

    ``strip``: without the spaces around it, for what people type as instructions (rule sheets, form
    definitions, imported rows), where ' qualified ' means 'qualified'."""
    if is_missing(value):
        return ""
    return as_text(value).strip() if strip else as_text(value)


def is_empty(raw: Any) -> bool:
    """A raw cell as read from the file is empty: None, '' or NaN (a cell of spaces is not: check tidies it)."""
    return raw is None or raw == "" or (isinstance(raw, float) and math.isnan(raw))


def parse_value(field: Field, raw: Any, ctx: ReadContext, options: Mapping[str, str] | None = None) -> tuple[Any, bool]:
    """Read one cell as ``field``'s type: (value, True), or (raw, False) when it cannot be read.

    Empty cells are (None, True). Text types come back as typed (spaces are check's business).
    Numbers: float (integer: int). Percent: 0.25 for 25 %; '25%' -> 0.25, and a bare number above 1
    (25, '25') is taken as percent points -> 0.25, since a probability of 2500 % is never meant.
    Dates: ``date``; datetimes: ``datetime`` (naive). Dropdowns: the option key found through
    ``options`` (folded label -> key, see option_lookup); an unknown option is (stripped text, False);
    without ``options`` (options_from fields) the stripped text is kept. Tags: keys joined with ', '.
    """
    if is_empty(raw):
        return None, True
    ftype = _ftype(field.type)
    if ftype.text:
        text = as_text(raw)
        return (text.strip() if ftype.strip else text), True
    if isinstance(raw, str) and not raw.strip():
        return None, True
    value = ftype.parse(field, raw, ctx, options)
    return (raw, False) if value is None else (value, True) if not isinstance(value, _Unknown) else (value.text, False)


class _Unknown(str):
    """A dropdown/tags text that matches no option: kept as text, but not ok."""

    @property
    def text(self) -> str:
        return str(self)


# One reader per kind of cell: the field types of model/fieldtypes read their cells with these.


def read_number(field: Field, raw: Any, ctx: ReadContext, options: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, str):
        return parse_number(raw, ctx.decimal)
    return None


def read_integer(field: Field, raw: Any, ctx: ReadContext, options: Any) -> int | None:
    value = read_number(field, raw, ctx, options)
    if value is None or not value.is_integer():  # 2.5 people are not rounded silently
        return None
    return int(value)


def read_percent(field: Field, raw: Any, ctx: ReadContext, options: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return _percent_points(float(raw))
    if isinstance(raw, str):
        s = raw.strip()
        value = parse_number(s, ctx.decimal)
        if value is None:
            return None
        return value if s.endswith("%") else _percent_points(value)
    return None


def _percent_points(value: float) -> float:
    return value / 100 if abs(value) > 1 else value


def read_money(field: Field, raw: Any, ctx: ReadContext, options: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, str):
        # With a currency column on the row the typed currency is checked against it later (check);
        # otherwise the column's currency is known here and another one is not taken for it.
        expected = field.currency or (None if field.currency_field else ctx.currency)
        return parse_money(raw, ctx.decimal, expected)[0]
    return None


def read_date(field: Field, raw: Any, ctx: ReadContext, options: Any) -> date | None:
    if type(raw) is date:
        return raw
    dt = cell_datetime(raw, ctx.date_order, ctx.date1904)
    return dt.date() if dt is not None else None


def read_datetime(field: Field, raw: Any, ctx: ReadContext, options: Any) -> datetime | None:
    return cell_datetime(raw, ctx.date_order, ctx.date1904)


def read_checkbox(field: Field, raw: Any, ctx: ReadContext, options: Any) -> bool | None:
    return parse_checkbox(raw)


def read_option(field: Field, raw: Any, ctx: ReadContext, options: Mapping[str, str] | None) -> str | None:
    text = as_text(raw).strip()
    if options is None:
        return text
    key = options.get(fold_option(text))
    return key if key is not None else _Unknown(text)


_TAG_SPLIT = re.compile(r"\s*[,;\n]\s*")


def read_tags(field: Field, raw: Any, ctx: ReadContext, options: Mapping[str, str] | None) -> str | None:
    text = as_text(raw).strip()
    parts = [p for p in _TAG_SPLIT.split(text) if p]
    if options is None:
        return ", ".join(dict.fromkeys(parts))
    keys = [options.get(fold_option(p)) for p in parts]
    if any(k is None for k in keys):
        return _Unknown(text)
    return ", ".join(dict.fromkeys(keys))  # type: ignore[arg-type]


def __getattr__(name: str) -> Any:
    # the column reader (model/column_read.py) moved out of this module; its names stay importable from here
    if name in ("parse_column", "shared_strings"):
        from crm_sheets.model import column_read

        return getattr(column_read, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
