"""Printing the report sheets to PDF: the copy handed to LibreOffice hides every other sheet and changes
nothing else, and a real LibreOffice prints the dashboard and reports, landscape, without a data sheet."""
import re
import shutil
import subprocess
from datetime import datetime

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.errors import UsageError
from crm_sheets.export.pdf import print_only, report_sheets
from crm_sheets.runner import run
from crm_sheets.store import open_store
from crm_sheets.store.xlsx.package import member_bytes, open_package
from crm_sheets.workbook import new_workbook

NOW = datetime(2026, 3, 15, 9, 0)
REPORTS = ["Dashboard", "Pipeline", "Forecast", "Leads Report", "Customers Report", "Campaigns Report",
           "Activity Report", "Geography", "Satisfaction", "Board", "Calendar"]


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    path = new_workbook(tmp_path_factory.mktemp("pdf") / "crm.xlsx", sample_data=200, now=NOW)
    run(path, ["report"], now=NOW)
    return path


@pytest.mark.slow
def test_report_sheets_are_the_sheets_the_report_job_owns_by_their_workbook_names(reported):
    assert sorted(report_sheets(open_store(reported).read())) == sorted(REPORTS)


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_print_copy_hides_every_other_sheet_and_keeps_the_rest_of_the_package(reported, tmp_path):
    copy = tmp_path / "print.xlsx"
    shown = print_only(reported, copy, ["Dashboard", "Calendar", "pipeline"])  # sheet names ignore case
    assert shown == ["Dashboard", "Pipeline", "Calendar"]
    with open_package(reported) as src, open_package(copy) as out:
        before = {s.name: s.state for s in src.sheets}
        after = {s.name: s.state for s in out.sheets}
        assert [s.name for s in out.sheets] == [s.name for s in src.sheets]
        view = re.search(rb"<workbookView\b[^>]*>", out.read("xl/workbook.xml")).group()
    assert {n for n, s in after.items() if s == "visible"} == {"Dashboard", "Pipeline", "Calendar"}
    assert after["_crm_meta"] == before["_crm_meta"] == "hidden" and after["Leads"] == "hidden"
    assert f'activeTab="{list(after).index("Dashboard")}"'.encode() in view
    a, b = member_bytes(reported), member_bytes(copy)
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == ["xl/workbook.xml"]


@pytest.mark.slow  # over 2 s on a busy machine (a whole run or a built workbook)
def test_printing_a_sheet_the_workbook_lacks_names_it(reported, tmp_path):
    with pytest.raises(UsageError, match="has no sheet 'Weekly Report'"):
        print_only(reported, tmp_path / "print.xlsx", ["Dashboard", "Weekly Report"])


@pytest.mark.slow
def test_report_pdf_prints_the_dashboard_first_and_every_report_landscape_without_data_sheets(reported, tmp_path):
    if not shutil.which("soffice") or not shutil.which("pdftotext"):
        pytest.skip("LibreOffice and poppler-utils are needed")
    pdf = tmp_path / "out" / "report.pdf"
    result = CliRunner().invoke(cli, ["report", str(reported), "--pdf", str(pdf), "--now", "2026-03-15T09:00"])
    assert result.exit_code == 0, result.output
    # the summary is wrapped to the terminal's width, a long temporary path anywhere in it (as under xdist)
    assert f"Printed the reports to {pdf}".replace(" ", "") in "".join(result.output.split())

    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(pdf)], capture_output=True, text=True, check=True).stdout
    sizes = [tuple(map(float, m)) for m in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)]
    assert len(sizes) >= len(REPORTS) and all(w > h for w, h in sizes)  # landscape
    assert all((round(w), round(h)) in ((792, 612), (842, 595)) for w, h in sizes)  # Letter or A4

    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split("\f")
    first = pages[0]
    assert first.lstrip().startswith("Dashboard\n")
    for label in ("Won revenue", "Open pipeline", "Weighted pipeline", "Win rate", "Average deal size", "Sales cycle (days)",
                  "Pipeline velocity / day", "New leads (month)", "Lead conversion (month)", "Tasks overdue",
                  "Open pipeline by stage", "Won revenue by month", "Forecast, next 6 months", "Leads by source"):
        assert label in first, label
    titles = [p.lstrip().split("\n", 1)[0].strip() for p in pages if p.strip()]
    assert [t for t in titles if t in REPORTS] == REPORTS  # every report, in workbook order, each from a new page
    for page in pages:  # nothing from the Leads data sheet (or any other data sheet)
        assert "First name" not in page and not re.search(r"\bL-\d{5}\b", page) and "Why this score" not in page

    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 10_000  # tiles and four charts, not a blank page
