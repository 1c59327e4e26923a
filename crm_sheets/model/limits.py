"""What one spreadsheet cell can hold: Excel keeps at most 32,767 characters of text per cell.

Shared by the check job (which reports people's cells over it) and the store (which never writes one).
"""
from __future__ import annotations

from typing import Any

MAX_CELL_CHARS = 32_767


def cell_length(text: str) -> int:
    """A text's length as Excel counts it (UTF-16 code units: an emoji counts two)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def too_long(value: Any) -> bool:
    """Text over what a cell holds (cheap for the usual short value)."""
    return isinstance(value, str) and len(value) * 2 > MAX_CELL_CHARS and cell_length(value) > MAX_CELL_CHARS
