"""Normalisers shared by check (safe fixes), dedupe (match keys) and lead capture.

Each returns the canonical form, or None when the input cannot be normalised without guessing.
Pure functions, no I/O (country names in French come from pycountry's bundled translations).
"""
from __future__ import annotations

import gettext
import re
import unicodedata
from functools import lru_cache
from typing import Any, Mapping

import phonenumbers
import pycountry

from crm_sheets.model.phone_valid import is_valid_number

_SPACES = re.compile(r"\s+")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


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
    return s if EMAIL_RE.match(s) else None


def is_email(text: str) -> bool:
    return normalize_email(text) is not None


def normalize_phone(text: str, default_region: str | None = "US") -> str | None:
    """E.164 (+33612345678), or None when the number is not valid for its region."""
    num = _phone(str(text).strip(), default_region or None)
    if num is None:
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def phone_extension(text: str, default_region: str | None = "US") -> str | None:
    """The extension of a valid number ("+1 212 555 0100 x12" -> "12"): E.164 cannot hold it."""
    num = _phone(str(text).strip(), default_region or None)
    return (num.extension or None) if num is not None else None


@lru_cache(maxsize=65536)
def _phone(s: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    # Cached: a sheet repeats the same switchboard numbers, and parsing is the slow part of a check.
    num = _parse_phone(s, region)
    return num if num is not None and is_valid_number(num) else None


def _parse_phone(s: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    if not s:
        return None
    if s.startswith("00"):
        s = "+" + s[2:]
    if s.startswith("+") and _PLAIN_INTL.fullmatch(s) is not None:
        num = _parse_plain(s)
        if num is not _LIBRARY:
            return num
    elif _PLAIN_NATIONAL.fullmatch(s) is not None:
        num = _parse_national(s, region)
        if num is not _LIBRARY:
            return num
    try:
        return phonenumbers.parse(s, None if s.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None


# A number written with its country code in ASCII digits, spaces and hyphens alone ("+33 6 12 34 56 78",
# "+1 206-552-3279", "+441132869263"): most of the numbers a sheet holds. phonenumbers.parse finds nothing to cut
# out of such a text (no extension, no second number, no phone-context, nothing before or after the digits), so its
# reading is that of its digits: _parse_plain follows parse from the country code on, with the library's own steps
# (tests/test_phone_valid.py compares the two on every region's numbers written in many ways). A third of the cost
# of parsing a first check's numbers at 30k sample leads was the library looking for what such a text cannot hold.
_PLAIN_INTL = re.compile(r"\+[0-9](?:[0-9 -]*[0-9])?")
_LIBRARY = object()  # _parse_plain: leave this text to phonenumbers.parse


def _parse_plain(s: str) -> Any:
    """phonenumbers.parse(s, None) of a text _PLAIN_INTL matches: the number, None when parse raises, or _LIBRARY."""
    try:
        util = phonenumbers.phonenumberutil
        digits = s[1:].replace(" ", "").replace("-", "")
        if len(digits) < 3:
            return _LIBRARY  # (not a viable number: parse raises, but let it say so)
        cc, national = util._extract_country_code(digits)
        if cc == 0:
            return _LIBRARY  # parse tries again without the plus, then raises
        if len(national) < util._MIN_LENGTH_FOR_NSN:
            return None
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
            cc, phonenumbers.region_code_for_country_code(cc))
        if metadata is None:
            return _LIBRARY
        return _national_number(national, metadata)
    except AttributeError:  # another version of the library, its inner steps named otherwise: it parses
        return _LIBRARY


# A number written without its country code in ASCII digits, spaces, hyphens, dots and brackets ("(206) 680-2993",
# "206.555.0100", "06 12 34 56 78"), read in a region: a third of the sample's numbers. phonenumbers.parse reads
# such a text as its digits (nothing before the first digit or after the last one to cut, no extension, which needs
# a letter, '#', ',' or ';', and it is viable with three digits or more), and normalises it twice, a character at a
# time (half of its cost). _parse_national follows parse from there with the library's own steps; a text that may
# start with the region's code for calling abroad or with its own country code is left to parse
# (tests/test_phone_valid.py compares the two on every region's numbers written in many ways).
_PLAIN_NATIONAL = re.compile(r"[0-9 ().-]+")
_SEPARATORS = str.maketrans("", "", " ().-")


def _parse_national(s: str, region: str | None) -> Any:
    """phonenumbers.parse(s, region) of a text _PLAIN_NATIONAL matches: the number, None when parse raises, or
    _LIBRARY."""
    try:
        util = phonenumbers.phonenumberutil
        digits = s.translate(_SEPARATORS)
        if len(digits) < 3 or len(s) > util._MAX_INPUT_STRING_LENGTH or region not in phonenumbers.SUPPORTED_REGIONS:
            return _LIBRARY  # (two digits may be viable, a long text is not, nor a region parse does not know)
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
        if metadata is None or digits.startswith(str(metadata.country_code)):
            return _LIBRARY  # the region's country code typed without its plus: parse decides whether it is one
        if metadata.international_prefix is not None and util.re_compile(metadata.international_prefix).match(digits):
            return _LIBRARY  # what the region dials before a country code: parse decides whether it is one
        return _national_number(digits, metadata)
    except AttributeError:  # another version of the library, its inner steps named otherwise: it parses
        return _LIBRARY


def _national_number(national: str, metadata: Any) -> Any:
    """The number parse makes of the national digits ``national`` under the metadata's country code (its national
    prefix stripped when what is left can still be a number there), or None when parse raises."""
    util = phonenumbers.phonenumberutil
    if len(national) < util._MIN_LENGTH_FOR_NSN:
        return None
    _carrier, potential, _ = util._maybe_strip_national_prefix_carrier_code(national, metadata)
    if util._test_number_length(potential, metadata) not in (
            util.ValidationResult.TOO_SHORT, util.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
            util.ValidationResult.INVALID_LENGTH):
        national = potential
    if len(national) < util._MIN_LENGTH_FOR_NSN or len(national) > util._MAX_LENGTH_FOR_NSN:
        return None
    num = phonenumbers.PhoneNumber(country_code=metadata.country_code)
    util._set_italian_leading_zeros_for_phone_number(national, num)
    num.national_number = int(national)
    return num


_UNREAD = object()  # PhoneBook: no verdict for this text yet


class PhoneBook:
    """The phone numbers of one run (a check of 100,000 leads sees 130,000 distinct ones), each text
    parsed once per region and each number validated once, whatever way it was typed.

    Gives the same answers as normalize_phone and phone_extension. Unbounded, so make one per run:
    the module's LRU cache holds 65,536 numbers and would evict them before a second pass (check
    --fix checks the fixed data again) comes back to them. Give it the ``state()`` of an earlier run and
    it answers from those verdicts for the texts it already read. Validity depends only on the number
    (country code and national significant number), so ``+33 6 12 34 56 78`` and the E.164
    ``+33612345678`` that check --fix writes for it are validated once between them.
    """

    # Version of the saved verdicts' layout; with phonenumbers' own version (its metadata), it says
    # whether verdicts saved by an earlier run still hold.
    STATE_FORMAT = 1

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        # (E.164, extension) per text and region, not the PhoneNumber: 130,000 of those weigh 100 MB.
        self._numbers: dict[tuple[str, str | None], tuple[str, str | None] | None] = {}
        self._valid: dict[tuple, bool] = {}
        # (E.164, extension) or None per text written with its country code (+44..., 0044...): _parse_phone reads
        # those without the region, so one text read in several regions (a row's country, then the default) is
        # parsed once (3 % of a first check's parses at 10k sample leads)
        self._intl: dict[str, tuple[str, str | None] | None] = {}
        self._saved = self._read_state(state)  # verdicts of earlier runs, same key and value as _numbers
        self._pass: set[tuple[str, str | None]] = set()  # the texts read since start_pass(): what state() keeps

    def start_pass(self) -> None:
        """A new look at the data begins (check --fix checks the fixed data again): state() keeps the texts
        read from here on, the ones the workbook holds once the fixes are written, so the next run's state
        comes out the same."""
        self._pass = set()

    def read(self, text: str, default_region: str | None = "US") -> tuple[str, str | None] | None:
        """(E.164, extension or None) of the valid number typed, or None (normalize_phone's reading)."""
        key = (text, default_region or None)
        self._pass.add(key)
        found = self._numbers.get(key, _UNREAD)
        if found is not _UNREAD:
            return found
        found = self._saved.get(key, _UNREAD)
        if found is not _UNREAD:
            self._numbers[key] = found
            return found
        stripped = str(text).strip()
        intl = stripped.startswith(("+", "00"))
        found = self._intl.get(stripped, _UNREAD) if intl else _UNREAD
        if found is _UNREAD:
            found = self._parse(stripped, default_region or None)
            if intl:
                self._intl[stripped] = found
        if found is not None and found[1] is None and found[0] != text:
            # the E.164 that check --fix writes for it reads as itself in any region (a leading +): its
            # second pass and the next run find it here instead of parsing it
            self._numbers.setdefault((found[0], key[1]), (found[0], None))
        self._numbers[key] = found
        return found

    def read_again(self, pairs: list[tuple[str, str]], default: str | None) -> None:
        """Read each (text, region) pair, then in ``default`` those not valid in their region: what a check reads of
        numbers whose verdicts it has (a second look, or rows not checked again), so state() keeps them. The same
        as read() for each, in the same order, with the lookups of texts this book answers already made here (a
        call to read() per text was most of the cost of reading 45,000 numbers again at 30k sample leads)."""
        numbers, saved, mark, read = self._numbers, self._saved, self._pass.add, self.read
        for text, region in pairs:
            for place in (region, default):
                key = (text, place or None)
                found = numbers.get(key, _UNREAD)
                if found is _UNREAD:
                    found = saved.get(key, _UNREAD)
                    if found is _UNREAD:
                        found = read(text, place)
                    else:
                        numbers[key] = found
                mark(key)
                if found is not None or region == default:
                    break

    def _parse(self, stripped: str, region: str | None) -> tuple[str, str | None] | None:
        num = _parse_phone(stripped, region)
        if num is None:
            return None
        # is_valid_number reads these fields only (region_code_for_number and the national
        # significant number), so numbers equal in them are equally valid.
        ident = (num.country_code, num.national_number, num.italian_leading_zero, num.number_of_leading_zeros)
        valid = self._valid.get(ident)
        if valid is None:
            valid = self._valid[ident] = is_valid_number(num)
        if not valid:
            return None
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164), num.extension or None

    def state(self) -> dict[str, Any]:
        """The verdicts of this run's numbers as JSON (PhoneBook(state) reads them back): numbers no longer
        in the workbook are left out, so the state follows the workbook instead of growing forever.

        ``verdicts`` maps region -> text -> E.164, [E.164, extension], or None for an invalid number.
        """
        verdicts: dict[str, dict[str, Any]] = {}
        for (text, region), found in self._numbers.items():
            if type(text) is str and (text, region) in self._pass:
                value = None if found is None else (found[0] if found[1] is None else list(found))
                verdicts.setdefault(region or "", {})[text] = value
        return {"format": self.STATE_FORMAT, "phonenumbers": phonenumbers.__version__, "verdicts": verdicts}

    @classmethod
    def _read_state(cls, state: Mapping[str, Any] | None) -> dict[tuple[str, str | None], tuple[str, str | None] | None]:
        if not isinstance(state, Mapping) or state.get("format") != cls.STATE_FORMAT:
            return {}
        if state.get("phonenumbers") != phonenumbers.__version__:
            return {}  # new metadata: a number's validity may have changed
        out: dict[tuple[str, str | None], tuple[str, str | None] | None] = {}
        try:
            for region, texts in (state.get("verdicts") or {}).items():
                for text, value in texts.items():
                    if value is None or isinstance(value, str):
                        out[(text, region or None)] = None if value is None else (value, None)
                    else:
                        e164, extension = value
                        out[(text, region or None)] = (str(e164), str(extension))
        except (AttributeError, TypeError, ValueError):
            return {}  # not what state() writes (edited by hand?): a cache, so start afresh
        return out

    def e164(self, text: str, default_region: str | None = "US") -> str | None:
        """normalize_phone(text, default_region)."""
        found = self.read(text, default_region)
        return found[0] if found is not None else None

    def extension(self, text: str, default_region: str | None = "US") -> str | None:
        """phone_extension(text, default_region)."""
        found = self.read(text, default_region)
        return found[1] if found is not None else None


# Domains people mean when they type a near miss of them. Real domains that are one letter away from
# these (mail.com, gmx.com, live.com) are never "corrected": the typo must keep the first letter and
# be one edit (or one swap) away from a provider's name.
_PROVIDERS = ("gmail", "googlemail", "hotmail", "yahoo", "outlook", "icloud", "protonmail", "wanadoo", "laposte")
_REAL_NAMES = frozenset({
    "gmail", "googlemail", "hotmail", "yahoo", "ymail", "outlook", "icloud", "protonmail", "proton", "wanadoo",
    "laposte", "mail", "gmx", "live", "me", "mac", "msn", "aol", "free", "orange", "sfr", "web", "email",
})
_TLD_TYPOS = {"co": "com", "con": "com", "cm": "com", "om": "com", "comm": "com", "cmo": "com", "ocm": "com",
              "vom": "com", "xom": "com", "cim": "com", "coom": "com", "fe": "fr", "ft": "fr", "frr": "fr"}


def email_typo(email: str) -> str | None:
    """The address with a common provider's domain spelt right (ana@gmial.com -> ana@gmail.com), else None."""
    local, at, domain = str(email).strip().lower().rpartition("@")
    if not at or not local:
        return None
    fixed = domain_typo(domain)
    return f"{local}@{fixed}" if fixed else None


@lru_cache(maxsize=8192)
def domain_typo(domain: str) -> str | None:
    """gmial.com -> gmail.com, gmail.co -> gmail.com, hotmail.con -> hotmail.com; None when it looks right."""
    name, dot, tld = domain.lower().partition(".")
    if not dot or not name:
        return None
    if name in _PROVIDERS:
        best = name
    elif name in _REAL_NAMES or len(name) < 4:
        return None
    else:
        from rapidfuzz.distance import OSA

        near = [p for p in _PROVIDERS if p[0] == name[0] and OSA.distance(name, p) == 1]
        if len(near) != 1:
            return None
        best = near[0]
    fixed = f"{best}.{_TLD_TYPOS.get(tld, tld)}"  # only providers' TLDs are corrected: acme.co is real
    return fixed if fixed != domain.lower() else None


_URL_RE = re.compile(r"^(?:https?://)?(?:[^\s/:@.]+\.)+[^\s/:@.\d][^\s/:@.]+(?::\d{1,5})?(?:[/?#]\S*)?$", re.IGNORECASE)


def is_url(text: str) -> bool:
    """A web address, with or without http(s):// (www.acme.com, https://acme.fr/contact)."""
    return bool(_URL_RE.match(str(text).strip()))


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
    code = aliases.get(fold(s)) or _local_names().get(fold(s))
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


def country_name(code: str, lang: str = "en") -> str:
    """The name a person writes for a country (DE -> Germany, fr: Allemagne); country() reads it back."""
    c = pycountry.countries.get(alpha_2=str(code).upper())
    if c is None:
        return str(code)
    name = _NAME_OVERRIDES.get(c.alpha_2) or getattr(c, "common_name", None) or c.name
    if lang == "en":
        return name
    local = _translation(lang).gettext(getattr(c, "common_name", None) or c.name)
    # ISO's "Russie, Fédération de" is not what anyone types: keep the part before the comma.
    return local.split(", ")[0] if ", " in local else local


_NAME_OVERRIDES = {"RU": "Russia", "IR": "Iran", "SY": "Syria", "MD": "Moldova", "TZ": "Tanzania", "VE": "Venezuela", "KP": "North Korea", "LA": "Laos", "FM": "Micronesia", "PS": "Palestine", "VA": "Vatican City", "CD": "DR Congo", "BN": "Brunei", "CV": "Cape Verde", "CI": "Ivory Coast", "CZ": "Czechia", "TR": "Turkey"}


@lru_cache(maxsize=4)
def _translation(lang: str) -> gettext.NullTranslations:
    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)


@lru_cache(maxsize=1)
def _local_names() -> dict[str, str]:
    """Folded country names in the workbook languages (and our short English names) -> alpha-2."""
    out: dict[str, str] = {}
    for lang in ("fr",):
        t = _translation(lang)
        for c in pycountry.countries:
            for n in (c.name, getattr(c, "common_name", None), getattr(c, "official_name", None)):
                if n:
                    local = t.gettext(n)
                    out.setdefault(fold(local), c.alpha_2)
                    out.setdefault(fold(local.split(", ")[0]), c.alpha_2)
    for code, name in _NAME_OVERRIDES.items():
        out[fold(name)] = code
    return out


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
