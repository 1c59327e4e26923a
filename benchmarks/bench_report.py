"""Benchmark: report() (figures and every sheet) at 10k and 100k leads; prints wall time and peak memory.

Uses crm_sheets.sample.generate when it is available, else a quick random data set of the same shape.
Run: python benchmarks/bench_report.py [--random] [N ...]
"""
from __future__ import annotations

import sys
import time
import tracemalloc
from datetime import datetime

import numpy as np
import pandas as pd

from crm_sheets.jobs.report import report
from crm_sheets.model import Table, Tables, load_schema
from crm_sheets.model.tables import empty_frame

NOW = datetime(2026, 3, 15, 9)


def _random_tables(n: int, seed: int = 7) -> Tables:
    rng = np.random.default_rng(seed)
    schema = load_schema("sales")
    day = lambda k, back=900: pd.Timestamp(NOW).normalize() - pd.to_timedelta(rng.integers(0, back, k), unit="D")  # noqa: E731
    owners = np.array(["Ann", "Bob", "Chloé", "Dev", "Eve", ""])
    n_acc, n_deals = max(n // 10, 1), max(n // 5, 1)
    ids = lambda p, k: [f"{p}-{i:05d}" for i in range(1, k + 1)]  # noqa: E731
    stages = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed won", "Closed lost"]
    frames = {
        "accounts": pd.DataFrame({"name": [f"Co {i}" for i in range(n_acc)], "type": rng.choice(["customer", "prospect"], n_acc),
                                  "country": rng.choice(["France", "FR", "Germany", "United States", "UK", "Spain"], n_acc),
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
        df = frames.get(name, base)
        tables[name] = Table(t, df.reindex(columns=base.columns))
    st = empty_frame(schema.table("stages"), [f"row{i + 2}" for i in range(6)])
    st["stage"], st["order"] = stages, pd.array(range(1, 7), dtype="Int64")
    st["probability"] = [0.1, 0.2, 0.5, 0.75, 1.0, 0.0]
    st["won"], st["lost"] = pd.array([False] * 4 + [True, False]), pd.array([False] * 5 + [True])
    tables["stages"] = Table(schema.table("stages"), st)
    return Tables(schema, tables, settings={"currency": "USD", "exchange_rates": "EUR=1.08, GBP=1.27"})


def sample_tables(n: int, random: bool = False) -> tuple[Tables, str]:
    if random:
        return _random_tables(n), "random"
    try:
        from crm_sheets.sample import generate
    except ImportError:
        return _random_tables(n), "random"
    return generate("sales", leads=n, seed=7).tables, "sample"


def main(sizes: list[int], random: bool = False) -> None:
    print(f"{'leads':>8} {'data':>7} {'deals':>7} {'activities':>10} {'seconds':>8} {'peak MB':>8} {'sheets':>6} {'cells':>8}")
    for n in sizes:
        tables, kind = sample_tables(n, random)
        tracemalloc.start()
        t0 = time.perf_counter()
        result = report(tables, now=NOW)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        cells = sum(len(r) for s in result.changes.sheets for r in s.rows)
        print(f"{n:>8} {kind:>7} {len(tables['deals'].df):>7} {len(tables['activities'].df):>10} {seconds:>8.2f} {peak:>8.1f} "
              f"{len(result.changes.sheets):>6} {cells:>8}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--random"]
    main([int(a) for a in args] or [10_000, 100_000], random="--random" in sys.argv)
