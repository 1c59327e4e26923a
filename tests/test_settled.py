"""A run with nothing changed since a run whose result still holds answers from that run's record (settled.py):
it says the same as the full path would (findings, notes, exit code), writes nothing and makes no backup; a
colleague's save, another day, other options, a pending change set, an outbox item to deliver or a damaged
record send it down the full path, which then records again."""
import json
import os
import zipfile
from datetime import datetime

import openpyxl
import pytest
from click.testing import CliRunner

from crm_sheets import settled
from crm_sheets.cli import cli
from crm_sheets.model.changeset import ChangeSet
from crm_sheets.outbox import Outbox, outbox_path
from crm_sheets.model.effects import Effect, MAX_ATTEMPTS
from crm_sheets.runner import run
from crm_sheets.store.safety import WriterLock
from crm_sheets.store.xlsx import XlsxStore
from helpers import fresh_copy

SAMPLE = 300
FIRST = "2026-11-02T09:00"


def cli_run(path, at: str, *extra: str, env: dict | None = None):
    result = CliRunner().invoke(cli, ["run", str(path), "--now", at, *extra], env={"COLUMNS": "200", **(env or {})})
    assert result.exit_code in (0, 1), result.output  # 1: the sample's data problems
    return result


def as_json(path, at: str, *extra: str, env: dict | None = None) -> tuple[dict, int]:
    result = cli_run(path, at, "--json", *extra, env=env)
    return json.loads(result.output), result.exit_code


def full(path, at: str, *extra: str) -> tuple[dict, int]:
    """The full path, whatever is recorded."""
    return as_json(path, at, *extra, env={settled.SWITCH_ENV: "off"})


def backups(path):
    folder = path.parent / ".crm-backups"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def record_file(path):
    return settled.record_path(path)


@pytest.fixture
def book(built_book, tmp_path):
    """A sample workbook after its first run (which wrote, and recorded once a second pass found nothing to do)."""
    path = fresh_copy(built_book(sample_data=SAMPLE), tmp_path)
    cli_run(path, FIRST)
    return path


def edit_leads(path, changes: dict[int, dict[str, str]]) -> None:
    """Change cells of the Leads sheet by row and header, and save the whole package as a person's program does."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    for row, cells in changes.items():
        for name, value in cells.items():
            ws.cell(row, header[name]).value = value
    wb.save(path)


@pytest.mark.slow
def test_a_run_with_nothing_changed_answers_what_the_full_path_says_writes_nothing_and_makes_no_backup(book):
    before, kept = book.read_bytes(), backups(book)
    short, code = as_json(book, "2026-11-02T09:15")
    assert short["settled"] == {"since": "2026-11-02T09:00:00", "holds_until": "2026-11-03T00:00:00"}
    assert book.read_bytes() == before and backups(book) == kept
    assert not short["written"] and short["backup"] is None
    long, long_code = full(book, "2026-11-02T09:20")
    assert book.read_bytes() == before and not long["written"], "the full path on the file finds nothing to do either"
    assert code == long_code
    assert {k: v for k, v in short.items() if k != "settled"} == long
    assert sum(len(r["findings"]) for r in short["results"]) > 0, "the sample's problems are reported, not dropped"

    text = cli_run(book, "2026-11-02T09:30")
    assert "Nothing changed since the run of 2026-11-02 09:20" in text.output and "no backup" in text.output
    assert text.exit_code == code
    errors = [f for r in long["results"] for f in r["findings"] if f["severity"] == "error"]
    assert errors and errors[0]["message"] in text.output


@pytest.mark.slow
def test_the_library_gets_the_recorded_findings_and_a_report_that_wrote_nothing(book, monkeypatch):
    monkeypatch.setattr(settled, "_PIECE", 7)  # the record keeps the findings in many pieces, as at 100k leads
    long = run(book, now=datetime(2026, 11, 2, 9, 10), settled_answer=False)
    short = run(book, now=datetime(2026, 11, 2, 9, 15))
    assert short.settled is not None and not short.written and long.settled is None
    assert [(f.type, f.record_id, f.message) for f in short.findings] == [(f.type, f.record_id, f.message) for f in long.findings]
    assert len(short.errors) == len(long.errors) > 0
    # every field as the run had it: a date's value is the same Timestamp (value, unit), not a look-alike
    assert [_as_kept(f) for f in short.findings] == [_as_kept(f) for f in long.findings]
    assert any(type(f.value).__name__ == "Timestamp" for f in long.findings), "the sample has dated findings"


def _as_kept(finding):
    value = finding.value
    return (*(getattr(finding, name) for name in settled._FINDING_FIELDS), type(value), getattr(value, "unit", None),
            getattr(value, "tzinfo", None))


@pytest.mark.slow
def test_a_colleagues_save_takes_the_full_path_and_the_run_after_it_is_answered_again(book):
    edit_leads(book, {2: {"City": "Graz"}, 3: {"Notes": "called back"}})
    out, _ = as_json(book, "2026-11-02T09:15")
    assert "settled" not in out, "the run read the saved workbook and ran its jobs"
    again, _ = as_json(book, "2026-11-02T09:20")
    assert again["settled"]["since"] == "2026-11-02T09:15:00"


@pytest.mark.slow
def test_a_save_that_keeps_the_size_but_not_the_bytes_takes_the_full_path(book):
    data = bytearray(book.read_bytes())
    with zipfile.ZipFile(book) as z:  # a stored part's bytes: change one character inside the zip, same size
        info = z.getinfo("docProps/app.xml") if "docProps/app.xml" in z.namelist() else z.infolist()[0]
    at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 10
    data[at] ^= 0x01
    rec = settled.load(record_file(book))
    book.write_bytes(bytes(data))
    assert book.stat().st_size == rec.file["size"]
    assert settled.answer(book, None, settled.run_options(True), datetime(2026, 11, 2, 9, 15)) is None


@pytest.mark.slow
def test_a_touch_that_keeps_the_bytes_is_no_change(book):
    before = book.read_bytes()
    st = book.stat()
    os.utime(book, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    out, _ = as_json(book, "2026-11-02T09:15")
    assert out["settled"]["since"] == "2026-11-02T09:00:00" and book.read_bytes() == before


@pytest.mark.slow
def test_the_next_day_takes_the_full_path_and_its_time_rules_run(book):
    out, _ = as_json(book, "2026-11-03T08:00")
    assert "settled" not in out
    auto = next(r for r in out["results"] if r["job"] == "automate")
    assert auto["stats"].get("sequence_emails", 0) + auto["stats"].get("automations_fired", 0) > 0, \
        "the sequence steps and rules due on the new day fired"
    check = next(r for r in out["results"] if r["job"] == "check")
    assert check["stats"]["error"] > 0
    again, _ = as_json(book, "2026-11-03T08:15")
    assert again["settled"]["since"] == "2026-11-03T08:00:00" and again["settled"]["holds_until"] == "2026-11-04T00:00:00"


@pytest.mark.slow
def test_a_time_before_the_recorded_run_or_at_its_end_takes_the_full_path(book):
    assert settled.answer(book, None, settled.run_options(True), datetime(2026, 11, 2, 8, 59)) is None
    assert settled.answer(book, None, settled.run_options(True), datetime(2026, 11, 3, 0, 0)) is None
    assert settled.answer(book, None, settled.run_options(True), datetime(2026, 11, 2, 23, 59)) is not None


@pytest.mark.slow
def test_other_jobs_or_options_take_the_full_path(book):
    no_fix, _ = as_json(book, "2026-11-02T09:15", "--no-fix")
    assert "settled" not in no_fix
    only_check, _ = as_json(book, "2026-11-02T09:16", "--job", "check")
    assert "settled" not in only_check
    assert settled.answer(book, None, settled.run_options(True), datetime(2026, 11, 2, 9, 17)) is None, \
        "a run of other jobs recorded itself: the workbook's record is of that run now"
    env = {"CRM_SHEETS_SOMETHING": "1"}
    cli_run(book, "2026-11-02T09:18")  # records the whole run again
    assert settled.answer(book, None, settled.run_options(True), datetime(2026, 11, 2, 9, 19)) is not None
    out, _ = as_json(book, "2026-11-02T09:20", env=env)
    assert "settled" not in out, "a CRM_SHEETS_* variable may change results"


@pytest.mark.slow
def test_a_pending_change_set_takes_the_full_path_and_is_applied(book):
    store = XlsxStore(book)
    tables = store.read()
    rid = tables["leads"].df.index[0]
    changes = ChangeSet()
    changes.update("leads", rid, "notes", "kept while the workbook was open", reason="test")
    store._pending.keep(changes, reason="open by a colleague")
    out, _ = as_json(book, "2026-11-02T09:15")
    assert "settled" not in out and out["pending_applied"] and out["written"]


@pytest.mark.slow
def test_a_damaged_or_cut_record_is_ignored_and_made_again(book):
    path = record_file(book)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    out, _ = as_json(book, "2026-11-02T09:15")
    assert "settled" not in out and not out["written"]
    again, _ = as_json(book, "2026-11-02T09:20")
    assert again["settled"]["since"] == "2026-11-02T09:15:00"
    flipped = bytearray(path.read_bytes())
    flipped[len(flipped) // 3] ^= 0xFF
    path.write_bytes(bytes(flipped))
    assert settled.load(path) is None


@pytest.mark.slow
def test_the_switch_turns_it_off(book):
    out, _ = as_json(book, "2026-11-02T09:15", env={settled.SWITCH_ENV: "off"})
    assert "settled" not in out


@pytest.mark.slow
def test_the_short_answer_waits_for_the_writer_lock_as_a_run_does(book):
    with WriterLock(book, timeout=0):
        result = CliRunner().invoke(cli, ["run", str(book), "--now", "2026-11-02T09:15"],
                                    env={"CRM_SHEETS_LOCK_TIMEOUT": "0.2", "COLUMNS": "200"})
    assert result.exit_code == 3, result.output


@pytest.mark.slow
def test_after_typical_edits_the_file_a_run_wrote_is_a_fixed_point_the_full_path_agrees_with_the_record(book):
    # a duplicate of an existing lead, a fixable email, a changed status: dedupe merges, check fixes, automate fires
    wb = openpyxl.load_workbook(book)
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    last = ws.max_row
    for col in range(1, ws.max_column + 1):
        ws.cell(last + 1, col).value = ws.cell(2, col).value
    ws.cell(last + 1, header["ID"]).value = None
    ws.cell(3, header["Email"]).value = "  Someone@Example.COM "
    wb.save(book)
    wrote, _ = as_json(book, "2026-11-02T10:00")
    assert wrote["written"] and "settled" not in wrote
    assert record_file(book).exists(), "the run that wrote checked that the next run finds nothing to do"
    before, kept = book.read_bytes(), backups(book)
    short, code = as_json(book, "2026-11-02T10:15")
    long, long_code = full(book, "2026-11-02T10:20")
    assert book.read_bytes() == before and backups(book) == kept and not long["written"]
    assert {k: v for k, v in short.items() if k != "settled"} == long and code == long_code


def test_the_outbox_says_what_is_due_by_channel_and_tries(tmp_path):
    box = Outbox(tmp_path / ".crm.xlsx.outbox.sqlite")
    now = datetime(2026, 11, 2, 9, 0)
    box.enqueue([Effect(kind="email", key="a", payload={"to": "a@example.com"})], now)
    assert settled.outbox_due(box.path, ["email", "webhook"], MAX_ATTEMPTS)
    assert not settled.outbox_due(box.path, ["webhook"], MAX_ATTEMPTS), "an email with no mail server waits"
    token = settled.outbox_token(box.path)
    box.cancel("a", now=now)
    assert settled.outbox_token(box.path) != token, "a person's hand on the outbox is a change"
    assert not settled.outbox_due(box.path, ["email"], MAX_ATTEMPTS)
    plan = [r for r in __import__("sqlite3").connect(box.path).execute(
        "EXPLAIN QUERY PLAN SELECT 1 FROM items WHERE status IN ('queued', 'failed') AND kind IN ('email') AND attempts < 3")]
    assert any("items_due" in str(r) for r in plan), "the due lookup uses the index, not a scan"


@pytest.mark.slow
def test_an_email_retry_due_is_delivered_by_the_next_run_which_records_once_nothing_is_left(tmp_path, mail_server):
    from test_automate_delivery import NOW, sample_workbook

    port, inbox = mail_server
    path = sample_workbook(tmp_path / "crm.xlsx", smtp_port=port)
    inbox.replies = ["451 4.3.0 Try again later"] * 500  # every email of the first run fails, with tries left
    first = run(path, now=NOW)
    assert first.delivery["failed"] and not record_file(path).exists(), "a delivery that failed leaves work: no record"
    inbox.replies = []
    second = run(path, now=NOW.replace(minute=15))
    assert second.settled is None and set(first.delivery["failed"]) <= set(second.delivery["sent"])
    third = run(path, now=NOW.replace(minute=30))
    assert third.settled is None and not third.delivery["sent"]  # sent last time: this run confirms, and records
    fourth = run(path, now=NOW.replace(minute=45))
    assert fourth.settled is not None and fourth.delivery["totals"] == third.delivery["totals"]
    Outbox(outbox_path(path)).enqueue([Effect(kind="email", key="late", payload={"to": "x@example.com",
                                                                                 "subject": "s", "body": "b"})], NOW)
    fifth = run(path, now=NOW.replace(minute=50))
    assert fifth.settled is None and "late" in fifth.delivery["sent"]


def test_only_a_workbook_file_has_a_record_google_sheets_and_excel_books_always_take_the_full_path(tmp_path):
    assert settled.record_path(tmp_path / "crm.xlsx") == tmp_path / ".crm.xlsx.crm-settled"
    assert settled.record_path(tmp_path / "crm.xlsm") is not None
    for spec in ("gsheets://1AbCdEf", "gsheets:/1AbCdEf", "excel://C:/crm.xlsm", "excel:/C:/crm.xlsm", str(tmp_path / "crm.csv")):
        assert settled.record_path(spec) is None, spec
        assert settled.answer(spec, None, settled.run_options(True), datetime(2026, 11, 2, 9, 0)) is None


def test_the_horizon_is_the_earliest_job_and_unknown_when_one_job_does_not_say():
    from crm_sheets.model.result import ALWAYS, JobResult, next_midnight

    at = datetime(2026, 11, 2, 9, 30)
    assert next_midnight(at) == datetime(2026, 11, 3) and next_midnight(datetime(2026, 11, 3)) == datetime(2026, 11, 3)
    assert settled.horizon([JobResult("dedupe", holds_until=ALWAYS), JobResult("check", holds_until=next_midnight(at))]) \
        == datetime(2026, 11, 3)
    assert settled.horizon([JobResult("dedupe", holds_until=ALWAYS), JobResult("unmerge")]) is None


@pytest.mark.slow
def test_the_full_path_and_the_answer_from_the_record_print_the_same_json_text(book):
    long = cli_run(book, "2026-11-02T09:10", "--json", env={settled.SWITCH_ENV: "off"})
    short = cli_run(book, "2026-11-02T09:15", "--json")
    assert '"settled"' in short.output and '"settled"' not in long.output
    drop = lambda text: {k: v for k, v in json.loads(text).items() if k != "settled"}  # noqa: E731
    assert drop(short.output) == drop(long.output)
    # the results part, as text: one line each, the same bytes
    assert long.output[long.output.index('"results": '):] == short.output[short.output.index('"results": '):]


def test_a_runs_results_json_is_the_json_of_its_results_in_any_number_of_pieces(monkeypatch):
    from crm_sheets import run_report
    from crm_sheets.model.findings import Finding
    from crm_sheets.model.result import JobResult

    found = [Finding("required", "error", "leads", f"L-{i:05d}", "email", datetime(2026, 3, i % 28 + 1) if i % 3 else
                     f"caf\u00e9 \"{i}\"", f"Leads row {i}: \u2713 needs an email", f"Leads!C{i}", None, bool(i % 2))
             for i in range(57)]
    results = [JobResult(job="check", findings=found, stats={"error": 57}), JobResult(job="dedupe"),
               JobResult(job="report", findings=found[:3])]
    report = run_report.RunReport(path="x.xlsx", jobs=["check", "dedupe", "report"], results=results)
    expected = '"results": ' + json.dumps(report.as_dict()["results"], default=str)
    for at_once in (1, 5, 57, 20_000):
        monkeypatch.setattr(run_report, "_FINDINGS_AT_ONCE", at_once)
        assert "".join(run_report.results_json_chunks(results)) == expected


def test_the_record_keeps_a_finding_as_every_field_of_it_in_order():
    import dataclasses

    from crm_sheets.model.findings import Finding

    assert settled._FINDING_FIELDS == tuple(f.name for f in dataclasses.fields(Finding))


def test_the_outbox_sheets_digest_from_keys_statuses_and_errors_alone_equals_the_one_from_whole_items(tmp_path):
    from crm_sheets.delivery import outbox_digest, shown_digest

    box = Outbox(tmp_path / ".crm.outbox.sqlite")
    now = datetime(2026, 11, 2, 9, 0)
    box.enqueue([Effect("email", f"welcome:L-{i:05d}:created", {"to": f"p{i}@example.com", "subject": "Hi"},
                        table="leads", record_id=f"L-{i:05d}") for i in range(5)], now)
    box.enqueue([Effect("webhook", "hook:D-00001:won", {"url": "https://example.com/h", "body": {}})], now)
    from crm_sheets.outbox import SmtpSettings, SmtpTransport

    box.deliver({"email": SmtpTransport(SmtpSettings(host="127.0.0.1", port=1, tls=False))}, now)  # emails fail
    assert any(i.error for i in box.items()) and any(i.error is None for i in box.items())
    assert box.shown() == [(i.key, i.status, i.error) for i in box.items()]
    assert shown_digest(box.shown()) == outbox_digest(box.items())
