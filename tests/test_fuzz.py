"""Fuzzing a real workbook: random byte flips and truncations of its parts (inflated and re-zipped, so the
XML readers see the damage) and of the zip file itself. Whatever the damage, `check` and `run` answer
with an exit code (0, 1, 2 or 3), never a traceback, and a file they refuse is never changed.

The seed is fixed, so a failing case number reproduces; CRM_SHEETS_FUZZ_CASES sets how many cases run.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import random
import zipfile

import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.workbook import new_workbook

NOW = dt.datetime(2026, 11, 2, 9, 0)
SEED = 20261206
CASES = int(os.environ.get("CRM_SHEETS_FUZZ_CASES", "300"))
QUICK_CASES = 12  # the quick loop (-m "not slow") fuzzes the first 12 cases; the slow run (CI) all of them
# The parts every read goes through, fuzzed more often than the rest.
HOT_PARTS = ("xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/sharedStrings.xml", "xl/styles.xml",
             "[Content_Types].xml")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> bytes:
    path = new_workbook(tmp_path_factory.mktemp("fuzz") / "crm.xlsx", sample_leads=0, now=NOW)
    return path.read_bytes()


def _rezip(original: bytes, part: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as zi, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, data if info.filename == part else zi.read(info))
    return out.getvalue()


def _flip(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        if not b:
            break
        i = rng.randrange(len(b))
        b[i] = rng.choice((b[i] ^ (1 << rng.randrange(8)), rng.randrange(256), ord("<"), ord("&"), ord('"'), 0))
    return bytes(b)


def mutate(original: bytes, case: int) -> tuple[bytes, str]:
    """The damaged workbook of one case and what was done to it (for the failure message)."""
    rng = random.Random(SEED * 100_003 + case)
    with zipfile.ZipFile(io.BytesIO(original)) as zf:
        names = [i.filename for i in zf.infolist()]
        hot = [n for n in names if n in HOT_PARTS]
        sheets = [n for n in names if n.startswith("xl/worksheets/sheet")]
        part = rng.choice(rng.choice((hot, sheets, sheets, names)))
        data = zf.read(part)
    # Damage inside a part reaches the XML readers; damage to the zip itself is mostly refused at the door.
    kind = rng.choice(("flip-part", "flip-part", "flip-part", "truncate-part", "truncate-part", "flip-zip", "truncate-zip"))
    if kind == "flip-part":
        return _rezip(original, part, _flip(rng, data)), f"{kind} {part}"
    if kind == "truncate-part":
        return _rezip(original, part, data[: rng.randrange(len(data) + 1)]), f"{kind} {part}"
    if kind == "flip-zip":
        return _flip(rng, original), kind
    return original[: rng.randrange(len(original))], kind


def _command(case: int) -> list[str]:
    # Mostly check (the fast path through every reader); some runs, dry and real, through every job.
    return [["check"], ["check"], ["run", "--dry-run"], ["check", "--fix"], ["run"]][case % 5]


@pytest.mark.parametrize("case", [c if c < QUICK_CASES else pytest.param(c, marks=pytest.mark.slow) for c in range(CASES)])
def test_a_damaged_workbook_gets_an_exit_code_never_a_traceback_and_a_refused_file_is_unchanged(base, tmp_path, case):
    data, what = mutate(base, case)
    path = tmp_path / "crm.xlsx"
    path.write_bytes(data)
    before = hashlib.sha256(data).hexdigest()
    command = _command(case)
    result = CliRunner().invoke(cli, [*command, str(path), "--now", NOW.isoformat()], catch_exceptions=True)
    context = f"case {case} ({what}), {' '.join(command)}: exit {result.exit_code}\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        context + "".join(__import__("traceback").format_exception(result.exception)))
    assert result.exit_code in (0, 1, 2, 3), context
    assert "Traceback" not in result.output, context
    if result.exit_code in (2, 3):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before, context
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), context
