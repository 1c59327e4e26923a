"""Turning a column of the jobs' data view into cell values, and writing them fast.

Every value becomes None (blank), str (a text cell, never a formula), bool, or a number (dates as Excel
serial numbers, so the column's date format shows them). Raw strings planted in typed columns stay text.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Field
from crm_sheets.model.values import is_missing

_EPOCH = pd.Timestamp("1899-12-30")
_DAY = pd.Timedelta(days=1)
# Excel counts a 29 February 1900 that never was: serials below 61 are one day off, and it has no
# dates before 1900 at all. Those rare values are written as ISO text rather than as a wrong date.
_FIRST_SAFE_SERIAL = 61.0


def column_values(field: Field, series: pd.Series, labels: Mapping[str, str] | None = None) -> list[Any]:
    """The cell values of one column, in row order."""
    ftype = field_type(field.type)
    if ftype.temporal:
        return _temporal(series, with_time=ftype.with_time)
    if ftype.numeric:
        return [_number(v) for v in _objects(series)]
    if ftype.boolean:
        return [_boolean(v) for v in _objects(series)]
    if ftype.options and labels:
        show = _tags if ftype.multiple else _label
        return [show(v, labels) for v in _objects(series)]
    return [_text_cell(v) for v in _objects(series)]


def cell_value(field: Field, value: Any, labels: Mapping[str, str] | None = None) -> Any:
    """The cell value of one template value (rule rows, settings)."""
    return column_values(field, pd.Series([value], dtype=object), labels)[0]


def _objects(series: pd.Series) -> list[Any]:
    return series.to_numpy(dtype=object, na_value=None).tolist()


def _text_cell(v: Any) -> Any:
    # not "as text": the value a text column's cell is written with, so a number stays a number cell
    if is_missing(v):
        return None
    if isinstance(v, str):
        return v or None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return _number(v)
    if isinstance(v, (dt.date, pd.Timestamp)):
        return v.isoformat()
    return str(v)


def _number(v: Any) -> Any:
    if is_missing(v):
        return None
    if isinstance(v, str):
        return v or None  # bad data planted as text stays text
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isinf(v) else float(v)
    return _text_cell(v)


def _boolean(v: Any) -> Any:
    if is_missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    return _text_cell(v)


def _label(v: Any, labels: Mapping[str, str]) -> Any:
    if isinstance(v, str):
        return labels.get(v, v) or None
    return _text_cell(v)


def _tags(v: Any, labels: Mapping[str, str]) -> Any:
    if not isinstance(v, str):
        return _text_cell(v)
    parts = [p.strip() for p in v.split(",")]
    if not all(p in labels for p in parts if p):
        return v or None  # anything unknown: keep exactly what was typed
    return ", ".join(labels[p] for p in parts if p) or None


def _temporal(series: pd.Series, with_time: bool) -> list[Any]:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        s = series
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)  # keep the wall-clock time people expect to see
        serials = ((s - _EPOCH) / _DAY).to_numpy(dtype=float, na_value=np.nan)
        out: list[Any] = serials.tolist()
        for i, x in enumerate(out):
            if x != x:
                out[i] = None
            elif x < _FIRST_SAFE_SERIAL:
                out[i] = _iso(series.iloc[i], with_time)
        return out
    return [_temporal_value(v, with_time) for v in _objects(series)]


def _temporal_value(v: Any, with_time: bool) -> Any:
    if is_missing(v):
        return None
    if isinstance(v, str):
        return v or None
    if isinstance(v, (dt.date, pd.Timestamp, np.datetime64)):
        ts = pd.Timestamp(v)
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
        serial = (ts - _EPOCH) / _DAY
        return float(serial) if serial >= _FIRST_SAFE_SERIAL else _iso(ts, with_time)
    return _number(v)


def _iso(ts: Any, with_time: bool) -> str:
    ts = pd.Timestamp(ts)
    return ts.isoformat(sep=" ", timespec="minutes") if with_time else ts.date().isoformat()


def writer(worksheet: Any) -> Callable[..., None]:
    """A function writing a column of values from (row, col) down, one typed call per cell.

    Uses XlsxWriter's undecorated writers when present: the public ones only add argument parsing,
    which is a third of the time on 100,000-row sheets. Cells get no format of their own, so they
    take the column's (number format, wrapping), as Excel does for cells without a style, unless
    ``formats`` gives one for the row (an amount in its row's currency).
    """
    w_text = getattr(worksheet, "_write_string", worksheet.write_string)
    w_num = getattr(worksheet, "_write_number", worksheet.write_number)
    w_bool = getattr(worksheet, "_write_boolean", worksheet.write_boolean)

    def w_str(r: int, c: int, v: str, fmt: Any = None) -> None:
        if v.startswith("<r>") and v.endswith("</r>"):
            # XlsxWriter takes such a string for rich-text XML and writes it raw; plain runs keep it text.
            parts = (v[:1], v[1:2], v[2:]) + ((fmt,) if fmt is not None else ())
            if worksheet.write_rich_string(r, c, *parts) != 0:
                raise RuntimeError(f"crm-sheets could not write {v!r} in {worksheet.name}")
        else:
            w_text(r, c, v, fmt)

    def write(row: int, col: int, values: list[Any], formats: list[Any] | None = None) -> None:
        if formats is not None:
            for r, (v, fmt) in enumerate(zip(values, formats), row):
                if v is None:
                    continue
                cls = v.__class__
                if cls is str:
                    w_str(r, col, v, fmt)
                elif cls is bool:
                    w_bool(r, col, v, fmt)
                else:
                    w_num(r, col, v, fmt)
            return
        for r, v in enumerate(values, row):
            if v is None:
                continue
            cls = v.__class__
            if cls is str:
                w_str(r, col, v)
            elif cls is bool:
                w_bool(r, col, v)
            else:
                w_num(r, col, v)

    return write
