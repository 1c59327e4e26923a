"""`crm-sheets serve` and the Google Sheets menu: the real server on loopback, called by the real Code.gs
(run by a JS interpreter, with Apps Script's services played by Python: HMAC bytes as Apps Script gives
them, UrlFetchApp as a real HTTP request). Only signed, fresh, first-time requests run jobs."""
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from pathlib import Path

import openpyxl
import pytest
import requests
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.serve import SECRET_ENV, ServeError, create_app, sign
from crm_sheets.workbook import new_workbook

ROOT = Path(__file__).resolve().parent.parent
CODE_GS = ROOT / "workbook_templates" / "apps_script" / "Code.gs"
SECRET = "s3cret-shared-with-the-sheet-0123456789"


class LiveServer:
    """uvicorn serving an app on a free loopback port, in a thread."""

    def __init__(self, app):
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class AppsScript:
    """Code.gs run as the Sheets menu runs it: Apps Script's services are stubs, the HTTP call is real."""

    def __init__(self, url: str, secret: str = SECRET):
        import dukpy

        self.props = {"CRM_SHEETS_SERVER_URL": url + "/", "CRM_SHEETS_SERVE_SECRET": secret}
        self.toasts, self.sidebars, self.menu, self.requests = [], [], [], []
        js = dukpy.JSInterpreter()
        js.export_function("prop", self.props.get)
        js.export_function("hmac", self._hmac)
        js.export_function("fetch", self._fetch)
        js.export_function("uuid", lambda: str(uuid.uuid4()))
        js.export_function("toast", lambda msg, title: self.toasts.append((title, msg)))
        js.export_function("sidebar", lambda title, html: self.sidebars.append((title, html)))
        js.export_function("menu", lambda item, fn: self.menu.append((item, fn)))
        js.evaljs(STUBS)
        js.evaljs(CODE_GS.read_text(encoding="utf-8"))
        self.js = js

    @staticmethod
    def _hmac(value, key, charset):
        # Utilities.computeHmacSha256Signature(value, key, charset) returns Java bytes: -128..127
        assert charset == "UTF-8"
        digest = hmac.new(key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).digest()
        return [b - 256 if b > 127 else b for b in digest]

    def _fetch(self, url, options):
        body = options.get("payload", "")
        self.requests.append((url, options))
        r = requests.request(options["method"].upper(), url, headers=options["headers"], data=body.encode("utf-8"),
                             timeout=60, allow_redirects=False)
        return {"code": r.status_code, "text": r.text}

    def call(self, function: str):
        return self.js.evaljs(f"{function}()")


STUBS = """
var PropertiesService = {getScriptProperties: function () {
  return {getProperty: function (k) { return call_python('prop', k); }}; }};
var Utilities = {Charset: {UTF_8: 'UTF-8'}, computeHmacSha256Signature: function (value, key, charset) {
  return call_python('hmac', value, key, charset); }, getUuid: function () { return call_python('uuid'); }};
var UrlFetchApp = {fetch: function (url, options) {
  var r = call_python('fetch', url, options);
  return {getResponseCode: function () { return r.code; }, getContentText: function () { return r.text; }}; }};
var HtmlService = {createHtmlOutput: function (html) {
  return {html: html, title: '', setTitle: function (t) { this.title = t; return this; }}; }};
var SpreadsheetApp = {
  getActiveSpreadsheet: function () { return {toast: function (msg, title) { call_python('toast', msg, title); }}; },
  getUi: function () { return {
    createMenu: function (name) { var m = {
      addItem: function (item, fn) { call_python('menu', item, fn); return m; },
      addSeparator: function () { return m; }, addToUi: function () {}}; return m; },
    showSidebar: function (out) { call_python('sidebar', out.title, out.html); }}; }};
"""


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    return new_workbook(tmp_path_factory.mktemp("serve") / "crm.xlsx", sample_leads=50, seed=3)


@pytest.fixture(scope="module")
def live(workbook):
    with LiveServer(create_app(workbook, secret=SECRET)) as server:
        yield server


def signed_post(url, body: bytes, *, secret=SECRET, timestamp=None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return requests.post(url + "/jobs/run", data=body, timeout=60, headers={
        "Content-Type": "application/json", "X-Crm-Timestamp": ts, "X-Crm-Signature": sign(secret, ts, body)})


@pytest.mark.slow
def test_code_gs_parses_and_its_crm_menu_calls_functions_it_defines():
    import esprima

    program = esprima.parseScript(CODE_GS.read_text(encoding="utf-8"))
    functions = {node.id.name for node in program.body if node.type == "FunctionDeclaration"}
    assert {"onOpen", "crmRefresh", "crmCheck", "crmDedupe", "crmShowLastRun"} <= functions
    script = AppsScript("http://127.0.0.1:9")
    script.call("onOpen")
    assert script.menu == [("Refresh", "crmRefresh"), ("Check", "crmCheck"), ("Dedupe", "crmDedupe"),
                           ("Show last run", "crmShowLastRun")]
    manifest = json.loads((CODE_GS.parent / "appsscript.json").read_text())
    assert manifest["runtimeVersion"] == "V8"
    assert "https://www.googleapis.com/auth/script.external_request" in manifest["oauthScopes"]


@pytest.mark.slow
def test_the_menu_check_runs_on_the_server_and_shows_the_summary(live, workbook):
    script = AppsScript(live.url)
    data = script.call("crmCheck")
    assert data["ok"] is True and data["jobs"] == ["check"] and data["trigger"] == "menu"
    url, options = script.requests[0]
    assert url == live.url + "/jobs/run"
    body = options["payload"].encode("utf-8")
    sent = json.loads(body)
    assert sent.pop("request") and sent == {"jobs": ["check"], "trigger": "menu"}  # a fresh request ID per click
    headers = options["headers"]  # what Code.gs sent is what the server verifies
    assert headers["X-Crm-Signature"] == sign(SECRET, headers["X-Crm-Timestamp"], body)
    assert abs(int(headers["X-Crm-Timestamp"]) - time.time()) < 60
    shown = " ".join(msg for _title, msg in script.toasts) + " ".join(html for _t, html in script.sidebars)
    assert f"Errors: {data['errors']}, warnings: {data['warnings']}" in shown
    runs = openpyxl.load_workbook(workbook)["Runs"]
    assert [c.value for c in runs[4]][2:5] == ["check", "menu", "OK" if not data["errors"] else "problems found"]


@pytest.mark.slow
def test_show_last_run_reads_the_runs_history(live):
    script = AppsScript(live.url)
    script.call("crmDedupe")
    data = script.call("crmShowLastRun")
    assert data["last"]["jobs"] == ["dedupe"] and data["last"]["trigger"] == "menu"
    title, html = script.sidebars[-1]
    assert title == "CRM: last run" and "Job: dedupe" in html and "Trigger: menu" in html


@pytest.mark.slow
def test_wrong_secret_stale_timestamp_replay_and_unsigned_requests_get_401(live):
    body = b'{"jobs": ["check"], "trigger": "menu"}'
    assert signed_post(live.url, body, secret="not-the-secret-at-all-000000").status_code == 401
    stale = signed_post(live.url, body, timestamp=int(time.time()) - 301)
    assert stale.status_code == 401 and "stale" in stale.json()["error"]
    future = signed_post(live.url, body, timestamp=int(time.time()) + 301)
    assert future.status_code == 401
    assert requests.post(live.url + "/jobs/run", data=body, timeout=10).status_code == 401
    ts = str(int(time.time()))
    tampered = requests.post(live.url + "/jobs/run", data=b'{"jobs": ["dedupe"], "trigger": "menu"}', timeout=10,
                             headers={"X-Crm-Timestamp": ts, "X-Crm-Signature": sign(SECRET, ts, body)})
    assert tampered.status_code == 401
    first = signed_post(live.url, body, timestamp=ts)
    assert first.status_code == 200
    replay = requests.post(live.url + "/jobs/run", data=body, timeout=10,
                           headers={"X-Crm-Timestamp": ts, "X-Crm-Signature": sign(SECRET, ts, body)})
    assert replay.status_code == 401 and "already used" in replay.json()["error"]
    script = AppsScript(live.url, secret="the-sheet-has-another-secret-00")
    script.call("crmCheck")
    assert "refused" in script.toasts[-1][1]


@pytest.mark.slow
def test_health_answers_without_a_signature(live):
    r = requests.get(live.url + "/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.slow
def test_a_second_request_while_a_job_runs_gets_409_with_its_start_time(workbook):
    from crm_sheets.runlog import run_logged

    started, release = threading.Event(), threading.Event()

    def slow_run(path, jobs, trigger, now):  # the real run, held until the test lets it go
        started.set()
        assert release.wait(30)
        return run_logged(path, jobs, trigger=trigger, now=now)

    with LiveServer(create_app(workbook, secret=SECRET, run=slow_run)) as server:
        first = {}
        t = threading.Thread(target=lambda: first.update(r=AppsScript(server.url).call("crmRefresh")))
        t.start()
        assert started.wait(30)
        script = AppsScript(server.url)
        data = script.call("crmDedupe")
        assert "running" in data and data["running"]["trigger"] == "menu"
        assert "started at " + data["running"]["started"] in data["error"]
        assert script.toasts[-1][0] == "CRM: Dedupe failed" and script.toasts[-1][1].startswith("Busy: ")
        release.set()
        t.join(60)
        assert first["r"]["ok"] is True and first["r"]["jobs"] == ["check", "dedupe", "automate", "report"]
        assert script.call("crmDedupe")["ok"] is True  # free again, and at once: each click has its own request ID


def test_the_jobs_endpoint_does_not_start_without_a_secret(workbook, monkeypatch):
    with pytest.raises(ServeError, match=f"{SECRET_ENV} is not set"):
        create_app(workbook, secret=None)
    with pytest.raises(ServeError, match="too short"):
        create_app(workbook, secret="abc")
    monkeypatch.delenv(SECRET_ENV, raising=False)
    result = CliRunner().invoke(cli, ["serve", str(workbook)])
    assert result.exit_code == 2
    assert result.output.count("\n") <= 2 and f"{SECRET_ENV} is not set" in result.output
    assert "Traceback" not in result.output
