"""The emulator's HTTP server: routes requests to api.py, validates them against the discovery document,
enforces the per-user quota, injects faults and logs every request; /_emulator/* controls all that.

It is a threaded stdlib HTTP server rather than an ASGI app because a dropped connection (closing the
socket without any answer, as a network failure does) cannot be expressed through ASGI.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import time
import traceback
import zlib
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

from . import api, values
from .discovery import Discovery, load_discovery
from .errors import ApiError, not_found
from .fields import apply_mask, parse_mask
from .model import Spreadsheet
from .requests import apply_all

PACK_BYTES = 64 * 1024  # request bodies larger than this are kept compressed in the log
MAX_REQUEST_BYTES = 10_485_760  # the API's limit on a request body ("Request payload size exceeds the limit")
FAULT_MESSAGES = {429: "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' "
                       "of service 'sheets.googleapis.com' for consumer 'project_number:0'.",
                  500: "Internal error encountered.", 502: "Bad Gateway", 503: "The service is currently unavailable.",
                  504: "Deadline expired before operation could complete.", 408: "Request timed out."}


class Emulator:
    """The state of one emulated Sheets API: spreadsheets, quota counters, pending faults, request log."""

    def __init__(self, *, quota_per_minute: int = 60, window_seconds: float = 60.0,
                 discovery: Discovery | str | None = None, max_request_bytes: int = MAX_REQUEST_BYTES,
                 check_responses: bool = False):
        self.discovery = discovery if isinstance(discovery, Discovery) else load_discovery(discovery)
        self.lock = threading.RLock()
        self.quota_per_minute = quota_per_minute
        self.window_seconds = window_seconds
        self.max_request_bytes = max_request_bytes
        self.check_responses = check_responses  # tests: every answer must fit the discovery document too
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.created: dict[str, dt.datetime] = {}
        self.modified: dict[str, dt.datetime] = {}
        self.faults: list[dict] = []
        # Bodies kept as the bytes received (parsed 100k-row bodies would take GBs), those past PACK_BYTES
        # compressed (a 100k-lead push and run send ~0.5 GB of JSON, which packs ~10 times smaller).
        self._log: list[dict] = []
        self.calls: dict[tuple[str, str], deque] = {}
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -- state ---------------------------------------------------------------------------------------
    def book(self, spreadsheet_id: str) -> Spreadsheet:
        book = self.spreadsheets.get(spreadsheet_id)
        if book is None:
            raise not_found()
        return book

    def reset(self) -> None:
        with self.lock:
            self.spreadsheets.clear()
            self.created.clear()
            self.modified.clear()
            self.faults.clear()
            self._log.clear()
            self.calls.clear()

    @property
    def log(self) -> list[dict]:
        """Every request so far: time, method, path, query, body (parsed JSON), methodId, status, bytesIn,
        bytesOut, durationMs (and fault, delaySeconds when one was injected)."""
        with self.lock:
            entries = list(self._log)
        out = []
        for entry in entries:
            item = dict(entry)
            raw = item["body"]
            if isinstance(raw, _Packed):
                raw = zlib.decompress(raw)
            try:
                item["body"] = json.loads(raw) if raw and raw.strip() else None
            except ValueError:
                item["body"] = raw.decode("utf-8", "replace")
            out.append(item)
        return out

    @property
    def url(self) -> str:
        assert self.server is not None, "the emulator is not running"
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # -- serving -------------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> "Emulator":
        self.server = _Server((host, port), _Handler)
        self.server.emulator = self
        self.thread = threading.Thread(target=self.server.serve_forever, name="gsheets-emulator", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # -- one request ---------------------------------------------------------------------------------
    def handle(self, verb: str, target: str, headers: dict[str, str], raw: bytes, client: str) -> tuple[int, Any, str, dict]:
        """(status, JSON body or None, action, log entry) where action is "answer" or "drop"."""
        parts = urlsplit(target)
        path = parts.path
        params = parse_qs(parts.query, keep_blank_values=True)
        if path.startswith("/_emulator/"):
            return (*self._control(verb, path, raw), {})
        started = time.perf_counter()
        entry: dict[str, Any] = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                                 "method": verb, "path": unquote(path), "query": params,
                                 "body": _Packed(zlib.compress(raw, 1)) if len(raw) > PACK_BYTES else raw,
                                 "methodId": "", "status": None, "bytesIn": len(raw), "bytesOut": 0}
        status, body, action = 200, None, "answer"
        with self.lock:
            self._log.append(entry)
            try:
                found = api.match(verb, path)
                if found is None:
                    raise ApiError(404, f"Method not found: {verb} {unquote(path)}", "NOT_FOUND")
                route, groups = found
                entry["methodId"] = route.method_id
                groups = tuple(unquote(g) for g in groups)
                if self.max_request_bytes and len(raw) > self.max_request_bytes:
                    raise ApiError(400, f"Request payload size exceeds the limit: {self.max_request_bytes} bytes.")
                payload = _json(raw)
                fault = self._fault(verb, target)
                if fault is not None and (fault.get("apply") or fault.get("applyValues")):
                    self._edit_by_someone_else(groups, fault)  # lands just before this request
                    entry["editedBefore"] = True
                    fault = None
                if fault is not None and fault.get("delay") and not (fault.get("status") or fault.get("drop")):
                    entry["delaySeconds"] = float(fault["delay"])  # a slow answer: the handler waits to send it
                    fault = None
                if fault is not None and fault.get("when", "before") == "before":
                    return (*self._faulted(entry, fault, started), entry)
                self._count(route, params, headers, client)
                mask = None
                if route.method_id.startswith("sheets."):
                    self.discovery.check_params(route.method_id, params)
                    self.discovery.check_body(route.method_id, payload if payload is not None else {})
                    if params.get("fields") and params["fields"][-1]:
                        mask = self._mask(route.method_id, params["fields"][-1])
                body = route.fn(self, groups, params, payload)
                if route.write and groups and groups[0] in self.spreadsheets:
                    self.modified[groups[0]] = dt.datetime.now(dt.timezone.utc)
                if body is not None and mask is not None:
                    body = apply_mask(body, mask)
                if self.check_responses and body is not None and route.method_id.startswith("sheets."):
                    self._check_response(route.method_id, body)
                if body is None:
                    status = 204
                if fault is not None:  # "after": the change is made, the answer is lost or an error
                    return (*self._faulted(entry, fault, started), entry)
            except ApiError as exc:
                status, body = exc.code, exc.body()
            except Exception as exc:  # a bug of the emulator: say so, rather than look like a network failure
                traceback.print_exc()
                status = 500
                body = ApiError(500, f"Internal error encountered. (crm-sheets emulator: {type(exc).__name__}: {exc})").body()
            entry["status"] = status
            entry["durationMs"] = round((time.perf_counter() - started) * 1000, 2)
        return status, body, action, entry

    def _edit_by_someone_else(self, groups: tuple, fault: dict) -> None:
        """A colleague's edit (a batchUpdate and/or values.batchUpdate body) made just before the request."""
        book = self.book(groups[0]) if groups else None
        if book is None:
            return
        work = book.copy()
        try:
            if fault.get("apply"):
                apply_all(work, fault["apply"].get("requests") or [], self.discovery)
            if fault.get("applyValues"):
                values.batch_update(work, fault["applyValues"])
        except ApiError as exc:
            raise ApiError(500, f"Internal error encountered. (crm-sheets emulator: the injected edit failed: "
                                f"{exc.message})") from None
        self.spreadsheets[book.id] = work
        self.modified[book.id] = dt.datetime.now(dt.timezone.utc)

    def _check_response(self, method_id: str, body: Any) -> None:
        ref = self.discovery.response_schema(method_id)
        problems = self.discovery.problems(body, {"$ref": ref}) if ref else []
        if problems:
            raise RuntimeError(f"the emulator's answer to {method_id} does not fit the discovery document: "
                               + "; ".join(text for _, text in problems[:5]))

    def _mask(self, method_id: str, text: str) -> dict:
        def refuse(path: str) -> ApiError:
            return ApiError(400, f"Error expanding 'fields' parameter. Cannot find matching fields for path '{path}'.")
        try:
            tree = parse_mask(text)
        except ApiError:
            raise refuse(text) from None
        ref = self.discovery.response_schema(method_id)
        bad = self.discovery.check_mask(ref, tree) if ref else None
        if bad:
            raise refuse(bad)
        return tree

    def _faulted(self, entry: dict, fault: dict, started: float) -> tuple[int, Any, str]:
        entry["durationMs"] = round((time.perf_counter() - started) * 1000, 2)
        if fault.get("drop"):
            entry["status"] = None
            entry["fault"] = "dropped"
            return 0, None, "drop"
        code = int(fault.get("status", 503))
        entry["status"] = code
        entry["fault"] = code
        error = ApiError(code, fault.get("message") or FAULT_MESSAGES.get(code, "Injected fault."))
        return code, error.body(), "answer"

    def _fault(self, verb: str, target: str) -> dict | None:
        for fault in self.faults:
            if fault.get("match", "") in unquote(target) and fault.get("method", verb).upper() == verb:
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _count(self, route: api.Route, params: dict, headers: dict[str, str], client: str) -> None:
        """Per-user, per-minute quota of read and of write requests, as the Sheets API counts them."""
        if not self.quota_per_minute or not route.method_id.startswith("sheets."):
            return  # Drive calls count against Drive's quota, not the Sheets API's
        user = (params.get("quotaUser") or [None])[-1] or headers.get("authorization") or f"client {client}"
        kind = "Write" if route.write else "Read"
        calls = self.calls.setdefault((user, kind), deque())
        now = time.monotonic()
        while calls and calls[0] <= now - self.window_seconds:
            calls.popleft()
        if len(calls) >= self.quota_per_minute:
            metric = f"sheets.googleapis.com/{kind.lower()}_requests"
            limit = f"{kind}RequestsPerMinutePerUser"
            raise ApiError(429, f"Quota exceeded for quota metric '{kind} requests' and limit '{kind} requests per "
                                f"minute per user' of service 'sheets.googleapis.com' for consumer 'project_number:0'.",
                           details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                                     "domain": "googleapis.com",
                                     "metadata": {"quota_metric": metric, "quota_limit": limit,
                                                  "quota_limit_value": str(self.quota_per_minute),
                                                  "service": "sheets.googleapis.com", "consumer": "projects/0",
                                                  "quota_location": "global"}},
                                    {"@type": "type.googleapis.com/google.rpc.Help",
                                     "links": [{"description": "Request a higher quota limit.",
                                                "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}])
        calls.append(now)

    # -- /_emulator/ ---------------------------------------------------------------------------------
    def _control(self, verb: str, path: str, raw: bytes) -> tuple[int, Any, str]:
        try:
            payload = _json(raw) or {}
        except ApiError as exc:
            return exc.code, exc.body(), "answer"
        with self.lock:
            if path == "/_emulator/requests" and verb == "GET":
                return 200, self.log, "answer"
            if path == "/_emulator/requests" and verb == "DELETE":
                self._log.clear()
                return 200, {}, "answer"
            if path == "/_emulator/faults" and verb == "POST":
                fault = dict(payload)
                try:
                    if fault.get("apply"):
                        self.discovery.check_body("sheets.spreadsheets.batchUpdate", fault["apply"])
                    if fault.get("applyValues"):
                        self.discovery.check_body("sheets.spreadsheets.values.batchUpdate", fault["applyValues"])
                except ApiError as exc:
                    return exc.code, exc.body(), "answer"
                fault["remaining"] = int(fault.get("drop") or fault.get("count") or 1)
                self.faults.append(fault)
                return 200, fault, "answer"
            if path == "/_emulator/faults" and verb == "GET":
                return 200, list(self.faults), "answer"
            if path == "/_emulator/faults" and verb == "DELETE":
                self.faults.clear()
                return 200, {}, "answer"
            if path == "/_emulator/quota" and verb == "POST":
                if "maxRequestBytes" in payload:
                    self.max_request_bytes = int(payload["maxRequestBytes"])
                if "perMinute" in payload:
                    self.quota_per_minute = int(payload["perMinute"])
                if "windowSeconds" in payload:
                    self.window_seconds = float(payload["windowSeconds"])
                self.calls.clear()
                return 200, {"perMinute": self.quota_per_minute, "windowSeconds": self.window_seconds,
                             "maxRequestBytes": self.max_request_bytes}, "answer"
            if path == "/_emulator/quota" and verb == "DELETE":
                self.calls.clear()
                return 200, {}, "answer"
            if path == "/_emulator/reset" and verb == "POST":
                self.reset()
                return 200, {}, "answer"
            if path == "/_emulator/health":
                return 200, {"ok": True, "spreadsheets": len(self.spreadsheets)}, "answer"
        return 404, {"error": {"code": 404, "message": f"no control endpoint {verb} {path}", "status": "NOT_FOUND"}}, "answer"


class _Packed(bytes):
    """A logged request body compressed with zlib (GET /_emulator/requests gives it back whole)."""


def _json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}") from None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, action, entry = self.server.emulator.handle(self.command, self.path, headers, raw, self.client_address[0])
        if action == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        if entry.get("delaySeconds"):
            time.sleep(entry["delaySeconds"])
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        entry["bytesOut"] = len(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # the request log replaces stderr lines
        pass


@contextlib.contextmanager
def running_emulator(*, host: str = "127.0.0.1", port: int = 0, quota_per_minute: int = 60,
                     window_seconds: float = 60.0, discovery: str | None = None,
                     max_request_bytes: int = MAX_REQUEST_BYTES, check_responses: bool = False) -> Iterator[Emulator]:
    """An emulator serving on `host`:`port` (0: a free port) in a thread of this process; `.url` is its base URL."""
    emulator = Emulator(quota_per_minute=quota_per_minute, window_seconds=window_seconds, discovery=discovery,
                        max_request_bytes=max_request_bytes, check_responses=check_responses)
    emulator.start(host, port)
    try:
        yield emulator
    finally:
        emulator.stop()
