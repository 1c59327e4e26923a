"""The kinds of batchUpdate Request the Google Sheets store sends, and the API methods it calls: one list, so
that a new kind is a decision (tests check the code sends no other, that the local emulator implements each
one, and that each is valid against the Sheets v4 discovery document)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

REQUEST_KINDS = frozenset({
    # sheets and their grids
    "addSheet", "deleteSheet", "updateSheetProperties", "appendDimension", "insertDimension", "deleteDimension",
    "updateDimensionProperties",
    # cells: values (typed, never parsed), formats, merges
    "updateCells", "appendCells", "repeatCell", "mergeCells",
    # rules, filters, charts
    "setDataValidation", "addConditionalFormatRule", "setBasicFilter", "addChart",
    # names, protection (warning-only), our marks
    "addNamedRange", "updateNamedRange", "addProtectedRange", "deleteProtectedRange",
    "createDeveloperMetadata", "deleteDeveloperMetadata",
})
METHODS = frozenset({
    "sheets.spreadsheets.get", "sheets.spreadsheets.getByDataFilter", "sheets.spreadsheets.batchUpdate",
    "sheets.spreadsheets.values.batchGet", "sheets.spreadsheets.create",
})


def undeclared(requests: Sequence[Mapping[str, Any]]) -> list[str]:
    """The kinds among ``requests`` that are not in REQUEST_KINDS (a bug in crm-sheets, never the data's)."""
    return sorted({kind for r in requests for kind in r if kind not in REQUEST_KINDS})
