"""The jobs' states are kept in pieces (outbox/states.py): a commit writes only the parts that changed, every
lookup gives back the states exactly as they were given, and a run that died between preparing its states and
committing them still finds them (and the next commit keeps what it needs)."""
import json
import sqlite3
from datetime import datetime

from crm_sheets.outbox import KEEP_MEMORIES, Outbox
from crm_sheets.outbox.states import GENERATIONS_TABLE, PIECE, PIECE_MIN, read_job_states, split_states

NOW = datetime(2026, 11, 2, 9, 0)


def big_states(tag: str = "") -> dict:
    """States shaped as the jobs' are at a few thousand leads: packed strings per table, long lists, many keys."""
    return {
        "check": {"phones": {"verdicts": {"US": {f"+1555{n:07d}": [True, "+1 555"] for n in range(900)}}},
                  "sheet": {"digest": "d"},
                  "rows": {"tables": {t: {"packed": (t + tag) * 4000} for t in ("leads", "contacts", "deals")}}},
        "dedupe": {"version": 1, "keys": "k" * 30000, "stats": {"merged": 2}, "findings": []},
        "automate": {"tables": {"leads": {"ids": [f"L-{n:05d}" for n in range(3000)]}},
                     "fired": {f"rule:L-{n:05d}": "2026-11-01" for n in range(500)}, "evaluated": {"r1": "e" * 9000},
                     "round_robin": {"owner": 3}},
        "report": {"figures": json.dumps({"won": 3.5, "when": "today"}) * 400, "sheets": {"Dashboard": "x"}},
        "outbox_sheet": {"digest": "o"},
    }


def pieces(path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT digest, rowid FROM state_pieces").fetchall())


def test_states_read_back_exactly_as_given_from_every_lookup(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    states = big_states()
    text, parts = split_states(states)
    assert len(text) < PIECE_MIN and parts, "the large parts are pieces of their own"
    box.prepare_states("g1", "sha1", states, NOW)
    box.commit_states("g1", NOW)
    assert box.job_states("g1").states == states
    assert box.job_states(None, "sha1").states == states
    assert box.job_states("unknown").states == states  # the latest committed
    for job in states:
        assert box.load_state(job) == states[job]
    book = tmp_path / "book.xlsx"
    (tmp_path / ".book.xlsx.outbox.sqlite").write_bytes((tmp_path / "o.sqlite").read_bytes())
    assert read_job_states(book, "g1").states == states  # a dry run's read-only lookup


def test_a_commit_writes_only_the_parts_that_changed(tmp_path):
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    box.prepare_states("g1", "sha1", big_states(), NOW)
    box.commit_states("g1", NOW)
    before = pieces(path)
    changed = big_states()
    changed["check"]["rows"]["tables"]["leads"]["packed"] += "one lead edited"
    box.commit_states("g1", NOW, states=changed)  # a run that wrote nothing commits its states for the file as it is
    after = pieces(path)
    new = set(after) - set(before)
    assert len(new) == 1, "only the edited table's piece is written"
    assert {d: r for d, r in after.items() if d in before} == {d: before[d] for d in after if d in before}, \
        "the unchanged pieces are the same rows, not written again"
    assert len(set(before) - set(after)) == 1, "the piece no generation refers to any more is gone"
    assert box.job_states("g1").states == changed


def test_a_run_that_died_between_preparing_and_committing_its_states_finds_them_and_converges(tmp_path):
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    box.prepare_states("g1", "sha1", big_states(), NOW)
    box.commit_states("g1", NOW)
    second = big_states("-2")
    box.prepare_states("g2", "sha2", second, NOW)  # the new file replaced the old one, then the process died
    found = Outbox(path).job_states("g2", "sha2")
    assert found.matched and not found.committed and found.states == second
    Outbox(path).commit_states("g2", NOW)  # what the next run does (runner.base_states)
    third = big_states("-3")
    box.prepare_states("g3", "sha3", third, NOW)  # and this run's write
    box.commit_states("g3", NOW)
    assert box.job_states("g2").states == second and box.job_states("g3").states == third
    # a run that prepared states and never replaced the file: its pieces go with its generation
    box.prepare_states("g4", "sha4", big_states("-4"), NOW)
    box.commit_states("g3", NOW)
    assert box.job_states("g4").generation != "g4"
    with sqlite3.connect(path) as db:
        used = {d for (names,) in db.execute("SELECT pieces FROM generations") for d in (names or "").split()}
    assert set(pieces(path)) == used, "every piece kept is one a kept generation refers to"


def test_older_generations_lose_their_memories_but_keep_the_rest_in_pieces(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    for n in range(1, 5):
        box.prepare_states(f"g{n}", f"sha{n}", big_states(f"-{n}"), NOW)
        box.commit_states(f"g{n}", NOW)
    for n in range(1, 5 - KEEP_MEMORIES):
        old = box.job_states(f"g{n}").states
        full = big_states(f"-{n}")
        assert old["check"] == {"sheet": {"digest": "d"}} and "keys" not in old["dedupe"]
        assert old["automate"] == {k: v for k, v in full["automate"].items() if k != "evaluated"}
        assert old["report"] == full["report"]
    for n in range(5 - KEEP_MEMORIES, 5):
        assert box.job_states(f"g{n}").states == big_states(f"-{n}")


def test_an_outbox_made_before_pieces_still_gives_its_states_and_moves_to_pieces(tmp_path):
    path = tmp_path / "o.sqlite"
    old = big_states("-old")
    with sqlite3.connect(path) as db:  # the table as earlier versions made it: states whole, no pieces column
        db.execute(GENERATIONS_TABLE.replace(", pieces TEXT", ""))
        db.execute("CREATE TABLE state (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)")
        db.execute("INSERT INTO generations VALUES ('g1', 'sha1', ?, 1, '2026-11-01T09:00:00')", (json.dumps(old),))
    box = Outbox(path)
    assert box.job_states("g1").states == old and box.load_state("dedupe") == old["dedupe"]
    new = big_states("-new")
    box.prepare_states("g2", "sha2", new, NOW)
    box.commit_states("g2", NOW)
    assert box.job_states("g2").states == new and box.job_states("g1").states == old


def test_a_part_of_a_jobs_state_set_after_its_commit_reads_back_with_the_rest_as_it_was(tmp_path):
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    box.commit_states("g1", NOW, states=big_states())
    box.commit_states("g2", NOW, states=big_states("-2"))
    rows = {"version": 4, "tables": {t: {"packed": (t + "-learnt") * 4000, "token": "k"} for t in ("leads", "deals")}}
    assert box.set_state_part("g2", "check", "rows", rows)
    want = big_states("-2")
    want["check"]["rows"] = rows
    assert box.job_states("g2").states == want and box.load_state("check") == want["check"]
    assert box.job_states("g1").states == big_states(), "another generation's states are as they were"
    with sqlite3.connect(path) as db:
        used = {d for (names,) in db.execute("SELECT pieces FROM generations") for d in (names or "").split()}
    assert set(pieces(path)) == used, "the pieces of the rows replaced are gone, the new ones kept"
    assert not box.set_state_part("g9", "check", "rows", rows), "no such generation: nothing set"
    box.prepare_states("g3", "sha3", big_states("-3"), NOW)
    assert not box.set_state_part("g3", "check", "rows", rows), "states not committed yet: nothing set"
    assert box.job_states("g3").states == big_states("-3")


def test_a_part_set_in_a_small_jobs_state_kept_as_one_piece_reads_back_with_the_rest(tmp_path):
    # a state just over PIECE_MIN whose parts are each under it is kept as one piece whole (dedupe's at any size)
    small = {"version": 1, "keys": "k" * (PIECE_MIN - 1000), "ids": "i" * 2000, "inputs": {"leads": "a" * 64},
             "stats": {"merged": 2}}
    states = {**big_states(), "dedupe": small}
    box = Outbox(tmp_path / "o.sqlite")
    box.commit_states("g1", NOW, states=states)
    assert '"dedupe": {' + json.dumps(PIECE) + ':' in split_states(states)[0], "kept as one piece"
    assert box.set_state_part("g1", "dedupe", "inputs", {"leads": "b" * 64, "accounts": "c" * 64})
    want = {**states, "dedupe": {**small, "inputs": {"leads": "b" * 64, "accounts": "c" * 64}}}
    assert box.job_states("g1").states == want and box.load_state("dedupe") == want["dedupe"]
