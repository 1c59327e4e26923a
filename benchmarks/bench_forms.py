"""Benchmark of web-form intake: submissions per second and the latency of the POST (p50, p99) from
concurrent loopback clients, while the applier writes the journal into the workbook; then how long the
applier takes to drain what is left.

Each submission is a GET of a fresh token then a POST (the latency is the POST's: validation with the
check rules, the journal commit with its fsync, the 303). The server is `crm-sheets forms-serve` in its
own process, the clients are threads of this one. Run from the repo root:
    python benchmarks/bench_forms.py [--submissions 5000] [--clients 20] [--leads 1000]
    python benchmarks/bench_forms.py --applier-round 200 --leads 10000   # one applier round alone
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--submissions", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--leads", type=int, default=1000, help="sample leads in the workbook before the load")
    ap.add_argument("--apply-interval", type=float, default=2.0)
    ap.add_argument("--applier-round", type=int, default=0, metavar="N",
                    help="time one applier round of N journal entries instead (read, dedupe, write)")
    args = ap.parse_args()
    if args.applier_round:
        return applier_round(args.leads, args.applier_round)

    from crm_sheets.forms.journal import Journal, journal_path
    from crm_sheets.workbook import new_workbook
    from tests._forms_helpers import FormsServer, run_load

    with tempfile.TemporaryDirectory() as tmp:
        book = new_workbook(Path(tmp) / "crm.xlsx", sample_leads=args.leads)
        server = FormsServer(book, "--ip-rate", "1000000/min", "--form-rate", "1000000/min",
                             "--apply-interval", str(args.apply_interval)).start()
        try:
            t0 = time.perf_counter()
            results = run_load(server.port, args.submissions, args.clients, deadline=3600)
            elapsed = time.perf_counter() - t0
            waiting_at_end = server.health()["waiting"]
            t1 = time.perf_counter()
            while server.health()["waiting"]:
                time.sleep(0.2)
            drain = time.perf_counter() - t1
        finally:
            server.stop()
        ok = [r for r in results if r["status"] == 303]
        lat = sorted(r["latency"] for r in ok)
        journal = Journal(journal_path(book))
        applied = len(journal.entries("applied"))
        size = book.stat().st_size
    q = statistics.quantiles(lat, n=100, method="inclusive")
    print(f"workbook: {args.leads} sample leads; {args.submissions} submissions from {args.clients} clients "
          f"(token GET + POST each), applier every {args.apply_interval:g} s; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"answered 303: {len(ok)} of {len(results)}")
    print(f"submissions/s: {len(ok) / elapsed:.0f}  ({elapsed:.1f} s)")
    print(f"POST latency: p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms")
    print(f"waiting when the load ended: {waiting_at_end}; drained in {drain:.1f} s; applied {applied}; "
          f"workbook {size / 1e6:.1f} MB")


def applier_round(leads: int, entries: int) -> None:
    from crm_sheets.forms.applier import apply_waiting
    from crm_sheets.forms.journal import Journal
    from crm_sheets.forms.validation import neutralise
    from crm_sheets.workbook import new_workbook
    from tests._forms_helpers import person

    with tempfile.TemporaryDirectory() as tmp:
        book = new_workbook(Path(tmp) / "crm.xlsx", sample_leads=leads)
        journal = Journal.beside(book)
        for i in range(entries):
            journal.append(token=f"t{i}", form="contact-us",
                           values={"table": "leads", "title": "Contact us",
                                   "fields": {k: neutralise(v) for k, v in person(i).items()}})
        t0, c0 = time.perf_counter(), time.process_time()
        outcome = apply_waiting(book, journal)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"one applier round: {len(outcome.applied)} entries into a {leads}-lead workbook in {wall:.1f} s "
          f"(CPU {cpu:.1f} s; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
