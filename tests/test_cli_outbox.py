"""`crm-sheets outbox`: a person lists the outbox and settles what automate could not, against a real SMTP
server (aiosmtpd on loopback). An email left `unknown` by a crash is confirmed or resent, and the inbox
receives exactly what it should; --json equals the library's result.
"""
import json
import subprocess
import sys
import textwrap
from datetime import datetime

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.model.effects import Effect
from crm_sheets.outbox import MAX_ATTEMPTS, Outbox, SmtpSettings, SmtpTransport, outbox_path
from crm_sheets.workbook import new_workbook

NOW = datetime(2026, 11, 2, 9, 0)
LATER = "2026-11-02T10:00"


def _email(key, to):
    return Effect("email", key, {"to": to, "subject": f"Welcome, {to.split('@')[0].title()}", "text": "Hello",
                                 "from": "CRM <crm@example.com>"}, "leads", "L-00001")


def _smtp(port):
    return SmtpTransport(SmtpSettings(host="127.0.0.1", port=port, tls=False, sender="crm@example.com"))


def outbox_cli(*args):
    return CliRunner().invoke(cli, ["outbox", *map(str, args)], env={"COLUMNS": "200"})  # a wide terminal


@pytest.fixture
def crashed(tmp_path, mail_server):
    """A workbook whose outbox holds two emails; the process delivering the first died right after the
    server accepted it, and the next delivery found it `unknown` (and sent the second)."""
    port, inbox = mail_server
    path = new_workbook(tmp_path / "crm.xlsx")
    db = outbox_path(path)
    Outbox(db).enqueue([_email("welcome:L-00001:created", "ana@example.com")], NOW)
    script = textwrap.dedent(f"""
        import os
        from datetime import datetime
        from crm_sheets.outbox import Outbox, SmtpSettings, SmtpTransport

        class Crashing(SmtpTransport):
            def send(self, item, mark_sending):
                super().send(item, mark_sending)
                os._exit(9)  # dies after DATA, before the outbox records `sent`

        t = Crashing(SmtpSettings(host="127.0.0.1", port={port}, tls=False))
        Outbox({str(db)!r}).deliver({{"email": t}}, datetime(2026, 11, 2, 9, 0))
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    box = Outbox(db)
    box.enqueue([_email("welcome:L-00002:created", "bo@example.com")], NOW)
    report = box.deliver({"email": _smtp(port)}, NOW)
    assert report.unknown == ["welcome:L-00001:created"] and report.sent == ["welcome:L-00002:created"]
    assert sorted(m["To"] for m in inbox.messages) == ["ana@example.com", "bo@example.com"]
    return path, box, port, inbox


def test_outbox_lists_items_with_the_one_to_confirm_and_json_equals_the_library(crashed):
    path, box, _, _ = crashed
    result = outbox_cli(path)
    assert result.exit_code == 0, result.output
    assert "welcome:L-00001:created" in result.output and "unknown" in result.output and "ana@example.com" in result.output
    assert "1 to confirm" in result.output and "--confirm KEY --delivered" in result.output
    data = json.loads(outbox_cli(path, "--json").output)
    assert data == [i.as_dict() for i in box.items()]
    assert [(d["key"], d["status"], d["to"], d["subject"]) for d in data] == [
        ("welcome:L-00001:created", "unknown", "ana@example.com", "Welcome, Ana"),
        ("welcome:L-00002:created", "sent", "bo@example.com", "Welcome, Bo")]
    assert [d["key"] for d in json.loads(outbox_cli(path, "--status", "unknown", "--json").output)] == ["welcome:L-00001:created"]


def test_confirm_delivered_marks_it_sent_and_nothing_more_is_sent(crashed):
    path, box, port, inbox = crashed
    result = outbox_cli(path, "--confirm", "welcome:L-00001:created", "--delivered", "--now", LATER)
    assert result.exit_code == 0, result.output
    assert "1 item marked sent" in result.output
    item = box.item("welcome:L-00001:created")
    assert (item.status, item.error, item.updated_at) == ("sent", None, "2026-11-02T10:00:00")
    assert box.deliver({"email": _smtp(port)}, NOW).sent == []
    assert sorted(m["To"] for m in inbox.messages) == ["ana@example.com", "bo@example.com"], "one copy each, nothing more"


def test_confirm_resend_sends_it_once_more_with_the_same_message_id(crashed):
    path, box, port, inbox = crashed
    message_id = box.item("welcome:L-00001:created").message_id
    result = outbox_cli(path, "--confirm", "welcome:L-00001:created", "--resend", "--json", "--now", LATER)
    assert result.exit_code == 0, result.output
    [moved] = json.loads(result.output)
    assert (moved["status"], moved["message_id"]) == ("queued", message_id)
    assert box.deliver({"email": _smtp(port)}, NOW).sent == ["welcome:L-00001:created"]
    ana = [m for m in inbox.messages if m["To"] == "ana@example.com"]
    assert [m["Message-ID"] for m in ana] == [message_id, message_id], "the copy carries the same Message-ID, so mail clients can fold it"
    assert box.deliver({"email": _smtp(port)}, NOW).sent == [] and len(inbox.messages) == 3, "exactly one more try"


def test_confirm_refuses_an_unknown_key_and_an_item_that_is_not_unknown(crashed):
    path, box, _, _ = crashed
    missing = outbox_cli(path, "--confirm", "welcome:L-09999:created", "--delivered")
    assert missing.exit_code == 2 and "has no item 'welcome:L-09999:created'" in missing.output
    assert "crm-sheets outbox PATH lists the keys" in missing.output
    sent = outbox_cli(path, "--confirm", "welcome:L-00002:created", "--resend")
    assert sent.exit_code == 2 and "welcome:L-00002:created is sent, not unknown" in sent.output
    assert box.item("welcome:L-00002:created").status == "sent"
    vague = outbox_cli(path, "--confirm", "welcome:L-00001:created")
    assert vague.exit_code == 2 and "--delivered" in vague.output and box.item("welcome:L-00001:created").status == "unknown"
    both = outbox_cli(path, "--confirm", "welcome:L-00001:created", "--delivered", "--cancel", "welcome:L-00001:created")
    assert both.exit_code == 2 and "one of" in both.output


def test_retry_failed_queues_items_that_used_up_their_tries_and_they_arrive(tmp_path, mail_server):
    port, inbox = mail_server
    path = new_workbook(tmp_path / "crm.xlsx")
    box = Outbox(outbox_path(path))
    box.enqueue([_email("k1", "ana@example.com")], NOW)
    dead = SmtpTransport(SmtpSettings(host="127.0.0.1", port=1, tls=False))
    for _ in range(MAX_ATTEMPTS):
        assert box.deliver({"email": dead}, NOW).failed == ["k1"]
    assert box.deliver({"email": _smtp(port)}, NOW).sent == [], "out of tries: not retried automatically"
    result = outbox_cli(path, "--retry-failed")
    assert result.exit_code == 0 and "1 item queued again" in result.output
    assert (box.item("k1").status, box.item("k1").attempts) == ("queued", 0)
    assert box.deliver({"email": _smtp(port)}, NOW).sent == ["k1"] and [m["To"] for m in inbox.messages] == ["ana@example.com"]
    assert "nothing to do" in outbox_cli(path, "--retry-failed").output


def test_cancel_means_never_sent_even_when_automate_queues_the_key_again(crashed):
    path, box, port, inbox = crashed
    result = outbox_cli(path, "--cancel", "welcome:L-00001:created", "--json")
    assert result.exit_code == 0 and json.loads(result.output)[0]["status"] == "cancelled"
    assert box.enqueue([_email("welcome:L-00001:created", "ana@example.com")], NOW) == []
    assert box.deliver({"email": _smtp(port)}, NOW).sent == [] and len(inbox.messages) == 2
    again = outbox_cli(path, "--cancel", "welcome:L-00002:created")
    assert again.exit_code == 2 and "is sent, not queued or failed or unknown" in again.output


def test_a_workbook_without_an_outbox_says_to_run_automate_first(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx")
    result = outbox_cli(path)
    assert result.exit_code == 2 and "crm.xlsx has no outbox yet" in result.output and "crm-sheets automate" in result.output
    assert not outbox_path(path).exists(), "looking creates nothing"
    gone = outbox_cli(tmp_path / "nope.xlsx")
    assert gone.exit_code == 2 and "does not exist" in gone.output


def test_an_80_column_terminal_shows_whole_keys_and_the_to_subject_and_error_of_each_item(tmp_path):
    path = new_workbook(tmp_path / "crm.xlsx")
    box = Outbox(outbox_path(path))
    key = "welcome-new-leads-from-the-spring-trade-show-in-lyon-and-grenoble:L-00001:created-2026-11-02"
    box.enqueue([_email(key, "ana.lopez-garcia@example.com")], NOW)
    box.deliver({"email": SmtpTransport(SmtpSettings(host="127.0.0.1", port=1, tls=False))}, NOW)
    result = CliRunner().invoke(cli, ["outbox", str(path)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert key in lines, "the key is printed whole on its own line, ready for --confirm"
    assert "ana.lopez-garcia@example.com" in result.output and "Welcome, Ana.Lopez-Garcia" in result.output
    assert "cannot reach the mail server 127.0.0.1:1" in " ".join(lines)
    assert "0 waiting, 1 failed (will retry), 0 failed for good, 0 to confirm." in result.output
