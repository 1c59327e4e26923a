"""Row keys made of column hashes shared by the jobs of a run (model/colhash.py) are the keys a row's values give
from scratch: check's, dedupe's and report's memories of the last run still match, and a column changed between
two jobs (a change set applied, a value written into the frame) is hashed again, never answered from before."""
import copy
import pickle
from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.colhash import column_hashes, forget_hashes
from crm_sheets.model.memo import row_keys
from crm_sheets.model.tables import Table
from crm_sheets.sample import DEFAULT_NOW, generate

_MIX = np.uint64(0x100000001B3)
_TYPE_NAME = np.frompyfunc(lambda v: type(v).__name__, 1, 1)


def keys_from_scratch(table: Table, *, with_rows: bool = True) -> np.ndarray:
    """The keys as row_keys made them before the column hashes were shared: hash_pandas_object of the frame, each
    mixed column's types, the sheet rows and the raw texts kept mixed in."""
    df = table.df
    keys = pd.util.hash_pandas_object(df, index=True).to_numpy(dtype=np.uint64, copy=True)
    with np.errstate(over="ignore"):
        for name in df.columns:
            col = df[name]
            if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) not in ("string", "empty"):
                keys = keys * _MIX ^ pd.util.hash_array(_TYPE_NAME(col.to_numpy()).astype(object))
        if with_rows:
            keys = keys * _MIX ^ pd.util.hash_array(np.array([table.rows.get(r, -1) for r in df.index], dtype=np.int64))
        kept = {}
        for kind, cells in (("invalid", table.invalid), ("typed", table.typed_text)):
            for (rid, field_name), raw in cells.items():
                kept.setdefault(rid, []).append((kind, field_name, type(raw).__name__, repr(raw)))
        if kept:
            at = df.index.get_indexer(list(kept))
            extra = pd.util.hash_array(np.array([repr(sorted(v)) for v in kept.values()], dtype=object))
            ok = at >= 0
            keys[at[ok]] = keys[at[ok]] * _MIX ^ extra[ok]
    return keys


def part(table: Table, columns: list[str]) -> Table:
    """The table with these columns only (and the raw texts kept of them), as a job keyed a subset before."""
    return replace(table, df=table.df[columns] if columns else pd.DataFrame(index=table.df.index),
                   invalid={k: v for k, v in table.invalid.items() if k[1] in columns},
                   typed_text={k: v for k, v in table.typed_text.items() if k[1] in columns})


class _Every:
    def __contains__(self, name) -> bool:
        return True

    def update(self, names) -> None:
        pass


@pytest.fixture(autouse=True)
def every_column_shared(monkeypatch):
    """Every column's hashes kept once made (the jobs share only the columns a later job keys: colhash.share)."""
    import crm_sheets.model.colhash as colhash

    monkeypatch.setattr(colhash, "_SHARED", _Every())


def sample_tables(leads: int = 60):
    return generate("sales", leads=leads, seed=5, now=DEFAULT_NOW).to_tables()


def test_keys_of_every_sample_table_equal_the_keys_made_from_scratch():
    tables = sample_tables()
    for name, t in tables.tables.items():
        if not t.df.index.is_unique:
            continue
        assert np.array_equal(row_keys(t, with_rows=False), keys_from_scratch(t, with_rows=False)), name
        assert np.array_equal(row_keys(t), keys_from_scratch(t)), name
        some = [c for c in reversed(t.df.columns) if len(c) % 2]  # a subset, in another order than the frame's
        assert np.array_equal(row_keys(t, columns=some, kept_fields=set(some)), keys_from_scratch(part(t, some))), name
        # asked again (the next job): the same keys, from the kept hashes
        assert np.array_equal(row_keys(t, with_rows=False), keys_from_scratch(t, with_rows=False)), name


def test_a_column_a_change_set_rewrote_is_hashed_again():
    tables = sample_tables()
    leads = tables["leads"]
    before = row_keys(leads, with_rows=False)
    rid = leads.df.index[3]
    changes = ChangeSet()
    changes.update("leads", rid, "city", "Somewhere Else", reason="test")
    changes.apply_to(tables)
    after = row_keys(leads, with_rows=False)
    assert np.array_equal(after, keys_from_scratch(leads, with_rows=False))
    assert (after != before).sum() == 1 and after[3] != before[3]


def test_a_value_written_into_the_frame_in_place_is_hashed_again():
    tables = sample_tables()
    leads = tables["leads"]
    row_keys(leads, with_rows=False)
    rid = leads.df.index[7]
    leads.df.loc[rid, "notes"] = "written in place"  # copy-on-write: the kept column is not the frame's any more
    leads.df.loc[rid, "engagement"] = 12345.0
    leads.df.loc[rid, "consent"] = not bool(leads.df.loc[rid, "consent"])
    assert np.array_equal(row_keys(leads, with_rows=False), keys_from_scratch(leads, with_rows=False))


def test_a_mixed_column_keeps_one_and_text_one_apart():
    idx = pd.Index(["L-1", "L-2"], dtype=object, name="id")
    tables = sample_tables()
    schema = tables["leads"].schema
    a = Table(schema, pd.DataFrame({"notes": pd.Series([1, "x"], index=idx, dtype=object)}))
    b = Table(schema, pd.DataFrame({"notes": pd.Series(["1", "x"], index=idx, dtype=object)}))
    ka, kb = row_keys(a, with_rows=False), row_keys(b, with_rows=False)
    assert ka[0] != kb[0]
    assert np.array_equal(ka, keys_from_scratch(a, with_rows=False))


def test_hashes_are_never_pickled_nor_copied_and_the_runner_lets_them_go():
    tables = sample_tables()
    leads = tables["leads"]
    row_keys(leads)
    assert len(pickle.dumps(column_hashes(leads))) < 100
    assert pickle.loads(pickle.dumps(leads)).df.equals(leads.df)
    twin = copy.copy(leads)
    twin.df = leads.df.assign(city="Elsewhere")
    assert np.array_equal(row_keys(twin, with_rows=False), keys_from_scratch(twin, with_rows=False))
    assert np.array_equal(row_keys(leads, with_rows=False), keys_from_scratch(leads, with_rows=False))
    forget_hashes(tables)
    assert "_column_hashes" not in leads.__dict__


def test_report_and_dedupe_digests_do_not_depend_on_what_was_hashed_before():
    from crm_sheets.jobs.dedupe.job import inputs_digest
    from crm_sheets.jobs.report.memory import reads_digest

    now = datetime(2026, 3, 15, 9, 0)
    cold = sample_tables()
    expected = (inputs_digest(cold), reads_digest(cold, now, True))
    warm = sample_tables()
    for t in warm.tables.values():
        if t.df.index.is_unique:
            row_keys(t, with_rows=False)  # as check leaves them
    assert (inputs_digest(warm), reads_digest(warm, now, True)) == expected


def run_twice(monkeypatch, shared: bool):
    """Two runs of check (with --fix), dedupe, automate and report on the sample tables, the second after a few
    edits and with the first's states; ``shared=False``: every job hashes every column itself (as before)."""
    import crm_sheets.model.colhash as colhash
    from crm_sheets.runner import run_jobs

    if not shared:
        monkeypatch.setattr(colhash, "column_hashes", lambda table: colhash.ColumnHashes())
    now = datetime(2026, 3, 15, 9, 0)
    jobs = ["check", "dedupe", "automate", "report"]
    first, _ = run_jobs(sample_tables(), jobs, now=now, options={"check": {"fix": True}})
    states = {r.job: r.state for r in first}
    tables = sample_tables()
    leads = tables["leads"]
    ids = list(leads.df.index[:6])
    changes = ChangeSet()
    changes.update("leads", ids[0], "city", "Lyon", reason="a person")
    changes.update("leads", ids[1], "phone", "0612345678", reason="a person")  # a format check --fix tidies
    changes.update("leads", ids[2], "first_name", leads.df.at[ids[3], "first_name"], reason="a person")
    changes.update("leads", ids[2], "last_name", leads.df.at[ids[3], "last_name"], reason="a person")
    changes.update("leads", ids[4], "email", leads.df.at[ids[5], "email"], reason="a person")  # a duplicate now
    changes.apply_to(tables)
    options = {name: {"state": states.get(name)} for name in jobs}
    options["check"]["fix"] = True
    second, merged = run_jobs(tables, jobs, now=now, options=options)
    return ([(r.job, [f.as_dict() for f in r.findings], r.stats) for r in second], merged.summary(),
            sorted((u.table, u.record_id, u.field, str(u.value)) for u in merged.updates))


@pytest.mark.slow  # four runs of every job
def test_jobs_sharing_column_hashes_find_and_change_what_jobs_hashing_alone_do(monkeypatch):
    shared = run_twice(monkeypatch, shared=True)
    with monkeypatch.context() as m:
        alone = run_twice(m, shared=False)
    assert shared == alone
    assert any(r[0] == "dedupe" and r[2].get("pairs_found") for r in shared[0])


def test_only_the_columns_a_later_job_keys_keep_their_hashes(monkeypatch):
    import crm_sheets.model.colhash as colhash

    monkeypatch.setattr(colhash, "_SHARED", set())
    colhash.share({"city", "email"})
    leads = sample_tables()["leads"]
    row_keys(leads, with_rows=False)
    assert set(column_hashes(leads)._columns) == {"city", "email"}
    assert np.array_equal(row_keys(leads, with_rows=False), keys_from_scratch(leads, with_rows=False))


def test_remembered_findings_share_one_encoded_date_and_keep_numbers_apart():
    # A table's remembered findings repeat the same days: one encoded object per day, read back as the value
    # it was; numbers equal but not alike (0.0 and -0.0) stay apart, and a value that cannot be kept is refused.
    from crm_sheets.model.memo import Unkept, decode, encode, sharing_encode

    enc = sharing_encode()
    a, b = pd.Timestamp("2025-04-01 10:30"), pd.Timestamp("2025-04-01 10:30").as_unit("s")
    assert enc(a) is enc(b) and enc(a) == encode(a)
    assert decode(enc(a)) == a and type(decode(enc(datetime(2025, 4, 1)))) is datetime
    assert enc(datetime(2025, 4, 1)) is not enc(pd.Timestamp("2025-04-01"))  # (a datetime reads back as one)
    assert repr(decode(enc(-0.0))) == "-0.0" and repr(decode(enc(0.0))) == "0.0"
    assert decode(enc(np.float64(-0.0))) == 0.0 and repr(decode(enc(np.float64(-0.0)))) == repr(np.float64(-0.0))
    with pytest.raises(Unkept):
        enc(pd.Timestamp("2025-04-01", tz="UTC"))


def test_dedupe_keeps_the_digest_of_a_table_read_with_the_key_it_was_hashed_under(monkeypatch):
    """Dedupe's digest of its inputs is one per table: a table read with the read's key the last run hashed it under,
    still as read, keeps that digest without its cells being hashed; a table edited since is hashed again. Either
    way the digest is a full computation's, and a lead's city edited gives another."""
    import crm_sheets.jobs.dedupe.job as job
    from crm_sheets.model.memo import read_stamp, stamp

    def read(tables):
        for name, t in tables.tables.items():
            stamp(t, f"read key of {name}")
            read_stamp(t)  # (check asks for the read's key first)
        return tables

    parts: dict = {}
    first = job.inputs_digest(read(sample_tables()), into=parts)
    assert {"leads", "contacts", "accounts"} <= set(parts)
    hashed = []
    real = job.row_keys
    monkeypatch.setattr(job, "row_keys", lambda t, **k: hashed.append(t.name) or real(t, **k))
    again = read(sample_tables())
    assert job.inputs_digest(again, parts=parts) == first
    assert "leads" not in hashed and "contacts" not in hashed and "accounts" not in hashed

    edited = read(sample_tables())
    leads = edited["leads"].df
    city = leads["city"].astype(object).copy()
    city.iloc[0] = "Somewhere else"
    leads["city"] = city
    hashed.clear()
    got = job.inputs_digest(edited, parts=parts)
    assert "leads" in hashed and "contacts" not in hashed
    monkeypatch.setattr(job, "row_keys", real)
    assert got != first
    assert got == job.inputs_digest(edited) == job.inputs_digest(edited, parts={})
