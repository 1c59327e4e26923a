"""The Google Sheets client: bounded retries with backoff against a real local HTTP server that answers 429,
503 or drops the connection; pacing under the per-minute quota; credentials found by the environment."""
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("gspread")

from crm_sheets.errors import QuotaExhausted, SheetsAuthMissing, SheetsUnavailable, SpreadsheetNotFound  # noqa: E402
from crm_sheets.store.gsheets.client import Pacer, RetryPolicy, connect  # noqa: E402


class _Script:
    """What the server answers, in order, per path ending: (status, headers, body) or "drop"."""

    def __init__(self):
        self.answers: dict[str, list] = {}
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def next(self, method: str, path: str):
        with self.lock:
            self.seen.append((method, path))
            for suffix, queue in self.answers.items():
                if path.split("?")[0].endswith(suffix) and queue:
                    return queue.pop(0)
        return 200, {}, {"ok": True}


@pytest.fixture
def api_server():
    script = _Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            answer = script.next(self.command, self.path)
            if answer == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, headers, body = answer
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", script
    server.shutdown()
    server.server_close()


def _error(status, message="boom"):
    return status, {}, {"error": {"code": status, "message": message, "status": "X"}}


def _client(endpoint, waits, attempts=5, total=60.0):
    return connect(endpoint=endpoint, policy=RetryPolicy(attempts=attempts, base=0.01, cap=0.05, total_seconds=total),
                   pacer=Pacer(10_000), sleep=waits.append, rng=random.Random(1))


@pytest.mark.slow
def test_reads_are_retried_through_quota_and_server_errors_and_every_retry_is_counted(api_server):
    endpoint, script = api_server
    script.answers["/v4/spreadsheets/S1"] = [_error(429), _error(503), "drop", (200, {}, {"spreadsheetId": "S1"})]
    waits = []
    conn = _client(endpoint, waits)
    got = conn.get("S1", fields="spreadsheetId")
    assert got == {"spreadsheetId": "S1"}
    assert conn.stats.retries == 3 and conn.stats.requests == 4
    assert conn.stats.statuses[429] == 1 and conn.stats.statuses[503] == 1 and conn.stats.statuses["dropped"] == 1
    assert len(waits) == 3 and all(0 <= w <= 0.05 for w in waits)


@pytest.mark.slow
def test_retry_after_from_the_server_is_waited(api_server):
    endpoint, script = api_server
    script.answers["/v4/spreadsheets/S1"] = [(429, {"Retry-After": "7"}, {"error": {"code": 429, "message": "q"}})]
    waits = []
    _client(endpoint, waits).get("S1", fields="spreadsheetId")
    assert waits == [7.0]


@pytest.mark.slow
def test_quota_that_never_clears_ends_in_quota_exhausted_not_endless_recursion(api_server):
    endpoint, script = api_server
    script.answers["/v4/spreadsheets/S1"] = [_error(429, "Quota exceeded")] * 50
    waits = []
    conn = _client(endpoint, waits, attempts=4)
    with pytest.raises(QuotaExhausted, match="429.*4 attempts"):
        conn.get("S1", fields="spreadsheetId")
    assert len(script.seen) == 4 and conn.stats.retries == 3


@pytest.mark.slow
def test_a_retry_after_longer_than_the_time_left_gives_up_at_once(api_server):
    endpoint, script = api_server
    script.answers["/v4/spreadsheets/S1"] = [(429, {"Retry-After": "600"}, {"error": {"code": 429, "message": "q"}})]
    waits = []
    with pytest.raises(QuotaExhausted):
        _client(endpoint, waits, total=30.0).get("S1", fields="spreadsheetId")
    assert waits == [] and len(script.seen) == 1


@pytest.mark.slow
def test_server_errors_that_persist_end_in_sheets_unavailable(api_server):
    endpoint, script = api_server
    script.answers["/v4/spreadsheets/S1/values:batchGet"] = [_error(503)] * 10
    with pytest.raises(SheetsUnavailable, match="503"):
        _client(endpoint, [], attempts=3).batch_get("S1", ["A1:B2"])


@pytest.mark.slow
def test_a_write_whose_answer_was_lost_is_not_sent_again_when_it_landed(api_server):
    endpoint, script = api_server
    script.answers["/v4/spreadsheets/S1:batchUpdate"] = ["drop"]
    checks = []
    conn = _client(endpoint, [])
    conn.batch_update("S1", [{"addSheet": {"properties": {"title": "x"}}}], applied=lambda: checks.append(1) or True)
    assert checks == [1]
    assert [p for m, p in script.seen if m == "POST"] == ["/v4/spreadsheets/S1:batchUpdate"]


@pytest.mark.slow
def test_a_write_that_failed_before_landing_is_sent_again(api_server):
    endpoint, script = api_server
    script.answers["/v4/spreadsheets/S1:batchUpdate"] = [_error(503), _error(429)]
    conn = _client(endpoint, [])
    got = conn.batch_update("S1", [{"addSheet": {"properties": {"title": "x"}}}], applied=lambda: False)
    assert got == {"ok": True}
    assert len([p for m, p in script.seen if m == "POST"]) == 3 and conn.stats.retries == 2


@pytest.mark.slow
def test_a_write_with_unknown_outcome_and_no_way_to_check_is_not_repeated(api_server):
    endpoint, script = api_server
    script.answers["/v4/spreadsheets/S1:batchUpdate"] = [_error(500)]
    with pytest.raises(SheetsUnavailable):
        _client(endpoint, []).batch_update("S1", [{"addSheet": {"properties": {"title": "x"}}}])
    assert len([p for m, p in script.seen if m == "POST"]) == 1


@pytest.mark.slow
def test_a_spreadsheet_not_shared_names_the_service_account_to_share_it_with(api_server):
    endpoint, script = api_server
    script.answers["/v4/spreadsheets/S1"] = [_error(403, "The caller does not have permission")]
    conn = _client(endpoint, [])
    conn.account = "crm-bot@project.iam.gserviceaccount.com"
    with pytest.raises(SpreadsheetNotFound, match="not shared with crm-bot@project.iam.gserviceaccount.com") as e:
        conn.get("S1", fields="spreadsheetId")
    assert "Share" in e.value.hint


def test_the_pacer_waits_once_a_minute_holds_its_quota():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    pacer = Pacer(3, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
        now[0] += 1
    assert slept == []
    pacer.wait()
    assert len(slept) == 1 and 56.9 < slept[0] < 57.1  # the first request leaves the window at t=60


def test_no_credentials_anywhere_says_how_to_set_them(monkeypatch, tmp_path):
    monkeypatch.delenv("CRM_SHEETS_GSHEETS_ENDPOINT", raising=False)
    monkeypatch.delenv("CRM_SHEETS_GSHEETS_CREDENTIALS", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    import gspread.auth

    monkeypatch.setattr(gspread.auth, "DEFAULT_SERVICE_ACCOUNT_FILENAME", tmp_path / "none1.json")
    monkeypatch.setattr(gspread.auth, "DEFAULT_AUTHORIZED_USER_FILENAME", tmp_path / "none2.json")
    monkeypatch.setattr(gspread.auth, "DEFAULT_CREDENTIALS_FILENAME", tmp_path / "none3.json")
    with pytest.raises(SheetsAuthMissing, match="no Google credentials") as e:
        connect()
    assert "CRM_SHEETS_GSHEETS_CREDENTIALS" in e.value.hint


def test_a_credentials_variable_naming_a_missing_file_says_so(monkeypatch, tmp_path):
    monkeypatch.delenv("CRM_SHEETS_GSHEETS_ENDPOINT", raising=False)
    monkeypatch.setenv("CRM_SHEETS_GSHEETS_CREDENTIALS", str(tmp_path / "key.json"))
    with pytest.raises(SheetsAuthMissing, match="key.json.*no such credentials file"):
        connect()


def test_a_service_account_key_signs_in_as_its_email(monkeypatch, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": pem,
        "client_email": "crm-bot@p.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }))
    monkeypatch.delenv("CRM_SHEETS_GSHEETS_ENDPOINT", raising=False)
    monkeypatch.setenv("CRM_SHEETS_GSHEETS_CREDENTIALS", str(path))
    conn = connect()
    assert conn.account == "crm-bot@p.iam.gserviceaccount.com"


def test_a_file_that_is_no_credentials_is_refused_with_what_it_should_be(monkeypatch, tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"hello": 1}))
    monkeypatch.delenv("CRM_SHEETS_GSHEETS_ENDPOINT", raising=False)
    monkeypatch.setenv("CRM_SHEETS_GSHEETS_CREDENTIALS", str(path))
    with pytest.raises(SheetsAuthMissing, match="neither a service-account key nor an OAuth client file"):
        connect()
