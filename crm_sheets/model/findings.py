"""Findings: problems found in the data, returned as values (never raised), with where and what to do."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEVERITIES = ("error", "warning", "info")


# slots: no dict per finding (a first check at 100k leads holds ~170,000 of them)
@dataclass(frozen=True, slots=True)
class Finding:
    type: str  # stable slug, e.g. "invalid-email", "required", "unknown-reference"
    severity: str  # error | warning | info
    table: str
    record_id: str | None
    field: str | None
    value: Any
    message: str  # says where, what was found and what to do
    cell: str | None = None  # A1 address, e.g. "Leads!F12"
    fix: Any = None  # the suggested value, when there is one
    fixable: bool = False  # `check --fix` may apply `fix` safely

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "severity": self.severity,
            "table": self.table,
            "record_id": self.record_id,
            "field": self.field,
            "value": _plain(self.value),
            "message": self.message,
            "cell": self.cell,
            "fix": _plain(self.fix),
            "fixable": self.fixable,
        }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
