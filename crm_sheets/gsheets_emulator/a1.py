"""A1 notation as the Sheets API reads and writes it: 'CRM Dashboard'!A1:Z, Leads!A:C, Sheet1, A2:B.

Indices are 0-based with exclusive ends, as in a GridRange; None means unbounded on that side.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")
_PLAIN_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOKS_LIKE_CELL = re.compile(r"^([A-Za-z]{1,3}\d+|[Rr]\d+[Cc]\d+)$")


@dataclass(frozen=True)
class A1:
    sheet: str | None  # None: the first sheet (or a named range, see `name`)
    start_row: int | None = None
    end_row: int | None = None
    start_col: int | None = None
    end_col: int | None = None
    name: str | None = None  # a bare word that may be a named range or a sheet title


def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def col_letters(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def quote_title(title: str) -> str:
    if _PLAIN_TITLE.match(title) and not _LOOKS_LIKE_CELL.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def parse(text: str) -> A1:
    """Parse a range; raise ValueError with the API's "Unable to parse range" message."""
    error = ValueError(f"Unable to parse range: {text}")
    sheet: str | None = None
    rest = text
    if text.startswith("'"):
        i, title = 1, []
        while True:
            j = text.find("'", i)
            if j < 0:
                raise error
            title.append(text[i:j])
            if text[j + 1:j + 2] == "'":
                title.append("'")
                i = j + 2
                continue
            i = j + 1
            break
        sheet = "".join(title)
        rest = text[i:]
        if rest == "":
            return A1(sheet)
        if not rest.startswith("!"):
            raise error
        rest = rest[1:]
    elif "!" in text:
        sheet, rest = text.rsplit("!", 1)
    else:
        if not _is_cells(text):
            return A1(None, name=text)
    if rest == "":
        raise error
    parts = rest.split(":")
    if len(parts) > 2:
        raise error
    try:
        first = _cell(parts[0])
        second = _cell(parts[1]) if len(parts) == 2 else first
    except ValueError:
        raise error from None
    (c0, r0), (c1, r1) = first, second
    if len(parts) == 1 and (c0 is None or r0 is None):
        raise error  # "A" or "3" alone is not a range
    if c0 is None and c1 is not None or r0 is None and r1 is not None and c0 is None:
        raise error
    start_row = r0 if r0 is not None else (0 if c0 is not None else None)
    end_row = None if r1 is None else r1 + 1
    if r0 is None:
        start_row, end_row = 0, None
    start_col = c0 if c0 is not None else 0
    end_col = None if c1 is None else c1 + 1
    if end_row is not None and start_row is not None and end_row <= start_row:
        start_row, end_row = end_row - 1, start_row + 1
    if end_col is not None and end_col <= start_col:
        start_col, end_col = end_col - 1, start_col + 1
    return A1(sheet, start_row, end_row, start_col, end_col)


def _is_cells(text: str) -> bool:
    parts = text.split(":")
    if len(parts) > 2:
        return False
    try:
        cells = [_cell(p) for p in parts]
    except ValueError:
        return False
    if len(parts) == 1:
        return cells[0][0] is not None and cells[0][1] is not None
    return True


def _cell(text: str) -> tuple[int | None, int | None]:
    m = _CELL.match(text)
    if not m or text == "" or len(m.group(1)) > 3:
        raise ValueError(text)
    letters, digits = m.groups()
    if digits and int(digits) < 1:
        raise ValueError(text)
    return (col_index(letters) if letters else None, int(digits) - 1 if digits else None)


def format_range(title: str, start_row: int, end_row: int, start_col: int, end_col: int) -> str:
    """'Title'!A1:C3 for the cells [start_row, end_row) x [start_col, end_col); one cell as 'Title'!A1."""
    first = f"{col_letters(start_col)}{start_row + 1}"
    last = f"{col_letters(end_col - 1)}{end_row}"
    cells = first if first == last else f"{first}:{last}"
    return f"{quote_title(title)}!{cells}"
