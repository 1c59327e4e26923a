"""Benchmark of the Google Sheets store on the local API emulator: for each job (and all of them as one run),
the API calls, bytes sent and received and seconds of the read, the jobs and the write, on a sample CRM of
10k leads (and 100k with --sizes 10000 100000) pushed into a fresh emulated spreadsheet.

The emulator runs in this process (a thread); its own work is part of the seconds, as Google's would be.
Each row also gives the spreadsheet's cells after the job's write (Google's cap is 10 million) and the peak
RSS so far. Run from the repo root:
    python benchmarks/bench_gsheets.py [--sizes 10000] [--jobs check dedupe automate report all]
"""
from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NOW = dt.datetime(2026, 3, 15, 9, 0)
ALL = ["check", "dedupe", "automate", "report"]


def peak_gb() -> float:
    """This process's peak resident memory so far (the emulator runs in it)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--jobs", nargs="+", default=[*ALL, "all"])
    parser.add_argument("--workbooks", type=Path, default=None,
                        help="folder to keep the sample workbooks in and reuse them from (a 100k one takes minutes)")
    args = parser.parse_args()

    from crm_sheets.gsheets_emulator import running_emulator
    from crm_sheets.runner import run_jobs
    from crm_sheets.store.gsheets.client import CallStats, Pacer, connect
    from crm_sheets.store.gsheets.push import push
    from crm_sheets.store.gsheets.store import GSheetsStore

    with tempfile.TemporaryDirectory() as tmp, running_emulator(quota_per_minute=100_000) as emulator:
        for size in args.sizes:
            t0 = time.perf_counter()
            path = (args.workbooks or Path(tmp)) / f"crm{size}.xlsx"
            # Built in a child process, so the peak RSS below is the push's and the runs' (with the emulator's)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run([sys.executable, "-c", "import datetime as dt, sys; from crm_sheets.workbook import "
                                "new_workbook; new_workbook(sys.argv[1], sample_data=int(sys.argv[2]), "
                                f"now=dt.datetime.fromisoformat({NOW.isoformat()!r}))", str(path), str(size)],
                               check=True)
            built = time.perf_counter() - t0
            print(f"\n{size:,} leads ({path.stat().st_size / 1e6:.1f} MB workbook, built in {built:.1f} s)")
            print("| job | read calls | read MB in | read s | jobs s | write calls | write MB out | write s | "
                  "batches | requests | retries | cells after | peak RSS GB |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            stats = CallStats()
            conn = connect(endpoint=emulator.url, pacer=Pacer(100_000), stats=stats)
            pushed_id = conn.create(f"bench {size}")
            t0, c0 = time.perf_counter(), time.process_time()
            pushed = push(path, conn, pushed_id)
            push_s, push_cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"(push: {pushed.calls} calls, {stats.bytes_sent / 1e6:.1f} MB, {push_s:.1f} s, {push_cpu:.1f} s CPU "
                  "with the emulator's; "
                  f"{emulator.spreadsheets[pushed_id].cell_count():,} cells of Google's 10,000,000; "
                  f"peak RSS {peak_gb():.1f} GB)", flush=True)
            for job in args.jobs:
                stats = CallStats()
                conn = connect(endpoint=emulator.url, pacer=Pacer(100_000), stats=stats)
                sid = conn.create(f"bench {size} {job}")
                # Each job starts from the pushed spreadsheet: a copy of the emulator's in-memory one (pushing
                # again would take minutes of the emulator's time and measure nothing new). Spreadsheet.copy
                # shares the cells (never changed in place) and copies the rest: a deep copy of 100k leads'
                # cells would double the emulator's memory.
                emulator.spreadsheets[sid] = emulator.spreadsheets[pushed_id].copy()
                emulator.spreadsheets[sid].id = sid
                store = GSheetsStore(f"gsheets://{sid}", connection=conn)
                base = (stats.requests, stats.bytes_received, stats.bytes_sent)
                t0 = time.perf_counter()
                tables = store.read()
                read_s = time.perf_counter() - t0
                read_calls, read_in = stats.requests - base[0], stats.bytes_received - base[1]
                t0 = time.perf_counter()
                _results, changes = run_jobs(tables, ALL if job == "all" else [job], now=NOW)
                jobs_s = time.perf_counter() - t0
                base = (stats.requests, stats.bytes_received, stats.bytes_sent)
                t0 = time.perf_counter()
                store.apply(changes, tables)
                write_s = time.perf_counter() - t0
                w = store.last_write
                print(f"| {job} | {read_calls} | {read_in / 1e6:.2f} | {read_s:.2f} | {jobs_s:.2f} | "
                      f"{stats.requests - base[0]} | {(stats.bytes_sent - base[2]) / 1e6:.2f} | {write_s:.2f} | "
                      f"{w.get('batches', 0)} | {w.get('requests', 0):,} | {stats.retries} | "
                      f"{emulator.spreadsheets[sid].cell_count():,} | {peak_gb():.1f} |", flush=True)
                emulator.spreadsheets.pop(sid, None)  # keep the emulator's memory to one spreadsheet


if __name__ == "__main__":
    main()
