"""What people type, read as the column's type per the workbook's locale — or left unread, never guessed."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from crm_sheets.model.column_read import parse_column
from crm_sheets.model.schema import Field, load_schema
from crm_sheets.model.values import (
    ReadContext, option_lookup, parse_datetime, parse_money, parse_number, parse_value, read_context,
)

SALES = load_schema("sales")
US = read_context({"locale": "en-US", "currency": "USD", "default_country": "us"})
GB = read_context({"locale": "en-GB", "currency": "GBP"})
FR = read_context({"locale": "fr-FR", "currency": "EUR"})
UNKNOWN = read_context({"locale": ""})


def field(table: str, name: str) -> Field:
    return SALES.tables[table].field(name)


def test_read_context_follows_the_settings_locale():
    assert US == ReadContext(date_order="MDY", decimal=".", currency="USD", default_country="US")
    assert (GB.date_order, GB.decimal) == ("DMY", ".")
    assert (FR.date_order, FR.decimal) == ("DMY", ",")
    assert read_context({"locale": "fr-CA"}).decimal == ","
    assert (UNKNOWN.date_order, UNKNOWN.decimal, UNKNOWN.currency) == (None, ".", None)
    assert read_context({}).date_order is None


@pytest.mark.parametrize(
    ("text", "ctx", "expected"),
    [
        ("1,234.5", US, 1234.5),
        ("1 234,5", FR, 1234.5),
        ("1.234,5", FR, 1234.5),
        ("1.234,5", US, 1234.5),  # both marks: the last one is the decimal mark
        ("1\u00a0234,50", FR, 1234.5),
        ("1,234", US, 1234.0),
        ("1,234", FR, 1.234),  # the locale decides
        ("12%", US, 0.12),
        ("-5", US, -5.0),
        ("(300)", US, -300.0),
        ("300-", US, -300.0),
        (".5", US, 0.5),
        ("1.5E3", US, 1500.0),
    ],
)
def test_numbers_typed_as_text(text, ctx, expected):
    assert parse_number(text, ctx.decimal) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "ctx"), [("1 234,5", US), ("1,5", US), ("1.5", FR), ("12 34", US), ("1,23,4", US), ("abc", US), ("", US)])
def test_numbers_that_only_a_guess_could_read_are_not_read(text, ctx):
    assert parse_number(text, ctx.decimal) is None


@pytest.mark.parametrize(
    ("text", "ctx", "expected"),
    [
        ("€1 200,50", FR, (1200.5, "EUR")),
        ("1 200,50 €", FR, (1200.5, "EUR")),
        ("$1,200.50", US, (1200.5, "$")),
        ("1200 EUR", US, (1200.0, "EUR")),
        ("USD 1,200", US, (1200.0, "USD")),
        ("(300)", US, (-300.0, None)),
        ("-€300", FR, (-300.0, "EUR")),
        ("£99", GB, (99.0, "GBP")),
    ],
)
def test_money_typed_with_symbols_codes_and_brackets(text, ctx, expected):
    assert parse_money(text, ctx.decimal) == expected


def test_money_in_another_currency_than_the_column_is_not_read():
    revenue = field("accounts", "annual_revenue")  # no currency column: the Settings currency
    assert parse_value(revenue, "1200 EUR", US) == ("1200 EUR", False)
    assert parse_value(revenue, "$1,200.50", US) == (1200.5, True)
    assert parse_value(revenue, "€1 200,50", FR) == (1200.5, True)
    amount = field("deals", "amount")  # the row's Currency column says which: check compares them
    assert parse_value(amount, "1200 EUR", US) == (1200.0, True)
    assert parse_value(amount, "12%", US) == ("12%", False)


@pytest.mark.parametrize(
    ("text", "ctx", "expected"),
    [
        ("2025-03-14", UNKNOWN, dt.date(2025, 3, 14)),
        ("14/03/2025", FR, dt.date(2025, 3, 14)),
        ("03/14/2025", US, dt.date(2025, 3, 14)),
        ("03/04/2025", US, dt.date(2025, 3, 4)),
        ("03/04/2025", GB, dt.date(2025, 4, 3)),
        ("31/03/2025", UNKNOWN, dt.date(2025, 3, 31)),  # reads only one way
        ("04/04/25", UNKNOWN, dt.date(2025, 4, 4)),
        ("14.03.2025", FR, dt.date(2025, 3, 14)),
        ("14 March 2025", UNKNOWN, dt.date(2025, 3, 14)),
        ("March 14, 2025", UNKNOWN, dt.date(2025, 3, 14)),
        ("14 mars 2025", UNKNOWN, dt.date(2025, 3, 14)),
        ("1er août 2025", UNKNOWN, dt.date(2025, 8, 1)),
        ("Friday 14th March 2025", UNKNOWN, dt.date(2025, 3, 14)),
        ("14-Mar-25", UNKNOWN, dt.date(2025, 3, 14)),
        ("20250314", UNKNOWN, dt.date(2025, 3, 14)),
        ("45730", UNKNOWN, dt.date(2025, 3, 14)),  # an Excel serial typed as text
        (45730.0, UNKNOWN, dt.date(2025, 3, 14)),  # a serial in an unformatted cell
        (dt.datetime(2025, 3, 14, 9, 30), UNKNOWN, dt.date(2025, 3, 14)),
        ("2025-03-14 09:30", UNKNOWN, dt.date(2025, 3, 14)),
    ],
)
def test_dates_typed_as_text_or_serials(text, ctx, expected):
    assert parse_value(field("leads", "created"), text, ctx) == (expected, True)


@pytest.mark.parametrize(
    ("raw", "ctx"),
    [("31/02/2025", GB), ("03/04/2025", UNKNOWN), ("14/03/2025", US), ("2025", US), (2025.0, US), ("soon", US), (True, US)],
)
def test_impossible_ambiguous_or_unlikely_dates_are_not_read(raw, ctx):
    assert parse_value(field("leads", "created"), raw, ctx) == (raw, False)


@pytest.mark.parametrize(
    ("text", "ctx", "expected"),
    [
        ("2025-03-14T10:30:00", UNKNOWN, dt.datetime(2025, 3, 14, 10, 30)),
        ("2025-03-14T10:30:00Z", UNKNOWN, dt.datetime(2025, 3, 14, 10, 30)),
        ("2025-03-14T10:30+02:00", UNKNOWN, dt.datetime(2025, 3, 14, 8, 30)),  # to UTC
        ("14/03/2025 10:30", FR, dt.datetime(2025, 3, 14, 10, 30)),
        ("03/14/2025 2:30 PM", US, dt.datetime(2025, 3, 14, 14, 30)),
        ("14 mars 2025 à 10:30", FR, dt.datetime(2025, 3, 14, 10, 30)),
        (45730.5, UNKNOWN, dt.datetime(2025, 3, 14, 12, 0)),
        (dt.date(2025, 3, 14), UNKNOWN, dt.datetime(2025, 3, 14)),
    ],
)
def test_datetimes(text, ctx, expected):
    assert parse_value(field("activities", "date"), text, ctx) == (expected, True)


def test_a_time_out_of_range_is_not_read():
    assert parse_datetime("2025-03-14 25:10") is None
    assert parse_datetime("03/14/2025 13:00 PM", "MDY") is None


@pytest.mark.parametrize("raw", ["yes", "Oui", "x", "X", "TRUE", "VRAI", "1", 1.0, True, "✓", "vrai "])
def test_ticked_checkboxes(raw):
    assert parse_value(field("leads", "consent"), raw, US) == (True, True)


@pytest.mark.parametrize("raw", ["no", "NON", "FALSE", "FAUX", "0", 0.0, False])
def test_unticked_checkboxes(raw):
    assert parse_value(field("leads", "consent"), raw, FR) == (False, True)


@pytest.mark.parametrize("raw", ["maybe", 2.0, "2"])
def test_a_checkbox_that_is_neither_is_not_read(raw):
    assert parse_value(field("leads", "consent"), raw, US) == (raw, False)


def test_integer_refuses_fractions():
    capacity = field("team", "capacity")
    assert parse_value(capacity, 3.0, US) == (3, True)
    assert parse_value(capacity, "1,000", US) == (1000, True)
    assert parse_value(capacity, 2.5, US) == (2.5, False)
    assert parse_value(capacity, "2.5", US) == ("2.5", False)


@pytest.mark.parametrize(("raw", "expected"), [("25%", 0.25), (0.25, 0.25), ("0.25", 0.25), (25.0, 0.25), ("25", 0.25), (1.0, 1.0), ("100%", 1.0), ("150%", 1.5)])
def test_percent_bare_numbers_above_one_are_percent_points(raw, expected):
    assert parse_value(field("deals", "probability"), raw, US) == (pytest.approx(expected), True)


def test_dropdown_maps_labels_of_any_language_to_keys():
    status = field("leads", "status")
    options = option_lookup(SALES.lists["lead_status"])
    assert parse_value(status, "Qualified", US, options) == ("qualified", True)
    assert parse_value(status, " qualifié ", US, options) == ("qualified", True)
    assert parse_value(status, "NON QUALIFIE", US, options) == ("unqualified", True)
    assert parse_value(status, " Hot ", US, options) == ("Hot", False)


def test_dropdown_options_made_of_symbols_stay_distinct():
    operator = SALES.tables["scoring_rules"].field("operator")
    options = option_lookup(SALES.lists["rule_operator"])
    assert parse_value(operator, ">", US, options) == ("greater_than", True)
    assert parse_value(operator, "<", US, options) == ("less_than", True)


def test_a_dropdown_without_a_list_keeps_the_text():
    assert parse_value(field("deals", "stage"), " Proposal ", US) == ("Proposal", True)


def test_tags_become_keys_joined_with_a_comma():
    tags = field("leads", "tags")
    options = option_lookup(SALES.lists["tags"])
    assert parse_value(tags, "VIP; Décideur, vip", US, options) == ("vip, decision_maker", True)
    assert parse_value(tags, "VIP, golfer", US, options) == ("VIP, golfer", False)


def test_text_is_kept_as_typed_and_numbers_in_text_columns_read_as_people_see_them():
    assert parse_value(field("leads", "first_name"), "  Ana ", US) == ("  Ana ", True)
    assert parse_value(field("leads", "phone"), 33612345678.0, US) == ("33612345678", True)
    assert parse_value(field("leads", "email"), True, US) == ("TRUE", True)


@pytest.mark.parametrize("raw", [None, "", float("nan")])
def test_empty_cells_are_none(raw):
    for f in (field("leads", "created"), field("leads", "engagement"), field("leads", "first_name"), field("leads", "consent")):
        assert parse_value(f, raw, US) == (None, True)


def test_blank_text_in_a_typed_column_is_empty():
    assert parse_value(field("leads", "engagement"), "   ", US) == (None, True)


def test_parse_column_gives_the_same_values_as_parse_value_in_the_column_dtype():
    raws = [1.5, "", "1,234.5", "lots", 3.0, True]
    values, bad = parse_column(field("leads", "engagement"), raws, US)
    assert values.dtype == np.float64
    assert values[0] == 1.5 and math.isnan(values[1]) and values[2] == 1234.5 and math.isnan(values[3]) and values[4] == 3.0
    assert bad == {3: "lots", 5: True}


@pytest.mark.parametrize("name", ["city", "notes", "first_name"])
def test_a_long_text_column_reads_each_cell_as_parse_value_does_and_shares_equal_texts(name):
    f = field("leads", name)
    cells = ["Lyon", " Lyon ", "", "   ", "Graz", "Lyon", "Porto\n", "\tLeeds", "Graz"]
    raws = [cells[i % len(cells)] for i in range(200)] + [f"Town {i}" for i in range(40)]
    values, bad = parse_column(f, raws, US)
    assert bad == {}
    assert [(type(v), v) for v in values] == [(type(parse_value(f, r, US)[0]), parse_value(f, r, US)[0]) for r in raws]
    lyons = [v for v in values if v == "Lyon"]
    assert len(lyons) > 40 and len({id(v) for v in lyons}) <= 2  # "Lyon" and " Lyon " stripped: one object each


def test_parse_column_for_each_dtype():
    scores, bad = parse_column(field("leads", "score"), [3.0, 2.5, "", "7"], US)
    assert list(pd.array(scores, dtype="Int64")) == [3, pd.NA, pd.NA, 7] and bad == {1: 2.5}
    consent, bad = parse_column(field("leads", "consent"), [True, "oui", "", "maybe"], US)
    assert list(consent) == [True, True, pd.NA, pd.NA] and bad == {3: "maybe"}
    created, bad = parse_column(field("leads", "created"), [dt.date(2025, 3, 14), dt.datetime(2025, 3, 15, 9), "03/16/2025", "", "31/02/2025"], US)
    assert created.dtype == "datetime64[ns]"
    assert list(pd.Series(created).dt.strftime("%Y-%m-%d").fillna("-")) == ["2025-03-14", "2025-03-15", "2025-03-16", "-", "-"]
    assert bad == {4: "31/02/2025"}
    prob, _ = parse_column(field("deals", "probability"), [0.25, 25.0, "40%", ""], US)
    assert list(prob[:3]) == [0.25, 0.25, 0.4]
    names, _ = parse_column(field("leads", "first_name"), ["Ana", "", 42.0], US)
    assert list(names) == ["Ana", None, "42"]


def test_parse_column_keeps_unknown_options_as_text_and_reports_them():
    options = option_lookup(SALES.lists["lead_status"])
    values, bad = parse_column(field("leads", "status"), ["New", "Hot", "", "nouveau", "Hot"], US, options)
    assert list(values) == ["new", "Hot", None, "new", "Hot"]
    assert bad == {1: "Hot", 4: "Hot"}


def test_parse_column_does_not_confuse_true_with_one_in_a_text_column():
    values, _ = parse_column(field("leads", "notes"), [1.0, True, "x"], US)
    assert list(values) == ["1", "TRUE", "x"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\n", "\x00"])
def test_formula_looking_text_is_literal_text_in_the_workbook_and_quoted_in_csv(start):
    from crm_sheets.model.values import Text, csv_safe, literal

    value = literal(start + "SUM(A1:A3)")
    assert isinstance(value, Text) and value == start + "SUM(A1:A3)"  # the value itself is unchanged
    assert csv_safe(value) == "'" + start + "SUM(A1:A3)"
    assert csv_safe("Zoé") == "Zoé" and not isinstance(literal("Zoé"), Text)


@pytest.mark.parametrize("value, shown, stripped", [
    (None, "", ""), (float("nan"), "", ""), (pd.NaT, "", ""), ("  qualified ", "  qualified ", "qualified"),
    (10.0, "10", "10"), (2.5, "2.5", "2.5"), (True, "TRUE", "TRUE"),
    (dt.datetime(2025, 3, 14), "2025-03-14", "2025-03-14"), (dt.datetime(2025, 3, 14, 9, 30), "2025-03-14 09:30:00", "2025-03-14 09:30:00"),
])
def test_a_value_reads_as_the_text_its_cell_shows_and_instructions_without_surrounding_spaces(value, shown, stripped):
    from crm_sheets.model.values import cell_text

    # rule sheets, form definitions and imports read what people typed with strip=True: ' 10 ' typed or 10.0 stored
    # are the same instruction as the check and the automate job see it
    assert cell_text(value) == shown
    assert cell_text(value, strip=True) == stripped
