"""What matching returns and is tuned by: a pair of records that look like one (MatchPair) and the thresholds
and evidence of Settings (MatchSettings); the evidence names and the cap on what colleagues share.
"""
from __future__ import annotations

from dataclasses import dataclass

from crm_sheets.model import Tables

PEOPLE = ("leads", "contacts", "people")  # people: the personal template's one table of persons
EVIDENCE = ("email", "phone", "name", "company", "domain", "city")
SUPPORT_CAP = 4.0


@dataclass(frozen=True, slots=True)  # slots: a first run pairs ~40,000 records at 100k leads
class MatchPair:
    """Two records that look like one; ``reasons`` says which fields agreed or disagreed, and how."""

    table_a: str
    id_a: str
    table_b: str
    id_b: str
    score: float
    reasons: tuple[str, ...] = ()

    @property
    def key(self) -> frozenset[str]:
        return frozenset((self.id_a, self.id_b))

    @property
    def cross(self) -> bool:
        return self.table_a != self.table_b

    def explain(self) -> str:
        return f"score {self.score:.2f}: " + "; ".join(self.reasons)


@dataclass(frozen=True)
class MatchSettings:
    auto: float = 0.92
    review: float = 0.75
    region: str = "US"
    evidence: frozenset[str] = frozenset(EVIDENCE)

    @classmethod
    def from_tables(cls, tables: Tables) -> "MatchSettings":
        def number(key: str, default: float) -> float:
            try:
                return float(tables.setting(key, default))
            except (TypeError, ValueError):
                return default

        raw = str(tables.setting("dedupe_match_on", "") or "")
        chosen = frozenset(w.strip().lower() for w in raw.replace(";", ",").split(",") if w.strip())
        return cls(
            auto=number("dedupe_auto_threshold", cls.auto),
            review=number("dedupe_review_threshold", cls.review),
            region=str(tables.setting("default_country", "US") or "US").strip().upper()[:2],
            evidence=(chosen & frozenset(EVIDENCE)) or frozenset(EVIDENCE),
        )
