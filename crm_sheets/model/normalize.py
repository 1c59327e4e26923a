"""Normalisers shared by check (safe fixes), dedupe (match keys) and lead capture.

Each returns the canonical form, or None when the input cannot be normalised without guessing.
Pure functions, no I/O.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
import pycountry

_SPACES = re.compile(r"\s+")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def clean_spaces(text: str) -> str:
    """Trim and collapse runs of white space (including non-breaking spaces) to one space."""
    return _SPACES.sub(" ", text.replace("\u00a0", " ")).strip()


def fold(text: str) -> str:
    """Lower-case, accents removed, spaces collapsed: for comparing, never for writing back."""
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return clean_spaces(s).lower()


def normalize_email(text: str) -> str | None:
    """Trimmed, lower-cased email, or None when it is not an email address."""
    s = clean_spaces(str(text)).replace(" ", "").lower()
    if s.startswith("mailto:"):
        s = s[7:]
    return s if _EMAIL_RE.match(s) else None


def is_email(text: str) -> bool:
    return normalize_email(text) is not None


def normalize_phone(text: str, default_region: str | None = "US") -> str | None:
    """E.164 (+33612345678), or None when the number is not valid for its region."""
    s = str(text).strip()
    if not s:
        return None
    if s.startswith("00"):
        s = "+" + s[2:]
    try:
        num = phonenumbers.parse(s, None if s.startswith("+") else (default_region or None))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)
def country(text: str) -> tuple[str, str] | None:
    """(ISO alpha-2, English short name) for a country name, alpha-2/alpha-3 code or common variant."""
    s = clean_spaces(str(text))
    if not s:
        return None
    aliases = {
        "uk": "GB", "england": "GB", "great britain": "GB", "usa": "US", "u.s.": "US", "u.s.a.": "US",
        "united states of america": "US", "america": "US", "deutschland": "DE", "allemagne": "DE",
        "espagne": "ES", "espana": "ES", "italie": "IT", "suisse": "CH", "belgique": "BE",
        "royaume-uni": "GB", "etats-unis": "US", "pays-bas": "NL", "holland": "NL",
    }
    code = aliases.get(fold(s))
    try:
        c = pycountry.countries.lookup(code or s)
    except LookupError:
        try:
            found = pycountry.countries.search_fuzzy(s)
        except LookupError:
            return None
        if len(found) != 1:
            return None
        c = found[0]
    return c.alpha_2, getattr(c, "common_name", None) or c.name


def country_code(text: str) -> str | None:
    found = country(text)
    return found[0] if found else None


def is_currency(code: str) -> bool:
    return pycountry.currencies.get(alpha_3=str(code).strip().upper()) is not None


def title_case_name(text: str) -> str:
    """'JEAN-PIERRE DE LA TOUR' -> 'Jean-Pierre de la Tour'; 'mcdonald' -> 'McDonald'."""
    particles = {"de", "du", "des", "la", "le", "van", "von", "der", "den", "da", "di", "del", "y"}
    words = clean_spaces(text).lower().split(" ")
    out = []
    for i, w in enumerate(words):
        if i > 0 and w in particles:
            out.append(w)
            continue
        parts = []
        for part in re.split(r"([-'’])", w):
            if part in ("-", "'", "’") or not part:
                parts.append(part)
            elif part.startswith("mc") and len(part) > 2:
                parts.append("Mc" + part[2:].capitalize())
            else:
                parts.append(part.capitalize())
        out.append("".join(parts))
    return " ".join(out)


def needs_title_case(text: str) -> bool:
    """True for a name typed ALL CAPS or all lower case (with at least two letters)."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 2 and (text == text.upper() or text == text.lower())
