"""The outbox against real servers: an aiosmtpd SMTP server and an HTTP server on loopback (conftest's fixtures).

Exactly once: a second delivery sends nothing; a crash after handing a message to the server and
before recording it leaves the item `unknown` for a person to confirm, never a silent second copy.
"""
import json
import subprocess
import sys
import textwrap
from datetime import datetime

import pytest

from crm_sheets.model.effects import MAX_ATTEMPTS, Effect
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


def test_a_batch_queues_each_new_key_once_and_keeps_what_was_queued_before(tmp_path):
    # a first run queues thousands at once: keys already queued, and a key given twice in one batch, are queued once
    # (the first effect of a key wins), in the order given
    box = Outbox(tmp_path / "outbox.sqlite")
    assert box.enqueue([_email("k0001", to="first@example.com")], NOW) == ["k0001"]
    batch = [_email(f"k{n:04}", to=f"p{n}@example.com") for n in range(1200)]
    batch.insert(700, _email("k0650", to="again@example.com"))
    batch.append(Effect("chat", "won:D-00007", {"url": "http://127.0.0.1:9/hook", "text": "Won"}))
    added = box.enqueue(batch, NOW)
    assert added == [f"k{n:04}" for n in range(1200) if n != 1] + ["won:D-00007"]
    items = {i.key: i for i in box.items()}
    assert len(items) == 1201 and items["k0001"].payload["to"] == "first@example.com"
    assert items["k0650"].payload["to"] == "p650@example.com"
    assert items["k0002"].message_id.endswith("@example.com>") and items["won:D-00007"].message_id is None
    assert len({i.message_id for i in items.values() if i.kind == "email"}) == 1200


def test_without_a_mail_server_emails_wait_in_the_outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email("k1")], NOW)
    report = box.deliver({}, NOW)
    assert report.waiting == ["k1"] and box.items()[0].status == "queued"


def test_a_delivery_sends_the_kinds_it_has_a_channel_for_and_names_the_others_waiting_in_queue_order(tmp_path):
    # the waiting ones are named by key only (their payloads are not read), queued ones before failed ones
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email("e1"), Effect("chat", "c1", {"text": "hi"}), _email("e0"), Effect("chat", "c2", {"text": "yo"})], NOW)
    with box._connect() as db:
        db.execute("UPDATE items SET status = 'failed', attempts = 1 WHERE key = 'e1'")
        db.execute("UPDATE items SET status = 'failed', attempts = ? WHERE key = 'e0'", (MAX_ATTEMPTS,))  # out of tries: not looked at

    class Chat:
        def __init__(self):
            self.sent = []

        def send(self, item, mark_sending):
            mark_sending()
            self.sent.append((item.key, item.payload["text"]))

    chat = Chat()
    report = box.deliver({"chat": chat}, NOW)
    assert chat.sent == [("c1", "hi"), ("c2", "yo")] and report.sent == ["c1", "c2"]
    assert report.waiting == ["e1"] and {i.key: i.status for i in box.items()} == {"e1": "failed", "e0": "failed", "c1": "sent", "c2": "sent"}


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


# -- several deliverers at once, SMTP replies, silent servers ------------------------------------

_DELIVER = textwrap.dedent("""
    import json, sys, time
    from datetime import datetime
    from pathlib import Path
    from crm_sheets.outbox import Outbox, SmtpSettings, SmtpTransport

    db, port, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    box = Outbox(db)
    print("ready", flush=True)
    while not go.exists():  # both processes start delivering at the same moment
        time.sleep(0.01)
    t = SmtpTransport(SmtpSettings(host="127.0.0.1", port=port, tls=False))
    print(json.dumps(box.deliver({"email": t}, datetime(2026, 11, 2, 9, 0)).sent))
""")


def _silent_server():
    """A server that accepts connections and never says a word (the kernel completes the handshake)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


@pytest.mark.slow
def test_two_deliveries_in_two_processes_send_every_email_exactly_once(tmp_path, mail_server):
    port, inbox = mail_server
    inbox.delay = 0.3  # a slow server: both deliveries are busy at the same time
    db = tmp_path / "outbox.sqlite"
    box = Outbox(db)
    keys = box.enqueue([_email(f"k{n:02}", to=f"p{n}@example.com") for n in range(8)], NOW)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _DELIVER, str(db), str(port), str(go)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    sent = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sent[0] and sent[1], "both deliveries sent some: they really ran at the same time"
    assert sorted(sent[0] + sent[1]) == keys, "each item was sent by exactly one of them"
    ids = [m["Message-ID"] for m in inbox.messages]
    assert sorted(ids) == sorted(i.message_id for i in box.items()), "every Message-ID arrived exactly once"
    assert {i.status for i in box.items()} == {"sent"}


@pytest.mark.slow
def test_a_deliverer_that_died_before_the_final_dot_leaves_an_email_that_is_sent_once_later(tmp_path, mail_server):
    port, inbox = mail_server
    db = tmp_path / "outbox.sqlite"
    Outbox(db).enqueue([_email("k1")], NOW)
    script = textwrap.dedent(f"""
        import os
        from datetime import datetime
        from crm_sheets.outbox import Outbox, SmtpSettings, SmtpTransport

        class Dying(SmtpTransport):
            def send(self, item, mark_sending):
                os._exit(9)  # claimed, never handed over

        Outbox({str(db)!r}).deliver({{"email": Dying(SmtpSettings(host="127.0.0.1", port={port}, tls=False))}}, datetime(2026, 11, 2, 9, 0))
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    box = Outbox(db)
    assert box.items()[0].status == "sending"
    assert box.deliver({"email": _smtp(port)}, NOW).sent == ["k1"], "its deliverer is gone and never reached the point of no return"
    assert len(inbox.messages) == 1


@pytest.mark.slow
def test_a_stalled_deliverer_whose_lease_ran_out_cannot_send_what_another_took_over(tmp_path, mail_server):
    port, inbox = mail_server
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email("k1")], NOW)
    outcomes = {}

    class Stalled(SmtpTransport):
        def send(self, item, mark_sending):
            # While this deliverer stalls past its lease, a second one takes the item over and sends it.
            outcomes["second"] = box.deliver({"email": _smtp(port)}, NOW)
            super().send(item, mark_sending)

    first = box.deliver({"email": Stalled(_smtp(port).settings)}, NOW, lease=0.0)
    assert outcomes["second"].sent == ["k1"] and first.sent == [] and first.busy == ["k1"]
    assert len(inbox.messages) == 1 and box.items()[0].status == "sent"


@pytest.mark.slow
def test_a_554_fails_for_good_with_the_server_text_and_the_next_email_still_goes(tmp_path, mail_server):
    port, inbox = mail_server
    inbox.replies = ["554 5.7.1 Message rejected as spam"]
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email("k1"), _email("k2", to="bo@example.com")], NOW)
    report = box.deliver({"email": _smtp(port)}, NOW)
    assert report.failed == ["k1"] and report.sent == ["k2"]
    k1 = box.item("k1")
    assert k1.state == "failed" and "554 5.7.1 Message rejected as spam" in k1.error
    assert report.totals["failed"] == 1 and report.totals["retrying"] == 0
    assert box.deliver({"email": _smtp(port)}, NOW).sent == [], "a permanent refusal is not retried"
    assert [m["To"] for m in inbox.messages] == ["bo@example.com"]
    box.retry_failed(now=NOW)  # a person fixed the cause
    assert box.deliver({"email": _smtp(port)}, NOW).sent == ["k1"]


@pytest.mark.slow
def test_a_451_is_retried_on_the_next_delivery_and_arrives_once(tmp_path, mail_server):
    port, inbox = mail_server
    inbox.replies = ["451 4.3.0 Try again later"]
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email("k1")], NOW)
    assert box.deliver({"email": _smtp(port)}, NOW).failed == ["k1"]
    assert box.item("k1").state == "retrying" and "451 4.3.0 Try again later" in box.item("k1").error
    assert box.deliver({"email": _smtp(port)}, NOW).sent == ["k1"]
    assert [m["Message-ID"] for m in inbox.messages] == [box.item("k1").message_id]


@pytest.mark.slow
def test_a_connection_dropped_at_data_before_the_message_is_retried_not_unknown(tmp_path, mail_server):
    port, inbox = mail_server
    inbox.drop_at_data = 1
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email("k1")], NOW)
    report = box.deliver({"email": _smtp(port)}, NOW)
    assert report.failed == ["k1"] and report.unknown == []
    assert box.item("k1").state == "retrying" and "before the message was sent" in box.item("k1").error
    assert box.deliver({"email": _smtp(port)}, NOW).sent == ["k1"]
    assert len(inbox.messages) == 1


@pytest.mark.slow
def test_a_connection_lost_after_the_final_dot_is_unknown_and_never_sent_again(tmp_path, mail_server):
    port, inbox = mail_server
    inbox.replies = [None]  # the server has the whole message, then the line breaks before its answer
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email("k1"), _email("k2", to="bo@example.com")], NOW)
    report = box.deliver({"email": _smtp(port)}, NOW)
    assert report.unknown == ["k1"] and report.sent == ["k2"], "the next email goes on a new connection"
    assert "after the message was sent" in box.item("k1").error
    assert box.deliver({"email": _smtp(port)}, NOW).sent == []
    assert sorted(m["To"] for m in inbox.messages) == ["ana@example.com", "bo@example.com"]


@pytest.mark.slow
def test_one_connection_carries_several_emails(tmp_path, mail_server):
    port, inbox = mail_server
    sessions = []
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email(f"k{n}", to=f"p{n}@example.com") for n in range(5)], NOW)

    class Counting(SmtpTransport):
        def _session(self):
            if self._smtp is None:
                sessions.append(1)
            return super()._session()

    assert len(box.deliver({"email": Counting(_smtp(port).settings)}, NOW).sent) == 5
    assert len(inbox.messages) == 5 and len(sessions) == 1


@pytest.mark.slow
def test_a_mail_server_that_never_answers_costs_one_timeout_per_run_not_one_per_email(tmp_path):
    import time

    server = _silent_server()
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([_email(f"k{n}", to=f"p{n}@example.com") for n in range(6)], NOW)
    silent = SmtpTransport(SmtpSettings(host="127.0.0.1", port=server.getsockname()[1], tls=False, timeout=1.0))
    started = time.monotonic()
    report = box.deliver({"email": silent}, NOW)
    assert time.monotonic() - started < 3, "one timeout, then the other emails wait"
    server.close()
    assert report.failed == ["k0"] and report.deferred == [f"k{n}" for n in range(1, 6)] and report.unknown == []
    assert "did not answer within 1 s" in report.reasons["email"]
    assert report.totals["retrying"] == 1 and report.totals["waiting"] == 5
    assert all(i.attempts == 0 and "did not answer" in i.error for i in box.items() if i.key != "k0")


@pytest.mark.slow
def test_a_webhook_that_never_answers_costs_one_timeout_per_run(tmp_path):
    import time

    server = _silent_server()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    box = Outbox(tmp_path / "outbox.sqlite")
    box.enqueue([Effect("webhook", f"w{n}", {"url": url, "body": {"n": n}}) for n in range(4)], NOW)
    started = time.monotonic()
    report = box.deliver({"webhook": WebhookTransport(timeout=1.0)}, NOW)
    assert time.monotonic() - started < 3
    server.close()
    assert report.failed == ["w0"] and report.deferred == ["w1", "w2", "w3"]
    assert box.item("w0").state == "retrying", "posted again with the same Idempotency-Key: the receiver drops a copy"


@pytest.mark.slow
def test_a_chat_webhook_url_never_appears_in_the_outbox_file_or_its_errors(tmp_path):
    token = "xoxb-T0001-B0002-abcdefghijklmnopqrstuvwx"
    url = f"http://crm:pa55word@127.0.0.1:1/services/T0001/B0002/{token}?token=s3cr3t-query"
    db = tmp_path / "outbox.sqlite"
    box = Outbox(db)
    box.enqueue([Effect("chat", "won:D-00007", {"text": "Won: Acme renewal"})], NOW)
    assert box.deliver({"chat": WebhookTransport(url)}, NOW).failed == ["won:D-00007"]
    item = box.item("won:D-00007")
    assert "cannot reach the team chat webhook" in item.error
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for secret in (token, "pa55word", "s3cr3t-query", "/services/T0001"):
        assert secret.encode() not in stored and secret not in json.dumps(item.as_dict())


def test_redaction_hides_user_info_query_tokens_and_registered_secrets():
    from crm_sheets.model.redact import redact, register_secret

    register_secret("https://hooks.example.com/services/T1/B2/abcdefghijklmnopqrstuvwx")
    text = ("cannot reach https://hooks.example.com/services/T1/B2/abcdefghijklmnopqrstuvwx; "
            "url: /services/T1/B2/abcdefghijklmnopqrstuvwx; https://bob:hunter22@api.example.com/v1?token=s3cr3t&page=2 "
            "Authorization: Bearer abcdefghijk123 password=hunter2 ana@example.com")
    out = redact(text)
    for secret in ("abcdefghijklmnopqrstuvwx", "hunter22", "s3cr3t", "abcdefghijk123", "hunter2"):
        assert secret not in out
    assert "https://[redacted]@api.example.com/v1?token=[redacted]&page=[redacted]" in out and "ana@example.com" in out
    assert redact(out) == out


def test_the_outbox_sheet_names_each_state_counts_them_and_hides_secrets_of_webhook_urls(tmp_path):
    from crm_sheets.jobs.automate import outbox_sheet
    from crm_sheets.model.effects import MAX_ATTEMPTS

    box = Outbox(tmp_path / "outbox.sqlite")
    hook = "https://ops:hunter22@hooks.example.com/in/zyxwvutsrqponmlkjihgfedcba?token=s3cr3t"
    box.enqueue([_email("tired"), Effect("webhook", "hook", {"url": hook, "body": {"rule": "Won"}})], NOW)

    class Down:
        def send(self, item, mark_sending):
            from crm_sheets.outbox import DeliveryError
            raise DeliveryError(f"cannot reach {hook}")

    for _ in range(MAX_ATTEMPTS):
        box.deliver({"email": Down()}, NOW)  # "tired" uses up its tries
    box.deliver({"webhook": Down()}, NOW)
    box.enqueue([_email("fresh", to="bo@example.com")], NOW)
    spec = outbox_sheet(box.items(), lang="en")
    cells = [[getattr(c, "value", c) for c in row] for row in spec.rows]
    status = {row[2]: row[0] for row in cells[3:] if row[1] == "Email"}
    assert status == {"ana@example.com": "Failed: needs you", "bo@example.com": "Queued"}
    assert sorted(r[0] for r in cells[3:]) == ["Failed (will retry)", "Failed: needs you", "Queued"]
    assert cells[0][2] == "1 waiting, 1 failed (will retry), 1 failed for good, 0 to confirm"
    text = repr(cells)
    assert "hunter22" not in text and "s3cr3t" not in text and "zyxwvutsrqponmlkjihgfedcba" not in text
    assert "https://[redacted]@hooks.example.com/in/[redacted]?token=[redacted]" in text
    fr = [[getattr(c, "value", c) for c in row] for row in outbox_sheet(box.items(), lang="fr").rows]
    assert sorted(r[0] for r in fr[3:]) == ["En attente", "Échec (nouvel essai)", "Échec : à traiter"]


def test_one_jobs_state_reads_back_as_the_whole_generation_gives_it(tmp_path):
    box = Outbox(tmp_path / "x.outbox.sqlite")
    now = datetime(2026, 3, 15, 9, 0)
    assert box.load_state("outbox_sheet") is None  # before any run
    states = {"outbox_sheet": {"digest": "abc", "n": [1, 2.5, None, True]}, "flag": True, "off": False, "n": 3,
              "x": 2.5, "t": "text", "none": None, 'odd"name': {"a": 1}, "check": {"rows": "é" * 1000}}
    box.commit_states("g1", now, states=states)
    whole = box.job_states().states
    for name in [*states, "absent"]:
        got = box.load_state(name)
        assert got == whole.get(name) and type(got) is type(whole.get(name)), name
    box.commit_states("g2", now, states={"outbox_sheet": {"digest": "def"}, "nan": float("nan")})  # JSON SQLite refuses
    assert box.load_state("outbox_sheet") == {"digest": "def"} and box.load_state("flag") is None
