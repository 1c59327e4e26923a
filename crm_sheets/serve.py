"""`crm-sheets serve`: the workbook's HTTP face (a Starlette app from `create_app`, run by uvicorn).

POST /jobs/run runs jobs when the Google Sheets CRM menu asks, signed like common webhook APIs:
X-Crm-Timestamp (Unix seconds) and X-Crm-Signature = hex HMAC-SHA256(secret, timestamp + "." + body),
the secret read only from the environment. One job at a time per workbook. More routes (a web form)
are added by passing them to `create_app`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from crm_sheets import __version__
from crm_sheets.errors import CrmSheetsError, UsageError, WorkbookBusy

SECRET_ENV = "CRM_SHEETS_SERVE_SECRET"
REPLAY_WINDOW = 300  # seconds a signed request stays valid (clock skew included)
MIN_SECRET = 16
MAX_BODY = 64 * 1024
log = logging.getLogger("crm_sheets.serve")


class ServeError(UsageError):
    """The server cannot start as asked (no secret, missing extra)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature the menu sends: hex HMAC-SHA256 of ``timestamp + "." + body`` under the shared secret."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


class Verifier:
    """Checks signed requests: the signature in constant time, the timestamp within the window, no replay."""

    def __init__(self, secret: str, *, window: int = REPLAY_WINDOW, clock: Callable[[], float] = time.time):
        self.secret, self.window, self.clock = secret, window, clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def problem(self, timestamp: str | None, signature: str | None, body: bytes) -> str | None:
        """Why the request is refused, or None when it is genuine and fresh."""
        if not timestamp or not signature:
            return "missing X-Crm-Timestamp or X-Crm-Signature header"
        try:
            ts = int(timestamp)
        except ValueError:
            return "X-Crm-Timestamp is not Unix seconds"
        now = self.clock()
        expected = sign(self.secret, timestamp, body)
        if not hmac.compare_digest(expected, signature.strip().lower()):
            return "bad signature (is the secret the same on both sides?)"
        if abs(now - ts) > self.window:
            return f"stale request: its timestamp is {int(now - ts)} s away from the server's clock (5 minutes allowed)"
        with self._lock:
            self._seen = {s: t for s, t in self._seen.items() if now - t <= 2 * self.window}
            if expected in self._seen:
                return "this signed request was already used"
            self._seen[expected] = now
        return None


@dataclass(frozen=True)
class Running:
    jobs: tuple[str, ...]
    trigger: str
    started: datetime


class JobGate:
    """One job at a time per workbook within this server; the store's lock covers other processes."""

    _running: dict[str, Running] = {}
    _lock = threading.Lock()

    def __init__(self, workbook: str):
        self.key = _identity(workbook)

    def enter(self, running: Running) -> Running | None:
        """Take the workbook for ``running``; returns what holds it when it is taken already."""
        with self._lock:
            held = self._running.get(self.key)
            if held is not None:
                return held
            self._running[self.key] = running
            return None

    def leave(self) -> None:
        with self._lock:
            self._running.pop(self.key, None)


def _identity(workbook: str) -> str:
    return workbook if "://" in workbook else str(Path(workbook).resolve())


def _default_run(workbook: str, jobs: list[str] | None, trigger: str, now: datetime) -> Any:
    from crm_sheets.runlog import run_logged

    return run_logged(workbook, jobs, trigger=trigger, now=now)


def summary(report: Any, *, trigger: str, started: datetime, finished: datetime, first_errors: int = 5) -> dict[str, Any]:
    """What the menu shows: counts per job, the first errors, whether the workbook was written."""
    results = []
    for r in report.results:
        sev = [f.severity for f in r.findings]
        results.append({"job": r.job, "errors": sev.count("error"), "warnings": sev.count("warning"),
                        "changes": r.changes.summary(), "stats": r.stats})
    delivery = getattr(report, "delivery", None)
    return {
        "ok": True,
        "workbook": Path(str(report.path)).name,
        "jobs": list(report.jobs),
        "trigger": trigger,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "written": report.written,
        "errors": len(report.errors),
        "warnings": sum(r["warnings"] for r in results),
        "changes": report.changes.summary(),
        "results": results,
        "first_errors": [f.message for f in report.errors[:first_errors]],
        "delivery": {k: len(v) for k, v in delivery.items()} if delivery else None,
    }


def create_app(workbook: str | Path, *, secret: str | None, run: Callable[..., Any] | None = None,
               clock: Callable[[], float] = time.time, routes: Iterable[Any] = (), forms: Any = None):
    """The ASGI app serving ``workbook``. ``secret`` signs /jobs/*: without it the app is not built.
    ``run(workbook, jobs, trigger, now)`` runs the jobs (default: the runner, logged in the Runs sheet);
    ``routes`` are more Starlette routes; ``forms`` (a forms.web.FormsService) adds the web forms at
    /forms/<name>, its journal applied into the workbook while the app runs."""
    import contextlib

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from crm_sheets.runlog import TRIGGERS, RunHistory
    from crm_sheets.runner import JOB_ORDER

    check_secret(secret)
    workbook = str(workbook)
    verifier = Verifier(secret, clock=clock)
    gate = JobGate(workbook)
    runner = run or _default_run

    async def signed_body(request: Request) -> tuple[bytes | None, JSONResponse | None]:
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return None, JSONResponse({"error": "request body too large"}, status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY:
            return None, JSONResponse({"error": "request body too large"}, status_code=413)
        problem = verifier.problem(request.headers.get("x-crm-timestamp"), request.headers.get("x-crm-signature"), body)
        if problem:
            log.warning("refused %s %s from %s: %s", request.method, request.url.path,
                        request.client.host if request.client else "?", problem)
            return None, JSONResponse({"error": problem}, status_code=401)
        return body, None

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    async def jobs_run(request: Request) -> JSONResponse:
        body, refused = await signed_body(request)
        if refused:
            return refused
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"error": 'the body must be {"jobs": [...], "trigger": "menu"}'}, status_code=400)
        jobs = data.get("jobs") or []
        trigger = data.get("trigger") or "menu"
        if not isinstance(jobs, list) or any(j not in (*JOB_ORDER, "run") for j in jobs):
            return JSONResponse({"error": f"jobs must be a list of {', '.join(('run', *JOB_ORDER))}"}, status_code=400)
        if trigger not in TRIGGERS:
            return JSONResponse({"error": f"trigger must be one of {', '.join(TRIGGERS)}"}, status_code=400)
        jobs = [] if "run" in jobs else [j for j in JOB_ORDER if j in jobs]  # [] runs every job, in order
        started = datetime.now().replace(microsecond=0)
        held = gate.enter(Running(tuple(jobs), trigger, started))
        if held is not None:
            return JSONResponse({"error": f"a run ({', '.join(held.jobs) or 'every job'}) started at "
                                          f"{held.started.isoformat(timespec='seconds')} is still going; try again when it ends",
                                 "running": {"jobs": list(held.jobs), "trigger": held.trigger,
                                             "started": held.started.isoformat(timespec="seconds")}},
                                status_code=409)
        try:
            report = await run_in_threadpool(runner, workbook, jobs or None, trigger, started)
        except WorkbookBusy as exc:
            return JSONResponse({"error": str(exc), "busy": True}, status_code=409)
        except CrmSheetsError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        except Exception:  # a bug: logged in full here, one line to the caller
            log.exception("run of %s failed", ", ".join(jobs) or "every job")
            return JSONResponse({"error": "the run failed unexpectedly; see the server's log"}, status_code=500)
        finally:
            gate.leave()
        finished = datetime.now().replace(microsecond=0)
        return JSONResponse(summary(report, trigger=trigger, started=started, finished=finished))

    async def jobs_last(request: Request) -> JSONResponse:
        _body, refused = await signed_body(request)
        if refused:
            return refused
        if "://" in workbook:
            return JSONResponse({"last": None})
        last = await run_in_threadpool(RunHistory(workbook).latest, 1)
        return JSONResponse({"workbook": Path(workbook).name, "last": last[0].as_dict() if last else None})

    extra = list(routes)
    if forms is not None:
        from crm_sheets.forms.web import forms_routes

        extra += forms_routes(forms)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        if forms is not None:
            forms.start()  # reads the workbook's forms and starts applying the journal
        try:
            yield
        finally:
            if forms is not None:
                forms.stop()

    return Starlette(routes=[
        Route("/health", health, methods=["GET"]),
        Route("/jobs/run", jobs_run, methods=["POST"]),
        Route("/jobs/last", jobs_last, methods=["GET", "POST"]),
        *extra,
    ], lifespan=lifespan)


def check_secret(secret: str | None) -> str:
    hint = f'generate one with: python -c "import secrets; print(secrets.token_hex(32))", then export {SECRET_ENV}=...'
    if not secret:
        raise ServeError(f"{SECRET_ENV} is not set: the jobs endpoint will not start without a shared secret", hint=hint)
    if len(secret) < MIN_SECRET:
        raise ServeError(f"{SECRET_ENV} is too short ({len(secret)} characters, at least {MIN_SECRET})", hint=hint)
    return secret


def serve(workbook: str | Path, *, host: str = "127.0.0.1", port: int = 8765, forms: bool = True,
          base_url: str = "", allow_origins: tuple[str, ...] = ()) -> None:
    """Run the server until Ctrl-C (the secret comes from the environment only). With ``forms`` (a workbook
    file), the workbook's web forms are served too, at /forms/<name>."""
    text = str(workbook)
    if "://" not in text:
        from crm_sheets.store import open_store

        open_store(text)  # a missing or wrong file is refused now, not at the first click
    secret = check_secret(os.environ.get(SECRET_ENV))
    try:
        import uvicorn
    except ImportError:
        raise ServeError("crm-sheets serve needs its extra", hint="pip install 'crm-sheets[serve]'") from None
    service = None
    if forms and "://" not in text:
        from crm_sheets.forms.web import FormsConfig, FormsService

        service = FormsService(FormsConfig(Path(text), base_url=base_url, allow_origins=tuple(allow_origins)))
    try:
        app = create_app(text, secret=secret, forms=service)
    except ImportError:
        raise ServeError("crm-sheets serve needs its extra", hint="pip install 'crm-sheets[serve]'") from None
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True, server_header=False)
