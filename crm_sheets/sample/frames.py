"""Turning generated columns into the jobs' typed DataFrames, and filling fields nobody generated.

`frame()` is where the dtypes of docs/design.md are applied; `fill()` gives plausible values, from the
field's type alone, to any field a template generator does not know (a column added to a template
later still gets sample data, and owned columns stay empty for their job to fill).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

import numpy as np
import pandas as pd

from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Schema, TableSchema, localize
from crm_sheets.model.tables import dtype_for, format_id
from crm_sheets.sample import identities

DAY = np.timedelta64(1, "D")


class Clock:
    """Dates relative to ``now``, as numpy datetime64[ns] arrays."""

    def __init__(self, rng: np.random.Generator, now: pd.Timestamp):
        self.rng = rng
        self.now = np.datetime64(now.to_datetime64(), "ns")
        self.today = self.now.astype("datetime64[D]").astype("datetime64[ns]")

    def days_ago(self, n: int, lo: float, hi: float) -> np.ndarray:
        """Dates (midnight) between ``hi`` and ``lo`` days before today."""
        days = self.rng.uniform(lo, hi, n).astype(int)
        return self.today - days * DAY

    def after(self, start: np.ndarray, lo: float, hi: float, cap: bool = True) -> np.ndarray:
        """Dates ``lo``..``hi`` days after ``start`` (never after today when ``cap``)."""
        days = self.rng.uniform(lo, hi, len(start)).astype(int)
        out = start + days * DAY
        return np.minimum(out, self.today) if cap else out

    def between(self, start: np.ndarray, end: np.ndarray | None = None, hours: bool = True) -> np.ndarray:
        """A moment between ``start`` and ``end`` (today), at office hours when ``hours``."""
        end = self.today if end is None else end
        span = np.maximum((end - start) // DAY, 0)
        day = start + (self.rng.random(len(start)) * (span + 1)).astype(int) * DAY
        if not hours:
            return day
        minutes = self.rng.integers(8 * 12, 18 * 12, len(start)) * 5
        out = day.astype("datetime64[D]").astype("datetime64[ns]") + minutes * np.timedelta64(1, "m")
        return np.minimum(out, self.now)


def ids(prefix: str, n: int) -> list[str]:
    return list(_ids(prefix, n))


@lru_cache(maxsize=64)
def _ids(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(format_id(prefix, i + 1) for i in range(n))


def frame(ts: TableSchema, columns: Mapping[str, Any], n: int) -> pd.DataFrame:
    """A typed DataFrame indexed by record ID, with exactly the table's fields (missing ones empty)."""
    index = pd.Index(ids(ts.id_prefix, n) if ts.id_prefix else [str(i + 1) for i in range(n)], dtype=object, name="id")
    data = {}
    for f in ts.fields:
        if f.type == "id":
            continue
        dtype = dtype_for(f.type)
        values = columns.get(f.name)
        if values is None:
            data[f.name] = pd.Series(pd.array([None] * n, dtype=object) if dtype == "object" else None,
                                     index=index, dtype=dtype)
            continue
        if dtype == "object":
            arr = np.empty(n, dtype=object)
            arr[:] = list(values) if not isinstance(values, np.ndarray) else values
            data[f.name] = pd.Series(arr, index=index, dtype=object)
        elif dtype == "boolean":
            data[f.name] = pd.Series(pd.array(values, dtype="boolean"), index=index)
        elif dtype == "Int64":
            data[f.name] = pd.Series(pd.array(values, dtype="Int64"), index=index)
        elif dtype.startswith("datetime64"):
            data[f.name] = pd.Series(np.asarray(values, dtype="datetime64[ns]"), index=index, dtype=dtype)
        else:
            data[f.name] = pd.Series(np.asarray(values, dtype="float64"), index=index)
    return pd.DataFrame(data, index=index)


def with_none(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``values`` as an object array with None where ``missing``."""
    out = np.array(values, dtype=object)
    out[missing] = None
    return out


def nat(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype="datetime64[ns]")
    out[missing] = np.datetime64("NaT")
    return out


def option_keys(schema: Schema, list_name: str) -> list[str]:
    return schema.lists[list_name].keys()


def stage_names(schema: Schema, table: str = "stages", lang: str = "en") -> list[dict]:
    """The Stages rows in order, named in ``lang`` (``options_from`` values are kept as typed)."""
    rows = [{k: localize(v, lang) for k, v in r.items()} for r in schema.tables[table].rows]
    return sorted(rows, key=lambda r: r.get("order", 0))


class SampleContext:
    """What a field type needs to make up plausible values: the random generator, dates around today,
    the template's options and stages, the team and the IDs of the tables generated so far."""

    def __init__(self, schema: Schema, rng: np.random.Generator, clock: Clock, team: list[str],
                 id_pools: Mapping[str, list[str]]):
        self.schema, self.rng, self.clock, self.team, self.id_pools = schema, rng, clock, team, id_pools

    def pick(self, values: list[Any], n: int) -> np.ndarray:
        return identities.pick(self.rng, values, n)

    def with_none(self, values: np.ndarray, missing: np.ndarray) -> np.ndarray:
        return with_none(values, missing)

    def dates(self, n: int, with_time: bool, missing: np.ndarray) -> np.ndarray:
        """Dates of the last year and a half (at office hours ``with_time``), NaT where ``missing``."""
        return nat(self.clock.between(self.clock.days_ago(n, 30, 540), hours=with_time), missing)

    def option_keys(self, list_name: str) -> list[str]:
        return option_keys(self.schema, list_name)

    def source_options(self, options_from: str) -> list[Any]:
        """The values of an ``options_from`` column (stages.stage: the stage names, in order)."""
        src_table, _, src_field = options_from.partition(".")
        return [r[src_field] for r in stage_names(self.schema, src_table) if src_field in r]


def fill(
    schema: Schema,
    ts: TableSchema,
    columns: dict[str, Any],
    n: int,
    rng: np.random.Generator,
    clock: Clock,
    team: list[str],
    id_pools: Mapping[str, list[str]],
) -> dict[str, Any]:
    """Add plausible values, from the field type alone (FieldType.samples), for fields ``columns`` lacks."""
    ctx = SampleContext(schema, rng, clock, team, id_pools)
    for f in ts.fields:
        if f.type == "id" or f.name in columns or f.owned_by_job:
            continue
        blank = rng.random(n) < (0.0 if f.required else 0.3)
        values = field_type(f.type).samples(ctx, n, f, blank)
        if values is not None:
            columns[f.name] = values
    return columns
