"""Match keys of records: one row of plain string columns per person or organisation ('' when empty), each
computed once per distinct cell text, or found in dedupe's key memory (index.py) for records seen before.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from crm_sheets.jobs.dedupe import orgs
from crm_sheets.jobs.dedupe.index import KeyMemory, texts_digests
from crm_sheets.jobs.dedupe.keys import (FREE_DOMAINS, canon_first, company_domain, company_key, email_key, fold_city,
                                         name_key, phone_key, region_of)
from crm_sheets.model import Tables
from crm_sheets.model.memo import row_keys

def _col(df: pd.DataFrame, name: str) -> np.ndarray | list[str]:
    """A column as text, '' for empty cells (an object array of texts, or a list)."""
    if name not in df.columns:
        return [""] * len(df)
    values = df[name].to_numpy(object)
    blank = pd.isna(values)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):  # text and blanks only: in C
        out = values.copy()
        out[blank] = ""
        return out
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


_TEXTS = ("first_name", "last_name", "email", "phone", "mobile", "country", "city", "company", "website")  # keyed cells


def _person_texts(tables: Tables, table: str, df: pd.DataFrame) -> dict[str, list[str]]:
    """The texts a person's keys are computed from (a contact's company and website are its account's)."""
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
    return texts


def person_rows(tables: Tables, table: str) -> tuple[str, np.ndarray] | None:
    """What tells, cheaply, which people of a table have the texts their keys came from as they were: a context
    (the columns read and, for contacts, a digest of their accounts' names and websites: a contact's company is
    its account's) and one 64-bit key per record of the cells _person_texts reads, with its ID (memo.row_keys: the
    column hashes check made already). A record whose key and context are as a run saw them has the texts it had.
    None when the table cannot be keyed (records sharing an ID)."""
    t = tables[table]
    linked = table == "contacts" and "accounts" in tables and "account" in t.df.columns
    cols = [c for c in (*_TEXTS, *(("account",) if linked else ())) if c in t.df.columns]
    keys = row_keys(t, with_rows=False, columns=cols, kept_fields=())
    if keys is None:
        return None
    h = hashlib.sha256(repr((table, cols)).encode("utf-8", "surrogatepass"))
    if linked:
        acc = tables["accounts"]
        acc_cols = [c for c in ("name", "website") if c in acc.df.columns]
        acc_keys = row_keys(acc, with_rows=False, columns=acc_cols, kept_fields=())
        if acc_keys is None:
            return None
        h.update(repr((acc_cols, len(acc_keys))).encode("utf-8", "surrogatepass"))
        h.update(acc_keys.astype("<u8").tobytes())
    return h.hexdigest()[:32], keys


def person_records(tables: Tables, table: str, region: str = "US", memory: KeyMemory | None = None,
                   rounds: "PeopleRounds | None" = None, since: tuple | None = None) -> pd.DataFrame:
    """Match keys of the people of a table (leads or contacts); ``memory`` gives those it knows (index.py);
    ``rounds``: the records of the runner's last round of this run (PeopleRounds), with the keys of the records
    its changes did not touch. ``since``: (IDs, digests of their texts, row keys and context of person_rows) of
    the records the last run keyed, and this run's row keys and context: a record whose row key is as it was has
    the digest it had, so only the cells of the others are read and hashed (the keys come out the same)."""
    df = tables.df(table)
    if rounds is not None and memory is not None:
        got = rounds.records(tables, table, region, memory)
        if got is not None:
            return got
    kind = f"people|{region}"
    digests = _digests_since(df, since) if rounds is not None and memory is not None and len(df) else None
    if digests is not None:
        email_raw = _col(df, "email")
        fresh = digests[1]
        digests = digests[0]
        if len(fresh):
            sub = _person_texts(tables, table, df.iloc[fresh])
            digests[fresh] = texts_digests(sub)
        keys = memory.keyed_rows(kind, digests, lambda rows: _person_texts(tables, table, df.iloc[rows]), PERSON_KEYS,
                                 lambda sub: _person_keys_of(sub, region))
        rounds.keep(table, region, df.index, digests, keys, email_raw)
        return _people_frame(df.index, table, keys, email_raw)
    texts = _person_texts(tables, table, df)
    digests = texts_digests(texts) if rounds is not None and memory is not None and len(df) else None
    if memory is None:
        keys = _person_keys_of(texts, region)
    else:
        keys = memory.keyed(kind, texts, PERSON_KEYS, lambda sub: _person_keys_of(sub, region), digests)
    if digests is not None:
        rounds.keep(table, region, df.index, digests, keys, texts["email"])
    return _people_frame(df.index, table, keys, texts["email"])


def _digests_since(df: pd.DataFrame, since: tuple | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The digests of the texts of the records whose row key is as the last run saw it (the others 0 for now),
    and the rows of the others; None when there is nothing to compare with."""
    if since is None:
        return None
    old_ids, old_digests, old_keys, old_context, now_context, now_keys = since
    if old_context != now_context or now_keys is None or len(now_keys) != len(df) or len(old_keys) != len(old_ids):
        return None
    old_index = pd.Index(old_ids)
    if not old_index.is_unique:
        return None
    at = old_index.get_indexer(df.index.astype(str))
    same = at >= 0
    same[same] = old_keys[at[same]] == now_keys[same]
    digests = np.zeros(len(df), dtype=np.uint64)
    digests[same] = old_digests[at[same]]
    return digests, np.flatnonzero(~same)


def _people_frame(index: pd.Index, table: str, keys: dict[str, list], email_raw: list[str],
                  shared: set[str] | None = None) -> pd.DataFrame:
    """The frame of people's match keys, with the keys that depend on the whole list (an email domain no
    company owns: ``shared``, else found in this list) put together from each record's own. The domains are kept
    in the frame's attrs["shared"] (the blocking index, pairindex.py, compares them with the last run's)."""
    edomain = _objects(keys["edomain"])
    shared = _shared_domains(edomain, keys["company"]) if shared is None else shared
    # an internet provider's mailboxes are private ones, though no list names it: their domain says no company
    in_shared = _isin(edomain, shared)
    cdomain = np.where(in_shared, _objects(keys["cdomain_web"]), _objects(keys["cdomain_own"])) if shared \
        else _objects(keys["cdomain_own"])
    out = pd.DataFrame({
        "rid": _objects(index.astype(str)),
        "table": table,
        **{k: _objects(keys[k]) for k in ("first", "last", "canon1", "canon2", "email")},
        "email_raw": _objects(email_raw),
        **{k: _objects(keys[k]) for k in ("local", "edomain", "phone1", "phone2", "company")},
        "cdomain": cdomain,
        "efree": in_shared | _isin(edomain, FREE_DOMAINS),
        "city": _objects(keys["city"]),
        "country": _objects(keys["country"]),
    }, copy=False)
    out.attrs["shared"] = shared
    return out


people_frame = _people_frame  # (public: the blocking index, pairindex.py, rebuilds the rows records had with it)


class PeopleRounds:
    """The people's keys of one of the runner's rounds, handed to the next round of the same run (never saved):
    the runner applies a round's change set and runs dedupe again on those tables (runner._settle), so a record
    the change set did not archive or write a keyed cell of has the texts it had, and keeps its keys without its
    cells read and hashed again. The rest (a survivor whose empty fields were filled) are keyed as
    person_records keys them; a table the change set appended or restored rows to, or contacts when an account
    changed (their company is their account's), are keyed whole. The frames come out equal either way."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str], tuple[pd.Index, np.ndarray, dict[str, Any], Any]] = {}  # lists or arrays
        self._touched: dict[str, set[str]] | None = None  # table -> record IDs the last change set touched; None: all
        self._archived: dict[str, set[str]] = {}  # table -> record IDs the last change set archived

    def keep(self, table: str, region: str, index: pd.Index, digests: np.ndarray, keys: dict[str, list],
             email_raw: list[str]) -> None:
        # as given (lists): made arrays only by a next round, if the runner runs one
        self._kept[(table, region)] = (index, digests, {c: keys[c] for c in PERSON_KEYS}, email_raw)

    def after(self, changes) -> "PeopleRounds":
        """What the next round starts from, once ``changes`` (this round's change set) are applied."""
        out = PeopleRounds()
        out._kept = self._kept
        touched: dict[str, set[str]] = {}
        whole: set[str] = set()
        for u in changes.updates:
            if u.field in _TEXTS or (u.table, u.field) in (("contacts", "account"), ("accounts", "name")):
                touched.setdefault(u.table, set()).add(str(u.record_id))
        for a in changes.archives:
            touched.setdefault(a.table, set()).add(str(a.record_id))
            out._archived.setdefault(a.table, set()).add(str(a.record_id))
        for r in changes.restores:
            whole.add(r.table)
        for a in changes.appends:
            whole.add(a.table)
        if changes.columns or changes.tables:
            whole |= set(self._kept_tables())
        if touched.get("accounts") or "accounts" in whole:
            whole.add("contacts")
        out._kept = {k: v for k, v in self._kept.items() if k[0] not in whole}
        out._touched = touched
        return out

    def digests(self, table: str, region: str) -> np.ndarray | None:
        """The digests of the texts of the table's records this round keyed (in frame order); None: not kept."""
        kept = self._kept.get((table, region))
        return None if kept is None else kept[1]

    def _kept_tables(self) -> set[str]:
        return {t for t, _ in self._kept}

    def records(self, tables: Tables, table: str, region: str, memory: KeyMemory) -> pd.DataFrame | None:
        """The frame of the table's people from the last round's keys and the touched records' cells; None when
        the last round kept none for it (person_records then keys the table whole)."""
        kept = self._kept.get((table, region))
        if kept is None or self._touched is None:
            return None
        index, digests, keys, email_raw = kept
        keys, email_raw = {c: _objects(v) for c, v in keys.items()}, _objects(email_raw)
        df = tables.df(table)
        at = index.get_indexer(df.index) if index.is_unique and df.index.is_unique else None
        if at is None:
            return None
        touched = self._touched.get(table, set())
        left = np.ones(len(index), dtype=bool)
        left[at[at >= 0]] = False
        if (at < 0).any() or not set(index[left].astype(str)) <= self._archived.get(table, set()):
            return None  # records came, or left other than archived: not the tables the last round left
        fresh = df.index.isin(list(touched)) if touched else np.zeros(len(at), dtype=bool)
        if not fresh.any() and not left.any() and (at == np.arange(len(at))).all():
            out_keys = keys
            out_digests, out_email = digests, email_raw
        else:
            out_keys = {c: v[at] for c, v in keys.items()}
            out_digests, out_email = digests[at], email_raw[at]
        rows = np.flatnonzero(fresh)
        kind = f"people|{region}"
        if len(rows) < len(df.index):
            keep = ~fresh
            memory.reuse(kind, out_digests[keep], {c: v[keep] for c, v in out_keys.items()})
        if len(rows):
            texts = _person_texts(tables, table, df.iloc[rows])
            sub_digests = texts_digests(texts)
            got = memory.keyed(kind, texts, PERSON_KEYS, lambda sub: _person_keys_of(sub, region), sub_digests)
            out_keys = {c: v.copy() for c, v in out_keys.items()}
            out_digests, out_email = out_digests.copy(), out_email.copy()
            for c in PERSON_KEYS:
                out_keys[c][rows] = _objects(got[c])
            out_digests[rows] = sub_digests
            out_email[rows] = _objects(texts["email"])
        self._kept[(table, region)] = (df.index, out_digests, out_keys, out_email)
        return _people_frame(df.index, table, out_keys, out_email)


def _objects(values) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _shared_domains(domains, companies) -> set[str]:
    """Email domains of this list that are nobody's company: given by people of three or more companies,
    none of which it names (an internet provider's, 'telefonica.net', missing from FREE_DOMAINS)."""
    d, c = _objects(domains), _objects(companies)
    given = (d != "") & (c != "") & ~_isin(d, FREE_DOMAINS)
    pairs = pd.DataFrame({"d": d[given], "c": c[given]}, copy=False).drop_duplicates()
    counts = pairs["d"].value_counts(sort=False)
    many = pairs[_isin(pairs["d"].to_numpy(object), counts.index[counts.to_numpy() >= 3])]
    out = set()
    for dom, cs in many.groupby("d", sort=False)["c"]:
        label = dom.split(".")[0][:4]
        if not any(label in co.replace(" ", "") for co in cs):
            out.add(dom)
    return out


def _isin(values: np.ndarray, among) -> np.ndarray:
    """Which of ``values`` are in ``among``, by hashing (numpy sorts: slow on texts)."""
    if not len(among):
        return np.zeros(len(values), dtype=bool)
    return pd.Series(values, copy=False).isin(list(among)).to_numpy()


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
