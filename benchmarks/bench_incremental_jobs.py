"""dedupe and automate alone, with and without their memories of the last run, on the sales sample at N leads.

The tables are those `crm-sheets new --sample-data N` holds (bench_automate.sample_tables), settled by a first run
of the job (dedupe's merges applied, automate's snapshot taken). Then, each in a fresh process (so no cache of
an earlier run helps), the job runs on those tables plus 0, 1 or 10 new leads (copies of existing leads with a
new name and email, no phone: not duplicates), once from scratch (no memory: what main did) and once with the
state the settled run returned. dedupe's "0 new" leaves out its kept result (which gives the last result again
without pairing): it measures the pairing with and without the key memory. Times are the job's alone (no read,
no write), CPU seconds of the process (all threads) and wall seconds: the CPU time tells a slow machine from a
busy one. Run from the repo root:
    python benchmarks/bench_incremental_jobs.py [--size 100000] [--jobs dedupe automate]
"""
from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

NOW = datetime(2026, 11, 2, 9, 0)
LATER = NOW + timedelta(minutes=15)


def settle(job: str, size: int, folder: Path) -> Path:
    """The tables after a first run of ``job`` and the state it returned, pickled."""
    from bench_automate import sample_tables

    from crm_sheets.runner import run_jobs

    tables = sample_tables(size)
    results, _ = run_jobs(tables, [job], now=NOW)
    state = json.loads(json.dumps(results[0].state, default=str))
    out = folder / f"{job}-{size}.pkl"
    out.write_bytes(pickle.dumps((tables, state)))
    return out


def once(job: str, settled: Path, new: int, memory: bool) -> dict:
    """One measured run (in this process, which does nothing else)."""
    import pandas as pd

    from crm_sheets.runner import run_jobs

    tables, state = pickle.loads(settled.read_bytes())
    if not memory:
        state = {k: v for k, v in state.items() if k not in ("keys", "evaluated")} if job == "automate" else None
    elif job == "dedupe":
        state = {k: v for k, v in state.items() if k != "inputs"}  # the pairing, not the kept result
    if new:
        df = tables["leads"].df
        rows = df.iloc[[(i * 7919) % len(df) for i in range(new)]].copy()
        rows.index = pd.Index([f"L-9{i:05d}" for i in range(new)], name=df.index.name)
        rows["first_name"] = [f"Zyx{i}" for i in range(new)]
        rows["email"] = [f"new.lead{i}@example.org" for i in range(new)]
        rows["phone"] = None
        rows["mobile"] = None
        tables["leads"].df = pd.concat([df, rows])
    cpu, wall = time.process_time(), time.perf_counter()
    run_jobs(tables, [job], now=LATER, options={job: {"state": state}})
    return {"cpu": round(time.process_time() - cpu, 2), "wall": round(time.perf_counter() - wall, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--jobs", nargs="+", default=["dedupe", "automate"])
    ap.add_argument("--once", nargs=4, metavar=("JOB", "PICKLE", "NEW", "MEMORY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.once:
        job, path, new, memory = args.once
        print(json.dumps(once(job, Path(path), int(new), memory == "1")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(f"| job | new leads | from scratch: CPU s / wall s | with memory: CPU s / wall s |  ({args.size:,} leads)")
        print("|---|---|---|---|")
        for job in args.jobs:
            settled = settle(job, args.size, Path(tmp))
            for new in (0, 1, 10):
                cells = []
                for memory in ("0", "1"):
                    out = subprocess.run([sys.executable, __file__, "--once", job, str(settled), str(new), memory],
                                         capture_output=True, text=True, check=True, cwd=REPO)
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    cells.append(f"{r['cpu']} / {r['wall']}")
                print(f"| {job} | {new} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
