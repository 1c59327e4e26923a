"""Benchmark: what a `crm-sheets run` costs against merely reading the workbook; prints a table (issue 16).

For each size: `crm-sheets new big.xlsx --sample-data N` in a temp folder, then, each case in its own process:
- calamine: python-calamine reads every sheet to Python lists (the floor of a full read);
- first run: `crm-sheets run` on the new workbook;
- nothing edited: `crm-sheets run` again;
- 10 edited: 10 leads' Notes and City changed and the workbook saved by openpyxl (a whole-package save, as
  Excel and LibreOffice do: every part rewritten), then `crm-sheets run`;
- 1 % edited: the same with 1 % of the leads.
Each case's own file is also read by calamine just before the run (a file saved by openpyxl, or written by a run,
is not the new workbook: openpyxl's shared strings make calamine's read of it slower), and the last column gives
the case against that read. Wall, CPU (user + system of the process and its children) and peak RSS (the child's ru_maxrss, read by a
small wrapper process so each case has its own) and the ratios of wall and of CPU to the calamine read (on a
busy machine the CPU ratio is the one to read: wall time includes waiting for other processes). Each case is
printed as soon as it is measured, and the table at the end of each size. The edits and
openpyxl's save are not timed. The load average is printed beside the figures: the machine may be shared.
Run: python benchmarks/bench_run.py [--sizes 10000 100000] [--keep DIR] [--no-edits]
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

NOW = "2026-03-15T09:00:00"  # every run as of the same moment: the runs compare, not the clock
CALAMINE = (
    "import sys\n"
    "from python_calamine import CalamineWorkbook\n"
    "wb = CalamineWorkbook.from_path(sys.argv[1])\n"
    "n = sum(len(wb.get_sheet_by_name(s).to_python()) for s in wb.sheet_names)\n"
    "print(n)\n"
)


def measured(cmd: list[str]) -> dict:
    """Run ``cmd`` under a wrapper process that reports the command's own wall, CPU and peak RSS."""
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "try:\n"
        "    d = json.loads(p.stdout)\n"
        "    out = json.dumps({k: d.get(k) for k in ('written', 'backup', 'changes')}) if isinstance(d, dict) else p.stdout\n"
        "except ValueError:\n"
        "    out = p.stdout[-2000:]\n"
        "print(json.dumps({'rc': p.returncode, 'wall': wall, 'cpu': u.ru_utime + u.ru_stime,\n"
        "                  'rss_mb': u.ru_maxrss / 1024, 'out': out, 'err': p.stderr[-2000:]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def crm(*args: str) -> list[str]:
    return [sys.executable, "-m", "crm_sheets", *args]


def edit_leads(path: Path, n: int, seed: int) -> None:
    """Change ``n`` random leads' Notes and City and save the whole package with openpyxl."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    rows = list(range(2, ws.max_row + 1))
    rng = random.Random(seed)
    for i, r in enumerate(rng.sample(rows, min(n, len(rows)))):
        ws.cell(r, header["Notes"]).value = f"Edited by the benchmark ({seed}.{i})"
        ws.cell(r, header["City"]).value = rng.choice(["Lyon", "Boston", "Leeds", "Graz", "Porto"])
    wb.save(path)


def summary(res: dict) -> str:
    try:
        d = json.loads(res["out"])
    except (ValueError, KeyError):
        return ""
    s = d.get("changes", {})
    return (f"written={d.get('written')} backup={'yes' if d.get('backup') else 'no'} cells={s.get('updated_cells')} "
            f"rows={s.get('appended_rows')} sheets={s.get('replaced_sheets')}")


def bench(n: int, folder: Path, edits: bool = True) -> list[tuple[str, dict, str]]:
    book = folder / f"big-{n}.xlsx"
    for p in folder.glob(f".big-{n}*"):
        p.unlink() if p.is_file() else shutil.rmtree(p)
    book.unlink(missing_ok=True)
    shutil.rmtree(folder / ".crm-backups", ignore_errors=True)
    subprocess.run(crm("new", str(book), "--sample-data", str(n)), check=True, stdout=subprocess.DEVNULL)
    rows: list[tuple[str, dict, str, dict]] = []
    cal = measured([sys.executable, "-c", CALAMINE, str(book)])
    rows.append(("calamine read, every sheet", cal, f"{int(cal['out'].strip() or 0):,} rows", cal))
    print(f"\n{n:,} leads: {book.stat().st_size / 1e6:.1f} MB; each case as it is measured:", flush=True)
    print(_line(*rows[-1], cal), flush=True)
    run = crm("run", str(book), "--json", "--now", NOW)
    for label, prepare in (
        ("`run`, first run", None),
        ("`run`, nothing edited", None),
        ("`run`, 10 leads edited + saved", lambda: edit_leads(book, 10, 1)),
        ("`run`, 1 % of leads edited + saved", lambda: edit_leads(book, max(1, n // 100), 2)),
        # the first edited run after a run that wrote types again the tables that write changed (the cache has no
        # digest of their cells as the file holds them); later edited runs, like this one, find them in the cache
        ("`run`, 10 other leads edited + saved (an edited run after one)", lambda: edit_leads(book, 10, 3)),
    ):
        if prepare and not edits:
            continue
        if prepare:
            prepare()
        own = measured([sys.executable, "-c", CALAMINE, str(book)])  # this case's file, as the run finds it
        before = book.read_bytes()
        res = measured(run)
        note = summary(res) + (" (file unchanged)" if book.read_bytes() == before else "")
        if res["rc"] not in (0, 1):
            note += f" FAILED rc={res['rc']}: {res['err'][-300:]}"
        rows.append((label, res, note, own))
        print(_line(label, res, note, own, cal), flush=True)
    print(f"\n{n:,} leads: {book.stat().st_size / 1e6:.1f} MB, load average {os.getloadavg()[0]:.2f} "
          f"(start of size: see above)")
    print("| what | wall | CPU | peak RSS | × calamine (wall) | × calamine (CPU) | notes | "
          "× calamine of its own file (wall / CPU) |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for label, r, note, own in rows:
        print(_line(label, r, note, own, cal))
    return rows


def _line(label: str, r: dict, note: str, own: dict, cal: dict) -> str:
    """A row of the table; the CPU ratio is the one to read on a busy machine (wall time waits for the others).
    ``cal``: calamine's read of the new workbook; ``own``: of the file this case's run was given."""
    return (f"| {label} | {r['wall']:.2f} s | {r['cpu']:.2f} s | {r['rss_mb']:.0f} MB | {r['wall'] / cal['wall']:.2f}× | "
            f"{r['cpu'] / cal['cpu']:.2f}× | {note} | {r['wall'] / own['wall']:.2f}× / {r['cpu'] / own['cpu']:.2f}× "
            f"(read {own['wall']:.2f} s) |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    ap.add_argument("--keep", type=Path, help="work in this folder and keep the workbooks")
    ap.add_argument("--no-edits", action="store_true",
                    help="leave out the edited cases (openpyxl's load and save of a 100k workbook take minutes)")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="crm-bench-run-"))
    folder.mkdir(parents=True, exist_ok=True)
    # Our modules compiled once, as pip compiles an installed package's: a shell with PYTHONDONTWRITEBYTECODE set
    # would otherwise compile them again in every measured process (~0.1-0.2 s each)
    import crm_sheets
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(crm_sheets.__file__)], check=False,
                   stdout=subprocess.DEVNULL)
    print(f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} CPUs · load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} · {folder}")
    try:
        for n in args.sizes:
            bench(n, folder, edits=not args.no_edits)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
