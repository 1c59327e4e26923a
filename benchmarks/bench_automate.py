"""Benchmark of the automate job on the sales sample at 10k and 100k leads: a first run with no state, then a
second run with the state of the first (on the tables as the first run left them, as the runner does).

Input: `generate('sales', leads=N, seed=7).to_tables()` plus the template's rule sheets (scoring and
assignment rules, automations, email templates, sequence steps, stages), which `crm-sheets new` writes
and the generator leaves to the builder. Each size runs in a fresh subprocess, so its peak memory is its
own; the peak of each run is measured from a reset (Linux VmHWM). Run from the repo root:
    python benchmarks/bench_automate.py [--sizes 10000 100000] [--profile]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NOW = datetime(2026, 11, 2, 9, 0)  # a Monday: the weekly digest is due
SECOND = datetime(2026, 11, 3, 9, 0)  # the next morning


def sample_tables(leads: int):
    """The reader's view of a `crm-sheets new --sample-data N` workbook: sample data and the template's rules."""
    from crm_sheets.builder.layout import template_rows
    from crm_sheets.model import Table
    from crm_sheets.model.tables import empty_frame
    from crm_sheets.sample import generate

    tables = generate("sales", leads=leads, seed=7, now=NOW).to_tables()
    for name, ts in tables.schema.tables.items():
        if ts.kind != "rules" or not ts.rows or name in tables.tables:
            continue
        rows = template_rows(ts, "en")
        ids = [f"row{i + 2}" for i in range(len(rows))]
        df = empty_frame(ts, ids).astype(object)
        for rid, rec in zip(ids, rows):
            for k, v in rec.items():
                df.at[rid, k] = v
        tables.tables[name] = Table(ts, df, sheet=ts.sheet_name("en"), rows={r: i + 2 for i, r in enumerate(ids)})
    return tables


def peak_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _counts(result) -> dict:
    kinds: dict[str, int] = {}
    for e in result.effects:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    appends: dict[str, int] = {}
    for a in result.changes.appends:
        appends[a.table] = appends.get(a.table, 0) + 1
    return {"effects": len(result.effects), "kinds": kinds, "tasks": appends.get("tasks", 0),
            "activities": appends.get("activities", 0), "updates": len(result.changes.updates),
            "bad_rules": result.stats.get("bad_rules", 0), "fired_keys": len(result.state.get("fired", {})),
            "state_kb": len(json.dumps(result.state, default=str)) / 1024}


def child(leads: int, profile: bool = False) -> dict:
    from crm_sheets.jobs.automate import automate

    tables = sample_tables(leads)
    out: dict = {"leads": leads, "records": sum(len(t.df) for t in tables.tables.values())}
    state = None
    for run, now in (("first", NOW), ("second", SECOND)):
        reset_peak()
        base = peak_mb()
        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            result = prof.runcall(automate, tables, now=now, state=state)
            pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
        else:
            result = automate(tables, now=now, state=state)
        out[run] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                    "peak": peak_mb(), "base": base, **_counts(result)}
        result.changes.apply_to(tables)  # what the runner does before the next run
        state = result.state
    return out


def measure(leads: int, profile: bool) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(REPO)!r}); from benchmarks.bench_automate import child; "
            f"print(json.dumps(child({leads}, {profile!r})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.PIPE, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--profile", action="store_true", help="Print a cProfile of each run on stderr.")
    args = ap.parse_args()
    header = ("leads", "run", "wall s", "CPU s", "RSS before MB", "peak MB", "effects", "emails", "chat", "webhooks", "tasks", "activities", "cell updates", "fired keys", "state KB")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i != 1 else "---" for i in range(len(header))) + "|")
    for n in args.sizes:
        r = measure(n, args.profile)
        for run in ("first", "second"):
            m = r[run]
            k = m["kinds"]
            print(f"| {n:,} | {run} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['base']:.0f} | {m['peak']:.0f} | {m['effects']} | {k.get('email', 0)} | "
                  f"{k.get('chat', 0)} | {k.get('webhook', 0)} | {m['tasks']} | {m['activities']} | {m['updates']:,} | {m['fired_keys']} | {m['state_kb']:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
