"""The sample-data generator: deterministic, typed like the store's tables, and honest about its mess."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from rapidfuzz.distance import OSA

from crm_sheets.model.normalize import (clean_spaces, email_typo, fold, is_url, needs_title_case, normalize_email,
                                        normalize_phone)
from crm_sheets.model.schema import load_schema
from crm_sheets.model.tables import dtype_for
from crm_sheets.model.values import parse_value, read_context
from crm_sheets.sample import DEFAULT_NOW, generate
from crm_sheets.sample.pools import NICKNAMES
from crm_sheets.sample.sales import TEAM

NOW = datetime(2026, 11, 2, 9, 0)
TEMPLATES = ("sales", "services", "personal")


@pytest.fixture(scope="module", params=TEMPLATES)
def data(request):
    return generate(request.param, leads=400, seed=11, now=NOW)


@pytest.fixture(scope="module")
def sales():
    return generate("sales", leads=600, seed=3, now=NOW)


def _clean_rows(data, table):
    """IDs of rows with no planted problem at all (errors, duplicate copies, look-alikes)."""
    dirty = {e.record_id for e in data.truth.errors if e.table == table}
    dirty |= {rid for t, rid in data.truth.duplicate_records() if t == table}
    return [rid for rid in data.tables[table].index if rid not in dirty]


def _empty(v):
    return v is None or (not isinstance(v, str) and pd.isna(v))


@pytest.mark.slow
def test_same_seed_and_now_give_identical_tables_and_truth():
    a = generate("sales", leads=120, seed=5, now=NOW)
    b = generate("sales", leads=120, seed=5, now=NOW)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    assert a.truth == b.truth


def test_another_seed_gives_other_people():
    a = generate("sales", leads=120, seed=5, now=NOW).tables["leads"]
    b = generate("sales", leads=120, seed=6, now=NOW).tables["leads"]
    assert list(a["email"]) != list(b["email"])


def test_now_defaults_to_a_fixed_date():
    assert DEFAULT_NOW == datetime(2026, 11, 2, 9, 0)
    a = generate("personal", leads=60, seed=1)
    b = generate("personal", leads=60, seed=1, now=DEFAULT_NOW)
    pd.testing.assert_frame_equal(a.tables["people"], b.tables["people"])


def test_every_data_table_of_the_template_is_generated(data):
    schema = data.schema
    assert set(data.tables) == {t.name for t in schema.data_tables()}
    assert all(len(df) > 0 for df in data.tables.values())


def test_columns_are_the_schema_fields_with_the_design_dtypes(data):
    raw_cells = {(e.table, e.field) for e in data.truth.errors if isinstance(e.raw, str)}
    for name, df in data.tables.items():
        ts = data.schema.tables[name]
        assert list(df.columns) == [f.name for f in ts.fields if f.type != "id"]
        assert df.index.name == "id" and df.index.is_unique
        assert df.index[0] == f"{ts.id_prefix}-00001" and df.index[-1] == f"{ts.id_prefix}-{len(df):05d}"
        for f in ts.fields:
            if f.type == "id":
                continue
            want = "object" if (name, f.name) in raw_cells else dtype_for(f.type)
            assert str(df[f.name].dtype) == want, (name, f.name)


@pytest.mark.slow
def test_counts_scale_with_the_number_of_leads():
    small = generate("sales", leads=100, seed=2, now=NOW).tables
    big = generate("sales", leads=400, seed=2, now=NOW).tables
    assert len(small["leads"]) == 100 and len(big["leads"]) == 400
    assert len(big["accounts"]) == 80 and len(big["contacts"]) == 200 and len(big["deals"]) == 100
    assert len(big["activities"]) == 800 and len(big["tasks"]) == 80
    assert 8 <= len(big["campaigns"]) <= 40 and 10 <= len(big["products"]) <= 30
    assert len(big["orders"]) > len(small["orders"])


def test_references_of_clean_rows_point_to_existing_records(data):
    bad_refs = {(e.table, e.record_id, e.field) for e in data.truth.errors}
    all_ids = set().union(*(set(df.index) for df in data.tables.values()))
    for name, df in data.tables.items():
        for f in data.schema.tables[name].fields:
            if f.type != "reference":
                continue
            target = all_ids if f.reference == "*" else set(data.tables[f.reference].index)
            for rid, v in df[f.name].items():
                if _empty(v) or (name, rid, f.name) in bad_refs:
                    continue
                assert v in target, (name, rid, f.name, v)


def test_every_planted_error_is_in_its_cell(data):
    assert data.truth.errors
    for e in data.truth.errors:
        value = data.tables[e.table].at[e.record_id, e.field]
        if e.raw is None:
            assert _empty(value), e
        else:
            assert value == e.raw, e


def test_about_five_percent_of_rows_carry_a_planted_error(sales):
    copies = sales.truth.duplicate_records()  # duplicates carry the problems of their variations besides
    for table in ("leads", "contacts", "deals"):
        n = len({e.record_id for e in sales.truth.errors_in(table) if (table, e.record_id) not in copies})
        assert 0.04 <= n / len(sales.tables[table]) <= 0.07, table


def test_planted_fixes_are_what_the_tolerant_reader_and_normalizers_give(data):
    ctx = read_context({s.key: s.value for s in data.schema.settings})
    seen = set()
    for e in data.truth.errors:
        f = data.schema.tables[e.table].field(e.field)
        seen.add(e.kind)
        if e.kind in ("date-as-text", "number-as-text", "invalid-date"):
            value, ok = parse_value(f, e.raw, ctx)
            assert ok == e.fixable, e
            if e.fixable:
                assert (pd.Timestamp(value) if f.type == "date" else value) == e.expected_fix
        elif e.kind == "email-typo":
            assert email_typo(e.raw) == e.expected_fix
        elif e.kind == "invalid-email":
            assert normalize_email(e.raw) is None
        elif e.kind == "invalid-phone":
            assert normalize_phone(e.raw, data.schema.setting("default_country").value) is None
        elif e.kind == "extra-spaces":
            assert e.raw != e.expected_fix == clean_spaces(e.raw)
        elif e.kind == "caps-name":
            assert needs_title_case(e.raw) and e.fixable
        elif e.kind == "unknown-option" and f.list:
            assert e.raw not in data.schema.lists[f.list].keys() and e.expected_fix in data.schema.lists[f.list].keys()
    assert {"invalid-email", "required", "caps-name"} & seen


def test_sales_plants_every_kind_of_error(sales):
    kinds = {e.kind for e in sales.truth.errors}
    assert kinds >= {"invalid-email", "email-typo", "date-as-text", "invalid-date", "number-as-text", "unknown-option",
                     "required", "caps-name", "extra-spaces", "unknown-reference", "below-minimum", "invalid-phone"}


def test_clean_rows_pass_the_normalizers(data):
    region = data.schema.setting("default_country").value
    schema = data.schema
    for name, df in data.tables.items():
        clean = _clean_rows(data, name)
        for f in schema.tables[name].fields:
            if f.type == "id" or f.name not in df:
                continue
            col = df.loc[clean, f.name]
            for rid, v in col.items():
                if _empty(v):
                    assert not f.required, (name, rid, f.name)
                    continue
                if f.type == "email":
                    assert normalize_email(v) and email_typo(v) is None, (name, rid, v)
                elif f.type == "phone":
                    assert normalize_phone(v, region), (name, rid, v)
                elif f.type == "url":
                    assert is_url(v), (name, rid, v)
                elif f.type in ("text", "long_text"):
                    assert v == clean_spaces(v), (name, rid, f.name, v)
                    if f.name in ("first_name", "last_name"):
                        assert not needs_title_case(v), (name, rid, v)
                elif f.type == "dropdown" and f.list:
                    assert v in schema.lists[f.list].keys(), (name, rid, f.name, v)
                elif f.type == "tags":
                    assert set(v.split(", ")) <= set(schema.lists[f.list].keys())
                elif f.type == "user":
                    assert v in data.team, (name, rid, v)
                elif f.type in ("money", "number", "integer") and f.constraints.minimum is not None:
                    assert v >= f.constraints.minimum, (name, rid, f.name, v)


def _mailbox(email):
    if _empty(email):
        return None
    local, _, domain = str(email).lower().partition("@")
    local = local.split("+")[0]
    return (local.replace(".", "") if domain == "gmail.com" else local) + "@" + domain


def _people_key(row):
    return {fold(str(row.get("first_name") or "")), fold(str(row.get("last_name") or "")).strip()}


def test_duplicate_pairs_are_the_same_person_written_differently(data):
    region = data.schema.setting("default_country").value
    assert data.truth.duplicate_pairs
    for ta, ia, tb, ib in data.truth.duplicate_pairs:
        a, b = data.tables[ta].loc[ia], data.tables[tb].loc[ib]
        same_mail = _mailbox(a["email"]) and _mailbox(a["email"]) == _mailbox(b["email"])
        phones_a = {normalize_phone(str(a[k]), region) for k in ("phone", "mobile") if k in a and not _empty(a[k])}
        phones_b = {normalize_phone(str(b[k]), region) for k in ("phone", "mobile") if k in b and not _empty(b[k])}
        last_a, last_b = fold(str(a["last_name"])), fold(str(b["last_name"]))
        first_b = fold(str(b["first_name"] or ""))
        names_close = min(OSA.distance(last_a, last_b), OSA.distance(last_a, first_b)) <= 1  # one typo, or swapped
        assert names_close, (ia, ib)
        assert same_mail or (phones_a & phones_b) or _empty(a["email"]) or _empty(b["email"]) or names_close


def test_duplicates_are_about_eight_percent_of_sales_leads(sales):
    copies = {(t, i) for t, i in sales.truth.duplicate_records() if t == "leads"}
    assert 0.07 * 600 <= len(copies) <= 0.2 * 600
    assert any(ta != tb for ta, _, tb, _ in sales.truth.duplicate_pairs)  # leads that are already contacts


def test_look_alikes_are_never_listed_as_duplicates(data):
    assert data.truth.distinct_pairs
    assert not data.truth.distinct_pairs & data.truth.duplicate_pairs


def test_namesakes_share_a_name_but_not_a_mailbox(sales):
    leads = sales.tables["leads"]
    namesakes = [(a, b) for ta, a, tb, b in sales.truth.distinct_pairs if ta == tb == "leads"
                 and leads.at[a, "last_name"] == leads.at[b, "last_name"] and leads.at[a, "first_name"] == leads.at[b, "first_name"]]
    assert namesakes
    for a, b in namesakes:
        assert _empty(leads.at[a, "email"]) or leads.at[a, "email"] != leads.at[b, "email"]


def test_colleagues_share_a_switchboard_and_a_domain_but_not_a_name(sales):
    contacts = sales.tables["contacts"]
    colleague_pairs = [(a, b) for ta, a, tb, b in sales.truth.distinct_pairs if ta == tb == "contacts"]
    assert colleague_pairs
    for a, b in colleague_pairs:
        assert contacts.at[a, "phone"] == contacts.at[b, "phone"]
        assert (contacts.at[a, "first_name"], contacts.at[a, "last_name"]) != (contacts.at[b, "first_name"], contacts.at[b, "last_name"])


def test_sales_team_is_the_one_the_assignment_rules_name(sales):
    assert list(sales.tables["team"]["name"]) == [t[0] for t in TEAM]
    assert sales.team == ["Camille Martin", "Hugo Bernard", "Olivia Smith", "Noah Johnson", "Emma Davis", "Liam Wilson"]


def test_deals_use_the_stage_names_and_have_history(sales):
    deals = sales.tables["deals"]
    stages = {r["stage"]["en"] for r in load_schema("sales").tables["stages"].rows}
    clean = deals.loc[_clean_rows(sales, "deals")]
    assert set(clean["stage"]) <= stages
    won = clean[clean["stage"] == "Closed won"]
    assert len(won) and won["closed"].notna().all() and won["closed"].min() < pd.Timestamp("2026-01-01")
    assert sales.truth.stale_deals
    for rid in sales.truth.stale_deals & set(clean.index):
        assert clean.at[rid, "close_date"] < pd.Timestamp(NOW) and clean.at[rid, "stage"] not in ("Closed won", "Closed lost")


def test_churned_customers_bought_nothing_in_the_last_year(sales):
    orders = sales.tables["orders"]
    last = orders.groupby("account")["date"].max()
    assert sales.truth.churned_accounts
    for acc in sales.truth.churned_accounts:
        assert last[acc] < pd.Timestamp(NOW) - pd.Timedelta(days=365)
    assert (last > pd.Timestamp(NOW) - pd.Timedelta(days=365)).sum() > 0
    assert orders.groupby("account").size().max() > 1  # repeat buyers


def test_nothing_happens_after_now(data):
    now = pd.Timestamp(NOW)
    for name in data.tables:
        for col in ("created", "closed", "completed", "date", "paid_on", "last_contacted"):
            if col in data.tables[name] and str(data.tables[name][col].dtype).startswith("datetime"):
                if name in ("reminders", "sessions") and col == "date":
                    continue  # reminders and booked sessions are in the future too
                assert (data.tables[name][col].dropna() <= now).all(), (name, col)


def test_last_contacted_is_the_latest_activity(sales):
    leads, acts = sales.tables["leads"], sales.tables["activities"]
    latest = acts.dropna(subset=["lead"]).groupby("lead")["date"].max().dt.normalize()
    planted = {e.record_id for e in sales.truth.errors_in("leads") if e.field == "last_contacted"}
    lc = leads["last_contacted"].drop(index=list(planted)).dropna()
    assert len(lc) and (lc == latest.reindex(lc.index)).all()


def test_to_tables_reads_planted_text_as_the_store_would(sales):
    tables = sales.to_tables()
    deals = tables["deals"]
    assert str(deals.df["amount"].dtype) == "float64" and str(deals.df["close_date"].dtype) == "datetime64[ns]"
    for e in sales.truth.errors_in("deals"):
        if e.kind == "number-as-text" and e.fixable:
            assert deals.df.at[e.record_id, "amount"] == e.expected_fix
        if e.kind == "invalid-date":
            assert deals.invalid[(e.record_id, e.field)] == e.raw
    assert tables.setting("currency") == "USD"


def test_names_are_diverse_and_accented(sales):
    names = set(sales.tables["leads"]["first_name"].dropna()) | set(sales.tables["leads"]["last_name"].dropna())
    assert any(any(ch in n for ch in "éèüñöçï") for n in names)
    assert any("'" in n for n in names)
    assert set(NICKNAMES) & names


def test_phones_come_in_several_national_formats(sales):
    phones = sales.tables["leads"]["phone"].dropna().astype(str)
    assert phones.str.startswith("+").any() and phones.str.startswith("(").any() and phones.str.startswith("00").any()


def test_size_limits_are_enforced():
    with pytest.raises(ValueError):
        generate("sales", leads=10)


def test_duplicate_addresses_typed_in_capitals_are_planted_email_format_tidy_ups(sales):
    leads = sales.tables["leads"]
    capitals = {rid for rid, v in leads["email"].items() if isinstance(v, str) and v != v.lower()}
    planted = {e.record_id: e for e in sales.truth.errors_in("leads") if e.kind == "email-format"}
    assert capitals and set(planted) == capitals
    assert {("leads", rid) for rid in capitals} <= sales.truth.duplicate_records()
    for rid, e in planted.items():
        assert e.field == "email" and e.fixable and e.expected_fix == normalize_email(e.raw) == e.raw.lower()


def test_campaign_members_respond_after_joining_and_planned_campaigns_have_sent_nothing(sales):
    members, campaigns = sales.tables["campaign_members"], sales.tables["campaigns"]
    responded = members["responded"].dropna()
    assert len(responded) and (responded >= members.loc[responded.index, "added"]).all()
    assert (members["added"] <= pd.Timestamp(NOW)).all()
    planned = members["campaign"].map(campaigns["start"]) > pd.Timestamp(NOW)
    assert planned.any() and set(members.loc[planned, "status"]) == {"added"}


def test_sales_sample_has_records_that_fire_each_example_automation_on_a_first_run(sales):
    today = pd.Timestamp(NOW).normalize()
    show = sales.truth.showcase
    leads, deals, contacts, tasks = (sales.tables[t] for t in ("leads", "deals", "contacts", "tasks"))
    assert len(show["web_form_leads"]) == 3
    for rid in show["web_form_leads"]:
        lead = leads.loc[rid]
        assert (lead["created"], lead["source"], lead["consent"], lead["opted_out"]) == (today, "web_form", True, False)
        assert normalize_email(lead["email"]) == lead["email"]
    [proposal] = show["proposal_deals"]
    [won] = show["won_deals"]
    assert (deals.at[proposal, "stage"], deals.at[proposal, "created"]) == ("Proposal", today)
    contact = contacts.loc[deals.at[proposal, "contact"]]
    assert normalize_email(contact["email"]) and contact["consent"] and not contact["opted_out"]
    assert (deals.at[won, "stage"], deals.at[won, "created"], deals.at[won, "closed"]) == ("Closed won", today, today)
    week_end = today + pd.Timedelta(days=6 - today.weekday())
    due_now = tasks[tasks["status"].isin(["open", "in_progress"]) & (tasks["due"] <= week_end)]
    assert set(due_now["owner"]) >= set(sales.team)
    last = pd.to_datetime(leads["last_contacted"], errors="coerce").fillna(pd.to_datetime(leads["created"], errors="coerce"))
    quiet = leads[(leads["status"] == "contacted") & (last <= today - pd.Timedelta(days=14))]
    assert len(quiet) >= 3
    touched = {(t, rid) for t, ids in (("leads", show["web_form_leads"]), ("deals", [proposal, won])) for rid in ids}
    assert not touched & ({(e.table, e.record_id) for e in sales.truth.errors} | sales.truth.duplicate_records())


@pytest.fixture(scope="module")
def french():
    return generate("sales", leads=300, seed=4, now=NOW, lang="fr"), generate("sales", leads=300, seed=4, now=NOW)


@pytest.mark.slow
def test_a_french_sample_has_the_same_records_and_planted_cells_as_the_english_one(french):
    fr, en = french
    assert {(e.table, e.record_id, e.field, e.kind) for e in fr.truth.errors} == {(e.table, e.record_id, e.field, e.kind) for e in en.truth.errors}
    assert fr.truth.duplicate_pairs == en.truth.duplicate_pairs and fr.truth.showcase == en.truth.showcase
    pd.testing.assert_series_equal(fr.tables["leads"]["email"], en.tables["leads"]["email"])
    assert fr.lang == "fr" and fr.to_tables().lang == "fr"


def test_a_french_sample_writes_countries_stages_and_free_text_in_french(french):
    from crm_sheets.model.normalize import country

    fr, en = french
    stages = {r["stage"]["fr"] for r in load_schema("sales").tables["stages"].rows}
    planted = fr.truth.error_cells()
    for table in ("accounts", "contacts", "leads"):
        names = fr.tables[table]["country"].dropna()
        assert "Allemagne" in set(names) and "Germany" not in set(names)
        assert [country(v)[0] for v in names] == [country(v)[0] for v in en.tables[table]["country"].dropna()]
    deal_stages = {v for rid, v in fr.tables["deals"]["stage"].items() if ("deals", rid, "stage") not in planted and isinstance(v, str)}
    assert deal_stages == stages
    steps = set(fr.tables["deals"]["next_step"].dropna())
    assert "Appeler le décideur" in steps and not steps & set(en.tables["deals"]["next_step"].dropna())
    assert "Rappeler" in set(fr.tables["tasks"]["title"])
    assert fr.tables["deals"]["name"].str.endswith((" – contrat annuel", " – pilote")).any()


@pytest.mark.slow
def test_clean_people_are_unique_by_mailbox_and_by_name_at_a_company():
    """Gmail's dots and a company's legal form do not make another person: the truth would lie."""
    from crm_sheets.sample.identities import mailbox, person_key

    s = generate("sales", leads=3000, seed=7, now=NOW)
    boxes, people_ = {}, {}
    for table in ("leads", "contacts"):
        df = s.tables[table]
        company = df["company"] if "company" in df else df["account"].map(s.tables["accounts"]["name"])
        for rid in _clean_rows(s, table):
            if isinstance(df.at[rid, "email"], str):
                box = mailbox(df.at[rid, "email"])
                assert box not in boxes, (boxes.get(box), (table, rid))
                boxes[box] = (table, rid)
            key = person_key(df.at[rid, "first_name"], df.at[rid, "last_name"], company[rid])
            if key[2]:
                assert key not in people_, (people_.get(key), (table, rid))
                people_[key] = (table, rid)
