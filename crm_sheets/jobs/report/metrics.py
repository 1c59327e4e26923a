"""The report figures, one function per report, computed with pandas from the jobs' view of the tables.

Definitions a reader of the sheets needs are in the sheets' notes (labels.py); this module keeps them
in code. Money is converted to the report currency first (prep.Money); what cannot be is set apart.
"""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from crm_sheets.jobs.report import prep
from crm_sheets.jobs.report.figures import (
    Activity, ActivityRow, BoardColumn, CalendarItem, CalendarMonth, CampaignRow, Campaigns, Customer,
    Customers, Dashboard, DealLine, Forecast, ForecastRow, Geography, Group, Leads, Pipeline, PlaceRow,
    ReportFigures, Satisfaction, SourceRow,
)
from crm_sheets.jobs.report.prep import Money, Stage, nz, ratio
from crm_sheets.model import Tables
from crm_sheets.model.normalize import country_code

MIN_CLOSED_FOR_OWNER_RATE = 5  # fewer closed deals than this: the owner gets the team's win rate
FORECAST_MONTHS = 6
TREND_MONTHS = 12
TOP_ROWS = 50  # lists (top customers, stalled deals) stop here; totals always count everything
CARDS_PER_COLUMN = 60
SCORE_BANDS = ((None, 0, "< 0"), (0, 20, "0–19"), (20, 45, "20–44"), (45, 70, "45–69"), (70, None, "70+"))
DAY = pd.Timedelta(days=1)


def _stalled_days(tables: Tables) -> int:
    v = pd.to_numeric(pd.Series([tables.setting("stalled_deal_days", 30)]), errors="coerce").iloc[0]
    return int(v) if pd.notna(v) and v >= 0 else 30


def _money_sum(s: pd.Series) -> float:
    return round(float(s.sum(skipna=True)), 2) if len(s) else 0.0


# ---------------------------------------------------------------------------------------------- dashboard

def dashboard(tables: Tables, deals: pd.DataFrame, now: datetime) -> Dashboard:
    won = deals[deals.status == "won"]
    lost = deals[deals.status == "lost"]
    open_ = deals[deals.status == "open"]
    won_revenue = _money_sum(won.value)
    win_rate = ratio(len(won), len(won) + len(lost))
    priced = won.value.notna().sum()
    avg_deal = ratio(won.value.sum(), priced)
    cycle = ((won.won_on - won.created) / DAY).dropna()
    cycle = cycle[cycle >= 0]  # a close before the creation date is a typo, not a negative cycle
    cycle_days = nz(cycle.mean()) if len(cycle) else None
    velocity = None
    if win_rate is not None and avg_deal is not None and cycle_days:
        velocity = nz(len(open_) * win_rate * avg_deal / cycle_days)
    prev, cur, nxt = prep.period_bounds(now, tables.setting("report_period", "month"))
    leads = prep.frame(tables, "leads", ("created", "status"))
    created = prep.dates(leads["created"])
    status = prep.text(leads["status"])
    in_cur = (created >= cur) & (created < nxt)
    in_prev = (created >= prev) & (created < cur)
    tasks = prep.frame(tables, "tasks", ("due", "status"))
    due = prep.dates(tasks["due"])
    overdue = (due < pd.Timestamp(now).normalize()) & ~prep.text(tasks["status"]).isin(prep.CLOSED_TASK)
    won_cur = won[(won.won_on >= cur) & (won.won_on < nxt)]
    won_prev = won[(won.won_on >= prev) & (won.won_on < cur)]
    return Dashboard(
        won_revenue=won_revenue,
        won_deals=len(won),
        open_deals=len(open_),
        open_value=_money_sum(open_.value),
        open_weighted=_money_sum(open_.value * open_.p),
        win_rate=win_rate,
        avg_deal_size=avg_deal,
        sales_cycle_days=cycle_days,
        velocity_per_day=velocity,
        won_period=_money_sum(won_cur.value),
        won_previous=_money_sum(won_prev.value),
        new_leads=int(in_cur.sum()),
        new_leads_previous=int(in_prev.sum()),
        conversion_rate=ratio(int((in_cur & (status == "converted")).sum()), int(in_cur.sum())),
        conversion_rate_previous=ratio(int((in_prev & (status == "converted")).sum()), int(in_prev.sum())),
        tasks_overdue=int(overdue.sum()),
        apart=prep.apart(deals.amount[deals.status != "lost"], deals.value[deals.status != "lost"], deals.code[deals.status != "lost"]),
    )


# ---------------------------------------------------------------------------------------------- pipeline

def last_touch(tables: Tables, deals: pd.DataFrame) -> pd.Series:
    """The latest of a deal's creation and its last activity."""
    acts = prep.frame(tables, "activities", ("date", "deal"))
    when = prep.dates(acts["date"])
    deal = prep.text(acts["deal"])
    latest = when[deal != ""].groupby(deal[deal != ""]).max()
    touched = pd.to_datetime(latest).reindex(deals.index)
    return pd.concat([touched, deals.created], axis=1).max(axis=1)


def stalled_mask(tables: Tables, deals: pd.DataFrame, stages: list[Stage], now: datetime) -> tuple[pd.Series, pd.Series]:
    """(is stalled, days stalled) for open deals: close date passed more than `stalled_deal_days` ago,
    or no activity for longer than the stage's `stalled_after_days`. Counted in whole days (today against
    the dates), so the figures move once a day, not at every run."""
    ts = pd.Timestamp(now).normalize()
    limit = _stalled_days(tables)
    past_close = (ts - deals.close.dt.normalize()) / DAY
    by_close = past_close > limit
    per_stage = {s.name: s.stalled_after_days for s in stages if s.stalled_after_days}
    quiet = (ts - last_touch(tables, deals).dt.normalize()) / DAY
    stage_limit = deals.stage_name.map(per_stage).astype(float)
    by_quiet = quiet > stage_limit
    mask = (deals.status == "open") & (by_close | by_quiet)
    days = pd.concat([past_close.where(by_close), quiet.where(by_quiet)], axis=1).max(axis=1)
    return mask, days


def _groups(open_: pd.DataFrame, key: pd.Series, order: list[str], now: datetime) -> list[Group]:
    age = (pd.Timestamp(now).normalize() - open_.created.dt.normalize()) / DAY  # whole days: moves once a day
    frame = pd.DataFrame({"k": key, "value": open_.value, "w": open_.value * open_.p, "age": age,
                          "stalled": open_.stalled.astype(int)})
    g = frame.groupby("k", sort=False)
    agg = pd.DataFrame({"count": g.size(), "value": g.value.sum(), "w": g.w.sum(), "age": g.age.mean(),
                        "stalled": g.stalled.sum()})
    keys = [k for k in order if k in agg.index] + sorted(k for k in agg.index if k not in order)
    return [Group(k, int(agg.at[k, "count"]), round(float(agg.at[k, "value"]), 2), round(float(agg.at[k, "w"]), 2),
                  nz(agg.at[k, "age"]), int(agg.at[k, "stalled"])) for k in keys]


def _line(rid: str, d: pd.Series, days: float | None = None) -> DealLine:
    return DealLine(
        id=str(rid), name=d["name"], stage=d["stage_name"], owner=d["owner"], account=d.get("account_name", d["account"]),
        amount=nz(d["amount"]), currency=d["code"], close_date=d["close"].date() if pd.notna(d["close"]) else None,
        days=int(days) if days is not None and days == days else None,
    )


def pipeline(tables: Tables, deals: pd.DataFrame, stages: list[Stage], now: datetime) -> Pipeline:
    open_ = deals[deals.status == "open"]
    by_stage = _groups(open_, open_.stage_name, [s.name for s in stages if s.open], now)
    by_owner = _groups(open_, open_.owner, [], now)
    total = _groups(open_, pd.Series("", index=open_.index), [], now)
    stalled = open_[open_.stalled].assign(_v=open_.value.fillna(0)).sort_values(["_v", "stalled_days"], ascending=False)
    return Pipeline(
        by_stage=by_stage,
        by_owner=by_owner,
        total=total[0] if total else Group("", 0, 0.0, 0.0, None, 0),
        stalled=[_line(rid, d, d["stalled_days"]) for rid, d in stalled.head(TOP_ROWS).iterrows()],
        stalled_count=int(open_.stalled.sum()),
        stalled_days=_stalled_days(tables),
        apart=prep.apart(open_.amount, open_.value, open_.code),
    )


# ---------------------------------------------------------------------------------------------- forecast

def win_rates(deals: pd.DataFrame) -> tuple[float | None, dict[str, float]]:
    """The team's win rate and each owner's (owners with enough closed deals only)."""
    closed = deals[deals.status.isin(("won", "lost"))]
    team = ratio(int((closed.status == "won").sum()), len(closed))
    g = closed.groupby("owner").status
    counts, wins = g.size(), g.apply(lambda s: int((s == "won").sum()))
    owners = {str(o): float(wins[o] / counts[o]) for o in counts.index if o and counts[o] >= MIN_CLOSED_FOR_OWNER_RATE}
    return team, owners


def won_history(deals: pd.DataFrame, now: datetime, months: int = TREND_MONTHS) -> list[tuple[str, float]]:
    """Won revenue per month for the last ``months`` full months (the current month excluded)."""
    start = prep.month_start(now)
    first = start - pd.DateOffset(months=months)
    won = deals[(deals.status == "won") & (deals.won_on >= first) & (deals.won_on < start)]
    sums = won.value.groupby(won.won_on.dt.strftime("%Y-%m")).sum()
    keys = [(first + pd.DateOffset(months=i)).strftime("%Y-%m") for i in range(months)]
    return [(k, round(float(sums.get(k, 0.0)), 2)) for k in keys]


def forecast(deals: pd.DataFrame, now: datetime) -> Forecast:
    open_ = deals[deals.status == "open"]
    team, owners = win_rates(deals)
    hist_p = open_.owner.map(owners).astype(float).fillna(team if team is not None else np.nan)
    start = prep.month_start(now)
    month_keys = [(start + pd.DateOffset(months=i)).strftime("%Y-%m") for i in range(FORECAST_MONTHS)]
    end = start + pd.DateOffset(months=FORECAST_MONTHS)
    history = won_history(deals, now)
    slope = intercept = None
    if (deals.status == "won").any() and deals.won_on[deals.status == "won"].notna().any():
        y = np.array([v for _k, v in history])
        slope, intercept = (float(c) for c in np.polyfit(np.arange(len(y)), y, 1))

    def row(key: str, mask: pd.Series, trend: float | None = None) -> ForecastRow:
        sel = open_[mask]
        historical = None if team is None else round(float((sel.value * hist_p[mask]).sum()), 2)
        return ForecastRow(key, len(sel), _money_sum(sel.value), _money_sum(sel.value * sel.p), historical, trend)

    months = []
    for i, key in enumerate(month_keys):
        m0 = start + pd.DateOffset(months=i)
        trend = None if slope is None else round(max(0.0, intercept + slope * (TREND_MONTHS + i)), 2)
        months.append(row(key, (open_.close >= m0) & (open_.close < m0 + pd.DateOffset(months=1)), trend))
    return Forecast(
        months=months,
        overdue=row("overdue", open_.close < start),
        later=row("later", open_.close >= end),
        no_close_date=row("no_close_date", open_.close.isna()),
        history=history,
        trend_slope=nz(slope),
        trend_intercept=nz(intercept),
        team_win_rate=team,
        owner_win_rates=owners,
        min_closed_for_owner_rate=MIN_CLOSED_FOR_OWNER_RATE,
        apart=prep.apart(open_.amount, open_.value, open_.code),
    )


# ---------------------------------------------------------------------------------------------- leads

def leads(tables: Tables) -> Leads:
    df = prep.frame(tables, "leads", ("status", "source", "score", "grade", "created"))
    status, source = prep.text(df["status"]), prep.text(df["source"])
    converted = status == "converted"
    status_keys = _keys(tables, "lead_status")
    counts = status.value_counts()
    funnel = [(k, int(counts.get(k, 0))) for k in status_keys] + [
        (k, int(v)) for k, v in sorted(counts.items()) if k not in status_keys]
    by_src = pd.DataFrame({"s": source, "c": converted}).groupby("s").c.agg(["size", "sum"])
    src_keys = [k for k in _keys(tables, "lead_source") if k in by_src.index] + sorted(
        k for k in by_src.index if k not in _keys(tables, "lead_source"))
    by_source = [SourceRow(k, int(by_src.at[k, "size"]), int(by_src.at[k, "sum"]),
                           ratio(int(by_src.at[k, "sum"]), int(by_src.at[k, "size"]))) for k in src_keys]
    grade = prep.text(df["grade"]).str.upper()
    gcounts = grade.value_counts()
    grades = [(g, int(gcounts.get(g, 0))) for g in ("A", "B", "C", "D")] + [
        (g, int(v)) for g, v in sorted(gcounts.items()) if g not in ("A", "B", "C", "D")]
    score = pd.to_numeric(df["score"], errors="coerce")
    scores = []
    for lo, hi, label in SCORE_BANDS:
        m = score.notna()
        if lo is not None:
            m &= score >= lo
        if hi is not None:
            m &= score < hi
        scores.append((label, int(m.sum())))
    scores.append(("", int(score.isna().sum())))
    acts = prep.frame(tables, "activities", ("date", "lead"))
    lead = prep.text(acts["lead"])
    first = prep.dates(acts["date"])[lead != ""].groupby(lead[lead != ""]).min()
    created = prep.dates(df["created"])
    first = first[first.index.isin(df.index)]
    wait = ((first - created.reindex(first.index)) / DAY).dropna().clip(lower=0)
    return Leads(
        total=len(df), funnel=funnel, by_source=by_source, grades=grades, scores=scores,
        contacted=int(first.notna().sum()),
        first_contact_avg_days=nz(wait.mean()) if len(wait) else None,
        first_contact_median_days=nz(wait.median()) if len(wait) else None,
    )


def _keys(tables: Tables, list_name: str) -> list[str]:
    try:
        return tables.list(list_name).keys()
    except KeyError:
        return []


# ---------------------------------------------------------------------------------------------- customers

def orders_of(tables: Tables, money: Money) -> pd.DataFrame:
    """Counted orders (not refunded or cancelled) with value in the report currency."""
    df = prep.frame(tables, "orders", ("date", "account", "amount", "currency", "status"))
    df = df[~prep.text(df["status"]).isin(prep.UNCOUNTED_ORDER)]
    value, code = money.convert(df, "amount", "currency")
    return pd.DataFrame({"date": prep.dates(df["date"]), "account": prep.text(df["account"]),
                         "amount": pd.to_numeric(df["amount"], errors="coerce").astype(float),
                         "value": value, "code": code.astype(object)}, index=df.index)


def customers(tables: Tables, orders: pd.DataFrame, names: pd.Series, now: datetime) -> Customers:
    ts = pd.Timestamp(now)
    churn_before, risk_before = ts - pd.DateOffset(months=12), ts - pd.DateOffset(months=6)
    o = orders[orders.account != ""]
    g = o.groupby("account")
    agg = pd.DataFrame({"n": g.size(), "ltv": g.value.sum(), "aov": g.value.mean(), "first": g.date.min(),
                        "last": g.date.max()})
    agg["between"] = ((agg["last"] - agg["first"]) / DAY / (agg.n - 1)).where(agg.n >= 2)
    agg["status"] = np.where(agg["last"] < churn_before, "churned", np.where(agg["last"] < risk_before, "at_risk", "active"))
    agg = agg.sort_values(["ltv", "n"], ascending=False)

    def cust(aid: str, r: pd.Series) -> Customer:
        return Customer(str(aid), str(names.get(aid, aid) or aid), int(r["n"]), round(float(r["ltv"]), 2), nz(r["aov"]),
                        r["first"].date() if pd.notna(r["first"]) else None,
                        r["last"].date() if pd.notna(r["last"]) else None, nz(r["between"]), str(r["status"]))

    watch = agg[agg.status != "active"]
    n = len(agg)
    revenue = _money_sum(agg.ltv)
    return Customers(
        customers=n, orders=len(o), revenue=revenue, avg_lifetime_value=ratio(revenue, n),
        avg_order_value=nz(o.value.mean()) if o.value.notna().any() else None,
        orders_per_customer=ratio(len(o), n),
        active=int((agg.status == "active").sum()), at_risk=int((agg.status == "at_risk").sum()),
        churned=int((agg.status == "churned").sum()),
        top=[cust(a, r) for a, r in agg.head(TOP_ROWS).iterrows()],
        watch=[cust(a, r) for a, r in watch.head(TOP_ROWS).iterrows()],
        apart=prep.apart(orders.amount, orders.value, orders.code),
    )


# ---------------------------------------------------------------------------------------------- campaigns

def campaigns(tables: Tables, deals: pd.DataFrame, money: Money) -> Campaigns:
    camps = prep.frame(tables, "campaigns", ("name", "cost"))
    members = prep.frame(tables, "campaign_members", ("campaign", "status", "responded"))
    leads_df = prep.frame(tables, "leads", ("campaign",))
    m_camp = prep.text(members["campaign"])
    replied = prep.text(members["status"]).isin(("replied", "converted")) | prep.dates(members["responded"]).notna()
    n_members = m_camp.value_counts()
    n_replies = m_camp[replied].value_counts()
    n_leads = prep.text(leads_df["campaign"]).value_counts()
    won = deals[(deals.status == "won") & (deals.campaign != "")]
    n_won, revenue = won.groupby("campaign").size(), won.groupby("campaign").value.sum()
    cost, _codes = money.convert(camps, "cost")  # campaign cost is in the report currency

    def row(cid: str, name: str, c: float, m: int, r: int, ld: int, w: int, rev: float) -> CampaignRow:
        return CampaignRow(cid, name, m, r, ld, w, round(rev, 2), round(c, 2), ratio(c, ld), ratio(c, w),
                           ratio(rev - c, c))

    rows = []
    for cid in camps.index:
        c = float(cost.get(cid)) if pd.notna(cost.get(cid)) else 0.0
        rows.append(row(str(cid), prep.text(camps["name"]).get(cid, "") or str(cid), c, int(n_members.get(cid, 0)),
                        int(n_replies.get(cid, 0)), int(n_leads.get(cid, 0)), int(n_won.get(cid, 0)),
                        float(revenue.get(cid, 0.0))))
    total = row("", "", sum(r.cost for r in rows), sum(r.members for r in rows), sum(r.replies for r in rows),
                sum(r.leads for r in rows), sum(r.won_deals for r in rows), sum(r.revenue for r in rows))
    return Campaigns(rows, total, prep.apart(won.amount, won.value, won.code))


# ---------------------------------------------------------------------------------------------- activity

def activity(tables: Tables, now: datetime) -> Activity:
    acts = prep.frame(tables, "activities", ("date", "type", "owner"))
    # by calendar day, today included: the figures move once a day, not at every run
    ts = pd.Timestamp(now).normalize()
    when = prep.dates(acts["date"]).dt.normalize()
    kind, owner = prep.text(acts["type"]), prep.text(acts["owner"])
    in30 = (when > ts - 30 * DAY) & (when <= ts)
    in7 = (when > ts - 7 * DAY) & (when <= ts)
    known = _keys(tables, "activity_type")
    types = known + sorted(set(kind[in30]) - set(known))
    t30, t7 = kind[in30].value_counts(), kind[in7].value_counts()
    by_type = [ActivityRow(k, int(t7.get(k, 0)), int(t30.get(k, 0))) for k in types]
    cross = pd.crosstab(owner[in30], kind[in30]) if in30.any() else pd.DataFrame()
    o7 = owner[in7].value_counts()
    owners = sorted(set(owner[in30]))
    by_owner = [ActivityRow(o, int(o7.get(o, 0)), int(cross.loc[o].sum()),
                            {k: int(cross.at[o, k]) if k in cross.columns else 0 for k in types}) for o in owners]
    total = ActivityRow("", int(in7.sum()), int(in30.sum()), {k: int(t30.get(k, 0)) for k in types})
    return Activity(types, by_owner, by_type, total)


# ---------------------------------------------------------------------------------------------- geography

def place_key(text: str) -> str:
    """The ISO code of a country as typed, or the text itself when it is not recognised."""
    return (country_code(text) or text) if text else ""


def geography(tables: Tables, orders: pd.DataFrame) -> Geography:
    acc = prep.frame(tables, "accounts", ("type", "country", "city"))
    ordered = set(orders.account[orders.account != ""])
    is_customer = (prep.text(acc["type"]) == "customer") | acc.index.isin(list(ordered))
    countries = prep.text(acc["country"])
    keys = {v: place_key(v) for v in countries.unique()}
    places = pd.DataFrame({"country": countries.map(keys), "city": prep.text(acc["city"])}, index=acc.index)
    revenue = orders.value.groupby(orders.account).sum()
    # Orders of accounts missing from Accounts still count, at an unknown place.
    extra = pd.Index(sorted(ordered - set(acc.index)))
    places = pd.concat([places[is_customer], pd.DataFrame({"country": "", "city": ""}, index=extra)])
    places["revenue"] = revenue.reindex(places.index).fillna(0.0)

    def rows(cols: list[str]) -> list[PlaceRow]:
        g = places.groupby(cols, sort=False).agg(customers=("revenue", "size"), revenue=("revenue", "sum"))
        g = g.sort_values(["revenue", "customers"], ascending=False)
        out = []
        for key, r in g.iterrows():
            c, city = (key if isinstance(key, tuple) else (key, ""))
            out.append(PlaceRow(c, city, int(r.customers), round(float(r.revenue), 2)))
        return out

    return Geography(rows(["country"]), rows(["country", "city"])[:TOP_ROWS], prep.apart(orders.amount, orders.value, orders.code))


# ---------------------------------------------------------------------------------------------- satisfaction

def satisfaction(tables: Tables) -> Satisfaction:
    t = tables.get("contacts")
    has = t is not None and "nps" in t.df.columns
    score = pd.to_numeric(t.df["nps"], errors="coerce") if has else pd.Series(dtype=float)
    score = score[(score >= 0) & (score <= 10)].round()
    n = len(score)
    pro, det = int((score >= 9).sum()), int((score <= 6).sum())
    nps = None if not n else nz(round((pro - det) * 100.0 / n, 1))
    counts = score.value_counts()
    return Satisfaction(has, n, pro, n - pro - det, det, nps, [(i, int(counts.get(float(i), 0))) for i in range(11)])


# ---------------------------------------------------------------------------------------------- views

def board(deals: pd.DataFrame, stages: list[Stage]) -> list[BoardColumn]:
    open_ = deals[deals.status == "open"].sort_values(["close", "value"], ascending=[True, False], na_position="last")
    names = [s.name for s in stages if s.open]
    names += sorted(set(open_.stage_name) - set(names))
    out = []
    for name in names:
        sel = open_[open_.stage_name == name]
        cards = [_line(rid, d) for rid, d in sel.head(CARDS_PER_COLUMN).iterrows()]
        out.append(BoardColumn(name, len(sel), _money_sum(sel.value), cards, max(0, len(sel) - CARDS_PER_COLUMN)))
    return out


def calendar(tables: Tables, now: datetime) -> list[CalendarMonth]:
    start = prep.month_start(now)
    end = start + pd.DateOffset(months=2)
    today = pd.Timestamp(now).normalize()
    tasks = prep.frame(tables, "tasks", ("title", "due", "owner", "status"))
    tasks = tasks[prep.dates(tasks["due"]).between(start, end, inclusive="left")]  # the two months only
    due = prep.dates(tasks["due"])
    keep = (due >= start) & (due < end) & ~prep.text(tasks["status"]).isin(prep.CLOSED_TASK)
    items = [CalendarItem("task", d.date(), "", t or str(rid), o, d < today)
             for rid, d, t, o in zip(tasks.index[keep], due[keep], prep.text(tasks["title"])[keep], prep.text(tasks["owner"])[keep])]
    acts = prep.frame(tables, "activities", ("date", "type", "subject", "owner"))
    acts = acts[prep.dates(acts["date"]).between(start, end, inclusive="left")]
    when = prep.dates(acts["date"])
    meet = (prep.text(acts["type"]) == "meeting") & (when >= start) & (when < end)
    items += [CalendarItem("meeting", w.date(), w.strftime("%H:%M") if (w.hour or w.minute) else "", s or str(rid), o)
              for rid, w, s, o in zip(acts.index[meet], when[meet], prep.text(acts["subject"])[meet], prep.text(acts["owner"])[meet])]
    items.sort(key=lambda i: (i.day, i.kind != "meeting", i.time, i.text))
    months = []
    for i in range(2):
        m = start + pd.DateOffset(months=i)
        months.append(CalendarMonth(m.year, m.month, [it for it in items if (it.day.year, it.day.month) == (m.year, m.month)]))
    return months


# ---------------------------------------------------------------------------------------------- all

def compute(tables: Tables, now: datetime) -> ReportFigures:
    """Every figure of every report sheet, as plain data."""
    money, bad = prep.money_of(tables)
    stages = prep.stages_of(tables)
    deals = prep.deals_of(tables, money, stages, now)
    accounts = prep.frame(tables, "accounts", ("name",))
    names = prep.text(accounts["name"])
    # an account's name by a dict when its IDs are unique (Series.get per deal built a lookup per deal); a key that
    # is not text, or an ID given twice, is looked up as before
    by_id = dict(zip(names.index, names.to_numpy(dtype=object))) if names.index.is_unique else None
    deals["account_name"] = deals.account.map(
        lambda a: (by_id.get(a, a) if by_id is not None and type(a) is str else names.get(a, a)) if a else "")
    deals["stalled"], deals["stalled_days"] = stalled_mask(tables, deals, stages, now)
    orders = orders_of(tables, money)
    period = "quarter" if str(tables.setting("report_period", "month")).strip().lower().startswith("q") else "month"
    prev, cur, _nxt = prep.period_bounds(now, period)
    return ReportFigures(
        now=now, currency=money.currency, period=period, period_start=cur.date(), previous_start=prev.date(),
        dashboard=dashboard(tables, deals, now),
        pipeline=pipeline(tables, deals, stages, now),
        forecast=forecast(deals, now),
        leads=leads(tables),
        customers=customers(tables, orders, names, now),
        campaigns=campaigns(tables, deals, money),
        activity=activity(tables, now),
        geography=geography(tables, orders),
        satisfaction=satisfaction(tables),
        board=board(deals, stages),
        calendar=calendar(tables, now),
        rates=dict(money.rates), bad_rates=bad,
    )
