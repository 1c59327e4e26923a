"""The store core reads any backend's grids: a workbook given as plain grids of values (MemoryGrids, the
reference GridSource other backends mirror) reads to the same Tables as the .xlsx file holding those grids."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from helpers import calamine, grids
from test_reader import LEAD_HEADERS, make_workbook, settings_rows

from crm_sheets.model.schema import normalize_header
from crm_sheets.store import read_workbook
from crm_sheets.store.core import GridSource, MemoryGrids, read_tables


def memory_copy(path, **grids_given) -> MemoryGrids:
    """The workbook file as MemoryGrids: its sheets' values, Excel tables and merged ranges."""
    book = calamine(path, tables=True)
    tables = {}
    for name in book.table_names:
        t = book.get_table_by_name(name)
        tables[normalize_header(name)] = (t.sheet, t.start[0])
    merged = {s: list(book.get_sheet_by_name(s).merged_cell_ranges or ()) for s in book.sheet_names}
    return MemoryGrids(grids_given or grids(path), name=path.name, source=str(path), tables=tables, merged=merged)


def assert_same_tables(got, want):
    assert got.sheet_names == want.sheet_names
    assert (got.lang, got.settings, got.meta, got.adopted, got.date1904) == (want.lang, want.settings, want.meta,
                                                                            want.adopted, want.date1904)
    assert got.lists == want.lists
    assert got.notes == want.notes
    assert got.schema == want.schema
    assert set(got.tables) == set(want.tables)
    for name, w in want.tables.items():
        g = got.tables[name]
        pd.testing.assert_frame_equal(g.df, w.df)
        assert (g.sheet, g.rows, g.columns, g.extra_columns, g.header_row) == (w.sheet, w.rows, w.columns,
                                                                               w.extra_columns, w.header_row)
        assert (g.invalid, g.typed_text, g.assigned_ids, g.next_id) == (w.invalid, w.typed_text, w.assigned_ids,
                                                                        w.next_id)


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_the_sample_workbook_reads_the_same_from_grids_as_from_its_file(built_book):
    path = built_book(sample_data=50)
    source = memory_copy(path)
    assert isinstance(source, GridSource)
    got, want = read_tables(source), read_workbook(path)
    assert len(want["leads"].df) == 50
    assert_same_tables(got, want)
    assert got.source == want.source == str(path)


def test_a_team_sheet_given_as_ragged_grids_reads_as_its_file_does(tmp_path):
    """Title rows, blank rows, rows without IDs, a copied ID, people's own column, numbers typed as text, cells
    merged down a column and a date: the grids are given as a person would write them (None for empty cells,
    ragged rows, whole numbers as int) and read to what the .xlsx of the same grids reads to."""
    leads = [
        ["Leads of the spring fair"],
        [],
        [*LEAD_HEADERS, "My notes"],
        ["L-00004", "Ana", "Lopez", "ana@example.com", "Acme", "Qualified", True, dt.date(2025, 3, 14), 12, "met her"],
        [None, "Ben", "Stone", None, None, "New", False, "2025-03-15", "7"],
        [],
        ["L-00004", "Ana", "Lopez (copy)", None, "Initech"],
        ["L-00009", "Cleo", "Ray", "cleo@example", None, None, "maybe", "soon", "lots"],
        [None, None, None, None, None, None, None, None, None, "a note beside the table"],
    ]
    sheets = {"Leads": leads, "Settings": settings_rows(default_country="US")}
    merges = {"Leads": [(0, 0, 0, 8), (3, 4, 4, 4)]}
    path = make_workbook(tmp_path / "team.xlsx", sheets, meta={"seq.leads": 5}, merges=merges)
    meta_rows = [["Key", "Value"], ["template", "sales"], ["schema_version", 1], ["lang", "en"], ["seq.leads", 5]]
    source = MemoryGrids({**sheets, "_crm_meta": meta_rows}, name=path.name, source=str(path),
                         merged={"Leads": [((0, 0), (0, 8)), ((3, 4), (4, 4))]})
    want = read_workbook(path)
    assert want["leads"].assigned_ids and want["leads"].invalid and want["leads"].extra_columns == ("My notes",)
    assert_same_tables(read_tables(source), want)


def test_a_grid_source_that_is_not_a_crm_workbook_is_refused_by_name():
    from crm_sheets.errors import NotAWorkbook

    source = MemoryGrids({"Sheet1": [["a", "b"], [1, 2]]}, name="Budget", source="memory:Budget")
    with pytest.raises(NotAWorkbook, match="memory:Budget: not a crm-sheets workbook"):
        read_tables(source)
