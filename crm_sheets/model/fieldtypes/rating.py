"""The rating type: a whole number of stars from 1 to 5 (a lead's quality, an account's satisfaction).

Read from 4, "4", "4/5", "4 / 5" or "★★★★" / "★★★★☆"; 0, 6, 3.5 or "five" are not ratings and are
reported (invalid-rating). Shown as "4 ★", validated as a whole number from 1 to 5, typed in a form as
a number from 1 to 5.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from crm_sheets.model.fieldtypes.base import register
from crm_sheets.model.fieldtypes.builtin import NumberType

LOWEST, HIGHEST = 1, 5
_OUT_OF = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*/\s*5\s*$")  # 4/5
_STARS = re.compile(r"^\s*([★*]+)\s*([☆]*)\s*$")  # ★★★★ or ★★★★☆ (* as typed on a keyboard)


@register
class Rating(NumberType):
    name = "rating"
    dtype = "Int64"
    whole = True
    width = 10
    align = "center"
    kind = f"a rating from {LOWEST} to {HIGHEST}"
    how = f"type a whole number from {LOWEST} to {HIGHEST} (4, 4/5 or ★★★★)"
    noun = {"en": f"rating from {LOWEST} to {HIGHEST}", "fr": f"note de {LOWEST} à {HIGHEST}"}
    input_step = "1"
    input_min, input_max = LOWEST, HIGHEST
    help = {"en": f"A rating from {LOWEST} (poor) to {HIGHEST} (excellent): 4, 4/5 or ★★★★.",
            "fr": f"Une note de {LOWEST} (faible) à {HIGHEST} (excellent) : 4, 4/5 ou ★★★★."}

    def parse(self, field: Any, raw: Any, ctx: Any, options: Any) -> Any:
        if isinstance(raw, str):
            m = _STARS.match(raw)
            if m:
                if m.group(2) and len(m.group(1)) + len(m.group(2)) != HIGHEST:
                    return None  # ★★☆ is not out of 5
                return _rating(float(len(m.group(1))))
            m = _OUT_OF.match(raw)
            if m:
                raw = m.group(1)
        value = super().parse(field, raw, ctx, options)
        return _rating(value)

    def refuse_native(self, values: np.ndarray, native: np.ndarray) -> np.ndarray | None:
        v = np.nan_to_num(values, nan=LOWEST)
        return native & ((np.mod(v, 1) != 0) | (v < LOWEST) | (v > HIGHEST))

    def number_format(self, currency: str | None = None, lang: str = "en") -> str | None:
        return '0 "★"'

    def sheets_number_format(self) -> tuple[str, str] | None:
        return ("NUMBER", '0 "★"')

    def validation(self, field: Any) -> dict[str, Any] | None:
        return {"kind": "whole", "minimum": LOWEST, "maximum": HIGHEST}

    def to_text(self, value: Any, lang: str = "en") -> str:
        if isinstance(value, (int, float, np.integer)) and not isinstance(value, bool):
            return f"{int(value)}/{HIGHEST}"
        return super().to_text(value, lang)

    def samples(self, ctx: Any, n: int, field: Any, blank: Any) -> Any:
        """Mostly 3 to 5 stars: people rate the ones they know, and kindly."""
        stars = ctx.rng.choice(np.arange(LOWEST, HIGHEST + 1), size=n, p=[0.05, 0.1, 0.25, 0.35, 0.25])
        return [None if b else int(x) for b, x in zip(blank, stars)]

def _rating(value: float | None) -> int | None:
    if value is None or not float(value).is_integer() or not LOWEST <= value <= HIGHEST:
        return None  # 3.5 stars or 6 stars are not rounded or clipped into a rating
    return int(value)
