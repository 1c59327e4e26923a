"""Benchmark of the Google Sheets store on the local API emulator: the push of a sample CRM into a fresh
emulated spreadsheet, then for each job (and all of them as one run) the API calls, bytes sent and received and
seconds of the read, the jobs and the write, on 10k leads (and 100k with --sizes 10000 100000).

The emulator runs in this process (a thread); the push and each job run in a child process of their own, so
their peak RSS is crm-sheets' alone (what a run against Google costs), printed beside the emulator's process
peak. Each row also gives the spreadsheet's cells after the job's write (all sheets' rowCount x columnCount, as
Google counts them against its 10 million). Run from the repo root:
    python benchmarks/bench_gsheets.py [--sizes 10000] [--jobs check dedupe automate report all]
        [--workbooks DIR (keep and reuse the sample workbooks)] [--sheets (each sheet's grid)]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NOW = dt.datetime(2026, 3, 15, 9, 0)
ALL = ["check", "dedupe", "automate", "report"]


def peak_mb() -> float:
    """This process's peak resident memory so far: VmHWM where there is one (Linux). ru_maxrss would not do
    for a child: exec keeps the high-water mark of the process it was forked from (the emulator's here)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(argv: list[str]) -> None:
    """In a child process: ``push URL ID PATH`` or ``job URL ID JOB``; prints one JSON line of figures."""
    from crm_sheets.store.gsheets.client import CallStats, Pacer, connect

    what, url, sid, arg = argv
    stats = CallStats()
    conn = connect(endpoint=url, pacer=Pacer(100_000), stats=stats)
    # The emulator validates every request against the discovery document: an 8 MB batch can take minutes on a
    # loaded 2-core machine, past the client's 120 s timeout (Google answers a batch in seconds).
    conn.client.http_client.timeout = 1800
    out: dict = {}
    if what == "push":
        from crm_sheets.store.gsheets.push import push

        t0, c0 = time.perf_counter(), time.process_time()
        pushed = push(arg, conn, sid)
        out = {"calls": pushed.calls, "mb_out": stats.bytes_sent / 1e6, "s": time.perf_counter() - t0,
               "cpu": time.process_time() - c0}
    else:
        from crm_sheets.runner import run_jobs
        from crm_sheets.store.gsheets.store import GSheetsStore

        store = GSheetsStore(f"gsheets://{sid}", connection=conn)
        c0 = time.process_time()
        t0 = time.perf_counter()
        tables = store.read()
        out["read_s"] = time.perf_counter() - t0
        out["read_calls"], out["read_mb"] = stats.requests, stats.bytes_received / 1e6
        t0 = time.perf_counter()
        _results, changes = run_jobs(tables, ALL if arg == "all" else [arg], now=NOW)
        out["jobs_s"] = time.perf_counter() - t0
        base = (stats.requests, stats.bytes_sent)
        t0 = time.perf_counter()
        store.apply(changes, tables)
        out["write_s"] = time.perf_counter() - t0
        out["write_calls"], out["write_mb"] = stats.requests - base[0], (stats.bytes_sent - base[1]) / 1e6
        w = store.last_write
        out.update(batches=w.get("batches", 0), requests=w.get("requests", 0), retries=stats.retries,
                   cpu=time.process_time() - c0)
    out["peak_mb"] = peak_mb()
    print(json.dumps(out), flush=True)


def in_child(*argv: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *argv], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_grids(spreadsheet, when: str) -> None:
    """Each sheet's grid as Google counts it against the 10 million cells: rowCount x columnCount."""
    grids = [(s.properties.get("title", "?"), s.row_count, s.column_count) for s in spreadsheet.sheets
             if s.properties.get("sheetType", "GRID") == "GRID"]
    print(f"  grids {when}: " + ", ".join(f"{t} {r:,}x{c}={r * c:,}" for t, r, c in
                                          sorted(grids, key=lambda g: -g[1] * g[2])), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--jobs", nargs="+", default=[*ALL, "all"])
    parser.add_argument("--workbooks", type=Path, default=None,
                        help="folder to keep the sample workbooks in and reuse them from (a 100k one takes minutes)")
    parser.add_argument("--sheets", action="store_true",
                        help="also print each sheet's grid (rows x columns) after the push and after each job")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    from crm_sheets.gsheets_emulator import running_emulator
    from crm_sheets.store.gsheets.client import Pacer, connect

    with tempfile.TemporaryDirectory() as tmp, running_emulator(quota_per_minute=100_000) as emulator:
        conn = connect(endpoint=emulator.url, pacer=Pacer(100_000))
        for size in args.sizes:
            t0 = time.perf_counter()
            path = (args.workbooks or Path(tmp)) / f"crm{size}.xlsx"
            if not path.exists():  # built in a child process too
                path.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run([sys.executable, "-c", "import datetime as dt, sys; from crm_sheets.workbook import "
                                "new_workbook; new_workbook(sys.argv[1], sample_data=int(sys.argv[2]), "
                                f"now=dt.datetime.fromisoformat({NOW.isoformat()!r}))", str(path), str(size)],
                               check=True)
            built = time.perf_counter() - t0
            print(f"\n{size:,} leads ({path.stat().st_size / 1e6:.1f} MB workbook, built in {built:.1f} s)")
            pushed_id = conn.create(f"bench {size}")
            p = in_child("push", emulator.url, pushed_id, str(path))
            print(f"push: {p['calls']} calls, {p['mb_out']:.1f} MB sent, {p['s']:.1f} s ({p['cpu']:.1f} s CPU), "
                  f"peak RSS {p['peak_mb']:,.0f} MB; {emulator.spreadsheets[pushed_id].cell_count():,} cells of "
                  f"Google's 10,000,000 (emulator process peak {peak_mb():,.0f} MB)", flush=True)
            if args.sheets:
                print_grids(emulator.spreadsheets[pushed_id], "after the push")
            print("| job | read calls | read MB in | read s | jobs s | write calls | write MB out | write s | "
                  "batches | requests | retries | CPU s | peak RSS MB | cells after |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for job in args.jobs:
                sid = conn.create(f"bench {size} {job}")
                # Each job starts from the pushed spreadsheet: a copy of the emulator's in-memory one (pushing
                # again would take minutes of the emulator's time and measure nothing new). Spreadsheet.copy
                # shares the cells (never changed in place) and copies the rest.
                emulator.spreadsheets[sid] = emulator.spreadsheets[pushed_id].copy()
                emulator.spreadsheets[sid].id = sid
                r = in_child("job", emulator.url, sid, job)
                print(f"| {job} | {r['read_calls']} | {r['read_mb']:.2f} | {r['read_s']:.2f} | {r['jobs_s']:.2f} | "
                      f"{r['write_calls']} | {r['write_mb']:.2f} | {r['write_s']:.2f} | {r['batches']} | "
                      f"{r['requests']:,} | {r['retries']} | {r['cpu']:.1f} | {r['peak_mb']:,.0f} | "
                      f"{emulator.spreadsheets[sid].cell_count():,} |", flush=True)
                if args.sheets:
                    print_grids(emulator.spreadsheets[sid], f"after {job}")
                emulator.spreadsheets.pop(sid, None)  # keep the emulator's memory to one spreadsheet
            print(f"(emulator process peak RSS {peak_mb():,.0f} MB)")
            emulator.spreadsheets.pop(pushed_id, None)


if __name__ == "__main__":
    main()
