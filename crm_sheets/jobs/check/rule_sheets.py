"""Rule sheets and Settings: a rule on an unknown field, with an operator that does not exist or a value its
operator cannot use is a 'bad-rule' error now, instead of a crash (or a rule that never fires) later.
"""
from __future__ import annotations

import re
from typing import Any


from crm_sheets.jobs.check.common import Collector, quote, show
from crm_sheets.jobs.check.options import closest, list_choices
from crm_sheets.model import Table
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import country_code, fold, is_currency
from crm_sheets.model.schema import TableSchema
from crm_sheets.model.values import cell_text, fold_option, is_blank, is_missing, option_lookup, parse_number

# Which table each rule sheet's rows apply to, when the sheet has no Table column.
RULE_TABLE = {"scoring_rules": "leads"}
_NUMERIC_OPS = {"greater_than", "less_than"}
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w ]*?)\s*(!=|<>|>=|<=|=|>|<|\bin\b|\bcontains\b)", re.IGNORECASE)


def _find_field(schema: TableSchema, name: str):
    """The field a rule names by its key or any of its headers/aliases (rules are typed by people)."""
    from crm_sheets.model.schema import normalize_header

    key = normalize_header(name)
    for f in schema.fields:
        if key in f.names():
            return f
    return None


def _rows(table: Table):
    df = table.df
    cols = list(df.columns)
    for rid, values in zip(df.index, df.itertuples(index=False, name=None)):
        yield rid, dict(zip(cols, values))


def check_rules(out: Collector) -> None:
    tables = out.ctx.tables
    for name in ("scoring_rules", "assignment_rules", "automations"):
        t = tables.get(name)
        if t is not None:
            _check_rule_rows(out, t)
    if tables.get("stages") is not None:
        _check_stages(out, tables["stages"])
    if tables.get("sequence_steps") is not None:
        _check_sequence_steps(out, tables["sequence_steps"])
    check_settings(out)


def _target(out: Collector, table: Table, row: dict) -> TableSchema | None:
    name = RULE_TABLE.get(table.name) or cell_text(row.get("table"), strip=True)
    schema = out.ctx.tables.schema
    return schema.tables.get(name) or (schema.find_table(name) if name else None)


def _check_rule_rows(out: Collector, table: Table) -> None:
    ops_list = out.ctx.tables.list("rule_operator") if "rule_operator" in out.ctx.tables.schema.lists else None
    ops = set(ops_list.keys()) if ops_list else set()
    for rid, row in _rows(table):
        target = _target(out, table, row)
        if target is None:
            continue  # no or unknown table: the Table column's own check reports it
        tname = target.sheet_name(out.ctx.lang)
        field_name = cell_text(row.get("field"), strip=True) if "field" in row else None
        op = cell_text(row.get("operator"), strip=True) if "operator" in row else None
        f = None
        if field_name:
            f = _find_field(target, field_name)
            if f is None:
                guess = closest(field_name, {fold(x.name): x.name for x in target.fields})
                todo = f'use "{guess}"' if guess else f"use a column of {tname} ({', '.join(x.name for x in target.fields[1:7])}, ...)"
                out.add("bad-rule", "error", table, rid, "field", field_name, f"{quote(field_name)} is not a column of {tname}", todo)
        if op is not None and ops:
            if op and op not in ops:
                exact, fuzzy = list_choices(ops_list)
                key = exact.get(fold_option(op))
                if key is not None:
                    label = ops_list.options[[o.key for o in ops_list.options].index(key)].label(out.ctx.lang)
                    out.add("option-spelling", "warning", table, rid, "operator", op, f"{quote(op)} is spelt differently from the operator {quote(label)}", f'check --fix writes "{label}"', fix=key, fixable=True)
                    op = key
                else:
                    labels = ", ".join(ops_list.labels(out.ctx.lang))
                    out.add("bad-rule", "error", table, rid, "operator", op, f"{quote(op)} is not an operator", f"use one of {labels}")
                    op = None
            if field_name and not op and table.name == "assignment_rules":
                out.add("bad-rule", "error", table, rid, "operator", None, f"the rule names the column {field_name} but has no operator", "choose an operator, or clear Field for a rule that takes every remaining row")
            if op and not field_name and table.name == "assignment_rules":
                out.add("bad-rule", "error", table, rid, "field", None, f"the rule has the operator {op} but no column", "choose the column the rule looks at")
            if f is not None and op:
                _check_rule_value(out, table, rid, f, op, row.get("value"))
        if table.name == "assignment_rules":
            _check_people(out, table, rid, "assign_to", row.get("assign_to"), target, allow_fields=False)
        if table.name == "automations":
            _check_automation(out, table, rid, row, target)


def _check_rule_value(out: Collector, table: Table, rid: Any, f, op: str, raw: Any) -> None:
    value = cell_text(raw, strip=True)
    if op in ("is_empty", "is_not_empty"):
        return
    if not value:
        out.add("bad-rule", "error", table, rid, "value", None, f"the operator {op} needs a value", "fill in Value")
        return
    if op in _NUMERIC_OPS or op == "between" or op == "within_days":
        parts = [p for p in re.split(r"\s*(?:,|;|\band\b|\bet\b|-(?=\s*\d))\s*", value) if p] if op == "between" else [value]
        numbers = [parse_number(p) for p in parts]
        if field_type(f.type).temporal and op != "within_days":
            return  # dates compare as dates: the automate job reads them
        if any(n is None for n in numbers) or (op == "between" and len(numbers) != 2) or (op == "within_days" and (numbers[0] is None or not float(numbers[0]).is_integer())):
            need = "two numbers such as 10, 50" if op == "between" else "a whole number of days" if op == "within_days" else "a number"
            out.add("bad-rule", "error", table, rid, "value", value, f"{quote(value)} is not {need}", f"the operator {op} compares with {need}")
        return
    if field_type(f.type).options and f.list and op in ("equals", "not_equals", "in"):
        lst = out.ctx.tables.list(f.list)
        exact, _ = list_choices(lst)
        parts = [p for p in re.split(r"\s*[,;]\s*", value) if p] if op == "in" else [value]
        unknown = [p for p in parts if fold_option(p) not in exact]
        if unknown:
            names = ", ".join(f'"{u}"' for u in unknown)
            out.add("bad-rule", "warning", table, rid, "value", value, f"{names} {'is' if len(unknown) == 1 else 'are'} not in the {lst.label(out.ctx.lang)} list, so the rule never matches {'it' if len(unknown) == 1 else 'them'}", "use the list's options")


def _check_people(out: Collector, table: Table, rid: Any, field_name: str, raw: Any, target: TableSchema, *, allow_fields: bool) -> None:
    value = cell_text(raw, strip=True)
    team = out.ctx.tables.get("team")
    if not value or team is None or "name" not in team.df.columns:
        return
    names = {fold(str(n)): str(n) for n in team.df["name"].dropna()}
    people = [p for p in re.split(r"\s*[,;]\s*", value) if p]
    for person in people:
        if fold(person) in names:
            continue
        if allow_fields:
            f = _find_field(target, person)
            if f is not None and field_type(f.type).links_to == "member":
                continue
        sheet = team.sheet or team.schema.sheet_name(out.ctx.lang)
        guess = closest(person, names, cutoff=80)
        todo = f'use "{guess}"' if guess else f"use names from the {sheet} sheet" + (" or a user column such as owner" if allow_fields else "")
        # A new workbook's example rules name people before anyone is in Team: a warning, not an error.
        severity = "error" if len(team.df) else "warning"
        out.add("bad-rule", severity, table, rid, field_name, value, f"{quote(person)} is not a name in {sheet}", todo)


def _check_automation(out: Collector, table: Table, rid: Any, row: dict, target: TableSchema) -> None:
    tname = target.sheet_name(out.ctx.lang)
    trigger = cell_text(row.get("trigger"), strip=True)
    trigger_field = cell_text(row.get("trigger_field"), strip=True)
    if trigger in ("field_changed", "date_reached") and not trigger_field:
        out.add("bad-rule", "error", table, rid, "trigger_field", None, f"the trigger {trigger} needs the column to watch", f"fill in Trigger field with a column of {tname}")
    elif trigger_field and _find_field(target, trigger_field) is None:
        out.add("bad-rule", "error", table, rid, "trigger_field", trigger_field, f"{quote(trigger_field)} is not a column of {tname}", f"use a column of {tname}")
    if trigger == "no_activity" and is_missing(row.get("days")):
        out.add("bad-rule", "error", table, rid, "days", None, "the trigger no_activity needs a number of days", "fill in Days")
    condition = cell_text(row.get("condition"), strip=True)
    m = _CONDITION.match(condition) if condition else None
    if m and _find_field(target, m.group(1)) is None:
        out.add("bad-rule", "error", table, rid, "condition", condition, f"{quote(m.group(1).strip())} is not a column of {tname}", f"write the condition on a column of {tname}, e.g. consent = TRUE")
    action = cell_text(row.get("action"), strip=True)
    templates = out.ctx.tables.get("email_templates")
    template = cell_text(row.get("template"), strip=True)
    if action == "send_email" and templates is not None and "key" in templates.df.columns:
        keys = {str(k).strip() for k in templates.df["key"].dropna()}
        if template not in keys:
            sheet = templates.sheet or templates.schema.sheet_name(out.ctx.lang)
            what = f"{quote(template)} is not a template of {sheet}" if template else "the action send_email needs a template"
            out.add("bad-rule", "error", table, rid, "template", template or None, what, f"use one of {', '.join(sorted(keys)) or 'the templates'}")
    _check_people(out, table, rid, "assign_to", row.get("assign_to"), target, allow_fields=True)


def _check_stages(out: Collector, stages: Table) -> None:
    df = stages.df
    for flag in ("won", "lost"):
        if flag not in df.columns:
            continue
        n = int(df[flag].fillna(False).astype(bool).sum())
        if n != 1 and len(df):
            header = stages.schema.field(flag).header(out.ctx.lang)
            out.add("bad-rule", "error", stages, None, flag, n, f"{n} stages are ticked {header}", f"tick {header} on exactly one stage")
    if "won" in df.columns and "lost" in df.columns:
        both = (df["won"].fillna(False).astype(bool) & df["lost"].fillna(False).astype(bool)).to_numpy()
        for rid in df.index[both]:
            out.add("bad-rule", "error", stages, rid, "lost", True, "the stage is ticked both won and lost", "untick one of them")


# Settings whose value must have a given form, and how to say it.
_SETTING_FORMS = {
    "default_country": (lambda v: country_code(v) is not None, "a country code such as US or FR"),
    "currency": (is_currency, "a currency code such as USD or EUR"),
    "locale": (lambda v: re.match(r"^[a-zA-Z]{2}([-_][a-zA-Z]{2})?$", v) is not None, "a locale such as en-US, en-GB or fr-FR"),
}


def _check_sequence_steps(out: Collector, steps: Table) -> None:
    """Each step's email template is in Email Templates, and its campaign is a campaign (by ID or name) or one an
    Add to campaign automation creates on first use; else automate skips the whole sequence."""
    tables = out.ctx.tables
    templates, campaigns, autos = tables.get("email_templates"), tables.get("campaigns"), tables.get("automations")
    keys = ({fold(str(k)): str(k).strip() for k in templates.df["key"].dropna() if str(k).strip()}
            if templates is not None and "key" in templates.df.columns else None)
    names = None
    if campaigns is not None:
        names = {fold(str(i)): str(i) for i in campaigns.df.index}
        if "name" in campaigns.df.columns:
            names.update({fold(str(n)): str(n).strip() for n in campaigns.df["name"].dropna() if str(n).strip()})
        if autos is not None and {"action", "template"} <= set(autos.df.columns):
            actions = option_lookup(tables.list("automation_action")) if "automation_action" in tables.schema.lists else {}
            names.update({fold(cell_text(t, strip=True)): cell_text(t, strip=True) for a, t in zip(autos.df["action"], autos.df["template"])
                          if actions.get(fold_option(cell_text(a, strip=True)), cell_text(a, strip=True)) == "add_to_campaign" and cell_text(t, strip=True)})
    for rid, row in _rows(steps):
        template, campaign = cell_text(row.get("template"), strip=True), cell_text(row.get("campaign"), strip=True)
        if not template and not campaign:
            continue
        if keys is not None and fold(template) not in keys:
            sheet = templates.sheet or templates.schema.sheet_name(out.ctx.lang)
            guess = closest(template, keys) if template else None
            what = f"{quote(template)} is not a template of {sheet}" if template else "the step names no email template"
            out.add("bad-rule", "error", steps, rid, "template", template or None, what,
                    f'use "{guess}"' if guess else f"use one of {', '.join(sorted(keys.values())) or 'the templates'}")
        if names is not None and fold(campaign) not in names:
            sheet = campaigns.sheet or campaigns.schema.sheet_name(out.ctx.lang)
            guess = closest(campaign, names) if campaign else None
            what = f"{quote(campaign)} is not a campaign of {sheet}" if campaign else "the step names no campaign"
            out.add("bad-rule", "error", steps, rid, "campaign", campaign or None, what,
                    f'use "{guess}"' if guess else f"write a campaign's name or ID, or add the campaign to {sheet}")


def check_settings(out: Collector) -> None:
    tables = out.ctx.tables
    t = tables.get("settings")
    if t is None:
        return  # settings come from the template's defaults: nothing a person typed
    for s in tables.schema.settings:
        raw = tables.settings.get(s.key)
        if is_blank(raw):
            continue
        ok, need = _SETTING_FORMS.get(s.key, (None, None))
        if ok is None and field_type(s.type).numeric and not (field_type(s.type).percent or field_type(s.type).per_currency):
            ok, need = (lambda v: parse_number(v) is not None), "a number"
        if ok is None or ok(show(raw)):
            continue
        rid, field = _setting_row(t, s.key)
        out.add("bad-setting", "error", t, rid, field, raw, f"the setting {s.key} is {quote(raw)}, not {need}", f"write {need}")


def _setting_row(t: Table | None, key: str) -> tuple[Any, str | None]:
    if t is None or "setting" not in t.df.columns:
        return None, None
    hit = t.df.index[(t.df["setting"].astype(str).str.strip() == key).to_numpy()]
    return (hit[0], "value") if len(hit) else (None, None)
