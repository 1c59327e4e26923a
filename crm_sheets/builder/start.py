"""The Start sheet as data: what the workbook is, one linked line per sheet, how to run the jobs,
what the colours mean. A pure function of the layout, so it can be regenerated the same way later.
"""
from __future__ import annotations

from datetime import datetime

from crm_sheets.builder.highlights import row_rules
from crm_sheets.builder.layout import Plan
from crm_sheets.builder.texts import text
from crm_sheets.model.sheets import Cell, SheetSpec
from crm_sheets.model.tables import quote_sheet

_LEGEND = (
    ("header", "legend_header"),
    ("header_required", "legend_required"),
    ("header_owned", "legend_owned"),
    ("overdue", "legend_overdue"),
    ("hot", "legend_hot"),
    ("stalled", "legend_stalled"),
    ("opted_out", "legend_opted_out"),
)


def highlight_kinds(plan: Plan) -> set[str]:
    """The highlight colours this workbook uses (so the legend lists only those)."""
    return {kind for tp in plan.tables.values() for kind, _ in row_rules(plan, tp)}


def start_sheet_spec(plan: Plan, *, file_name: str, now: datetime) -> SheetSpec:
    schema, lang = plan.schema, plan.lang
    rows: list[list] = [
        [Cell(schema.title.get(lang) or schema.title["en"], "title")],
        [Cell(text("subtitle", lang, template=schema.name, version=schema.version, created=now.date().isoformat()), "subtitle")],
        [],
    ]
    about = schema.description.get(lang) or schema.description.get("en")
    if about:
        rows += [[Cell(text("about", lang), "label"), Cell(about, "wrap")], []]

    rows.append(_section(text("sheets", lang)))
    for name in plan.order:
        tp = plan.tables[name]
        rows.append([Cell(tp.sheet, "link", link=f"{quote_sheet(tp.sheet)}!A1"), Cell(tp.schema.help(lang), "wrap")])
    rows.append([Cell(plan.lists_sheet, "link", link=f"{quote_sheet(plan.lists_sheet)}!A1"), Cell(text("lists_help", lang), "wrap")])
    reports = [s.sheet_name(lang) for key, s in schema.owned_sheets.items() if key not in ("start", "lists")]
    if reports:
        rows.append([Cell(text("reports", lang), "label"), Cell(text("reports_help", lang, names=", ".join(reports)), "wrap")])
    rows.append([])

    rules = [plan.tables[n].sheet for n in plan.order if plan.tables[n].schema.kind == "rules"]
    audit = next((plan.tables[n].sheet for n in plan.order if plan.tables[n].schema.kind == "log"), "Audit Log")
    team = plan.tables["team"].sheet if "team" in plan.tables else None
    rows.append(_section(text("how", lang)))
    if team:
        rows.append([Cell(text("step_team", lang), "label"), Cell(text("step_team_text", lang, team=team), "wrap")])
    rows.append([Cell(text("step_data", lang), "label"), Cell(text("step_data_text", lang), "wrap")])
    if rules:
        rows.append([Cell(text("step_rules", lang), "label"), Cell(text("step_rules_text", lang, rules=", ".join(rules)), "wrap")])
    rows.append([Cell(text("step_run", lang), "label"), Cell(text("step_run_text", lang, file=file_name), "wrap")])
    rows.append([Cell(text("step_button", lang), "label"), Cell(text("step_button_text", lang, file=file_name, audit=audit), "wrap")])
    rows.append([])

    kinds = highlight_kinds(plan) | {"header"}
    fields = [f for t in schema.tables.values() for f in t.fields]
    if any(f.required for f in fields):
        kinds.add("header_required")
    if any(f.owned_by_job for f in fields):
        kinds.add("header_owned")
    rows.append(_section(text("colours", lang)))
    for style, key in _LEGEND:
        if style in kinds:
            rows.append([Cell(text(key, lang), style), Cell(text(key + "_text", lang), "wrap")])
    rows.append([])
    rows.append([Cell(text("language", lang), "label"), Cell(text("language_text", lang), "wrap")])
    rows.append([Cell(text("privacy", lang), "label"), Cell(text("privacy_text", lang), "wrap")])
    return SheetSpec(
        name=plan.start_sheet,
        key="start",
        rows=rows,
        widths={0: 24, 1: 92},
        tab_color="ED7D31",
        landscape=False,
    )


def _section(title: str) -> list[Cell]:
    return [Cell(title, "section"), Cell(None, "section")]
