"""The jobs' states in the outbox file, tied to the workbook generation they describe (see Outbox.prepare_states and
commit_states): the table, how long generations and the jobs' memories are kept, and the lookups.

A generation's states are kept in pieces: every part of them whose JSON is PIECE_MIN or more (a table's packed row
keys, dedupe's keys, automate's snapshot of a table) is a row of `state_pieces` keyed by the digest of its text, and
the generation's row holds the rest with {PIECE: digest} in its place. A run that changed little writes only the
pieces that changed (an unchanged piece is found by its digest and never written again) and a row of a few KB.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from crm_sheets.jobs import MEMORIES

GENERATIONS_TABLE = """CREATE TABLE IF NOT EXISTS generations (
    id TEXT PRIMARY KEY, sha256 TEXT, states TEXT NOT NULL, committed INTEGER, saved_at TEXT NOT NULL, pieces TEXT)"""
# `pieces`: the digests the row's states refer to, space-separated (what keeps a piece; added to older files)
PIECES_TABLE = "CREATE TABLE IF NOT EXISTS state_pieces (digest TEXT PRIMARY KEY, value TEXT NOT NULL)"
PIECE = "\u0000piece"  # {PIECE: digest}: a part of the states kept in state_pieces
PIECE_MIN = 8192  # characters of JSON from which a part is a piece of its own
_PIECE_DEPTH = 4  # job, key, table, part: deeper parts are pieces whole
_PIECE_FANOUT = 64  # a dict with more entries (automate's fired keys, phone verdicts) is one piece, not one per entry
KEEP_GENERATIONS = 20  # a restored backup (Settings `backups`, default 5) still finds the states it was written with
KEEP_MEMORIES = 2  # generations whose states keep the jobs' memories (crm_sheets.jobs.MEMORIES); older ones drop them


def split_states(states: Mapping[str, Any], pieces: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """The JSON of ``states`` (as json.dumps(states, default=str) once its pieces are joined back) with its pieces
    in their place, and the pieces' texts by digest (``pieces``: the dict they are put in, e.g. a PiecesWriter)."""
    pieces = {} if pieces is None else pieces
    states = dict(states)
    if not all(type(k) is str for k in states):
        return json.dumps(states, default=str), pieces
    return "{" + ", ".join(json.dumps(k) + ": " + _split(v, 1, pieces) for k, v in states.items()) + "}", pieces


def _split(value: Any, depth: int, pieces: dict[str, str]) -> str:
    if type(value) is dict and depth < _PIECE_DEPTH and len(value) <= _PIECE_FANOUT and all(type(k) is str for k in value):
        # as json.dumps writes a dict (separators ", " and ": "), from its entries' texts
        text = "{" + ", ".join(json.dumps(k) + ": " + _split(v, depth + 1, pieces) for k, v in value.items()) + "}"
    else:
        text = json.dumps(value, default=str)
    if len(text) < PIECE_MIN:
        return text
    digest = hashlib.blake2b(text.encode(), digest_size=20).hexdigest()
    pieces[digest] = text
    return json.dumps({PIECE: digest})


_MARK = json.dumps(PIECE)  # how a piece's place reads in JSON text


def _refs(states: dict[str, Any], out: list[tuple[dict, str, str, str]], job: str | None = None) -> list:
    """(dict, key, digest, job) of every piece ``states`` (JSON made by split_states, loaded) refers to."""
    for key, value in states.items():
        if type(value) is dict:
            if len(value) == 1 and PIECE in value:
                out.append((states, key, value[PIECE], job or key))
            else:
                _refs(value, out, job or key)
    return out


def joined(db: sqlite3.Connection, text: str, only: Iterable[str] | None = None) -> dict[str, Any]:
    """The states stored as ``text`` with their pieces put back (a piece's text may hold pieces of its own). A job
    one of whose pieces is missing has no state: the jobs start it afresh. ``only``: these jobs' states alone (the
    others' pieces are not read)."""
    states = json.loads(text)
    if only is not None and isinstance(states, dict):
        keep = set(only)
        states = {k: v for k, v in states.items() if k in keep}
    if _MARK not in text or not isinstance(states, dict):
        return states
    refs = _refs(states, [])
    lost = set()
    while refs:
        found = read_pieces(db, {r[2] for r in refs})
        more: list = []
        for holder, key, digest, job in refs:
            piece = found.get(digest)
            if piece is None:
                lost.add(job)
                continue
            value = holder[key] = json.loads(piece)
            if _MARK in piece and isinstance(value, dict):
                _refs(value, more, job)
        refs = more
    for job in lost:
        states.pop(job, None)
    return states


def pieces_of(db: sqlite3.Connection, text: str) -> str:
    """The digests of every piece the states stored as ``text`` refer to, also through other pieces (space-separated,
    as the generations' `pieces` column keeps them)."""
    digests: set[str] = set()
    todo = [r[2] for r in _refs(json.loads(text), [])] if _MARK in text else []
    while todo:
        digests.update(todo)
        more = []
        for _, piece in read_pieces(db, todo, marked=True).items():
            more += [r[2] for r in _refs(json.loads(piece), []) if r[2] not in digests]
        todo = more
    return " ".join(sorted(digests))


def read_pieces(db: sqlite3.Connection, digests: Iterable[str], marked: bool = False) -> dict[str, str]:
    """The pieces' texts by digest (``marked``: only those that refer to pieces of their own)."""
    wanted = list(digests)
    found: dict[str, str] = {}
    only = " AND instr(value, ?) > 0" if marked else ""
    for lo in range(0, len(wanted), 500):
        part = wanted[lo:lo + 500]
        found.update(db.execute(f"SELECT digest, value FROM state_pieces WHERE digest IN ({', '.join('?' * len(part))}){only}",
                                [*part, _MARK] if marked else part).fetchall())
    return found


_PUT_PIECE = "INSERT INTO state_pieces (digest, value) VALUES (?, ?) ON CONFLICT(digest) DO NOTHING"


def write_pieces(db: sqlite3.Connection, pieces: Mapping[str, str]) -> None:
    """Keep the pieces not kept yet (in the caller's transaction); a piece already there is not written again."""
    db.executemany(_PUT_PIECE, pieces.items())


class PiecesWriter(dict):
    """Where split_states puts the pieces it makes: each written as it is made (in the caller's transaction; a piece
    already there is not written again), its text not kept (its digest is, with an empty text). The pieces' texts
    are never all held at once: at 100k leads ~40 MB of them, under the write's working set."""

    def __init__(self, db: sqlite3.Connection) -> None:
        super().__init__()
        self.db = db

    def __setitem__(self, digest: str, text: str) -> None:
        if digest not in self:
            self.db.execute(_PUT_PIECE, (digest, text))
        super().__setitem__(digest, "")


def drop_unused_pieces(db: sqlite3.Connection) -> None:
    """Delete the pieces no kept generation refers to (in the caller's transaction, after it pruned generations)."""
    used: set[str] = set()
    for (names,) in db.execute("SELECT pieces FROM generations WHERE pieces IS NOT NULL AND pieces != ''"):
        used.update(names.split())
    gone = [(d,) for (d,) in db.execute("SELECT digest FROM state_pieces") if d not in used]
    db.executemany("DELETE FROM state_pieces WHERE digest = ?", gone)


def set_part(db: sqlite3.Connection, generation: str, job: str, key: str, value: Any) -> bool:
    """Set ``key`` of job ``job``'s state in the committed generation ``generation`` to ``value`` (in the caller's
    transaction), the rest of the states as stored (their pieces are neither read nor written again). False, and
    nothing changed, when that generation or that job's state (a dict, or a piece holding one) is not there."""
    row = db.execute("SELECT states FROM generations WHERE id = ? AND committed IS NOT NULL", (generation,)).fetchone()
    if row is None:
        return False
    states = json.loads(row[0])
    state = states.get(job) if isinstance(states, dict) else None
    if not isinstance(state, dict):
        return False
    pieces: dict[str, str] = {}
    if len(state) == 1 and PIECE in state:
        # the job's state is a piece whole (a small state, e.g. dedupe's ~9 KB): joined, set, and kept as a commit
        # keeps it (split_states), the other jobs' pieces untouched
        state = joined(db, json.dumps({job: state})).get(job)
        if not isinstance(state, dict):
            return False
        state[key] = value
        states[job] = json.loads(_split(state, 1, pieces))
    else:
        state[key] = json.loads(_split(value, 2, pieces))
    text = json.dumps(states)
    write_pieces(db, pieces)
    db.execute("UPDATE generations SET states = ?, pieces = ? WHERE id = ?", (text, pieces_of(db, text), generation))
    drop_unused_pieces(db)
    return True


def forget_memories(db: sqlite3.Connection, committed: int) -> None:
    """Drop the jobs' memories from the states of the generation committed as ``committed``, once it is no longer
    among the newest KEEP_MEMORIES: a restored backup that carries it still finds the states, and the jobs rebuild
    their memories from the tables. One generation a commit, so each generation's states are rewritten once (its
    row: the pieces only the memories were in go with drop_unused_pieces)."""
    row = db.execute("SELECT id, states FROM generations WHERE committed = ?", (committed,)).fetchone()
    if row is None:
        return
    states = json.loads(row[1])
    dropped = False
    for job, keys in MEMORIES.items():
        state = states.get(job)
        if isinstance(state, dict) and len(state) == 1 and PIECE in state:  # the job's state is a piece whole
            state = states[job] = joined(db, json.dumps({job: state})).get(job)
        if isinstance(state, dict):
            for key in keys:
                dropped |= state.pop(key, None) is not None
    if dropped:
        text, pieces = split_states(states)  # pieces kept whole are still in their place: only a job made whole is split
        write_pieces(db, pieces)
        db.execute("UPDATE generations SET states = ?, pieces = ? WHERE id = ?", (text, pieces_of(db, text), row[0]))


@dataclass(frozen=True)
class JobStates:
    """The jobs' states for one workbook generation: ``states`` by job name (plus the Outbox sheet's digest)."""

    states: dict[str, Any]
    generation: str | None = None  # the generation they belong to (None: no state saved yet, or an old crm-sheets')
    sha256: str | None = None
    committed: bool = True  # False: prepared by a run that replaced the file and stopped before committing
    matched: bool = False  # they belong to the workbook's own generation (not the latest as a fallback)


def states_of_generation(db: sqlite3.Connection, generation: str | None, sha256: str | None,
                         only: Iterable[str] | None = None) -> JobStates:
    db.execute("BEGIN")  # one snapshot for the lookups below
    try:
        return _lookup_states(db, generation, sha256, only)
    finally:
        db.execute("COMMIT")


def _lookup_states(db: sqlite3.Connection, generation: str | None, sha256: str | None,
                   only: Iterable[str] | None = None) -> JobStates:
    cols = "id, sha256, states, committed"
    row = None
    if generation:
        row = db.execute(f"SELECT {cols} FROM generations WHERE id = ?", (generation,)).fetchone()
    if row is None and sha256:
        row = db.execute(f"SELECT {cols} FROM generations WHERE sha256 = ? ORDER BY committed IS NULL, committed DESC",
                         (sha256,)).fetchone()
    if row is not None:
        return JobStates(joined(db, row[2], only), row[0], row[1], row[3] is not None, matched=True)
    row = db.execute(f"SELECT {cols} FROM generations WHERE committed IS NOT NULL ORDER BY committed DESC LIMIT 1").fetchone()
    if row is not None:
        return JobStates(joined(db, row[2], only), row[0], row[1], True)
    legacy = db.execute("SELECT name, value FROM state").fetchall()
    keep = None if only is None else set(only)
    return JobStates({name: json.loads(value) for name, value in legacy if keep is None or name in keep})


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
