"""Benchmark: what `crm-sheets run` costs after edits of other shapes than bench_run.py's (issue 16).

Starts from a ready workbook (a first run done, its cache and states beside it) and, for each shape, makes the
edited workbook once (openpyxl's whole-package save, or LibreOffice's), then copies the ready folder with the
edited file under the ready file's name (the cache is keyed by the file's path) and measures
`crm-sheets run BOOK --json` in its own process: wall, CPU, peak RSS, the ratios to a python-calamine read of
every sheet, and what the run wrote. With --phases the run goes through run_phases.py and its phase table is
kept in WORK/<shape>.phases.txt (where the time goes: which phase did full work). The edits are not timed.

    crm-sheets new READY/big-30000.xlsx --sample-data 30000
    crm-sheets run READY/big-30000.xlsx --now 2026-03-15T09:00      # the ready workbook: a first run done
    python benchmarks/bench_edits.py --ready READY --work WORK [--shapes status append ...] [--phases]

The ready folder is never written; WORK keeps the edited workbooks (made again only when missing).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import CALAMINE, NOW, crm, edit_leads, measured, summary  # noqa: E402


def _leads(wb):
    ws = wb["Leads"]
    header = {c.value: c.column for c in ws[1]}
    return ws, header, [r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value]


def _openpyxl(fn):
    def edit(path: Path) -> None:
        import openpyxl

        wb = openpyxl.load_workbook(path)
        fn(wb, random.Random(7))
        wb.save(path)
    return edit


@_openpyxl
def status(wb, rng):
    ws, h, rows = _leads(wb)
    for r in rng.sample(rows, 10):
        ws.cell(r, h["Status"]).value = rng.choice(["Qualified", "Contacted", "Unqualified"])


def _person(ws, h, r, i):
    for col, value in (("First name", f"Typed{i}"), ("Last name", "Newperson"), ("Email", f"typed{i}@example.org"),
                       ("Company", "Fresh Co"), ("City", "Lyon"), ("Status", "New")):
        ws.cell(r, h[col]).value = value


@_openpyxl
def append(wb, rng):
    ws, h, rows = _leads(wb)
    for i in range(10):
        _person(ws, h, rows[-1] + 1 + i, i)


@_openpyxl
def insert(wb, rng):
    ws, h, rows = _leads(wb)
    at = rows[len(rows) // 2]
    ws.insert_rows(at, 10)
    for i in range(10):
        _person(ws, h, at + i, i)


@_openpyxl
def delete(wb, rng):
    ws, h, rows = _leads(wb)
    for r in sorted(rng.sample(rows, 10), reverse=True):
        ws.delete_rows(r)


@_openpyxl
def rename_account(wb, rng):
    ws = wb["Accounts"]
    header = {c.value: c.column for c in ws[1]}
    ws.cell(5, header["Account name"]).value = "Renamed Holdings Ltd"


@_openpyxl
def activities(wb, rng):
    ws = wb["Activities"]
    header = {c.value: c.column for c in ws[1]}
    last = max(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value)
    src = list(ws.iter_rows(min_row=2, max_row=101, values_only=True))
    for i, values in enumerate(src):
        for j, v in enumerate(values[1:], start=2):  # no ID, as a person types them
            ws.cell(last + 1 + i, j).value = v
        ws.cell(last + 1 + i, header["Summary"]).value = f"typed activity {i}"


@_openpyxl
def deal_stages(wb, rng):
    ws = wb["Deals"]
    header = {c.value: c.column for c in ws[1]}
    rows = [r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value]
    for r in rng.sample(rows, 10):
        ws.cell(r, header["Stage"]).value = rng.choice(["Proposal", "Negotiation", "Closed won", "Closed lost"])


@_openpyxl
def team_column(wb, rng):
    ws, h, rows = _leads(wb)
    col = ws.max_column + 1
    ws.cell(1, col).value = "Region (ours)"
    for r in rows:
        ws.cell(r, col).value = rng.choice(["North", "South", "East", "West"])


@_openpyxl
def reorder(wb, rng):
    wb.move_sheet("Leads", offset=3)


def libreoffice(path: Path) -> None:
    """The bench's edit (10 leads' Notes and City), then a LibreOffice round trip (xlsx to xlsx)."""
    edit_leads(path, 10, 1)
    out, profile = path.parent / "lo-out", path.parent / "lo-profile"
    out.mkdir(exist_ok=True)
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                    "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(path)],
                   capture_output=True, timeout=1800, check=True)
    shutil.move(str(out / path.name), str(path))


SHAPES = {
    "nothing": lambda p: None,
    "bench (10 leads' Notes, City)": lambda p: edit_leads(p, 10, 1),
    "1 % of leads' Notes, City": lambda p: edit_leads(p, 300, 2),
    "10 leads' Status": status,
    "10 leads appended (no ID)": append,
    "10 rows inserted mid-Leads": insert,
    "10 leads deleted": delete,
    "an account renamed": rename_account,
    "100 Activities appended": activities,
    "10 Deals' stage": deal_stages,
    "a team column on Leads": team_column,
    "bench edit, LibreOffice save": libreoffice,
    "Leads sheet moved": reorder,
}


def slug(name: str) -> str:
    """A shape's short name (for --shapes and the files in WORK): "10 leads' Status" -> "10-leads-status"."""
    return "-".join("".join(c if c.isalnum() else " " for c in name.split(" (")[0].lower()).split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ready", type=Path, required=True, help="folder of the ready workbook (see above)")
    ap.add_argument("--book", default="big-30000.xlsx")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--shapes", nargs="*", help="slugs of the shapes to run (default: all): "
                    + " ".join(slug(s) for s in SHAPES))
    ap.add_argument("--phases", action="store_true", help="run through run_phases.py, keep each phase table")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    ready = args.ready / args.book
    cal = measured([sys.executable, "-c", CALAMINE, str(ready)])
    print(f"{time.strftime('%H:%M')} load {os.getloadavg()[0]:.1f}; calamine {cal['wall']:.2f} s wall "
          f"{cal['cpu']:.2f} s CPU", flush=True)
    print("| shape | wall | CPU | peak RSS | × cal. wall | × cal. CPU | wrote |\n|---|---:|---:|---:|---:|---:|---|")
    for name, make in SHAPES.items():
        s = slug(name)
        if args.shapes and s not in args.shapes:
            continue
        edited = args.work / f"{s}.xlsx"
        if not edited.exists():
            shutil.copy(ready, edited.with_suffix(".tmp.xlsx"))
            make(edited.with_suffix(".tmp.xlsx"))
            edited.with_suffix(".tmp.xlsx").rename(edited)
        run_dir = args.work / "run"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir()
        for p in args.ready.glob(f".{args.book}*"):
            shutil.copy(p, run_dir / p.name)
        book = run_dir / args.book
        shutil.copy(edited, book)
        cmd = crm("run", str(book), "--json", "--now", NOW)
        if args.phases:  # the phase table (stderr) kept whole in a file
            cmd = ["sh", "-c", 'exec "$@" 2>"$0"', str(args.work / f"{s}.phases.txt"), sys.executable,
                   str(Path(__file__).parent / "run_phases.py"), *cmd[3:]]
        res = measured(cmd)
        note = summary(res) + ("" if res["rc"] in (0, 1) else f" FAILED rc={res['rc']}: {res['err'][-200:]}")
        print(f"| {name} | {res['wall']:.2f} | {res['cpu']:.2f} | {res['rss_mb']:.0f} MB | "
              f"{res['wall'] / cal['wall']:.2f}× | {res['cpu'] / cal['cpu']:.2f}× | {note} |", flush=True)


if __name__ == "__main__":
    main()
