"""The outbox against real servers: an aiosmtpd SMTP server and an HTTP server on loopback (conftest's fixtures).

Exactly once: a second delivery sends nothing; a crash after handing a message to the server and
before recording it leaves the item `unknown` for a person to confirm, never a silent second copy.
"""
import subprocess
import sys
import textwrap
from datetime import datetime

from crm_sheets.model.effects import Effect
from crm_sheets.outbox import Outbox, SmtpSettings, SmtpTransport, WebhookTransport

NOW = datetime(2026, 11, 2, 9, 0)


def _email(key, to="ana@example.com", subject="Welcome, Ana"):
    return Effect("email", key, {"to": to, "subject": subject, "text": "Hello Ana", "html": "<p>Hello Ana</p>",
                                 "from": "CRM <crm@example.com>"}, "leads", "L-00001")


def _smtp(port):
    return SmtpTransport(SmtpSettings(host="127.0.0.1", port=port, tls=False, sender="crm@example.com"))


def test_email_is_delivered_once_with_text_and_html_parts(tmp_path, mail_server):
    port, inbox = mail_server
    box = Outbox(tmp_path / "outbox.sqlite")
    assert box.enqueue([_email("welcome:L-00001")], NOW) == ["welcome:L-00001"]
    report = box.deliver({"email": _smtp(port)}, NOW)
    assert report.sent == ["welcome:L-00001"]
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["Subject"] == "Welcome, Ana" and msg["To"] == "ana@example.com"
    assert msg["Message-ID"] == box.items()[0].message_id
    assert {p.get_content_type() for p in msg.walk()} >= {"text/plain", "text/html"}
    # running again — and queueing the same effect again — sends nothing more
    assert box.enqueue([_email("welcome:L-00001")], NOW) == []
    assert box.deliver({"email": _smtp(port)}, NOW).sent == []
    assert len(inbox.messages) == 1


def test_without_a_mail_server_emails_wait_in_the_outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email("k1")], NOW)
    report = box.deliver({}, NOW)
    assert report.waiting == ["k1"] and box.items()[0].status == "queued"


def test_unreachable_server_fails_and_is_retried_later_with_the_same_message_id(tmp_path, mail_server):
    port, inbox = mail_server
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email("k1")], NOW)
    dead = SmtpTransport(SmtpSettings(host="127.0.0.1", port=1, tls=False))
    assert box.deliver({"email": dead}, NOW).failed == ["k1"]
    item = box.items()[0]
    assert item.status == "failed" and "cannot reach" in item.error
    assert box.deliver({"email": _smtp(port)}, NOW).sent == ["k1"]
    assert inbox.messages[0]["Message-ID"] == item.message_id


def test_crash_after_handing_over_the_message_gives_unknown_not_a_second_copy(tmp_path, mail_server):
    port, inbox = mail_server
    db = tmp_path / "outbox.sqlite"
    Outbox(db).enqueue([_email("k1")], NOW)
    script = textwrap.dedent(f"""
        import os
        from datetime import datetime
        from crm_sheets.outbox import Outbox, SmtpSettings, SmtpTransport

        class Crashing(SmtpTransport):
            def send(self, item, mark_sending):
                super().send(item, mark_sending)
                os._exit(9)  # the process dies after DATA, before the outbox records `sent`

        t = Crashing(SmtpSettings(host="127.0.0.1", port={port}, tls=False))
        Outbox({str(db)!r}).deliver({{"email": t}}, datetime(2026, 11, 2, 9, 0))
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    assert len(inbox.messages) == 1
    box = Outbox(db)
    report = box.deliver({"email": _smtp(port)}, NOW)
    assert report.unknown == ["k1"] and report.sent == []
    assert len(inbox.messages) == 1, "never a silent second copy"
    assert box.deliver({"email": _smtp(port)}, NOW).sent == [], "unknown is never retried automatically"
    box.confirm("k1", delivered=True, now=NOW)
    assert box.items()[0].status == "sent"


def test_webhook_posts_json_with_an_idempotency_key_and_retries_a_503(tmp_path, web_server):
    url, received = web_server
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([Effect("chat", "won:D-00007", {"url": f"{url}/flaky", "text": "Won: Acme renewal"})], NOW)
    assert box.deliver({"chat": WebhookTransport()}, NOW).failed == ["won:D-00007"]
    assert box.deliver({"chat": WebhookTransport()}, NOW).sent == ["won:D-00007"]
    assert box.deliver({"chat": WebhookTransport()}, NOW).sent == []
    assert [r[2] for r in received] == [{"text": "Won: Acme renewal"}] * 2
    assert {r[1] for r in received} == {"won:D-00007"}


def test_smtp_settings_come_from_the_workbook_and_the_password_from_the_environment(monkeypatch):
    settings = {"smtp_host": "mail.example.com", "smtp_port": 2525.0, "smtp_user": "crm", "smtp_tls": "TRUE"}
    s = SmtpSettings.from_settings(lambda k, d=None: settings.get(k, d))
    assert (s.host, s.port, s.user, s.tls) == ("mail.example.com", 2525, "crm", True)
    monkeypatch.setenv("CRM_SHEETS_SMTP_PASSWORD", "s3cret")
    assert SmtpTransport(s).password == "s3cret"
    assert SmtpSettings.from_settings(lambda k, d=None: {"smtp_host": " "}.get(k, d)) is None
