"""Match keys of records: one row of plain string columns per person or organisation ('' when empty), each
computed once per distinct cell text, or found in dedupe's key memory (index.py) for records seen before.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crm_sheets.jobs.dedupe import orgs
from crm_sheets.jobs.dedupe.index import KeyMemory
from crm_sheets.jobs.dedupe.keys import (FREE_DOMAINS, canon_first, company_domain, company_key, email_key, fold_city,
                                         name_key, phone_key, region_of)
from crm_sheets.model import Tables

def _col(df: pd.DataFrame, name: str) -> list[str]:
    """A column as text, '' for empty cells."""
    if name not in df.columns:
        return [""] * len(df)
    values = df[name].to_numpy(object)
    blank = pd.isna(values)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):  # text and blanks only: in C
        out = values.copy()
        out[blank] = ""
        return out.tolist()
    return ["" if b else (v if isinstance(v, str) else str(v)) for v, b in zip(values, blank)]


def _each(fn, values: list) -> list:
    """fn of each value, called once per distinct value: names, cities and companies repeat a lot."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    out = np.empty(len(uniques), dtype=object)
    for k, u in enumerate(uniques):  # one by one: a key may be a tuple, which numpy would spread over a row
        out[k] = fn(u)
    return out[codes].tolist()


def _phone_of(value_region: str) -> str:
    value, _, region = value_region.partition("\t")
    return phone_key(value, region) if value.strip() else ""


def _phones(values: list[str], regions: list[str], default: str) -> list[str]:
    """Phone keys of a column, each number read in its record's region; once per distinct value, and
    per (value, region) only for the numbers typed without country code in another region."""
    out = _each(lambda v: phone_key(v, default) if v.strip() else "", values)
    # '+44 ...' and '0044 ...' say their country; '0141 ...' and '(415) ...' do not
    other = [k for k, (v, r) in enumerate(zip(values, regions))
             if r != default and v and not v.lstrip().startswith(("+", "00"))]
    if other:
        keys = _each(_phone_of, [f"{values[k]}\t{regions[k]}" for k in other])
        for k, key in zip(other, keys):
            out[k] = key
    return out


# The keys of a person computed from its own cells alone (what KeyMemory keeps): those depending on the whole
# list (an email domain no company owns: efree, cdomain) are put together from them in person_records.
PERSON_KEYS = ("first", "last", "canon1", "canon2", "email", "local", "edomain", "phone1", "phone2", "company",
               "cdomain_own", "cdomain_web", "city", "country")


def _person_keys_of(texts: dict[str, list[str]], region: str) -> dict[str, list]:
    """PERSON_KEYS of records given as their cells' texts (first_name, last_name, email, phone, mobile,
    country, city, company, website)."""
    first = _each(name_key, texts["first_name"])
    last = _each(name_key, texts["last_name"])
    canon = _each(lambda f: canon_first(f.split(" ")[0]) if f else (), first)
    emails = _each(email_key, texts["email"])
    # numbers typed without a country code are read as the record's country's, else Settings default_country
    regions = _each(lambda c: region_of(c, region), texts["country"])
    edomain = [e[1] for e in emails]
    website = texts["website"]
    return {
        "first": first,
        "last": last,
        "canon1": [c[0] if c else "" for c in canon],
        "canon2": [c[1] if len(c) > 1 else "" for c in canon],
        "email": [e[0] for e in emails],
        "local": [e[0].rpartition("@")[0] for e in emails],
        "edomain": edomain,
        "phone1": _phones(texts["phone"], regions, region),
        "phone2": _phones(texts["mobile"], regions, region),
        "company": _each(lambda v: company_key(v) if v else "", texts["company"]),
        "cdomain_own": _each(lambda dw: company_domain(*dw.split("\t", 1)), [f"{d}\t{w}" for d, w in zip(edomain, website)]),
        "cdomain_web": _each(lambda w: company_domain("", w), website),
        "city": _each(fold_city, texts["city"]),
        "country": _each(name_key, texts["country"]),
    }


def person_records(tables: Tables, table: str, region: str = "US", memory: KeyMemory | None = None) -> pd.DataFrame:
    """Match keys of the people of a table (leads or contacts); ``memory`` gives those it knows (index.py)."""
    df = tables.df(table)
    company = _col(df, "company")
    website = _col(df, "website")
    if table == "contacts" and "accounts" in tables and "account" in df.columns:
        acc = tables.df("accounts")
        names = dict(zip(acc.index, _col(acc, "name")))
        sites = dict(zip(acc.index, _col(acc, "website")))
        refs = _col(df, "account")
        company = [names.get(r, "") for r in refs]
        website = [sites.get(r, "") for r in refs]
    texts = {f: _col(df, f) for f in ("first_name", "last_name", "email", "phone", "mobile", "country", "city")}
    texts.update(company=company, website=website)
    if memory is None:
        keys = _person_keys_of(texts, region)
    else:
        keys = memory.keyed(f"people|{region}", texts, PERSON_KEYS, lambda sub: _person_keys_of(sub, region))
    edomain = keys["edomain"]
    shared = _shared_domains(edomain, keys["company"])
    # an internet provider's mailboxes are private ones, though no list names it: their domain says no company
    cdomain = [w if d in shared else o for d, o, w in zip(edomain, keys["cdomain_own"], keys["cdomain_web"])] if shared \
        else keys["cdomain_own"]
    return pd.DataFrame({
        "rid": df.index.astype(str).tolist(),
        "table": table,
        **{k: keys[k] for k in ("first", "last", "canon1", "canon2", "email")},
        "email_raw": texts["email"],
        **{k: keys[k] for k in ("local", "edomain", "phone1", "phone2", "company")},
        "cdomain": cdomain,
        "efree": [d in shared or d in FREE_DOMAINS for d in edomain],
        "city": keys["city"],
        "country": keys["country"],
    })


def _shared_domains(domains: list[str], companies: list[str]) -> set[str]:
    """Email domains of this list that are nobody's company: given by people of three or more companies,
    none of which it names (an internet provider's, 'telefonica.net', missing from FREE_DOMAINS)."""
    seen: dict[str, set[str]] = {}
    for d, c in zip(domains, companies):
        if d and c and d not in FREE_DOMAINS:
            seen.setdefault(d, set()).add(c)
    out = set()
    for d, cs in seen.items():
        if len(cs) >= 3:
            label = d.split(".")[0][:4]
            if not any(label in c.replace(" ", "") for c in cs):
                out.add(d)
    return out


ORG_KEYS = ("company", "address_no", "street", "phone1", "phone_tail", "phone_short", "cdomain", "city", "country")


def _org_keys(df: pd.DataFrame, name_column: str, region: str, memory: KeyMemory | None) -> dict[str, list]:
    """orgs.org_records of the frame's organisations (named in ``name_column``), those ``memory`` knows not computed again."""
    texts = {"name": _col(df, name_column), **{f: _col(df, f) for f in ("address", "phone", "website", "city", "country")}}

    def compute(t: dict[str, list[str]]) -> dict[str, list]:
        return orgs.org_records(t["name"], t["address"], t["phone"], t["website"], t["city"], t["country"], region)

    return compute(texts) if memory is None else memory.keyed(f"orgs|{region}", texts, ORG_KEYS, compute)


def account_records(tables: Tables, region: str = "US", memory: KeyMemory | None = None) -> pd.DataFrame:
    """Match keys of accounts: company name, street address, website domain, phone, place, and the parent link."""
    df = tables.df("accounts")
    keys = _org_keys(df, "name", region, memory)
    return pd.DataFrame({
        "rid": df.index.astype(str).tolist(),
        "table": "accounts",
        **keys,
        "phone2": "",
        "parent": _col(df, "parent"),
        "type": _col(df, "type"),
    })


def org_lead_records(tables: Tables, table: str, rows: np.ndarray, region: str = "US",
                     memory: KeyMemory | None = None) -> pd.DataFrame:
    """Match keys of the records of a people table that carry only an organisation (no person's name):
    a list of companies imported as leads is matched as organisations, not as people."""
    df = tables.df(table).iloc[rows]
    keys = _org_keys(df, "company", region, memory)
    return pd.DataFrame({"rid": df.index.astype(str).tolist(), "table": table, **keys})
