"""automate end to end on real workbooks, with a real SMTP server and a real HTTP server on loopback; the
tests taking ``on_backend`` run on the workbook file and on the Google Sheet it was pushed to (emulator).

Exactly once across runs: emails and posts arrive once with their merge fields, a second run sends
nothing, a crash after sending leaves an `unknown` item and no second copy, and the Outbox sheet shows
what waits or went.
"""
import json
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from crm_sheets.builder import build_workbook
from crm_sheets.builder.layout import template_rows
from crm_sheets.cli import cli
from crm_sheets.model import CellUpdate, ChangeSet, load_schema
from crm_sheets.outbox import Outbox, outbox_path
from crm_sheets.runner import run
from crm_sheets.sample import generate
from crm_sheets.store import open_store
from helpers import grid

pytestmark = pytest.mark.slow
NOW = datetime(2026, 11, 2, 9, 0)  # a Monday: the weekly digest is due




_BUILT: dict[str, bytes] = {}  # the same arguments, the same file: built once per session (and pushed once)


def sample_workbook(path, smtp_port=None, extra_automations=(), **settings):
    """The 200-lead sample workbook, plus one lead who filled the web form this morning."""
    key = repr((smtp_port, list(extra_automations), sorted(settings.items())))
    if key not in _BUILT:
        _BUILT[key] = Path(_build_sample(path, smtp_port, extra_automations, **settings)).read_bytes()
    path = Path(path)
    path.write_bytes(_BUILT[key])
    return path


def _build_sample(path, smtp_port, extra_automations, **settings):
    schema = load_schema("sales")
    data = dict(generate(schema, leads=200, seed=7, now=NOW).tables)
    leads = data["leads"]
    eva = {c: None for c in leads.columns} | {
        "first_name": "Eva", "last_name": "Stone", "email": "eva@stone.example", "company": "Stone Labs",
        "country": "France", "source": "web_form", "status": "new", "consent": True, "opted_out": False,
        "created": pd.Timestamp(NOW.date()),
    }
    data["leads"] = pd.concat([leads, pd.DataFrame([eva], index=pd.Index(["L-09999"], name=leads.index.name))])
    if smtp_port:
        rows = {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_tls": False, **settings}
        data["settings"] = pd.DataFrame({"setting": list(rows), "value": list(rows.values())})
    if extra_automations:
        rows = template_rows(schema.tables["automations"], "en") + list(extra_automations)
        data["automations"] = pd.DataFrame(rows)
    return build_workbook(path, schema, data=data, now=NOW)


def test_sample_workbook_emails_arrive_once_with_merge_fields_and_show_in_the_outbox_sheet(tmp_path, mail_server, on_backend):
    port, inbox = mail_server
    path = on_backend(sample_workbook(tmp_path / "crm.xlsx", smtp_port=port))
    report = run(path, ["automate"], now=NOW)
    [auto] = report.results
    emails = [e for e in auto.effects if e.kind == "email"]
    assert report.written and sorted(report.delivery["sent"]) == sorted(e.key for e in emails) and report.delivery["failed"] == []
    assert sorted(m["To"] for m in inbox.messages) == sorted(e.payload["to"] for e in emails)

    welcome = [m for m in inbox.messages if m["To"] == "eva@stone.example"]
    assert [m["Subject"] for m in welcome] == ["Welcome, Eva"]
    owner = {r[0]: r for r in grid(path, "Leads")[1:]}["L-09999"][14]
    assert owner, "the new lead was assigned before the email named its owner"
    body = welcome[0].get_body(("plain",)).get_content()
    assert f"{owner} will be in touch" in body and "unsubscribe" in body
    assert welcome[0]["List-Unsubscribe"].startswith("<mailto:")
    digests = [m for m in inbox.messages if m["Subject"].startswith("Your week:")]
    assert digests and all(m["To"].endswith("@brightlane.io") for m in digests)

    outbox = grid(path, "Outbox")
    assert outbox[2] == ["Status", "Kind", "To / channel", "Subject / text", "Record", "Queued at", "Error"]
    shown = {r[2]: r[0] for r in outbox[3:]}
    assert shown["eva@stone.example"] == "Sent", "the sheet shows what this run delivered, as the summary does"
    activities = [r for r in grid(path, "Activities")[1:] if r[8] == "L-09999"]
    assert [(r[2], r[5]) for r in activities] == [("Email", "Welcome, Eva")]

    again = run(path, ["automate"], now=NOW)
    assert again.results[0].effects == [] and again.delivery["sent"] == []
    assert len(inbox.messages) == len(emails), "running twice sends nothing more"
    assert {r[2]: r[0] for r in grid(path, "Outbox")[3:]}["eva@stone.example"] == "Sent"


def test_without_a_mail_server_emails_wait_in_the_outbox_sheet(tmp_path, on_backend):
    path = on_backend(sample_workbook(tmp_path / "crm.xlsx"))
    report = run(path, ["automate"], now=NOW)
    assert report.delivery["sent"] == [] and "welcome-new-leads:L-09999:created" in report.delivery["waiting"]
    rows = grid(path, "Outbox")
    assert ["Queued", "Email", "eva@stone.example", "Welcome, Eva", "L-09999", "2026-11-02 09:00:00", ""] in rows


def test_chat_and_webhook_posts_reach_a_local_server_once_after_a_deal_is_won(tmp_path, web_server, monkeypatch, on_backend):
    url, received = web_server
    monkeypatch.setenv("CRM_SHEETS_CHAT_WEBHOOK", f"{url}/chat")
    hook = {"name": "Won to accounting", "active": True, "table": "Deals", "trigger": "Field changed", "trigger_field": "stage",
            "trigger_value": "Closed won", "action": "Post webhook", "template": f"{url}/hook"}
    path = on_backend(sample_workbook(tmp_path / "crm.xlsx", extra_automations=[hook]))
    run(path, ["automate"], now=NOW)
    won_today = generate("sales", leads=200, seed=7, now=NOW).truth.showcase["won_deals"][0]
    assert {k for _, k, _ in received} == {f"deal-won:{won_today}:closed won", f"won-to-accounting:{won_today}:closed won"}, \
        "the first run fires only for the deal won today; older stages are the baseline"
    received.clear()

    store = open_store(path)
    tables = store.read()
    open_deal = next(rid for rid, stage in tables.df("deals")["stage"].items() if stage == "Proposal")
    name, amount = tables.df("deals").loc[open_deal, ["name", "amount"]]
    store.apply(ChangeSet(updates=[CellUpdate("deals", open_deal, "stage", "Closed won")]), tables)

    report = run(path, ["automate"], now=NOW.replace(hour=10))
    assert sorted(p for p, _, _ in received) == ["/chat", "/hook"]
    chat = next(b for p, _, b in received if p == "/chat")
    assert chat["text"].startswith(f"Won: {name} (") and report.delivery["failed"] == []
    hook_body = next(b for p, _, b in received if p == "/hook")
    assert (hook_body["id"], hook_body["trigger_value"], hook_body["record"]["stage"]) == (open_deal, "closed won", "Closed won")
    assert {k for _, k, _ in received} == {f"deal-won:{open_deal}:closed won", f"won-to-accounting:{open_deal}:closed won"}
    notes = [r for r in grid(path, "Activities")[1:] if r[9] == open_deal and r[2] == "Chat"]
    assert len(notes) == 1, "the chat note is on the deal's timeline"

    run(path, ["automate"], now=NOW.replace(hour=11))
    assert len(received) == 2, "nothing is posted twice"


def test_a_crash_after_handing_over_an_email_leaves_it_unknown_never_sent_twice(tmp_path, mail_server, on_backend):
    port, inbox = mail_server
    path = on_backend(sample_workbook(tmp_path / "crm.xlsx", smtp_port=port))
    script = textwrap.dedent(f"""
        import os
        from datetime import datetime
        import crm_sheets.runner as runner
        from crm_sheets.outbox import SmtpTransport

        class Crashing(SmtpTransport):
            def send(self, item, mark_sending):
                super().send(item, mark_sending)
                os._exit(9)  # dies after DATA, before the outbox records `sent`

        real = runner.transports
        def crashing(tables):
            out = real(tables)
            out["email"] = Crashing(out["email"].settings)
            return out
        runner.transports = crashing
        runner.run({str(path)!r}, ["automate"], now=datetime(2026, 11, 2, 9, 0))
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    assert len(inbox.messages) == 1
    [unknown_key] = [i.key for i in Outbox(outbox_path(path)).items("sending")]

    report = run(path, ["automate"], now=NOW)
    assert report.results[0].effects == [], "the state was saved before delivery: nothing is produced again"
    assert report.delivery["unknown"] == [unknown_key]
    recipients = [m["To"] for m in inbox.messages]
    assert recipients.count(recipients[0]) == 1, "no silent second copy; the others were sent once"
    run(path, ["automate"], now=NOW)  # the sheet shows the outbox as of the previous delivery
    assert grid(path, "Outbox")[3][0] == "Unknown: please confirm"


def test_cli_dry_run_prints_the_library_result_and_queues_nothing(tmp_path):
    path = sample_workbook(tmp_path / "crm.xlsx")
    before = path.read_bytes()
    result = CliRunner().invoke(cli, ["automate", str(path), "--dry-run", "--json", "--now", "2026-11-02T09:00"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    library = run(path, ["automate"], now=NOW, dry_run=True).as_dict()
    assert out == json.loads(json.dumps(library, default=str))
    assert out["results"][0]["effects"] > 0 and out["written"] is False
    assert path.read_bytes() == before and Outbox(outbox_path(path)).items() == []
    assert Outbox(outbox_path(path)).load_state("automate") is None


# -- status you can trust, secrets kept out, bounded time ------------------------------------------

def _counts(summary):
    """The run summary's outbox line as numbers: {'sent now': n, 'waiting': n, ...}."""
    import re

    line = next(line for line in summary.splitlines() if line.startswith("Outbox:"))
    return {word: int(n) for n, word in re.findall(r"(\d+) (sent now|waiting|failed \(will retry\)|failed for good|to confirm)", line)}


def test_the_run_summary_the_outbox_sheet_and_the_outbox_command_count_alike(tmp_path, mail_server, on_backend):
    from crm_sheets.model.effects import Effect, MAX_ATTEMPTS
    from crm_sheets.outbox import SmtpSettings, SmtpTransport, UncertainDelivery

    port, inbox = mail_server
    path = on_backend(sample_workbook(tmp_path / "crm.xlsx", smtp_port=port))
    box = Outbox(outbox_path(path))
    old = {"subject": "Old news", "text": "Hello", "from": "crm@example.com"}
    box.enqueue([Effect("email", "old:out-of-tries", {"to": "ana@example.com", **old})], NOW)
    dead = SmtpTransport(SmtpSettings(host="127.0.0.1", port=1, tls=False))
    for _ in range(MAX_ATTEMPTS):  # a server that was down for five runs
        box.deliver({"email": dead}, NOW)

    class Unsure:  # the connection broke after the message was handed over
        def send(self, item, mark_sending):
            mark_sending()
            raise UncertainDelivery("connection lost after the message was sent")

    box.enqueue([Effect("email", "old:unsure", {"to": "bo@example.com", **old})], NOW)
    box.deliver({"email": Unsure()}, NOW)
    assert (box.item("old:out-of-tries").state, box.item("old:unsure").state) == ("failed", "unknown")

    inbox.replies = ["554 5.7.1 Message rejected as spam", "451 4.3.0 Try again later"]
    result = CliRunner().invoke(cli, ["automate", str(path), "--now", "2026-11-02T09:00"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    summary = _counts(result.output)
    assert summary["failed for good"] == 2 and summary["failed (will retry)"] == 1 and summary["to confirm"] == 1, result.output

    labels = {"Queued": "waiting", "Failed (will retry)": "failed (will retry)", "Failed: needs you": "failed for good",
              "Unknown: please confirm": "to confirm"}
    rows = grid(path, "Outbox")
    shown = {word: sum(1 for r in rows[3:] if r[0] == label) for label, word in labels.items()}
    listed = json.loads(CliRunner().invoke(cli, ["outbox", str(path), "--json"]).output)
    states = {"waiting": "waiting", "retrying": "failed (will retry)", "failed": "failed for good", "unknown": "to confirm"}
    by_command = {word: sum(1 for d in listed if d["state"] == state) for state, word in states.items()}
    assert {k: summary[k] for k in shown} == shown == by_command
    assert "2 failed for good" in rows[0][2] and "1 to confirm" in rows[0][2], "the sheet's title row counts them too"
    refused = next(r for r in rows[3:] if r[0] == "Failed: needs you" and "554" in str(r[6]))
    assert "554 5.7.1 Message rejected as spam" in refused[6]


def test_a_failing_chat_webhook_url_never_reaches_the_workbook_the_outbox_file_or_json(tmp_path, monkeypatch):
    import zipfile

    token = "T0001/B0002/abcdefghijklmnopqrstuvwx"
    secret = f"http://crm:pa55word@127.0.0.1:1/services/{token}?token=s3cr3t-query"
    monkeypatch.setenv("CRM_SHEETS_CHAT_WEBHOOK", secret)
    path = sample_workbook(tmp_path / "crm.xlsx")
    result = CliRunner().invoke(cli, ["automate", str(path), "--json", "--now", "2026-11-02T09:00"])
    assert result.exit_code == 0, result.output
    run_json = json.loads(result.output)
    assert run_json["delivery"]["failed"], "the chat posts failed (nothing listens there)"
    listed = CliRunner().invoke(cli, ["outbox", str(path), "--json"]).output
    errors = [d["error"] for d in json.loads(listed) if d["kind"] == "chat"]
    assert errors and all("cannot reach the team chat webhook" in e for e in errors)
    outbox_rows = [r for r in grid(path, "Outbox")[3:] if r[1] == "Team chat"]
    assert outbox_rows and all("cannot reach the team chat webhook" in r[6] for r in outbox_rows)

    written = [result.output.encode(), listed.encode()]
    for f in tmp_path.rglob("*"):
        if f.is_file() and zipfile.is_zipfile(f):
            with zipfile.ZipFile(f) as z:
                written += [z.read(n) for n in z.namelist()]
        elif f.is_file():
            written.append(f.read_bytes())
    for part in ("abcdefghijklmnopqrstuvwx", "pa55word", "s3cr3t-query", "/services/T0001"):
        assert not any(part.encode() in blob for blob in written), part


def test_a_mail_server_that_never_answers_costs_seconds_per_run_not_seconds_per_email(tmp_path, on_backend):
    import socket
    import time

    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        path = on_backend(sample_workbook(tmp_path / "crm.xlsx", smtp_port=silent.getsockname()[1], smtp_timeout=1))
        started = time.monotonic()
        report = run(path, ["automate"], now=NOW)
        elapsed = time.monotonic() - started
    emails = [e.key for e in report.results[0].effects if e.kind == "email"]
    assert len(emails) >= 3 and len(report.delivery["failed"]) == 1
    assert sorted(report.delivery["failed"] + report.delivery["deferred"]) == sorted(emails)
    assert elapsed < 10, f"one 1-second timeout for {len(emails)} emails, not one each ({elapsed:.1f} s)"
    assert "did not answer within 1 s" in report.delivery["reasons"]["email"]


def test_two_automate_runs_started_together_send_each_email_once(tmp_path, mail_server, on_backend):
    port, inbox = mail_server
    inbox.delay = 0.3  # a slow server: both runs would be delivering at the same time
    path = on_backend(sample_workbook(tmp_path / "crm.xlsx", smtp_port=port))
    runs = [subprocess.Popen([sys.executable, "-m", "crm_sheets", "automate", str(path), "--now", "2026-11-02T09:00"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=120)[0] for r in runs]
    assert all(r.returncode in (0, 3) for r in runs), outputs  # 3: the other run held the workbook
    assert "Traceback" not in "".join(outputs)
    ids = [m["Message-ID"] for m in inbox.messages]
    assert ids and len(ids) == len(set(ids)), "no Message-ID arrived twice"
    items = Outbox(outbox_path(path)).items()
    assert sorted(ids) == sorted(i.message_id for i in items if i.kind == "email" and i.status == "sent")
