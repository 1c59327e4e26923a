"""Checks of one column at a time, by field type: text, emails, phones, URLs, countries, numbers, patterns.

Each check works on the whole column with pandas and only loops over the rows that have a problem,
so 100,000 leads check in seconds. Safe normalisations come back as fixable findings (one per cell).
"""
from __future__ import annotations

import re

import pandas as pd

from crm_sheets.jobs.check.context import Collector, Context, quote, show, text_values
from crm_sheets.model import Table
from crm_sheets.model.normalize import (
    _EMAIL_RE, country, country_code, country_name, domain_typo, is_url, needs_title_case, normalize_email,
    normalize_phone, phone_extension, title_case_name,
)
from crm_sheets.model.schema import Field

NAME_FIELDS = frozenset({"first_name", "last_name"})  # people's names: Title Case is safe there
_WS = re.compile(r"\s+")


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


def check_text(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """Extra spaces everywhere; ALL CAPS / all lower names in Title Case (Settings check_title_case)."""
    if f.owned_by_job:
        return
    s = text_values(col)
    if not len(s):
        return
    cleaned = s.str.replace(_WS, " ", regex=True).str.strip()
    changed = cleaned != s
    titled = pd.Series(False, index=s.index)
    if out.ctx.title_case and (f.name in NAME_FIELDS or (table.name == "team" and f.name == "name")):
        lower, upper = cleaned.str.lower(), cleaned.str.upper()
        titled = ((cleaned == lower) | (cleaned == upper)) & (lower != upper)
    for rid, value, clean, title in zip(s.index[changed | titled], s[changed | titled], cleaned[changed | titled], titled[changed | titled]):
        if title and needs_title_case(clean):
            fixed = title_case_name(clean)
            if fixed != value:
                case = "capitals" if clean == clean.upper() else "lower case"
                out.add("name-case", "info", table, rid, f.name, value, f"{quote(value)} is written in {case}", f'check --fix writes "{fixed}"', fix=fixed, fixable=True)
                continue
        if clean != value:
            out.add("extra-spaces", "info", table, rid, f.name, value, f"{quote(value)} has extra spaces", f'check --fix writes "{clean}"', fix=clean, fixable=True)


def check_email(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    s = text_values(col)
    if not len(s):
        return
    norm = s.str.replace(_WS, "", regex=True).str.lower().str.replace(r"^mailto:", "", regex=True)
    valid = norm.str.match(_EMAIL_RE.pattern).fillna(False).astype(bool)
    for rid, value in zip(s.index[~valid], s[~valid]):
        guess = _repair_email(value)
        todo = f'correct it (perhaps "{guess}") or clear the cell' if guess else "correct it or clear the cell"
        why = "has no @" if "@" not in value else "is not an email address"
        out.add("invalid-email", "error", table, rid, f.name, value, f"{quote(value)} {why}", todo, fix=guess)
    ok, okn = s[valid], norm[valid]
    reformat = okn != ok
    for rid, value, fixed in zip(ok.index[reformat], ok[reformat], okn[reformat]):
        why = "has spaces" if _WS.search(value) else "has capital letters" if value.lower() != value else "is not in the usual form"
        out.add("email-format", "info", table, rid, f.name, value, f"{quote(value)} {why}", f'check --fix writes "{fixed}"', fix=fixed, fixable=True)
    domains = okn.str.rsplit("@", n=1).str[1]
    typo = domains.map({d: domain_typo(d) for d in domains.unique()})
    hit = typo.notna()
    for rid, value, email, good in zip(ok.index[hit], ok[hit], okn[hit], typo[hit]):
        fixed = email.rsplit("@", 1)[0] + "@" + good
        out.add("email-typo", "warning", table, rid, f.name, value, f"{quote(value)} looks like a typo of {good}", f'correct it to "{fixed}" if that is the address', fix=fixed)


def _repair_email(value: str) -> str | None:
    s = value.strip().replace(",", ".").replace("@@", "@").replace(" at ", "@").replace("..", ".").strip(".")
    return normalize_email(s)


def check_phone(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """Valid for the row's country (else Settings default_country); E.164 is the safe rewrite."""
    s = text_values(col)
    if not len(s):
        return
    regions = pd.Series(out.ctx.region, index=s.index)
    if "country" in table.df.columns:
        countries = text_values(table.df["country"]).reindex(s.index)
        codes = countries.map({c: country_code(c) for c in countries.dropna().unique()})
        regions = codes.where(codes.notna(), out.ctx.region)
    pairs = pd.Series(list(zip(s, regions)), index=s.index)
    cache = {}
    for value, region in set(pairs):
        e164 = normalize_phone(value, region) or (normalize_phone(value, out.ctx.region) if region != out.ctx.region else None)
        ext = phone_extension(value, region) if e164 else None
        cache[(value, region)] = (e164, ext)
    for rid, value, region in zip(s.index, s, regions):
        e164, ext = cache[(value, region)]
        if e164 is None:
            out.add(
                "invalid-phone", "error", table, rid, f.name, value,
                f"{quote(value)} is not a valid phone number (read as a {region} number)",
                "check the digits and write it with its country code, e.g. +33 6 12 34 56 78",
            )
        elif e164 != value and not ext:
            out.add("phone-format", "info", table, rid, f.name, value, f"{quote(value)} is not in international form", f"check --fix writes {e164}", fix=e164, fixable=True)


def check_url(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    s = text_values(col)
    if not len(s):
        return
    stripped = s.str.strip()
    good = stripped.map({u: is_url(u) for u in stripped.unique()})
    for rid, value in zip(s.index[~good], s[~good]):
        out.add("invalid-url", "error", table, rid, f.name, value, f"{quote(value)} is not a web address", "write it like www.example.com or https://example.com, or clear the cell")
    spaced = good & (stripped != s)
    for rid, value, fixed in zip(s.index[spaced], s[spaced], stripped[spaced]):
        out.add("extra-spaces", "info", table, rid, f.name, value, f"{quote(value)} has extra spaces", f'check --fix writes "{fixed}"', fix=fixed, fixable=True)


def check_country(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """ISO names or codes; the fix is the country's usual name in the workbook's language."""
    s = text_values(col)
    if not len(s):
        return
    lang = out.ctx.lang
    canon = {}
    for v in s.unique():
        found = country(v)
        canon[v] = country_name(found[0], lang) if found else None
    for rid, value in zip(s.index, s):
        name = canon[value]
        if name is None:
            out.add("invalid-country", "error", table, rid, f.name, value, f"{quote(value)} is not a country", "write the country's name (France) or its ISO code (FR)")
        elif name != value:
            out.add("country-format", "info", table, rid, f.name, value, f"{quote(value)} is not the country's usual name", f'check --fix writes "{name}"', fix=name, fixable=not f.owned_by_job)


def check_range(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    lo, hi = f.constraints.minimum, f.constraints.maximum
    if lo is None and hi is None:
        return
    num = pd.to_numeric(col, errors="coerce").astype(float)
    pct = f.type == "percent"
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
    return f.type == "location" and (f.name == "country" or f.name.endswith("_country"))


TYPE_CHECKS = {
    "text": check_text,
    "email": check_email,
    "phone": check_phone,
    "url": check_url,
}


def check_column(ctx: Context, out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """Every type-driven check of one column (options and references live in their own modules)."""
    if is_country_field(f):
        check_country(out, table, f, col)
    elif f.type == "location":
        check_text(out, table, f, col)
    elif f.type in TYPE_CHECKS:
        TYPE_CHECKS[f.type](out, table, f, col)
    check_constraints(out, table, f, col)


def check_constraints(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """minimum / maximum / pattern: the constraints any table may put on a column."""
    if f.type in ("number", "integer", "money", "percent"):
        check_range(out, table, f, col)
    if f.type in ("text", "long_text", "email", "url", "location", "phone"):
        check_pattern(out, table, f, col)
