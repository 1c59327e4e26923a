"""What every report needs before counting: money in one currency, the stage table, periods, deal status.

Conversions never sum raw amounts of different currencies: an amount in a currency without a rate in
Settings `exchange_rates` stays NaN in the converted column and is totalled apart by currency.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from crm_sheets.model import Tables
from crm_sheets.model.schema import normalize_header

_RATE_RE = re.compile(r"^\s*([A-Za-z]{3})\s*[=:]\s*([0-9]+(?:[.,][0-9]+)?)\s*$")
CLOSED_TASK = ("done", "cancelled")
UNCOUNTED_ORDER = ("refunded", "cancelled")


def parse_rates(text: object) -> tuple[dict[str, float], list[str]]:
    """'EUR=1.08, GBP=1.27' -> ({'EUR': 1.08, 'GBP': 1.27}, [entries that could not be read])."""
    if text is None or (isinstance(text, float) and text != text):
        return {}, []
    s = str(text).strip()
    # "EUR=1,08; GBP=1,27" (decimal commas) is separated by semicolons; otherwise commas separate.
    parts = re.split(r"[;\n]" if ";" in s or "\n" in s else r",", s)
    rates, bad = {}, []
    for part in parts:
        if not part.strip():
            continue
        m = _RATE_RE.match(part)
        if m and float(m.group(2).replace(",", ".")) > 0:
            rates[m.group(1).upper()] = float(m.group(2).replace(",", "."))
        else:
            bad.append(part.strip())
    return rates, bad


@dataclass(frozen=True)
class Money:
    """The report currency and the rates that bring other currencies into it."""

    currency: str
    rates: dict[str, float]

    def rate(self, code: str) -> float | None:
        return 1.0 if code == self.currency else self.rates.get(code)

    def currencies(self, df: pd.DataFrame, currency_field: str | None) -> pd.Series:
        """The ISO code of each row: its currency field, or the report currency when blank."""
        if currency_field and currency_field in df.columns:
            raw = df[currency_field].astype(object).where(df[currency_field].notna(), "")
            codes = raw.map(lambda v: str(v).strip().upper())
            return codes.where(codes != "", self.currency)
        return pd.Series(self.currency, index=df.index, dtype=object)

    def convert(self, df: pd.DataFrame, amount: str, currency_field: str | None = None) -> tuple[pd.Series, pd.Series]:
        """(amount in the report currency or NaN, the row's currency code)."""
        codes = self.currencies(df, currency_field)
        values = pd.to_numeric(df[amount], errors="coerce").astype(float) if amount in df.columns else pd.Series(np.nan, index=df.index)
        factor = codes.map(lambda c: self.rate(c)).astype(float)
        return values * factor, codes


def apart(values: pd.Series, converted: pd.Series, codes: pd.Series) -> dict[str, float]:
    """Totals by currency of the amounts that could not be converted (no rate), for a note."""
    mask = converted.isna() & values.notna()
    if not mask.any():
        return {}
    sums = values[mask].groupby(codes[mask]).sum()
    return {str(k): round(float(v), 2) for k, v in sums.sort_index().items()}


def money_of(tables: Tables) -> tuple[Money, list[str]]:
    currency = str(tables.setting("currency", "USD") or "USD").strip().upper() or "USD"
    rates, bad = parse_rates(tables.setting("exchange_rates", ""))
    return Money(currency, rates), bad


def frame(tables: Tables, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """The table's DataFrame with at least these columns (absent tables and fields read as empty)."""
    t = tables.get(name)
    df = t.df if t is not None else pd.DataFrame(index=pd.Index([], dtype=object, name="id"))
    missing = [c for c in columns if c not in df.columns]
    if missing:
        df = df.assign(**{c: pd.Series(np.nan, index=df.index, dtype=object) for c in missing})
    return df


def dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, errors="coerce")


def text(series: pd.Series, blank: str = "") -> pd.Series:
    """A text column with blanks (None, NaN, spaces) as ``blank``, stripped."""
    s = series.astype(object)
    if len(s) > 64 and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        # all text (or blank): stripped once per distinct value, not per row (a status column of 100,000 rows
        # holds a few values); mixed columns go the long way (1 and 1.0 are one value to factorize, two texts)
        codes, uniques = pd.factorize(s)  # None, NaN: -1, the "" appended last
        stripped = np.array([u.strip() for u in uniques] + [""], dtype=object)
        s = pd.Series(stripped[codes], index=s.index, name=s.name, dtype=object)
    else:
        s = s.where(s.notna(), "").astype(str).str.strip().astype(object)
    return s.where(s != "", blank)


# ---------------------------------------------------------------------------------------------- stages

@dataclass(frozen=True)
class Stage:
    name: str
    order: float
    probability: float | None
    won: bool
    lost: bool
    stalled_after_days: float | None

    @property
    def open(self) -> bool:
        return not (self.won or self.lost)


def stages_of(tables: Tables) -> list[Stage]:
    """The Stages rule table in pipeline order (Order, then sheet row)."""
    df = frame(tables, "stages", ("stage", "order", "probability", "won", "lost", "stalled_after_days"))
    rows = []
    for pos, (_rid, r) in enumerate(df.iterrows()):
        name = "" if pd.isna(r["stage"]) else str(r["stage"]).strip()
        if not name:
            continue
        order = pd.to_numeric(r["order"], errors="coerce")
        prob = pd.to_numeric(r["probability"], errors="coerce")
        stalled = pd.to_numeric(r["stalled_after_days"], errors="coerce")
        rows.append((float(order) if pd.notna(order) else float("inf"), pos, Stage(
            name, float(order) if pd.notna(order) else float("inf"),
            float(prob) if pd.notna(prob) else None,
            bool(r["won"]) if pd.notna(r["won"]) else False,
            bool(r["lost"]) if pd.notna(r["lost"]) else False,
            float(stalled) if pd.notna(stalled) and stalled > 0 else None,
        )))
    return [s for _o, _p, s in sorted(rows, key=lambda x: (x[0], x[1]))]


# ---------------------------------------------------------------------------------------------- deals

DEAL_FIELDS = ("name", "account", "owner", "stage", "amount", "currency", "probability", "close_date",
               "created", "closed", "campaign")


def deals_of(tables: Tables, money: Money, stages: list[Stage], now: datetime) -> pd.DataFrame:
    """Deals with derived columns: stage_name (as in Stages), status open|won|lost, p (win probability),
    value (amount in the report currency), code (currency), close, created, won_on (closed or close date)."""
    df = frame(tables, "deals", DEAL_FIELDS)
    out = pd.DataFrame(index=df.index)
    by_fold = {}
    for s in stages:
        by_fold.setdefault(normalize_header(s.name), s)
    typed = text(df["stage"])
    # The stage is text as typed: match it to Stages ignoring case, accents and spacing.
    matched = typed.map(lambda v: by_fold.get(normalize_header(v)) if v else None)
    out["stage_name"] = [m.name if m is not None else t for m, t in zip(matched, typed)]
    out["status"] = [("won" if m.won else "lost" if m.lost else "open") if m is not None else "open" for m in matched]
    stage_p = pd.Series([m.probability if m is not None else None for m in matched], index=df.index, dtype=float)
    own_p = pd.to_numeric(df["probability"], errors="coerce").astype(float)
    out["p"] = own_p.where(own_p.notna(), stage_p).fillna(0.0).clip(0, 1)
    out["amount"] = pd.to_numeric(df["amount"], errors="coerce").astype(float)
    out["value"], out["code"] = money.convert(df, "amount", "currency")
    out["close"] = dates(df["close_date"])
    out["created"] = dates(df["created"])
    closed = dates(df["closed"])
    out["won_on"] = closed.where(closed.notna(), out["close"])
    out["owner"] = text(df["owner"])
    out["name"] = text(df["name"])
    out["account"] = text(df["account"])
    out["campaign"] = text(df["campaign"])
    out["code"] = out["code"].astype(object)
    return out


# ---------------------------------------------------------------------------------------------- periods

def period_bounds(now: datetime, kind: str) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """(previous period start, current period start, next period start) for month or quarter."""
    months = 3 if str(kind).strip().lower().startswith("q") else 1
    ts = pd.Timestamp(now)
    first_month = ((ts.month - 1) // months) * months + 1
    start = pd.Timestamp(ts.year, first_month, 1)
    return start - pd.DateOffset(months=months), start, start + pd.DateOffset(months=months)


def month_start(now: datetime) -> pd.Timestamp:
    ts = pd.Timestamp(now)
    return pd.Timestamp(ts.year, ts.month, 1)


def nz(value: float | None) -> float | None:
    """A plain float, or None for NaN/inf (shown as '—', never an error)."""
    if value is None:
        return None
    v = float(value)
    return v if np.isfinite(v) else None


def ratio(num: float, den: float) -> float | None:
    return None if not den else nz(num / den)
