"""push streams the cells of a workbook's big sheets from the file instead of loading them into openpyxl (a 100k
CRM loaded whole is GBs): the Sheet it makes must be the one a whole load makes, request for request, with a
team's own sheets, formats, formulas, merges, validations, highlights and charts."""
from __future__ import annotations

import datetime as dt
import json

import openpyxl
import pytest
from openpyxl.comments import Comment
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

pytest.importorskip("gspread")

from crm_sheets.runner import run  # noqa: E402
from crm_sheets.store.gsheets import push_source  # noqa: E402
from crm_sheets.store.gsheets.push import plan_push  # noqa: E402
from helpers import fresh_copy  # noqa: E402

NOW = dt.datetime(2026, 3, 2, 9, 0)


def _requests(path, stream_over):
    structure, content, result = plan_push(path, stream_over=stream_over)
    text = json.dumps([structure, content], default=repr, sort_keys=True)
    return text, result


def _team_workbook(built_book, tmp_path):
    path = fresh_copy(built_book(sample_data=150, now=NOW), tmp_path)
    run(path, ["report"], now=NOW)  # the report's sheets and charts
    wb = openpyxl.load_workbook(path)
    leads = wb["Leads"]
    head = [c.value for c in leads[1]]
    notes = head.index("Notes") + 1
    leads.cell(70, notes).value = "=LEN(A70)"  # a person's formula in a data row far below the kept rows
    leads.cell(90, notes).number_format = "0.00%"
    leads.cell(91, len(head) + 2).value = "a note beside the table"  # a cell past the table's columns
    leads.cell(95, notes).comment = Comment("call back", "Ana")
    leads.merge_cells(start_row=120, start_column=notes, end_row=121, end_column=notes)
    status = openpyxl.utils.get_column_letter(head.index("Status") + 1)
    theirs = DataValidation(type="list", formula1='"New,Qualified"', showErrorMessage=True, errorStyle="stop")
    theirs.add(f"{status}80:{status}110")
    leads.add_data_validation(theirs)
    ws = wb.create_sheet("Targets")  # a team's own sheet, long enough to be streamed
    ws.append(["Rep", "Target", "Since", "Share"])
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFFFF")
        cell.fill = PatternFill("solid", fgColor="FF1F4E78")
    for i in range(200):
        ws.append([f"Rep {i}", 1000 + i, dt.date(2026, 1, 1) + dt.timedelta(days=i), f"=B{i + 2}/SUM(B:B)"])
        ws.cell(i + 2, 3).number_format = "yyyy-mm-dd"
        ws.cell(i + 2, 4).number_format = "0.0%"
    # Cells of every shape the streaming reads itself or hands to openpyxl: entities, line breaks, spaces kept,
    # booleans, an error value, a time of day, a very large number, a text that looks like a number.
    for r, value in enumerate(["Smith & Sons <east>", "two\nlines", "  padded  ", True, False, "#N/A",
                               dt.time(9, 30), 12345678901234567890, "00123", 1.5e-7], start=150):
        ws.cell(r, 5).value = value
    ws.merge_cells("F3:G5")
    ws["F3"] = "merged note"
    ws.conditional_formatting.add("B2:B300", FormulaRule(formula=["$B2>1100"], fill=PatternFill(bgColor="FFC6EFCE")))
    dv = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0")
    dv.add("B2:B300")
    ws.add_data_validation(dv)
    ws.freeze_panes = "A2"
    ws.column_dimensions["A"].width = 24
    chart = openpyxl.chart.BarChart()
    chart.add_data(openpyxl.chart.Reference(ws, min_col=2, min_row=1, max_row=30), titles_from_data=True)
    ws.add_chart(chart, "H2")
    wb.save(path)
    return path


@pytest.mark.slow
def test_a_push_that_streams_big_sheets_sends_what_a_whole_load_sends(built_book, tmp_path):
    path = _team_workbook(built_book, tmp_path)
    streamed = push_source.open_source(path, stream_over=0)
    assert {"Leads", "Targets", "Activities"} <= set(streamed.streamed)  # the big sheets are streamed here
    streamed.close()
    whole, whole_result = _requests(path, None)
    stream, stream_result = _requests(path, 0)
    assert stream == whole
    assert (stream_result.cells, stream_result.rules, stream_result.charts, stream_result.kept, stream_result.skipped
            ) == (whole_result.cells, whole_result.rules, whole_result.charts, whole_result.kept, whole_result.skipped)
    assert whole_result.charts >= 17 and whole_result.kept


def test_a_sheet_whose_cells_are_not_in_order_is_loaded_whole(tmp_path):
    import zipfile

    path = tmp_path / "odd.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for i in range(100):
        ws.append([i, f"row {i}"])
    wb.save(path)
    # Rewrite the sheet with its last row first (valid for openpyxl, which places cells by their reference).
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    xml = items["xl/worksheets/sheet1.xml"].decode()
    start, end = xml.index("<row r=\"100\""), xml.index("</sheetData>")
    last = xml[start:end]
    xml = xml[:start] + xml[end:]
    xml = xml.replace("<sheetData>", "<sheetData>" + last)
    items["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in items.items():
            zf.writestr(n, b)
    assert push_source.open_source(path, stream_over=0).streamed == {}
    assert _requests(path, 0)[0] == _requests(path, None)[0]
