"""The channels: SMTP (emails) and HTTP posts (webhooks, the team chat), each with its timeouts and a per-run
budget, marking the point of no return before passing it, and saying why an item waits when its server is down.
"""
from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass
from email.utils import formatdate, getaddresses, make_msgid, parseaddr
from typing import Any, Callable

from crm_sheets.model.redact import redact, redact_url, register_secret
from crm_sheets.outbox.items import (SMTP_PASSWORD_ENV, Deferred, DeliveryError, OutboxItem, PermanentFailure,
                                     UncertainDelivery)

# smtplib, ssl and email's message classes are imported by the SMTP transport's methods: every run makes the
# transports (webhooks always), and most send no email.
SMTP_TIMEOUT = 10.0  # seconds to wait for any one reply of the mail server
SMTP_BUDGET = 120.0  # seconds a run may spend starting emails; the rest go out on the next run
WEBHOOK_TIMEOUT = 10.0  # seconds to wait for an HTTP answer
WEBHOOK_BUDGET = 60.0  # seconds a run may spend starting posts on one channel


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    tls: bool = True
    sender: str = "crm@localhost"
    timeout: float = SMTP_TIMEOUT  # per reply of the server
    budget: float = SMTP_BUDGET  # per run: no email is started after this many seconds

    @classmethod
    def from_settings(cls, settings: Callable[[str, Any], Any]) -> "SmtpSettings | None":
        """From workbook Settings (``tables.setting``); None when no SMTP host is set."""
        host = str(settings("smtp_host", "") or "").strip()
        if not host:
            return None
        tls = settings("smtp_tls", True)
        return cls(
            host=host,
            port=int(float(settings("smtp_port", 587) or 587)),
            user=str(settings("smtp_user", "") or "").strip() or None,
            tls=tls if isinstance(tls, bool) else str(tls).strip().lower() in ("true", "yes", "1", "vrai", "oui"),
            sender=str(settings("smtp_sender", "") or "crm@localhost"),
            timeout=seconds_setting(settings, "smtp_timeout", SMTP_TIMEOUT),
            budget=seconds_setting(settings, "smtp_budget", SMTP_BUDGET),
        )


def seconds_setting(settings: Callable[[str, Any], Any], name: str, default: float) -> float:
    """A positive number of seconds from Settings; the default when empty or not a number."""
    try:
        value = float(settings(name, default) or default)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def build_email(item: OutboxItem, sender: str) -> EmailMessage:
    from email.message import EmailMessage

    p = item.payload
    msg = EmailMessage()
    msg["From"] = p.get("from") or sender
    msg["To"] = p["to"]
    msg["Subject"] = p.get("subject", "")
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = item.message_id or make_msgid()
    if p.get("unsubscribe"):
        msg["List-Unsubscribe"] = f"<{p['unsubscribe']}>"
    msg.set_content(p.get("text", ""), cte=_cte(p.get("text", "")))
    if p.get("html"):
        msg.add_alternative(p["html"], subtype="html", cte=_cte(p["html"]))
    return msg


def _cte(body: str) -> str | None:
    """SMTP refuses lines over 998 bytes (RFC 5321): long lines go quoted-printable, the rest as the library picks."""
    return "quoted-printable" if any(len(line.encode()) > 900 for line in body.splitlines()) else None


class SmtpTransport:
    """Sends through an SMTP server; the password comes from the environment, never the workbook.

    One connection carries the run's emails. Each reply is awaited ``timeout`` seconds; a server that does
    not answer (or cannot be reached) fails the email it was sending and the rest of the run's emails wait
    for the next run, and no email starts after the run's ``budget``. Replies decide what happens: 2xx sent,
    4xx retried on a later run, 5xx failed for good with the server's text. The point of no return is the
    final "." of DATA: a connection lost before it is a retry, only one lost between it and the reply is unknown.
    """

    def __init__(self, settings: SmtpSettings, password: str | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.password = password if password is not None else os.environ.get(SMTP_PASSWORD_ENV)
        register_secret(self.password)
        self._clock = clock
        self._started: float | None = None
        self._smtp: smtplib.SMTP | None = None
        self._down: str | None = None  # why the rest of this run's emails wait

    @property
    def _server(self) -> str:
        return f"the mail server {self.settings.host}:{self.settings.port}"

    def deferral(self, item: OutboxItem) -> str | None:
        """Why no more email is tried in this run (the server did not answer, the budget is used up), or None."""
        if self._started is None:
            self._started = self._clock()
        if self._down is None and self._clock() - self._started > self.settings.budget:
            self._down = f"not sent in this run: its {self.settings.budget:g} s for sending email were used up; it goes out on the next run"
        return self._down

    def send(self, item: OutboxItem, mark_sending: Callable[[], None]) -> None:
        import smtplib
        from email.policy import SMTP as SMTP_POLICY

        s = self.settings
        if self.deferral(item) is not None:
            raise Deferred(self._down)
        msg = build_email(item, s.sender)
        sender = parseaddr(str(msg["From"]))[1]
        recipients = [addr for _, addr in getaddresses([str(msg["To"])]) if addr]
        body = _dot_stuffed(msg.as_bytes(policy=SMTP_POLICY))  # CRLF line ends, as SMTP wants them
        reused = self._smtp is not None
        smtp = self._session()
        try:
            try:
                self._envelope(smtp, sender, recipients)
            except _Dropped:
                if not reused:
                    raise
                smtp = self._session()  # the kept connection had timed out on the server's side: once more, afresh
                self._envelope(smtp, sender, recipients)
        except _Dropped:
            raise DeliveryError(f"{self._server} closed the connection before the message was sent; retried on the next run") from None
        try:
            code, resp = smtp.docmd("DATA")
        except (smtplib.SMTPException, OSError) as exc:
            raise self._lost(exc, "at DATA, before the message was sent") from exc
        if code != 354:
            self._reset(smtp)
            raise _refusal(code, resp, "the message")
        try:  # the message without the final ".": a connection lost here leaves nothing at the server
            smtp.send(body)
        except (smtplib.SMTPException, OSError) as exc:
            raise self._lost(exc, "while sending the message, before its end") from exc
        try:
            mark_sending()
        except BaseException:
            self._drop()  # never send the "." of an item that is not ours (or a crash): the server discards it
            raise
        try:
            smtp.send(b".\r\n")
        except (smtplib.SMTPException, OSError) as exc:  # the "." did not leave: nothing was delivered
            raise self._lost(exc, "before the end of the message") from exc
        try:
            code, resp = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            if _timed_out(exc):
                self._down = f"{self._server} did not answer within {s.timeout:g} s; the other emails wait for the next run"
                raise UncertainDelivery(f"{self._server} did not confirm the message within {s.timeout:g} s") from exc
            raise UncertainDelivery(f"the connection to {self._server} was lost after the message was sent ({_reason(exc)})") from exc
        if code != 250:  # a refusal at the end of DATA is not a send
            raise _refusal(code, resp, "the message")

    def _session(self) -> smtplib.SMTP:
        """The connection of this run: opened, greeted, TLS, logged in once; reused for the next emails."""
        if self._smtp is not None:
            return self._smtp
        import smtplib
        import ssl

        s = self.settings
        smtp = None
        try:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            smtp.ehlo()
            if s.tls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, self.password or "")
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            if smtp is not None:
                smtp.close()
            if _timed_out(exc):
                self._down = f"{self._server} did not answer within {s.timeout:g} s; emails wait for the next run"
            elif isinstance(exc, smtplib.SMTPAuthenticationError):
                self._down = (f"{self._server} refused the login of {s.user}: {_reply(exc.smtp_code, exc.smtp_error)}; "
                              f"check smtp_user and {SMTP_PASSWORD_ENV}")
            elif isinstance(exc, smtplib.SMTPResponseException):
                self._down = f"{self._server} refused the session: {_reply(exc.smtp_code, exc.smtp_error)}"
            elif smtp is None:  # no connection, or no greeting
                self._down = f"cannot reach {self._server} ({_reason(exc)})"
            else:  # connected, then greeting, TLS or login went wrong
                self._down = f"the session with {self._server} failed ({_reason(exc)}); check smtp_tls and smtp_port"
            raise DeliveryError(self._down) from exc
        self._smtp = smtp
        return smtp

    def _envelope(self, smtp: smtplib.SMTP, sender: str, recipients: list[str]) -> None:
        """MAIL FROM and RCPT TO; a refusal resets the transaction so the connection serves the next email."""
        import smtplib

        if not recipients:
            raise PermanentFailure("no recipient address in To")
        try:
            code, resp = smtp.mail(sender)
            if code != 250:
                self._reset(smtp)
                raise _refusal(code, resp, f"the sender {sender}")
            for rcpt in recipients:
                code, resp = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    self._reset(smtp)
                    raise _refusal(code, resp, rcpt)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            if _timed_out(exc):
                raise self._lost(exc, "before the message was sent") from exc
            raise _Dropped() from exc
        except OSError as exc:
            raise self._lost(exc, "before the message was sent") from exc

    def _lost(self, exc: BaseException, when: str) -> DeliveryError:
        """The connection broke (or the server went silent) before the final ".": nothing was delivered."""
        self._drop()
        if _timed_out(exc):
            self._down = f"{self._server} did not answer within {self.settings.timeout:g} s; the other emails wait for the next run"
            return DeliveryError(f"{self._server} did not answer within {self.settings.timeout:g} s {when}; retried on the next run")
        return DeliveryError(f"the connection to {self._server} was lost {when} ({_reason(exc)}); retried on the next run")

    def _reset(self, smtp: smtplib.SMTP) -> None:
        import smtplib

        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        """Close the socket without a word (in the middle of DATA, a QUIT would be part of the message)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def close(self) -> None:
        """End of the delivery: say goodbye on the kept connection (briefly) and close it. The next delivery
        starts afresh (its own budget, the server given another chance)."""
        self._started, self._down = None, None
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        import smtplib

        try:
            if smtp.sock is not None:
                smtp.sock.settimeout(min(self.settings.timeout, 2.0))
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()


class _Dropped(Exception):
    """The server closed a connection between two commands (nothing of the message was sent)."""


def _dot_stuffed(data: bytes) -> bytes:
    """The message as DATA carries it, without the final ".": lines starting with "." doubled, CRLF at the end."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _refusal(code: int, resp: bytes | str, what: str) -> DeliveryError:
    """A reply other than the one hoped for: 5xx is for good, anything else (4xx) is worth another try."""
    if 500 <= code < 600:
        return PermanentFailure(f"the mail server refused {what} for good: {_reply(code, resp)}")
    return DeliveryError(f"the mail server refused {what} for now: {_reply(code, resp)}; retried on the next run")


def _reply(code: int | None, resp: bytes | str | None) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp or "")
    return f"{code} {' '.join(text.split())}".strip()


def _timed_out(exc: BaseException) -> bool:
    """smtplib reports a timeout as a lost connection: look at what it wraps."""
    seen = exc
    for _ in range(4):
        if isinstance(seen, (TimeoutError, socket.timeout)):
            return True
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            return False
    return False


def _reason(exc: BaseException) -> str:
    return redact(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)


class WebhookTransport:
    """POSTs JSON to a URL (a team chat incoming webhook or any endpoint), with an Idempotency-Key header.

    Each post waits ``timeout`` seconds for an answer; a host that does not answer makes the rest of the run's
    posts to it wait for the next run, and no post starts after the run's ``budget``. The URL is a secret
    (a chat webhook URL is a password): messages name it redacted, the team chat's not at all.
    """

    def __init__(self, url: str | None = None, timeout: float = WEBHOOK_TIMEOUT, budget: float = WEBHOOK_BUDGET,
                 *, clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.timeout = timeout
        self.budget = budget
        register_secret(url)
        self._clock = clock
        self._started: float | None = None
        self._down: dict[str, str] = {}  # host -> why the rest of this run's posts to it wait

    def send(self, item: OutboxItem, mark_sending: Callable[[], None]) -> None:
        import requests

        url = item.payload.get("url") or self.url
        if not url:
            raise DeliveryError("no URL to post to: set the webhook URL's environment variable")
        where = redact_url(str(url)) if item.payload.get("url") else "the team chat webhook"
        host = _host(str(url))
        why = self.deferral(item)
        if why is not None:
            raise Deferred(why)
        body = item.payload.get("body") if "body" in item.payload else {"text": item.payload.get("text", "")}
        mark_sending()
        try:
            resp = requests.post(str(url), json=body, timeout=(min(self.timeout, 5.0), self.timeout),
                                 headers={"Idempotency-Key": item.key})
        except requests.ConnectTimeout as exc:  # no connection: nothing was posted
            self._down[host] = f"{where} did not answer within {self.timeout:g} s; posts to it wait for the next run"
            raise DeliveryError(f"{where} did not answer within {self.timeout:g} s") from exc
        except requests.Timeout as exc:  # connected and sent, no answer: it may have arrived
            self._down[host] = f"{where} did not answer within {self.timeout:g} s; posts to it wait for the next run"
            raise UncertainDelivery(f"{where} did not answer within {self.timeout:g} s") from exc
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                self._down[host] = f"cannot reach {where}; posts to it wait for the next run"
                raise DeliveryError(f"cannot reach {where}") from exc
            raise UncertainDelivery(f"the connection to {where} was lost before its answer") from exc
        except requests.RequestException as exc:  # an invalid URL and the like: trying again changes nothing
            raise PermanentFailure(f"cannot post to {where}: {type(exc).__name__}") from exc
        if resp.status_code >= 500 or resp.status_code in (408, 425, 429):  # a busy or broken receiver: later
            raise DeliveryError(f"{where} answered {resp.status_code}; retried on the next run")
        if resp.status_code >= 400:
            raise PermanentFailure(f"{where} refused the post for good: {resp.status_code} {' '.join(resp.text[:200].split())}")


    def deferral(self, item: OutboxItem) -> str | None:
        """Why posts to this item's host wait for the next run (it did not answer, the budget is used up), or None."""
        host = _host(str(item.payload.get("url") or self.url or ""))
        if self._started is None:
            self._started = self._clock()
        if host not in self._down and self._clock() - self._started > self.budget:
            self._down[host] = f"not posted in this run: its {self.budget:g} s for posting were used up; posted on the next run"
        return self._down.get(host)

    def close(self) -> None:
        """End of the delivery: the next one starts afresh (its own budget, every host given another chance)."""
        self._started, self._down = None, {}


def _host(url: str) -> str:
    m = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^/?#]*@)?([^/?#]*)", url)
    return m.group(1).lower() if m else url


def _never_connected(exc: BaseException) -> bool:
    """Whether requests failed while connecting (refused, no such host): the request never left."""
    from urllib3.exceptions import NewConnectionError

    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, NewConnectionError):
            return True
        reason = getattr(seen, "reason", None)
        if isinstance(reason, NewConnectionError):
            return True
        nxt = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = nxt or seen.__cause__ or seen.__context__
    return False
