"""Checks of one column at a time, by field type: text, emails, phones, URLs, countries, numbers, patterns.

Each check works on the whole column with pandas and only loops over the rows that have a problem,
so 100,000 leads check in seconds. Safe normalisations come back as fixable findings (one per cell).
"""
from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd

from crm_sheets.jobs.check.common import Collector, Context, quote, show, text_values
from crm_sheets.model import Table
from crm_sheets.model.fieldtypes import field_type
from crm_sheets.model.normalize import (
    EMAIL_RE,
    clean_spaces, country, country_code, country_name, domain_typo, is_url, needs_title_case, normalize_email,
    PhoneBook, title_case_name,
)
from crm_sheets.model.schema import Field

NAME_FIELDS = frozenset({"first_name", "last_name"})  # people's names: Title Case is safe there
_WS = re.compile(r"\s+")
# Text that clean_spaces would change: white space other than a space, two in a row, or at either end.
_MESSY = re.compile(r"[^\S ]|  |^ | $")


def check_required(out: Collector, table: Table, f: Field, col: pd.Series, unreadable: set) -> None:
    if not f.required:
        return
    empty = col.isna()
    if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
        empty = empty | (col.astype(str).str.strip() == "")
    for rid in col.index[empty.to_numpy()]:
        if rid in unreadable:
            continue  # reported as an unreadable value already
        header = f.header(out.ctx.lang)
        out.add("required", "error", table, rid, f.name, None, "the cell is empty", f"fill it in: every row needs a {header}")


def per_value(s: pd.Series, decide) -> pd.Series:
    """decide(value) once per distinct value, spread back over the rows (None = nothing to say).

    Columns repeat values (names, countries, statuses), and even unique ones (emails) are cheaper
    through one Python call per value than through five pandas string passes.
    """
    codes, uniques = pd.factorize(s)
    verdicts = np.empty(len(uniques), dtype=object)
    verdicts[:] = [decide(u) for u in uniques]
    return pd.Series(verdicts[codes], index=s.index)


def report(out: Collector, table: Table, f: Field, s: pd.Series, verdicts: pd.Series) -> None:
    """Add one finding per row whose verdict is (type, severity, what, todo, fix, fixable), all in one go."""
    hit = verdicts.notna().to_numpy()
    if not hit.any():
        return
    kinds, severities, whats, todos, fixes, fixable = zip(*verdicts.to_numpy()[hit])
    if f.owned_by_job:
        fixable = False
    out.add_many(list(kinds), list(severities), table, s.index[hit], f.name, s.to_numpy()[hit], whats, todos,
                 fixes=list(fixes), fixable=list(fixable) if fixable is not False else False)


def check_text(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """Extra spaces everywhere; ALL CAPS / all lower names in Title Case (Settings check_title_case)."""
    if f.owned_by_job or f.custom and getattr(out.ctx.tables, "adopted", False):  # a team's own column: theirs as typed
        return
    s = text_values(col)
    if not len(s):
        return
    # Not Team names: owners elsewhere match them as typed, so re-casing one would orphan its records.
    title = out.ctx.title_case and f.name in NAME_FIELDS
    codes, uniques = pd.factorize(s)
    # Only texts with white space to tidy (or, for names, all in one case) can need a fix: found with one
    # regex search (or two case comparisons) per distinct text, then decided one by one.
    messy = _MESSY.search
    if title:
        maybe = (messy(v) is not None or v == v.upper() or v == v.lower() for v in uniques)
    else:
        maybe = (messy(v) is not None for v in uniques)
    verdicts = np.full(len(uniques), None, dtype=object)
    for i in np.flatnonzero(np.fromiter(maybe, dtype=bool, count=len(uniques))):
        verdicts[i] = _tidy(uniques[i], title)
    report(out, table, f, s, pd.Series(verdicts[codes], index=s.index))


def _tidy(value: str, title: bool) -> tuple | None:
    clean = clean_spaces(value)
    if title and needs_title_case(clean):
        fixed = title_case_name(clean)
        if fixed != value:
            case = "capitals" if clean == clean.upper() else "lower case"
            return ("name-case", "info", f"{quote(value)} is written in {case}", f'check --fix writes "{fixed}"', fixed, True)
    if clean != value:
        return ("extra-spaces", "info", f"{quote(value)} has extra spaces", f'check --fix writes "{clean}"', clean, True)
    return None


def check_email(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    s = text_values(col)
    if not len(s):
        return
    codes, uniques = pd.factorize(s)
    # Most addresses are already in the form normalize_email writes (it would return them unchanged):
    # only their domain can still be a typo, so those are decided once per domain, the rest one by one.
    match = EMAIL_RE.fullmatch  # not match: its $ would let a trailing newline through
    plain = np.fromiter((v.islower() and match(v) is not None for v in uniques), dtype=bool, count=len(uniques))
    verdicts = np.full(len(uniques), None, dtype=object)
    if plain.any():
        domains = pd.Series([v.rpartition("@")[2] for v in uniques[plain]], dtype=object)
        d_codes, d_uniques = pd.factorize(domains)
        typo = np.fromiter((domain_typo(d) is not None for d in d_uniques), dtype=bool, count=len(d_uniques))
        slow = ~plain
        slow[np.flatnonzero(plain)[typo[d_codes]]] = True
    else:
        slow = ~plain
    seen = out.ctx.verdicts.setdefault("email", {})  # of the run: check --fix's second pass meets them again
    for i in np.flatnonzero(slow):
        value = uniques[i]
        try:
            verdict = seen[value]
        except KeyError:
            verdict = seen[value] = _email(value)
        # The typo's fix includes the tidy-up, so a cell with both reports the typo (one fix per cell).
        verdicts[i] = (verdict[1] or verdict[0]) if verdict else None
    report(out, table, f, s, pd.Series(verdicts[codes], index=s.index))


def _email(value: str) -> tuple | None:
    """(finding about the address itself or None, typo finding or None), or None when all is well."""
    fixed = normalize_email(value)
    if fixed is None:
        guess = _repair_email(value)
        todo = f'correct it (perhaps "{guess}") or clear the cell' if guess else "correct it or clear the cell"
        why = "has no @" if "@" not in value else "is not an email address"
        return (("invalid-email", "error", f"{quote(value)} {why}", todo, guess, False), None)
    tidy = None
    if fixed != value:
        why = "has spaces" if _WS.search(value) else "has capital letters" if value.lower() != value else "is not in the usual form"
        tidy = ("email-format", "info", f"{quote(value)} {why}", f'check --fix writes "{fixed}"', fixed, True)
    local, _, domain = fixed.rpartition("@")
    good = domain_typo(domain)
    typo = None
    if good:
        guess = f"{local}@{good}"
        typo = ("email-typo", "warning", f"{quote(value)} looks like a typo of {good}", f'check --fix writes "{guess}"', guess, True)
    return (tidy, typo) if (tidy or typo) else None


def _repair_email(value: str) -> str | None:
    s = value.strip().replace(",", ".").replace("@@", "@").replace(" at ", "@").replace("..", ".").strip(".")
    return normalize_email(s)


def check_phone(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """Valid for the row's country (else Settings default_country); E.164 is the safe rewrite."""
    s = text_values(col)
    if not len(s):
        return
    default = out.ctx.region
    phones = out.ctx.phones
    # Verdicts are kept for the run: check --fix's second pass finds most values again (the numbers
    # already in E.164 and the invalid ones, which are not fixed).
    seen = out.ctx.verdicts.setdefault(("phone", default), {})
    # One verdict per distinct (number, region) pair, in the order the rows give them: the pairs found from the
    # codes of the two columns (no key text made and hashed per row), their items taken as lists (an Index of str
    # yields its items one pandas call each)
    values, texts, width, regions, places = _phone_pairs(table, s, default)
    codes, pairs = pd.factorize(values * width + regions)
    verdicts = np.empty(len(pairs), dtype=object)
    again = []  # the pairs decided before: their texts read again from the book, in one go
    for i, pair in enumerate(pairs.tolist()):
        value, region = key = texts[pair // width], places[pair % width]
        verdict = seen.get(key, seen)  # (seen itself: not decided yet)
        if verdict is seen:
            verdict = seen[key] = _phone(value, region, default, phones)
        else:
            again.append(key)
        verdicts[i] = verdict
    phones.read_again(again, default)
    rows = verdicts[codes]
    if out.ctx.formats != "ours":
        rows = _keep_format(out.ctx.formats, table, s, rows)
    hit = np.flatnonzero(np.fromiter((v is not None for v in rows), dtype=bool, count=len(rows)))
    if not len(hit):
        return
    # Numbers to write in E.164 (135,000 in the 100k sample) have their E.164 alone as verdict, and
    # their findings are made column-wise with the others, in row order.
    vs, values = rows[hit], s.to_numpy()[hit]
    tidy = [type(v) is str for v in vs]
    fixable = not f.owned_by_job
    out.add_many(
        ["phone-format" if t else v[0] for t, v in zip(tidy, vs)],
        ["info" if t else v[1] for t, v in zip(tidy, vs)],
        table, s.index[hit], f.name, values,
        [f"{quote(x)} is not in international form" if t else v[2] for t, v, x in zip(tidy, vs, values)],
        [f"check --fix writes {v}" if t else v[3] for t, v in zip(tidy, vs)],
        fixes=[v if t else v[4] for t, v in zip(tidy, vs)],
        fixable=[fixable if t else v[5] and fixable for t, v in zip(tidy, vs)],
    )


def _keep_format(mode: str, table: Table, s: pd.Series, rows: Any) -> Any:
    """An adopted workbook's valid numbers rewritten only when they say their country: +49..., 0049..., or a
    row whose country is given ("keep": none; check() leaves out the tidy-ups of TEAM_FORMATS)."""
    values = s.to_numpy()
    country = np.zeros(len(s), dtype=bool)
    if mode == "asked" and "country" in table.df.columns:
        country = table.df["country"].reindex(s.index).fillna("").astype(str).str.strip().ne("").to_numpy()
    out = rows.copy()
    for i, v in enumerate(rows):
        if type(v) is str and (mode == "keep" or not (values[i].lstrip().startswith(("+", "00")) or country[i])):
            out[i] = None
    return out


def _phone_pairs(table: Table, s: pd.Series, default: str) -> tuple[np.ndarray, list, int, np.ndarray, list]:
    """The (number, region) pair of each row of ``s`` (the region: the row's country, else Settings
    default_country) as codes: (number codes, distinct numbers, width, region codes, distinct regions), a pair's
    code being number code * width + region code."""
    values, texts = pd.factorize(s)
    if "country" in table.df.columns:
        regions, places = pd.factorize(_regions(table, s, default))
    else:
        regions, places = np.zeros(len(s), dtype=np.int64), pd.Index([default], dtype=object)
    width = max(len(places), 1)
    return (values.astype(np.int64), texts.to_numpy(dtype=object).tolist(), width, regions.astype(np.int64),
            places.to_numpy(dtype=object).tolist())


def _regions(table: Table, s: pd.Series, default: str) -> pd.Series:
    """The region each number of ``s`` is read in: its row's country, else Settings default_country."""
    countries = table.df["country"].reindex(s.index)
    return per_value(countries.fillna(""), lambda c: country_code(c) if c else None).fillna(default)


def keep_phones(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """The numbers of rows not checked again (their findings are remembered) keep their verdicts in the state,
    as if they were read: the state is the same whichever rows were checked."""
    s = text_values(col)
    if not len(s):
        return
    default, phones = out.ctx.region, out.ctx.phones
    # Only the texts read matter here (no finding is made): each distinct (number, region) pair read once, in the
    # order the rows give them (as check_phone reads them).
    values, texts, width, regions, places = _phone_pairs(table, s, default)
    phones.read_again([(texts[pair // width], places[pair % width])
                       for pair in pd.unique(values * width + regions).tolist()], default)


def _phone(value: str, region: str, default: str, phones: PhoneBook) -> tuple | str | None:
    """None when all is well, the E.164 to write (a 'phone-format' tidy-up), or the 'invalid-phone' verdict."""
    found = phones.read(value, region)
    extension = found[1] if found is not None else None
    if found is None and region != default:
        found = phones.read(value, default)
    if found is None:
        return (
            "invalid-phone", "error", f"{quote(value)} is not a valid phone number (read as a {region} number)",
            "check the digits and write it with its country code, e.g. +33 6 12 34 56 78", None, False,
        )
    e164 = found[0]
    if e164 != value and not extension:  # E.164 has no room for an extension
        return e164
    return None


def check_url(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    s = text_values(col)
    if len(s):
        report(out, table, f, s, per_value(s, _url))


def _url(value: str) -> tuple | None:
    stripped = value.strip()
    if not is_url(stripped):
        return ("invalid-url", "error", f"{quote(value)} is not a web address", "write it like www.example.com or https://example.com, or clear the cell", None, False)
    if stripped != value:
        return ("extra-spaces", "info", f"{quote(value)} has extra spaces", f'check --fix writes "{stripped}"', stripped, True)
    return None


def check_country(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """ISO names or codes; the fix is the country's usual name in the workbook's language."""
    s = text_values(col)
    if len(s):
        report(out, table, f, s, per_value(s, lambda v: _country(v, out.ctx.lang)))


def _country(value: str, lang: str) -> tuple | None:
    found = country(value)
    if found is None:
        return ("invalid-country", "error", f"{quote(value)} is not a country", "write the country's name (France) or its ISO code (FR)", None, False)
    name = country_name(found[0], lang)
    if name != value:
        return ("country-format", "info", f"{quote(value)} is not the country's usual name", f'check --fix writes "{name}"', name, True)
    return None


def check_range(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    lo, hi = f.constraints.minimum, f.constraints.maximum
    if lo is None and hi is None:
        return
    num = pd.to_numeric(col, errors="coerce").astype(float)
    pct = field_type(f.type).percent
    fmt = (lambda v: f"{v * 100:g}%") if pct else show
    if lo is not None:
        below = (num < lo).fillna(False).to_numpy()
        for rid, v in zip(col.index[below], num[below]):
            out.add("below-minimum", "error", table, rid, f.name, v, f"{fmt(v)} is below the minimum of {fmt(lo)}", f"type a value of at least {fmt(lo)}")
    if hi is not None:
        above = (num > hi).fillna(False).to_numpy()
        for rid, v in zip(col.index[above], num[above]):
            guess = v / 100 if pct and (lo is None or v / 100 >= lo) and v / 100 <= hi else None
            todo = f"type it with a % sign ({v:g}%)" if guess is not None else f"type a value of at most {fmt(hi)}"
            out.add("above-maximum", "error", table, rid, f.name, v, f"{fmt(v)} is above the maximum of {fmt(hi)}", todo, fix=guess)


def check_pattern(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    if not f.constraints.pattern:
        return
    s = text_values(col)
    bad = ~s.str.fullmatch(f.constraints.pattern).fillna(False).astype(bool)
    hint = f.help(out.ctx.lang)
    for rid, value in zip(s.index[bad], s[bad]):
        out.add("pattern-mismatch", "error", table, rid, f.name, value, f"{quote(value)} does not have the expected form", f"write it as {hint}" if hint else f"make it match {f.constraints.pattern}")


def is_country_field(f: Field) -> bool:
    return field_type(f.type).place and (f.name == "country" or f.name.endswith("_country"))


def check_place(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """A country column is checked as countries (by ISO code); other places (cities, addresses) as text."""
    (check_country if is_country_field(f) else check_text)(out, table, f, col)


def check_by_type(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """A type's own check of its texts (FieldType.check_value, text_check "value"), once per distinct text."""
    s = text_values(col)
    if len(s):
        decide, lang = field_type(f.type).check_value, out.ctx.lang
        report(out, table, f, s, per_value(s, lambda v: decide(v, lang)))


class TextCheck(NamedTuple):
    """The check job's implementation of a field type's ``text_check``: ``check`` a column's values, and
    ``keep`` (or None) the verdicts of the rows not checked again in the state (phones: see keep_phones)."""
    check: Callable[[Collector, Table, Field, pd.Series], None]
    keep: Callable[[Collector, Table, Field, pd.Series], None] | None = None


# By the name a field type gives its text check (FieldType.text_check): the registry names the check, the
# job keeps the implementation and its caches (ctx.verdicts, ctx.phones). Looked up once per column.
TEXT_CHECKS = {
    "text": TextCheck(check_text),
    "email": TextCheck(check_email),
    "phone": TextCheck(check_phone, keep_phones),
    "url": TextCheck(check_url),
    "place": TextCheck(check_place),
    "value": TextCheck(check_by_type),
}


def text_check(f: Field) -> TextCheck | None:
    """The check of the text typed in ``f``'s column, by its type's ``text_check`` (None: none)."""
    name = field_type(f.type).text_check
    if name is None:
        return None
    try:
        return TEXT_CHECKS[name]
    except KeyError:
        raise ValueError(f"field type {f.type!r} names an unknown text check {name!r}; "
                         f"the check job has {', '.join(TEXT_CHECKS)}") from None


def check_column(ctx: Context, out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """Every type-driven check of one column (options and references live in their own modules)."""
    found = text_check(f)
    if found is not None:
        found.check(out, table, f, col)
    check_constraints(out, table, f, col)


def check_constraints(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """minimum / maximum / pattern: the constraints any table may put on a column."""
    ftype = field_type(f.type)
    if ftype.numeric:
        check_range(out, table, f, col)
    if ftype.pattern:
        check_pattern(out, table, f, col)
