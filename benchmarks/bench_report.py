"""Benchmark: the report job at 10k and 100k sample leads; prints a table.

- report(): figures and every sheet from the sample generator's tables (no I/O), best of --repeat;
- crm-sheets report: the whole command on a built workbook (read + report + write), in its own process:
  wall time and that process's peak memory (ru_maxrss).
Workbooks are built once per size (sample.generate + builder) and cached in $TMPDIR/crm-sheets-bench;
each command run works on a fresh copy. `--random` uses a quick random data set for report() instead.
Run: python benchmarks/bench_report.py [--sizes 10000 100000] [--repeat 1] [--random]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from crm_sheets.jobs.report import report
from crm_sheets.model import Table, Tables, load_schema
from crm_sheets.model.tables import empty_frame

NOW = datetime(2026, 3, 15, 9)
SEED = 7
CACHE = Path(tempfile.gettempdir()) / "crm-sheets-bench"


def sample_tables(n: int) -> Tables:
    from crm_sheets.sample import generate

    return generate("sales", leads=n, seed=SEED, now=NOW).to_tables("en")


def random_tables(n: int, seed: int = SEED) -> Tables:
    """A quick data set of the same shape, for machines where generating samples is too slow."""
    rng = np.random.default_rng(seed)
    schema = load_schema("sales")
    day = lambda k, back=900: pd.Timestamp(NOW).normalize() - pd.to_timedelta(rng.integers(0, back, k), unit="D")  # noqa: E731
    owners = np.array(["Ann", "Bob", "Chloé", "Dev", "Eve", ""])
    n_acc, n_deals = max(n // 10, 1), max(n // 5, 1)
    ids = lambda p, k: [f"{p}-{i:05d}" for i in range(1, k + 1)]  # noqa: E731
    stages = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed won", "Closed lost"]
    frames = {
        "accounts": pd.DataFrame({"name": [f"Co {i}" for i in range(n_acc)], "type": rng.choice(["customer", "prospect"], n_acc),
                                  "country": rng.choice(["France", "FR", "Germany", "United States", "UK"], n_acc),
                                  "city": rng.choice(["Paris", "Lyon", "Berlin", "Austin", "London"], n_acc)}, index=ids("A", n_acc)),
        "leads": pd.DataFrame({"status": rng.choice(["new", "contacted", "qualified", "unqualified", "converted"], n),
                               "source": rng.choice(["web_form", "referral", "event", "linkedin", None], n),
                               "created": day(n), "score": rng.integers(-20, 100, n).astype("float"),
                               "grade": rng.choice(["A", "B", "C", "D"], n), "owner": rng.choice(owners, n)}, index=ids("L", n)),
        "deals": pd.DataFrame({"name": [f"Deal {i}" for i in range(n_deals)], "stage": rng.choice(stages, n_deals),
                               "amount": rng.integers(500, 50000, n_deals).astype(float), "currency": rng.choice(["USD", "EUR", "GBP", None], n_deals),
                               "owner": rng.choice(owners, n_deals), "account": [f"A-{i:05d}" for i in rng.integers(1, n_acc + 1, n_deals)],
                               "close_date": day(n_deals, 400) + pd.Timedelta(days=200), "created": day(n_deals), "closed": day(n_deals, 400)},
                              index=ids("D", n_deals)),
        "activities": pd.DataFrame({"date": day(3 * n, 120) + pd.to_timedelta(rng.integers(8, 18, 3 * n), unit="h"),
                                    "type": rng.choice(["call", "email", "meeting", "note"], 3 * n), "owner": rng.choice(owners, 3 * n),
                                    "lead": [f"L-{i:05d}" for i in rng.integers(1, n + 1, 3 * n)],
                                    "deal": [f"D-{i:05d}" for i in rng.integers(1, n_deals + 1, 3 * n)], "subject": "Follow-up"}, index=ids("AC", 3 * n)),
        "tasks": pd.DataFrame({"title": "Call back", "due": day(n // 2, 60) + pd.Timedelta(days=40), "owner": rng.choice(owners, n // 2),
                               "status": rng.choice(["open", "done"], n // 2)}, index=ids("T", n // 2)),
        "orders": pd.DataFrame({"date": day(n // 2), "account": [f"A-{i:05d}" for i in rng.integers(1, n_acc + 1, n // 2)],
                                "amount": rng.integers(50, 5000, n // 2).astype(float), "currency": rng.choice(["USD", "EUR"], n // 2)}, index=ids("O", n // 2)),
        "contacts": pd.DataFrame({"last_name": "X", "nps": pd.array(rng.integers(0, 11, n // 5), dtype="Int64")}, index=ids("C", n // 5)),
    }
    tables = {}
    for name, t in schema.tables.items():
        base = empty_frame(t)
        tables[name] = Table(t, frames.get(name, base).reindex(columns=base.columns))
    st = empty_frame(schema.table("stages"), [f"row{i + 2}" for i in range(6)])
    st["stage"], st["order"] = stages, pd.array(range(1, 7), dtype="Int64")
    st["probability"] = [0.1, 0.2, 0.5, 0.75, 1.0, 0.0]
    st["won"], st["lost"] = pd.array([False] * 4 + [True, False]), pd.array([False] * 5 + [True])
    tables["stages"] = Table(schema.table("stages"), st)
    return Tables(schema, tables, settings={"currency": "USD", "exchange_rates": "EUR=1.08, GBP=1.27"})


def time_report(tables: Tables, repeat: int) -> tuple[float, int]:
    best, cells = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = report(tables, now=NOW)
        best = min(best, time.perf_counter() - t0)
        cells = sum(len(r) for s in result.changes.sheets for r in s.rows)
    return best, cells


def built_workbook(n: int) -> Path:
    path = CACHE / f"report-sales-{n}-seed{SEED}.xlsx"
    if not path.exists():
        from crm_sheets.workbook import new_workbook

        CACHE.mkdir(parents=True, exist_ok=True)
        new_workbook(path, sample_data=n, seed=SEED, now=NOW, force=True)
    return path


def time_command(n: int, repeat: int) -> tuple[float, float, float]:
    """(best wall seconds, peak MB of that run, workbook MB) of `crm-sheets report` on a fresh copy."""
    src = built_workbook(n)
    best = (float("inf"), 0.0)
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="crm-sheets-bench-") as tmp:
            path = Path(tmp) / "crm.xlsx"
            shutil.copyfile(src, path)
            cmd = [sys.executable, "-m", "crm_sheets", "report", str(path), "--now", NOW.isoformat()]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _pid, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"crm-sheets report failed on {n} leads: {proc.stderr.read().decode()}")
            proc.stderr.close()
            peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux
            best = min(best, (wall, peak))
    return best[0], best[1], src.stat().st_size / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--random", action="store_true", help="time report() on random data instead of the sample generator")
    args = ap.parse_args()
    print(f"{'leads':>8} {'data':>7} {'deals':>7} {'activities':>10} {'report() s':>10} {'cells':>7} "
          f"{'xlsx MB':>7} {'command s':>9} {'peak MB':>7}")
    for n in args.sizes:
        tables = random_tables(n) if args.random else sample_tables(n)
        seconds, cells = time_report(tables, args.repeat)
        wall, peak, size = time_command(n, args.repeat)
        print(f"{n:>8} {'random' if args.random else 'sample':>7} {len(tables['deals'].df):>7} {len(tables['activities'].df):>10} "
              f"{seconds:>10.2f} {cells:>7} {size:>7.1f} {wall:>9.2f} {peak:>7.0f}", flush=True)


if __name__ == "__main__":
    main()
