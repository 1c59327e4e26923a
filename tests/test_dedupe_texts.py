"""Dedupe reads each matched column as text, '' for an empty cell, whatever the column holds (all text is read in
one C pass, anything else cell by cell): the match keys come from the same texts either way."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crm_sheets.jobs.dedupe.matchkeys import _col


def test_cells_read_as_text_with_empty_cells_as_blank_in_every_kind_of_column():
    df = pd.DataFrame({
        "text": ["Ana", None, np.nan, "Bo"],
        "empty": [None, np.nan, None, pd.NA],
        "mixed": [5228400, "x", None, 2.5],  # a phone typed in a number cell, text, blank, a number
        "typed": pd.array(["p", None, "q", pd.NA], dtype="string"),
    })
    assert list(_col(df, "text")) == ["Ana", "", "", "Bo"]
    assert list(_col(df, "empty")) == ["", "", "", ""]
    assert list(_col(df, "mixed")) == ["5228400", "x", "", "2.5"]
    assert list(_col(df, "typed")) == ["p", "", "q", ""]
    assert list(_col(df, "absent")) == ["", "", "", ""]
    assert list(_col(df.iloc[:0], "text")) == []
