"""The store core finds records again before a live write (store/core/refind.py): by ID after people sorted the
sheet, and it stops the write (WorkbookChanged) when a header, a touched record or a numbering key changed."""
from __future__ import annotations

import copy

import pytest
from test_store_core import memory_copy

from crm_sheets.errors import WorkbookChanged
from crm_sheets.model.tables import META_SHEET
from crm_sheets.store.core import read_tables
from crm_sheets.store.core.refind import check_numbering, col_index, find_records, find_table


@pytest.fixture
def leads_read(built_book):
    """(the Leads table as read, its sheet's rows as read, the _crm_meta rows as read)."""
    source = memory_copy(built_book(sample_data=50))
    tables = read_tables(source)
    leads = tables["leads"]
    return leads, source[leads.sheet], source[META_SHEET]


def sorted_by_id_descending(leads, rows):
    h = leads.header_row
    return rows[:h] + sorted(rows[h:], key=lambda r: str(r[0]) if r and r[0] else "", reverse=True)


def test_records_moved_by_a_sort_are_found_by_their_id(leads_read):
    leads, read, _ = leads_read
    fresh = sorted_by_id_descending(leads, copy.deepcopy(read))
    assert fresh != read
    lay = find_table(leads, fresh, read, workbook="crm.xlsx")
    rids = list(leads.df.index)
    rows = find_records({"leads": lay}, [("leads", rid) for rid in rids], workbook="crm.xlsx")
    id_col = lay.cols["id"]
    assert all(fresh[rows[("leads", rid)]][id_col] == rid for rid in rids)
    assert rows[("leads", rids[0])] != leads.rows[rids[0]] - 1  # the first record now sits lower
    assert lay.last == len(fresh) - 1


def test_a_colleagues_edit_in_a_touched_record_stops_the_write_naming_the_cell(leads_read):
    leads, read, _ = leads_read
    fresh = sorted_by_id_descending(leads, copy.deepcopy(read))
    rid = leads.df.index[2]
    lay = find_table(leads, fresh, read, workbook="crm.xlsx")
    now = lay.ids[rid]
    notes = lay.cols["notes"]
    fresh[now] = [*fresh[now], *[""] * (notes + 1 - len(fresh[now]))]
    fresh[now][notes] = "call back Tuesday"
    letter = leads.columns["notes"]
    with pytest.raises(WorkbookChanged, match=rf"crm.xlsx: Leads!{letter}{now + 1} \(record {rid}\) was changed since "
                                              "it was read; nothing was written, the edit is kept"):
        find_records({"leads": lay}, [("leads", rid)], workbook="crm.xlsx")


def test_an_edit_in_a_record_the_write_does_not_touch_is_not_a_change(leads_read):
    leads, read, _ = leads_read
    fresh = copy.deepcopy(read)
    edited, touched = leads.df.index[1], leads.df.index[4]
    fresh[leads.rows[edited] - 1][lay_col(leads, "notes")] = "call back Tuesday"
    lay = find_table(leads, fresh, read, workbook="crm.xlsx")
    assert find_records({"leads": lay}, [("leads", touched)], workbook="crm.xlsx") == {
        ("leads", touched): leads.rows[touched] - 1}


def test_a_cell_the_backend_skips_is_not_a_change(leads_read):
    """Excel recomputes formula cells (=TODAY()) without anyone editing the record: the live store skips them."""
    leads, read, _ = leads_read
    fresh = copy.deepcopy(read)
    rid = leads.df.index[0]
    row, col = leads.rows[rid] - 1, lay_col(leads, "notes")
    fresh[row][col] = "recomputed"
    lay = find_table(leads, fresh, read, workbook="crm.xlsx")
    with pytest.raises(WorkbookChanged):
        find_records({"leads": lay}, [("leads", rid)], workbook="crm.xlsx")
    got = find_records({"leads": lay}, [("leads", rid)], workbook="crm.xlsx",
                       skip=lambda sheet, r, c: (sheet, r, c) == (leads.sheet, row, col))
    assert got == {("leads", rid): row}


def test_a_record_whose_id_was_removed_stops_the_write(leads_read):
    leads, read, _ = leads_read
    fresh = copy.deepcopy(read)
    rid = leads.df.index[3]
    fresh[leads.rows[rid] - 1][lay_col(leads, "id")] = ""
    lay = find_table(leads, fresh, read, workbook="crm.xlsx")
    with pytest.raises(WorkbookChanged, match=f"record {rid} of Leads was removed or its ID changed"):
        find_records({"leads": lay}, [("leads", rid)], workbook="crm.xlsx")


def test_a_renamed_header_stops_the_write(leads_read):
    leads, read, _ = leads_read
    fresh = copy.deepcopy(read)
    fresh[leads.header_row - 1][lay_col(leads, "notes")] = "Remarks"
    with pytest.raises(WorkbookChanged, match="the headers of Leads changed since they were read"):
        find_table(leads, fresh, read, workbook="crm.xlsx")


def test_numbering_changed_by_another_run_stops_the_write_and_other_keys_do_not(leads_read):
    _, _, meta = leads_read
    fresh = copy.deepcopy(meta)
    seq = next(i for i, r in enumerate(fresh) if r and r[0] == "seq.leads")
    other = next(i for i, r in enumerate(fresh) if r and r[0] and r[0] != "seq.leads" and i > 0)
    fresh[other][1] = "something else"
    check_numbering(["seq.leads", "schema_version"], fresh, meta, workbook="crm.xlsx")
    fresh[seq][1] = float(fresh[seq][1]) + 3
    with pytest.raises(WorkbookChanged, match=r"record numbering \(seq.leads\) changed since it was read"):
        check_numbering(["seq.leads"], fresh, meta, workbook="crm.xlsx")
    with pytest.raises(WorkbookChanged, match=r"seq.contacts"):  # a key that appeared meanwhile
        check_numbering(["seq.contacts"], [*meta, ["seq.contacts", 1]], meta, workbook="crm.xlsx")


def lay_col(table, field_name: str) -> int:
    return col_index(table.columns[field_name])
