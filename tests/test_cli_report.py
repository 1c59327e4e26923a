"""`crm-sheets report`: the figures it prints equal the library's, the Dashboard it writes matches a plain
pandas count of the sample data, a second run rewrites only the report sheets, and --pdf without LibreOffice
says what to do after regenerating the sheets anyway."""
import json
import os
import subprocess
import sys
from datetime import datetime

import pandas as pd
import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.export.pdf import report_sheets
from crm_sheets.jobs.report import compute
from crm_sheets.sample import generate
from crm_sheets.store import open_store
from crm_sheets.store.xlsx.package import member_bytes, open_package
from crm_sheets.workbook import new_workbook
from helpers import grid

NOW = datetime(2026, 3, 15, 9, 0)
# The sales template's Stages sheet and Settings exchange rates, written out here so the check is independent.
STAGES = {"Prospecting": (0.1, "open"), "Qualification": (0.2, "open"), "Proposal": (0.5, "open"),
          "Negotiation": (0.75, "open"), "Closed won": (1.0, "won"), "Closed lost": (0.0, "lost")}
RATES = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CHF": 1.12, "CAD": 0.73, "AUD": 0.66, "JPY": 0.0067}


@pytest.fixture(scope="module")
def sample_workbook(tmp_path_factory):
    return new_workbook(tmp_path_factory.mktemp("report") / "crm.xlsx", sample_data=500, now=NOW)


def invoke(*args):
    return CliRunner().invoke(cli, ["report", *map(str, args)], catch_exceptions=False)


def dashboard_tiles(path) -> dict:
    """The Dashboard's KPI tiles as a reader sees them: caption -> the value in the cell under it."""
    rows = grid(path, "Dashboard")
    tiles = {}
    for r in range(2, 12):
        for c, caption in enumerate(rows[r]):
            if isinstance(caption, str) and caption and r + 1 < len(rows) and c < len(rows[r + 1]):
                tiles.setdefault(caption, rows[r + 1][c])
    return tiles


@pytest.mark.slow
def test_report_json_prints_the_figures_the_library_computes_from_the_written_workbook(tmp_path, on_backend):
    path = on_backend(new_workbook(tmp_path / "crm.xlsx", sample_data=200, now=NOW))
    result = invoke(path, "--json", "--now", "2026-03-15T09:00")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["written"] is True and printed["jobs"] == ["report"] and printed["pdf"] is None
    assert printed["changes"]["replaced_sheets"] == 11
    expected = compute(open_store(path).read(), NOW).as_dict()
    assert printed["figures"] == json.loads(json.dumps(expected, default=str))
    assert printed["figures"]["dashboard"]["won_revenue"] == printed["results"][0]["stats"]["won_revenue"]


@pytest.mark.slow
def test_dashboard_kpis_match_a_plain_pandas_count_of_the_sample_data(sample_workbook, tmp_path, on_backend):
    path = tmp_path / "crm.xlsx"
    path.write_bytes(sample_workbook.read_bytes())
    path = on_backend(path)
    assert invoke(path, "--now", NOW.isoformat()).exit_code == 0

    t = generate("sales", leads=500, seed=7, now=NOW).to_tables("en")
    deals, leads, tasks = t["deals"].df, t["leads"].df, t["tasks"].df
    stage = deals["stage"].map(lambda s: STAGES.get(str(s).strip()))
    assert stage.notna().all()
    status = stage.map(lambda s: s[1])
    p = deals["probability"].fillna(stage.map(lambda s: s[0]))
    value = deals["amount"] * deals["currency"].fillna("USD").map(RATES)
    won, lost, open_ = status == "won", status == "lost", status == "open"
    month, next_month = pd.Timestamp("2026-03-01"), pd.Timestamp("2026-04-01")
    won_on = deals["closed"].fillna(deals["close_date"])
    new = (leads["created"] >= month) & (leads["created"] < next_month)
    cycle = (won_on[won] - deals["created"][won]).dt.days
    overdue = (tasks["due"] < pd.Timestamp(NOW).normalize()) & ~tasks["status"].isin(["done", "cancelled"])

    shown = dashboard_tiles(path)
    assert shown["Won revenue"] == pytest.approx(value[won].sum(), abs=0.005)
    assert shown["Won this month"] == pytest.approx(value[won & (won_on >= month) & (won_on < next_month)].sum(), abs=0.005)
    assert shown["Open pipeline"] == pytest.approx(value[open_].sum(), abs=0.005)
    assert shown["Weighted pipeline"] == pytest.approx((value * p)[open_].sum(), abs=0.005)
    assert shown["Win rate"] == pytest.approx(won.sum() / (won.sum() + lost.sum()))
    assert shown["Average deal size"] == pytest.approx(value[won].sum() / value[won].notna().sum(), abs=0.005)
    assert shown["Sales cycle (days)"] == pytest.approx(round(cycle[cycle >= 0].mean(), 1))
    assert shown["New leads (month)"] == new.sum()
    assert shown["Lead conversion (month)"] == pytest.approx((new & (leads["status"] == "converted")).sum() / new.sum())
    assert shown["Tasks overdue"] == overdue.sum()
    assert open_.sum() > 0 and won.sum() > 0 and overdue.sum() > 0  # the sample exercises every tile


@pytest.mark.slow
def test_running_report_twice_rewrites_only_the_report_sheets(sample_workbook, tmp_path):
    path = tmp_path / "crm.xlsx"
    path.write_bytes(sample_workbook.read_bytes())
    before = member_bytes(path)
    assert invoke(path, "--now", "2026-03-15T09:00").exit_code == 0
    first = member_bytes(path)
    assert invoke(path, "--now", "2026-03-16T10:30").exit_code == 0
    second = member_bytes(path)

    owned = set(report_sheets(open_store(path).read()))
    with open_package(path) as pkg:
        others = [s for s in pkg.sheets if s.name not in owned]
        mine = [s for s in pkg.sheets if s.name in owned]
        parts = {s.name: [s.part] + [r.target for r in pkg.rels(s.part) if not r.external] for s in others}
    assert len(mine) == 11 and len(others) > 20
    for name, names in parts.items():
        if name == "Runs":
            continue  # each write shows the runs so far: it goes along with the report sheets
        for part in names + [p.replace("worksheets/", "worksheets/_rels/") + ".rels" for p in names[:1]]:
            if name != "_crm_meta":  # the hidden meta sheet records where the new report sheets are
                assert before.get(part) == second.get(part), f"{name}: {part} changed"
            assert first.get(part) == second.get(part), f"{name}: {part} changed on the second run"
    for part in ("xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml", "docProps/core.xml"):
        assert first.get(part) == second.get(part), part
    dashboard = next(s for s in mine if s.name == "Dashboard")
    assert first[dashboard.part] != second[dashboard.part]
    assert grid(path, "Dashboard")[1][0] == "March 2026 · currency USD · generated 2026-03-16 10:30"


@pytest.mark.slow  # another process
def test_report_pdf_without_libreoffice_says_how_to_get_it_and_still_regenerates_the_sheets(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx", sample_data=50, now=NOW)
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}  # no soffice, no libreoffice
    done = subprocess.run([sys.executable, "-m", "crm_sheets", "report", str(path), "--pdf", str(tmp_path / "r.pdf"),
                           "--now", "2026-03-15T09:00"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert "LibreOffice is needed for --pdf: install it (apt-get install libreoffice-calc-nogui / brew install " \
           "--cask libreoffice) or open the workbook and print the Dashboard" in message
    assert "Traceback" not in done.stderr and not (tmp_path / "r.pdf").exists()
    assert grid(path, "Dashboard")[1][0] == "March 2026 · currency USD · generated 2026-03-15 09:00"
