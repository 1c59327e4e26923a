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


# -- load: many visitors at once -------------------------------------------------------------------

def person(i: int) -> dict:
    """Submission i: a distinct person (names no dedupe rule can confuse); every 7th has formula-looking values."""
    import hashlib

    h = hashlib.sha256(str(i).encode()).hexdigest()
    letters = "".join(chr(97 + int(c, 16) % 26) for c in h[:16])
    fields = {"first_name": letters[:6].capitalize(), "last_name": letters[6:14].capitalize(),
              "email": f"load{i}.{letters[:5]}@exemple.fr", "notes": f"Submission {i}"}
    if i % 7 == 0:
        fields["company"] = f"=HYPERLINK(\"http://x/{i}\",\"click\")"
        fields["notes"] = f"@SUM(A1:A{i})"
    return fields


def run_load(port: int, n: int, clients: int, *, deadline: float = 300.0, progress: list | None = None) -> list[dict]:
    """``n`` submissions from ``clients`` threads, each: get a token, post, and on a broken connection (the
    server killed) post again with the same token until an answer comes. Returns one dict per submission:
    i, email, status, latency (of the post that answered, seconds), retries."""
    import threading

    results: list[dict] = []
    lock = threading.Lock()
    counter = iter(range(n))
    stop_at = time.monotonic() + deadline

    def client() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            fields, tok, retries = person(i), None, 0
            while time.monotonic() < stop_at:
                try:
                    tok = tok or token(port)
                    t0 = time.perf_counter()
                    status, headers, _ = post(port, fields, tok=tok, timeout=30)
                    latency = time.perf_counter() - t0
                    if status in (429, 503):
                        time.sleep(float(headers.get("retry-after", "1")))
                        retries += 1
                        continue
                    break
                except (OSError, http.client.HTTPException, AssertionError):
                    retries += 1
                    time.sleep(0.2)
            else:
                status, latency = 0, 0.0
            with lock:
                results.append({"i": i, "email": fields["email"], "fields": fields, "status": status,
                                "latency": latency, "retries": retries})
                if progress is not None:
                    progress.append(i)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results, key=lambda r: r["i"])
