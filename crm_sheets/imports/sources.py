"""Reading export files as they come: CSV in UTF-8 (with or without BOM), UTF-16 or Windows-1252, separated
by commas, semicolons or tabs; .xlsx workbooks (every sheet with a header row). Each file becomes a header
and its rows, each row with the line (or sheet row) a person finds it on.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_sheets.errors import NotAWorkbook, UsageError
from crm_sheets.model.values import as_text, is_empty

_DELIMITERS = ",;\t|"


@dataclass
class SourceFile:
    path: str
    sheet: str = ""  # the sheet of an .xlsx file
    headers: list[str] = field(default_factory=list)
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)  # (line or sheet row, cells)
    encoding: str = ""
    delimiter: str = ""

    @property
    def name(self) -> str:
        return Path(self.path).name + (f" [{self.sheet}]" if self.sheet else "")

    @property
    def stem(self) -> str:
        return self.sheet if self.sheet and self.sheet.lower() not in ("sheet1", "sheet", "export") else Path(self.path).stem


def decode(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and its encoding: a BOM says it; else UTF-8 when it reads so; else Windows-1252
    (what Excel and older CRMs write on Windows)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def sniff_delimiter(text: str) -> str:
    """The separator of the header line: the one of , ; tab | it holds most often outside quotes, checked
    against the next lines (a comma inside "Smith, John" does not count)."""
    lines = text.splitlines()[:20]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        pass
    head = lines[0]
    counts = {d: len(next(csv.reader([head], delimiter=d))) for d in _DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 1 else ","


def read_csv(path: Path) -> SourceFile:
    text, encoding = decode(path.read_bytes())
    first, _, rest = text.partition("\n")
    if first.strip().lower().startswith("sep=") and len(first.strip()) == 5:  # Excel's hint line: "sep=;"
        delimiter, text = first.strip()[4], rest
    else:
        delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out = SourceFile(str(path), encoding=encoding, delimiter=delimiter)
    last = 0
    for row in reader:
        line = last + 1  # where the record starts: a quoted value may span lines
        last = reader.line_num
        if not out.headers:
            if any(c.strip() for c in row):
                out.headers = [c.strip() for c in row]
            continue
        if any(c.strip() for c in row):
            out.rows.append((line, row))
    return _name_blank_headers(out)


def _name_blank_headers(f: SourceFile) -> SourceFile:
    """A column with values but no header (or cells past the last header) is named by its letter: never dropped."""
    from crm_sheets.model.tables import column_letter

    width = max([len(f.headers), *(len(cells) for _line, cells in f.rows)])
    headers = f.headers + [""] * (width - len(f.headers))
    for j, h in enumerate(headers):
        if not h and any(j < len(cells) and not is_empty(cells[j]) and str(cells[j]).strip() for _line, cells in f.rows):
            headers[j] = f"Column {column_letter(j)}"
    f.headers = headers
    return f


def read_xlsx(path: Path) -> list[SourceFile]:
    from python_calamine import CalamineWorkbook

    from crm_sheets.adopt.propose import header_row
    from crm_sheets.store.xlsx.package import open_package

    with open_package(path):
        pass  # refuses a hostile or broken package before the parser sees it
    book = CalamineWorkbook.from_path(str(path))
    out = []
    for name in book.sheet_names:
        grid = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        h = header_row(grid)
        if h is None:
            continue
        f = SourceFile(str(path), sheet=name, headers=[("" if is_empty(c) else as_text(c).strip()) for c in grid[h]])
        for r, row in enumerate(grid[h + 1:], start=h + 2):
            if any(not is_empty(c) for c in row):
                f.rows.append((r, list(row)))
        out.append(_name_blank_headers(f))
    return out


def read_sources(paths: list[str | Path]) -> list[SourceFile]:
    """Every file named, read; a missing or unreadable one stops the import before anything is written."""
    out: list[SourceFile] = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise UsageError(f"{path}: no such file", hint="give the export files (.csv or .xlsx) to import")
        suffix = path.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            try:
                out += read_xlsx(path)
            except NotAWorkbook:
                raise
            except Exception as exc:  # a broken export is named, never a traceback
                raise NotAWorkbook(f"{path}: not a readable .xlsx file ({exc})", hint="export it again, or save it as CSV") from None
        elif suffix in (".csv", ".txt", ".tsv", ""):
            out.append(read_csv(path))
        else:
            raise UsageError(f"{path}: {suffix} files are not read", hint="export the data as .csv or .xlsx")
    return out
