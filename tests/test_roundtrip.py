"""Sample data survives the workbook: built by the builder, read back by the store, it is the same data.

Every template, both languages: typed values come back with their dtypes, and the planted bad values
come back as the raw text people would have typed (never coerced).
"""
from datetime import datetime

import pandas as pd
import pytest

from crm_sheets.builder import build_workbook
from crm_sheets.sample import generate
from crm_sheets.store import read_workbook

NOW = datetime(2026, 11, 2, 9, 0)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("template", ["sales", "services", "personal"])
def test_sample_data_round_trips_through_the_workbook_exactly(tmp_path, template, lang):
    sample = generate(template, leads=150, seed=3, now=NOW, lang=lang)
    path = build_workbook(tmp_path / "crm.xlsx", template, lang, sample.tables, now=NOW)
    got = read_workbook(path)
    expected = sample.to_tables(lang)
    assert got.lang == lang and got.schema.name == template
    for name, exp in expected.tables.items():
        if exp.schema.kind != "data":
            continue
        table = got[name]
        columns = list(exp.df.columns)
        pd.testing.assert_frame_equal(table.df[columns], exp.df[columns], obj=f"{template}/{lang} {name}")
        assert table.assigned_ids == () and table.extra_columns == ()
        # unreadable cells: the same raw text; an unknown dropdown value is also kept as typed in the frame
        choice = {f.name for f in exp.schema.fields if f.type in ("dropdown", "tags")}
        assert {k: v for k, v in table.invalid.items() if k[1] not in choice} == \
            {k: v for k, v in exp.invalid.items() if k[1] not in choice}
        for (rid, field), raw in table.invalid.items():
            if field in choice:
                assert table.df.loc[rid, field] == raw
