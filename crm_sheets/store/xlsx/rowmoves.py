"""Row moves in a worksheet's XML: which row each old row becomes (a map given, or rows removed worked out on
demand without a dict of every row below them), and the references that follow them (formulas, merged
ranges, validation and highlight ranges). SheetEdit (sheet.py) applies them as it streams its rows out.
"""
from __future__ import annotations

import html
import re
from bisect import bisect_right
from typing import Any, Iterator
from xml.sax.saxutils import escape

from crm_sheets.store.xlsx.sheetxml import split_ref


class Removal:
    """The moves of removing rows ``gone`` (ascending) from a sheet whose rows end at ``end``: each row below the
    first removed one moves up by the removed rows above it. A read-only mapping old -> new (None: removed)
    worked out on demand: as dicts (and their inverse) the moves of archiving one early lead at 100k were two
    dicts of ~100,000 entries a sheet, kept until the part was written."""

    def __init__(self, gone: list[int], end: int):
        self.gone = gone
        self._set = set(gone)
        self.first, self.end = gone[0], end
        self.inverse = _Survivors(self)

    def __contains__(self, r: object) -> bool:
        return isinstance(r, int) and self.first <= r <= self.end

    def get(self, r: int, default: Any = None) -> int | None:
        if not (self.first <= r <= self.end):
            return default
        return None if r in self._set else r - bisect_right(self.gone, r)

    def __getitem__(self, r: int) -> int | None:
        if not (self.first <= r <= self.end):
            raise KeyError(r)
        return self.get(r)

    def items(self) -> Iterator[tuple[int, int | None]]:
        return ((r, self.get(r)) for r in range(self.first, self.end + 1))


class _Survivors:
    """A Removal's inverse: new -> old for the rows that moved."""

    def __init__(self, removal: Removal):
        self.removal = removal

    def get(self, new: int, default: Any = None) -> int | None:
        m = self.removal
        if not (m.first <= new <= m.end - len(m.gone)):
            return default
        old = new  # the least old with old - (removed rows up to old) == new: a fixed point reached from below
        while True:
            nxt = new + bisect_right(m.gone, old)
            if nxt == old:
                return old
            old = nxt


class RowMap:
    """Maps row numbers through a set of moves, for formula references in and around moved rows."""

    _REF = re.compile(r"(?<![A-Za-z0-9_.!'\]$])(\$?)([A-Z]{1,3})(\$?)(\d+)(?![\d(A-Za-z_!])")
    _RANGE = r"(?<![A-Za-z0-9_.!'\]$])(\$?[A-Z]{1,3}\$?\d+):(\$?[A-Z]{1,3}\$?\d+)(?![\d(A-Za-z_!])"
    _STRING = re.compile(r'("[^"]*")')
    _F = re.compile(r"(<(?:\w+:)?f\b[^>]*>)(.*?)(</(?:\w+:)?f>)", re.S)

    def __init__(self, moves: "dict[int, int | None] | Removal"):
        self.moves = moves
        self.inverse = moves.inverse if isinstance(moves, Removal) else \
            {new: old for old, new in moves.items() if new is not None}

    def row(self, r: int, edge: str = "") -> int | None:
        if r not in self.moves:
            return r
        new = self.moves[r]
        if new is not None or not edge:
            return new
        step = 1 if edge == "start" else -1
        probe = r + step
        while probe in self.moves and self.moves[probe] is None:
            probe += step
        return self.row(probe)

    def formula(self, text: str) -> str:
        parts = self._STRING.split(text)
        for i in range(0, len(parts), 2):  # odd parts are string literals
            parts[i] = re.sub(self._RANGE + "|" + self._REF.pattern, self._one, parts[i])
        return "".join(parts)

    def _one(self, m: re.Match) -> str:
        if m.group(1):  # a range: shrink to surviving rows
            a = self._REF.fullmatch(m.group(1))
            b = self._REF.fullmatch(m.group(2))
            if not a or not b:
                return m.group(0)
            ra, rb = self.row(int(a.group(4)), "start"), self.row(int(b.group(4)), "end")
            if ra is None or rb is None or ra > rb:
                return "#REF!"
            return f"{a.group(1)}{a.group(2)}{a.group(3)}{ra}:{b.group(1)}{b.group(2)}{b.group(3)}{rb}"
        new = self.row(int(m.group(6)))
        if new is None:
            return "#REF!"
        return f"{m.group(3)}{m.group(4)}{m.group(5)}{new}"

    def formulas(self, row: str) -> str:
        def fix(m: re.Match) -> str:
            tag = m.group(1)
            ref = re.search(r'\bref="([^"]*)"', tag)
            if ref:
                tag = tag[: ref.start(1)] + self.sqref(ref.group(1)) + tag[ref.end(1):]
            body = html.unescape(m.group(2))
            return tag + escape(self.formula(body)) + m.group(3)

        return self._F.sub(fix, row)

    def sqref(self, sqref: str) -> str:
        out = []
        for part in sqref.split():
            a, _, b = part.partition(":")
            try:
                ca, ra = split_ref(a)
                cb, rb = split_ref(b) if b else (ca, ra)
            except ValueError:
                out.append(part)
                continue
            na, nb = self.row(ra, "start" if b else ""), self.row(rb, "end" if b else "")
            if na is None or nb is None or na > nb:
                continue
            out.append(f"{ca}{na}:{cb}{nb}" if b else f"{ca}{na}")
        return " ".join(out)

    def tail_refs(self, tail: str, p: str) -> str:
        """Hyperlinks and merged cells follow their rows; those on removed rows go."""
        def fix(m: re.Match) -> str:
            new = self.sqref(m.group(2))
            return m.group(1) + new + m.group(3) if new else ""

        tail = re.sub(rf'(<{p}hyperlink\b[^>]*?\bref=")([^"]*)("[^>]*?(?:/>|>.*?</{p}hyperlink>))', fix, tail, flags=re.S)
        tail = re.sub(rf'(<{p}mergeCell\b[^>]*?\bref=")([^"]*)("[^>]*?/>)', fix, tail)
        count = len(re.findall(rf"<{p}mergeCell\b", tail))
        return re.sub(rf'(<{p}mergeCells\b[^>]*?\bcount=")\d+(")', rf"\g<1>{count}\2", tail)
