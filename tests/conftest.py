"""Shared fixtures. Each block is self-contained; add yours below with its own imports."""
import asyncio
import json
import socket
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest


# -- the user's state folder: the test session's own ------------------------------------------

@pytest.fixture(autouse=True, scope="session")
def _session_state_folder(tmp_path_factory):
    """Remote stores' state and the table cache's key go to a folder of this test session (also for the CLI
    processes tests start), never the state folder of the person running the tests."""
    import os

    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state-home"))
    yield
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before


# -- automate: a real SMTP server (aiosmtpd) and a real HTTP server on loopback -----------------

class _MailInbox:
    def __init__(self):
        self.messages = []
        self.delay = 0.0  # seconds the server takes over each message (a slow server)
        self.replies = []  # replies to the next messages instead of accepting them, e.g. "554 5.7.1 Rejected";
        # None: keep the message and close the connection without answering
        self.drop_at_data = 0  # how many next DATA commands are answered by closing the connection

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.replies:
            reply = self.replies.pop(0)
            if reply is None:  # the connection breaks after the whole message arrived, before the answer
                self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                server.transport.close()
                return "250 OK"
            return reply
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


class _CurrentInbox:
    """The SMTP server's handler: hands each message to the inbox of the test running now."""

    def __init__(self):
        self.inbox = _MailInbox()

    async def handle_DATA(self, server, session, envelope):
        return await self.inbox.handle_DATA(server, session, envelope)


@pytest.fixture(scope="session")
def _mail_server_session():
    """One SMTP server per test session (a worker's, under xdist): starting one per test cost a thread, an event
    loop and a probe, and its port changed every test, so the workbooks naming it could not be built once."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    current = _CurrentInbox()

    class DroppingSMTP(SMTP):
        async def smtp_DATA(self, arg):
            inbox = current.inbox
            if inbox.drop_at_data > 0:  # the connection breaks before the message was sent
                inbox.drop_at_data -= 1
                self.transport.close()
                return
            await super().smtp_DATA(arg)

    class Server(Controller):
        def factory(self):
            return DroppingSMTP(self.handler, **self.SMTP_kwargs)

    with socket.socket() as probe:  # aiosmtpd needs a concrete port to check it is up
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Server(current, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, current
    controller.stop()


@pytest.fixture
def mail_server(_mail_server_session):
    """(port, inbox): every message the server accepted is in inbox.messages, parsed. Set inbox.delay,
    inbox.replies or inbox.drop_at_data to make the server slow, refuse messages or drop at DATA. The server is
    the session's; the inbox is this test's own (a message still arriving from an earlier test goes to that
    test's inbox)."""
    port, current = _mail_server_session
    current.inbox = inbox = _MailInbox()
    yield port, inbox
    current.inbox = _MailInbox()


@pytest.fixture
def web_server():
    """(base URL, received): each POST as (path, Idempotency-Key header, JSON body).

    A POST to /flaky is answered 503 the first time (a server that is briefly down), 200 after."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers.get("Idempotency-Key"), json.loads(body)))
            first_flaky = self.path == "/flaky" and [r[0] for r in received].count("/flaky") == 1
            self.send_response(503 if first_flaky else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


# -- workbooks built once per test session ------------------------------------------------------

@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """built_book(template="sales", lang="en", *, sample_data=0, leads=None, now=None) -> the path of a
    workbook built once per session for these arguments: with ``sample_data`` sample leads, or with the
    ``leads`` DataFrame as its Leads (the same object is the same workbook). Shared by every test that
    asks for it: copy it with helpers.fresh_copy before changing it."""
    from crm_sheets.builder import build_workbook
    from crm_sheets.workbook import new_workbook

    built = {}

    def make(template="sales", lang="en", *, sample_data=0, leads=None, now=None):
        key = (template, lang, sample_data, id(leads), now)
        if key not in built:
            path = tmp_path_factory.mktemp(f"{template}-{lang}") / "crm.xlsx"
            if leads is not None:
                built[key] = build_workbook(path, schema=template, lang=lang, data={"leads": leads}, now=now)
            else:
                built[key] = new_workbook(path, template=template, lang=lang, sample_data=sample_data, now=now)
            built[key, "keep"] = leads  # the id in the key stays this object's
        return built[key]

    return make


# -- Google Sheets: the API emulator (crm_sheets.gsheets_emulator) and a gspread client for it ------------

from gsheets_fixtures import _gsheets_emulator_server, gsheets_client, gsheets_emulator, gsheets_endpoint  # noqa: E402,F401
from backends import backend, on_backend  # noqa: E402,F401  (end-to-end tests on a file and on a Google Sheet)


# -- the quick loop: tests that start a real server are slow (pytest -m "not slow" leaves them out) ----

_SERVERS = {"mail_server", "web_server", "gsheets_emulator"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _SERVERS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# -- CI: the real components must be there, so that no test is skipped for want of them ----------

def pytest_sessionstart(session):
    import os
    import shutil

    if os.environ.get("CI"):
        missing = [tool for tool in ("soffice", "pdftoppm", "chromium") if shutil.which(tool) is None]
        if missing:
            raise pytest.UsageError(f"CI needs {', '.join(missing)}: scripts/test.sh installs them (scripts/system-deps.sh)")
