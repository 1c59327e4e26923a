"""The report job: every figure recomputed here with plain pandas and compared to the cent, the edge cases
(no deals, one stage, no close date, zero denominators, currencies without a rate) and the sheets' layout."""
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from crm_sheets.jobs.report import compute, report
from crm_sheets.jobs.report.layout import DASH
from crm_sheets.jobs.report.prep import parse_rates
from crm_sheets.model import Cell, Table, Tables, load_schema
from crm_sheets.model.tables import empty_frame

SCHEMA = load_schema("sales")
NOW = datetime(2026, 3, 15, 9, 0)
RATES = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}
REPORT_SHEETS = ["dashboard", "pipeline", "forecast", "leads", "customers", "campaigns", "activity", "geography",
                 "satisfaction", "board", "calendar"]


def make_tables(lang="en", settings=None, **frames) -> Tables:
    """Tables in the jobs' view, from lists of row dicts (missing columns empty, schema dtypes)."""
    out = {}
    for name in SCHEMA.tables:
        sch = SCHEMA.table(name)
        base = empty_frame(sch)
        rows = frames.get(name, [])
        df = pd.DataFrame(rows).set_index("id") if rows else base.copy()
        for col in base.columns:
            if col not in df.columns:
                df[col] = pd.Series(index=df.index, dtype=base[col].dtype)
            elif str(base[col].dtype).startswith("datetime"):
                df[col] = pd.to_datetime(df[col])
            else:
                df[col] = df[col].astype(base[col].dtype if base[col].dtype != object else object)
        out[name] = Table(sch, df[list(base.columns)])
    default = {"currency": "USD", "exchange_rates": "EUR=1.08, GBP=1.27", "report_period": "month", "stalled_deal_days": 30}
    return Tables(SCHEMA, out, lang=lang, settings={**default, **(settings or {})})


STAGES = [
    {"id": f"row{i + 2}", "stage": s, "order": i + 1, "probability": p, "won": w, "lost": lo, "stalled_after_days": d}
    for i, (s, p, w, lo, d) in enumerate([
        ("Prospecting", 0.1, False, False, 21), ("Qualification", 0.2, False, False, 21), ("Proposal", 0.5, False, False, 30),
        ("Negotiation", 0.75, False, False, 30), ("Closed won", 1.0, True, False, None), ("Closed lost", 0.0, False, True, None)])
]


def D(i, stage, amount, currency="USD", owner="Ann", close=None, created="2026-01-05", closed=None, prob=None, campaign=None, account="A-00001"):
    return {"id": f"D-{i:05d}", "name": f"Deal {i}", "stage": stage, "amount": amount, "currency": currency, "owner": owner,
            "close_date": close, "created": created, "closed": closed, "probability": prob, "campaign": campaign, "account": account}


DEALS = [
    D(1, "Proposal", 10000.0, "USD", "Ann", "2026-03-28", "2026-02-01"),
    D(2, "negotiation", 8000.0, "EUR", "Bob", "2026-04-10", "2026-01-10", prob=0.9),  # typed in lower case
    D(3, "Prospecting", 2500.0, "GBP", "Ann", "2026-06-30", "2026-03-01"),
    D(4, "Qualification", 4000.0, None, "Bob", None, "2026-02-20"),  # no close date, Settings currency
    D(5, "Proposal", 6000.0, "USD", "", "2026-01-31", "2025-11-01"),  # close date passed: stalled
    D(6, "Negotiation", 1200.0, "USD", "Ann", "2026-12-01", "2026-02-01"),  # later than 6 months
    D(7, "Closed won", 5000.0, "USD", "Ann", "2026-02-10", "2026-01-01", "2026-02-12", campaign="CP-00001"),
    D(8, "Closed won", 3000.0, "EUR", "Bob", "2025-11-20", "2025-10-01", "2025-11-25", campaign="CP-00001"),
    D(9, "Closed won", 7000.0, "USD", "Ann", "2026-03-05", "2026-01-20", "2026-03-02"),
    D(10, "Closed lost", 9000.0, "USD", "Bob", "2026-01-15", "2025-12-01", "2026-01-16"),
    D(11, "Closed lost", 1000.0, "GBP", "Ann", "2025-12-15", "2025-11-01", "2025-12-10"),
    D(12, "Closed won", 2000.0, "USD", "Ann", "2025-04-10", "2025-03-01", "2025-04-12"),
]
LEADS = [
    {"id": f"L-{i:05d}", "last_name": f"N{i}", "status": st, "source": src, "created": cr, "score": sc, "grade": gr, "campaign": cp}
    for i, (st, src, cr, sc, gr, cp) in enumerate([
        ("new", "web_form", "2026-03-02", 10, "D", "CP-00001"), ("contacted", "web_form", "2026-03-10", 25, "C", None),
        ("converted", "referral", "2026-03-03", 80, "A", "CP-00001"), ("qualified", "event", "2026-02-14", 50, "B", None),
        ("converted", "web_form", "2026-02-03", 72, "A", None), ("unqualified", "event", "2026-02-20", -5, "D", None),
        ("converted", "referral", "2025-12-01", 60, "B", "CP-00002"), ("new", None, "2026-03-14", None, None, None),
    ], start=1)
]
ACTIVITIES = [
    {"id": f"AC-{i:05d}", "date": d, "type": t, "owner": o, "lead": ld, "deal": dl, "subject": s}
    for i, (d, t, o, ld, dl, s) in enumerate([
        ("2026-03-03 10:00", "call", "Ann", "L-00001", None, "Intro"), ("2026-03-05 09:00", "email", "Ann", "L-00001", None, "Docs"),
        ("2026-03-12 15:00", "email", "Bob", "L-00002", None, "Hello"), ("2026-03-04 12:00", "call", "Bob", "L-00003", None, "Call"),
        ("2026-02-20 11:00", "meeting", "Ann", None, "D-00001", "Demo"), ("2026-03-14 16:30", "meeting", "Bob", None, "D-00002", "Pricing"),
        ("2026-01-02 10:00", "note", "Ann", None, "D-00003", "Old"), ("2026-03-20 14:00", "meeting", "Ann", None, "D-00006", "Review"),
        ("2026-04-02 09:30", "meeting", "Bob", None, None, "Kickoff"), ("2026-02-10 09:00", "call", "", "L-00004", None, "Qualify"),
    ], start=1)
]
TASKS = [
    {"id": "T-00001", "title": "Send quote", "due": "2026-03-10", "owner": "Ann", "status": "open"},
    {"id": "T-00002", "title": "Call back", "due": "2026-03-20", "owner": "Bob", "status": "in_progress"},
    {"id": "T-00003", "title": "Old done", "due": "2026-03-01", "owner": "Bob", "status": "done"},
    {"id": "T-00004", "title": "Renewal", "due": "2026-04-15", "owner": "Ann", "status": "open"},
    {"id": "T-00005", "title": "Way overdue", "due": "2025-12-01", "owner": "Ann", "status": "open"},
]
ACCOUNTS = [
    {"id": "A-00001", "name": "Acme", "type": "customer", "country": "France", "city": "Paris"},
    {"id": "A-00002", "name": "Globex", "type": "customer", "country": "FR", "city": "Lyon"},
    {"id": "A-00003", "name": "Initech", "type": "prospect", "country": "United States", "city": "Austin"},
    {"id": "A-00004", "name": "Umbrella", "type": "customer", "country": "Germany", "city": "Berlin"},
]
ORDERS = [
    {"id": f"O-{i:05d}", "date": d, "account": a, "amount": amt, "currency": c, "status": s}
    for i, (d, a, amt, c, s) in enumerate([
        ("2026-02-01", "A-00001", 1000.0, "USD", "paid"), ("2025-12-01", "A-00001", 500.0, "EUR", "paid"),
        ("2025-10-01", "A-00001", 250.0, "USD", "refunded"), ("2025-06-15", "A-00002", 2000.0, "USD", "paid"),
        ("2025-01-10", "A-00003", 300.0, "GBP", "pending"), ("2024-12-01", "A-00003", 700.0, "USD", None),
        ("2026-03-01", "A-00004", 900.0, "USD", "paid"),
    ], start=1)
]
CAMPAIGNS = [
    {"id": "CP-00001", "name": "Spring webinar", "cost": 1500.0},
    {"id": "CP-00002", "name": "Trade fair", "cost": 0.0},
    {"id": "CP-00003", "name": "Unused", "cost": None},
]
MEMBERS = [
    {"id": "CM-00001", "campaign": "CP-00001", "lead": "L-00001", "status": "replied"},
    {"id": "CM-00002", "campaign": "CP-00001", "lead": "L-00003", "status": "converted"},
    {"id": "CM-00003", "campaign": "CP-00001", "lead": "L-00002", "status": "sent", "responded": "2026-03-04"},
    {"id": "CM-00004", "campaign": "CP-00001", "lead": "L-00005", "status": "opened"},
    {"id": "CM-00005", "campaign": "CP-00002", "lead": "L-00007", "status": "sent"},
]
CONTACTS = [{"id": f"C-{i:05d}", "last_name": f"C{i}", "nps": n} for i, n in enumerate([10, 9, 8, 7, 6, 0, 10, None, 3], start=1)]


def full(**over):
    frames = dict(stages=STAGES, deals=DEALS, leads=LEADS, activities=ACTIVITIES, tasks=TASKS, accounts=ACCOUNTS,
                  orders=ORDERS, campaigns=CAMPAIGNS, campaign_members=MEMBERS, contacts=CONTACTS)
    settings = over.pop("settings", None)
    lang = over.pop("lang", "en")
    frames.update(over)
    return make_tables(lang=lang, settings=settings, **frames)


# ---------------------------------------------------------------------------------------------- independent figures

def deals_frame(rates=RATES):
    """The deals as a reader would work them out by hand: status, probability and amount in USD."""
    df = pd.DataFrame(DEALS)
    st = pd.DataFrame(STAGES).assign(fold=lambda s: s.stage.str.lower())
    df = df.merge(st[["fold", "probability", "won", "lost"]].rename(columns={"probability": "stage_p"}),
                  left_on=df.stage.str.lower(), right_on="fold", how="left")
    df["status"] = np.where(df.won, "won", np.where(df["lost"], "lost", "open"))
    df["p"] = df.probability.fillna(df.stage_p)
    df["usd"] = df.amount * df.currency.fillna("USD").map(rates)
    for c in ("close_date", "created", "closed"):
        df[c] = pd.to_datetime(df[c])
    return df


def test_dashboard_figures_match_an_independent_pandas_computation():
    d = compute(full(), NOW).dashboard
    df = deals_frame()
    won, lost, open_ = df[df.status == "won"], df[df.status == "lost"], df[df.status == "open"]
    assert d.won_revenue == pytest.approx(5000 + 3000 * 1.08 + 7000 + 2000, abs=0.005)
    assert d.won_revenue == pytest.approx(won.usd.sum(), abs=0.005)
    assert d.open_value == pytest.approx(open_.usd.sum(), abs=0.005)
    assert d.open_weighted == pytest.approx((open_.usd * open_.p).sum(), abs=0.005)
    assert d.open_weighted == pytest.approx(10000 * .5 + 8000 * 1.08 * .9 + 2500 * 1.27 * .1 + 4000 * .2 + 6000 * .5 + 1200 * .75, abs=0.005)
    assert d.win_rate == pytest.approx(4 / 6)
    assert d.avg_deal_size == pytest.approx(won.usd.sum() / 4, abs=0.005)
    cycle = ((won.closed - won.created).dt.days).mean()
    assert d.sales_cycle_days == pytest.approx(cycle)
    assert d.velocity_per_day == pytest.approx(len(open_) * (4 / 6) * (won.usd.sum() / 4) / cycle)
    assert (d.won_period, d.won_previous) == (7000.0, 5000.0)  # closed in March / February 2026
    assert (d.new_leads, d.new_leads_previous) == (4, 3)
    assert d.conversion_rate == pytest.approx(1 / 4) and d.conversion_rate_previous == pytest.approx(1 / 3)
    assert d.tasks_overdue == 2  # T-00001 and T-00005; done tasks and future ones do not count
    assert d.apart == {}


def test_pipeline_by_stage_and_owner_count_value_weight_age_and_stalled():
    p = compute(full(), NOW).pipeline
    df = deals_frame()
    open_ = df[df.status == "open"].copy()
    open_["stage"] = open_.fold.map({s["stage"].lower(): s["stage"] for s in STAGES})
    open_["age"] = (pd.Timestamp(NOW).normalize() - open_.created) / pd.Timedelta(days=1)  # whole days
    assert [g.key for g in p.by_stage] == ["Prospecting", "Qualification", "Proposal", "Negotiation"]
    for g in p.by_stage:
        sel = open_[open_.stage == g.key]
        assert (g.count, g.value, g.weighted) == (len(sel), pytest.approx(sel.usd.sum(), abs=0.005), pytest.approx((sel.usd * sel.p).sum(), abs=0.005))
        assert g.avg_age_days == pytest.approx(sel.age.mean())
    owners = {g.key: g for g in p.by_owner}
    assert set(owners) == {"Ann", "Bob", ""}
    assert owners["Bob"].count == 2 and owners["Bob"].value == pytest.approx(8000 * 1.08 + 4000, abs=0.005)
    # D-5: close date 43 days ago (> 30 in Settings). D-4: in Qualification (stalled after 21 days), created
    # 23 days ago and never touched. D-3's only activity predates its creation: 14 quiet days, not stalled.
    assert sorted(s.id for s in p.stalled) == ["D-00004", "D-00005"] and p.stalled_count == 2
    assert p.total.count == 6 and p.total.value == pytest.approx(open_.usd.sum(), abs=0.005)


def test_forecast_weighted_historical_and_trend_by_close_month():
    f = compute(full(), NOW).forecast
    df = deals_frame()
    open_ = df[df.status == "open"]
    assert [m.key for m in f.months] == ["2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08"]
    by_month = open_.groupby(open_.close_date.dt.strftime("%Y-%m"))
    for m in f.months:
        if m.key in by_month.groups:
            sel = by_month.get_group(m.key)
            assert m.count == len(sel) and m.weighted == pytest.approx((sel.usd * sel.p).sum(), abs=0.005)
        else:
            assert (m.count, m.value, m.weighted) == (0, 0.0, 0.0)
    assert (f.overdue.count, f.later.count, f.no_close_date.count) == (1, 1, 1)
    assert f.no_close_date.value == 4000.0 and f.no_close_date.weighted == pytest.approx(800.0)
    # Nobody has 5 closed deals: every open deal gets the team's win rate, 4 won of 6 closed.
    assert f.team_win_rate == pytest.approx(4 / 6) and f.owner_win_rates == {}
    assert f.months[0].historical == pytest.approx(10000 * 4 / 6, abs=0.005)
    # Trend: least squares over won revenue of April 2025 .. February 2026 (12 full months before March).
    hist = dict(f.history)
    assert list(hist) == [f"{y}-{m:02d}" for y, m in [(2025, m) for m in range(3, 13)] + [(2026, 1), (2026, 2)]]
    assert hist["2025-04"] == 2000.0 and hist["2025-11"] == pytest.approx(3240.0) and hist["2026-02"] == 5000.0
    y = np.array(list(hist.values()))
    slope, intercept = np.polyfit(np.arange(12), y, 1)
    assert f.trend_slope == pytest.approx(slope)
    assert f.months[2].trend == pytest.approx(max(0, intercept + slope * 14), abs=0.005)


def test_leads_funnel_sources_grades_and_time_to_first_contact():
    ld = compute(full(), NOW).leads
    df = pd.DataFrame(LEADS)
    assert ld.total == 8
    assert dict(ld.funnel) == {"new": 2, "contacted": 1, "qualified": 1, "unqualified": 1, "converted": 3}
    src = {s.source: s for s in ld.by_source}
    assert (src["web_form"].leads, src["web_form"].converted, src["web_form"].rate) == (3, 1, pytest.approx(1 / 3))
    assert (src["referral"].leads, src["referral"].rate) == (2, 1.0)
    assert src[""].leads == 1  # a lead without a source is still counted
    assert dict(ld.grades) == {"A": 2, "B": 2, "C": 1, "D": 2, "": 1}
    assert dict(ld.scores) == {"< 0": 1, "0–19": 1, "20–44": 1, "45–69": 2, "70+": 2, "": 1}
    acts = pd.DataFrame(ACTIVITIES).dropna(subset=["lead"])
    first = pd.to_datetime(acts.date).groupby(acts.lead).min()
    created = pd.to_datetime(df.set_index("id").created)
    # An activity logged before the lead was created (typed in late) counts as contact on day 0.
    waits = ((first - created[first.index]) / pd.Timedelta(days=1)).clip(lower=0)
    assert ld.contacted == 4
    assert ld.first_contact_avg_days == pytest.approx(waits.mean()) and ld.first_contact_median_days == pytest.approx(waits.median())


def test_customers_lifetime_value_frequency_and_churn():
    cu = compute(full(), NOW).customers
    by = {c.account: c for c in cu.top}
    # Refunded orders do not count; a pending one does.
    assert by["A-00001"].orders == 2 and by["A-00001"].lifetime_value == pytest.approx(1000 + 500 * 1.08, abs=0.005)
    assert by["A-00001"].avg_order_value == pytest.approx((1000 + 540) / 2)
    assert by["A-00001"].days_between_orders == pytest.approx((pd.Timestamp("2026-02-01") - pd.Timestamp("2025-12-01")).days)
    assert by["A-00001"].last_order == date(2026, 2, 1) and by["A-00001"].status == "active"
    assert by["A-00002"].status == "at_risk"  # last order June 2025: 6-12 months ago
    assert by["A-00003"].status == "churned" and by["A-00003"].lifetime_value == pytest.approx(300 * 1.27 + 700, abs=0.005)
    assert (cu.customers, cu.orders, cu.active, cu.at_risk, cu.churned) == (4, 6, 2, 1, 1)
    revenue = 1000 + 540 + 2000 + 381 + 700 + 900
    assert cu.revenue == pytest.approx(revenue, abs=0.005) and cu.avg_lifetime_value == pytest.approx(revenue / 4)
    assert cu.avg_order_value == pytest.approx(revenue / 6) and cu.orders_per_customer == pytest.approx(1.5)
    assert [c.account for c in cu.watch] == ["A-00002", "A-00003"]


def test_campaign_members_replies_leads_won_revenue_cost_and_roi():
    cp = {r.id: r for r in compute(full(), NOW).campaigns.rows}
    r = cp["CP-00001"]
    assert (r.members, r.replies, r.leads, r.won_deals) == (4, 3, 2, 2)
    assert r.revenue == pytest.approx(5000 + 3000 * 1.08, abs=0.005) and r.cost == 1500.0
    assert r.cost_per_lead == 750.0 and r.acquisition_cost == 750.0
    assert r.roi == pytest.approx((8240 - 1500) / 1500)
    # Zero cost or no won deal: the ratios are blank, never a division error.
    assert cp["CP-00002"].roi is None and cp["CP-00002"].acquisition_cost is None and cp["CP-00002"].cost_per_lead == 0.0
    assert cp["CP-00003"].cost_per_lead is None and cp["CP-00003"].members == 0


def test_activity_counts_by_owner_and_type_over_the_last_7_and_30_days():
    a = compute(full(), NOW).activity
    acts = pd.DataFrame(ACTIVITIES).assign(date=lambda d: pd.to_datetime(d.date))
    in30 = acts[(acts.date > pd.Timestamp(NOW) - pd.Timedelta(days=30)) & (acts.date <= pd.Timestamp(NOW))]
    in7 = acts[(acts.date > pd.Timestamp(NOW) - pd.Timedelta(days=7)) & (acts.date <= pd.Timestamp(NOW))]
    assert (a.total.last_30, a.total.last_7) == (len(in30), len(in7)) == (6, 2)
    by_type = {r.key: r for r in a.by_type}
    assert by_type["email"].last_30 == 2 and by_type["meeting"].last_30 == 2 and by_type["meeting"].last_7 == 1
    owners = {r.key: r for r in a.by_owner}
    assert owners["Ann"].by_type_30 == {"call": 1, "email": 1, "meeting": 1, "chat": 0, "note": 0, "form": 0}
    assert owners["Bob"].last_7 == 2


def test_geography_groups_countries_however_they_are_typed():
    g = compute(full(), NOW).geography
    countries = {p.country: p for p in g.by_country}
    assert countries["FR"].customers == 2 and countries["FR"].revenue == pytest.approx(1540 + 2000, abs=0.005)
    assert countries["US"].customers == 1 and countries["US"].revenue == pytest.approx(1081, abs=0.005)  # has orders
    assert countries["DE"].revenue == 900.0
    assert {(p.country, p.city) for p in g.by_city} == {("FR", "Paris"), ("FR", "Lyon"), ("US", "Austin"), ("DE", "Berlin")}


def test_nps_is_promoters_minus_detractors_over_responses():
    s = compute(full(), NOW).satisfaction
    scores = pd.Series([c["nps"] for c in CONTACTS]).dropna()
    expected = ((scores >= 9).mean() - (scores <= 6).mean()) * 100
    assert s.responses == 8 and (s.promoters, s.passives, s.detractors) == (3, 2, 3)
    assert s.nps == pytest.approx(round(expected, 1))
    assert dict(s.distribution)[10] == 2


# ---------------------------------------------------------------------------------------------- edge cases

def tiles(sheet):
    """KPI tiles of a sheet: caption -> the value cell under it."""
    out = {}
    for r, row in enumerate(sheet.rows):
        for c, cell in enumerate(row):
            if isinstance(cell, Cell) and cell.style == "kpi_label" and r + 1 < len(sheet.rows) and c < len(sheet.rows[r + 1]):
                out[cell.value] = sheet.rows[r + 1][c]
    return out


def all_cells(result):
    for sheet in result.changes.sheets:
        for row in sheet.rows:
            for cell in row:
                yield sheet, cell


def test_no_deals_no_leads_gives_dashes_and_zeros_never_errors():
    t = make_tables(stages=STAGES)
    result = report(t, now=NOW)
    d = compute(t, NOW).dashboard
    assert (d.won_revenue, d.open_value, d.open_deals) == (0.0, 0.0, 0)
    assert d.win_rate is d.avg_deal_size is d.sales_cycle_days is d.velocity_per_day is d.conversion_rate is None
    assert [s.key for s in result.changes.sheets] == REPORT_SHEETS
    for sheet, cell in all_cells(result):
        value = cell.value if isinstance(cell, Cell) else cell
        assert not (isinstance(value, float) and (value != value or value in (float("inf"), float("-inf")))), sheet.key
        assert not (isinstance(value, str) and "#DIV" in value)
    shown = tiles(result.changes.sheets[0])
    assert shown["Win rate"] == shown["Average deal size"] == shown["Pipeline velocity / day"] == Cell(DASH, "muted")


def test_one_stage_pipeline_has_no_win_rate_and_one_board_column():
    stages = [{"id": "row2", "stage": "Open", "order": 1, "probability": 0.3, "won": False, "lost": False}]
    deals = [D(1, "Open", 100.0, close="2026-03-20"), D(2, "Open", 50.0)]
    fig = compute(make_tables(stages=stages, deals=deals), NOW)
    assert fig.dashboard.win_rate is None and fig.dashboard.open_weighted == pytest.approx(45.0)
    assert [c.stage for c in fig.board] == ["Open"] and fig.board[0].count == 2
    assert fig.forecast.team_win_rate is None and fig.forecast.months[0].historical is None
    assert fig.forecast.no_close_date.count == 1 and fig.forecast.no_close_date.value == 50.0


def test_amounts_in_a_currency_without_a_rate_are_listed_apart_not_summed():
    deals = [D(1, "Closed won", 1000.0, "USD", closed="2026-03-01"), D(2, "Closed won", 500.0, "JPY", closed="2026-03-02"),
             D(3, "Proposal", 200.0, "CHF", close="2026-04-01"), D(4, "Proposal", 100.0, "EUR", close="2026-04-01")]
    t = make_tables(stages=STAGES, deals=deals, settings={"exchange_rates": "EUR=1.08"})
    result = report(t, now=NOW)
    fig = compute(t, NOW)
    assert fig.dashboard.won_revenue == 1000.0 and fig.dashboard.open_value == pytest.approx(108.0)
    assert fig.dashboard.apart == {"CHF": 200.0, "JPY": 500.0} and fig.pipeline.apart == {"CHF": 200.0}
    assert {f.value for f in result.findings if f.type == "missing-exchange-rate"} == {"CHF", "JPY"}
    notes = [c.value for s, c in all_cells(result) if s.key == "dashboard" and isinstance(c, Cell) and c.style == "muted"]
    assert any("200 CHF" in n and "500 JPY" in n for n in notes)


def test_mixed_currencies_convert_with_the_rate_table_into_the_settings_currency():
    deals = [D(1, "Closed won", 100.0, "EUR", closed="2026-03-01"), D(2, "Closed won", 100.0, "USD", closed="2026-03-01")]
    fig = compute(make_tables(stages=STAGES, deals=deals, settings={"currency": "EUR", "exchange_rates": "USD=0.9; GBP=1,17"}), NOW)
    assert fig.currency == "EUR" and fig.dashboard.won_revenue == pytest.approx(190.0) and fig.rates == {"USD": 0.9, "GBP": 1.17}


def test_exchange_rates_are_read_leniently_and_bad_entries_reported():
    assert parse_rates("EUR=1.08, GBP=1.27") == ({"EUR": 1.08, "GBP": 1.27}, [])
    assert parse_rates("eur: 1,08; chf=1.1") == ({"EUR": 1.08, "CHF": 1.1}, [])
    assert parse_rates("EUR=abc, GBP=1.2") == ({"GBP": 1.2}, ["EUR=abc"])
    assert parse_rates(None) == ({}, [])


def test_quarter_period_compares_this_quarter_with_the_last():
    d = compute(full(settings={"report_period": "quarter"}), NOW).dashboard
    assert (d.new_leads, d.new_leads_previous) == (7, 1)  # Q1 2026 vs Q4 2025
    assert d.won_period == 12000.0 and d.won_previous == pytest.approx(3240.0)


# ---------------------------------------------------------------------------------------------- sheets

def test_report_replaces_every_owned_sheet_with_names_from_the_schema_in_french():
    result = report(full(lang="fr"), now=NOW)
    assert result.job == "report" and result.findings == []
    names = {s.key: s.name for s in result.changes.sheets}
    assert [s.key for s in result.changes.sheets] == REPORT_SHEETS
    assert names == {k: SCHEMA.owned_sheet(k).sheet_name("fr") for k in REPORT_SHEETS}
    assert all(SCHEMA.owned_sheet(k).job == "report" for k in REPORT_SHEETS)
    dash = result.changes.sheets[0]
    assert dash.rows[0][0] == Cell("Tableau de bord", "title")
    assert dash.rows[1][0].value == "mars 2026 · devise USD · généré le 2026-03-15 09:00"
    assert tiles(dash)["Taux de gain"] == Cell(2 / 3, "kpi_percent")


def _cell_at(sheet, ref):
    col = ord(ref[0]) - 65
    row = int(ref[1:]) - 1
    return sheet.rows[row][col] if row < len(sheet.rows) and col < len(sheet.rows[row]) else None


def test_every_chart_draws_numbers_from_its_own_sheet():
    result = report(full(), now=NOW)
    charts = 0
    for sheet in result.changes.sheets:
        for chart in sheet.charts:
            charts += 1
            assert chart.kind in ("bar", "column", "line", "pie")
            for s in chart.series:
                first, last = s.values.split(":")
                assert first[0] == last[0] and "!" not in s.values
                values = [_cell_at(sheet, f"{first[0]}{r}") for r in range(int(first[1:]), int(last[1:]) + 1)]
                assert all(isinstance(v, Cell) and (isinstance(v.value, (int, float)) or v.value == DASH) for v in values), (sheet.key, chart.title)
                cats = _cell_at(sheet, s.categories.split(":")[0])
                assert isinstance(cats, Cell) and cats.value not in (None, "")
    assert charts >= 12
    dash = result.changes.sheets[0]
    assert {c.kind for c in dash.charts} == {"column", "line", "pie"}


def test_dashboard_tiles_show_money_in_the_report_currency():
    dash = report(full(), now=NOW).changes.sheets[0]
    shown = tiles(dash)
    assert shown["Won revenue"] == Cell(17240.0, "kpi_money", currency="USD")
    assert shown["Win rate"].style == "kpi_percent" and shown["Win rate"].value == pytest.approx(2 / 3)
    assert shown["Tasks overdue"] == Cell(2, "kpi_value")
    assert dash.widths[0] >= 20 and dash.freeze == (2, 0)


def test_board_has_one_column_per_open_stage_with_a_card_per_open_deal():
    board = next(s for s in report(full(), now=NOW).changes.sheets if s.key == "board")
    assert [c.value for c in board.rows[3]] == ["Prospecting", "Qualification", "Proposal", "Negotiation"]
    proposal = [r[2].value for r in board.rows[5:] if len(r) > 2 and r[2] is not None]
    assert proposal == ["Deal 5\n6,000 USD\nAcme\n(unassigned) · 2026-01-31", "Deal 1\n10,000 USD\nAcme\nAnn · 2026-03-28"]
    assert all(r[2].style == "card" for r in board.rows[5:7])


def test_calendar_shows_tasks_by_due_date_and_meetings_in_a_month_grid():
    cal = next(s for s in report(full(), now=NOW).changes.sheets if s.key == "calendar")
    texts = {c.value.split("\n")[0]: c for r in cal.rows[6:12] for c in r if isinstance(c, Cell) and c.style in ("wrap", "card", "warn")}
    assert "• Task: Call back (Bob)" in texts["20"].value and "• 14:00 Meeting: Review (Ann)" in texts["20"].value
    assert "• (!) Task: Send quote (Ann)" in texts["10"].value  # overdue
    assert texts["15 · today"].style == "card"
    assert cal.rows[5][0] == Cell("Monday", "header")
    april = [c.value for r in cal.rows for c in r if isinstance(c, Cell) and isinstance(c.value, str) and c.value.startswith("15\n")]
    assert any("Renewal" in v for v in april)


@pytest.mark.slow
def test_libreoffice_renders_the_refreshed_dashboard_with_its_charts(tmp_path):
    """A real LibreOffice opens the workbook the store wrote and prints the dashboard, charts included."""
    import shutil
    import subprocess

    if not shutil.which("soffice") or not shutil.which("pdftoppm"):
        pytest.skip("LibreOffice and poppler-utils are needed")
    from crm_sheets.builder import build_workbook
    from crm_sheets.store.xlsx import XlsxStore

    t = full()
    path = build_workbook(tmp_path / "crm.xlsx", "sales", data={n: tb.df for n, tb in t.tables.items() if tb.schema.kind == "data"}, now=NOW)
    store = XlsxStore(path)
    tables = store.read()
    store.apply(report(tables, now=NOW).changes, tables)
    subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{tmp_path}/profile",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)], check=True, capture_output=True, timeout=300)
    pdf = tmp_path / "crm.pdf"
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split("\f")
    page = next(i for i, p in enumerate(pages, start=1) if p.lstrip().startswith("Dashboard"))
    text = pages[page - 1]
    for seen in ("17,240.00 USD", "66.7%", "Open pipeline by stage", "Won revenue by month", "Negotiation"):
        assert seen in text
    subprocess.run(["pdftoppm", "-f", str(page), "-l", str(page), "-r", "50", str(pdf), str(tmp_path / "dash")], check=True)
    ppm = next(tmp_path.glob("dash*.ppm")).read_bytes()  # binary P6: header, then RGB bytes
    _magic, _w, _h, _max, pixels = ppm.split(maxsplit=4)
    # The second series of the column charts is red; nothing else on the dashboard is.
    red = sum(1 for i in range(0, len(pixels) - 2, 3) if pixels[i] > 150 and pixels[i + 1] < 110 and pixels[i + 2] < 110)
    assert red > 300, "no chart bars on the dashboard page"


def test_board_cards_name_each_deals_account_by_its_id_and_keep_an_unknown_or_blank_reference_as_typed():
    accounts = [{"id": "A-00001", "name": " Acme "}, {"id": "A-00002", "name": None}, {"id": "A-00003", "name": "Brio"}]
    deals = [D(1, "Proposal", 100.0, account="A-00001"), D(2, "Proposal", 90.0, account="A-00002"),
             D(3, "Proposal", 80.0, account="A-00404"), D(4, "Proposal", 70.0, account=None),
             D(5, "Proposal", 60.0, account="A-00003")]
    t = make_tables(stages=STAGES, deals=deals, accounts=accounts)
    [proposal] = [c for c in compute(t, NOW).board if c.stage == "Proposal"]
    assert [(line.id, line.account) for line in proposal.cards] == [
        ("D-00001", "Acme"), ("D-00002", ""), ("D-00003", "A-00404"), ("D-00004", ""), ("D-00005", "Brio")]
