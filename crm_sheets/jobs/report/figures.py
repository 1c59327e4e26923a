"""The report's numbers as plain data: one dataclass per report, all money in the report currency.

`None` means "no value" (a zero denominator, no data) and is shown as '—'. `apart` maps a currency
that has no exchange rate to the amount left out of the totals, so nothing is ever summed raw.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Dashboard:
    won_revenue: float
    won_deals: int
    open_deals: int
    open_value: float
    open_weighted: float
    win_rate: float | None  # won / (won + lost)
    avg_deal_size: float | None  # won revenue / won deals with an amount
    sales_cycle_days: float | None  # mean days created -> closed of won deals
    velocity_per_day: float | None  # open deals x win rate x average deal size / cycle length
    won_period: float
    won_previous: float
    new_leads: int
    new_leads_previous: int
    conversion_rate: float | None  # share of the period's new leads now converted
    conversion_rate_previous: float | None
    tasks_overdue: int
    apart: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    """One row of a pipeline breakdown (a stage or an owner)."""

    key: str
    count: int
    value: float
    weighted: float
    avg_age_days: float | None
    stalled: int


@dataclass(frozen=True)
class DealLine:
    id: str
    name: str
    stage: str
    owner: str
    account: str
    amount: float | None  # in the deal's own currency
    currency: str
    close_date: date | None
    days: int | None = None  # stalled: days since the close date or the last activity


@dataclass(frozen=True)
class Pipeline:
    by_stage: list[Group]
    by_owner: list[Group]
    total: Group
    stalled: list[DealLine]  # the largest stalled deals
    stalled_count: int
    stalled_days: int  # the Settings threshold used
    apart: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ForecastRow:
    key: str  # 'YYYY-MM', or 'overdue', 'later', 'no_close_date'
    count: int
    value: float
    weighted: float  # by the deal's probability or its stage's
    historical: float | None  # by the owner's historical win rate
    trend: float | None = None  # linear trend of won revenue (months only)


@dataclass(frozen=True)
class Forecast:
    months: list[ForecastRow]
    overdue: ForecastRow
    later: ForecastRow
    no_close_date: ForecastRow
    history: list[tuple[str, float]]  # the last 12 full months of won revenue
    trend_slope: float | None  # per month
    trend_intercept: float | None
    team_win_rate: float | None
    owner_win_rates: dict[str, float]  # owners with enough closed deals
    min_closed_for_owner_rate: int
    apart: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceRow:
    source: str
    leads: int
    converted: int
    rate: float | None


@dataclass(frozen=True)
class Leads:
    total: int
    funnel: list[tuple[str, int]]  # status key -> leads, in list order
    by_source: list[SourceRow]
    grades: list[tuple[str, int]]
    scores: list[tuple[str, int]]  # score band -> leads
    contacted: int  # leads with at least one activity
    first_contact_avg_days: float | None
    first_contact_median_days: float | None


@dataclass(frozen=True)
class Customer:
    account: str  # account ID
    name: str
    orders: int
    lifetime_value: float
    avg_order_value: float | None
    first_order: date | None
    last_order: date | None
    days_between_orders: float | None
    status: str  # active | at_risk | churned


@dataclass(frozen=True)
class Customers:
    customers: int
    orders: int
    revenue: float
    avg_lifetime_value: float | None
    avg_order_value: float | None
    orders_per_customer: float | None
    active: int
    at_risk: int  # last order 6 to 12 months ago
    churned: int  # no order in 12 months
    top: list[Customer]
    watch: list[Customer]  # at-risk and churned, by lifetime value
    apart: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignRow:
    id: str
    name: str
    members: int
    replies: int
    leads: int
    won_deals: int
    revenue: float
    cost: float
    cost_per_lead: float | None
    acquisition_cost: float | None  # cost per won deal
    roi: float | None  # (revenue - cost) / cost


@dataclass(frozen=True)
class Campaigns:
    rows: list[CampaignRow]
    total: CampaignRow
    apart: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ActivityRow:
    key: str  # owner name or activity type
    last_7: int
    last_30: int
    by_type_30: dict[str, int] = field(default_factory=dict)  # owners only


@dataclass(frozen=True)
class Activity:
    types: list[str]
    by_owner: list[ActivityRow]
    by_type: list[ActivityRow]
    total: ActivityRow


@dataclass(frozen=True)
class PlaceRow:
    country: str  # ISO code when recognised, else the text as typed ('' unknown)
    city: str
    customers: int
    revenue: float


@dataclass(frozen=True)
class Geography:
    by_country: list[PlaceRow]
    by_city: list[PlaceRow]
    apart: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Satisfaction:
    has_field: bool
    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None  # -100..100
    distribution: list[tuple[int, int]]  # score 0..10 -> contacts


@dataclass(frozen=True)
class BoardColumn:
    stage: str
    count: int
    value: float
    cards: list[DealLine]  # the first cards, soonest close date first
    more: int  # open deals not shown


@dataclass(frozen=True)
class CalendarItem:
    kind: str  # task | meeting
    day: date
    time: str  # 'HH:MM' for meetings, '' for tasks
    text: str
    owner: str
    overdue: bool = False


@dataclass(frozen=True)
class CalendarMonth:
    year: int
    month: int
    items: list[CalendarItem]


@dataclass(frozen=True)
class ReportFigures:
    now: datetime
    currency: str
    period: str  # month | quarter
    period_start: date
    previous_start: date
    dashboard: Dashboard
    pipeline: Pipeline
    forecast: Forecast
    leads: Leads
    customers: Customers
    campaigns: Campaigns
    activity: Activity
    geography: Geography
    satisfaction: Satisfaction
    board: list[BoardColumn]
    calendar: list[CalendarMonth]
    rates: dict[str, float] = field(default_factory=dict)
    bad_rates: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: dates as ISO text."""
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
