"""Pending change sets: what a run could not write (the workbook was open), kept in the store's state folder
(beside a workbook file; see store/state.py) as JSON until the next run applies it. Owns the exact JSON round trip of a ChangeSet and the pending file.

Values keep their type through the round trip (datetimes, numpy and pandas scalars, NaN, tuples), and only
crm-sheets' own model classes are rebuilt from the file: a pending file can never name code to run.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.errors import CrmSheetsError
from crm_sheets.model import changeset as cs
from crm_sheets.model import sheets
from crm_sheets.store.safety import DEFAULT_OPS, FileOps, temp_path
from crm_sheets.store.state import state_of

FORMAT = "crm-sheets-pending"
VERSION = 1

# The only classes a pending file may rebuild.
MODEL_CLASSES = {
    c.__name__: c
    for c in (
        cs.ChangeSet, cs.CellUpdate, cs.RowAppend, cs.RowArchive, cs.RowRestore, cs.AuditEntry, cs.ColumnAdd, cs.TableAdd,
        cs.OptionAdd,
        sheets.SheetSpec, sheets.Cell, sheets.ChartSpec, sheets.ChartSeries,
    )
}


def pending_path(path: Any) -> Path:
    """The pending file of a store (or of the workbook file at ``path``): keyed by the store's identity."""
    return state_of(path).pending


def _name(path: Any) -> str:
    state = state_of(path)
    return state.stem if state.identity.startswith("file:") else state.identity


# ---------------------------------------------------------------------------------------------
# Values <-> JSON


def encode(value: Any) -> Any:
    """A JSON-ready form of a value that ``decode`` turns back into an equal value of the same type."""
    t = type(value)
    if value is None or t is bool or t is str or t is int:
        return value
    if t is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if value is pd.NaT:
        return {"$nat": True}
    if value is pd.NA:
        return {"$na": True}
    if isinstance(value, np.generic):
        return _encode_numpy(value)
    if isinstance(value, pd.Timestamp):
        return {"$ts": value.isoformat(), "tz": _tz_name(value.tzinfo), "unit": value.unit}
    if isinstance(value, pd.Timedelta):
        return {"$ptd": int(value.value)}
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat(), "tz": _tz_name(value.tzinfo)}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$td": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = t.__name__
        if MODEL_CLASSES.get(name) is not t:
            raise TypeError(f"cannot save a {t.__module__}.{name} in a pending change set")
        return {"$type": name, **{f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"$set" if isinstance(value, set) else "$frozenset": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict) or hasattr(value, "items"):
        items = list(value.items())
        if all(type(k) is str and not k.startswith("$") for k, _ in items):
            return {k: encode(v) for k, v in items}
        return {"$map": [[encode(k), encode(v)] for k, v in items]}
    if isinstance(value, str):  # str subclasses (np.str_ included) are text
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return encode(float(value))
    raise TypeError(f"cannot save a {t.__name__} value in a pending change set: {value!r}")


def _encode_numpy(value: np.generic) -> Any:
    name = value.dtype.name
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return {"$np": value.dtype.str, "v": None if np.isnat(value) else int(value.view("int64"))}
    if isinstance(value, np.floating):
        f = float(value)
        return {"$np": name, "v": f if math.isfinite(f) else repr(f)}
    if isinstance(value, (np.integer, np.bool_)):
        return {"$np": name, "v": value.item()}
    if isinstance(value, np.str_):
        return str(value)
    raise TypeError(f"cannot save a numpy {name} value in a pending change set")


def _tz_name(tz: Any) -> str | None:
    if tz is None:
        return None
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)  # zoneinfo / pytz
    return str(key) if key else None


def decode(data: Any) -> Any:
    """The inverse of ``encode``."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "$type" in data:
        cls = MODEL_CLASSES.get(data["$type"])
        if cls is None:
            raise ValueError(f"unknown class {data['$type']!r}")
        return cls(**{k: decode(v) for k, v in data.items() if k != "$type"})
    if "$float" in data:
        return float(data["$float"])
    if "$nat" in data:
        return pd.NaT
    if "$na" in data:
        return pd.NA
    if "$np" in data:
        return _decode_numpy(data["$np"], data["v"])
    if "$ts" in data:
        ts = pd.Timestamp(data["$ts"])
        if data.get("unit"):
            ts = ts.as_unit(data["unit"])
        return ts.tz_convert(data["tz"]) if data.get("tz") else ts
    if "$ptd" in data:
        return pd.Timedelta(data["$ptd"], unit="ns")
    if "$dt" in data:
        value = dt.datetime.fromisoformat(data["$dt"])
        if data.get("tz"):
            from zoneinfo import ZoneInfo

            value = value.astimezone(ZoneInfo(data["tz"]))
        return value
    if "$date" in data:
        return dt.date.fromisoformat(data["$date"])
    if "$time" in data:
        return dt.time.fromisoformat(data["$time"])
    if "$td" in data:
        days, seconds, micro = data["$td"]
        return dt.timedelta(days=days, seconds=seconds, microseconds=micro)
    if "$dec" in data:
        return Decimal(data["$dec"])
    if "$tuple" in data:
        return tuple(decode(v) for v in data["$tuple"])
    if "$set" in data:
        return {decode(v) for v in data["$set"]}
    if "$frozenset" in data:
        return frozenset(decode(v) for v in data["$frozenset"])
    if "$map" in data:
        return {_hashable(decode(k)): decode(v) for k, v in data["$map"]}
    return {k: decode(v) for k, v in data.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _decode_numpy(dtype: str, v: Any) -> Any:
    kind = np.dtype(dtype)
    if kind.kind in "mM":
        return np.array(v if v is not None else np.iinfo("int64").min, dtype="int64").view(kind)[()]
    if kind.kind == "f" and isinstance(v, str):
        v = float(v)
    return kind.type(v)


def dumps(changeset: cs.ChangeSet, **meta: Any) -> str:
    """A ChangeSet as the text of a pending file (``meta`` is stored beside it, e.g. why it is pending)."""
    return json.dumps(
        {"format": FORMAT, "version": VERSION, **meta, "changeset": encode(changeset)},
        ensure_ascii=False,
        allow_nan=False,
        indent=1,
    )


def loads(text: str) -> cs.ChangeSet:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a crm-sheets pending change set")
    if data.get("version") != VERSION:
        raise ValueError(f"pending change set of version {data.get('version')!r}; this crm-sheets reads {VERSION}")
    out = decode(data["changeset"])
    if not isinstance(out, cs.ChangeSet):
        raise ValueError("the file holds no change set")
    return out


# ---------------------------------------------------------------------------------------------
# The pending file beside the workbook


@dataclasses.dataclass(frozen=True)
class Pending:
    """A pending file: the change set, its ID (the run that writes it records the ID in the workbook, so
    a pending file still there after that write is known as applied and never applied twice), and the
    jobs' states that go with it (committed when it is written, not before)."""

    changeset: cs.ChangeSet
    id: str = ""
    states: dict[str, Any] | None = None


def save_pending(path: Any, changeset: cs.ChangeSet, *, ops: FileOps = DEFAULT_OPS,
                 states: dict[str, Any] | None = None, **meta: Any) -> Path:
    """Save a change set to apply on the next run, replacing any earlier one (written atomically).

    The runner passes the earlier pending change set merged into the new one (and the jobs' states as of
    both), so replacing loses nothing.
    """
    target = pending_path(path)
    if states is not None:
        meta["states"] = json.loads(json.dumps(states, default=str))
    target.parent.mkdir(parents=True, exist_ok=True)  # a remote store's state folder, on its first pending file
    data = dumps(changeset, workbook=_name(path), store=state_of(path).identity, saved_at=dt.datetime.now().isoformat(timespec="seconds"),
                 id=uuid.uuid4().hex, **meta)
    tmp = temp_path(target)
    try:
        ops.write_bytes(tmp, data.encode("utf-8"))
        ops.fsync(tmp)
        ops.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        ops.fsync_dir(target.parent)
    except OSError:
        pass  # the file is there; only its survival of a power cut is in doubt
    return target


def load_pending(path: Any) -> cs.ChangeSet | None:
    """The change set a previous run could not write, or None."""
    found = read_pending(path)
    return found.changeset if found is not None else None


def read_pending(path: Any) -> Pending | None:
    """The pending file of a workbook (change set, ID and the jobs' states saved with it), or None."""
    target = pending_path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        changeset = loads(text)
        data = json.loads(text)
        states = data.get("states")
        return Pending(changeset, str(data.get("id") or ""), states if isinstance(states, dict) else None)
    except (ValueError, TypeError, KeyError) as e:
        raise CrmSheetsError(
            f"{target.name}: the pending changes of {_name(path)} cannot be read ({e})",
            hint=f"move {target} away to drop them, then run again",
        ) from None


def clear_pending(path: Any, *, ops: FileOps = DEFAULT_OPS) -> bool:
    """Remove the pending change set; True when there was one."""
    target = pending_path(path)
    if not target.exists():
        return False
    ops.unlink(target)
    return True
