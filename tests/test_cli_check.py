"""`crm-sheets check` end to end on a real sample workbook: every planted error found at its real cell,
the Data Issues sheet with links, `--fix` repairs exactly the fixable ones with an audit row each and a
second run changes nothing. The workbook is read back with python-calamine, not with our own reader only.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import re
import shutil
import zipfile
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.model.schema import load_schema
from crm_sheets.model.tables import column_letter, quote_sheet
from crm_sheets.runner import run
from crm_sheets.sample import generate
from crm_sheets.store import open_store

import helpers
from helpers import fresh_copy

NOW = dt.datetime(2026, 11, 2, 9, 0)
SEED = 7  # new_workbook's default seed: the truth below is the truth of the built workbook
LEADS = 500
SCHEMA = load_schema("sales")
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


@pytest.fixture(scope="module", params=["en", pytest.param("fr", marks=pytest.mark.slow)])  # fr: the full suite
def built(request, built_book):
    lang = request.param
    return lang, built_book(lang=lang, sample_data=LEADS, now=NOW)


@pytest.fixture
def truth(built):
    """What the sample generator planted in the built workbook (its text is in the workbook's language)."""
    return _truth(built[0])


@functools.lru_cache(maxsize=2)
def _truth(lang: str):
    return generate(SCHEMA, leads=LEADS, seed=SEED, now=NOW, lang=lang).truth


@pytest.fixture
def book(built, tmp_path, on_backend):
    """A fresh copy of the built workbook for one test, as a file or a Google Sheet (tests/backends.py): (lang, path)."""
    lang, path = built
    return lang, on_backend(fresh_copy(path, tmp_path))


def cli_check(path, *args):
    result = CliRunner().invoke(cli, ["check", str(path), "--json", "--now", NOW.isoformat(), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def findings_of(report: dict) -> list[dict]:
    [check] = report["results"]
    return check["findings"]


# -- the workbook as python-calamine sees it -----------------------------------------------------


def grid(path, sheet: str) -> list[list]:
    return helpers.grid(path, sheet, whole=True)


def cell_value(path, address: str):
    """The raw value at an A1 address such as Leads!F12 or 'Campaign Members'!C3."""
    value = helpers.cell(path, address)
    return "" if value is None else value


class Addresses:
    """Where each record's field is in the real workbook, found from its sheet's header row and ID column."""

    def __init__(self, path, lang: str):
        self.path, self.lang = path, lang
        self._sheets: dict[str, tuple[dict[str, int], dict[str, int]]] = {}

    def __call__(self, table: str, record_id: str, field: str) -> str:
        ts = SCHEMA.tables[table]
        sheet = ts.sheet_name(self.lang)
        if table not in self._sheets:
            rows = grid(self.path, sheet)
            headers = {h: j for j, h in enumerate(rows[0]) if h}
            ids = {r[headers[ts.field("id").header(self.lang)]]: i + 1 for i, r in enumerate(rows) if i}
            self._sheets[table] = (headers, ids)
        headers, ids = self._sheets[table]
        col = headers[ts.field(field).header(self.lang)]
        return f"{quote_sheet(sheet)}!{column_letter(col)}{ids[record_id]}"


def sheet_part(path, sheet: str) -> str:
    """The XML of a worksheet, found by name through workbook.xml and its relationships."""
    with zipfile.ZipFile(path) as z:
        wb = ElementTree.fromstring(z.read("xl/workbook.xml"))
        rid = next(s.get(R_ID) for s in wb.iterfind("m:sheets/m:sheet", NS) if s.get("name") == sheet)
        rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        target = next(r.get("Target") for r in rels if r.get("Id") == rid)
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        return z.read(part).decode("utf-8")




def cell_links(path, sheet: str) -> list[tuple[str, str]]:
    """(row number, 'Sheet'!A1 target) of each internal link in column D of a sheet: the workbook's hyperlinks,
    or a Google Sheet's cell links (#gid=N&range=A1), read straight from the spreadsheet."""
    if not helpers.is_sheet(path):
        return re.findall(r'<hyperlink ref="D(\d+)" location="([^"]+)"', sheet_part(path, sheet))
    from crm_sheets.store.gsheets import parse_spec
    from crm_sheets.store.gsheets.client import connect

    conn, sid = connect(), parse_spec(str(path))
    titles = {s["properties"]["sheetId"]: s["properties"]["title"]
              for s in conn.get(sid, fields="sheets.properties(sheetId,title)")["sheets"]}
    got = conn.get(sid, fields="sheets.data(startRow,rowData.values.userEnteredFormat.textFormat.link)",
                   grid_data=True, ranges=[quote_sheet(sheet) + "!D:D"])
    data = got["sheets"][0]["data"][0]
    out = []
    for i, rd in enumerate(data.get("rowData") or []):
        for v in rd.get("values") or []:
            uri = ((v.get("userEnteredFormat") or {}).get("textFormat") or {}).get("link", {}).get("uri", "")
            m = re.fullmatch(r"#gid=(\d+)&range=([A-Z]+\d+)", uri)
            if m:
                out.append((str(data.get("startRow", 0) + i + 1), f"{quote_sheet(titles[int(m.group(1))])}!{m.group(2)}"))
    return out


def without_generation(sheets: dict[str, list[list]]) -> dict[str, list[list]]:
    return {**sheets, "_crm_meta": [row for row in sheets["_crm_meta"] if row[:1] != ["generation"]]}


# -- check ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_check_finds_every_planted_error_at_the_cell_holding_its_raw_value(book, truth):
    lang, path = book
    code, report = cli_check(path)
    assert code == 1  # errors remain
    found: dict[tuple, list[dict]] = {}
    for f in findings_of(report):
        found.setdefault((f["table"], f["record_id"], f["field"]), []).append(f)
    where = Addresses(path, lang)
    assert len(truth.errors) > 40
    for e in truth.errors:
        at = found.get((e.table, e.record_id, e.field))
        assert at, f"not found: {e}"
        address = where(e.table, e.record_id, e.field)
        assert {f["cell"] for f in at} == {address}, e
        raw = cell_value(path, address)
        assert raw == ("" if e.raw is None else e.raw), (e, raw)
        fixable = [f for f in at if f["fixable"]]
        assert bool(fixable) == e.fixable, (e, at)


@pytest.mark.slow
def test_check_reports_no_error_or_warning_on_clean_rows(book, truth):
    _, path = book
    _, report = cli_check(path)
    planted = truth.error_cells()
    for f in findings_of(report):
        if f["severity"] == "info" or (f["table"], f["record_id"], f["field"]) in planted:
            continue
        assert f["type"] == "stale-close-date" and f["record_id"] in truth.stale_deals, f["message"]


@pytest.mark.slow
def test_check_writes_data_issues_with_one_row_and_one_link_per_finding(book):
    lang, path = book
    _, report = cli_check(path)
    findings = findings_of(report)
    assert report["written"] is True
    name = SCHEMA.owned_sheet("data_issues").sheet_name(lang)
    rows = grid(path, name)
    header = next(i for i, r in enumerate(rows) if r[0] in ("Severity", "Gravité"))
    body = [r for r in rows[header + 1:] if any(c != "" for c in r)]
    assert len(body) == len(findings)
    assert sorted(r[3] for r in body) == sorted(f["cell"] for f in findings)
    links = cell_links(path, name)
    assert sorted(loc.replace("&apos;", "'") for _, loc in links) == sorted(f["cell"] for f in findings if "!" in f["cell"])
    for row, location in links[:50]:  # each link sits on its finding's row and points at that row's cell
        assert rows[int(row) - 1][3] == location.replace("&apos;", "'")


@pytest.mark.slow
def test_json_output_equals_the_library_result(book):
    _, path = book
    code, report = cli_check(path, "--dry-run")
    library = run(path, ["check"], now=NOW, dry_run=True, options={"check": {"fix": False}})
    assert report == json.loads(json.dumps(library.as_dict(), default=str))
    assert code == (1 if library.errors else 0) == 1


# -- check --fix ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_fix_repairs_exactly_the_fixable_planted_errors_with_an_audit_row_each(book, truth):
    lang, path = book
    where = Addresses(path, lang)
    _, before = cli_check(path, "--dry-run")
    fixable_cells = {(f["table"], f["record_id"], f["field"]) for f in findings_of(before) if f["fixable"]}
    code, report = cli_check(path, "--fix")
    assert code == 1  # the errors that cannot be fixed safely remain
    [result] = report["results"]
    assert result["stats"]["fixed"] == result["changes"]["updated_cells"] == len(fixable_cells)
    assert not any(f["fixable"] for f in findings_of(report))

    tables = open_store(path).read()
    for e in truth.errors:
        address = where(e.table, e.record_id, e.field)
        raw = cell_value(path, address)
        if not e.fixable:
            assert raw == ("" if e.raw is None else e.raw), (e, raw)  # left as typed
            assert (e.table, e.record_id, e.field) not in fixable_cells
            continue
        assert (e.table, e.record_id, e.field) in fixable_cells
        assert tables[e.table].df.at[e.record_id, e.field] == e.expected_fix, e
        if e.kind == "date-as-text":
            assert type(raw) in (dt.date, dt.datetime) and dt.datetime(raw.year, raw.month, raw.day) == e.expected_fix, (e, raw)
        elif e.kind == "number-as-text":
            assert raw == e.expected_fix, (e, raw)
        elif e.kind in ("caps-name", "extra-spaces", "email-typo"):
            assert raw == e.expected_fix, (e, raw)
    assert all(not t.typed_text for t in tables.tables.values())

    audit = tables["audit_log"].df
    audit = audit[audit["job"] == "check"]
    assert len(audit) == len(fixable_cells)
    assert set(zip(audit["table"], audit["record"], audit["field"])) == fixable_cells
    logged = {(t, r, f): (b, a, why) for t, r, f, b, a, why in
              zip(audit["table"], audit["record"], audit["field"], audit["before"], audit["after"], audit["reason"])}
    for e in truth.errors:
        if e.fixable:
            before_text, after_text, why = logged[(e.table, e.record_id, e.field)]
            assert before_text == e.raw and after_text not in ("", None), e
            if e.kind.endswith("-as-text"):  # same text, now a real value: the reason says so
                assert "typed as text" in why or "converted text" in why, e
            else:
                assert after_text != before_text, e


@pytest.mark.slow
def test_a_second_fix_changes_no_cell_and_finds_the_same_problems(book):
    _, path = book
    _, first = cli_check(path, "--fix")
    sheets = helpers.grids(path)
    code, second = cli_check(path, "--fix")
    assert code == 1
    [result] = second["results"]
    assert result["stats"]["fixed"] == 0 and result["changes"]["updated_cells"] == 0
    assert result["changes"]["appended_rows"] == 0  # no audit rows: nothing was changed
    # Data Issues too: same findings, same --now (the meta sheet's generation ID says which run wrote it last)
    assert without_generation(helpers.grids(path)) == without_generation(sheets)
    key = lambda f: (f["type"], f["table"], f["record_id"], f["field"], f["cell"], f["message"])  # noqa: E731
    assert sorted(map(key, findings_of(second))) == sorted(map(key, findings_of(first)))


@pytest.mark.slow
def test_fix_json_equals_the_library_result_on_the_same_workbook(book, tmp_path):
    _, path = book
    twin = shutil.copy(helpers.as_file(path), tmp_path / "twin.xlsx")
    _, report = cli_check(path, "--fix")
    library = json.loads(json.dumps(run(twin, ["check"], now=NOW, options={"check": {"fix": True}}).as_dict(), default=str))
    for r in (report, library):
        r.pop("path"), r.pop("backup")
    assert report == library


def test_a_renamed_required_header_is_one_missing_column_error_not_an_empty_cell_on_every_row(built_book, tmp_path):
    import openpyxl

    path = fresh_copy(built_book(sample_data=50, now=NOW), tmp_path)
    run(path, ["check"], now=NOW)  # the rows' findings are remembered first, as on a team's second run
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    [header] = [c for c in ws[1] if c.value == "Last name"]
    header.value = "Column 3"
    wb.save(path)
    got = CliRunner().invoke(cli, ["check", str(path), "--json", "--now", NOW.isoformat(timespec="minutes")])
    findings = json.loads(got.output)["results"][0]["findings"]
    about = [f for f in findings if f["field"] == "last_name" and f["table"] == "leads"]
    assert [(f["type"], f["severity"], f["cell"]) for f in about] == [("missing-column", "error", "Leads")]
    assert "Last name" in about[0]["message"] and "'Column 3'" in about[0]["message"]
