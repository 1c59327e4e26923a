"""Reading workbooks people have edited: headers by name, their own columns kept, IDs for new rows,
values typed as text read per the Settings locale, Settings/Lists/Fields sheets."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
import xlsxwriter

from crm_sheets.errors import NotAWorkbook, SchemaError
from crm_sheets.store import read_workbook

LEAD_HEADERS = ["ID", "First name", "Last name", "Email", "Company", "Status", "Consent", "Created", "Engagement"]


def make_workbook(path, sheets, *, meta=None, tables=None, lang="en", merges=None, date_1904=False):
    """A small literal workbook: {sheet: rows from A1}; tables = {excel name: (sheet, header row 0-based)};
    merges = {sheet: [(first row, first col, last row, last col), ...]} (0-based; the top-left value shows).

    Values are written as what they are: str as text (never a formula), dates as dates.
    """
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                         "strings_to_urls": False, "date_1904": date_1904})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    written = {}
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        written[name] = (ws, rows)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, (dt.date, dt.datetime)):
                    ws.write_datetime(r, c, value, date_fmt)
                elif isinstance(value, bool):
                    ws.write_boolean(r, c, value)
                elif isinstance(value, (int, float)):
                    ws.write_number(r, c, value)
                else:
                    ws.write_string(r, c, value)
    for sheet, ranges in (merges or {}).items():
        ws, rows = written[sheet]
        for r0, c0, r1, c1 in ranges:
            ws.merge_range(r0, c0, r1, c1, rows[r0][c0])
    for excel_name, (sheet, header_row, last_row) in (tables or {}).items():
        ws, rows = written[sheet]
        headers = rows[header_row]
        ws.add_table(header_row, 0, last_row, len(headers) - 1,
                     {"name": excel_name, "columns": [{"header": str(h)} for h in headers], "autofilter": False})
    if meta is not False:
        m = wb.add_worksheet("_crm_meta")
        m.hide()
        rows = [("Key", "Value"), ("template", "sales"), ("schema_version", 1), ("lang", lang)]
        rows += list((meta or {}).items())
        for r, (k, v) in enumerate(rows):
            m.write_string(r, 0, k)
            if isinstance(v, (int, float)):
                m.write_number(r, 1, v)
            else:
                m.write_string(r, 1, v)
    wb.close()
    return path


def settings_rows(locale="en-US", **more):
    rows = [["Setting", "Value", "Description"], ["locale", locale, ""]]
    rows += [[k, v, ""] for k, v in more.items()]
    return rows


@pytest.fixture
def leads_book(tmp_path):
    rows = [
        LEAD_HEADERS,
        ["L-00001", "Ana", "Lopez", "ana@example.com", "Acme", "Qualified", True, dt.date(2025, 3, 14), 12],
        ["L-00002", "Ben", "Stone", "ben@example.com", "Initech", "New", False, dt.date(2025, 3, 15), 3],
    ]
    return make_workbook(tmp_path / "crm.xlsx", {"Leads": rows, "Settings": settings_rows()},
                         meta={"seq.leads": 3}, tables={"Leads": ("Leads", 0, 2)})


def test_reads_typed_leads_indexed_by_id_with_sheet_rows_and_columns(leads_book):
    tables = read_workbook(leads_book)
    leads = tables["leads"]
    assert list(leads.df.index) == ["L-00001", "L-00002"]
    assert leads.df.loc["L-00001", "status"] == "qualified"
    assert leads.df.loc["L-00002", "consent"] == False  # noqa: E712 (pandas boolean)
    assert leads.df.loc["L-00001", "created"] == pd.Timestamp("2025-03-14")
    assert leads.df.loc["L-00001", "engagement"] == 12.0
    assert leads.rows == {"L-00001": 2, "L-00002": 3}
    assert leads.columns["email"] == "D" and leads.columns["id"] == "A"
    assert leads.sheet == "Leads"
    assert leads.cell("L-00002", "email") == "Leads!D3"
    assert leads.next_id == 3 and leads.assigned_ids == ()
    assert tables.lang == "en" and tables.meta["template"] == "sales" and tables.meta["seq.leads"] == 3


def test_frame_has_every_schema_field_with_its_dtype_even_when_the_sheet_lacks_the_column(leads_book):
    df = read_workbook(leads_book)["leads"].df
    assert df.index.name == "id"
    assert str(df["engagement"].dtype) == "float64"
    assert str(df["score"].dtype) == "Int64"
    assert str(df["created"].dtype) == "datetime64[ns]"
    assert str(df["consent"].dtype) == "boolean"
    assert df["email"].dtype == object
    assert df["phone"].isna().all()  # no Phone column in this sheet
    assert "id" not in df.columns


def test_headers_reordered_renamed_to_alias_or_french_and_peoples_column_in_the_middle(tmp_path):
    rows = [
        ["Surname", "My notes", "e-mail", "ID", "Prénom", "Statut", "Lead source"],
        ["Lopez", "met at fair", "ana@example.com", "L-00007", "Ana", "Contacté", "Referral"],
    ]
    path = make_workbook(tmp_path / "crm.xlsx", {"Leads": rows, "Settings": settings_rows()})
    leads = read_workbook(path)["leads"]
    rec = leads.df.loc["L-00007"]
    assert (rec["last_name"], rec["first_name"], rec["email"]) == ("Lopez", "Ana", "ana@example.com")
    assert (rec["status"], rec["source"]) == ("contacted", "referral")
    assert leads.extra_columns == ("My notes",)
    assert leads.columns == {"last_name": "A", "email": "C", "id": "D", "first_name": "E", "status": "F", "source": "G"}
    assert "My notes" not in leads.df.columns


def test_title_rows_above_the_header_blank_rows_and_rows_typed_below_the_table(tmp_path):
    rows = [
        ["Our leads — updated weekly"],
        [],
        LEAD_HEADERS,
        ["L-00001", "Ana", "Lopez"],
        [],
        ["L-00002", "Ben", "Stone"],
        [None, None, None, None, None, None, None, None, None, "a note beside the table"],
        [],
        ["L-00003", "Cleo", "Ray"],  # typed below the Excel table's range
    ]
    path = make_workbook(tmp_path / "crm.xlsx", {"Leads": rows, "Settings": settings_rows()},
                         tables={"Leads": ("Leads", 2, 5)})
    leads = read_workbook(path)["leads"]
    assert list(leads.df.index) == ["L-00001", "L-00002", "L-00003"]
    assert leads.rows == {"L-00001": 4, "L-00002": 6, "L-00003": 9}
    assert leads.df.loc["L-00003", "first_name"] == "Cleo"


def test_rows_without_id_get_new_ids_after_meta_seq_and_existing_ids(tmp_path):
    rows = [
        LEAD_HEADERS,
        ["L-00004", "Ana", "Lopez"],
        [None, "Ben", "Stone"],
        ["L-00009", "Cleo", "Ray"],
        ["", "Dan", "Ito"],
    ]
    path = make_workbook(tmp_path / "crm.xlsx", {"Leads": rows}, meta={"seq.leads": 7})
    leads = read_workbook(path)["leads"]
    assert leads.assigned_ids == ("L-00010", "L-00011")
    assert list(leads.df.index) == ["L-00004", "L-00010", "L-00009", "L-00011"]
    assert leads.rows["L-00010"] == 3 and leads.rows["L-00011"] == 5
    assert leads.next_id == 12

    rows[3][0] = "L-00002"  # now the meta sequence is ahead of every ID in the sheet
    path = make_workbook(tmp_path / "crm2.xlsx", {"Leads": rows}, meta={"seq.leads": 7})
    leads = read_workbook(path)["leads"]
    assert leads.assigned_ids == ("L-00007", "L-00008")
    assert leads.next_id == 9


def test_a_copy_pasted_row_with_a_duplicate_id_becomes_a_new_record(tmp_path):
    rows = [LEAD_HEADERS, ["L-00001", "Ana", "Lopez"], ["L-00001", "Ana", "Lopez (copy)"]]
    path = make_workbook(tmp_path / "crm.xlsx", {"Leads": rows}, meta={"seq.leads": 2})
    leads = read_workbook(path)["leads"]
    assert list(leads.df.index) == ["L-00001", "L-00002"]
    assert leads.df.loc["L-00002", "last_name"] == "Lopez (copy)"
    assert leads.assigned_ids == ("L-00002",)
    assert leads.rows == {"L-00001": 2, "L-00002": 3}


def test_values_typed_as_text_are_read_per_the_locale(tmp_path):
    deals = [
        ["ID", "Deal name", "Stage", "Amount", "Currency", "Probability", "Close date"],
        ["D-00001", "Big one", "Proposal", "$1,200.50", "USD", "25%", "03/04/2025"],
        ["D-00002", "Small", "Closed won", "(300)", "USD", 40, "2025-05-06"],
    ]
    leads = [LEAD_HEADERS, ["L-00001", "Ana", "Lopez", None, None, "new", "yes", "14 March 2025", "1,234.5"]]
    path = make_workbook(tmp_path / "us.xlsx", {"Deals": deals, "Leads": leads, "Settings": settings_rows("en-US")})
    tables = read_workbook(path)
    d = tables["deals"].df
    assert d.loc["D-00001", "amount"] == 1200.5
    assert d.loc["D-00002", "amount"] == -300.0
    assert d.loc["D-00001", "probability"] == 0.25 and d.loc["D-00002", "probability"] == 0.40
    assert d.loc["D-00001", "close_date"] == pd.Timestamp("2025-03-04")  # mm/dd/yyyy in en-US
    assert d.loc["D-00001", "stage"] == "Proposal"  # options_from: kept as typed
    lead = tables["leads"].df.loc["L-00001"]
    assert lead["consent"] == True  # noqa: E712
    assert lead["created"] == pd.Timestamp("2025-03-14")
    assert lead["engagement"] == 1234.5
    assert tables["deals"].invalid == {} and tables["leads"].invalid == {}
    # Read, but from text: remembered, so check --fix can write real numbers, dates and boxes.
    assert tables["deals"].typed_text == {
        ("D-00001", "amount"): "$1,200.50", ("D-00002", "amount"): "(300)",
        ("D-00001", "probability"): "25%",
        ("D-00001", "close_date"): "03/04/2025", ("D-00002", "close_date"): "2025-05-06",
    }
    assert tables["leads"].typed_text == {
        ("L-00001", "consent"): "yes", ("L-00001", "created"): "14 March 2025", ("L-00001", "engagement"): "1,234.5",
    }


def test_french_workbook_reads_to_the_same_keys_with_french_numbers_and_dates(tmp_path):
    prospects = [
        ["ID", "Prénom", "Nom", "Statut", "Secteur", "Consentement e-mail", "Créé le", "Engagement", "Étiquettes"],
        ["L-00001", "Zoé", "Martin", "Qualifié", "Santé", "oui", "03/04/2025", "1 234,5", "VIP, Décideur"],
        ["L-00002", "Hugo", "Bernard", "Non qualifié", "Logiciel", "NON", "14/03/2025", "12,5", ""],
    ]
    params = [["Paramètre", "Valeur", "Description"], ["locale", "fr-FR", ""], ["currency", "EUR", ""]]
    affaires = [["ID", "Nom de l'affaire", "Étape", "Montant", "Devise"], ["D-00001", "Gros contrat", "Proposition", "€1 200,50", "EUR"]]
    path = make_workbook(tmp_path / "fr.xlsx", {"Prospects": prospects, "Paramètres": params, "Affaires": affaires}, lang="fr")
    tables = read_workbook(path)
    assert tables.lang == "fr"
    df = tables["leads"].df
    assert df.loc["L-00001", ["status", "industry", "tags"]].tolist() == ["qualified", "healthcare", "vip, decision_maker"]
    assert df.loc["L-00002", "status"] == "unqualified"
    assert df.loc["L-00001", "consent"] == True and df.loc["L-00002", "consent"] == False  # noqa: E712
    assert df.loc["L-00001", "created"] == pd.Timestamp("2025-04-03")  # jj/mm/aaaa
    assert df.loc["L-00001", "engagement"] == 1234.5 and df.loc["L-00002", "engagement"] == 12.5
    assert df.loc["L-00002", "tags"] is None
    assert tables["deals"].df.loc["D-00001", "amount"] == 1200.5
    assert tables["leads"].sheet == "Prospects"


def test_unreadable_values_are_kept_raw_in_invalid_and_never_coerced(tmp_path):
    rows = [
        ["ID", "Last name", "Status", "Consent", "Created", "Engagement", "Score"],
        ["L-00001", "Lopez", "Hot", "maybe", "31/02/2025", "lots", 2.5],
    ]
    path = make_workbook(tmp_path / "crm.xlsx", {"Leads": rows, "Settings": settings_rows("en-GB")})
    leads = read_workbook(path)["leads"]
    assert leads.invalid == {
        ("L-00001", "status"): "Hot",
        ("L-00001", "consent"): "maybe",
        ("L-00001", "created"): "31/02/2025",
        ("L-00001", "engagement"): "lots",
        ("L-00001", "score"): 2.5,
    }
    assert leads.typed_text == {}  # unreadable is not "typed as text": each cell is in one list only
    rec = leads.df.loc["L-00001"]
    assert pd.isna(rec["consent"]) and pd.isna(rec["created"]) and math.isnan(rec["engagement"]) and pd.isna(rec["score"])
    assert rec["status"] == "Hot"  # an unknown option stays as typed in the frame, for check to report


def test_an_ambiguous_date_without_a_locale_stays_unread(tmp_path):
    rows = [["ID", "Last name", "Created", "Last contacted"], ["L-00001", "Lopez", "03/04/2025", "25/04/2025"]]
    path = make_workbook(tmp_path / "crm.xlsx", {"Leads": rows, "Settings": settings_rows("")})
    leads = read_workbook(path)["leads"]
    assert leads.invalid == {("L-00001", "created"): "03/04/2025"}
    assert leads.df.loc["L-00001", "last_contacted"] == pd.Timestamp("2025-04-25")  # reads only one way


def test_settings_are_typed_by_the_schema(tmp_path):
    rows = settings_rows("fr-FR", grade_a="75", check_title_case="FAUX", dedupe_auto_threshold=0.9,
                         smtp_host="  mail.example.com ", my_own_setting=3)
    rows.append(["smtp_user", None, ""])
    path = make_workbook(tmp_path / "crm.xlsx", {"Settings": rows, "Leads": [LEAD_HEADERS]})
    tables = read_workbook(path)
    s = tables.settings
    assert s["locale"] == "fr-FR"
    assert s["grade_a"] == 75 and isinstance(s["grade_a"], int)
    assert s["check_title_case"] is False
    assert s["dedupe_auto_threshold"] == 0.9
    assert s["smtp_host"] == "mail.example.com"
    assert s["my_own_setting"] == 3
    assert s["smtp_user"] is None
    assert tables.setting("smtp_port") == 587  # not in the sheet: the schema default
    assert list(tables["settings"].df.index[:2]) == ["row2", "row3"]  # no IDs: keyed by sheet row


def test_options_added_on_the_lists_sheet_extend_the_list(tmp_path):
    lists = [["Lead status", "Source", "My column"], ["New", "Web form", "x"], ["Hot", "Trade show", None], [None, "Referral"]]
    leads = [LEAD_HEADERS + ["Source"], ["L-00001", "Ana", "Lopez", None, None, "hot", None, None, None, "trade show"]]
    path = make_workbook(tmp_path / "crm.xlsx", {"Lists": lists, "Leads": leads})
    tables = read_workbook(path)
    assert tables.lists["lead_status"].keys()[-1] == "Hot"
    assert tables.lists["lead_source"].keys()[-1] == "Trade show"
    assert len(tables.lists["lead_source"].options) == len(tables.schema.lists["lead_source"].options) + 1
    rec = tables["leads"].df.loc["L-00001"]
    assert (rec["status"], rec["source"]) == ("Hot", "Trade show")
    assert tables["leads"].invalid == {}


def test_custom_fields_from_the_fields_sheet_are_read_as_typed_columns(tmp_path):
    fields = [
        ["Table", "Field name", "Column title", "Type", "Options", "Required", "Help text"],
        ["Leads", "budget", "Budget", "money", None, "yes", "Yearly budget"],
        ["Leads", "tier", "Tier", "dropdown", "Gold, Silver", None, None],
        ["Accounts", "nda_signed", "NDA signed", "checkbox", None, None, None],
    ]
    leads = [["ID", "Last name", "Budget", "Tier"], ["L-00001", "Lopez", "1,500", "silver"]]
    path = make_workbook(tmp_path / "crm.xlsx", {"Fields": fields, "Leads": leads, "Settings": settings_rows()})
    tables = read_workbook(path)
    budget = tables.schema.tables["leads"].field("budget")
    assert (budget.type, budget.custom, budget.required, budget.header()) == ("money", True, True, "Budget")
    assert tables.schema.tables["leads"].field("tier").list == "custom_leads_tier"
    assert tables.lists["custom_leads_tier"].keys() == ["Gold", "Silver"]
    assert tables.schema.tables["accounts"].has_field("nda_signed")
    rec = tables["leads"].df.loc["L-00001"]
    assert (rec["budget"], rec["tier"]) == (1500.0, "Silver")
    assert tables["leads"].extra_columns == ()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["Leads", "Budget 2025", None, "money"], "Fields, row 3: field name 'Budget 2025' must use lower-case letters"),
        (["Leads", "budget", None, "currency"], "Fields, row 3: unknown type 'currency'"),
        (["Planets", "budget", None, "money"], "Fields, row 3: unknown table 'Planets'"),
        (["Leads", "tier", None, "dropdown"], "Fields, row 3: a dropdown field needs its options"),
    ],
)
def test_a_bad_fields_row_is_a_schema_error_naming_the_sheet_and_row(tmp_path, row, message):
    fields = [["Table", "Field name", "Column title", "Type", "Options"], ["Leads", "ok_field", None, "text"], row]
    path = make_workbook(tmp_path / "crm.xlsx", {"Fields": fields, "Leads": [LEAD_HEADERS]})
    with pytest.raises(SchemaError) as err:
        read_workbook(path)
    assert message in str(err.value)


def test_workbook_without_meta_is_recognised_from_its_sheets(tmp_path):
    sheets = {
        "Leads": [LEAD_HEADERS, ["L-00001", "Ana", "Lopez"]],
        "Accounts": [["ID", "Account name", "Industry"], ["A-00001", "Acme", "Retail"]],
        "Settings": settings_rows(),
    }
    path = make_workbook(tmp_path / "crm.xlsx", sheets, meta=False)
    tables = read_workbook(path)
    assert tables.schema.name == "sales"
    assert tables["accounts"].df.loc["A-00001", "industry"] == "retail"
    assert any("recognised" in note for note in tables.notes)


def test_a_plain_spreadsheet_is_not_a_workbook(tmp_path):
    path = make_workbook(tmp_path / "budget.xlsx", {"Sheet1": [["Month", "Spend"], ["Jan", 12]]}, meta=False)
    with pytest.raises(NotAWorkbook) as err:
        read_workbook(path)
    assert "budget.xlsx" in str(err.value) and "crm-sheets new" in str(err.value) and "paste your rows" in str(err.value)


def test_a_missing_file_or_a_file_that_is_not_xlsx_is_not_a_workbook(tmp_path):
    with pytest.raises(NotAWorkbook, match="no such file"):
        read_workbook(tmp_path / "nope.xlsx")
    bad = tmp_path / "notes.xlsx"
    bad.write_text("just text")
    with pytest.raises(NotAWorkbook, match="notes.xlsx: not an .xlsx workbook"):
        read_workbook(bad)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_workbook_from_the_builder_reads_back_to_the_same_values(tmp_path, lang):
    from crm_sheets.builder import build_workbook

    index = pd.Index(["L-00001", "L-00002"], dtype=object, name="id")
    text = lambda *values: pd.Series(values, index=index, dtype=object)  # noqa: E731 (the jobs' view: str or None)
    leads = pd.DataFrame(
        {
            "first_name": text("Ana", "Ben"),
            "last_name": text("Lopez", "Stone"),
            "status": text("qualified", "new"),
            "industry": text("healthcare", None),
            "consent": pd.Series([True, False], index=index, dtype="boolean"),
            "created": pd.Series(pd.to_datetime(["2025-03-14", "2025-04-03"]), index=index).astype("datetime64[ns]"),
            "engagement": pd.Series([12.5, 0.0], index=index),
            "tags": text("vip, decision_maker", None),
        },
        index=index,
    )
    path = build_workbook(tmp_path / f"crm-{lang}.xlsx", "sales", lang, {"leads": leads})
    tables = read_workbook(path)
    got = tables["leads"]
    assert tables.lang == lang and tables.notes == []
    assert got.invalid == {} and got.assigned_ids == () and got.extra_columns == ()
    assert got.next_id == 3
    pd.testing.assert_frame_equal(got.df[leads.columns], leads)
    assert got.sheet == ("Prospects" if lang == "fr" else "Leads")
    assert tables.setting("locale") == tables.settings["locale"]


def test_typed_cells_leave_no_trace_in_typed_text(leads_book):
    tables = read_workbook(leads_book)
    assert tables["leads"].typed_text == {}  # real dates, numbers and booleans: nothing to convert
    assert tables.date1904 is False


def test_a_row_holding_only_spaces_is_not_a_record(tmp_path):
    rows = [
        LEAD_HEADERS,
        ["L-00001", "Ana", "Lopez"],
        [" ", "   ", None, "\u00a0"],  # cleared by typing spaces: looks empty, is not a record
        ["", "", "Stone"],  # a real row without an ID
    ]
    path = make_workbook(tmp_path / "crm.xlsx", {"Leads": rows, "Settings": settings_rows()}, meta={"seq.leads": 2})
    leads = read_workbook(path)["leads"]
    assert leads.rows == {"L-00001": 2, "L-00002": 4}
    assert leads.assigned_ids == ("L-00002",)
    assert leads.df.loc["L-00002", "last_name"] == "Stone"


def test_serial_numbers_in_date_columns_follow_the_1904_date_system(tmp_path):
    rows = [LEAD_HEADERS, ["L-00001", "Ana", "Lopez", None, None, None, None, 43903, None],
            ["L-00002", "Ben", "Stone", None, None, None, None, dt.date(2025, 3, 14), None],
            ["L-00003", "Cleo", "Ray", None, None, None, None, "43903", None]]
    path = make_workbook(tmp_path / "mac.xlsx", {"Leads": rows, "Settings": settings_rows()}, date_1904=True)
    tables = read_workbook(path)
    df = tables["leads"].df
    assert tables.date1904 is True
    # 43903 days after 1904-01-01 (it would be 2020-03-13 in the 1900 system)
    assert df.loc["L-00001", "created"] == pd.Timestamp("2024-03-14")
    assert df.loc["L-00002", "created"] == pd.Timestamp("2025-03-14")  # a real date cell: as Excel shows it
    assert df.loc["L-00003", "created"] == pd.Timestamp("2024-03-14")
    assert tables["leads"].typed_text == {("L-00003", "created"): "43903"}


def test_cells_merged_down_a_column_read_as_the_top_cell_on_every_row(tmp_path):
    rows = [
        ["Leads of the spring fair"],  # a title merged across the headers: not data
        LEAD_HEADERS,
        ["L-00001", "Ana", "Lopez", None, "Acme", "Qualified"],
        ["L-00002", "Ben", "Stone", None, None, None],
        ["L-00003", "Cleo", "Ray", None, None, "New"],
        ["L-00004", "Dan", "A note typed across Email and Company", None, "Initech", "New"],
    ]
    merges = {"Leads": [(0, 0, 0, 8), (2, 4, 4, 4), (2, 5, 3, 5), (5, 2, 5, 3)]}
    path = make_workbook(tmp_path / "crm.xlsx", {"Leads": rows, "Settings": settings_rows()}, merges=merges)
    leads = read_workbook(path)["leads"]
    df = leads.df
    assert leads.rows == {"L-00001": 3, "L-00002": 4, "L-00003": 5, "L-00004": 6}
    assert df["company"].tolist() == ["Acme", "Acme", "Acme", "Initech"]
    assert df["status"].tolist() == ["qualified", "qualified", "new", "new"]
    assert df.loc["L-00004", "email"] is None  # merged across columns: not copied into the next field
