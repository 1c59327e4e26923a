"""Dedupe's blocking keys of people (jobs/dedupe/blocking.py) are made once per distinct text and each column is
hashed once: the codes, and so the candidate pairs and their order (which the pairs kept in dedupe's state follow),
are those of making every record's texts and factorizing them one by one."""
from __future__ import annotations

import random

import numpy as np
import pandas as pd

from crm_sheets.jobs.dedupe.blocking import _MAX_BLOCK, pair_index, person_block_keys
from crm_sheets.jobs.dedupe.keys import ROLE_LOCALS, soundex

_COLUMNS = ("rid", "table", "first", "last", "canon1", "canon2", "email", "email_raw", "local", "edomain", "phone1",
            "phone2", "company", "cdomain", "efree", "city", "country")
# names with spaces and a '|', so that joining two columns is not one for one with the pairs of texts
_WORDS = ["", "a", "a b", "b", "b c", "ann", "van der", "x|y", "smith", "smyth", "é", "info", "o'neil", "noreply"]


def _codes(*columns: np.ndarray) -> list[np.ndarray]:
    """The plain definition: the columns put end to end and factorized, '' (or a negative number) coded -1."""
    allv = np.concatenate(columns)
    codes = pd.factorize(allv)[0]
    codes[(allv < 0) if allv.dtype.kind in "iu" else (allv == "")] = -1
    n = len(columns[0])
    return [codes[k * n:(k + 1) * n] for k in range(len(columns))]


def _each(fn, values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = [fn(v) for v in values]
    return out


def _pair_key(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(mask, _each(lambda t: t, a + "|" + b), "").astype(object)


def plain_block_keys(r: pd.DataFrame) -> list[tuple]:
    """person_block_keys made record by record: the texts of each pass built for every record, then factorized."""
    col = {c: r[c].to_numpy(object) for c in r.columns}
    first, last, c1 = col["first"], col["last"], col["canon1"]
    both = (first != "") & (last != "")
    role = np.array([x in ROLE_LOCALS or len(x) < 4 for x in col["local"]], dtype=bool)
    org = np.where(col["company"] != "", col["company"], col["cdomain"]).astype(object)
    name, place = last + " " + first, org + "|" + col["city"]
    sorted_name = _each(lambda t: "|".join(sorted(t)), np.array(list(zip(c1, last)) + [("", "")], dtype=object)[:-1])
    f0, l0 = _each(lambda t: t[:1], first), _each(lambda t: t[:1], last)
    sdx_last = _each(lambda x: soundex(x.split(" ")[-1]) if x else "", last)
    sdx_first = _each(lambda f: soundex(f.split(" ")[0]) if f else "", first)
    passes = [
        ([col["email"]], name, _MAX_BLOCK),
        ([col["phone1"], col["phone2"]], name, _MAX_BLOCK),
        ([np.where(role, "", col["local"]).astype(object)], name, 8),
        ([np.where(both, sorted_name, "").astype(object)], place, 10),
        ([_pair_key(both, sdx_last, f0), _pair_key(both, sdx_first, l0)], place, 5),
        ([_pair_key((last != "") & (org != ""), last, org)], name, 20),
        ([_pair_key((c1 != "") & (org != ""), c1, org)], name, 20),
        ([np.where((org != "") & (f0 != "") & (l0 != ""), org + "|" + f0 + "|" + l0, "").astype(object)], name, 10),
    ]
    return [(_codes(*keys), pd.factorize(sec)[0], window) for keys, sec, window in passes]


def _blocks(codes: np.ndarray) -> list[list[int]]:
    """The records of each block (those sharing a code), in order of first appearance: what a key means."""
    out: dict[int, list[int]] = {}
    for k, c in enumerate(codes):
        if c >= 0:
            out.setdefault(int(c), []).append(k)
    return sorted(out.values())


def _frame(rng: random.Random, n: int) -> pd.DataFrame:
    words = _WORDS[:rng.randint(1, len(_WORDS))]
    return pd.DataFrame({c: np.array([rng.choice(words) for _ in range(n)], dtype=object) for c in _COLUMNS})


def test_blocking_keys_are_those_of_each_record_texts_made_one_by_one():
    rng = random.Random(7)
    for _ in range(150):
        r = _frame(rng, rng.randint(0, 30))
        got, plain = person_block_keys(r), plain_block_keys(r)
        assert len(got) == len(plain)
        for (keys, sec, window), (pkeys, psec, pwindow) in zip(got, plain):
            assert window == pwindow
            assert sec.tolist() == psec.tolist()  # the order within a block
            keys = keys if isinstance(keys, list) else [keys]
            assert len(keys) == len(pkeys)
            # the same blocks (the texts of a pass that are equal, and only those) ...
            assert _blocks(np.concatenate(keys)) == _blocks(np.concatenate(pkeys))
        # ... and the same candidate pairs in the same order
        n = len(r)
        i, j = pair_index(got, n)
        pi, pj = pair_index(plain, n)
        assert i.tolist() == pi.tolist() and j.tolist() == pj.tolist()


def test_blocking_codes_are_those_of_factorizing_the_made_texts_in_order():
    """The text passes (email, phones, a mailbox's name) and the secondary sorts carry the very codes (the order blocks
    are scanned in: the order pairs come out in)."""
    rng = random.Random(11)
    for _ in range(150):
        r = _frame(rng, rng.randint(1, 30))
        got, plain = person_block_keys(r), plain_block_keys(r)
        for k in (0, 1, 2):
            keys = got[k][0] if isinstance(got[k][0], list) else [got[k][0]]
            assert [a.tolist() for a in keys] == [a.tolist() for a in plain[k][0]]
