"""Secrets out of every text crm-sheets writes: sheets, the outbox file, logs, --json and error lines.

One function, `redact(text)`. Values registered as secrets (the chat webhook URL, the SMTP password) and
their telling parts become "[redacted]", and so do the usual shapes of a secret anywhere: URL user-info
(https://user:pass@host), query values (?token=...), token-like path segments (a Slack hook's last part),
"Bearer ..." and "password=..." pairs. Pure string work, no I/O.
"""
from __future__ import annotations

import logging
import re
from typing import Iterable
from urllib.parse import parse_qsl, urlsplit

MASK = "[redacted]"
_MIN_SECRET = 6  # shorter registered parts would blank ordinary words
_secrets: set[str] = set()

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>\"'`)}]+")
_PAIR = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?token|client[_-]?secret|signature|sig)"
    r"(\s*[=:]\s*)(\"?)[^\s&\"',;)]+"
)
_URL_PARTS = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", re.S)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
_AUTHORIZATION = re.compile(r"(?i)\b(authorization\s*[:=]\s*)(\w+\s+)?[^\s\"',;]+")


def register_secret(value: str | None) -> None:
    """Never write ``value`` (nor its telling parts, for a URL) in any text from now on, in this process."""
    value = str(value or "").strip()
    if len(value) < _MIN_SECRET:
        return
    parts = {value}
    if "://" in value:
        parts |= _url_parts(value)
    _secrets.update(p for p in parts if len(p) >= _MIN_SECRET)


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret replaced by [redacted]: registered ones, ``secrets`` and the usual shapes."""
    if text is None:
        return ""
    out = str(text)
    extra = set()
    for s in secrets:
        s = str(s or "").strip()
        if len(s) >= _MIN_SECRET:
            extra.add(s)
            if "://" in s:
                extra |= {p for p in _url_parts(s) if len(p) >= _MIN_SECRET}
    for s in sorted(_secrets | extra, key=len, reverse=True):  # the whole URL before its parts
        if s in out:
            out = out.replace(s, MASK)
    out = _URL.sub(lambda m: redact_url(m.group(0)), out)
    out = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", out)
    out = _AUTHORIZATION.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{MASK}", out)
    return _PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}", out)


def redact_url(url: str) -> str:
    """A URL a person may see: scheme, host and plain path segments; user-info, query values, token-like
    segments and the fragment hidden. Parsed by hand: a URL in an error message need not be valid."""
    m = _URL_PARTS.match(url)
    if not m:
        return MASK
    scheme, authority, path, query, fragment = m.group(1, 2, 3, 4, 5)
    host = authority.rpartition("@")[2]
    out = scheme + (f"{MASK}@" if "@" in authority else "") + host
    out += "/".join(MASK if _looks_secret(seg) else seg for seg in path.split("/"))
    if query is not None:
        pairs = [pair.partition("=")[0] for pair in query.split("&") if pair]
        out += "?" + "&".join(f"{k}={MASK}" for k in pairs)
    return out + (f"#{MASK}" if fragment else "")


def _url_parts(url: str) -> set[str]:
    """What of a secret URL could show up on its own: an HTTP library's error names the path and query
    without the host, user-info appears alone, a token is a path segment or a query value."""
    try:
        u = urlsplit(url)
    except ValueError:
        return set()
    parts = set()
    if u.path not in ("", "/") or u.query:
        target = u.path + (f"?{u.query}" if u.query else "")
        parts |= {target, u.netloc + target}
    if u.query:
        parts.add(u.query)
        parts |= {v for _, v in parse_qsl(u.query)}
    if "@" in u.netloc:
        parts.add(u.netloc.rpartition("@")[0])
    if u.password:
        parts.add(u.password)
    parts |= {seg for seg in u.path.split("/") if _looks_secret(seg)}
    return parts


def _looks_secret(segment: str) -> bool:
    """A path segment that reads as a token rather than a word: long, or letters mixed with digits."""
    if len(segment) >= 24:
        return True
    has_digit = any(c.isdigit() for c in segment)
    has_alpha = any(c.isalpha() for c in segment)
    return len(segment) >= 12 and has_digit and has_alpha


class RedactingFilter(logging.Filter):
    """Put on a log handler: every record it writes is redacted (message, arguments and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
