"""How values go in and come out: USER_ENTERED parsing (numbers, dates, formulas) and the three renderings
(FORMATTED_VALUE, UNFORMATTED_VALUE, FORMULA) with dates as serial numbers or formatted strings.

Formulas are not computed: FORMULA gives the formula, the other renderings its cached result if one was
given (CellData.effectiveValue on write, an emulator extension) and "" otherwise.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from .model import Cell, entry_format, entry_value

EPOCH = dt.datetime(1899, 12, 30)
_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][+-]?\d+)?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
# Other forms people type that Sheets (en_US) reads as dates or times.
_NAMED_FORMATS = [("%b %d, %Y", "DATE", "mmm d, yyyy"), ("%B %d, %Y", "DATE", "mmmm d, yyyy"),
                  ("%d %b %Y", "DATE", "d mmm yyyy"), ("%d %B %Y", "DATE", "d mmmm yyyy"),
                  ("%m/%d/%y", "DATE", "M/d/yy"), ("%I:%M %p", "TIME", "h:mm am/pm"),
                  ("%I:%M:%S %p", "TIME", "h:mm:ss am/pm")]


def serial(moment: dt.datetime) -> float | int:
    delta = moment - EPOCH
    value = delta.days + delta.seconds / 86400
    return int(value) if float(value).is_integer() else value


def from_serial(value: float) -> dt.datetime:
    return EPOCH + dt.timedelta(days=value)


def parse_user_entered(text: str) -> Any:
    """A grid entry for `text` typed into a cell: a formula, a number (with a format), a date, a bool,
    or the text itself. A leading apostrophe keeps the rest as text."""
    if text.startswith("="):
        return Cell(None, text) if len(text) > 1 else text
    if text.startswith("'"):
        return text[1:]
    stripped = text.strip()
    upper = stripped.upper()
    if upper in ("TRUE", "FALSE"):
        return upper == "TRUE"
    if stripped and _NUMBER.match(stripped) and any(ch.isdigit() for ch in stripped):
        number = float(stripped.replace(",", ""))
        value = int(number) if number.is_integer() and "e" not in stripped.lower() and abs(number) < 2 ** 53 else number
        if "," in stripped:
            return _formatted(value, "NUMBER", "#,##0" if "." not in stripped else "#,##0.00")
        return value
    if stripped.endswith("%") and _NUMBER.match(stripped[:-1].strip() or "x"):
        number = float(stripped[:-1].replace(",", "")) / 100
        return _formatted(number, "PERCENT", "0.00%" if "." in stripped else "0%")
    if stripped.startswith(("$", "-$")) and _NUMBER.match(stripped.replace("$", "", 1) or "x"):
        number = float(stripped.replace("$", "", 1).replace(",", ""))
        return _formatted(int(number) if number.is_integer() else number, "CURRENCY", '"$"#,##0.00')
    moment, kind, pattern = _parse_datetime(stripped)
    if moment is not None:
        return _formatted(serial(moment), kind, pattern)
    return text


def _formatted(value: Any, kind: str, pattern: str) -> Cell:
    return Cell(value, None, {"userEnteredFormat": {"numberFormat": {"type": kind, "pattern": pattern}}})


def _parse_datetime(text: str) -> tuple[dt.datetime | None, str, str]:
    try:
        m = _ISO_DATE.match(text)
        if m:
            y, mo, d, h, mi, s = m.groups()
            moment = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
            return (moment, "DATE_TIME", "yyyy-mm-dd h:mm:ss") if h else (moment, "DATE", "yyyy-mm-dd")
        m = _US_DATE.match(text)
        if m:
            mo, d, y, h, mi, s = m.groups()
            moment = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
            return (moment, "DATE_TIME", "M/d/yyyy H:mm:ss") if h else (moment, "DATE", "M/d/yyyy")
        for pattern, kind, number_format in _NAMED_FORMATS:
            try:
                moment = dt.datetime.strptime(text, pattern)
            except ValueError:
                continue
            if kind == "TIME":
                moment = EPOCH + dt.timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second)
            return moment, kind, number_format
        m = _TIME.match(text)
        if m:
            h, mi, s = m.groups()
            if int(h) < 24:
                moment = EPOCH + dt.timedelta(hours=int(h), minutes=int(mi), seconds=int(s or 0))
                return moment, "TIME", "h:mm:ss"
    except ValueError:
        pass
    return None, "", ""


def input_entry(value: Any, option: str) -> Any:
    """The grid entry for one value of a values.update/append body (None: leave the cell as it is)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value == "":
            return ""
        return parse_user_entered(value) if option == "USER_ENTERED" else value
    if isinstance(value, (bool, int, float)):
        return value
    return str(value)


# -- rendering ----------------------------------------------------------------------------------

def render(entry: Any, value_option: str, date_option: str) -> Any:
    """A cell as values.get gives it; "" for an empty cell (trimmed by the caller)."""
    if entry is None:
        return ""
    if value_option == "FORMULA" and isinstance(entry, Cell) and entry.formula is not None:
        return entry.formula
    value = entry_value(entry)
    if value is None:
        return ""
    if value_option == "FORMATTED_VALUE":
        return formatted(value, entry_format(entry))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if date_option == "FORMATTED_STRING":
            kind = _number_kind(entry_format(entry))
            if kind in ("DATE", "DATE_TIME", "TIME"):
                return formatted(value, entry_format(entry))
        return _json_number(value)
    return value


def _json_number(value: float | int) -> float | int:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


def _number_kind(fmt: dict | None) -> str | None:
    if not fmt:
        return None
    return (fmt.get("numberFormat") or {}).get("type")


def formatted(value: Any, fmt: dict | None) -> str:
    """The displayed text of a value under a number format (the common patterns, roughly as Sheets)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if not isinstance(value, (int, float)):
        return str(value)
    number_format = (fmt or {}).get("numberFormat") or {}
    kind = number_format.get("type")
    pattern = number_format.get("pattern") or ""
    if kind in ("DATE", "DATE_TIME", "TIME") or (pattern and re.search(r"[dyhs]", pattern.split(";")[0])):
        default = {"DATE": "M/d/yyyy", "DATE_TIME": "M/d/yyyy H:mm:ss", "TIME": "h:mm:ss am/pm"}.get(kind, "M/d/yyyy")
        try:
            return format_date(from_serial(value), pattern or default)
        except (OverflowError, ValueError):
            return general(value)
    if kind == "TEXT":
        return general(value)
    if kind == "PERCENT" or pattern.endswith("%"):
        return _decimal_pattern(value * 100, pattern.rstrip("%") or "0") + "%"
    if kind == "CURRENCY" and not pattern:
        pattern = '"$"#,##0.00'
    if pattern and pattern.upper() != "GENERAL":
        prefix = ""
        m = re.match(r'^"([^"]*)"', pattern) or re.match(r"^([$€£¥])", pattern)
        if m:
            prefix, pattern = m.group(1), pattern[m.end():]
        body = pattern.split(";")[0]
        if "E" in body.upper():
            return f"{value:.2E}"
        sign = "-" if value < 0 else ""
        return sign + prefix + _decimal_pattern(abs(value), body)
    return general(value)


def general(value: float | int) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    if math.isnan(value) or math.isinf(value):
        return "#NUM!"
    text = f"{value:.10g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{float(mantissa):.2f}E{int(exponent):+03d}"
    return text


def _decimal_pattern(value: float, pattern: str) -> str:
    decimals = len(pattern.split(".", 1)[1].rstrip("#")) if "." in pattern else 0
    digits = len(pattern.split(".", 1)[1]) if "." in pattern else 0
    grouping = "," in pattern.split(".")[0]
    text = f"{value:{',' if grouping else ''}.{digits}f}"
    if digits > decimals and "." in text:  # '#' places are shown only when needed
        head, tail = text.split(".")
        tail = tail.rstrip("0").ljust(decimals, "0")
        text = f"{head}.{tail}" if tail else head
    return text


_TOKENS = re.compile(r"yyyy|yy|mmmm|mmm|mm|m|MMMM|MMM|MM|M|dddd|ddd|dd|d|hh|h|HH|H|ss|s|am/pm|AM/PM|a/p|\"[^\"]*\"|.")


def format_date(moment: dt.datetime, pattern: str) -> str:
    tokens = _TOKENS.findall(pattern)
    has_ampm = any(t.lower() in ("am/pm", "a/p") for t in tokens)
    out = []
    for i, token in enumerate(tokens):
        low = token.lower()
        if low == "yyyy":
            out.append(f"{moment.year:04d}")
        elif low == "yy":
            out.append(f"{moment.year % 100:02d}")
        elif low in ("m", "mm"):
            before = "".join(tokens[:i]).lower().rstrip(" :")
            after = "".join(tokens[i + 1:]).lower().lstrip(" :")
            minute = before.endswith(("h", "hh")) or after.startswith("s")
            number = moment.minute if minute else moment.month
            out.append(f"{number:02d}" if low == "mm" else str(number))
        elif low == "mmm":
            out.append(moment.strftime("%b"))
        elif low == "mmmm":
            out.append(moment.strftime("%B"))
        elif low == "dd":
            out.append(f"{moment.day:02d}")
        elif low == "d":
            out.append(str(moment.day))
        elif low == "ddd":
            out.append(moment.strftime("%a"))
        elif low == "dddd":
            out.append(moment.strftime("%A"))
        elif low in ("h", "hh"):
            hour = moment.hour % 12 or 12 if has_ampm else moment.hour
            out.append(f"{hour:02d}" if low == "hh" else str(hour))
        elif low in ("s", "ss"):
            out.append(f"{moment.second:02d}" if low == "ss" else str(moment.second))
        elif low in ("am/pm", "a/p"):
            out.append(("AM" if moment.hour < 12 else "PM") if low == "am/pm" else ("a" if moment.hour < 12 else "p"))
        elif token.startswith('"'):
            out.append(token[1:-1])
        else:
            out.append(token)
    return "".join(out)


def effective_value(entry: Any) -> dict | None:
    value = entry_value(entry)
    if value is None:
        return None
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, (int, float)):
        return {"numberValue": value}
    return {"stringValue": value}
