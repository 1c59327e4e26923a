"""Tolerant reading of what people type into a cell: numbers, money, dates, checkboxes and options as text.

Pure functions, no I/O: the store's reader parses every cell with them and `check --fix` proposes
their result as the fix. A value that cannot be read without guessing is returned unread
(``ok=False``), never coerced.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Mapping, Sequence

import pandas as pd

from crm_sheets.model.schema import Field, ListSchema, normalize_header

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
# Numbers and money

_SPACES = "\u0020\u00a0\u202f\u2009\u2007'\u2019"  # thousands marks that are never decimal marks
_MINUS = "-\u2212\u2012\u2013"
_CURRENCY_SYMBOLS = {
    "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₽": "RUB", "₩": "KRW", "₺": "TRY",
    "US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD",
    "S$": "SGD", "R$": "BRL", "CHF": "CHF", "FR.": "CHF", "$": "$",  # "$" alone: any dollar
}
_DOLLARS = {"USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN", "ARS", "CLP", "COP", "TWD"}
_SYMBOL_RE = "|".join(re.escape(s) for s in sorted(_CURRENCY_SYMBOLS, key=len, reverse=True))
_CUR_PREFIX = re.compile(rf"^([{_MINUS}+]?)\s*({_SYMBOL_RE}|[A-Za-z]{{3}}(?![A-Za-z]))\s*", re.IGNORECASE)
_CUR_SUFFIX = re.compile(rf"\s*({_SYMBOL_RE}|(?<![A-Za-z])[A-Za-z]{{3}})$", re.IGNORECASE)
_DIGITS = re.compile(r"^\d+$")
_SCI = re.compile(r"^\d+(?:\.\d*)?[eE][+-]?\d+$")


def parse_number(text: str, decimal: str = ".") -> float | None:
    """A number typed as text, or None. The locale's decimal mark decides '1,234' and '1.234'.

    Accepts thousands marks (space, no-break space, apostrophe, or the other of . and ,) only in
    groups of three, a leading or trailing minus, (300) for -300 and a trailing % (12% -> 0.12).
    """
    s = text.strip()
    if not s:
        return None
    pct = s.endswith("%")
    if pct:
        s = s[:-1].rstrip()
    value = _signed(s, decimal)
    if value is None:
        return None
    return value / 100 if pct else value


def _signed(s: str, decimal: str) -> float | None:
    neg = False
    if s.startswith("(") and s.endswith(")"):
        neg, s = True, s[1:-1].strip()
    if s and s[0] in _MINUS + "+":
        neg, s = (s[0] != "+") or neg, s[1:].lstrip()
    elif s and s[-1] in _MINUS:
        neg, s = True, s[:-1].rstrip()
    value = _unsigned(s, decimal)
    if value is None:
        return None
    return -value if neg else value


def _unsigned(s: str, decimal: str) -> float | None:
    if _DIGITS.match(s):
        return float(s)
    if _SCI.match(s):
        return float(s)
    other = "," if decimal == "." else "."
    n_dec, n_other = s.count(decimal), s.count(other)
    if n_dec and n_other:  # both marks: the last one is the decimal mark, whatever the locale
        dec = decimal if s.rfind(decimal) > s.rfind(other) else other
    elif n_dec + n_other == 1:
        dec = decimal if n_dec else None  # the other mark, alone, can only be a thousands mark
    else:
        dec = None
    if dec is not None:
        if s.count(dec) != 1:
            return None
        whole, frac = s.split(dec)
    else:
        whole, frac = s, ""
    thousands = _SPACES + ("," if dec != "," else "") + ("." if dec != "." else "")
    groups = re.split(f"[{re.escape(thousands)}]", whole)
    if not all(_DIGITS.match(g) for g in groups[1:]) or any(len(g) != 3 for g in groups[1:]):
        return None
    if len(groups) > 1 and not (1 <= len(groups[0]) <= 3 and _DIGITS.match(groups[0])):
        return None
    digits = "".join(groups)
    if (digits and not _DIGITS.match(digits)) or (frac and not _DIGITS.match(frac)) or not (digits or frac):
        return None
    return float(f"{digits or '0'}.{frac or '0'}")


def parse_money(text: str, decimal: str = ".", expected: str | None = None) -> tuple[float | None, str | None]:
    """An amount typed as text (``€1 200,50``, ``$1,200.50``, ``1200 EUR``, ``(300)``) and its currency.

    Returns (None, code) when the amount is unreadable, or when its currency is not ``expected``
    (an amount in another currency is not silently taken for one in this column's currency).
    """
    s = text.strip()
    neg = False
    if s.startswith("(") and s.endswith(")"):
        neg, s = True, s[1:-1].strip()
    code = None
    m = _CUR_PREFIX.match(s)
    if m and _currency_code(m.group(2)):
        code = _currency_code(m.group(2))
        s = m.group(1) + s[m.end():]
    else:
        m = _CUR_SUFFIX.search(s)
        if m and _currency_code(m.group(1)):
            code = _currency_code(m.group(1))
            s = s[: m.start()]
    if s.strip().endswith("%"):
        return None, code
    value = _signed(s.strip(), decimal)
    if value is None:
        return None, code
    if code and expected and not _same_currency(code, expected):
        return None, code
    return (-value if neg else value), code


@lru_cache(maxsize=256)
def _currency_code(token: str) -> str | None:
    symbol = _CURRENCY_SYMBOLS.get(token.upper())
    if symbol:
        return symbol
    if len(token) == 3 and token.isalpha():
        from crm_sheets.model.normalize import is_currency

        return token.upper() if is_currency(token) else None
    return None


def _same_currency(code: str, expected: str) -> bool:
    expected = expected.upper()
    if code == "$":
        return expected in _DOLLARS
    return code == expected


# ---------------------------------------------------------------------------------------------
# Dates

EXCEL_EPOCH = datetime(1899, 12, 30)
# Serial numbers read as dates: 1930-01-01 .. 2099-12-31. Outside, a number in a date column is far
# more likely a year or a typo than a date, so it stays unread.
SERIAL_MIN, SERIAL_MAX = 10959, 73050

_TIME = r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?\s*([aApP]\.?[mM]\.?)?"
_TZ = r"(?:\s*(Z|[+-]\d{2}:?\d{2}))?"
_ISO_RE = re.compile(rf"^(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}})(?:(?:T|\s+|\s*,\s*|\s+[aà]\s+){_TIME}{_TZ})?$")
_NUMERIC_RE = re.compile(rf"^(\d{{1,2}})([-/.])(\d{{1,2}})\2(\d{{4}}|\d{{2}})(?:(?:\s+|\s*,\s*|T|\s+[aà]\s+){_TIME})?$")
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TIME_TAIL_RE = re.compile(rf"(?:^|\s|,|T)(?:[aà]\s+)?{_TIME}$")
_TOKEN_RE = re.compile(r"\d+|[^\W\d_]+\.?")

_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4, "may": 5,
    "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sep": 9, "sept": 9,
    "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4, "avr": 4, "mai": 5,
    "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11,
    "decembre": 12,
}
_FILLER = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    "lun", "mer", "jeu", "ven", "sam", "dim",
    "st", "nd", "rd", "th", "er", "le", "the", "of",
}


def _fold_word(word: str) -> str:
    s = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode("ascii")
    return s.lower().rstrip(".")


def _hms(m: re.Match, first: int) -> time | None:
    """The time captured by _TIME starting at group ``first``, or None when out of range."""
    hour, minute = int(m.group(first)), int(m.group(first + 1))
    second = int(m.group(first + 2) or 0)
    micro = int((m.group(first + 3) or "0").ljust(6, "0"))
    ampm = (m.group(first + 4) or "").lower().replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.startswith("p") else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second, micro)


def _make(y: int, mo: int, d: int, t: time | None) -> datetime | None:
    try:
        return datetime.combine(date(y, mo, d), t or time())
    except ValueError:  # 31/02/2025: an impossible date is not read
        return None


def _year(y: str) -> int:
    if len(y) == 2:  # two-digit years: 00-69 -> 2000s, 70-99 -> 1900s (as Excel does)
        n = int(y)
        return 2000 + n if n < 70 else 1900 + n
    return int(y)


def parse_datetime(text: str, date_order: str | None = None, date1904: bool = False) -> datetime | None:
    """A date or date and time typed as text, or None when impossible or ambiguous.

    ISO (2025-03-14, 2025-03-14T10:30), numeric dates in the locale's order (14/03/2025 with DMY,
    03/14/2025 with MDY; one that only reads one way, 31/03/2025, is read whatever the order when
    the order is unknown), month names in English or French (14 March 2025, March 14, 2025, 14 mars
    2025), compact 20250314 and Excel serial numbers as text (``date1904``: of the 1904 date
    system). A time zone is converted to UTC.
    """
    s = " ".join(text.split())
    if not s:
        return None
    m = _ISO_RE.match(s)
    if m:
        t = _hms(m, 4) if m.group(4) else None
        if m.group(4) and t is None:
            return None
        dt = _make(int(m.group(1)), int(m.group(2)), int(m.group(3)), t)
        tz = m.group(9)
        if dt is not None and tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            hh, mm = int(tz[1:3]), int(tz[-2:])
            dt = dt - sign * timedelta(hours=hh, minutes=mm)
        return dt
    m = _NUMERIC_RE.match(s)
    if m:
        t = _hms(m, 5) if m.group(5) else None
        if m.group(5) and t is None:
            return None
        a, b, y = int(m.group(1)), int(m.group(3)), _year(m.group(4))
        if date_order == "MDY":
            mo, d = a, b
        elif date_order == "DMY":
            d, mo = a, b
        elif a == b or (a > 12) != (b > 12):  # reads only one way: no guess needed
            d, mo = (a, b) if a > 12 or a == b else (b, a)
        else:
            return None  # 03/04/2025 without a known date order: ambiguous
        return _make(y, mo, d, t)
    m = _COMPACT_RE.match(s)
    if m:
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)), None)
    if _DIGITS.match(s) or re.match(r"^\d+\.\d+$", s):
        return from_serial(float(s), date1904)
    return _parse_named(s)


def _parse_named(s: str) -> datetime | None:
    """'14 March 2025', 'March 14, 2025', '14-Mar-25', 'vendredi 14 mars 2025 à 10:30'."""
    t = None
    m = _TIME_TAIL_RE.search(s)
    if m:
        t = _hms(m, 1)
        if t is None:
            return None
        s = s[: m.start()]
    month = None
    numbers: list[str] = []
    for tok in _TOKEN_RE.findall(s):
        if tok[0].isdigit():
            numbers.append(tok)
            continue
        word = _fold_word(tok)
        if word in _MONTHS and month is None:
            month = _MONTHS[word]
        elif word not in _FILLER:
            return None
    if month is None or len(numbers) != 2:
        return None
    day_s, year_s = numbers
    if len(day_s) == 4 and len(year_s) <= 2:  # 2025 March 14
        day_s, year_s = year_s, day_s
    if len(day_s) > 2 or len(year_s) not in (2, 4):
        return None
    return _make(_year(year_s), month, int(day_s), t)


DAYS_1900_TO_1904 = 1462  # serial 0 of the 1904 date system is serial 1462 of the 1900 one


def from_serial(serial: float, date1904: bool = False) -> datetime | None:
    """An Excel serial day number as a datetime, within SERIAL_MIN..SERIAL_MAX (of the 1900 system).

    ``date1904``: the workbook uses the 1904 date system (workbookPr date1904), so 0 is 1904-01-01.
    """
    if date1904:
        serial += DAYS_1900_TO_1904
    if not (SERIAL_MIN <= serial <= SERIAL_MAX):
        return None
    return EXCEL_EPOCH + timedelta(seconds=round(serial * 86400))  # to the second: floats drift


# ---------------------------------------------------------------------------------------------
# Checkboxes and options

_TRUE = {"true", "yes", "y", "oui", "vrai", "x", "1", "✓", "✔", "☑", "☒", "on", "checked", "coche"}
_FALSE = {"false", "no", "n", "non", "faux", "0", "✗", "✘", "☐", "off", "unchecked"}


def parse_checkbox(raw: Any) -> bool | None:
    """True/False for what people tick: yes/no, oui/non, x, TRUE/FALSE, VRAI/FAUX, 1/0, ✓; None if neither."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)):
        return True if raw == 1 else False if raw == 0 else None
    word = _fold_word(str(raw).strip()) or str(raw).strip()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None


def fold_option(text: str) -> str:
    """How an option label is compared: like a header (case, accents, spaces ignored); labels made
    only of symbols (``>``, ``<``) compare as typed, since folding would make them all equal."""
    return normalize_header(text) or text.strip()


def option_lookup(lst: ListSchema) -> dict[str, str]:
    """Folded key or label (any language) -> option key, for parse_value's ``options``."""
    out: dict[str, str] = {}
    for o in lst.options:
        for text in (o.key, *o.labels.values()):
            out.setdefault(fold_option(text), o.key)
    return out


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
#   cell_text(v)   as_text, '' for no value
# Two jobs compare values in their own way on purpose: automate's snapshot.canonical folds case and accents (a
# change of case is no change), and dedupe's keys.text is str() of the value, which its match keys are built on.


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


def cell_text(value: Any) -> str:
    """A value as the text a person sees in its cell (``as_text``), '' for no value (never 'nan')."""
    return "" if is_missing(value) else as_text(value)


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


def _to_datetime(raw: Any, ctx: ReadContext) -> datetime | None:
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        if float(raw).is_integer() and _COMPACT_RE.match(str(int(raw))):
            return _make(*(int(x) for x in _COMPACT_RE.match(str(int(raw))).groups()), None)
        return from_serial(float(raw), ctx.date1904)
    if isinstance(raw, str):
        return parse_datetime(raw, ctx.date_order, ctx.date1904)
    return None


def read_date(field: Field, raw: Any, ctx: ReadContext, options: Any) -> date | None:
    if type(raw) is date:
        return raw
    dt = _to_datetime(raw, ctx)
    return dt.date() if dt is not None else None


def read_datetime(field: Field, raw: Any, ctx: ReadContext, options: Any) -> datetime | None:
    return _to_datetime(raw, ctx)


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


# ---------------------------------------------------------------------------------------------
# Whole columns: the reader's fast path

# The Python types calamine returns for a cell already typed as the field wants (FieldType.native), and
# infer_dtype's verdict on a column whose non-empty cells are all of them (FieldType.native_kinds).


def parse_column(
    field: Field, raws: Sequence[Any], ctx: ReadContext, options: Mapping[str, str] | None = None,
    texts: dict[int, Any] | None = None,
) -> tuple[Any, dict[int, Any]]:
    """Read a whole column: an array of the column's dtype (tables.DTYPES; object columns hold str or
    None) and {position: raw} of the unreadable cells, which are null in the array — except in
    dropdown and tags columns, where an unknown option's text is kept.

    ``texts``, when given, receives {position: raw} of the cells of a typed column (number, money,
    percent, integer, date, datetime, checkbox) that were text but read as the type: what
    ``check --fix`` turns into real numbers, dates and checkboxes.

    Vectorised for speed (100,000s of rows): a column whose cells are already of the right Python
    type (calamine returns float, bool, date and datetime for typed cells) is converted as a block;
    other cells are parsed once per distinct value.
    """
    values, bad = _column(field, raws, ctx, options, texts)
    if texts and bad:
        for i in bad:  # read as text, then refused (a date beyond 2262): unreadable, not typed text
            texts.pop(i, None)
    return values, bad


def _column(field: Field, raws: Sequence[Any], ctx: ReadContext, options: Mapping[str, str] | None,
            texts: dict[int, Any] | None) -> tuple[Any, dict[int, Any]]:
    import numpy as np
    import pandas as pd
    from pandas.api.types import infer_dtype

    from crm_sheets.model.tables import dtype_for

    ftype = _ftype(field.type)
    n = len(raws)
    if isinstance(raws, np.ndarray) and raws.dtype == object and raws.ndim == 1:
        arr = raws
    else:
        arr = np.empty(n, dtype=object)
        arr[:] = raws
    if ftype.text or ftype.options:
        if infer_dtype(arr, skipna=False) == "string":  # the usual text column: no per-cell work
            return _string_column(field, arr, ctx, options)
    empty = (arr == "") | (arr == None)  # noqa: E711 (elementwise); NaN floats are handled as numbers
    filled = np.flatnonzero(~empty)
    kind = infer_dtype(arr[filled], skipna=False) if len(filled) else "empty"
    if kind in ftype.native_kinds and not ftype.options:
        native = ~empty
    elif ftype.options:  # dropdown, tags: every cell goes through its options
        native = np.zeros(n, dtype=bool)
    else:
        types = np.fromiter(map(type, arr), dtype=object, count=n)
        native = np.zeros(n, dtype=bool)
        for t in ftype.native:
            native |= types == t
        native &= ~empty
    slow = np.flatnonzero(~(empty | native))
    bad: dict[int, Any] = {}
    parsed = _parse_slow(field, arr, slow, ctx, options, bad)
    dtype = dtype_for(field.type)
    if texts is not None and dtype != "object" and len(slow):
        # Only the cells that needed parsing can be text: typed columns stay fast (no per-cell work).
        for i, raw, value in zip(slow.tolist(), arr[slow].tolist(), parsed.tolist()):
            if type(raw) is str and value is not None and i not in bad:
                texts[i] = raw

    if dtype == "object":
        out = arr.copy()
        out[empty] = None
        if len(slow):
            out[slow] = parsed
        if ftype.strip:
            out[native] = [s.strip() for s in out[native]]
        return shared_strings(out), bad
    if dtype in ("float64", "Int64"):
        values = np.full(n, np.nan)
        values[native] = arr[native].astype("float64")
        ftype.native_values(values, native)  # percent: a bare 25 means 25 % (see parse_value)
        refused = ftype.refuse_native(values, native)  # integer: 2.5 is not rounded into the column
        if refused is not None:
            for i in np.flatnonzero(refused):
                bad[int(i)] = arr[i]
            values[refused] = np.nan
        if len(slow):
            parsed[parsed == None] = np.nan  # noqa: E711 (elementwise)
            values[slow] = parsed.astype("float64")
        return (pd.array(values, dtype="Int64") if dtype == "Int64" else values), bad
    if dtype == "boolean":
        values = np.zeros(n, dtype=bool)
        mask = ~native
        values[native] = arr[native].astype(bool)
        for i, v in zip(slow.tolist(), parsed.tolist()):
            if v is not None:
                values[i], mask[i] = v, False
        return pd.arrays.BooleanArray(values, mask), bad
    # date / datetime: pandas converts blocks of Python dates fast; null where empty or unreadable
    objs = np.full(n, None, dtype=object)
    objs[native] = arr[native]
    if len(slow):
        objs[slow] = parsed
    stamps = pd.to_datetime(pd.Series(objs, dtype=object), errors="coerce")
    for i in np.flatnonzero(stamps.isna().to_numpy() & (objs != None)):  # noqa: E711 (beyond year 2262)
        bad[int(i)] = arr[i]
    if not ftype.with_time:  # date: midnight (Timestamp columns hold both)
        stamps = stamps.dt.normalize()
    return stamps.to_numpy().astype("datetime64[ns]"), bad


def shared_strings(values: Any) -> Any:
    """An object array of str and nulls with equal strings as one object (the same values, the same types).

    The reader gets a new str per cell: at 100,000 leads an Owner, Country or City column holds 100,000
    copies of a dozen names (~60 bytes each), over 100 MB across a workbook's tables. A column of mostly
    distinct values (emails, names) is returned as it is."""
    import numpy as np
    import pandas as pd
    from pandas.api.types import infer_dtype

    n = len(values)
    if n < 64 or infer_dtype(values, skipna=True) != "string":  # only str (1 == 1.0 == True would share)
        return values
    codes, uniques = pd.factorize(values)
    if len(uniques) * 2 > n:
        return values
    out = np.asarray(uniques, dtype=object)[codes]
    missing = codes < 0
    if missing.any():
        out[missing] = values[missing]  # None stays None (factorize codes every null -1)
    return out


def _string_column(field: Field, arr: Any, ctx: ReadContext, options: Any) -> tuple[Any, dict[int, Any]]:
    """A column of str only: text as typed ('' -> None); dropdown and tags parsed once per value."""
    import numpy as np
    import pandas as pd

    bad: dict[int, Any] = {}
    ftype = _ftype(field.type)
    if ftype.text:
        out = arr.copy()
        out[arr == ""] = None
        if ftype.strip:
            out[:] = [s.strip() if s else s for s in out]
        return shared_strings(out), bad
    codes, uniques = pd.factorize(arr)
    results = [parse_value(field, u, ctx, options) for u in uniques]
    values = np.empty(len(results), dtype=object)
    values[:] = [v for v, _ in results]  # unknown options keep their text (see parse_value)
    for code in [k for k, (_, ok) in enumerate(results) if not ok]:
        for i in np.flatnonzero(codes == code).tolist():
            bad[i] = arr[i]
    return values[codes], bad


def _parse_slow(field: Field, arr: Any, slow: Any, ctx: ReadContext, options: Any, bad: dict[int, Any]) -> Any:
    """parse_value for the cells that need it, once per distinct value: an object array (None where
    unreadable, except an unknown option's text)."""
    import numpy as np
    import pandas as pd
    from pandas.api.types import infer_dtype

    keep_unknown = _ftype(field.type).options
    if not len(slow):
        return np.empty(0, dtype=object)
    cells = arr[slow]
    if infer_dtype(cells, skipna=False) == "string":  # the usual case (dropdowns, text dates): by value
        codes, uniques = pd.factorize(cells)
        results = [parse_value(field, u, ctx, options) for u in uniques]
        values = np.empty(len(results), dtype=object)
        values[:] = [v if ok or keep_unknown else None for v, ok in results]
        for code in [k for k, (_, ok) in enumerate(results) if not ok]:
            for i in np.flatnonzero(codes == code).tolist():
                bad[int(slow[i])] = cells[i]
        return values[codes]
    # Mixed types: keyed by (type, value), since 1.0 == True would otherwise share a result.
    cache: dict[tuple[type, Any], tuple[Any, bool]] = {}
    out: list[Any] = []
    for i, raw in zip(slow.tolist(), cells.tolist()):
        key = (type(raw), raw)
        try:
            value, ok = cache[key]
        except KeyError:
            value, ok = cache[key] = parse_value(field, raw, ctx, options)
        except TypeError:  # an unhashable value: parsed uncached
            value, ok = parse_value(field, raw, ctx, options)
        if ok:
            out.append(value)
        else:
            bad[i] = raw
            out.append(value if keep_unknown else None)
    result = np.empty(len(out), dtype=object)
    result[:] = out
    return result
