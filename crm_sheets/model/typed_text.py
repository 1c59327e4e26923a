"""What people type as text, read tolerantly: numbers, money, dates, checkboxes and dropdown options.

Pure functions, no I/O, no schema types beyond a list's options: model/values.py reads a cell with them
(and re-exports them, so ``from crm_sheets.model.values import parse_number`` keeps working).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from crm_sheets.model.schema import ListSchema, normalize_header

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



def cell_datetime(raw: Any, date_order: str | None = None, date1904: bool = False) -> datetime | None:
    """A cell as a datetime: a date, a serial day number, 20250314, or text (``parse_datetime``); None if not."""
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        if float(raw).is_integer() and _COMPACT_RE.match(str(int(raw))):
            return _make(*(int(x) for x in _COMPACT_RE.match(str(int(raw))).groups()), None)
        return from_serial(float(raw), date1904)
    if isinstance(raw, str):
        return parse_datetime(raw, date_order, date1904)
    return None


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
