"""What a run answers: RunReport (results, change set, write, backup, delivery, notes) and its results as the
one JSON text that `--json` prints and the run's record keeps (made by the json module's C encoder).
"""
from __future__ import annotations

import gc
import json
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from itertools import repeat
from json.encoder import encode_basestring_ascii as _text  # json.dumps's encoder of a str (ensure_ascii, in C)
from operator import attrgetter, itemgetter
from typing import Any

import pandas as pd

from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.findings import Finding
from crm_sheets.model.later import Later
from crm_sheets.model.result import JobResult
from crm_sheets.model.tables import Tables
from crm_sheets.spill import changes_summary  # counts of a change set that may still wait in the spill's file


@dataclass
class RunReport(Later):  # its change set may wait in a file after a large run (spill.py)
    path: str
    jobs: list[str]
    results: list[JobResult] = field(default_factory=list)
    changes: ChangeSet = field(default_factory=ChangeSet)
    written: bool = False
    dry_run: bool = False
    backup: str | None = None
    pending_applied: bool = False
    attempts: int = 1
    delivery: dict[str, list[str]] | None = None  # automate's outbox: sent, failed, unknown, waiting keys
    tables: Tables | None = field(default=None, repr=False)  # the tables as written, for callers that need them
    notes: list[str] = field(default_factory=list)  # what a person should know: rows not read, values added to lists, sheets named
    settled: Any = None  # a run answered from an earlier one's record is a settled.SettledReport; this one ran

    @property
    def findings(self):
        return [f for r in self.results for f in r.findings]

    @property
    def errors(self):
        """The error findings (of findings still kept as tuples (spill.py), only the errors are made objects)."""
        out = []
        for r in self.results:
            rows = waiting_rows(r)
            out += [f for f in r.findings if f.severity == "error"] if rows is None else \
                [Finding(*t) for t in rows if t[1] == "error"]
        return out

    def as_dict(self, results: bool = True) -> dict[str, Any]:
        out = {
            "path": self.path,
            "jobs": self.jobs,
            "written": self.written,
            "dry_run": self.dry_run,
            "backup": self.backup,
            "pending_applied": self.pending_applied,
            "delivery": self.delivery,
            "changes": changes_summary(self),
            "notes": self.notes,
        }
        if results:
            out["results"] = [
                {
                    "job": r.job,
                    "stats": r.stats,
                    "changes": changes_summary(r),
                    "findings": _row_dicts(rows) if (rows := waiting_rows(r)) is not None else _finding_dicts(r.findings),
                    "effects": len(r.effects),
                }
                for r in self.results
            ]
        return out

    def results_json(self) -> str:
        """'"results": [...]' as --json prints it, in one line (made once: the run's record and --json share it)."""
        text = self.__dict__.get("_results_json")
        if text is None:
            text = self.__dict__["_results_json"] = "".join(results_json_chunks(self.results))
        return text


# Findings encoded at once by results_json_chunks: a first check at 100k leads has ~200,000 (100 MB of JSON)
_FINDINGS_AT_ONCE = 20_000


def results_json_chunks(results: list[JobResult]):
    """The text of '"results": ' + json.dumps(RunReport.as_dict()["results"], default=str), piece by piece and
    made by the json module's C encoder (an indented dump goes through its Python encoder, ten times slower)."""
    dumps = json.dumps
    yield '"results": ['
    for n, r in enumerate(results):
        head = dumps({"job": r.job, "stats": r.stats, "changes": changes_summary(r)}, default=str)
        yield (", " if n else "") + head[:-1] + ', "findings": ['
        rows = waiting_rows(r)
        found = rows if rows is not None else r.findings
        for lo in range(0, len(found), _FINDINGS_AT_ONCE):
            paused = gc.isenabled()
            gc.disable()  # the texts made here are no cycles: they would start full collections over a run's heap
            try:
                part = ", ".join(_finding_texts(found[lo:lo + _FINDINGS_AT_ONCE], rows is not None))
            finally:
                if paused:
                    gc.enable()
            yield (", " if lo else "") + part
        yield '], "effects": ' + dumps(len(r.effects)) + "}"
    yield "]"


# Each finding's text is json.dumps(Finding.as_dict(), default=str), made a field at a time for all of them (json's C
# string encoder over a column, each date's text once): making a dict per finding and encoding the dicts cost ~5 us a
# finding (0.28 s at 30k leads, ~50,000 findings).
_FIELDS = [f.name for f in fields(Finding)]
_PLAINED = frozenset({"value", "fix"})  # the fields as_dict shows through _plain
_HEADS = [("{" if n == 0 else ", ") + _text(name) + ": " for n, name in enumerate(_FIELDS)]


def _finding_texts(found: list[Any], as_rows: bool) -> list[str]:
    """The JSON text of each finding (Finding objects, or tuples of their fields: ``as_rows``), as
    json.dumps(f.as_dict(), default=str) writes it."""
    parts: list[Any] = []
    for n, name in enumerate(_FIELDS):
        column = list(map(itemgetter(n) if as_rows else attrgetter(name), found))
        parts += [repeat(_HEADS[n]), _column_texts(column, name in _PLAINED)]
    parts.append(repeat("}"))
    return list(map("".join, zip(*parts)))


def _column_texts(values: list[Any], plained: bool) -> list[str]:
    """json.dumps(v, default=str) of each value (of _plain(v) when ``plained``)."""
    types = list(map(type, values))
    kinds = set(types)
    if kinds <= {str}:
        return list(map(_text, values))
    if kinds == {type(None)}:
        return ["null"] * len(values)
    if kinds == {bool}:
        return list(map(_BOOLS.__getitem__, values))
    ids = list(map(id, values))
    once = dict(zip(ids, values))  # (the values are held by ``values``: their ids are theirs)
    if len(once) < len(values):
        # one object met again (a date a row's kept findings decoded once, an option's text) has one text: each
        # object encoded once (at 100k leads 170,000 values found were dates, each hashed twice below)
        texts = dict(zip(once, _column_texts(list(once.values()), plained)))
        return list(map(texts.__getitem__, ids))
    if str in kinds:
        # the texts through json's C string encoder (what json.dumps gives a text), the other values (dates,
        # numbers, none) as below, where each distinct text went through json.dumps
        rest = [i for i, kind in enumerate(types) if kind is not str]
        out = [_text(v) if kind is str else None for v, kind in zip(values, types)]
        for i, text in zip(rest, _column_texts([values[i] for i in rest], plained)):
            out[i] = text
        return out
    dumps = json.dumps
    if kinds <= _KEYED:
        # Equal values of one kind have one text (texts, numbers but zeros, truth values; dates and times without a
        # zone; checked below): each distinct one is encoded once
        keyed = list(zip(map(type, values), values))
        distinct = set(keyed)
        if all((kind is not float or v != 0) and (kind is date or kind not in _DATES or v.tzinfo is None)
               for kind, v in distinct):  # (0.0 and -0.0 are equal, their texts are not)
            texts = {k: dumps(_plain(k[1]) if plained else k[1], default=str) for k in distinct}
            return list(map(texts.__getitem__, keyed))
    dated: dict[tuple, str] = {}  # a date's text by value, kind, zone and fold: the same text for each
    out = []
    for v in values:
        kind = type(v)
        if kind is str:
            out.append(_text(v))
        elif v is None:
            out.append("null")
        elif kind is bool:
            out.append("true" if v else "false")
        elif kind in _DATES:
            key = (kind, v, v.tzinfo if kind is not date else None, getattr(v, "fold", 0))
            text = dated.get(key)
            if text is None:
                text = dated[key] = dumps(_plain(v) if plained else v, default=str)
            out.append(text)
        else:
            out.append(dumps(_plain(v) if plained else v, default=str))
    return out


_DATES = frozenset({date, datetime, pd.Timestamp})
_BOOLS = {True: "true", False: "false"}
_KEYED = frozenset({str, int, float, bool, type(None)}) | _DATES


def waiting_rows(r: Any) -> list[tuple] | None:
    """A result's findings as the tuples they were put back as from the file (spill.py) while no caller has read
    them as Finding objects, else None."""
    later = getattr(r, "__dict__", {}).get("_later")
    return r.__dict__.get("_finding_rows") if later and "findings" in later else None


def _finding_dicts(found: list[Finding]) -> list[dict[str, Any]]:
    return [f.as_dict() for f in found]


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """A value as Finding.as_dict shows it: as it is when JSON has it, else as text."""
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _row_dicts(rows: list[tuple]) -> list[dict[str, Any]]:
    """Finding.as_dict of findings kept as tuples of their fields (spill.py), without making the objects."""
    plain, p = _PLAIN, _plain
    return [{"type": t[0], "severity": t[1], "table": t[2], "record_id": t[3], "field": t[4],
             "value": t[5] if type(t[5]) in plain else p(t[5]), "message": t[6], "cell": t[7],
             "fix": t[8] if type(t[8]) in plain else p(t[8]), "fixable": t[9]} for t in rows]
