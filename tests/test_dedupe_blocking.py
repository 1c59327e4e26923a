"""Blocking's shortcuts find the candidate pairs the plain way finds, in the same order: a namesake's place in a
large block follows the text of its name (also where two names join into one text), and a pass across two tables
pairs what the pass over every record keeps."""
from __future__ import annotations

import random

import numpy as np
import pandas as pd

from crm_sheets.jobs.dedupe.blocking import block_pairs, person_block_keys


def people(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """A frame of people's match keys from (first, last, company, city)."""
    n = len(rows)
    col = lambda values: np.array(values, dtype=object)  # noqa: E731
    first, last, company, city = (col([r[k] for r in rows]) for k in range(4))
    return pd.DataFrame({
        "first": first, "last": last, "canon1": first, "local": col([f"{f}.{l}".replace(" ", "") for f, l, _, _ in rows]),
        "email": col([""] * n), "phone1": col([""] * n), "phone2": col([""] * n), "company": company,
        "cdomain": col([""] * n), "city": city,
    })


def test_namesakes_sort_by_the_text_of_their_name_also_where_two_names_join_into_one():
    # 'de la' + 'cruz ana' and 'de' + 'la cruz ana' are one text: sorted as one name, as the plain way sorts them
    rows = [("cruz ana", "de la", "acme", "paris"), ("la cruz ana", "de", "acme", "paris"), ("ana", "de", "acme", "lyon"),
            ("ana", "de la", "acme", "paris"), ("cruz ana", "de la", "acme|x", "y"), ("ana", "cruz", "acme", "x|y")]
    rnd = random.Random(7)
    rows += [(rnd.choice(["ana", "jo", "mary ann", "la cruz ana"]), rnd.choice(["de", "de la", "cruz", "van den"]),
              rnd.choice(["acme", "acme|x", ""]), rnd.choice(["paris", "x|y", ""])) for _ in range(300)]
    for frame in (people(rows), people([r for r in rows if " " not in r[0]])):
        first, last = frame["first"].to_numpy(object), frame["last"].to_numpy(object)
        org = np.where(frame["company"] != "", frame["company"], frame["cdomain"]).astype(object)
        name = pd.factorize(last + " " + first)[0]
        place = pd.factorize(org + "|" + frame["city"].to_numpy(object))[0]
        secondaries = [sec for _, sec, _ in person_block_keys(frame)]
        assert [list(s) for k, s in enumerate(secondaries) if k not in (3, 4)] == [list(name)] * 6
        assert [list(secondaries[3]), list(secondaries[4])] == [list(place)] * 2


def test_a_pass_across_two_tables_pairs_what_the_pass_over_everyone_keeps():
    rnd = random.Random(3)
    n, n_left = 3000, 1800
    # blocks of one side only, small blocks of both, and blocks larger than the window
    keys = np.array([rnd.choice(["", "a", "b", "c"]) + str(rnd.randrange(60 if k % 3 else 6)) for k in range(n)], dtype=object)
    secondary = np.array([str(rnd.randrange(50)) for _ in range(n)], dtype=object)
    at = np.arange(n)
    for window in (5, 40, 400):
        every = block_pairs(keys, secondary, window)
        plain = every[(every // n < n_left) & (every % n >= n_left)]  # the pass over everyone's pairs across
        across = block_pairs(keys, secondary, window, sides=(at < n_left, at >= n_left))
        assert len(plain) and plain.tolist() == across.tolist()
    assert not len(block_pairs(keys, secondary, 40, sides=(at < 0, at >= n_left)))


def test_distinct_values_taken_by_sorting_are_those_pandas_finds_in_their_order(monkeypatch):
    from crm_sheets.jobs.dedupe import blocking
    from crm_sheets.jobs.dedupe.blocking import distinct_in_order

    monkeypatch.setattr(blocking, "_COMPARED_AT_ONCE", 3)  # the sorted values compared three at a time
    rng = np.random.default_rng(7)
    for dtype in (np.int64, np.uint64, np.int32):
        for n in (0, 1, 2, 3, 50, 5000):
            chunks = [rng.integers(0, max(n // 3, 2), rng.integers(0, n + 1)).astype(dtype) for _ in range(3)]
            want = pd.unique(np.concatenate(chunks))
            got = distinct_in_order(list(chunks))
            assert got.dtype == want.dtype and got.tolist() == want.tolist()
    wide = [np.array([-5, 3, -5, 2**62, 3], dtype=np.int64)]  # value and place do not fit in 62 bits: by hashing
    assert distinct_in_order(list(wide)).tolist() == [-5, 3, 2**62]
    assert distinct_in_order([np.array([-1, 7, -1, 0], dtype=np.int64)]).tolist() == [-1, 7, 0]
