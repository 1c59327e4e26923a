"""The field-type registry (model/fieldtypes) and the rating type added through it: one file, and the
reader, check, builder, upgrade, web form, sample data and messages all know ratings.
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from crm_sheets.builder import build_workbook
from crm_sheets.errors import SchemaError
from crm_sheets.forms.definitions import FormDef, FormField
from crm_sheets.forms.render import form_html
from crm_sheets.jobs.check import check
from crm_sheets.model.fieldtypes import field_type, known_types
from crm_sheets.model.schema import Field, load_schema, parse_schema
from crm_sheets.model.column_read import parse_column
from crm_sheets.model.values import ReadContext, parse_value
from crm_sheets.store import read_workbook
from crm_sheets.store.xlsx.package import open_package
from crm_sheets.upgrade import upgrade
from helpers import calamine

NOW = datetime(2026, 1, 15, 10, 0)
RATING = Field(name="satisfaction", type="rating", title={"en": "Satisfaction"})
CTX = ReadContext()


def _schema(field_type_name: str) -> dict:
    return {"name": "mini", "tables": [{"name": "things", "id_prefix": "T", "fields": [
        {"name": "id", "type": "id"}, {"name": "stars", "type": field_type_name}]}]}


def test_an_unknown_type_names_the_table_the_field_and_the_known_types():
    with pytest.raises(SchemaError) as err:
        parse_schema(_schema("stars"), source="mini.yaml")
    assert "mini.yaml: table 'things', field 'stars': unknown type 'stars'" in str(err.value)
    assert "rating" in err.value.hint and "money" in err.value.hint


def test_every_type_says_how_it_is_typed_in_english_and_french():
    for name in known_types():
        ftype = field_type(name)
        assert ftype.help.get("en") and ftype.help.get("fr"), name


# -- rating: reading --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, stars", [(4, 4), (4.0, 4), ("4", 4), (" 4/5 ", 4), ("4 / 5", 4), ("★★★★", 4),
                                        ("★★★☆☆", 3), ("*****", 5), (1, 1), (5.0, 5)])
def test_a_rating_is_read_from_a_number_a_fraction_of_five_or_stars(raw, stars):
    assert parse_value(RATING, raw, CTX) == (stars, True)


@pytest.mark.parametrize("raw", [0, 6, 3.5, "3.5", "five", "★★☆", "6/5", -1, True])
def test_what_is_not_a_whole_number_of_stars_from_1_to_5_stays_unread(raw):
    assert parse_value(RATING, raw, CTX) == (raw, False)


def test_the_readers_fast_path_refuses_numbers_outside_the_stars():
    values, bad = parse_column(RATING, [4.0, 0.0, 6.0, 3.5, None, 2.0], CTX)
    assert values.tolist() == [4, pd.NA, pd.NA, pd.NA, pd.NA, 2]
    assert bad == {1: 0.0, 2: 6.0, 3: 3.5}


# -- rating in a workbook: built, read, checked, upgraded ------------------------------------------


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """A sales workbook whose accounts were rated as people do: well, badly, as text, as stars."""
    path = tmp_path_factory.mktemp("rating") / "crm.xlsx"
    ratings = [4, 0, 6, 3.5, "five", "4/5", "★★★★★", None]
    accounts = pd.DataFrame({"name": [f"Acme {i}" for i in range(len(ratings))], "satisfaction": ratings},
                            index=pd.Index([f"A-{i + 1:05d}" for i in range(len(ratings))], name="id"))
    return build_workbook(path, schema="sales", lang="en", data={"accounts": accounts})


def test_a_new_workbook_validates_shows_and_explains_the_rating_column(rated):
    with open_package(rated) as pkg:
        xml = pkg.read(pkg.sheet("Accounts").part).decode("utf-8")
        styles = pkg.read("xl/styles.xml").decode("utf-8")
    rules = re.findall(r'<dataValidation [^>]*type="whole"[^>]*>.*?</dataValidation>', xml)
    assert any("<formula1>1</formula1><formula2>5</formula2>" in r and "from 1 to 5" in r for r in rules)
    assert "from 1 (poor) to 5 (excellent)" in xml  # the header's input message
    assert 'formatCode="0 &quot;★&quot;"' in styles


def test_check_reports_ratings_that_are_not_one_to_five_stars_and_converts_the_ones_typed_as_text(rated):
    tables = read_workbook(rated)
    assert tables["accounts"].df["satisfaction"].tolist()[:1] == [4]
    result = check(tables, now=NOW, fix=True)
    bad = {f.record_id: f for f in result.findings if f.type == "invalid-rating"}
    assert sorted(bad) == ["A-00002", "A-00003", "A-00004", "A-00005"]
    assert '"five" is not a rating from 1 to 5' in bad["A-00005"].message
    assert "type a whole number from 1 to 5" in bad["A-00005"].message
    fixes = {(u.record_id, u.field): u.value for u in result.changes.updates}
    assert fixes[("A-00006", "satisfaction")] == 4 and fixes[("A-00007", "satisfaction")] == 5


def test_upgrade_adds_the_rating_column_to_a_workbook_made_before_the_template_had_it(tmp_path):
    schema = load_schema("sales")
    accounts = schema.tables["accounts"]
    older = replace(schema, tables={**schema.tables, "accounts": replace(
        accounts, fields=tuple(f for f in accounts.fields if f.name != "satisfaction"))})
    path = tmp_path / "old.xlsx"
    build_workbook(path, older, "en")
    assert "Satisfaction" not in calamine(path).get_sheet_by_name("Accounts").to_python()[0]

    report = upgrade(path)
    assert [(c.table, c.field) for c in report.added_columns] == [("accounts", "satisfaction")]
    header = calamine(path).get_sheet_by_name("Accounts").to_python()[0]
    assert header[-1] == "Satisfaction"
    with open_package(path) as pkg:
        xml = pkg.read(pkg.sheet("Accounts").part).decode("utf-8")
    assert re.search(r'type="whole"[^>]*>\s*<formula1>1</formula1>\s*<formula2>5</formula2>', xml)


# -- rating elsewhere: forms, sample data, messages ------------------------------------------------


def test_a_web_form_asks_for_a_rating_as_a_number_from_1_to_5():
    form = FormDef("feedback", "accounts", (FormField(RATING, False, {"en": "Satisfaction"}),),
                   {"en": "Feedback"}, {"en": "Thanks"})
    html = form_html(form, lang="en", token="t", action="/f")
    tag = re.search(r'<input type="number" id="crm-form-feedback-satisfaction"[^>]*>', html).group()
    assert 'step="1"' in tag and 'min="1"' in tag and 'max="5"' in tag and "maxlength" not in tag


def test_sample_accounts_are_rated_with_whole_stars(built_book):
    path = built_book(sample_data=60)
    ratings = read_workbook(path)["accounts"].df["satisfaction"].dropna()
    assert len(ratings) and set(ratings.astype(int)) <= {1, 2, 3, 4, 5}


def test_a_rating_reads_as_stars_out_of_five_in_messages_and_in_both_languages():
    rating = field_type("rating")
    assert rating.to_text(4) == "4/5"
    assert rating.help_text("fr").startswith("Une note de 1 (faible) à 5 (excellent)")
    assert rating.frame_value(np.int64(3)) == 3


# -- the registry: a type is one class ----------------------------------------------------------------


def test_every_types_validation_is_one_the_builder_translates():
    from crm_sheets.builder.validation import column_rule  # noqa: F401 (the translator of these kinds)

    kinds = {"unique", "list", "reference", "user", "boolean", "date", "whole", "decimal", "email", "note"}
    for name in known_types():
        spec = field_type(name).validation(Field(name="x", type=name, title={"en": "x"}))
        assert spec is None or spec["kind"] in kinds, name


def test_every_types_text_check_is_one_the_check_job_has():
    from crm_sheets.jobs.check.fields import TEXT_CHECKS

    checks = {name: field_type(name).text_check for name in known_types()}
    assert {c for c in checks.values() if c is not None} <= set(TEXT_CHECKS)
    assert (checks["email"], checks["phone"], checks["location"], checks["long_text"]) == ("email", "phone", "place", None)


@pytest.fixture
def minutes_type():
    """A type registered for one test, the way a module of model/fieldtypes registers one."""
    from crm_sheets.model.fieldtypes import base, register
    from crm_sheets.model.fieldtypes.builtin import NumberType

    class Minutes(NumberType):
        name = "minutes_for_test"
        dtype = "Int64"
        whole = True
        kind = "a number of minutes"
        help = {"en": "Minutes spent.", "fr": "Minutes passées."}

        def parse(self, field, raw, ctx, options):
            if isinstance(raw, str) and raw.strip().endswith("min"):
                raw = raw.strip()[:-3]
            value = super().parse(field, raw, ctx, options)
            return int(value) if value is not None and float(value).is_integer() and value >= 0 else None

        def refuse_native(self, values, native):  # numbers typed as numbers skip parse()
            return native & ((np.nan_to_num(values) < 0) | (np.mod(np.nan_to_num(values), 1) != 0))

        def number_format(self, currency=None, lang="en"):
            return '0 "min"'

        def validation(self, field):
            return {"kind": "whole", "minimum": 0}

    register(Minutes)
    yield "minutes_for_test"
    del base._REGISTRY["minutes_for_test"]


def test_a_type_registered_in_one_class_is_read_built_and_validated(minutes_type, tmp_path):
    raw = _schema(minutes_type)
    raw["tables"][0]["fields"][1]["title"] = "Time spent"
    schema = parse_schema(raw, source="mini.yaml")
    path = tmp_path / "mini.xlsx"
    things = pd.DataFrame({"stars": [90, "45 min", -5]}, index=pd.Index(["T-00001", "T-00002", "T-00003"], name="id"))
    build_workbook(path, schema, "en", data={"things": things})
    with open_package(path) as pkg:
        xml = pkg.read(pkg.sheet("Things").part).decode("utf-8")
        styles = pkg.read("xl/styles.xml").decode("utf-8")
    assert re.search(r'type="whole"[^>]*operator="greaterThanOrEqual"[^>]*>.*?<formula1>0</formula1>', xml, re.S)
    assert "Minutes spent." in xml and 'formatCode="0 &quot;min&quot;"' in styles
    tables = read_workbook(path, schema=schema)
    assert tables["things"].df["stars"].tolist() == [90, 45, pd.NA]
    found = [f for f in check(tables, now=NOW).findings if f.type == f"invalid-{minutes_type}"]
    assert [(f.record_id, f.value) for f in found] == [("T-00003", -5)]


@pytest.fixture
def postcode_type():
    """A type with a text form of its own, checked by its check_value (five digits, spaces tidied)."""
    from crm_sheets.model.fieldtypes import base, register
    from crm_sheets.model.fieldtypes.builtin import TextType

    class Postcode(TextType):
        name = "postcode_for_test"
        text_check = "value"

        def check_value(self, text, lang="en"):
            tidy = text.replace(" ", "")
            if not re.fullmatch(r"\d{5}", tidy):
                return ("invalid-postcode", "error", f'"{text}" is not a postcode', "write its five digits", None, False)
            if tidy != text:
                return ("postcode-format", "info", f'"{text}" has spaces', f'check --fix writes "{tidy}"', tidy, True)
            return None

    register(Postcode)
    yield "postcode_for_test"
    del base._REGISTRY["postcode_for_test"]


def test_a_type_with_its_own_text_form_is_checked_and_fixed_by_its_check_value(postcode_type):
    from helpers import literal_table
    from crm_sheets.model import Tables

    schema = parse_schema(_schema(postcode_type), source="mini.yaml")
    rows = [{"id": "T-00001", "stars": "75001"}, {"id": "T-00002", "stars": "75 002"},
            {"id": "T-00003", "stars": "Paris"}, {"id": "T-00004", "stars": "75 002"}]
    tables = Tables(schema, {"things": literal_table(schema, "things", rows)})
    found = check(tables, now=NOW).findings
    assert [(f.type, f.record_id, f.fix, f.fixable) for f in found] == [
        ("postcode-format", "T-00002", "75002", True), ("invalid-postcode", "T-00003", None, False),
        ("postcode-format", "T-00004", "75002", True)]
    fixes = check(tables, now=NOW, fix=True).changes.updates
    assert sorted((u.record_id, u.value) for u in fixes) == [("T-00002", "75002"), ("T-00004", "75002")]


FIELDS_SHEET_TYPES = ["text", "long_text", "number", "integer", "money", "percent", "date", "datetime", "email",
                      "phone", "url", "location", "dropdown", "tags", "checkbox", "rating"]


@pytest.mark.parametrize("template", ["sales", "services", "personal"])
def test_the_fields_sheets_type_dropdown_offers_the_registrys_own_column_types(template):
    assert load_schema(template).lists["field_type"].keys() == FIELDS_SHEET_TYPES
    assert FIELDS_SHEET_TYPES == [t for t in known_types() if field_type(t).custom]


def test_a_new_workbooks_lists_sheet_holds_the_type_dropdowns_options(rated):
    rows = calamine(rated).get_sheet_by_name("Lists").to_python()
    column = rows[0].index("Field type")
    assert [r[column] for r in rows[1:] if r[column]] == FIELDS_SHEET_TYPES


def test_a_type_registered_in_one_file_is_offered_in_the_fields_sheet(minutes_type):
    assert load_schema("sales").lists["field_type"].keys() == FIELDS_SHEET_TYPES + [minutes_type]


def test_a_person_adds_a_rating_column_in_the_fields_sheet_and_upgrade_makes_it(tmp_path, built_book):
    from crm_sheets.model.changeset import ChangeSet, RowAppend
    from crm_sheets.store.xlsx import XlsxStore
    from helpers import fresh_copy

    path = fresh_copy(built_book(), tmp_path)
    store = XlsxStore(path)
    tables = store.read()
    assert "rating" in tables.schema.lists["field_type"].keys()  # offered in the Fields sheet's Type dropdown
    changes = ChangeSet()
    changes.appends.append(RowAppend("fields", "new0", {"table": "Leads", "name": "fit", "title": "Fit",
                                                        "type": "rating", "description": "How well they fit."}))
    store.apply(changes, tables)

    report = upgrade(path)
    assert [(c.table, c.field) for c in report.added_columns] == [("leads", "fit")]
    with open_package(path) as pkg:
        xml = pkg.read(pkg.sheet("Leads").part).decode("utf-8")
    assert re.search(r'type="whole"[^>]*>\s*<formula1>1</formula1>\s*<formula2>5</formula2>', xml)
    assert read_workbook(path).schema.table("leads").field("fit").type == "rating"
