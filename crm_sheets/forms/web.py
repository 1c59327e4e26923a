"""The web side of forms: Starlette routes that render a form, take a submission into the journal
(after the abuse checks) and answer 303, and the service that owns the journal, the applier thread,
the rate limits and the form definitions read from the workbook.

Mount into any Starlette app: ``service = FormsService(FormsConfig(path)); routes = forms_routes(service)``,
and start/stop the service in the app's lifespan (``create_app`` does exactly that on its own).
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol
from urllib.parse import parse_qs, urlsplit

from crm_sheets.forms.applier import ApplyOutcome, Applier
from crm_sheets.forms.definitions import FormDef, FormSet, load_forms
from crm_sheets.forms.journal import Journal, journal_path
from crm_sheets.forms.render import (HONEYPOT_FIELD, LANG_FIELD, TOKEN_FIELD, WORDS, form_page, message_page,
                                     thanks_page, token_script)
from crm_sheets.forms.validation import validate

log = logging.getLogger(__name__)


class CaptchaHook(Protocol):
    """An optional CAPTCHA: its widget's HTML, and the check of what the widget posted."""

    def html(self, lang: str) -> str: ...

    def verify(self, posted: Mapping[str, list[str]], ip: str) -> bool: ...

    # Optional attribute: the provider's origins the page may load from, e.g. "https://hcaptcha.com https://*.hcaptcha.com".


@dataclass
class FormsConfig:
    workbook: Path
    base_url: str = ""  # e.g. https://crm.example.com; empty: the address each request came to
    allow_origins: tuple[str, ...] = ()  # sites allowed to post every form (the Forms sheet adds per form)
    max_body: int = 16 * 1024  # bytes of a submission
    ip_rate: tuple[float, float] = (10, 60.0)  # a bucket of N submissions per IP, refilled over S seconds
    form_rate: tuple[float, float] = (300, 60.0)  # the same per form, over all visitors
    max_journal_bytes: int = 256 * 1024 * 1024  # past this, 503 instead of filling the disk
    max_waiting: int = 100_000  # entries not yet in the workbook; past this, 503
    token_max_age: float = 24 * 3600  # seconds a form stays valid once shown
    captcha: CaptchaHook | None = None
    trust_proxy: bool = False  # take the client's address from X-Forwarded-For (behind a reverse proxy)
    apply_interval: float = 5.0  # seconds between applier rounds (sooner after a submission)
    apply_delay: float = 1.0  # seconds the applier waits after a submission, to take several in one write
    batch: int = 500
    applier: bool = True  # run the applier thread (off: another process applies the journal)
    reload_every: float = 2.0  # seconds between checks whether the workbook changed (forms, lists)

    def __post_init__(self) -> None:
        self.workbook = Path(self.workbook)


class TokenBucket:
    """Token buckets by key: ``take(key)`` -> 0 when allowed, else the seconds until one is."""

    def __init__(self, capacity: float, per_seconds: float, max_keys: int = 100_000):
        self.capacity, self.rate, self.max_keys = float(capacity), float(capacity) / float(per_seconds), max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                if len(self._buckets) > self.max_keys:
                    self._forget(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def _forget(self, now: float) -> None:
        full = [k for k, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.capacity]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) > self.max_keys:  # all busy: forget the oldest
            del self._buckets[next(iter(self._buckets))]


class Tokens:
    """Signed, expiring CSRF tokens, one per form shown: form.issued.nonce.signature."""

    def __init__(self, secret: bytes, max_age: float):
        self.secret, self.max_age = secret, max_age

    def make(self, form: str, now: float | None = None) -> str:
        payload = f"{form}.{int(now if now is not None else time.time())}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._sign(payload)}"

    def check(self, token: str, form: str, now: float | None = None) -> bool:
        parts = token.split(".")
        if len(parts) != 4 or not hmac.compare_digest(self._sign(".".join(parts[:3])), parts[3]):
            return False
        if parts[0] != form or not parts[1].isdigit():
            return False
        age = (now if now is not None else time.time()) - int(parts[1])
        return -60 <= age <= self.max_age

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()[:32]


class FormsService:
    """The journal, the applier thread, the limits and the forms of one workbook."""

    def __init__(self, config: FormsConfig):
        self.config = config
        self.journal = Journal(journal_path(config.workbook))
        self.tokens = Tokens(self.journal.secret(), config.token_max_age)
        self.ip_limit = TokenBucket(*config.ip_rate)
        self.form_limit = TokenBucket(*config.form_rate)
        self._forms: FormSet | None = None
        self._tables = None
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._reload_lock = threading.Lock()
        self.applier: Applier | None = None
        self._timer: threading.Timer | None = None

    # -- life ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self.reload(force=True)
        if self.config.applier:
            self.applier = Applier(self.config.workbook, self.journal, interval=self.config.apply_interval,
                                   batch=self.config.batch, on_round=self._applied)
            self.applier.start()

    def stop(self) -> None:
        if self.applier is not None:
            self.applier.stop()
        self.journal.close()

    def _applied(self, outcome: ApplyOutcome) -> None:
        if outcome.applied:  # our own write: the forms did not change, no need to read it again
            self._stamp = self._file_stamp()

    def submitted(self) -> None:
        """A new entry: the applier runs a little later, so one write takes the submissions of that moment."""
        if self.applier is None:
            return
        if self._timer is None or not self._timer.is_alive():
            self._timer = threading.Timer(self.config.apply_delay, self.applier.wake)
            self._timer.daemon = True
            self._timer.start()

    # -- the workbook's forms -----------------------------------------------------------------------

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.config.workbook.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.config.reload_every and self._forms is not None:
            return
        with self._reload_lock:
            self._checked = now
            stamp = self._file_stamp()
            if not force and stamp == self._stamp and self._forms is not None:
                return
            from crm_sheets.store import open_store

            try:
                tables = open_store(self.config.workbook).read()
            except Exception as e:  # keep serving the forms we have; say why once
                if self._forms is None:
                    raise
                log.warning("forms: could not read %s again: %s", self.config.workbook.name, e)
                return
            self._tables, self._forms, self._stamp = tables, load_forms(tables), stamp
            for p in self._forms.problems:
                log.warning("forms: %s", p.message)

    @property
    def tables(self):
        self.reload()
        return self._tables

    def form(self, name: str) -> FormDef | None:
        self.reload()
        f = self._forms.forms.get(name) if self._forms else None
        return f if f is not None and f.active else None

    def forms(self) -> dict[str, FormDef]:
        self.reload()
        return dict(self._forms.forms) if self._forms else {}

    # -- limits ---------------------------------------------------------------------------------------

    def journal_full(self) -> bool:
        return self.journal.size() > self.config.max_journal_bytes or self.journal.count() >= self.config.max_waiting


# ---------------------------------------------------------------------------------------------
# Routes


def _lang(request, form_lang: str | None = None, default: str = "en") -> str:
    for candidate in (form_lang, request.query_params.get("lang")):
        if candidate in WORDS:
            return candidate
    header = request.headers.get("accept-language", "")
    best, best_q = None, -1.0
    for part in header.split(","):
        code, _, params = part.strip().partition(";")
        code = code.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if code in WORDS and q > best_q:
            best, best_q = code, q
    return best or (default if default in WORDS else "en")


def _client_ip(request, trust_proxy: bool) -> str:
    if trust_proxy:
        fwd = request.headers.get("x-forwarded-for", "")
        if fwd:
            return fwd.split(",")[0].strip()
    return request.client.host if request.client else ""


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _own_origins(request, config: FormsConfig) -> set[str]:
    own = {_origin_of(config.base_url)} if config.base_url else set()
    own.add(f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}".lower())
    return own


def forms_routes(service: FormsService, prefix: str = "/forms") -> list:
    """The routes: GET/POST {prefix}/{name}, GET {prefix}/{name}/thanks, /token.js and /token."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    config = service.config
    # A CAPTCHA widget loads its script and frame from its provider: the hook may name those sources.
    extra_sources = "".join(" " + src for src in str(getattr(config.captcha, "csp_sources", "") or "").split())

    def html(text: str, status: int = 200, headers: dict | None = None) -> HTMLResponse:
        # Pages may be framed by any site (the iframe embed) but load nothing from elsewhere.
        h = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
             "Content-Security-Policy": f"default-src 'self'{extra_sources}; style-src 'self' 'unsafe-inline'{extra_sources}; "
                                        "form-action 'self' https: http:; frame-ancestors *"}
        h.update(headers or {})
        return HTMLResponse(text, status_code=status, headers=h)

    def default_lang() -> str:
        tables = service._tables
        return (tables.lang if tables is not None else "en") or "en"

    async def show(request, form: FormDef, lang: str, *, values=None, errors=None, notice="", status=200, headers=None):
        token = service.tokens.make(form.name)
        captcha = config.captcha.html(lang) if config.captcha is not None else ""
        page = form_page(form, lang=lang, token=token, action=f"{prefix}/{form.name}", values=values,
                         errors=errors, notice=notice, captcha_html=captcha)
        return html(page, status, headers)

    async def get_form(request):
        form = await run_in_threadpool(service.form, request.path_params["name"])
        lang = _lang(request, default=default_lang())
        if form is None:
            return html(message_page(WORDS[lang]["not_found"], lang), 404)
        return await show(request, form, lang)

    async def post_form(request):
        name = request.path_params["name"]
        form = await run_in_threadpool(service.form, name)
        lang = _lang(request, default=default_lang())
        if form is None:
            return html(message_page(WORDS[lang]["not_found"], lang), 404)
        # Origin: a browser says which site the post comes from; only ours and the ones allowed may post.
        origin = request.headers.get("origin") or _origin_of(request.headers.get("referer", ""))
        if origin:
            allowed = _own_origins(request, config) | {o.lower().rstrip("/") for o in config.allow_origins} | set(form.origins)
            if origin.lower().rstrip("/") not in allowed:
                return html(message_page("Forbidden: this site may not post this form.", lang), 403)
        ip = _client_ip(request, config.trust_proxy)
        wait = max(service.ip_limit.take(ip), service.form_limit.take(form.name))
        if wait > 0:
            return html(message_page(WORDS[lang]["busy"], lang), 429, {"Retry-After": str(max(1, math.ceil(wait)))})
        if await run_in_threadpool(service.journal_full):
            return html(message_page(WORDS[lang]["busy"], lang), 503, {"Retry-After": "60"})
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > config.max_body):
            return html(message_page("The form is too large.", lang), 413)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return html(message_page("Send the form as application/x-www-form-urlencoded.", lang), 415)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > config.max_body:
                return html(message_page("The form is too large.", lang), 413)
        try:
            posted = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            return html(message_page("The form could not be read.", lang), 400)
        lang = _lang(request, (posted.get(LANG_FIELD) or [None])[0], default=default_lang())
        if any(v.strip() for v in posted.get(HONEYPOT_FIELD, [])):
            log.info("forms: %s: honeypot filled from %s; dropped", form.name, ip)
            return _thanks(form, lang)  # a bot learns nothing
        token = (posted.get(TOKEN_FIELD) or [""])[0]
        values_shown = {f.name: ", ".join(posted.get(f.name, [])) for f in form.fields}
        if not service.tokens.check(token, form.name):
            return await show(request, form, lang, values=values_shown, notice=WORDS[lang]["expired"], status=403)
        if config.captcha is not None:
            ok = await run_in_threadpool(config.captcha.verify, posted, ip)
            if not ok:
                return await show(request, form, lang, values=values_shown, notice=WORDS[lang]["captcha"], status=400)

        def take() -> tuple[Any, int | None]:
            sub = validate(form, service.tables, posted, lang=lang)
            if not sub.ok:
                return sub, None
            data = {"table": form.table, "title": form.title(default_lang()), "fields": sub.values}
            entry, _new = service.journal.append(token=token, form=form.name, values=data, lang=lang, ip=ip)
            return sub, entry

        try:
            sub, entry = await run_in_threadpool(take)
        except sqlite3.Error as e:  # the journal cannot take it (disk full, unreadable): say so, keep nothing
            log.error("forms: %s: could not write the journal: %s", form.name, e)
            return html(message_page(WORDS[lang]["busy"], lang), 503, {"Retry-After": "60"})
        if entry is None:
            return await show(request, form, lang, values={**values_shown, **sub.typed}, errors=sub.errors, status=422)
        service.submitted()
        return _thanks(form, lang)

    def _thanks(form: FormDef, lang: str):
        if form.redirect:
            return RedirectResponse(form.redirect, status_code=303)
        return RedirectResponse(f"{prefix}/{form.name}/thanks?lang={lang}", status_code=303)

    async def form_endpoint(request):
        if request.method == "POST":
            return await post_form(request)
        return await get_form(request)

    async def thanks(request):
        form = await run_in_threadpool(service.form, request.path_params["name"])
        lang = _lang(request, default=default_lang())
        if form is None:
            return html(message_page(WORDS[lang]["not_found"], lang), 404)
        return html(thanks_page(form, lang))

    async def token_js(request):
        form = await run_in_threadpool(service.form, request.path_params["name"])
        if form is None:
            return Response("", status_code=404, media_type="application/javascript")
        return Response(token_script(form, service.tokens.make(form.name)), media_type="application/javascript",
                        headers={"Cache-Control": "no-store"})

    async def token_json(request):
        form = await run_in_threadpool(service.form, request.path_params["name"])
        if form is None:
            return JSONResponse({"error": "no such form"}, status_code=404)
        return JSONResponse({"token": service.tokens.make(form.name), "field": TOKEN_FIELD},
                            headers={"Cache-Control": "no-store"})

    return [
        Route(prefix + "/{name}", form_endpoint, methods=["GET", "POST"]),
        Route(prefix + "/{name}/thanks", thanks, methods=["GET"]),
        Route(prefix + "/{name}/token.js", token_js, methods=["GET"]),
        Route(prefix + "/{name}/token", token_json, methods=["GET"]),
    ]


def routes(service: FormsService) -> list:
    """The routes to mount into `crm-sheets serve`'s app (see forms_routes)."""
    return forms_routes(service)


def create_app(config: FormsConfig):
    """A Starlette app serving the forms alone (``crm-sheets forms-serve``), with GET /health."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    service = FormsService(config)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.start()
        try:
            yield
        finally:
            service.stop()

    async def health(request):
        a = service.applier
        return JSONResponse({"ok": True, "waiting": service.journal.count(),
                             "applier": None if a is None else {"alive": a.is_alive(), "last_error": a.last_error}})

    app = Starlette(routes=[Route("/health", health), *forms_routes(service)], lifespan=lifespan)
    app.state.forms = service
    return app
