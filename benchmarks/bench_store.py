"""Benchmark of the xlsx store against the naive openpyxl cycle: read, update 1 % of the Leads cells and
replace one report sheet, on generated workbooks of 10k and 100k leads (with deals and 2x activities).

Each case runs in a fresh subprocess, so its peak memory (VmHWM, else ru_maxrss) is its own; the store case
also gives the peak of its read and of its write (VmHWM reset after the read). Run from the repo root:
    python benchmarks/bench_store.py [--sizes 10000 100000] [--cache DIR] [--repeat 1]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SEED = 7
TOUCH = 0.01  # share of the Leads cells each case updates
REPORT_KEY = "leads"  # the "Leads Report" sheet  # the owned sheet replaced; falls back to the schema's first owned sheet


# ---------------------------------------------------------------------------------------------
# The workbooks (generated once, cached)


def sample_tables(leads: int) -> dict:
    """Leads, deals (one per 4 leads) and 2x activities: the sample generator's, or plain random ones."""
    try:
        from crm_sheets.sample import generate
    except ImportError:
        return plain_tables(leads)
    return generate("sales", leads=leads, seed=SEED).tables


def plain_tables(leads: int) -> dict:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    pick = lambda values, n: rng.choice(np.array(values, dtype=object), n)  # noqa: E731
    ids = lambda prefix, n: pd.Index([f"{prefix}-{i:05d}" for i in range(1, n + 1)], name="id")  # noqa: E731
    day = lambda n: pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")  # noqa: E731
    first, last = pick(["Ana", "Bob", "Chloé", "Dev", "Eve", "Farid", "Grace"], leads), pick(["Lopez", "Martin", "Patel", "Stone"], leads)
    company = np.array([f"Company {i}" for i in rng.integers(0, leads // 3 + 1, leads)], dtype=object)
    lead_df = pd.DataFrame({
        "first_name": first, "last_name": last,
        "email": [f"{f.lower()}.{n}@example.com" for f, n in zip(first, range(leads))],
        "company": company, "job_title": pick(["CEO", "CTO", "Buyer", "Ops"], leads), "city": pick(["Paris", "Lyon", "Leeds"], leads),
        "status": pick(["new", "contacted", "qualified", "unqualified"], leads), "created": day(leads),
        "engagement": rng.integers(0, 50, leads).astype(float), "notes": pick(["", "met at fair", "call back"], leads),
    }, index=ids("L", leads))
    n_deals = leads // 4
    deals = pd.DataFrame({
        "name": [f"Deal {i}" for i in range(n_deals)], "amount": rng.integers(500, 90_000, n_deals).astype(float),
        "close_date": day(n_deals), "created": day(n_deals), "next_step": pick(["demo", "proposal", "call"], n_deals),
    }, index=ids("D", n_deals))
    n_act = 2 * leads
    activities = pd.DataFrame({
        "date": day(n_act), "subject": pick(["Intro call", "Follow-up", "Demo"], n_act),
        "summary": pick(["went well", "no answer", "asked for pricing"], n_act),
        "lead": pick(list(lead_df.index), n_act),
    }, index=ids("A", n_act))
    return {"leads": lead_df, "deals": deals, "activities": activities}


def workbook_for(leads: int, cache: Path) -> Path:
    from crm_sheets.builder import build_workbook

    path = cache / f"sales-{leads}.xlsx"
    if not path.exists():
        t = time.perf_counter()
        build_workbook(path.with_suffix(".part.xlsx"), schema="sales", lang="en", data=sample_tables(leads), force=True)
        path.with_suffix(".part.xlsx").rename(path)
        print(f"  generated {path.name} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.0f} s", flush=True)
    plan = path.with_suffix(".plan.json")
    if not plan.exists():
        # In a subprocess too: a big parent would inflate the children's peak memory (Linux carries
        # ru_maxrss over fork and exec).
        subprocess.run([sys.executable, __file__, "--plan", str(path)], check=True, cwd=REPO)
    return path


# ---------------------------------------------------------------------------------------------
# The edits both cases make: the same cells, the same values, the same report


def plan_edits(path: Path) -> dict:
    """(record ID, field, value) updates over 1 % of the Leads cells, and the report sheet to replace.

    Planned once per workbook in the parent, so neither measured process pays for it.
    """
    from crm_sheets.store.xlsx import XlsxStore

    tables = XlsxStore(path).read()
    leads = tables["leads"]
    editable = [f for f in leads.schema.fields if f.type in ("text", "long_text", "number", "integer") and f.name in leads.df.columns]
    cells = len(leads.df) * len(leads.df.columns)
    rng = random.Random(SEED)
    ids = list(leads.df.index)
    updates = []
    for i in range(int(cells * TOUCH)):
        f = rng.choice(editable)
        value = f"edited {i}" if f.type in ("text", "long_text") else float(rng.randint(1, 1000))
        updates.append((rng.choice(ids), f.name, value))
    owned = tables.schema.owned_sheets
    key = REPORT_KEY if REPORT_KEY in owned else next(iter(owned))
    name = tables.schema.owned_sheet(key).sheet_name(tables.lang)
    rows = [["Stage", "Deals", "Value"]] + [[f"stage {i}", i * 3, i * 1234.5] for i in range(1, 11)]
    headers = {f.name: f.header(tables.lang) for f in leads.schema.fields}
    return {"updates": updates, "sheet": name, "key": key, "rows": rows, "headers": headers, "leads_sheet": leads.sheet}


def run_store(path: Path, plan: dict) -> dict:
    from crm_sheets.model import Cell, ChangeSet, SheetSpec
    from crm_sheets.store.xlsx import XlsxStore

    t0 = time.perf_counter()
    store = XlsxStore(path, backups=1)
    tables = store.read()
    t1 = time.perf_counter()
    read_peak = peak_mb()
    reset_peak()  # from here VmHWM is the write's own peak (the tables read stay in memory meanwhile)
    changes = ChangeSet()
    for record_id, field, value in plan["updates"]:
        changes.update("leads", record_id, field, value)
    rows = plan["rows"]
    rows = [[Cell(v, style="header") for v in rows[0]]] + rows[1:]
    changes.sheets.append(SheetSpec(plan["sheet"], plan["key"], rows=rows))
    t2 = time.perf_counter()
    store.apply(changes, tables)
    t3 = time.perf_counter()
    return {"read": t1 - t0, "write": t3 - t2, "total": (t1 - t0) + (t3 - t2), "cells": len(plan["updates"]),
            "read_peak_mb": read_peak, "write_peak_mb": peak_mb()}


def run_naive(path: Path, plan: dict) -> dict:
    import openpyxl

    t0 = time.perf_counter()
    wb = openpyxl.load_workbook(path)
    t1 = time.perf_counter()
    ws = wb[plan["leads_sheet"]]
    column_of = {c.value: c.column for c in ws[1]}
    # Find rows by ID and columns by header, as any script editing by record has to.
    row_of = {r[0].value: r[0].row for r in ws.iter_rows(min_row=2, max_col=1)}
    headers = plan["headers"]
    for record_id, field, value in plan["updates"]:
        ws.cell(row=row_of[record_id], column=column_of[headers[field]], value=value)
    name, rows = plan["sheet"], plan["rows"]
    if name in wb.sheetnames:
        index = wb.sheetnames.index(name)
        del wb[name]
        report = wb.create_sheet(name, index)
    else:
        report = wb.create_sheet(name)
    for r in rows:
        report.append(r)
    wb.save(path)
    t2 = time.perf_counter()
    return {"read": t1 - t0, "write": t2 - t1, "total": t2 - t0, "cells": len(plan["updates"])}


def child(case: str, src: str) -> None:
    """Run one case on a fresh copy of the workbook and print its figures as JSON."""
    plan = json.loads(Path(src).with_suffix(".plan.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="crm-bench-")) / "crm.xlsx"
    shutil.copy2(src, work)
    try:
        figures = {"store": run_store, "naive": run_naive}[case](work, plan)
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)
    figures["peak_mb"] = max(peak_mb(), figures.get("read_peak_mb", 0))
    print(json.dumps(figures))


def reset_peak() -> None:
    """Start VmHWM again from the current resident size (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_mb() -> float:
    """This process's peak resident memory: VmHWM on Linux (this program's own, unlike ru_maxrss)."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def measure(case: str, path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", case, str(path)], capture_output=True, text=True, cwd=REPO
    )
    if proc.returncode:
        raise SystemExit(f"{case} on {path.name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="numbers of leads")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crm-sheets-bench", help="generated workbooks")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest is shown")
    ap.add_argument("--child", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plan:
        args.plan.with_suffix(".plan.json").write_text(json.dumps(plan_edits(args.plan)))
        return
    if args.child:
        child(*args.child)
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        path = workbook_for(n, args.cache)
        best = {}
        for case in ("store", "naive"):
            runs = [measure(case, path) for _ in range(args.repeat)]
            best[case] = min(runs, key=lambda r: r["total"])
            print(f"  {n:>7,} leads  {case:<5} {best[case]['total']:7.2f} s  {best[case]['peak_mb']:6.0f} MB", flush=True)
        rows.append((n, path.stat().st_size / 1e6, best["store"], best["naive"]))
    print()
    print("| leads | file | cells edited | crm-sheets read + write | peak (read, write) | openpyxl load + save | peak | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, mb, s, o in rows:
        print(
            f"| {n:,} | {mb:.1f} MB | {s['cells']:,} | {s['total']:.2f} s ({s['read']:.2f} + {s['write']:.2f}) "
            f"| {s['peak_mb']:.0f} MB ({s['read_peak_mb']:.0f}, {s['write_peak_mb']:.0f}) "
            f"| {o['total']:.2f} s ({o['read']:.2f} + {o['write']:.2f}) "
            f"| {o['peak_mb']:.0f} MB | {o['total'] / s['total']:.1f}x |"
        )


if __name__ == "__main__":
    main()
