"""Benchmark of `crm-sheets check` and `check --fix` on sample workbooks of 10k and 100k leads: where the
time goes (read, check, the runner's in-memory apply, write) and the peak memory of each phase.

Each case runs in a fresh subprocess on a fresh copy of the workbook, so its peak memory is its own. The
phases are the runner's: XlsxStore.read(), the check job, ChangeSet.apply_to (what the runner does after
each job) with the audit rows, XlsxStore.apply(). The case "check cached" is a second check: an earlier
process saved its state (the phone verdicts) in the outbox file as the runner does, and this one loads it
(phase "state": load before the check plus save after it). Run from the repo root:
    python benchmarks/bench_check.py [--sizes 10000 100000] [--cases check "check cached"] [--cache DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NOW = datetime(2026, 11, 2, 9, 0)


def workbook_for(leads: int, cache: Path) -> Path:
    """`crm-sheets new --sample-data N` (seed 7), built once and cached."""
    from crm_sheets.workbook import new_workbook

    path = cache / f"check-sales-{leads}.xlsx"
    if not path.exists():
        t = time.perf_counter()
        part = path.with_suffix(".part.xlsx")
        new_workbook(part, sample_data=leads, now=NOW, force=True)
        part.rename(path)
        print(f"  built {path.name} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.0f} s", flush=True)
    return path


# ---------------------------------------------------------------------------------------------
# One case, in its own process


def peak_mb() -> float:
    """Peak resident memory since the last reset: VmHWM on Linux, else ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Start a new peak (Linux: writing 5 to clear_refs resets VmHWM), so each phase has its own."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def prime(path: str) -> None:
    """A first check whose state is saved where the runner keeps it: the cached case's earlier run."""
    from crm_sheets.jobs.check import check
    from crm_sheets.outbox import Outbox, outbox_path
    from crm_sheets.store import open_store

    result = check(open_store(path).read(), now=NOW)
    Outbox(outbox_path(path)).save_state("check", result.state, NOW)


def child(path: str, fix: bool, cached: bool = False) -> dict:
    from crm_sheets.jobs.check import check
    from crm_sheets.model.changeset import ChangeSet
    from crm_sheets.outbox import Outbox, outbox_path
    from crm_sheets.runner import audit_rows
    from crm_sheets.store import open_store

    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    peaks: dict[str, float] = {}

    def phase(name: str, fn):
        reset_peak()
        t, c = time.perf_counter(), time.process_time()  # CPU of every thread: the machine may be shared
        out = fn()
        times[name] = time.perf_counter() - t
        cpu[name] = time.process_time() - c
        peaks[name] = peak_mb()
        return out

    store = open_store(path)
    tables = phase("read", store.read)
    box = Outbox(outbox_path(path)) if cached else None
    state = phase("state", lambda: box.load_state("check")) if cached else None
    result = phase("check", lambda: check(tables, now=NOW, fix=fix, state=state))
    if cached:
        t, c = times["state"], cpu["state"]
        phase("state", lambda: box.save_state("check", result.state, NOW))
        times["state"] += t
        cpu["state"] += c

    def apply_in_memory() -> ChangeSet:  # what runner.run_jobs does after the job
        result.changes.apply_to(tables)
        merged = ChangeSet().extend(result.changes)
        audit_rows(tables, merged, NOW)
        return merged

    changes = phase("apply", apply_in_memory)
    phase("write", lambda: store.apply(changes, tables))
    return {
        "times": times, "cpu": cpu, "peaks": peaks, "findings": len(result.findings), "fixed": result.stats.get("fixed", 0),
        "records": sum(len(t) for t in tables.tables.values()),
    }


def measure(path: Path, fix: bool, work: Path, cached: bool = False) -> dict:
    copy = work / f"case-{'fix' if fix else 'check'}{'-cached' if cached else ''}.xlsx"
    shutil.copy(path, copy)
    head = f"import json, sys; sys.path.insert(0, {str(REPO)!r}); from benchmarks.bench_check import child, prime; "
    if cached:
        subprocess.run([sys.executable, "-c", head + f"prime({str(copy)!r})"], check=True, cwd=REPO)
    code = head + f"print(json.dumps(child({str(copy)!r}, {fix!r}, {cached!r})))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO)
    shutil.rmtree(copy.parent / ".crm-backups", ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


CASES = (("check", False, False), ("check --fix", True, False), ("check cached", False, True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--cases", nargs="+", choices=[c[0] for c in CASES], default=[c[0] for c in CASES],
                    help="run only these cases (e.g. --cases check 'check cached')")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crm-sheets-bench")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = workbook_for(n, args.cache)
            for case, fix, cached in (c for c in CASES if c[0] in args.cases):
                r = measure(path, fix, Path(tmp), cached)
                rows.append((n, path.stat().st_size / 1e6, case, r))
                print(f"  {n} {case}: {json.dumps(r)}", flush=True)
    head = f"{'leads':>8} {'MB':>5} {'case':<12} {'read s':>7} {'check s':>8} {'apply s':>8} {'write s':>8} {'total s':>8} {'I/O %':>6} {'fixed':>7} {'findings':>9} {'peak MB':>8}"
    print()
    print(head)
    for n, mb, case, r in rows:
        t, p = r["times"], r["peaks"]
        total = sum(t.values())
        io = (t["read"] + t["write"] + t.get("state", 0)) / total * 100  # the state is read and written too
        print(f"{n:>8} {mb:>5.1f} {case:<12} {t['read']:>7.2f} {t['check']:>8.2f} {t['apply']:>8.2f} {t['write']:>8.2f} "
              f"{total:>8.2f} {io:>5.0f}% {r['fixed']:>7} {r['findings']:>9} {max(p.values()):>8.0f}")
    print("\nCPU s by phase (read / check / apply / write), all threads:")
    for n, _, case, r in rows:
        c = r["cpu"]
        state = f"   (state load + save: {c['state']:.2f} CPU s, {r['times']['state']:.2f} wall s)" if "state" in c else ""
        print(f"  {n:>8} {case:<12} {c['read']:.2f} / {c['check']:.2f} / {c['apply']:.2f} / {c['write']:.2f}{state}")
    print("\npeak MB by phase (read / check / apply / write):")
    for n, _, case, r in rows:
        p = r["peaks"]
        print(f"  {n:>8} {case:<12} {p['read']:.0f} / {p['check']:.0f} / {p['apply']:.0f} / {p['write']:.0f}")


if __name__ == "__main__":
    main()
