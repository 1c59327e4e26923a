"""Dedupe on the cases that decide it on lists it has not seen: each small list is one hard case, and
the test says whether the pair is merged, asked about (Duplicate Decisions) or kept apart."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from crm_sheets.jobs.dedupe import dedupe, find_pairs
from crm_sheets.model import Table, Tables, load_schema
from helpers import literal_table

NOW = datetime(2024, 6, 1, 9, 30)
SCHEMA = load_schema("sales")
AUTO, REVIEW = 0.92, 0.75


def table(name: str, rows: list[dict]) -> Table:
    return literal_table(SCHEMA, name, rows)


def workbook(leads=(), accounts=()) -> Tables:
    parts = {"leads": leads, "accounts": accounts, "dedupe_decisions": (), "merged": ()}
    return Tables(SCHEMA, {name: table(name, list(rows)) for name, rows in parts.items()})


def lead(rid, first, last, email="", phone="", company="", city="", country="", **kw):
    return dict(id=rid, first_name=first or None, last_name=last or None, email=email or None, phone=phone or None,
                company=company or None, city=city or None, country=country or None, status="new",
                created=pd.Timestamp("2024-01-01"), **kw)


def account(rid, name, address="", phone="", website="", city="", country="", **kw):
    return dict(id=rid, name=name, address=address or None, phone=phone or None, website=website or None,
                city=city or None, country=country or None, created=pd.Timestamp("2024-01-01"), **kw)


def pair(tables: Tables, a: str, b: str):
    return next((p for p in find_pairs(tables, floor=0.0) if {p.id_a, p.id_b} == {a, b}), None)


def outcome(tables: Tables, a: str, b: str) -> str:
    """'merge', 'review' or 'apart', as the dedupe job decides for the pair (a, b)."""
    p = pair(tables, a, b)
    score = p.score if p else 0.0
    return "merge" if score >= AUTO else "review" if score >= REVIEW else "apart"


# ---------------------------------------------------------------------------------------------
# People: the duplicates a person sees at once


GLASGOW = dict(company="Juniper Logistics Ltd", city="Glasgow", country="United Kingdom")
BOARD = "+44 141 496 0000"  # Juniper's switchboard: a landline every colleague gives


def test_a_first_name_cut_short_on_the_switchboard_is_asked():
    tables = workbook(leads=[
        lead("L-00001", "Stephen", "Maillard", phone=BOARD, **GLASGOW),
        lead("L-00002", "Ste", "Maillard", phone=BOARD, **GLASGOW),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "review"
    assert "first name cut short or an initial" in pair(tables, "L-00001", "L-00002").explain()


def test_an_initial_with_the_same_mailbox_is_merged():
    tables = workbook(leads=[
        lead("L-00001", "Lindsey", "Caldwell", "lindsey.caldwell@juniperlogistics.co.uk", BOARD, **GLASGOW),
        lead("L-00002", "L.", "Caldwell", "Lindsey.Caldwell@juniperlogistics.co.uk", "", **GLASGOW),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "merge"


def test_a_cut_short_name_with_a_typo_of_the_same_mailbox_is_merged():
    tables = workbook(leads=[
        lead("L-00001", "Brooke", "Kelley", "brooke.kelley@juniperlogistics.co.uk", BOARD, **GLASGOW),
        lead("L-00002", "Bro", "Kelley", "brooke.kelely@juniperlogistics.co.uk", BOARD, **GLASGOW),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "merge"
    assert "email: one typo apart at the same domain" in pair(tables, "L-00001", "L-00002").reasons


def test_a_transposition_in_the_mailbox_at_the_company_domain_is_merged():
    tables = workbook(leads=[
        lead("L-00001", "Nicholas", "Kelley", "nicholas.kelley@juniperlogistics.co.uk", "", **GLASGOW),
        lead("L-00002", "Nicholas", "Kelley", "nicohlas.kelley@juniperlogistics.co.uk", "", **GLASGOW),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "merge"


@pytest.mark.parametrize("typed", ["Mailllard", "Maillrad"])
def test_a_doubled_or_swapped_letter_in_the_last_name_beside_the_same_phone_and_company(typed):
    tables = workbook(leads=[
        lead("L-00001", "Courtney", "Maillard", "", "+44 7700 900 123", **GLASGOW),
        lead("L-00002", "Courtney", typed, "", "+44 7700 900 123", **GLASGOW),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "merge"


def test_a_swapped_letter_in_a_short_last_name_with_the_same_mobile():
    tables = workbook(leads=[
        lead("L-00001", "Derek", "Wong", "", "+1 503 555 0147", "Meadow Labs", "Portland", "United States"),
        lead("L-00002", "Derek", "Wnog", "", "(503) 555-0147", "Meadow Labs", "Portland", "United States"),
    ])
    assert outcome(tables, "L-00001", "L-00002") != "apart"


def test_a_private_mailbox_beside_the_work_one_is_matched_and_said_so():
    tables = workbook(leads=[
        lead("L-00001", "Heather", "Thornton", "heather.thornton@juniperlogistics.co.uk", "+44 7700 900 456", **GLASGOW),
        lead("L-00002", "Heather", "Thornton", "heatherthornton@gmail.com", "07700 900456", **GLASGOW),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "merge"
    reasons = pair(tables, "L-00001", "L-00002").reasons
    assert "email: two mailboxes in the person's name (private and work)" in reasons
    assert "email: same" not in reasons


def test_two_spellings_of_one_gmail_mailbox_are_not_called_the_same_email():
    tables = workbook(leads=[
        lead("L-00001", "Ana", "Lopez", "ana.lopez@gmail.com", city="Lyon"),
        lead("L-00002", "Ana", "Lopez", "analopez+crm@gmail.com", city="Lyon"),
    ])
    reasons = pair(tables, "L-00001", "L-00002").reasons
    assert "email: same mailbox, written differently (dots or a +tag)" in reasons
    assert "email: same" not in reasons


def test_a_phone_typed_without_country_code_is_read_in_the_record_country():
    tables = workbook(leads=[
        lead("L-00001", "Jürgen", "Brandt", "", "+49 711 2345 678", "Eastfield Pharma KG", "Stuttgart", "Germany"),
        lead("L-00002", "Jürgen", "Brandt", "", "0711 2345678", "Eastfield Pharma KG", "Stuttgart", "Deutschland"),
    ])
    assert "phone: same" in pair(tables, "L-00001", "L-00002").reasons


def test_colleagues_on_one_switchboard_are_kept_apart():
    tables = workbook(leads=[
        lead("L-00001", "Tyler", "Prescott", "tyler.prescott@juniperlogistics.co.uk", BOARD, **GLASGOW),
        lead("L-00002", "Courtney", "Holloway", "courtney.holloway@juniperlogistics.co.uk", BOARD, **GLASGOW),
        lead("L-00003", "Whitney", "Prescott", "", BOARD, **GLASGOW),  # a relative at the same firm
    ])
    assert outcome(tables, "L-00001", "L-00002") == "apart"
    assert outcome(tables, "L-00001", "L-00003") == "apart"


def test_an_initial_on_the_switchboard_is_asked_not_merged():
    # S. Prescott may be Stephen or his sister Sarah, who answer the same switchboard
    tables = workbook(leads=[
        lead("L-00001", "Stephen", "Prescott", "stephen.prescott@juniperlogistics.co.uk", BOARD, **GLASGOW),
        lead("L-00002", "S.", "Prescott", "", BOARD, **GLASGOW),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "review"


def test_colleagues_whose_mailboxes_differ_as_their_names_do_are_not_a_typo():
    tables = workbook(leads=[
        lead("L-00001", "Carla", "Moreno", "carla.moreno@juniperlogistics.co.uk", BOARD, **GLASGOW),
        lead("L-00002", "Carlo", "Moreno", "carlo.moreno@juniperlogistics.co.uk", BOARD, **GLASGOW),
    ])
    assert outcome(tables, "L-00001", "L-00002") != "merge"
    assert "email: one typo apart at the same domain" not in pair(tables, "L-00001", "L-00002").reasons


def test_namesakes_in_one_city_are_kept_apart():
    tables = workbook(leads=[
        lead("L-00001", "Derek", "Lindqvist", "derek.lindqvist@hollybrookfoods.com", "+1 919 555 0101",
             "Hollybrook Foods", "Raleigh", "United States"),
        lead("L-00002", "Derek", "Lindqvist", "dlindqvist@pinnaclerobotics.com", "+1 919 555 0177",
             "Pinnacle Robotics", "Raleigh", "United States"),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "apart"


def test_a_record_with_only_the_name_and_city_of_another_is_asked():
    tables = workbook(leads=[
        lead("L-00001", "Troy", "Mcallister", "troy@uplandanalytics.com", "+1 612 555 0188", "Upland Analytics",
             "Minneapolis", "United States"),
        lead("L-00002", "Troy", "Mcallister", city="Minneapolis", country="United States"),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "review"


def test_the_dedupe_job_merges_the_sure_case_and_asks_the_unsure_one():
    tables = workbook(leads=[
        lead("L-00001", "Nicholas", "Kelley", "nicholas.kelley@juniperlogistics.co.uk", BOARD, **GLASGOW),
        lead("L-00002", "Nicholas", "Kelley", "nicohlas.kelley@juniperlogistics.co.uk", BOARD, **GLASGOW),
        lead("L-00003", "Stephen", "Maillard", "", BOARD, **GLASGOW),
        lead("L-00004", "Ste", "Maillard", "", BOARD, **GLASGOW),
    ])
    result = dedupe(tables, now=NOW)
    assert {(a.record_id, a.info["merged_into"]) for a in result.changes.archives} == {("L-00002", "L-00001")}
    asked = {frozenset((r.values["record_a"], r.values["record_b"])) for r in result.changes.appends
             if r.table == "dedupe_decisions"}
    assert asked == {frozenset(("L-00003", "L-00004"))}


# ---------------------------------------------------------------------------------------------
# Organisations: name, street address, phone and website together


def test_street_address_variants_and_a_local_phone_make_one_organisation():
    tables = workbook(accounts=[
        account("A-00001", "Carole Robertson Center for Learning", "3701 W. Ogden Ave", "522-8400", city="Chicago"),
        account("A-00002", "CAROLE ROBERTSON CENTER FOR LEARNING", "3701 West Ogden Avenue", "(773) 522-8400",
                city="Chicago"),
        account("A-00003", "Ferguson CPC", "1420 N. Hudson", "534-8580", city="Chicago"),
    ])
    assert outcome(tables, "A-00001", "A-00002") == "merge"
    reasons = pair(tables, "A-00001", "A-00002").reasons
    assert "address: same" in reasons and "phone: same local number (one without area code)" in reasons


def test_a_local_number_kept_in_a_number_cell_matches_the_same_number_typed_with_area_code():
    tables = workbook(accounts=[
        account("A-00001", "Ferguson CPC", "1420 N. Hudson", 5348580.0, city="Chicago"),
        account("A-00002", "Ferguson CPC", "1420 N Hudson Avenue", "(773) 534-8580", city="Chicago"),
    ])
    assert "phone: same local number (one without area code)" in pair(tables, "A-00001", "A-00002").reasons


def test_a_short_name_inside_the_long_one_at_the_same_address_and_phone_is_merged():
    tables = workbook(accounts=[
        account("A-00001", "Young", "1434 N. Parkside", "534-6200", city="Chicago"),
        account("A-00002", "Chicago Public Schools Young, Ella Flagg", "1434 N PARKSIDE", "5346200", city="Chicago"),
        account("A-00003", "Chicago Public Schools Blaine", "1420 W. Grace", "534-5750", city="Chicago"),
        account("A-00004", "Ferguson CPC", "1420 N. Hudson", "534-8580", city="Chicago"),
    ])
    assert outcome(tables, "A-00001", "A-00002") == "merge"
    assert outcome(tables, "A-00002", "A-00003") == "apart"  # 'Chicago Public Schools' is common: two schools


def test_a_name_variant_with_the_same_website_and_phone_is_merged():
    tables = workbook(accounts=[
        account("A-00001", "Art's Delicatessen", "12224 Ventura Blvd.", "818/762-1221", "https://www.artsdeli.com",
                "Studio City"),
        account("A-00002", "Art's Deli", "", "818-762-1221", "artsdeli.com", "Studio City"),
    ])
    assert outcome(tables, "A-00001", "A-00002") == "merge"


def test_branches_of_a_chain_are_kept_apart():
    tables = workbook(accounts=[
        account("A-00001", "Kingfisher Coffee", "100 Main St", "+1 503 555 0100", city="Portland"),
        account("A-00002", "Kingfisher Coffee", "2200 Oak Avenue", "+1 503 555 0199", city="Portland"),
    ])
    assert outcome(tables, "A-00001", "A-00002") == "apart"


def test_two_organisations_sharing_a_building_and_reception_are_kept_apart():
    tables = workbook(accounts=[
        account("A-00001", "Harbour Dental Partners", "5 High Street", "0141 496 0500", city="Glasgow",
                country="United Kingdom"),
        account("A-00002", "Thistle Legal LLP", "5 High St.", "0141 496 0500", city="Glasgow", country="United Kingdom"),
    ])
    assert outcome(tables, "A-00001", "A-00002") == "apart"


def test_two_restaurants_of_one_hotel_are_asked_not_merged():
    # in a list of restaurants 'cafe' and 'dining room' are common words, the hotel's name is not
    others = ["Cafe Luxembourg", "Cafe Pierre", "Cafe des Artistes", "The Dining Room", "Grill Room Cafe",
              "Mesa Grill", "Spago", "Dining Room at the Plaza", "Union Square Cafe", "Cafe Bizou"]
    tables = workbook(accounts=[
        account("A-00001", "Cafe Ritz-Carlton Buckhead", "3434 Peachtree Rd.", "404/237-2700", city="Atlanta"),
        account("A-00002", "Dining Room Ritz-Carlton Buckhead", "3434 Peachtree Rd. NE", "404-237-2700", city="Atlanta"),
    ] + [account(f"A-{k + 3:05d}", name, f"{100 + k} Main St.", f"212/555-01{k:02d}", city="New York")
         for k, name in enumerate(others)])
    assert outcome(tables, "A-00001", "A-00002") == "review"
    assert "name: two places of one house (a cafe and a restaurant...)" in pair(tables, "A-00001", "A-00002").reasons


def test_leads_that_carry_only_an_organisation_are_matched_as_organisations():
    tables = workbook(leads=[
        lead("L-00001", "", "", "", "(773) 522-8400", "Carole Robertson Center for Learning", "Chicago"),
        lead("L-00002", "", "", "", "522-8400", "Carole Robertson Center For Learning", "Chicago"),
        lead("L-00003", "", "", "", "522-8400", "Ferguson CPC", "Chicago"),  # another name, one phone: not merged
    ])
    assert outcome(tables, "L-00001", "L-00002") == "merge"
    assert outcome(tables, "L-00002", "L-00003") != "merge"


# ---------------------------------------------------------------------------------------------
# A list of businesses pasted into Leads: no person's name, no address column


def test_a_business_pasted_twice_into_leads_is_merged_and_the_run_says_why():
    tables = workbook(leads=[
        lead("L-00001", "", "", "", "404/237-2663", "Bone's", "Atlanta", "United States"),
        lead("L-00002", "", "", "", "404-237-2663", "Bone's Restaurant", "Atlanta", "United States"),
        lead("L-00003", "", "", "", "404-874-7600", "Ciboulette Restaurant", "Atlanta", "United States"),
    ])
    result = dedupe(tables, now=NOW)
    assert {(a.record_id, a.info["merged_into"]) for a in result.changes.archives} == {("L-00002", "L-00001")}
    said = next(f.message for f in result.findings if f.type == "duplicate-merged")
    assert "name: one contains the other" in said and "phone: same" in said


def test_a_city_written_in_a_business_name_does_not_make_another_business():
    tables = workbook(leads=[
        lead("L-00001", "", "", "", "310/652-4025", "Spago", "Los Angeles", "United States"),
        lead("L-00002", "", "", "", "310-652-4025", "Spago (Los Angeles)", "W. Hollywood", "United States"),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "merge"
    assert "name: same" in pair(tables, "L-00001", "L-00002").reasons


def test_a_chain_central_number_in_three_cities_is_not_one_business():
    tables = workbook(leads=[
        lead("L-00001", "", "", "", "+1 800 555 0142", "Pizza Roma", "Portland", "United States"),
        lead("L-00002", "", "", "", "+1 800 555 0142", "Pizza Roma", "Phoenix", "United States"),
        lead("L-00003", "", "", "", "+1 800 555 0142", "Pizza Roma", "Raleigh", "United States"),
    ])
    assert outcome(tables, "L-00001", "L-00002") != "merge"


def test_colleagues_on_one_switchboard_stay_apart_beside_their_company_pasted_as_a_lead():
    tables = workbook(leads=[
        lead("L-00001", "Alistair", "Macleod", "alistair.macleod@juniperlogistics.co.uk", BOARD, **GLASGOW),
        lead("L-00002", "Fiona", "Pritchard", "fiona.pritchard@juniperlogistics.co.uk", BOARD, **GLASGOW),
        lead("L-00003", "", "", "", BOARD, **GLASGOW),  # the firm itself, from a list of companies
    ])
    result = dedupe(tables, now=NOW)
    assert not result.changes.archives
    assert outcome(tables, "L-00001", "L-00002") == "apart"
    assert outcome(tables, "L-00001", "L-00003") == "apart"


def test_a_street_address_with_its_direction_or_mall_after_the_street_type_is_one_address():
    tables = workbook(accounts=[
        account("A-00001", "Abruzzi", "2355 Peachtree Rd.  Peachtree Battle Shopping Center", "404/261-8186",
                city="Atlanta"),
        account("A-00002", "Abruzzi", "2355 Peachtree Rd. NE", "404-261-8186", city="Atlanta"),
    ])
    assert outcome(tables, "A-00001", "A-00002") == "merge"
    assert "address: same" in pair(tables, "A-00001", "A-00002").reasons


def test_relatives_whose_mailboxes_differ_by_two_letters_in_the_first_name_are_not_merged():
    firm = dict(company="Hollybrook Printing AG", city="Hannover", country="Germany")
    tables = workbook(leads=[
        lead("L-00001", "Karin", "Jablonski", "karin.jablonski@hollybrookprinting.de", "015278113733", **firm),
        lead("L-00002", "Jablonski", "Kai", "kai.jablonski@hollybrookprinting.de", "05116 246 713", **firm),
        lead("L-00003", "M", "Merriweather", "megan_merriweather@hollybrookprinting.de", **firm),
        lead("L-00004", "Morgan", "Merriweather", "morgan_merriweather@hollybrookprinting.de", **firm),
    ])
    assert outcome(tables, "L-00001", "L-00002") != "merge"
    assert outcome(tables, "L-00003", "L-00004") != "merge"


def test_two_sites_of_one_organisation_are_not_merged_through_its_short_name():
    chicago = dict(city="Chicago", country="United States")
    tables = workbook(leads=[
        lead("L-00001", "", "", "", "348-5528", "Mary Crane League", **chicago),
        lead("L-00002", "", "", "", "348-5528", "Mary Crane League - Mary Crane West", **chicago),
        lead("L-00003", "", "", "", "348-5528", "Mary Crane League - Mary Crane North", **chicago),
        lead("L-00004", "", "", "", "534-8580", "Ferguson CPC", **chicago),
    ])
    result = dedupe(tables, now=NOW)
    groups: dict[str, set[str]] = {}
    for a in result.changes.archives:
        groups.setdefault(a.info["merged_into"], {a.info["merged_into"]}).add(a.record_id)
    assert len(groups) == 1  # the league merged with one of its sites ...
    assert not any({"L-00002", "L-00003"} <= g for g in groups.values())  # ... never both sites together
    asked = [r.values["reason"] for r in result.changes.appends if r.table == "dedupe_decisions"]
    assert any("name: one contains the other" in reason for reason in asked)  # the other is asked about


def test_one_of_two_last_names_on_the_switchboard_is_asked_not_merged():
    firm = dict(company="Driftwood Consulting SL", city="Valencia", country="Spain")
    tables = workbook(leads=[
        lead("L-00001", "Carmen", "Romero Navarro", "", "969 493 549", **firm),
        lead("L-00002", "Carmen", "Romero", "cromero@driftwoodconsulting.es", "+34 969 493 549", **firm),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "review"
    assert ("name: same first name, last name cut short (an initial, or one of two names)"
            in pair(tables, "L-00001", "L-00002").reasons)


def test_mailboxes_differing_by_the_initials_of_two_last_names_are_two_people():
    firm = dict(company="Wattle Media S.L.", city="Sevilla", country="Spain")
    tables = workbook(leads=[
        lead("L-00001", "Begoña", "García López", "begonag@wattlemedia.es", "958 096 428", **firm),
        lead("L-00002", "Begoña", "López", "begonal@wattlemedia.es", "+34 954 225 457", **firm),
    ])
    assert outcome(tables, "L-00001", "L-00002") != "merge"


def test_first_and_last_swapped_with_the_first_name_cut_short_is_asked():
    firm = dict(company="Moorland Dental PLC", city="Cardiff", country="United Kingdom")
    tables = workbook(leads=[
        lead("L-00001", "QUAYLE", "SIOBHAN", "Siobhan.quayle@moorlanddental.co.uk", "02982 833 739", **firm),
        lead("L-00002", "Sio", "Quayle", "", "02982 833 739", **firm),
        lead("L-00003", "Gareth", "Pritchard", "gareth.pritchard@moorlanddental.co.uk", "02982 833 739", **firm),
    ])
    assert outcome(tables, "L-00001", "L-00002") == "review"


def test_an_internet_provider_no_list_names_is_a_private_mailbox():
    # telefonica.net is given by people of three firms, none of which it names: nobody's company
    others = [lead(f"L-0001{k}", first, "Ortega", f"{first.lower()}.ortega@telefonica.net", company=firm, city="Madrid",
                   country="Spain")
              for k, (first, firm) in enumerate((("Diego", "Lantern SL"), ("Nuria", "Orchard SL"), ("Jaume", "Zephyr SA")))]
    tables = workbook(leads=[
        lead("L-00001", "Femke", "van den Berg", "femke.vandenberg@moorland.nl", "0405 177 079", "Moorland B.V.",
             "Eindhoven", "Netherlands"),
        lead("L-00002", "Femke", "van den Berg", "vandenberg.femke73@telefonica.net", "0405 177 079", "Moorland B.V.",
             "Eindhoven", "Netherlands"),
    ] + others)
    p = pair(tables, "L-00001", "L-00002")
    assert "email: two mailboxes in the person's name (private and work)" in p.reasons
    assert outcome(tables, "L-00001", "L-00002") == "merge"
