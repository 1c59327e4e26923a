"""Planted data errors: the mistakes people make in cells, put into a share of rows and recorded.

Which errors a table can get follows from its field types (an email field can get an invalid email or
a provider typo, a date field a date typed as text...). Whether a typed-as-text value is fixable is
decided by the same tolerant parser the store reads cells with (`model.values`), so the truth agrees
with what the reader and check will do under the template's locale.
"""
from __future__ import annotations

import re

from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import (clean_spaces, email_typo, normalize_email, normalize_phone,
                                        title_case_name)
from crm_sheets.model.schema import Field, Schema, normalize_header
from crm_sheets.model.tables import format_id
from crm_sheets.model.values import ReadContext, option_lookup, parse_value
from crm_sheets.sample import pools
from crm_sheets.sample.duplicates import typo
from crm_sheets.sample.frames import stage_names
from crm_sheets.sample.truth import PlantedError

_NAME_FIELDS = ("first_name", "last_name")
_SPACE_FIELDS = ("first_name", "last_name", "company", "job_title", "name")
_SYMBOL = {"USD": "$", "GBP": "£", "EUR": "€", "CAD": "C$", "CHF": "CHF"}


def candidates(schema: Schema, table: str) -> list[tuple[str, Field]]:
    """(kind, field) pairs of the errors this table's fields can carry."""
    out = []
    for f in schema.tables[table].fields:
        if f.type == "id" or f.owned_by_job:
            continue
        ftype = field_type(f.type)
        out += [(kind, f) for kind in ftype.planted_errors(f)]
        if f.required and not ftype.boolean:
            out.append(("required", f))
        if f.name in _NAME_FIELDS:
            out.append(("caps-name", f))
        if f.name in _SPACE_FIELDS and ftype.free_text and not ftype.wrap:
            out.append(("extra-spaces", f))
    return out


class Planter:
    """Makes one cell wrong at a time and says how (or that it cannot, for this row)."""

    def __init__(self, rng: np.random.Generator, schema: Schema, tables: dict[str, pd.DataFrame], ctx: ReadContext,
                 default_region: str, lang: str = "en"):
        self.rng, self.schema, self.tables, self.ctx = rng, schema, tables, ctx
        self.default_region, self.lang = default_region, lang
        self._bad_ref = 0

    def plant(self, table: str, rid: str, kind: str, f: Field) -> PlantedError | None:
        value = self.tables[table].at[rid, f.name]
        present = value is not None and not (isinstance(value, float) and np.isnan(value)) and not pd.isna(value)
        made = getattr(self, "_" + kind.replace("-", "_"))(table, f, value if present else None)
        if made is None:
            return None
        raw, fixable, fix = made
        return PlantedError(table, rid, f.name, kind, raw, fixable, fix)

    # Each maker returns (raw, fixable, expected_fix) or None when the row does not lend itself.

    def _invalid_email(self, table, f, value):
        if not value:
            return None
        local, _, domain = value.partition("@")
        raw = f"{local}{domain}" if self.rng.random() < 0.6 else f"{local}@{domain.split('.')[0]}"
        return (raw, False, None) if normalize_email(raw) is None else None

    def _email_typo(self, table, f, value):
        if not value:
            return None
        local = value.partition("@")[0]
        good = list(pools.DOMAIN_TYPOS)[int(self.rng.integers(len(pools.DOMAIN_TYPOS)))]
        raw = f"{local}@{pools.DOMAIN_TYPOS[good]}"
        fix = f"{local}@{good}"
        return (raw, True, fix) if email_typo(raw) == fix else None

    def _invalid_phone(self, table, f, value):
        if not value:
            return None
        raw = value[: max(4, len(value) - 5)].rstrip(" .-(")
        if normalize_phone(raw, self.default_region) is not None:
            raw = "12345"
        return raw, False, None

    def _date_text(self, ts: pd.Timestamp, order: str | None) -> str:
        d, m, y = f"{ts.day:02d}", f"{ts.month:02d}", ts.year
        return f"{m}/{d}/{y}" if order == "MDY" else f"{d}/{m}/{y}"

    def _date_as_text(self, table, f, value):
        if value is None:
            return None
        ts = pd.Timestamp(value)
        raw = ts.strftime("%Y-%m-%d") if self.rng.random() < 0.4 else self._date_text(ts, self.ctx.date_order)
        parsed, ok = parse_value(f, raw, self.ctx)
        fixable = ok and pd.Timestamp(parsed) == ts.normalize()
        return raw, fixable, ts.normalize() if fixable else None

    def _invalid_date(self, table, f, value):
        year = int(pd.Timestamp(value).year) if value is not None else 2025
        raw = self._date_text(pd.Timestamp(year=year, month=2, day=28), self.ctx.date_order).replace("28", "31", 1)
        if self.rng.random() < 0.3:
            raw = f"{year}-02-30"
        _, ok = parse_value(f, raw, self.ctx)
        return (raw, False, None) if not ok else None

    def _number_as_text(self, table, f, value):
        if value is None or value <= 0:
            return None
        value = float(value)
        df = self.tables[table]
        cur = self.ctx.currency
        if f.currency_field:
            cur = df.at[self._rid, f.currency_field] or cur
        sym = _SYMBOL.get(cur, cur)
        plain = f"{value:,.2f}"
        if self.ctx.decimal == "," or self.rng.random() < 0.25:
            # The continental way ('1 200,50 €'): unreadable where '.' is the decimal mark.
            raw = plain.replace(",", " ").replace(".", ",") + f" {sym}"
        else:
            raw = f"{sym}{plain}" if len(sym) <= 2 else f"{plain} {sym}"
        parsed, ok = parse_value(f, raw, self.ctx)
        fixable = bool(ok and parsed is not None and abs(parsed - value) < 0.005)
        return raw, fixable, value if fixable else None

    def _below_minimum(self, table, f, value):
        if field_type(f.type).whole:
            return -int(self.rng.integers(1, 4)), False, None
        return -abs(float(value)) if value else -100.0, False, None

    def _unknown_option(self, table, f, value):
        if value is None:
            return None
        if f.options_from:
            known = {normalize_header(r.get("stage", "")) for r in stage_names(self.schema, lang=self.lang)}
            label, fix = value, value
        else:
            lst = self.schema.lists[f.list]
            known = set(option_lookup(lst))
            label = next(o.label("en") for o in lst.options if o.key == value)
            fix = value
        if len(label) < 4:
            return None
        raw = typo(self.rng, label)
        if re.sub(r"\D", "", raw) != re.sub(r"\D", "", label):
            return None  # a slip in a digit makes another value (11-500 is not surely 11-50): no sure typo to plant
        return (raw, True, fix) if normalize_header(raw) not in known else None

    def _unknown_reference(self, table, f, value):
        target = self.schema.tables[f.reference]
        self._bad_ref += 1
        raw = format_id(target.id_prefix, len(self.tables.get(f.reference, ())) + 90000 + self._bad_ref)
        return raw, False, None

    def _required(self, table, f, value):
        return (None, False, None) if value is not None else None

    def _caps_name(self, table, f, value):
        if not value:
            return None
        raw = value.upper() if self.rng.random() < 0.75 else value.lower()
        return (raw, True, value) if title_case_name(raw) == value and raw != value else None

    def _extra_spaces(self, table, f, value):
        if not value:
            return None
        r = self.rng.random()
        raw = f"  {value}" if r < 0.3 else f"{value} " if r < 0.6 else f" {value}  " if r < 0.8 else value.replace(" ", "  ", 1)
        return (raw, True, clean_spaces(raw)) if raw != value else None


def plant_errors(
    rng: np.random.Generator,
    schema: Schema,
    tables: dict[str, pd.DataFrame],
    targets: list[str],
    exclude: set[tuple[str, str]],
    ctx: ReadContext,
    default_region: str,
    lang: str = "en",
    share: float = 0.05,
) -> list[PlantedError]:
    """Put one error into ``share`` of the rows of each target table (rows in ``exclude`` are spared)."""
    planter = Planter(rng, schema, tables, ctx, default_region, lang)
    planted: list[PlantedError] = []
    for table in targets:
        df = tables[table]
        kinds: dict[str, list[Field]] = {}
        for kind, f in candidates(schema, table):
            kinds.setdefault(kind, []).append(f)
        names = sorted(kinds)
        pool = np.array([rid for rid in df.index if (table, rid) not in exclude], dtype=object)
        n = min(len(pool), max(1, round(share * len(df))))
        chosen = pool[rng.choice(len(pool), size=n, replace=False)] if n else pool
        for rid in sorted(chosen.tolist()):
            planter._rid = rid
            for _ in range(6):  # a row may not suit the first kind drawn (no email to misspell...)
                kind = names[int(rng.integers(len(names)))]
                fs = kinds[kind]
                err = planter.plant(table, rid, kind, fs[int(rng.integers(len(fs)))])
                if err is not None:
                    planted.append(err)
                    break
        _write(df, [e for e in planted if e.table == table])
    return planted


def _write(df: pd.DataFrame, errors: list[PlantedError]) -> None:
    """Write the raw values, one column at a time (cell by cell is slow in pandas).

    A typed column that receives text becomes object dtype (see the package docs); a missing
    required value becomes the column's own empty value.
    """
    by_field: dict[str, list[PlantedError]] = {}
    for e in errors:
        by_field.setdefault(e.field, []).append(e)
    for field, errs in by_field.items():
        col = df[field]
        pos = df.index.get_indexer([e.record_id for e in errs])
        raws = [e.raw for e in errs]
        typed = col.dtype != object
        if typed and all(r is None or (isinstance(r, (int, float, np.integer)) and not isinstance(r, bool)) for r in raws):
            values = col.to_numpy(copy=True) if str(col.dtype) not in ("Int64", "boolean") else col.array.copy()
            for p_, r in zip(pos.tolist(), raws):
                values[p_] = r if r is not None else (pd.NA if str(col.dtype) in ("Int64", "boolean") else None)
            df[field] = pd.Series(values, index=df.index, dtype=col.dtype)
            continue
        values = col.astype(object).to_numpy(copy=True)
        for p_, r in zip(pos.tolist(), raws):
            values[p_] = r
        df[field] = pd.Series(values, index=df.index, dtype=object)
