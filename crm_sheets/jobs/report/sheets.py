"""Report figures -> SheetSpecs: a title, a subtitle with period, currency and run time, then KPI tiles,
headed tables and native charts anchored beside the data they draw. Texts come from labels.py.
"""
from __future__ import annotations

import calendar as cal
from dataclasses import dataclass
from datetime import date, timedelta

from crm_sheets.jobs.report import labels
from crm_sheets.jobs.report.figures import Customer, DealLine, Group, ReportFigures
from crm_sheets.jobs.report.layout import Block, Canvas
from crm_sheets.model.stamp import STAMP
from crm_sheets.model import Cell, SheetSpec, Tables

CHART_COL_GAP = 1  # empty columns between a table and its chart
CHART_ROWS = 15
DASH_CHART_ROWS = 13  # four of them and the tiles fit one landscape page
ITEMS_PER_DAY = 6


@dataclass(frozen=True)
class Ctx:
    fig: ReportFigures
    tables: Tables
    lang: str

    def t(self, key: str, **kw) -> str:
        return labels.text(key, self.lang, **kw)

    @property
    def cur(self) -> str:
        return self.fig.currency

    def sheet_name(self, key: str) -> str:
        return self.tables.schema.owned_sheet(key).sheet_name(self.lang)

    def canvas(self, key: str, with_period: bool = True) -> Canvas:
        c = Canvas(self.sheet_name(key), key)
        now = STAMP  # the time the sheet's content last changed: filled in by report() (see __init__.py)
        if with_period:
            period = labels.period_label(self.lang, self.fig.period, self.fig.period_start)
            sub = self.t("subtitle", period=period, currency=self.cur, now=now)
        else:
            sub = self.t("subtitle_short", currency=self.cur, now=now)
        c.heading(self.sheet_name(key), sub)
        return c

    def notes(self, c: Canvas, row: int, apart: dict[str, float]) -> int:
        """Money left out of the totals and unreadable rates, said plainly under the subtitle."""
        if apart:
            amounts = ", ".join(labels.money(self.lang, v, k) for k, v in apart.items())
            row = c.note(row, 0, self.t("apart", amounts=amounts))
        if self.fig.bad_rates:
            row = c.note(row, 0, self.t("bad_rates", items="; ".join(self.fig.bad_rates)))
        return row

    def owner(self, name: str) -> str:
        return name or self.t("unassigned")

    def opt(self, list_name: str, key: str) -> str:
        return labels.option(self.tables, list_name, key, self.lang)


def _after(block: Block, chart_end: int) -> int:
    """The first row of the next section: under both the table and its chart, one row apart."""
    return max(block.end_row + 1, chart_end) + 1


# ---------------------------------------------------------------------------------------------- dashboard

def dashboard_sheet(x: Ctx) -> SheetSpec:
    d, f = x.fig.dashboard, x.fig
    c = x.canvas("dashboard")
    period = x.t(f.period)
    prev_conv = "—" if d.conversion_rate_previous is None else f"{d.conversion_rate_previous:.1%}"
    tiles = [
        ("won_revenue", d.won_revenue, "kpi_money", x.t("won_deals_n", n=d.won_deals)),
        (x.t("won_period", period=period), d.won_period, "kpi_money", x.t("vs", period=period, value=labels.money(x.lang, d.won_previous, x.cur))),
        ("open_value", d.open_value, "kpi_money", x.t("open_deals_n", n=d.open_deals)),
        ("open_weighted", d.open_weighted, "kpi_money", x.t("weighted_note")),
        ("win_rate", d.win_rate, "kpi_percent", x.t("closed_n")),
        ("avg_deal_size", d.avg_deal_size, "kpi_money", ""),
        ("sales_cycle", None if d.sales_cycle_days is None else round(d.sales_cycle_days, 1), "kpi_value", x.t("cycle_note")),
        ("velocity", d.velocity_per_day, "kpi_money", x.t("velocity_note")),
        (x.t("new_leads") + f" ({period})", d.new_leads, "kpi_value", x.t("vs", period=period, value=d.new_leads_previous)),
        (x.t("conversion") + f" ({period})", d.conversion_rate, "kpi_percent", x.t("vs", period=period, value=prev_conv)),
        ("tasks_overdue", d.tasks_overdue, "kpi_value", ""),
    ]
    row = x.notes(c, 2, d.apart) + 1
    per_row = 6
    for i, (label, value, style, note) in enumerate(tiles):
        r, col = row + (i // per_row) * 4, i % per_row
        c.put(r, col, x.t(label) if label in labels.TEXT["en"] else label, "kpi_label")
        c.put(r + 1, col, value, style, x.cur)
        c.height(r + 1, 28)
        if note:
            c.put(r + 2, col, note, "muted")
    for col in range(per_row):
        c.width(col, 30)  # a 20-point "12,345,678.00 USD" needs about 30 characters
    row += 4 * ((len(tiles) + per_row - 1) // per_row) + 1
    # Printed, the tiles and a 2 x 2 grid of charts fill the first landscape page (A4 or Letter, fitted to
    # the tiles' width); the small tables the charts read come after, so no page break cuts a chart.
    half = per_row // 2
    charts_at = [(row, 0), (row, half), (row + DASH_CHART_ROWS + 1, 0), (row + DASH_CHART_ROWS + 1, half)]
    row += 2 * (DASH_CHART_ROWS + 1) + 1
    stages, months, history = f.pipeline.by_stage, f.forecast.months, f.forecast.history
    sources = [s for s in f.leads.by_source if s.leads]
    by_stage = c.table(row, 0, x.t("pipeline_by_stage"), [x.t("stage"), x.t("value"), x.t("weighted")],
                       [[g.key, g.value, g.weighted] for g in stages], [None, "money", "money"], x.cur)
    forecast = c.table(row, half, x.t("forecast_6"), [x.t("month_col"), x.t("weighted"), x.t("historical")],
                       [[labels.month_key_label(x.lang, m.key), m.weighted, m.historical] for m in months],
                       [None, "money", "money"], x.cur)
    row = max(by_stage.end_row, forecast.end_row) + 2
    by_month = c.table(row, 0, x.t("by_month"), [x.t("month_col"), x.t("won")],
                       [[labels.month_key_label(x.lang, k), v] for k, v in history], [None, "money"], x.cur)
    by_source = c.table(row, half, x.t("leads_by_source"), [x.t("source"), x.t("leads")],
                        [[x.opt("lead_source", s.source), s.leads] for s in sources], [None, "integer"])
    size = {"width_cols": half, "height_rows": DASH_CHART_ROWS}
    c.chart("column", x.t("pipeline_by_stage"), by_stage, [1, 2], [x.t("value"), x.t("weighted")], charts_at[0], **size)
    c.chart("line", x.t("by_month"), by_month, [1], [x.t("won")], charts_at[1], **size)
    c.chart("column", x.t("forecast_6"), forecast, [1, 2], [x.t("weighted_stage"), x.t("historical")], charts_at[2], **size)
    c.chart("pie", x.t("leads_by_source"), by_source, [1], [x.t("leads")], charts_at[3], **size)
    return c.sheet(freeze=(2, 0), tab_color="1F4E79")


# ---------------------------------------------------------------------------------------------- pipeline

def _group_rows(x: Ctx, groups: list[Group], owner: bool) -> list[list]:
    return [[x.owner(g.key) if owner else g.key, g.count, g.value, g.weighted,
             None if g.avg_age_days is None else round(g.avg_age_days, 1), g.stalled] for g in groups]


def _amount(line: DealLine) -> Cell:
    return Cell("—", "muted") if line.amount is None else Cell(line.amount, "money", currency=line.currency)


def pipeline_sheet(x: Ctx) -> SheetSpec:
    p = x.fig.pipeline
    c = x.canvas("pipeline")
    row = x.notes(c, 2, p.apart)
    row = c.note(row, 0, x.t("stalled_note", days=p.stalled_days)) + 1
    heads = [x.t("deals"), x.t("value"), x.t("weighted"), x.t("avg_age"), x.t("stalled")]
    styles = [None, "integer", "money", "money", "number", "integer"]
    t = p.total
    total = [x.t("total"), t.count, t.value, t.weighted, None if t.avg_age_days is None else round(t.avg_age_days, 1), t.stalled]
    chart_col = 6 + CHART_COL_GAP
    for title, key, groups, owner in ((x.t("by_stage"), "stage", p.by_stage, False), (x.t("by_owner"), "owner", p.by_owner, True)):
        b = c.table(row, 0, title, [x.t(key), *heads], _group_rows(x, groups, owner), styles, x.cur, total)
        end = c.chart("bar", f"{title}: {x.t('value')}", b, [2, 3], [x.t("value"), x.t("weighted")], (row, chart_col),
                      height_rows=max(CHART_ROWS, min(40, len(groups) + 4)))
        row = _after(b, end)
    lines = [[s.name or s.id, s.stage, x.owner(s.owner), s.account, _amount(s), s.close_date, s.days] for s in p.stalled]
    b = c.table(row, 0, x.t("stalled_deals"), [x.t("deal"), x.t("stage"), x.t("owner"), x.t("account"), x.t("amount"),
                x.t("close_date"), x.t("days")], lines, [None, None, None, None, None, "date", "integer"])
    if p.stalled_count > len(p.stalled):
        c.note(b.end_row + 1, 0, x.t("more_rows", n=p.stalled_count - len(p.stalled)))
    for col, w in enumerate((30, 18, 18, 18, 16, 16, 14)):
        c.width(col, w)
    return c.sheet()


# ---------------------------------------------------------------------------------------------- forecast

def forecast_sheet(x: Ctx) -> SheetSpec:
    f = x.fig.forecast
    c = x.canvas("forecast")
    row = x.notes(c, 2, f.apart) + 1
    rows = [[labels.month_key_label(x.lang, m.key), m.count, m.value, m.weighted, m.historical, m.trend] for m in f.months]
    for r in (f.later, f.overdue, f.no_close_date):
        rows.append([x.t(r.key), r.count, r.value, r.weighted, r.historical, None])
    b = c.table(row, 0, None, [x.t("month_col"), x.t("deals"), x.t("pipeline_value"), x.t("weighted_stage"),
                x.t("historical"), x.t("trend")], rows, [None, "integer", "money", "money", "money", "money"], x.cur)
    months = Block(b.header_row, b.first, b.first + len(f.months) - 1, b.col, b.width)
    end = c.chart("column", x.t("forecast_6"), months, [3, 4, 5], [x.t("weighted_stage"), x.t("historical"), x.t("trend")],
                  (row, 6 + CHART_COL_GAP), width_cols=8)
    row = _after(b, end)
    b = c.table(row, 0, x.t("history"), [x.t("month_col"), x.t("won")],
                [[labels.month_key_label(x.lang, k), v] for k, v in f.history], [None, "money"], x.cur)
    end = c.chart("line", x.t("history"), b, [1], [x.t("won")], (row, 6 + CHART_COL_GAP), width_cols=8)
    row = _after(b, end)
    c.put(row, 0, x.t("method"), "header")
    team = "—" if f.team_win_rate is None else f"{f.team_win_rate:.1%}"
    texts = [x.t("method_weighted"), x.t("method_historical", team=team, n=f.min_closed_for_owner_rate)]
    if f.trend_slope is None:
        texts.append(x.t("method_trend_none"))
    else:
        texts.append(x.t("method_trend", first=labels.month_key_label(x.lang, f.history[0][0]),
                         last=labels.month_key_label(x.lang, f.history[-1][0]), slope=labels.money(x.lang, f.trend_slope, x.cur)))
    for i, s in enumerate(texts):
        c.put(row + 1 + i, 0, s, "text")
    for col, w in enumerate((24, 10, 18, 22, 22, 20)):
        c.width(col, w)
    return c.sheet()


# ---------------------------------------------------------------------------------------------- leads

def leads_sheet(x: Ctx) -> SheetSpec:
    ld = x.fig.leads
    c = x.canvas("leads", with_period=False)
    row, col2 = 3, 4 + CHART_COL_GAP
    total = ld.total or None
    b = c.table(row, 0, x.t("funnel"), [x.t("status"), x.t("leads"), x.t("share")],
                [[x.opt("lead_status", k), n, None if total is None else n / total] for k, n in ld.funnel],
                [None, "integer", "percent"], total=[x.t("total"), ld.total, None if total is None else 1.0])
    row = _after(b, c.chart("column", x.t("funnel"), b, [1], [x.t("leads")], (row, col2)))
    b = c.table(row, 0, x.t("by_source"), [x.t("source"), x.t("leads"), x.t("converted"), x.t("conversion_rate")],
                [[x.opt("lead_source", s.source), s.leads, s.converted, s.rate] for s in ld.by_source],
                [None, "integer", "integer", "percent"])
    row = _after(b, c.chart("bar", x.t("by_source"), b, [1, 2], [x.t("leads"), x.t("converted")], (row, col2)))
    b = c.table(row, 0, x.t("grades"), [x.t("grade"), x.t("leads")], ld.grades, [None, "integer"])
    row = _after(b, c.chart("pie", x.t("grades"), b, [1], [x.t("leads")], (row, col2), height_rows=12))
    b = c.table(row, 0, x.t("scores"), [x.t("score"), x.t("leads")],
                [[k or x.t("no_score"), n] for k, n in ld.scores], [None, "integer"])
    row = _after(b, c.chart("column", x.t("scores"), b, [1], [x.t("leads")], (row, col2), height_rows=12))
    b = c.table(row, 0, x.t("first_contact"), [x.t("first_contact"), ""], [
        [x.t("contacted"), ld.contacted], [x.t("not_contacted"), ld.total - ld.contacted],
        [x.t("avg_days"), None if ld.first_contact_avg_days is None else round(ld.first_contact_avg_days, 1)],
        [x.t("median_days"), None if ld.first_contact_median_days is None else round(ld.first_contact_median_days, 1)],
    ], [None, "number"])
    c.note(b.end_row + 1, 0, x.t("first_contact_note"))
    for col, w in enumerate((26, 12, 12, 16)):
        c.width(col, w)
    return c.sheet()


# ---------------------------------------------------------------------------------------------- customers

def _customer_rows(x: Ctx, rows: list[Customer]) -> list[list]:
    return [[r.name, r.orders, r.lifetime_value, r.avg_order_value, r.first_order, r.last_order,
             None if r.days_between_orders is None else round(r.days_between_orders, 1), x.t(f"status_{r.status}")]
            for r in rows]


def customers_sheet(x: Ctx) -> SheetSpec:
    cu = x.fig.customers
    c = x.canvas("customers", with_period=False)
    row = x.notes(c, 2, cu.apart)
    row = c.note(row, 0, x.t("customers_note")) + 1
    summary = [("customers", cu.customers, "integer"), ("orders", cu.orders, "integer"), ("revenue", cu.revenue, "money"),
               ("avg_ltv", cu.avg_lifetime_value, "money"), ("aov", cu.avg_order_value, "money"),
               ("orders_per_customer", cu.orders_per_customer, "number"), ("active", cu.active, "integer"),
               ("at_risk", cu.at_risk, "integer"), ("churned", cu.churned, "integer")]
    for i, (key, value, style) in enumerate(summary):
        c.put(row, i, x.t(key), "kpi_label")
        c.put(row + 1, i, value, {"money": "kpi_money", "integer": "kpi_value", "number": "kpi_value"}[style], x.cur)
    c.height(row + 1, 28)
    row += 3
    heads = [x.t("customer"), x.t("orders"), x.t("ltv"), x.t("aov"), x.t("first_order"), x.t("last_order"),
             x.t("between"), x.t("status")]
    styles = [None, "integer", "money", "money", "date", "date", "number", None]
    b = c.table(row, 0, x.t("top_customers"), heads, _customer_rows(x, cu.top), styles, x.cur)
    row = b.end_row + 2
    c.table(row, 0, x.t("watch"), heads, _customer_rows(x, cu.watch), styles, x.cur)
    for col, w in enumerate((30, 16, 26, 26, 26, 16, 16, 14, 14)):  # money tiles sit in columns C-E
        c.width(col, w)
    return c.sheet()


# ---------------------------------------------------------------------------------------------- campaigns

def campaigns_sheet(x: Ctx) -> SheetSpec:
    cp = x.fig.campaigns
    c = x.canvas("campaigns", with_period=False)
    row = x.notes(c, 2, cp.apart)
    row = c.note(row, 0, x.t("campaigns_note")) + 1

    def cells(r):
        return [r.members, r.replies, r.leads, r.won_deals, r.revenue, r.cost, r.cost_per_lead, r.acquisition_cost, r.roi]

    b = c.table(row, 0, None, [x.t("campaign"), x.t("members"), x.t("replies"), x.t("leads"), x.t("won_deals"),
                x.t("revenue"), x.t("cost"), x.t("cost_per_lead"), x.t("acquisition_cost"), x.t("roi")],
                [[r.name, *cells(r)] for r in cp.rows],
                [None, "integer", "integer", "integer", "integer", "money", "money", "money", "money", "percent"], x.cur,
                total=[x.t("total"), *cells(cp.total)])
    # Campaign tables are wide: the chart goes under the table, not beside it.
    c.chart("bar", f"{x.t('revenue')} / {x.t('cost')}", b, [5, 6], [x.t("revenue"), x.t("cost")], (b.end_row + 2, 0),
            width_cols=6, height_rows=max(CHART_ROWS, min(40, len(cp.rows) + 4)))
    for col, w in enumerate((30, 11, 11, 11, 13, 16, 16, 16, 18, 10)):
        c.width(col, w)
    return c.sheet(freeze=(b.header_row + 1, 1))


# ---------------------------------------------------------------------------------------------- activity

def activity_sheet(x: Ctx) -> SheetSpec:
    a = x.fig.activity
    c = x.canvas("activity", with_period=False)
    row = 3
    b = c.table(row, 0, x.t("by_type"), [x.t("type"), x.t("last_7"), x.t("last_30")],
                [[x.opt("activity_type", r.key), r.last_7, r.last_30] for r in a.by_type], [None, "integer", "integer"],
                total=[x.t("total"), a.total.last_7, a.total.last_30])
    row = _after(b, c.chart("column", x.t("by_type"), b, [1, 2], [x.t("last_7"), x.t("last_30")], (row, 4 + CHART_COL_GAP)))
    heads = [x.t("owner"), *[x.opt("activity_type", k) for k in a.types], x.t("last_30"), x.t("last_7")]
    rows = [[x.owner(r.key), *[r.by_type_30.get(k, 0) for k in a.types], r.last_30, r.last_7] for r in a.by_owner]
    c.table(row, 0, x.t("activity_by_owner"), heads, rows, [None] + ["integer"] * (len(heads) - 1),
            total=[x.t("total"), *[a.total.by_type_30.get(k, 0) for k in a.types], a.total.last_30, a.total.last_7])
    c.width(0, 24)
    for col in range(1, len(heads)):
        c.width(col, 14)
    return c.sheet()


# ---------------------------------------------------------------------------------------------- geography

def _country(x: Ctx, code: str) -> str:
    if not code:
        return x.t("unknown")
    if len(code) == 2 and code.isupper():
        from crm_sheets.model.normalize import country_name

        try:
            return country_name(code, x.lang) or code
        except Exception:  # an unknown code keeps its text; a label is never worth a failed report
            return code
    return code


def geography_sheet(x: Ctx) -> SheetSpec:
    g = x.fig.geography
    c = x.canvas("geography", with_period=False)
    row = x.notes(c, 2, g.apart)
    row = c.note(row, 0, x.t("geo_note")) + 1
    b = c.table(row, 0, x.t("by_country"), [x.t("country"), x.t("customers"), x.t("revenue")],
                [[_country(x, p.country), p.customers, p.revenue] for p in g.by_country], [None, "integer", "money"], x.cur)
    top = Block(b.header_row, b.first, min(b.last, b.first + 9), b.col, b.width)  # the ten largest
    row = _after(b, c.chart("bar", x.t("by_country"), top, [2], [x.t("revenue")], (row, 4 + CHART_COL_GAP)))
    c.table(row, 0, x.t("by_city"), [x.t("country"), x.t("city"), x.t("customers"), x.t("revenue")],
            [[_country(x, p.country), p.city or x.t("unknown"), p.customers, p.revenue] for p in g.by_city],
            [None, None, "integer", "money"], x.cur)
    for col, w in enumerate((26, 20, 12, 18)):
        c.width(col, w)
    return c.sheet()


# ---------------------------------------------------------------------------------------------- satisfaction

def satisfaction_sheet(x: Ctx) -> SheetSpec:
    s = x.fig.satisfaction
    c = x.canvas("satisfaction", with_period=False)
    row = c.note(2, 0, x.t("nps_note") if s.has_field else x.t("no_nps_field")) + 1
    share = (lambda n: None) if not s.responses else (lambda n: n / s.responses)
    c.put(row, 0, x.t("nps"), "kpi_label")
    c.put(row + 1, 0, s.nps, "kpi_value")
    c.put(row, 1, x.t("responses"), "kpi_label")
    c.put(row + 1, 1, s.responses, "kpi_value")
    c.height(row + 1, 28)
    row += 3
    b = c.table(row, 0, None, [x.t("contacts"), x.t("contacts"), x.t("share")], [
        [x.t("promoters"), s.promoters, share(s.promoters)], [x.t("passives"), s.passives, share(s.passives)],
        [x.t("detractors"), s.detractors, share(s.detractors)]], [None, "integer", "percent"])
    row = _after(b, c.chart("pie", x.t("nps"), b, [1], [x.t("contacts")], (row, 4 + CHART_COL_GAP), height_rows=12))
    b = c.table(row, 0, x.t("distribution"), [x.t("score"), x.t("contacts")], [[str(k), n] for k, n in s.distribution],
                [None, "integer"])
    c.chart("column", x.t("distribution"), b, [1], [x.t("contacts")], (row, 4 + CHART_COL_GAP))
    for col, w in enumerate((22, 14, 12)):
        c.width(col, w)
    return c.sheet()


# ---------------------------------------------------------------------------------------------- board

def card_text(x: Ctx, d: DealLine) -> str:
    lines = [d.name or d.id, labels.money(x.lang, d.amount, d.currency)]
    if d.account:
        lines.append(d.account)
    lines.append(" · ".join(v for v in (x.owner(d.owner), d.close_date.isoformat() if d.close_date else "") if v))
    return "\n".join(lines)


def board_sheet(x: Ctx) -> SheetSpec:
    c = x.canvas("board", with_period=False)
    c.note(2, 0, x.t("board_note"))
    for col, column in enumerate(x.fig.board):
        c.put(3, col, column.stage, "header")
        c.put(4, col, x.t("board_head", n=column.count, value=labels.money(x.lang, column.value, x.cur)), "muted")
        for i, card in enumerate(column.cards):
            c.put(5 + i, col, Cell(card_text(x, card), "card"))
            c.fit_lines(5 + i, card_text(x, card))
        if column.more:
            c.put(5 + len(column.cards), col, x.t("more_rows", n=column.more), "muted")
        c.width(col, 32)
    return c.sheet(freeze=(5, 0), tab_color="2E75B6")


# ---------------------------------------------------------------------------------------------- calendar

def day_text(x: Ctx, day: date, items, today: bool = False) -> str:
    lines = [f"{day.day} · {x.t('today')}" if today else str(day.day)]
    for it in items[:ITEMS_PER_DAY]:
        mark = "(!) " if it.overdue else ""  # the warning sign is missing from common print fonts
        when = f"{it.time} " if it.time else ""
        who = f" ({it.owner})" if it.owner else ""
        lines.append(f"• {mark}{when}{x.t(it.kind)}: {it.text}{who}")
    if len(items) > ITEMS_PER_DAY:
        lines.append(x.t("more_rows", n=len(items) - ITEMS_PER_DAY))
    return "\n".join(lines)


def calendar_sheet(x: Ctx) -> SheetSpec:
    c = x.canvas("calendar", with_period=False)
    c.note(2, 0, x.t("calendar_note"))
    today = x.fig.now.date()
    row = 4
    for month in x.fig.calendar:
        c.put(row, 0, labels.month_name(x.lang, month.year, month.month), "kpi_label")
        for i, wd in enumerate(x.t("weekdays")):
            c.put(row + 1, i, wd.capitalize(), "header")
        by_day: dict[date, list] = {}
        for it in month.items:
            by_day.setdefault(it.day, []).append(it)
        first = date(month.year, month.month, 1)
        start = first - timedelta(days=first.weekday())
        weeks = len(cal.monthcalendar(month.year, month.month))
        for w in range(weeks):
            for wd in range(7):
                day = start + timedelta(days=7 * w + wd)
                if day.month != month.month:
                    continue
                items = by_day.get(day, [])
                body = day_text(x, day, items, day == today)
                c.put(row + 2 + w, wd, body, "card" if items or day == today else "wrap")
                c.fit_lines(row + 2 + w, body, minimum=48)
        row += 2 + weeks + 1
    for col in range(7):
        c.width(col, 28)
    return c.sheet(freeze=(3, 0))


SHEETS = (
    ("dashboard", dashboard_sheet), ("pipeline", pipeline_sheet), ("forecast", forecast_sheet), ("leads", leads_sheet),
    ("customers", customers_sheet), ("campaigns", campaigns_sheet), ("activity", activity_sheet),
    ("geography", geography_sheet), ("satisfaction", satisfaction_sheet), ("board", board_sheet),
    ("calendar", calendar_sheet),
)


def build_sheets(fig: ReportFigures, tables: Tables) -> list[SheetSpec]:
    x = Ctx(fig, tables, tables.lang if tables.lang in labels.TEXT else "en")
    return [build(x) for _key, build in SHEETS]
