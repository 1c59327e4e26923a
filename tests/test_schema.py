"""The schema loader: every template loads, and every mistake in a schema gets a message naming file and field."""
import copy

import pytest
import yaml

from crm_sheets.errors import SchemaError, UsageError
from crm_sheets.model.schema import (
    FIELD_TYPES,
    TEMPLATES_DIR,
    available_templates,
    load_schema,
    normalize_header,
    parse_schema,
)


def _raw(name="sales"):
    return yaml.safe_load((TEMPLATES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", available_templates())
def test_every_template_loads_with_french_titles_everywhere(name):
    schema = load_schema(name)
    assert schema.data_tables(), "a template has data tables"
    for t in schema.tables.values():
        assert "fr" in t.title, f"{name}.{t.name} has no French sheet name"
        for f in t.fields:
            assert "fr" in f.title or f.type == "id", f"{name}.{t.name}.{f.name} has no French header"
    for lst in schema.lists.values():
        assert lst.options, f"{name}: list {lst.name} is empty"


def test_sales_template_has_the_tables_a_b2b_team_expects():
    schema = load_schema("sales")
    expected = {
        "accounts", "contacts", "leads", "deals", "activities", "tasks", "campaigns", "campaign_members",
        "products", "orders", "team", "stages", "scoring_rules", "assignment_rules", "automations",
        "email_templates", "settings", "fields",
    }
    assert expected <= set(schema.tables)
    for t in schema.data_tables():
        assert t.fields[0].type == "id" and t.id_prefix, f"{t.name}: the first column is the record ID"
    assert {fk.fields for fk in schema.table("deals").foreign_keys} >= {"account", "contact"}
    assert schema.table("leads").field("score").owned_by_job == "automate"
    used_types = {f.type for t in schema.tables.values() for f in t.fields}
    assert set(FIELD_TYPES) <= used_types, f"types never used by the sales template: {set(FIELD_TYPES) - used_types}"


def test_unknown_template_lists_the_valid_ones():
    with pytest.raises(UsageError) as err:
        load_schema("nonexistent")
    assert "sales" in str(err.value) and "nonexistent" in str(err.value)


def test_find_table_by_sheet_name_in_either_language():
    schema = load_schema("sales")
    assert schema.find_table("Prospects").name == "leads"
    assert schema.find_table("campaign members").name == "campaign_members"
    assert schema.find_table("Étapes").name == "stages"


def test_dropdown_labels_in_any_language_map_to_one_key():
    lookup = load_schema("sales").lists["lead_status"].lookup()
    assert lookup[normalize_header("Qualifié")] == lookup[normalize_header("QUALIFIED")] == "qualified"


def _error(raw) -> str:
    with pytest.raises(SchemaError) as err:
        parse_schema(raw, source="bad.yaml")
    return str(err.value)


def _field(raw, table, field):
    t = next(t for t in raw["tables"] if t["name"] == table)
    return next(f for f in t["fields"] if f["name"] == field)


def test_unknown_type_names_file_table_field_and_valid_types():
    raw = _raw()
    _field(raw, "leads", "email")["type"] = "emial"
    msg = _error(raw)
    assert "bad.yaml" in msg and "'leads'" in msg and "'email'" in msg and "'emial'" in msg and "phone" in msg


@pytest.mark.slow
def test_dangling_reference_is_refused():
    raw = _raw()
    _field(raw, "deals", "account")["reference"] = "companies"
    msg = _error(raw)
    assert "'deals'" in msg and "'account'" in msg and "'companies'" in msg


def test_duplicate_column_is_refused():
    raw = _raw()
    leads = next(t for t in raw["tables"] if t["name"] == "leads")
    leads["fields"].append(copy.deepcopy(leads["fields"][1]))
    msg = _error(raw)
    assert "duplicate column" in msg and "'first_name'" in msg


def test_two_fields_with_the_same_header_are_refused():
    raw = _raw()
    _field(raw, "leads", "city")["title"] = {"en": "Country", "fr": "Ville"}
    msg = _error(raw)
    assert "'Country'" in msg and "'country'" in msg


def test_dropdown_with_a_missing_list_is_refused():
    raw = _raw()
    _field(raw, "leads", "status")["list"] = "statuses"
    msg = _error(raw)
    assert "'statuses'" in msg and "lead_status" in msg


@pytest.mark.slow
def test_bad_id_prefix_and_missing_id_column_are_refused():
    raw = _raw()
    next(t for t in raw["tables"] if t["name"] == "leads")["id_prefix"] = "lead"
    assert "id_prefix" in _error(raw)
    raw = _raw()
    leads = next(t for t in raw["tables"] if t["name"] == "leads")
    leads["fields"] = leads["fields"][1:]
    assert "first field" in _error(raw)


def test_sheet_name_excel_would_refuse_is_reported():
    raw = _raw()
    next(t for t in raw["tables"] if t["name"] == "leads")["title"] = {"en": "Leads/Prospects", "fr": "Prospects"}
    assert "not allowed in Excel" in _error(raw)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ntables:\n  - {name: a, fields: [\n", encoding="utf-8")
    with pytest.raises(SchemaError) as err:
        load_schema(path)
    assert "broken.yaml:" in str(err.value)


def test_a_section_written_twice_is_refused_not_silently_dropped(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("name: x\nowned_sheets:\n  start: {}\nlists: {}\nowned_sheets:\n  runs: {}\n", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"twice.yaml:5: section 'owned_sheets' again \(first at line 2\)"):
        load_schema(path)


def test_bad_pattern_is_reported():
    raw = _raw()
    _field(raw, "leads", "email")["pattern"] = "([a-z"
    assert "regular expression" in _error(raw)


def test_symbol_options_keep_their_own_keys():
    lookup = load_schema("sales").lists["rule_operator"].lookup()
    assert lookup[">"] == "greater_than" and lookup["<"] == "less_than"
