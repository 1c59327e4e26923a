"""Match keys for dedupe: the comparable form of emails, phones, names, companies, domains and cities.

Builds on crm_sheets.model.normalize (shared with check); what is specific to matching lives here:
provider rules for email aliases, nicknames, legal suffixes, phonetic codes. Pure functions, no I/O.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import phonenumbers

from crm_sheets.model.normalize import country_code, fold, normalize_email

# Providers that deliver "a.b+news@" to "ab@": dots are ignored only by Gmail; plus-tags by many.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
_PLUS_TAGS = {
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "icloud.com", "me.com",
    "mac.com", "protonmail.com", "proton.me", "pm.me", "fastmail.com", "fastmail.fm", "yandex.ru", "zoho.com",
}
# A shared domain says nothing about the company.
FREE_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.fr", "yahoo.co.uk", "ymail.com", "hotmail.com", "hotmail.fr",
    "hotmail.co.uk", "outlook.com", "outlook.fr", "live.com", "live.fr", "msn.com", "aol.com", "icloud.com", "me.com",
    "mac.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "orange.fr", "wanadoo.fr", "free.fr", "laposte.net",
    "sfr.fr", "neuf.fr", "protonmail.com", "proton.me", "pm.me", "yandex.ru", "yandex.com", "mail.ru", "qq.com",
    "163.com", "comcast.net", "btinternet.com", "t-online.de", "libero.it", "fastmail.com", "zoho.com",
    "example.com", "example.org", "example.net",
    # internet providers' mailboxes are private ones too
    "bigpond.com", "bigpond.net.au", "optusnet.com.au", "iinet.net.au", "tpg.com.au", "telstra.com",
    "shaw.ca", "rogers.com", "sympatico.ca", "videotron.ca", "verizon.net", "att.net", "sbcglobal.net", "cox.net",
    "charter.net", "earthlink.net", "bellsouth.net", "virginmedia.com", "sky.com", "talktalk.net", "ntlworld.com",
    "blueyonder.co.uk", "live.co.uk", "hotmail.de", "hotmail.es", "hotmail.it", "outlook.de", "yahoo.de",
    "yahoo.es", "yahoo.it", "yahoo.com.au", "yahoo.ca", "yahoo.co.in", "arcor.de", "freenet.de", "posteo.de",
    "mailbox.org", "tutanota.com", "skynet.be", "telenet.be", "bluewin.ch", "xs4all.nl", "ziggo.nl", "kpnmail.nl",
    "home.nl", "planet.nl", "eircom.net", "tiscali.it", "alice.it", "virgilio.it", "aim.com", "rediffmail.com",
    "seznam.cz", "wp.pl", "o2.pl", "onet.pl", "interia.pl", "naver.com", "hanmail.net", "uol.com.br", "terra.com.br",
})
# Addresses several colleagues read: equal emails of this kind do not make two people one.
ROLE_LOCALS = frozenset({
    "info", "contact", "hello", "sales", "office", "admin", "support", "team", "enquiries", "inquiries", "mail",
    "accounts", "billing", "hr", "jobs", "marketing", "noreply", "no-reply", "bonjour", "service", "help",
})
LEGAL_SUFFIXES = frozenset({
    "inc", "incorporated", "llc", "ltd", "limited", "sas", "sasu", "sarl", "eurl", "sa", "gmbh", "ag", "bv", "nv",
    "spa", "srl", "sl", "co", "corp", "corporation", "company", "plc", "kg", "oy", "ab", "pty", "lp", "llp",
    "the", "and",
})

# Nickname -> the formal names it may stand for. Cheap and covers the common English and French ones.
_NICKNAMES = {
    "robert": "bob bobby rob robbie bert", "william": "bill billy will willy liam", "james": "jim jimmy jamie",
    "john": "jack johnny jon", "michael": "mike mikey mick", "david": "dave davy", "daniel": "dan danny",
    "thomas": "tom tommy", "christopher": "chris kit", "christine": "chris chrissy tina", "richard": "rick ricky dick rich",
    "charles": "charlie chuck", "joseph": "joe joey", "anthony": "tony", "edward": "ed eddie ted ned",
    "elizabeth": "liz beth betty lizzie eliza libby", "katherine": "kate katie kathy cathy kat kathryn catherine",
    "margaret": "maggie meg peggy margie", "jennifer": "jen jenny", "patricia": "pat patty tricia",
    "patrick": "pat paddy", "alexander": "alex sasha", "alexandra": "alex sandra", "alexandre": "alex",
    "benjamin": "ben benny", "samuel": "sam sammy", "samantha": "sam", "nicholas": "nick nico nicolas",
    "matthew": "matt", "andrew": "andy drew", "steven": "steve stephen", "jonathan": "jon jonny",
    "joshua": "josh", "timothy": "tim", "gregory": "greg", "jeffrey": "jeff", "kenneth": "ken kenny",
    "ronald": "ron ronnie", "donald": "don donnie", "susan": "sue susie", "deborah": "deb debbie",
    "rebecca": "becky becca", "victoria": "vicky tori", "jessica": "jess jessie", "abigail": "abby",
    "emily": "emmy", "olivia": "liv", "isabelle": "bella izzy isabella isabel", "frederick": "fred freddie",
    "henry": "harry hank", "lawrence": "larry", "leonard": "leo len", "peter": "pete", "raymond": "ray",
    "francis": "frank", "franklin": "frank", "philip": "phil", "phillip": "phil", "gerald": "gerry jerry",
    "nathaniel": "nate nathan", "zachary": "zach zack", "jacqueline": "jackie", "pamela": "pam",
    "cynthia": "cindy", "kimberly": "kim", "stephanie": "steph", "dorothy": "dot dottie", "sophia": "sophie",
    "sebastian": "basti seb sebastien", "guillaume": "guillaume", "frederic": "fred", "dominique": "dom", "jean-baptiste": "jb",
}
_CANON: dict[str, tuple[str, ...]] = {}
for _formal, _nicks in _NICKNAMES.items():
    _CANON.setdefault(_formal, ())
    _CANON[_formal] = tuple(dict.fromkeys((*_CANON[_formal], _formal)))
    for _n in _nicks.split():
        _CANON[_n] = tuple(dict.fromkeys((*_CANON.get(_n, ()), _formal)))

_NON_WORD = re.compile(r"[^a-z0-9 ]+")
_URL_HEAD = re.compile(r"^[a-z][a-z0-9+.-]*://")


@lru_cache(maxsize=200_000)
def name_key(value: str) -> str:
    """Folded name words: accents, case, punctuation and hyphens do not count ('Jean-Luc' -> 'jean luc')."""
    return _NON_WORD.sub(" ", fold(value).replace("-", " ").replace("'", "")).strip()


def canon_first(first: str) -> tuple[str, ...]:
    """The formal first names a (folded) first name may stand for: ('robert',) for 'bob'."""
    return _CANON.get(first, (first,)) if first else ()


@lru_cache(maxsize=100_000)
def soundex(word: str) -> str:
    """American Soundex of a folded word: 'smith' and 'smyth' -> 'S530'. Cheap phonetic blocking key."""
    word = re.sub(r"[^a-z]", "", word)
    if not word:
        return ""
    codes = {**dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"),
             "l": "4", **dict.fromkeys("mn", "5"), "r": "6"}
    out, last = word[0].upper(), codes.get(word[0], "")
    for ch in word[1:]:
        code = codes.get(ch, "")
        if code and code != last:
            out += code
            if len(out) == 4:
                break
        if ch not in "hw":
            last = code
    return out.ljust(4, "0")


@lru_cache(maxsize=200_000)
def email_key(value: str) -> tuple[str, str]:
    """(canonical address, domain); provider aliases folded: 'J.Doe+news@GoogleMail.com' -> 'jdoe@gmail.com'."""
    email = normalize_email(value) if value else None
    if not email:
        return "", ""
    local, _, domain = email.rpartition("@")
    # Gmail, Outlook, iCloud and the company mail of Google Workspace / Microsoft 365 deliver
    # 'ana+news@' to 'ana@': a plus-tag never names another mailbox in practice.
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS:
        local, domain = local.replace(".", ""), _DOTLESS[domain]
    return f"{local}@{domain}", domain


@lru_cache(maxsize=100_000)
def company_key(value: str) -> str:
    """Company name without legal form or punctuation: 'ACME, Inc.' and 'Acme Ltd' -> 'acme'."""
    s = fold(value).replace("&", " and ").replace("'", "")
    words = [w for w in _NON_WORD.sub(" ", s.replace(".", "")).split() if w not in LEGAL_SUFFIXES]
    return " ".join(words)


@lru_cache(maxsize=100_000)
def website_domain(value: str) -> str:
    """'https://www.Acme.com/about' -> 'acme.com'."""
    s = _URL_HEAD.sub("", fold(value).replace(" ", ""))
    s = s.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    if "@" in s:
        s = s.rpartition("@")[2]
    return s[4:] if s.startswith("www.") else s


def company_domain(email_domain: str, website: str) -> str:
    """The company's own domain, from the website or a non-free email domain; '' when unknown."""
    site = website_domain(website) if website else ""
    if site and "." in site and site not in FREE_DOMAINS:
        return site
    return email_domain if email_domain and email_domain not in FREE_DOMAINS else ""


@lru_cache(maxsize=64)
def _calling_code(region: str) -> str:
    code = phonenumbers.country_code_for_region((region or "US").upper())
    return str(code) if code else ""


@lru_cache(maxsize=200_000)
def phone_key(value: str, default_region: str = "US") -> str:
    """E.164 digits without '+', cheaply: '06 12 34 56 78' in FR -> '33612345678'; '' when too short.

    Equal to crm_sheets.model.normalize.normalize_phone for valid numbers, without its validity check
    (a thousand times faster, and a typed number's country rules do not matter for matching).
    """
    s = value.strip()
    if s.endswith(".0") and s[:-2].isdigit():
        s = s[:-2]  # a number stored in a number cell and read back as a float: 5228400.0
    digits = re.sub(r"\D", "", s.split("ext", 1)[0].split("x", 1)[0])
    if s.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    else:
        code = _calling_code(default_region)
        if code == "1":
            digits = digits if len(digits) == 11 and digits.startswith("1") else "1" + digits
        elif digits.startswith(code) and len(digits) > 10:
            pass  # typed with its country code but no '+'
        else:
            digits = code + digits.lstrip("0")
    return digits if 8 <= len(digits) <= 15 else ""


@lru_cache(maxsize=4096)
def region_of(country: str, default: str = "US") -> str:
    """The phone region of a record's Country cell ('United Kingdom', 'UK', 'DE' -> GB, GB, DE): a number
    typed without its country code ('0141 496 0123') is read as that country's; Settings default_country
    when the cell is empty or not a country."""
    code = country_code(country) if country and country.strip() else None
    return code if code and phonenumbers.country_code_for_region(code) else default


def fold_city(value: str) -> str:
    s = name_key(value)
    return s.replace("saint ", "st ").replace("sainte ", "ste ")


_KIND_BY_PREFIX: dict[str, bool | None] = {}
_TOLL_FREE = frozenset({"800", "833", "844", "855", "866", "877", "888"})


def mobile_kinds() -> dict[str, Any]:
    """What is_mobile found of the prefixes it looked up, for dedupe's state: the next run's process looks up
    none of them again (the phone library loads a country's numbering plan on its first number: ~0.3 ms each,
    tens of countries in a list). Kept with the library's version, which decides the kinds."""
    return {"version": phonenumbers.__version__, "kinds": dict(_KIND_BY_PREFIX)}


def know_mobile_kinds(kept: Any) -> None:
    """The kinds mobile_kinds() kept in an earlier run, known again (ignored when of another version or damaged)."""
    if not isinstance(kept, dict) or kept.get("version") != phonenumbers.__version__ or not isinstance(kept.get("kinds"), dict):
        return
    for prefix, kind in kept["kinds"].items():
        if isinstance(prefix, str) and len(prefix) == 5 and prefix.isdigit() and (kind is None or isinstance(kind, bool)):
            _KIND_BY_PREFIX.setdefault(prefix, kind)


def is_mobile(key: str) -> bool | None:
    """Is this phone key a mobile (one person's number)? None where the numbering plan does not say
    (the US and Canada), False for fixed lines, toll-free and the like.

    The kind of a number follows from its first digits (+44 7..., +33 6..., +49 15...): it is looked
    up once per 5-digit prefix, as phonenumbers takes 50 µs a number.
    """
    if key.startswith("1"):  # North America: a mobile looks like a landline, only toll-free is told apart
        return False if key[1:4] in _TOLL_FREE else None
    if key[:5] in _KIND_BY_PREFIX:
        return _KIND_BY_PREFIX[key[:5]]
    try:
        kind = phonenumbers.number_type(phonenumbers.parse("+" + key, None))
    except phonenumbers.NumberParseException:
        return None
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return None  # not a valid number: says nothing of its prefix either
    out = None if kind == phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE else kind == phonenumbers.PhoneNumberType.MOBILE
    _KIND_BY_PREFIX[key[:5]] = out
    return out


# Street words as written in full and abbreviated, to one form; directions to their letter.
_STREET_WORDS = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "avn": "ave", "boulevard": "blvd", "blv": "blvd",
    "bd": "blvd", "road": "rd", "drive": "dr", "lane": "ln", "place": "pl", "court": "ct", "square": "sq",
    "highway": "hwy", "parkway": "pkwy", "terrace": "ter", "circle": "cir", "expressway": "expy", "suite": "ste",
    "north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw",
    "southeast": "se", "southwest": "sw", "saint": "st", "mount": "mt", "fort": "ft",
    "strasse": "str", "straße": "str", "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th",
    "fifth": "5th", "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
}
# Street types: 'W Ogden' and 'W Ogden Ave' are one street.
STREET_TYPES = frozenset("st ave blvd rd dr ln pl ct sq hwy pkwy ter cir expy way".split())
DIRECTIONS = frozenset("n s e w ne nw se sw".split())
_ORDINAL = re.compile(r"\d+(st|nd|rd|th)")
# Where the street part ends: a cross street, a floor, a unit ('at 55th st.', 'between bowery and pell', '1st floor').
_ADDRESS_TAIL = re.compile(r"\b(at|off|near|between|btwn|corner|cnr|and|floor|fl|suite|ste|unit|apt|room|rm|bldg|po)\b.*$")


@lru_cache(maxsize=100_000)
def address_key(value: str) -> tuple[str, str]:
    """(house number, street) of a street address, in one spelling: '435 S. La Cienega Blv.' and
    '435 south la cienega boulevard' -> ('435', 's la cienega blvd'). ('', '') for an empty one."""
    s = _NON_WORD.sub(" ", fold(value).replace("-", " ").replace("'", "").replace(".", " ").replace("#", " # "))
    words = [_STREET_WORDS.get(w, w) for w in s.split()]
    number = ""
    if words and words[0][:1].isdigit() and not (_ORDINAL.fullmatch(words[0]) and set(words[1:]) <= STREET_TYPES):
        number = words.pop(0)  # ('3rd st.' is a street, not number 3rd of 'st')
    elif len(words) > 1 and words[-1][:1].isdigit() and not words[-1].endswith(("st", "nd", "rd", "th")):
        number = words.pop()  # 'Hauptstraße 12', 'rue de Rivoli 5'
    street = " ".join(words)
    street = _ADDRESS_TAIL.sub("", street).strip() if len(words) > 2 else street
    # The street ends at its type: what follows is a direction, a building or a mall, often left out
    # ('2355 peachtree rd. ne', '2637 peachtree rd. peachtree house condominium').
    words = street.split()
    for k, w in enumerate(words[1:], 1):
        if w in STREET_TYPES and any(x not in DIRECTIONS for x in words[:k]):
            street = " ".join(words[:k + 1])
            break
    return number, street
