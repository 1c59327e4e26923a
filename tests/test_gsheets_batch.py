"""Sheets batchUpdate requests built from typed values (pure): text is never a formula, dates are serial numbers
with a date format, rows are deleted bottom-up, a batch splits only past its size limit."""
import datetime as dt
import math

import numpy as np
import pandas as pd

from crm_sheets.store.gsheets import batch


def test_text_that_looks_like_a_formula_or_a_number_is_sent_as_text():
    assert batch.extended_value("=1+1") == {"stringValue": "=1+1"}
    assert batch.extended_value("+49 30 1234") == {"stringValue": "+49 30 1234"}
    assert batch.extended_value("00123") == {"stringValue": "00123"}
    assert batch.extended_value("TRUE") == {"stringValue": "TRUE"}


def test_numbers_booleans_and_blanks_keep_their_type():
    assert batch.extended_value(True) == {"boolValue": True}
    assert batch.extended_value(np.bool_(False)) == {"boolValue": False}
    assert batch.extended_value(42) == {"numberValue": 42}
    assert batch.extended_value(np.int64(7)) == {"numberValue": 7}
    assert batch.extended_value(2.5) == {"numberValue": 2.5}
    for blank in (None, math.nan, pd.NA, pd.NaT, np.nan):
        assert batch.extended_value(blank) is None
        assert batch.cell_data(blank) == {}


def test_dates_are_serial_numbers_with_a_date_format():
    assert batch.serial(dt.date(1899, 12, 31)) == 1
    assert batch.serial(dt.date(2025, 3, 14)) == 45730
    assert batch.serial(dt.datetime(2025, 3, 14, 12, 0)) == 45730.5
    assert batch.cell_data(dt.date(2025, 3, 14), with_format=True) == {
        "userEnteredValue": {"numberValue": 45730.0},
        "userEnteredFormat": {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}}}
    stamp = batch.cell_data(pd.Timestamp("2025-03-14 09:30"), with_format=True)
    assert stamp["userEnteredFormat"]["numberFormat"]["type"] == "DATE_TIME"
    assert batch.cell_data(pd.Timestamp("2025-03-14"), with_format=True)["userEnteredFormat"]["numberFormat"]["type"] == "DATE"


def test_single_cell_updates_share_a_request_only_when_adjacent_and_alike():
    reqs = batch.update_cells(3, [(5, 1, "a"), (5, 2, "b"), (5, 4, dt.date(2025, 1, 1)), (9, 0, None)])
    assert len(reqs) == 3
    first = reqs[0]["updateCells"]
    assert first["start"] == {"sheetId": 3, "rowIndex": 5, "columnIndex": 1}
    assert first["fields"] == "userEnteredValue"
    assert [c["userEnteredValue"]["stringValue"] for c in first["rows"][0]["values"]] == ["a", "b"]
    assert reqs[1]["updateCells"]["fields"] == "userEnteredValue,userEnteredFormat.numberFormat"
    assert reqs[2]["updateCells"]["rows"][0]["values"] == [{}]  # a blank clears the cell


def test_a_later_update_of_the_same_cell_wins():
    reqs = batch.update_cells(0, [(1, 1, "old"), (1, 1, "new")])
    assert reqs[0]["updateCells"]["rows"][0]["values"][0]["userEnteredValue"] == {"stringValue": "new"}


def test_a_block_keeps_the_rows_formats_and_formats_only_its_date_runs():
    rows = [["L-1", dt.date(2025, 1, 1), 3], ["L-2", None, 4], ["L-3", dt.date(2025, 1, 3), "x"]]
    reqs = batch.write_block(7, 10, 0, rows)
    assert reqs[0]["updateCells"]["fields"] == "userEnteredValue"
    formats = [r["repeatCell"] for r in reqs[1:]]
    assert len(formats) == 1
    assert formats[0]["range"] == {"sheetId": 7, "startRowIndex": 10, "endRowIndex": 13, "startColumnIndex": 1,
                                   "endColumnIndex": 2}


def test_rows_are_deleted_bottom_up_in_contiguous_runs():
    reqs = batch.delete_rows(2, [4, 5, 9, 6, 1])
    ranges = [(r["deleteDimension"]["range"]["startIndex"], r["deleteDimension"]["range"]["endIndex"]) for r in reqs]
    assert ranges == [(9, 10), (4, 7), (1, 2)]


def test_a_batch_is_split_only_past_its_size_limit():
    reqs = batch.update_cells(0, [(r, 0, "x" * 100) for r in range(0, 200, 2)])
    assert batch.split_batches(reqs) == [reqs]
    parts = batch.split_batches(reqs, limit=2_000)
    assert len(parts) > 1 and [r for p in parts for r in p] == reqs
    assert all(sum(batch.request_size(r) + 1 for r in p) <= 2_000 for p in parts)


def test_validation_protection_and_metadata_requests():
    dv = batch.one_of_range(1, 1, None, 3, "'Lists'!$B$2:$B$9")["setDataValidation"]
    assert dv["rule"]["condition"] == {"type": "ONE_OF_RANGE", "values": [{"userEnteredValue": "='Lists'!$B$2:$B$9"}]}
    assert dv["range"] == {"sheetId": 1, "startRowIndex": 1, "startColumnIndex": 3, "endColumnIndex": 4}
    assert batch.checkbox(1, 1, 50, 2)["setDataValidation"]["rule"]["condition"] == {"type": "BOOLEAN"}
    assert batch.protect(4, "score: written by automate", 5, 6)["addProtectedRange"]["protectedRange"]["warningOnly"] is True
    md = batch.row_metadata(4, 0, "table", "leads")["createDeveloperMetadata"]["developerMetadata"]
    assert md["metadataKey"] == "crm_sheets.table" and md["location"]["dimensionRange"]["endIndex"] == 1


def test_a1_ranges_quote_sheet_names():
    assert batch.a1("Leads", 1, 0, 10, 3) == "'Leads'!A2:C10"
    assert batch.a1("Bob's", 0, 0, None, 2) == "'Bob''s'!A1:B"


def test_a_jobs_column_updated_over_consecutive_records_is_one_request():
    cells = [(r, c, f"v{r}{c}") for r in range(5, 105) for c in (25, 26, 27)]
    reqs = batch.update_cells(1, cells)
    assert len(reqs) == 1
    block = reqs[0]["updateCells"]
    assert block["start"] == {"sheetId": 1, "rowIndex": 5, "columnIndex": 25}
    assert len(block["rows"]) == 100 and len(block["rows"][0]["values"]) == 3
    gap = batch.update_cells(1, [(1, 0, "a"), (2, 0, "b"), (4, 0, "c")])
    assert len(gap) == 2  # a row between them is not touched


def test_groups_that_must_land_together_are_never_split_across_batches():
    small = batch.update_cells(0, [(1, 0, "x" * 50)])
    group_a = small * 10
    group_b = small * 10
    size = sum(batch.request_size(r) + 1 for r in group_a)
    parts = batch.pack_groups([group_a, group_b], limit=int(size * 1.5))
    assert parts == [group_a, group_b]
    assert batch.pack_groups([group_a, group_b], limit=size * 3) == [group_a + group_b]


def test_a_report_sheet_is_styled_by_runs_down_its_columns_not_cell_by_cell():
    from crm_sheets.model.sheets import Cell, SheetSpec
    from crm_sheets.store.gsheets import render

    rows = [[Cell("Table", style="header"), Cell("Cell", style="header")]]
    rows += [[Cell(f"leads {i}", style="wrap"), Cell(f"B{i}", link=f"Leads!B{i}")] for i in range(2, 40)]
    reqs = render.sheet_requests(SheetSpec("Data Issues", "data_issues", rows=rows), 9, {"Leads": 4})
    kinds = [next(iter(r)) for r in reqs]
    assert kinds.count("repeatCell") == 3  # two header cells, one run of wrapped cells
    values = reqs[0]["updateCells"]
    assert values["fields"] == "userEnteredValue"
    links = [r["updateCells"] for r in reqs[1:] if "updateCells" in r]
    assert links[0]["rows"][0]["values"][0]["userEnteredFormat"]["textFormat"]["link"] == {"uri": "#gid=4&range=B2"}
    assert len(links) == 1 and len(links[0]["rows"]) == 38


def test_a_report_chart_becomes_a_native_sheets_chart():
    from crm_sheets.model.sheets import ChartSeries, ChartSpec
    from crm_sheets.store.gsheets import render

    chart = ChartSpec("column", "Deals by stage", (ChartSeries("Value", "A5:A10", "B5:B10"),), "D2")
    req = render.chart_request(chart, 3)["addChart"]["chart"]
    assert req["spec"]["basicChart"]["chartType"] == "COLUMN"
    assert req["spec"]["basicChart"]["series"][0]["series"]["sourceRange"]["sources"][0] == {
        "sheetId": 3, "startRowIndex": 4, "endRowIndex": 10, "startColumnIndex": 1, "endColumnIndex": 2}
    assert req["position"]["overlayPosition"]["anchorCell"] == {"sheetId": 3, "rowIndex": 1, "columnIndex": 3}


def test_a_big_block_is_written_in_requests_a_batch_can_be_split_between():
    from crm_sheets.store.gsheets.batch import ROWS_PER_REQUEST, split_batches, write_block

    rows = [[f"L-{i:05d}", "x" * 300] for i in range(2 * ROWS_PER_REQUEST + 500)]
    requests = [r for r in write_block(7, 1, 0, rows) if "updateCells" in r]
    assert [r["updateCells"]["start"]["rowIndex"] for r in requests] == [1, 1 + ROWS_PER_REQUEST, 1 + 2 * ROWS_PER_REQUEST]
    assert [v["values"][0]["userEnteredValue"]["stringValue"] for r in requests for v in r["updateCells"]["rows"]] == \
        [row[0] for row in rows]
    assert len(split_batches(requests, limit=1_000_000)) == 3  # each under the limit: no body past the API's


def test_a_long_regenerated_sheet_is_sent_in_requests_a_batch_can_be_split_between():
    from crm_sheets.store.gsheets.batch import ROWS_PER_REQUEST, split_batches
    from crm_sheets.store.gsheets.render import content_requests

    rows = [[f"L-{i:05d}", "Phone not valid: " + "9" * 200] for i in range(ROWS_PER_REQUEST + 10)]
    values = [r for r in content_requests(rows, 4, {}) if r.get("updateCells", {}).get("fields") == "userEnteredValue"]
    assert [r["updateCells"]["start"]["rowIndex"] for r in values] == [0, ROWS_PER_REQUEST]
    assert [v["values"][0]["userEnteredValue"]["stringValue"] for r in values for v in r["updateCells"]["rows"]] == \
        [row[0] for row in rows]
    assert len(split_batches(values, limit=600_000)) == 2
