"""An adversarial harness for the memories a run keeps between runs (the table cache, the run record, the jobs'
memories in the outbox's states): a workbook after its first run is edited as a person would, then `crm-sheets run
--json` runs on two copies of it, one with every memory as the last run left it and one from nothing (cache and
record deleted, the jobs' memories dropped from the states, both switched off), and the two outcomes are compared.
The outbox's items are kept on both sides, so nothing is sent twice and automate's fired keys stay as they are.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from helpers import calamine

# Sheets that say when and how long a run took, or carry the file's generation: the rest must be equal.
CLOCK_SHEETS = {"_crm_meta", "Runs"}
# What each job's state keeps only to go faster (rebuilt from the tables when missing). report's `sheets` and
# check's `sheet.sheets` say since when a sheet shows what it shows: kept, as a run from nothing keeps them.
_DROPPED = {"check": ("rows", "phones"), "dedupe": None, "automate": ("evaluated",),
            "report": ("inputs", "reads", "figures", "shown", "parts")}
_DROPPED_CHECK_SHEET = ("inputs", "findings")


def side_files(book: Path) -> dict[str, Path]:
    """The memories beside a workbook file."""
    return {"cache": book.with_name(f".{book.name}.crm-tables.cache"),
            "record": book.with_name(f".{book.name}.crm-settled"),
            "outbox": book.with_name(f".{book.name}.outbox.sqlite")}


def forget_memories(book: Path) -> None:
    """What a run from nothing finds beside ``book``: no cache, no record, and states without the jobs' memories
    (the outbox's items, fired keys and the sheets' "since" times kept)."""
    files = side_files(book)
    files["cache"].unlink(missing_ok=True)
    files["record"].unlink(missing_ok=True)
    if not files["outbox"].exists():
        return
    with sqlite3.connect(files["outbox"]) as db:
        for gid, text in db.execute("SELECT id, states FROM generations").fetchall():
            states = json.loads(text)
            for job, keys in _DROPPED.items():
                state = states.get(job)
                if keys is None:
                    states.pop(job, None)
                elif isinstance(state, dict):
                    for key in keys:
                        state.pop(key, None)
                    if job == "check" and isinstance(state.get("sheet"), dict):
                        for key in _DROPPED_CHECK_SHEET:
                            state["sheet"].pop(key, None)
            db.execute("UPDATE generations SET states = ? WHERE id = ?", (json.dumps(states), gid))


def cli(book: Path, *args: str, full: bool = False, timeout: int = 600) -> tuple[int, dict | None, str]:
    """`crm-sheets run BOOK --json ARGS` in a process of its own: (exit code, parsed --json or None, stderr)."""
    env = dict(os.environ)
    if full:
        env["CRM_SHEETS_TABLE_CACHE"] = "off"
        env["CRM_SHEETS_INCREMENTAL"] = "off"
    proc = subprocess.run([sys.executable, "-m", "crm_sheets", "run", str(book), "--json", *args],
                          capture_output=True, text=True, env=env, timeout=timeout)
    try:
        out = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        out = {"unparsed stdout": proc.stdout}
    return proc.returncode, out, proc.stderr


def cells(book: Path) -> dict[str, list]:
    """Every sheet's cells as python-calamine reads them, but the clock's sheets; numbers to 15 significant digits,
    what Excel and LibreOffice keep when they save: after such a save the full path lays the report sheets out
    again and writes them with every digit, where the incremental path knows they show the same figures and
    leaves them as the program saved them (0.452380952380952 for 0.4523809523809524)."""
    wb = calamine(book)
    return {name: [[_digits(v) for v in row] for row in wb.get_sheet_by_name(name).to_python()]
            for name in wb.sheet_names if name not in CLOCK_SHEETS}


def _digits(value):
    return float(f"{value:.15g}") if isinstance(value, float) else value


def outcome(book: Path, code: int, out: dict | None, stderr: str) -> dict:
    """What a person sees of a run, without what legitimately differs between the two paths: the backup's
    name, the `settled` answer, which sheets were laid out only to be found as they are (replaced_sheets)."""
    seen: dict = {"exit": code}
    if out is None:
        seen["stderr"] = stderr.strip().splitlines()[-1:] if stderr.strip() else []
    else:
        results = []
        for r in out.get("results", []):
            changes = {k: v for k, v in (r.get("changes") or {}).items() if k != "replaced_sheets"}
            results.append({"job": r.get("job"), "stats": r.get("stats"), "changes": changes,
                            "findings": r.get("findings"), "effects": r.get("effects")})
        seen["results"] = results
        seen["changes"] = {k: v for k, v in (out.get("changes") or {}).items() if k != "replaced_sheets"}
        delivery = out.get("delivery") or {}
        seen["delivery"] = {k: v for k, v in delivery.items() if k in ("sent", "failed", "waiting", "totals")}
        seen["notes"] = out.get("notes")
        seen["unparsed"] = out.get("unparsed stdout")
    seen["cells"] = cells(book) if book.exists() else None
    return seen


def pair(base_dir: Path, into: Path) -> tuple[Path, Path]:
    """Two copies of a workbook's folder (the workbook and its memories): incremental and full."""
    inc, full = into / "inc", into / "full"
    shutil.copytree(base_dir, inc, ignore=shutil.ignore_patterns(".crm-backups"))
    shutil.copytree(base_dir, full, ignore=shutil.ignore_patterns(".crm-backups"))
    return inc, full


def differences(a: dict, b: dict) -> list[str]:
    """Where two outcomes differ, said briefly (first differing cells per sheet)."""
    out = []
    for key in sorted(set(a) | set(b)):
        if key == "cells":
            continue
        if a.get(key) != b.get(key):
            if key == "results":
                for ra, rb in zip(a.get(key) or [], b.get(key) or []):
                    for k in ra:
                        if ra[k] != rb.get(k):
                            if k == "findings":
                                fa = {json.dumps(f, sort_keys=True) for f in ra[k] or []}
                                fb = {json.dumps(f, sort_keys=True) for f in rb[k] or []}
                                out.append(f"{ra['job']}.findings: only incremental {sorted(fa - fb)[:3]}, "
                                           f"only full {sorted(fb - fa)[:3]} ({len(fa)} vs {len(fb)})")
                            else:
                                out.append(f"{ra['job']}.{k}: {ra[k]} != {rb.get(k)}")
            else:
                out.append(f"{key}: {str(a.get(key))[:400]} != {str(b.get(key))[:400]}")
    ca, cb = a.get("cells") or {}, b.get("cells") or {}
    if ca.keys() != cb.keys():
        out.append(f"sheets: {sorted(ca)} != {sorted(cb)}")
    for name in sorted(set(ca) & set(cb)):
        if ca[name] != cb[name]:
            ra, rb = ca[name], cb[name]
            shown = 0
            for i in range(max(len(ra), len(rb))):
                x = ra[i] if i < len(ra) else None
                y = rb[i] if i < len(rb) else None
                if x != y:
                    out.append(f"{name} row {i + 1}: {x} != {y}")
                    shown += 1
                    if shown >= 3:
                        break
            out.append(f"{name}: {len(ra)} rows vs {len(rb)}")
    return out


def libreoffice_round_trip(book: Path, profile: Path) -> None:
    """Open and save ``book`` in LibreOffice (xlsx to xlsx): every part rewritten, shared strings renumbered."""
    out = book.parent / "lo-out"
    out.mkdir(exist_ok=True)
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                    "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(book)],
                   capture_output=True, timeout=600, check=True)
    shutil.move(str(out / book.name), str(book))
    out.rmdir()
