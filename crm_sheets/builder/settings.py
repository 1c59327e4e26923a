"""The Settings sheet's rows: Setting | Value | Description from the schema, values overridden by any
``settings`` data given, and a validation on each value cell that fits the setting's type.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from crm_sheets.builder.layout import Plan, column_index
from crm_sheets.builder.validation import add_validation, bounds_rule
from crm_sheets.builder.texts import text
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.schema import Constraints, Field, Schema


def settings_rows(schema: Schema, lang: str, data: pd.DataFrame | None = None) -> list[tuple[str, Any, str]]:
    """(key, value, description) per setting, the template's order first, then keys only the data has."""
    given: dict[str, Any] = {}
    if data is not None and len(data):
        keys = data["setting"] if "setting" in data.columns else pd.Series(data.index, index=data.index)
        values = data["value"] if "value" in data.columns else pd.Series(None, index=data.index)
        given = {str(k): v for k, v in zip(keys.tolist(), values.tolist()) if k is not None and str(k).strip()}
    rows = []
    for s in schema.settings:
        value = given.pop(s.key, s.value)
        rows.append((s.key, value, s.help(lang)))
    rows += [(k, v, "") for k, v in given.items()]
    return rows


def setting_value(rows: list[tuple[str, Any, str]], key: str) -> Any:
    return next((v for k, v, _ in rows if k == key), None)


def validate_setting_values(worksheet: Any, plan: Plan) -> None:
    """Per-row validation of the Value column: TRUE/FALSE for ticks, numbers for numeric settings."""
    st = plan.tables.get("settings")
    if st is None or "value" not in st.columns:
        return
    col = column_index(st.columns["value"])
    for s in plan.schema.settings:
        row = plan.setting_rows.get(s.key)
        if row is None:
            continue
        ftype = field_type(s.type)
        if ftype.boolean:
            rule = {"validate": "list", "source": ["TRUE", "FALSE"], "error_type": "warning",
                    "error_message": text("err.checkbox", plan.lang)}
        elif ftype.numeric:
            rule = bounds_rule(Field(s.key, s.type, {"en": s.key}, constraints=Constraints()), plan.lang)
            rule["error_type"] = "warning"
        else:
            continue
        rule["error_title"] = s.key[:32]
        add_validation(worksheet, row - 1, col, row - 1, col, rule)

