"""Opening the Google Sheets API: credentials located by the environment (never read from a sheet), our own
retry policy and pacing around gspread 6's HTTP client, call counters, and errors a person can act on.

gspread's BackOffHTTPClient retries forever by recursion; here every retry is bounded in attempts and time.
"""
from __future__ import annotations

import email.utils
import json
import os
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from crm_sheets.errors import (
    CrmSheetsError, QuotaExhausted, SheetsAuthMissing, SheetsUnavailable, SpreadsheetNotFound, UsageError,
)

ENV_CREDENTIALS = "CRM_SHEETS_GSHEETS_CREDENTIALS"  # a service-account JSON, an OAuth client file or authorized_user.json
ENV_ENDPOINT = "CRM_SHEETS_GSHEETS_ENDPOINT"  # http://127.0.0.1:N: a local emulator, no credentials
ENV_RPM = "CRM_SHEETS_GSHEETS_RPM"  # requests per minute the pacer allows (default 60: the per-user quota)
API_BASE = "https://sheets.googleapis.com"
SPREADSHEETS = API_BASE + "/v4/spreadsheets"

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
INSTALL_HINT = "install the Google Sheets extra: pip install 'crm-sheets[gsheets]'"


def _gspread():
    try:
        import gspread
    except ImportError:
        raise UsageError("the gsheets:// backend needs gspread", hint=INSTALL_HINT) from None
    return gspread


# ---------------------------------------------------------------------------------------------
# Retries and pacing


@dataclass(frozen=True)
class RetryPolicy:
    """Truncated exponential backoff with full jitter, capped in attempts and in total time.

    Attempt n (0-based) waits uniformly in [0, min(cap, base * 2**n)]; a Retry-After the server sends is
    honoured (waited at least), as long as it fits in what is left of ``total_seconds``.
    """

    attempts: int = 7  # tries in all, the first one included
    base: float = 1.0
    cap: float = 64.0  # the per-minute quota refills within a minute
    total_seconds: float = 180.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        wait = rng.uniform(0, min(self.cap, self.base * (2 ** attempt)))
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait


class Pacer:
    """Keeps a client under ``per_minute`` requests in any sliding minute (the API's per-user quota), by
    waiting before a request rather than being refused after it."""

    def __init__(self, per_minute: int = 60, window: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.per_minute = max(int(per_minute), 1)
        self.window = window
        self.clock, self.sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._mutex = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, for the benchmark

    def wait(self) -> None:
        with self._mutex:
            while True:
                now = self.clock()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                if len(self._sent) < self.per_minute:
                    self._sent.append(now)
                    return
                pause = self.window - (now - self._sent[0]) + 0.01
                self.waited += pause
                self.sleep(pause)


def default_pacer() -> Pacer:
    """The process-wide pacer (the quota is per user, shared by every client of this process)."""
    global _PACER
    rpm = os.environ.get(ENV_RPM, "").strip()
    per_minute = int(rpm) if rpm.isdigit() and int(rpm) > 0 else 60
    if _PACER is None or _PACER.per_minute != per_minute:
        _PACER = Pacer(per_minute)
    return _PACER


_PACER: Pacer | None = None


@dataclass
class CallStats:
    """What a client sent: requests by kind, retries, bytes each way, seconds spent in calls."""

    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    by_kind: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)  # HTTP status (or "dropped") of every attempt

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "retries": self.retries, "bytes_sent": self.bytes_sent,
                "bytes_received": self.bytes_received, "seconds": round(self.seconds, 3),
                "by_kind": dict(self.by_kind), "statuses": {str(k): v for k, v in self.statuses.items()}}


def _kind(method: str, url: str) -> str:
    """spreadsheets.get, values.batchGet, batchUpdate... from a request, for counting."""
    path = url.split("?", 1)[0]
    if path.endswith(":batchUpdate"):
        return "values.batchUpdate" if "/values:" in path else "batchUpdate"
    if ":batchGet" in path:
        return "values.batchGet"
    if method.upper() == "POST" and path.rstrip("/").endswith("/v4/spreadsheets"):
        return "create"
    if "/values/" in path:
        return "values." + method.lower()
    return "get" if method.upper() == "GET" else method.lower()


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class _Failure(Exception):
    """One failed attempt, kept to decide on a retry and to word the final error."""

    def __init__(self, status: int | str, message: str, retry_after: float | None = None, response: Any = None):
        super().__init__(message)
        self.status, self.message, self.retry_after, self.response = status, message, retry_after, response


def make_http_client(policy: RetryPolicy | None = None, pacer: Pacer | None = None, stats: CallStats | None = None,
                     endpoint: str | None = None, sleep: Callable[[float], None] = time.sleep,
                     rng: random.Random | None = None, timeout: float | None = 120.0):
    """A gspread HTTP client class factory (gspread calls ``http_client(auth, session)``) with our retries."""
    gspread = _gspread()
    from gspread.exceptions import APIError
    import requests

    class RetryingHTTPClient(gspread.HTTPClient):
        """gspread's HTTP client with bounded retries of 408/429/5xx and dropped connections, pacing and
        counters. A write whose outcome is unknown (a 5xx, a dropped connection) is retried only after
        ``applied()`` says it did not land, so a batch is never applied twice."""

        def __init__(self, auth: Any, session: Any = None):
            if session is None and endpoint:
                session = endpoint_session(endpoint)
            super().__init__(auth, session)
            self.policy = policy or RetryPolicy()
            self.pacer = pacer or default_pacer()
            self.stats = stats if stats is not None else CallStats()
            self.sleep = sleep
            self.rng = rng or random.Random()
            self.timeout = timeout

        def request(self, method: str, endpoint: str, params: Any = None, data: Any = None, json: Any = None,
                    files: Any = None, headers: Any = None, *, applied: Callable[[], bool] | None = None) -> Any:
            kind = _kind(method, endpoint)
            writes = method.upper() not in ("GET", "HEAD")
            if json is not None:  # compact UTF-8 (requests would add spaces and \u escapes: 15 % more bytes)
                data, json = _json_bytes(json), None
                headers = {**(headers or {}), "Content-Type": "application/json; charset=utf-8"}
            body = data or b""
            started = time.monotonic()
            attempt = 0
            while True:
                self.pacer.wait()
                self.stats.requests += 1
                self.stats.by_kind[kind] += 1
                self.stats.bytes_sent += len(body) if isinstance(body, (bytes, bytearray)) else 0
                t0 = time.monotonic()
                try:
                    response = self._send(method, endpoint, params, data, json, files, headers)
                except _Failure as failure:
                    self.stats.seconds += time.monotonic() - t0
                    self.stats.statuses[failure.status] += 1
                    unknown = writes and failure.status != 429  # a 429 is refused before any work is done
                    if unknown and applied is not None:
                        landed = _landed(applied)
                        if landed:
                            return None  # the write went through; its answer was lost
                        if landed is None:  # cannot tell: sending it again could apply it twice
                            raise _give_up(failure, kind, attempt + 1, time.monotonic() - started) from None
                    attempt += 1
                    wait = self.policy.delay(attempt - 1, self.rng, failure.retry_after)
                    spent = time.monotonic() - started
                    if attempt >= self.policy.attempts or spent + wait > self.policy.total_seconds \
                            or (unknown and applied is None):
                        raise _give_up(failure, kind, attempt, spent) from None
                    self.stats.retries += 1
                    self.sleep(wait)
                    continue
                self.stats.seconds += time.monotonic() - t0
                self.stats.statuses[response.status_code] += 1
                self.stats.bytes_received += len(response.content or b"")
                return response

        def _send(self, method, endpoint, params, data, json, files, headers):
            try:
                response = self.session.request(method=method, url=endpoint, json=json, params=params, data=data,
                                                files=files, headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as e:
                raise _Failure("dropped", f"connection failed ({type(e).__name__})") from None
            except requests.exceptions.ChunkedEncodingError:
                raise _Failure("dropped", "the answer was cut short") from None
            if response.ok:
                try:
                    _ = response.content  # read it whole now: a body cut short is a dropped connection
                except requests.exceptions.RequestException:
                    raise _Failure("dropped", "the answer was cut short") from None
                return response
            if response.status_code in RETRY_STATUS:
                raise _Failure(response.status_code, _api_message(response), _retry_after(response.headers), response)
            raise APIError(response)

        def batch_update(self, id: str, body: Any, applied: Callable[[], bool] | None = None) -> Any:
            r = self.request("post", f"{SPREADSHEETS}/{id}:batchUpdate", json=body, applied=applied)
            return r.json() if r is not None else None

    return RetryingHTTPClient


def _landed(applied: Callable[[], bool]) -> bool | None:
    """Whether a write whose answer was lost landed; None when even that cannot be found out."""
    try:
        return bool(applied())
    except CrmSheetsError:
        return None


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _api_message(response: Any) -> str:
    try:
        return str(response.json()["error"]["message"])
    except Exception:
        return (response.text or "").strip()[:200] or response.reason or ""


def _give_up(failure: _Failure, kind: str, attempts: int, spent: float) -> CrmSheetsError:
    what = f"{attempts} attempt{'s' if attempts != 1 else ''} in {spent:.0f} s"
    if failure.status == 429:
        return QuotaExhausted(
            f"Google Sheets kept refusing {kind} for quota (429) after {what}; nothing more was written",
            hint="wait a minute and run again; if it keeps happening, fewer runs per minute or a higher quota in "
                 "the Google Cloud console help",
        )
    return SheetsUnavailable(
        f"Google Sheets did not answer {kind} ({failure.status}: {failure.message}) after {what}",
        hint="check the network and run again",
    )


def endpoint_session(endpoint: str) -> Any:
    """A requests session that sends Sheets API calls to another host (a local emulator), unauthenticated."""
    import requests

    base = endpoint.rstrip("/")

    class EndpointSession(requests.Session):
        def request(self, method, url, *args, **kwargs):
            if url.startswith(API_BASE):
                url = base + url[len(API_BASE):]
            return super().request(method, url, *args, **kwargs)

    return EndpointSession()


# ---------------------------------------------------------------------------------------------
# Credentials


@dataclass
class Connection:
    """An open client: the gspread Client, its HTTP client (retries, counters) and who it signs in as."""

    client: Any
    account: str | None = None  # the service account's e-mail, to say whom to share a sheet with
    endpoint: str | None = None

    @property
    def http(self) -> Any:
        return self.client.http_client

    @property
    def stats(self) -> CallStats:
        return self.client.http_client.stats

    # The few calls the store makes, each one HTTP request (retried as RetryPolicy says).

    def get(self, spreadsheet_id: str, fields: str, ranges: Sequence[str] = (), grid_data: bool = False) -> dict:
        """spreadsheets.get with a fields mask (and grid data of ``ranges`` when asked)."""
        params: dict[str, Any] = {"fields": fields}
        if ranges:
            params["ranges"] = list(ranges)
        if grid_data:
            params["includeGridData"] = "true"
        return self._call(spreadsheet_id, "reading the spreadsheet",
                          lambda: self.http.request("get", f"{SPREADSHEETS}/{spreadsheet_id}", params=params).json())

    def get_by_data_filter(self, spreadsheet_id: str, filters: Sequence[Mapping[str, Any]], fields: str) -> dict:
        """spreadsheets.getByDataFilter with grid data: the cells of many small ranges (their formats) in one
        call whose ranges travel in the body, not in a URL of bounded length."""
        body = {"dataFilters": list(filters), "includeGridData": True}
        return self._call(spreadsheet_id, "reading cell formats",
                          lambda: self.http.request("post", f"{SPREADSHEETS}/{spreadsheet_id}:getByDataFilter",
                                                    params={"fields": fields}, json=body).json())

    def batch_get(self, spreadsheet_id: str, ranges: Sequence[str], *, render: str = "UNFORMATTED_VALUE",
                  dates: str = "SERIAL_NUMBER") -> list[dict]:
        """values.batchGet of ``ranges``: raw values (UNFORMATTED_VALUE), dates as serial numbers; ``render``
        FORMULA with ``dates`` FORMATTED_STRING tells formulas and date cells apart (pull)."""
        if not ranges:
            return []
        params = {"ranges": list(ranges), "valueRenderOption": render,
                  "dateTimeRenderOption": dates, "majorDimension": "ROWS"}
        got = self._call(spreadsheet_id, "reading the sheets' values",
                         lambda: self.http.request("get", f"{SPREADSHEETS}/{spreadsheet_id}/values:batchGet",
                                                   params=params).json())
        return list(got.get("valueRanges") or [])

    def batch_update(self, spreadsheet_id: str, requests: Sequence[Mapping[str, Any]],
                     applied: Callable[[], bool] | None = None) -> dict | None:
        """One spreadsheets.batchUpdate (atomic in the API: every request or none). ``applied()`` tells,
        after a failure whose outcome is unknown, whether the batch landed (then it is not sent again)."""
        body = {"requests": list(requests), "includeSpreadsheetInResponse": False}
        return self._call(spreadsheet_id, "writing the spreadsheet",
                          lambda: self.http.batch_update(spreadsheet_id, body, applied=applied))

    def create(self, title: str, sheets: Sequence[str] = ()) -> str:
        """spreadsheets.create (the emulator's, or a real one in the account signed in): the new ID."""
        body: dict[str, Any] = {"properties": {"title": title}}
        if sheets:
            body["sheets"] = [{"properties": {"title": name}} for name in sheets]
        got = self._call("new", "creating a spreadsheet",
                         lambda: self.http.request("post", SPREADSHEETS, json=body).json())
        return str(got["spreadsheetId"])

    def _call(self, spreadsheet_id: str, doing: str, call: Callable[[], Any]) -> Any:
        from gspread.exceptions import APIError

        try:
            return call()
        except APIError as e:
            raise api_error(spreadsheet_id, self, e, doing) from None


def connect(*, endpoint: str | None = None, credentials: str | os.PathLike | None = None,
            policy: RetryPolicy | None = None, pacer: Pacer | None = None, stats: CallStats | None = None,
            sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> Connection:
    """A client for the Sheets API. Where credentials come from, in order: ``endpoint`` or
    CRM_SHEETS_GSHEETS_ENDPOINT (a local emulator: none needed); ``credentials`` or
    CRM_SHEETS_GSHEETS_CREDENTIALS (a service-account JSON, an OAuth client file, or an authorized_user
    file); GOOGLE_APPLICATION_CREDENTIALS (a service account); gspread's standard files
    (~/.config/gspread/service_account.json, authorized_user.json, credentials.json)."""
    gspread = _gspread()
    endpoint = endpoint or os.environ.get(ENV_ENDPOINT, "").strip() or None
    if endpoint:
        factory = make_http_client(policy, pacer, stats, endpoint=endpoint, sleep=sleep, rng=rng)
        return Connection(gspread.Client(None, session=endpoint_session(endpoint), http_client=factory), endpoint=endpoint)
    factory = make_http_client(policy, pacer, stats, sleep=sleep, rng=rng)
    path, origin = _credentials_file(credentials)
    kind = _credentials_kind(path, origin)
    try:
        if kind == "service_account":
            client = gspread.service_account(filename=str(path), http_client=factory)
            return Connection(client, account=getattr(client.http_client.auth, "service_account_email", None))
        if kind == "authorized_user":
            client = gspread.oauth(authorized_user_filename=str(path), http_client=factory)
            return Connection(client)
        from gspread.auth import DEFAULT_AUTHORIZED_USER_FILENAME

        # An OAuth client file: the first run asks in a browser, gspread keeps the grant in authorized_user.json.
        client = gspread.oauth(credentials_filename=str(path), authorized_user_filename=DEFAULT_AUTHORIZED_USER_FILENAME,
                               http_client=factory)
        return Connection(client)
    except (ValueError, KeyError) as e:
        raise SheetsAuthMissing(f"{path} ({origin}): not usable Google credentials ({e})",
                                hint="download a service-account key (JSON) or an OAuth client file again") from None


def _credentials_file(given: str | os.PathLike | None) -> tuple[Path, str]:
    from gspread.auth import (
        DEFAULT_AUTHORIZED_USER_FILENAME, DEFAULT_CREDENTIALS_FILENAME, DEFAULT_SERVICE_ACCOUNT_FILENAME,
    )

    for value, origin in ((given, "given"), (os.environ.get(ENV_CREDENTIALS), ENV_CREDENTIALS),
                          (os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"), "GOOGLE_APPLICATION_CREDENTIALS")):
        if value and str(value).strip():
            path = Path(str(value).strip()).expanduser()
            if not path.is_file():
                raise SheetsAuthMissing(f"{path} ({origin}): no such credentials file",
                                        hint=f"set {ENV_CREDENTIALS} to the path of your service-account JSON key")
            return path, origin
    for path in (DEFAULT_SERVICE_ACCOUNT_FILENAME, DEFAULT_AUTHORIZED_USER_FILENAME, DEFAULT_CREDENTIALS_FILENAME):
        if Path(path).is_file():
            return Path(path), "gspread's standard path"
    raise SheetsAuthMissing(
        "no Google credentials found for gsheets://",
        hint=f"set {ENV_CREDENTIALS} to a service-account JSON key (and share the spreadsheet with its e-mail), or "
             f"put it at {DEFAULT_SERVICE_ACCOUNT_FILENAME}; an OAuth client file works too",
    )


def _credentials_kind(path: Path, origin: str) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SheetsAuthMissing(f"{path} ({origin}): not a JSON credentials file ({e})",
                                hint="give the JSON key file downloaded from the Google Cloud console") from None
    if not isinstance(info, dict):
        raise SheetsAuthMissing(f"{path} ({origin}): not a JSON credentials file")
    if info.get("type") in ("service_account", "authorized_user"):
        return str(info["type"])
    if "installed" in info or "web" in info:
        return "oauth_client"
    raise SheetsAuthMissing(f"{path} ({origin}): neither a service-account key nor an OAuth client file",
                            hint="its JSON should have \"type\": \"service_account\", or an \"installed\" section")


def not_found(spreadsheet_id: str, connection: Connection | None, status: int) -> SpreadsheetNotFound:
    """The error for a spreadsheet the API will not show us (404, or 403 when it exists but is not shared)."""
    who = connection.account if connection is not None else None
    if who:
        hint = f"open the spreadsheet in Google Sheets, click Share and add {who} as an Editor"
    else:
        hint = "check the ID in the spreadsheet's URL, and that the Google account you signed in with can edit it"
    what = "does not exist or is not shared with " + (who or "this account") if status in (403, 404) else f"cannot be opened ({status})"
    return SpreadsheetNotFound(f"gsheets://{spreadsheet_id}: the spreadsheet {what}", hint=hint)


def api_error(spreadsheet_id: str, connection: Connection | None, error: Exception, doing: str) -> CrmSheetsError:
    """A gspread APIError as one of our errors."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(error, "code", 0)
    if status in (403, 404):
        return not_found(spreadsheet_id, connection, status)
    if status == 401:
        return SheetsAuthMissing(f"gsheets://{spreadsheet_id}: Google refused the credentials while {doing}",
                                 hint="the key may be revoked or the OAuth grant expired; download a new key, or "
                                      "delete authorized_user.json to sign in again")
    message = _api_message(response) if response is not None else str(error)
    if "above the limit of 10000000 cells" in message:  # Google's cap on one spreadsheet, not a bug of ours
        return CrmSheetsError(f"gsheets://{spreadsheet_id}: Google Sheets refused {doing}: a spreadsheet holds at most "
                              "10,000,000 cells and this would need more; nothing was written",
                              hint="remove sheets or empty rows and columns you do not use, or keep a CRM this big "
                                   "in a workbook file")
    return CrmSheetsError(f"gsheets://{spreadsheet_id}: Google Sheets refused {doing} ({status}: {message})",
                          hint="this is likely a bug in crm-sheets; please report it with this line")
