"""The jobs' states in the outbox file, tied to the workbook generation they describe (see Outbox.prepare_states and
commit_states): the table, how long generations and the jobs' memories are kept, and the lookups.
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from crm_sheets.jobs import MEMORIES

GENERATIONS_TABLE = """CREATE TABLE IF NOT EXISTS generations (
    id TEXT PRIMARY KEY, sha256 TEXT, states TEXT NOT NULL, committed INTEGER, saved_at TEXT NOT NULL)"""
KEEP_GENERATIONS = 20  # a restored backup (Settings `backups`, default 5) still finds the states it was written with
KEEP_MEMORIES = 2  # generations whose states keep the jobs' memories (crm_sheets.jobs.MEMORIES); older ones drop them


def forget_memories(db: sqlite3.Connection, committed: int) -> None:
    """Drop the jobs' memories from the states of the generation committed as ``committed``, once it is no longer
    among the newest KEEP_MEMORIES: a restored backup that carries it still finds the states, and the jobs rebuild
    their memories from the tables. One generation a commit, so each generation's states are rewritten once."""
    row = db.execute("SELECT id, states FROM generations WHERE committed = ?", (committed,)).fetchone()
    if row is None:
        return
    states = json.loads(row[1])
    dropped = False
    for job, keys in MEMORIES.items():
        state = states.get(job)
        if isinstance(state, dict):
            for key in keys:
                dropped |= state.pop(key, None) is not None
    if dropped:
        db.execute("UPDATE generations SET states = ? WHERE id = ?", (json.dumps(states, default=str), row[0]))


@dataclass(frozen=True)
class JobStates:
    """The jobs' states for one workbook generation: ``states`` by job name (plus the Outbox sheet's digest)."""

    states: dict[str, Any]
    generation: str | None = None  # the generation they belong to (None: no state saved yet, or an old crm-sheets')
    sha256: str | None = None
    committed: bool = True  # False: prepared by a run that replaced the file and stopped before committing
    matched: bool = False  # they belong to the workbook's own generation (not the latest as a fallback)


def states_of_generation(db: sqlite3.Connection, generation: str | None, sha256: str | None) -> JobStates:
    db.execute("BEGIN")  # one snapshot for the lookups below
    try:
        return _lookup_states(db, generation, sha256)
    finally:
        db.execute("COMMIT")


def _lookup_states(db: sqlite3.Connection, generation: str | None, sha256: str | None) -> JobStates:
    cols = "id, sha256, states, committed"
    row = None
    if generation:
        row = db.execute(f"SELECT {cols} FROM generations WHERE id = ?", (generation,)).fetchone()
    if row is None and sha256:
        row = db.execute(f"SELECT {cols} FROM generations WHERE sha256 = ? ORDER BY committed IS NULL, committed DESC",
                         (sha256,)).fetchone()
    if row is not None:
        return JobStates(json.loads(row[2]), row[0], row[1], row[3] is not None, matched=True)
    row = db.execute(f"SELECT {cols} FROM generations WHERE committed IS NOT NULL ORDER BY committed DESC LIMIT 1").fetchone()
    if row is not None:
        return JobStates(json.loads(row[2]), row[0], row[1], True)
    legacy = db.execute("SELECT name, value FROM state").fetchall()
    return JobStates({name: json.loads(value) for name, value in legacy})


def read_job_states(workbook: Any, generation: str | None = None, sha256: str | None = None) -> JobStates:
    """The job states of a workbook read without changing anything beside it (a dry run): no outbox
    file is created, and an existing one is opened read-only (SQLite's snapshot: never half a commit)."""
    from crm_sheets.store.state import state_of

    path = state_of(workbook).outbox  # outbox_path(workbook)
    if not path.exists():
        return JobStates({})
    # Not mode=ro: a read-only connection leaves SQLite's -wal/-shm files behind; a plain one that only
    # reads removes them on close and writes nothing.
    with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'state'").fetchone():
            return JobStates({})
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'generations'").fetchone():
            return JobStates({name: json.loads(value) for name, value in db.execute("SELECT name, value FROM state")})
        return states_of_generation(db, generation, sha256)
