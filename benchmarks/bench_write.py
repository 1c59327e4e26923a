"""The write of a first run alone: apply_changeset (with make_plan) on the change set a first `crm-sheets run` of
the sample workbook writes, timed apart from the jobs, with the output's parts checked against the input's
(parts the change set does not touch must be copied as their compressed bytes).

The change set is captured once per size (a first run, in a subprocess) and kept in the cache; each timing runs
in a fresh subprocess. CPU time is the figure to compare (the machine may be shared). Run from the repo root:
    python benchmarks/bench_write.py [--sizes 10000 30000] [--cache DIR] [--repeat 2] [--profile]
"""
from __future__ import annotations

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
NOW = "2026-03-15T09:00"


def capture(leads: int, cache: Path) -> Path:
    """The first run's workbook (before it) and the inputs of its first apply_changeset, kept in the cache."""
    base = cache / f"first-run-{leads}"
    if not base.with_suffix(".pkl").exists():
        subprocess.run([sys.executable, __file__, "--capture", str(leads), str(base)], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
    return base


def child_capture(leads: int, base: Path) -> None:
    import crm_sheets.store.xlsx.writer as writer
    from crm_sheets.cli import cli

    work = Path(tempfile.mkdtemp(prefix="bench-write-"))
    book = work / "big.xlsx"
    subprocess.run([sys.executable, "-m", "crm_sheets", "new", str(book), "--sample-data", str(leads)],
                   check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    original = writer.apply_changeset

    def keep(src, dst, changeset, tables, *, rider=None):
        if not base.with_suffix(".pkl").exists():
            shutil.copy(src, base.with_suffix(".xlsx"))
            with open(base.with_suffix(".part"), "wb") as f:
                pickle.dump((changeset, tables, rider), f, protocol=5)
            os.replace(base.with_suffix(".part"), base.with_suffix(".pkl"))
        return original(src, dst, changeset, tables, rider=rider)

    writer.apply_changeset = keep
    try:
        cli(["run", str(book), "--now", NOW])
    except SystemExit:
        pass  # the sample data has problems to report: exit code 1
    shutil.rmtree(work, ignore_errors=True)


def child_time(base: Path, profile: bool) -> None:
    from crm_sheets.store.xlsx.writer import apply_changeset

    with open(base.with_suffix(".pkl"), "rb") as f:
        changeset, tables, rider = pickle.load(f)
    out = Path(tempfile.mkdtemp(prefix="bench-write-")) / "out.xlsx"
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
    c, t = time.process_time(), time.perf_counter()
    apply_changeset(base.with_suffix(".xlsx"), out, changeset, tables, rider=rider)
    cpu, wall = time.process_time() - c, time.perf_counter() - t
    if profile:
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    with zipfile.ZipFile(base.with_suffix(".xlsx")) as a, zipfile.ZipFile(out) as b:
        before = {i.filename: i for i in a.infolist()}
        raw = same_content_deflated_again = 0
        for i in b.infolist():
            o = before.get(i.filename)
            if o is not None and (o.CRC, o.file_size) == (i.CRC, i.file_size):
                if o.compress_size == i.compress_size:
                    raw += 1
                else:
                    same_content_deflated_again += 1
        written = sum(i.file_size for i in b.infolist()
                      if i.filename not in before or before[i.filename].CRC != i.CRC) / 1e6
    print(f"{cpu:.2f} {wall:.2f} {raw} {same_content_deflated_again} {written:.0f}")
    shutil.rmtree(out.parent, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000], help="numbers of leads")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "crm-sheets-bench", help="captured runs")
    ap.add_argument("--repeat", type=int, default=2, help="timings per size; the fastest is shown")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one write per size to stderr")
    ap.add_argument("--capture", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--time", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.capture:
        return child_capture(int(args.capture[0]), Path(args.capture[1]))
    if args.time:
        return child_time(Path(args.time), args.profile)
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"{'leads':>8} {'cpu s':>7} {'wall s':>7} {'parts copied raw':>17} {'same, deflated again':>21} {'MB written':>11}")
    for leads in args.sizes:
        base = capture(leads, args.cache)
        best = None
        for k in range(args.repeat):
            cmd = [sys.executable, __file__, "--time", str(base)] + (["--profile"] if args.profile and k == 0 else [])
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=REPO).stdout.split()
            if best is None or float(out[0]) < float(best[0]):
                best = out
        assert best is not None
        print(f"{leads:>8} {best[0]:>7} {best[1]:>7} {best[2]:>17} {best[3]:>21} {best[4]:>11}", flush=True)


if __name__ == "__main__":
    main()
