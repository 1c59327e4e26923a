"""Whether a parsed phone number is valid: phonenumbers.is_valid_number's answer, from its own metadata, with the
patterns compiled once per region (check validates 40,000 distinct numbers at 30k sample leads).

The library looks each pattern up by its text (re.compile's cache) and walks its descriptions through a few layers
of calls for every number: half of a first check's phone time. The rules below are the library's, step by step
(is_valid_number, region_code_for_number, is_valid_number_for_region, _number_type_helper); tests/test_phone_valid.py
compares the answers with the library's on example and random numbers of every country code.
"""
from __future__ import annotations

import re
from typing import Any

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, REGION_CODE_FOR_NON_GEO_ENTITY, PhoneMetadata

__all__ = ["is_valid_number"]

# The number types _number_type_helper tries before fixed line and mobile: one matching makes a number valid.
_OTHER_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")

_Desc = tuple[frozenset, Any] | None  # (possible lengths, compiled national number pattern or None)
_Types = tuple[_Desc, tuple[_Desc, ...]]  # general description, then the descriptions of a number type

_BY_REGION: dict[str, tuple[Any, _Types] | None] = {}
_VALID_FOR: dict[tuple[int, str], _Types | None] = {}


def is_valid_number(num: phonenumbers.PhoneNumber) -> bool:
    """phonenumbers.is_valid_number(num)."""
    cc = num.country_code
    regions = COUNTRY_CODE_TO_REGION_CODE.get(cc)
    if regions is None:
        return False
    nsn = phonenumbers.national_significant_number(num)
    if len(regions) == 1:
        region = regions[0]
    else:  # region_code_for_number: the first region whose leading digits, else whose types, the number fits
        region = None
        for code in regions:
            found = _region(code)
            if found is None:
                continue
            leading, types = found
            if leading is not None:
                if leading.match(nsn):
                    region = code
                    break
            elif _has_type(nsn, types):
                region = code
                break
        if region is None:
            return False
    types = _valid_for(cc, region)
    return types is not None and _has_type(nsn, types)


def _has_type(nsn: str, types: _Types) -> bool:
    """_number_type_helper(nsn, metadata) != UNKNOWN."""
    general, kinds = types
    if not _matches(nsn, general):
        return False
    key = (id(kinds), len(nsn))
    either = _EITHER.get(key, _EITHER)
    if either is _EITHER:
        either = _EITHER[key] = _either(kinds, len(nsn))
    return either is not None and either.fullmatch(nsn) is not None


# (id of a region's number types, length) -> one pattern, the alternation of the types' patterns that allow the length
# (None: no type does): one fullmatch per number instead of up to ten descriptions tried in turn. The types' tuples
# live in _BY_REGION and _VALID_FOR for the process, so their ids stay theirs.
_EITHER: dict[tuple[int, int], Any] = {}


def _either(kinds: tuple[_Desc, ...], length: int) -> Any:
    """any(_matches(nsn, d) for d in kinds) for any nsn of ``length`` digits, as one pattern: fullmatch of an
    alternation matches when one of its branches matches the whole text (the patterns have no back-references)."""
    texts = [d[1].pattern for d in kinds if d is not None and d[1] is not None and (not d[0] or length in d[0])]
    return re.compile("|".join(f"(?:{t})" for t in texts)) if texts else None


def _matches(nsn: str, desc: _Desc) -> bool:
    """_is_number_matching_desc: a possible length (when the description lists any), then the whole pattern."""
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths and len(nsn) not in lengths:
        return False
    return pattern is not None and pattern.fullmatch(nsn) is not None


def _desc(d: Any) -> _Desc:
    if d is None:
        return None
    text = d.national_number_pattern
    return frozenset(d.possible_length), (re.compile(text) if text else None)


def _types(md: Any) -> _Types:
    # Mobile counts only when its pattern is not the fixed line's (when it is, a fixed line match decided).
    kinds = [_desc(getattr(md, name)) for name in _OTHER_TYPES] + [_desc(md.fixed_line)]
    if not md.same_mobile_and_fixed_line_pattern:
        kinds.append(_desc(md.mobile))
    return _desc(md.general_desc), tuple(kinds)


def _region(code: str) -> tuple[Any, _Types] | None:
    """(leading digits pattern or None, number types) of a region, as _region_code_for_number_from_list reads it."""
    if code not in _BY_REGION:
        md = PhoneMetadata.metadata_for_region(code.upper(), None)
        _BY_REGION[code] = None if md is None else (
            re.compile(md.leading_digits) if md.leading_digits is not None else None, _types(md))
    return _BY_REGION[code]


def _valid_for(cc: int, region: str) -> _Types | None:
    """The number types of is_valid_number_for_region(num, region), or None when it says False for any number."""
    key = (cc, region)
    if key not in _VALID_FOR:
        md = PhoneMetadata.metadata_for_region_or_calling_code(cc, region.upper())
        if md is None or (region != REGION_CODE_FOR_NON_GEO_ENTITY and cc != phonenumbers.country_code_for_valid_region(region)):
            _VALID_FOR[key] = None
        else:
            _VALID_FOR[key] = _types(md)
    return _VALID_FOR[key]
