"""A phone number is valid or invalid exactly as the phone library says (check and capture read numbers through
crm_sheets.model.phone_valid, which reads the library's metadata once per region instead of per number)."""
from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from crm_sheets.model.normalize import PhoneBook, normalize_phone
from crm_sheets.model.phone_valid import is_valid_number

_TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE, PhoneNumberType.PREMIUM_RATE,
          PhoneNumberType.SHARED_COST, PhoneNumberType.VOIP, PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.PAGER,
          PhoneNumberType.UAN, PhoneNumberType.VOICEMAIL)


def _numbers(seed: int = 7, random_count: int = 20_000) -> list[phonenumbers.PhoneNumber]:
    """Every region's example number of every type, non-geographic ones, near misses of each (a digit changed,
    dropped or added) and random numbers under every calling code (and some none has), some with Italian zeros."""
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in _TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                out.append(example)
    for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(cc)
        if example is not None:
            out.append(example)
    rnd = random.Random(seed)
    for example in list(out):
        digits = str(example.national_number)
        for _ in range(3):
            d = list(digits)
            d[rnd.randrange(len(d))] = str(rnd.randrange(10))
            changed = "".join(d)
            for v in (changed, changed[:-1], changed + str(rnd.randrange(10))):
                if v:
                    out.append(phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(v)))
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE) + [0, 888, 999]
    for _ in range(random_count):
        n = phonenumbers.PhoneNumber(country_code=rnd.choice(codes), national_number=rnd.randrange(10, 10 ** rnd.randrange(3, 16)))
        if rnd.random() < 0.1:
            n.italian_leading_zero = True
            n.number_of_leading_zeros = rnd.choice([None, 1, 2])
        out.append(n)
    return out


@pytest.mark.slow  # reads the metadata of every region (~3 s)
def test_validity_is_the_phone_librarys_for_every_calling_code():
    numbers = _numbers()
    valid = [phonenumbers.is_valid_number(n) for n in numbers]
    assert sum(valid) > 2000 and len(valid) - sum(valid) > 2000  # both answers are well represented
    wrong = [n for n, expected in zip(numbers, valid) if is_valid_number(n) != expected]
    assert wrong == []


def test_typed_numbers_read_as_the_phone_library_reads_them():
    # what check's findings and fixes come from: the E.164 of a valid number, None for an invalid one
    typed = ["+1 (212) 555-0100", "212.555.0100", "(415) 555-2671", "+1 800 555 0199", "+44 20 7946 0958",
             "+44 (0)20 7946 0958", "020 7946 0958", "+33 6 12 34 56 78", "0033 6 12 34 56 78", "06 12 34 56 78",
             "+39 06 6982 1234", "+61 2 9374 4000", "+7 495 123-45-67", "+7 727 258 2000", "+1 684 633 1234",
             "+1 264 497 2131", "+1 555 0100", "12345", "+800 1234 5678", "+882 3510 0000", "+49 30 901820",
             "+49 1512 3456789", "+1 212 555 0100 x12", "not a number", "+999 123 456"]
    regions = ["US", "GB", "FR", "DE", None]
    book = PhoneBook()
    for text in typed:
        for region in regions:
            num = None
            s = text.strip()
            try:
                num = phonenumbers.parse("+" + s[2:] if s.startswith("00") else s,
                                         None if s.startswith(("+", "00")) else region)
            except phonenumbers.NumberParseException:
                pass
            expected = (phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
                        if num is not None and phonenumbers.is_valid_number(num) else None)
            assert book.e164(text, region) == expected, (text, region)
            assert normalize_phone(text, region) == expected, (text, region)


@pytest.mark.slow  # formats and parses some 50,000 numbers (~3 s)
def test_the_e164_check_writes_for_a_number_reads_as_a_fresh_book_reads_it():
    # A book answers a valid number's E.164 (what check --fix writes in its place) without parsing it again: the
    # answer must be the one parsing gives, in every region, Italian leading zeros included.
    numbers = [n for n in _numbers(random_count=5_000) if is_valid_number(n)]
    texts = [phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.INTERNATIONAL) for n in numbers]
    texts += [phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.NATIONAL) for n in numbers[::7]]
    assert len(numbers) > 2000
    for region in ("US", "IT", "GB", None):
        book = PhoneBook()
        written = {found[0] for found in map(lambda t: book.read(t, region), texts)
                   if found is not None and found[1] is None}
        assert len(written) > 1000
        assert [book.read(e, region) for e in sorted(written)] == [PhoneBook().read(e, region) for e in sorted(written)]


def _library_parse(text: str, region: str | None = None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


@pytest.mark.slow  # parses some 60,000 texts twice (~4 s)
def test_numbers_written_with_their_country_code_read_as_the_library_parses_them():
    # _parse_phone reads "+<digits, spaces, hyphens>" without phonenumbers.parse's search for extensions and
    # second numbers: the number must be the library's (or None where it raises) for every way such a text comes
    from crm_sheets.model.normalize import _PLAIN_INTL, _parse_phone

    rnd = random.Random(11)
    numbers = _numbers(random_count=8_000)
    texts = []
    for n in numbers:
        for fmt in (phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL):
            texts.append(phonenumbers.format_number(n, fmt))
        e164 = texts[-2]
        texts.append(e164.replace(" ", "-"))
        if len(e164) > 4:  # separators anywhere, a digit dropped or added, the national prefix kept after the code
            cut = rnd.randrange(2, len(e164) - 1)
            texts += [e164[:cut] + rnd.choice([" ", "-", "  ", " - "]) + e164[cut:], e164[:cut] + e164[cut + 1:],
                      e164 + str(rnd.randrange(10)), e164[:cut] + "0" + e164[cut:]]
    for _ in range(10_000):  # random digits after a plus, short and long, with leading zeros
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randrange(0, 22)))
        texts.append("+" + digits)
    texts += ["+1", "+12", "+123", "+0", "+00 44", "+1-", "+44 20 7946 0958", "+800 1234 5678", "+979 1234 5678"]
    plain = [t for t in texts if _PLAIN_INTL.fullmatch(t)]
    assert len(plain) > 40_000
    valid = 0
    for text in plain:
        expected = _library_parse(text)
        assert _parse_phone(text, "US") == expected, text
        assert _parse_phone("00" + text[1:], "FR") == expected, text
        valid += expected is not None
    assert valid > 20_000 and len(plain) - valid > 3_000  # both answers well represented


def test_a_number_with_its_country_code_is_parsed_once_whatever_region_reads_it(monkeypatch):
    # check reads a number in its row's country, then in Settings' default: a text with its country code reads
    # alike in every region, so the run's book parses it once and answers every region as a fresh book would
    import crm_sheets.model.normalize as normalize

    parsed = []
    real = normalize._parse_phone
    monkeypatch.setattr(normalize, "_parse_phone", lambda s, region: parsed.append(s) or real(s, region))
    book = PhoneBook()
    texts = ["+44 20 7946 0958", "0044 20 7946 0958", "+1 212 555 0100 x12", "+999 123 456", "020 7946 0958"]
    regions = ["GB", "US", "FR", None]
    answers = {(t, r): book.read(t, r) for t in texts for r in regions}
    assert sorted(parsed) == sorted(texts[:4] + ["020 7946 0958"] * len(regions))  # a national text: once per region
    monkeypatch.setattr(normalize, "_parse_phone", real)
    assert answers == {(t, r): PhoneBook().read(t, r) for t in texts for r in regions}


@pytest.mark.slow  # parses some 150,000 texts twice (~10 s)
def test_numbers_written_without_their_country_code_read_as_the_library_parses_them():
    # _parse_phone reads a national text of digits, spaces, hyphens, dots and brackets ("(206) 555-0100",
    # "06 12 34 56 78") without phonenumbers.parse's search for extensions and its normalising: the number must be
    # the library's (or None where it raises) in the number's own region and in others, national prefix or not
    from crm_sheets.model.normalize import _PLAIN_NATIONAL, _parse_phone

    rnd = random.Random(13)
    numbers = _numbers(random_count=4_000)
    texts = []
    for n in numbers:
        national = phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.NATIONAL)
        digits = "".join(c for c in national if c.isdigit())
        texts += [national, digits, national.replace(" ", "."), national.replace(" ", "-"), f"({digits[:3]}) {digits[3:]}"]
        if len(digits) > 3:  # a digit dropped or added, a national prefix or the country code typed before it
            cut = rnd.randrange(1, len(digits) - 1)
            texts += [digits[:cut] + digits[cut + 1:], digits + str(rnd.randrange(10)), "0" + digits,
                      str(n.country_code) + digits, "00" + digits[:cut] + " " + digits[cut:], "1" + digits]
    for _ in range(10_000):  # random digits and separators, short and long
        texts.append("".join(rnd.choice("0123456789" * 3 + " ().-") for _ in range(rnd.randrange(1, 24))))
    texts += ["1", "12", "123", "(12)", " 123 ", "0", "00", "011 44 20 7946 0958", "1 212 555 0100", "-", "()"]
    plain = [t for t in dict.fromkeys(texts) if _PLAIN_NATIONAL.fullmatch(t) and not t.startswith("00")]
    assert len(plain) > 40_000
    regions = ["US", "FR", "GB", "IT", "DE", "RU", "BR", "AR", "MX", "CN", "IN", "AU", "JP", "CH", "001", "ZZ", "us", None]
    valid = 0
    for i, text in enumerate(plain):
        for region in (regions[i % len(regions)], regions[(i * 7 + 3) % len(regions)], "US"):
            expected = _library_parse(text, region)
            assert _parse_phone(text, region) == expected, (text, region)
            valid += expected is not None and phonenumbers.is_valid_number(expected)
    assert valid > 10_000 and len(plain) * 3 - valid > 10_000  # both answers well represented
