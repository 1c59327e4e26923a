"""What the report remembers between runs so that a run whose inputs did not change computes nothing: a digest
of exactly what `metrics.compute` reads (READS: the columns of the tables it reads, the settings and lists that
change its figures, the report day) and its figures as JSON, given back as the same dataclasses.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import zlib
from datetime import date, datetime, time
from typing import Any


from crm_sheets.jobs.report import figures as figures_module
from crm_sheets.jobs.report.figures import ReportFigures
from crm_sheets.model import Tables
from crm_sheets.model.colhash import frame_keys, share
from crm_sheets.model.memo import table_part

MEMORY_VERSION = 3  # 3: Stages hashed by the place of its rows (2: a digest per table read, reads_digest's parts)

# Every column metrics.py and prep.py read, per table (prep.frame's and satisfaction's): a column read and not
# named here would let an edit of it go unseen; tests/test_report_skip.py checks that blanking every other
# column changes no figure.
READS: dict[str, tuple[str, ...]] = {
    "deals": ("name", "account", "owner", "stage", "amount", "currency", "probability", "close_date", "created",
              "closed", "campaign"),
    "stages": ("stage", "order", "probability", "won", "lost", "stalled_after_days"),
    "accounts": ("name", "type", "country", "city"),
    "leads": ("created", "status", "source", "score", "grade", "campaign"),
    "tasks": ("due", "status", "title", "owner"),
    "activities": ("date", "deal", "lead", "type", "owner", "subject"),
    "orders": ("date", "account", "amount", "currency", "status"),
    "campaigns": ("name", "cost"),
    "campaign_members": ("campaign", "status", "responded"),
    "contacts": ("nps",),
}
share({c for columns in READS.values() for c in columns})  # hashed by check before: kept (model/colhash.py)
# The tables whose rows the figures read in sheet order, never by their record IDs (prep.stages_of): hashed without
# them. A rule sheet has no IDs of its own (its rows are named by their sheet row), and a row a job appended to it
# is named otherwise until written ('stages:Closed wn', then 'row8'): with its names, the digest of the run that
# appended a stage and that of the next run, on the same rows, would differ, and the next run computed every figure
# again (1.1 s at 100k sample leads, whose deals name a stage check adds).
_BY_PLACE = frozenset({"stages"})
SETTINGS = ("currency", "exchange_rates", "report_period", "stalled_deal_days")
LISTS = ("lead_status", "lead_source", "activity_type")


def reads_digest(tables: Tables, now: datetime, by_day: bool, parts: dict | None = None,
                 into: dict | None = None) -> str | None:
    """A digest of every input of the figures. ``now`` counts by the day when the figures read it by the day
    (``by_day``: the job's result holds until midnight), plus whether it is midnight itself (a customer's
    standing compares order dates with ``now``: an order of that very day is "before" it only after 00:00);
    else the instant. None when some value cannot be hashed.

    Made of one digest per table read (its columns' values, the record IDs). ``parts``: those of the last run, each
    beside the read's key of the table it was made of (model/memo.py table_token): a table read with that key, whose
    columns read are still as read, has that digest again without its cells being hashed (a person who edited a few
    leads has only leads' columns hashed). ``into`` gets this run's, for the state."""
    h = hashlib.sha256()
    when = (now.date().isoformat(), now.time() == time(0)) if by_day else now.isoformat()
    lists = []
    for name in LISTS:
        try:
            lists.append((name, tables.list(name).keys()))
        except KeyError:
            lists.append((name, None))
    head = (MEMORY_VERSION, when, [(s, tables.setting(s, None)) for s in SETTINGS], lists)
    h.update(repr(head).encode("utf-8", "surrogatepass"))
    for name, columns in READS.items():
        t = tables.get(name)
        if t is None:
            h.update(f"\x00{name}:absent".encode())
            continue
        df = t.df
        present = [c for c in columns if c in df.columns]
        shape = repr((name, present, [_dtype(df[c].dtype) for c in present], len(df))).encode("utf-8", "surrogatepass")
        part = table_part(name, t, present, shape, parts, into, lambda: _digest(name, t, present, shape))
        if part is None:
            return None  # values pandas cannot hash: computed every time
        h.update(f"\x00{name}:{part}".encode())
    return h.hexdigest()


def _digest(name: str, t: Any, present: list[str], shape: bytes) -> str | None:
    """A table's digest of the columns ``present`` (with ``shape``); None when pandas cannot hash its values."""
    try:
        return hashlib.sha256(shape + _keys(name, t, present).tobytes()).hexdigest()
    except (TypeError, ValueError):
        return None


def _keys(name: str, t: Any, present: list[str]) -> Any:
    """A key per row of the table's columns ``present`` and its record IDs (colhash.py: each column hashed once a
    run), or, for a table read by place (_BY_PLACE), of its row's place instead of its ID."""
    if name in _BY_PLACE:
        return frame_keys(dataclasses.replace(t, df=t.df[present].reset_index(drop=True)), present)
    return frame_keys(t, present)


def _dtype(dtype: object) -> str:
    """A column's dtype as far as the figures see it: text is text whether pandas holds it as object or str
    (the tables a run leaves in memory and the same tables read back differ so)."""
    name = str(dtype)
    return "object" if name in ("str", "string") else name


# ---------------------------------------------------------------------------------------------- figures as JSON

def figures_json(fig: ReportFigures) -> str | None:
    """The figures as JSON (compressed, in base64) that `figures_from_json` turns back into an equal ReportFigures (same repr,
    so the same sheets, --json and digests), or None when some value does not come back the same."""
    try:
        plain = json.dumps(_plain(fig), ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
        text = base64.b64encode(zlib.compress(plain, 1)).decode("ascii")  # a state is kept per generation: 600 KB -> ~60
        back = figures_from_json(text, fig.now)
    except (TypeError, ValueError, KeyError):
        return None
    return text if back is not None and repr(back) == repr(fig) else None


def figures_from_json(text: str, now: datetime) -> ReportFigures | None:
    """Kept figures, as of ``now`` (the figures carry the run's time; everything else is as kept)."""
    try:
        fig = _value(json.loads(zlib.decompress(base64.b64decode(text, validate=True)).decode("utf-8", "surrogatepass")))
    except (TypeError, ValueError, KeyError, AttributeError, zlib.error):
        return None
    return dataclasses.replace(fig, now=now) if isinstance(fig, ReportFigures) else None


def _plain(value: Any) -> Any:
    """JSON-ready, with the types JSON would lose: a figures dataclass (by name), a tuple, a date, a datetime,
    a dict (its keys may be ints)."""
    if value is None or type(value) in _SCALARS:  # most values: asked first (the answer is the same)
        return value
    if dataclasses.is_dataclass(value) and type(value).__name__ in _CLASSES:
        return {"__dc__": type(value).__name__,
                "fields": [_plain(getattr(value, f.name)) for f in dataclasses.fields(value)]}
    if isinstance(value, dict):
        return {"__dict__": [[_plain(k), _plain(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_plain(v) for v in value]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, date):
        return {"__date__": value.isoformat()}
    if value is None or type(value) in (str, int, float, bool):
        return value
    raise TypeError(f"{type(value).__name__} is not kept")  # a numpy scalar, say: computed next time


_SCALARS = frozenset({str, int, float, bool})
_CLASSES = {name: cls for name, cls in vars(figures_module).items()
            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == figures_module.__name__}


def _value(value: Any) -> Any:
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        if "__dc__" in value:
            cls = _CLASSES[value["__dc__"]]
            return cls(*[_value(v) for v in value["fields"]])
        if "__dict__" in value:
            return {_value(k): _value(v) for k, v in value["__dict__"]}
        if "__tuple__" in value:
            return tuple(_value(v) for v in value["__tuple__"])
        if "__datetime__" in value:
            return datetime.fromisoformat(value["__datetime__"])
        if "__date__" in value:
            return date.fromisoformat(value["__date__"])
        raise ValueError("unknown kept value")
    return value
