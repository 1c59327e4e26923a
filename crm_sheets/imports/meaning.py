"""Other CRMs' picklist values that plainly mean one of ours (Proposal/Price Quote is our Proposal, Online
Form our Web form, Closed Won our Closed won), and source values as our typed values: booleans written
0/1 or true/false, ISO datetimes with an offset brought into the team's time zone, headcounts as a size.
A value with no obvious meaning is not guessed: it joins the workbook's own list.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone, tzinfo
from typing import Any

from crm_sheets.model.schema import normalize_header

# list name -> folded source value -> our option key
LISTS: dict[str, dict[str, str]] = {
    "lead_status": {
        "open - not contacted": "new", "open": "new", "new": "new", "not contacted": "new",
        "working - contacted": "contacted", "working": "contacted", "contacted": "contacted",
        "attempted to contact": "contacted", "connected": "contacted", "in progress": "contacted",
        "qualified": "qualified", "open deal": "qualified", "sales qualified lead": "qualified",
        "closed - converted": "converted", "converted": "converted",
        "closed - not converted": "unqualified", "unqualified": "unqualified", "not qualified": "unqualified",
    },
    "lead_source": {
        "web": "web_form", "website": "web_form", "web site": "web_form", "online form": "web_form",
        "web form": "web_form", "form": "web_form", "contact form": "web_form",
        "partner": "partner", "partner referral": "partner", "channel partner": "partner",
        "referral": "referral", "referrals": "referral", "employee referral": "referral",
        "external referral": "referral", "customer referral": "referral", "word of mouth": "referral",
        "event": "event", "trade show": "event", "tradeshow": "event", "conference": "event", "seminar": "event",
        "seminar - internal": "event", "seminar - partner": "event", "webinar": "event",
        "cold call": "cold_call", "cold calling": "cold_call", "outbound call": "cold_call",
        "advertisement": "advertising", "advertising": "advertising", "ads": "advertising",
        "paid search": "advertising", "paid social": "advertising",
        "linkedin": "linkedin", "linked in": "linkedin",
        "import": "import", "imported": "import",
    },
    "industry": {
        "software": "software", "computer software": "software", "information technology and services": "software",
        "manufacturing": "manufacturing", "retail": "retail", "healthcare": "healthcare", "health care": "healthcare",
        "hospital & health care": "healthcare", "finance": "finance", "financial services": "finance",
        "banking": "finance", "insurance": "finance", "education": "education", "education management": "education",
        "consulting": "consulting", "management consulting": "consulting", "construction": "construction",
        "hospitality": "hospitality", "not for profit": "nonprofit", "nonprofit": "nonprofit", "non-profit": "nonprofit",
        "nonprofit organization management": "nonprofit", "other": "other",
    },
    "account_type": {
        "prospect": "prospect", "customer": "customer", "customer - direct": "customer",
        "customer - channel": "customer", "partner": "partner", "channel partner / reseller": "partner",
        "technology partner": "partner", "reseller": "partner", "former customer": "former_customer",
    },
    "deal_type": {
        "new business": "new_business", "newbusiness": "new_business", "new customer": "new_business",
        "upsell": "upsell", "existing customer - upgrade": "upsell", "renewal": "renewal",
        "existing customer - renewal": "renewal",
    },
}

# folded source stage -> meaning: "won", "lost", or our template stage (English label)
STAGES: dict[str, str] = {
    "closed won": "won", "closedwon": "won", "won": "won", "closed - won": "won",
    "closed lost": "lost", "closedlost": "lost", "lost": "lost", "closed - lost": "lost",
    "prospecting": "Prospecting", "prospect": "Prospecting", "lead in": "Prospecting", "new": "Prospecting",
    "qualification": "Qualification", "qualified": "Qualification", "qualified to buy": "Qualification",
    "qualifiedtobuy": "Qualification",
    "proposal/price quote": "Proposal", "proposal/quote": "Proposal", "proposal": "Proposal", "quote": "Proposal",
    "proposal made": "Proposal", "proposal sent": "Proposal", "price quote": "Proposal",
    "negotiation/review": "Negotiation", "negotiation": "Negotiation", "negotiations started": "Negotiation",
    "in negotiation": "Negotiation", "contract sent": "Negotiation",
}

_TRUE = {"1", "true", "yes", "y", "x", "checked", "on", "oui", "ja", "sí", "si", "vrai", "wahr"}
_FALSE = {"0", "false", "no", "n", "off", "unchecked", "non", "nein", "faux", "falsch"}
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}:?\d{2})?$", re.I)
_SIZES = ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000"))


def _keyed(words: dict[str, str]) -> dict[str, str]:
    return {normalize_header(k): v for k, v in words.items()}


_LISTS = {name: _keyed(words) for name, words in LISTS.items()}
_STAGES = _keyed(STAGES)


def meaning(list_name: str, value: str) -> str | None:
    return _LISTS.get(list_name, {}).get(normalize_header(value))


def stage_meaning(value: str) -> str | None:
    return _STAGES.get(normalize_header(value))


def boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().casefold()
    return True if text in _TRUE else False if text in _FALSE else None


def iso_datetime(text: str, tz: tzinfo | None) -> datetime | None:
    """An ISO date-time as the team reads it: one with an offset (2024-03-05T14:22:10.000+0000, Z) is
    converted into ``tz`` (naive, as a workbook holds it); one without is kept as written."""
    m = _ISO.match(text.strip())
    if not m:
        return None
    off = m.group(3)
    stamp = f"{m.group(1)}T{m.group(2)}"
    if off:
        off = "+00:00" if off.upper() == "Z" else off if ":" in off else f"{off[:3]}:{off[3:]}"
    try:
        value = datetime.fromisoformat(stamp + (off or ""))
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(tz or datetime.now(timezone.utc).astimezone().tzinfo).replace(tzinfo=None)
    return value.replace(microsecond=0)


def as_date_value(value: datetime) -> date | datetime:
    """A date column keeps a date-time's time when it has one (Salesforce's CreatedDate), a plain date else."""
    return value.date() if (value.hour, value.minute, value.second) == (0, 0, 0) else value


def company_size(employees: float) -> str:
    for top, label in _SIZES:
        if employees <= top:
            return label
    return "1000+"
