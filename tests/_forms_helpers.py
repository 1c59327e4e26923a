"""A real forms server for the tests: `crm-sheets forms-serve` in a subprocess on a free loopback port,
and a small HTTP client that gets a token and posts a form like a browser does."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FormsServer:
    """`crm-sheets forms-serve PATH` as a child process; ``kill()`` is a kill -9, ``start()`` starts it again."""

    def __init__(self, workbook: Path, *args: str, port: int | None = None):
        self.workbook, self.args, self.port = Path(workbook), list(args), port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.workbook.with_name(f"forms-serve-{self.port}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "FormsServer":
        cmd = [sys.executable, "-m", "crm_sheets", "forms-serve", str(self.workbook), "--port", str(self.port), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"forms-serve exited: {self.log.read_text()[-2000:]}")
            try:
                status, _, _ = request("GET", self.port, "/health", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("forms-serve did not answer /health")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def health(self) -> dict:
        return json.loads(request("GET", self.port, "/health")[2])


def request(method: str, port: int, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 30) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def token(port: int, form: str = "contact-us") -> str:
    status, _, body = request("GET", port, f"/forms/{form}/token")
    assert status == 200, body
    return json.loads(body)["token"]


def post(port: int, fields: dict, form: str = "contact-us", headers: dict | None = None, tok: str | None = None,
         timeout: float = 30) -> tuple[int, dict, bytes]:
    data = dict(fields)
    data.setdefault("_crm_token", tok if tok is not None else token(port, form))
    h = {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{port}"}
    h.update(headers or {})
    return request("POST", port, f"/forms/{form}", urlencode(data, doseq=True).encode(), h, timeout=timeout)


def wait_applied(server: FormsServer, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.health()["waiting"] == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"the journal was not applied: {server.health()}")
