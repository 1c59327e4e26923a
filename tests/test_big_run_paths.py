"""What the first run's speed and memory work (issue 16) must keep: the same plan, sheets, stamps and values."""
from __future__ import annotations

import hashlib
from datetime import datetime

import numpy as np

from crm_sheets.model import Tables, load_schema
from crm_sheets.model.changeset import CellUpdate, ChangeSet, RowAppend
from crm_sheets.model.sheets import Cell, SheetSpec
from crm_sheets.model.stamp import STAMP, spec_digest, stamped
from crm_sheets.model.column_read import shared_strings
from crm_sheets.store.core.plan import make_plan
from helpers import literal_table

SCHEMA = load_schema("sales")


def _tables() -> Tables:
    leads = literal_table(SCHEMA, "leads", [{"id": "L-00001", "first_name": "Ana", "city": "Lyon"}])
    return Tables(SCHEMA, {"leads": leads})


def test_updates_to_rows_appended_by_the_same_change_set_go_into_those_rows_in_order():
    cs = ChangeSet()
    cs.appends += [RowAppend("leads", f"L-{n:05d}", {"first_name": f"P{n}"}) for n in range(2, 2002)]
    cs.appends.append(RowAppend("leads", "L-00005", {"first_name": "again"}))  # the last append of an ID wins
    cs.updates += [CellUpdate("leads", f"L-{n:05d}", "city", f"C{n}") for n in range(2, 2002)]
    cs.updates.append(CellUpdate("leads", "L-00001", "city", "Paris"))

    plan = make_plan(cs, _tables())

    rows = plan.tables["leads"].appends
    assert [r["id"] for r in rows][:3] == ["L-00002", "L-00003", "L-00004"] and len(rows) == 2001
    assert rows[0]["city"] == "C2" and rows[1998]["city"] == "C2000"
    assert rows[3] == {"first_name": "P5", "id": "L-00005"}  # the first append of L-00005 stays as it was
    assert rows[-1] == {"first_name": "again", "city": "C5", "id": "L-00005"}
    assert plan.tables["leads"].updates == {"L-00001": {"city": "Paris"}}


def test_a_sheet_laid_out_as_before_keeps_the_time_a_state_of_an_earlier_version_gave_it():
    spec = SheetSpec("Data Issues", "data_issues", rows=[
        [Cell(f"Generated {STAMP}", "muted")],
        [Cell("Leads", "text"), Cell(3.5), None, "plain"],
        [],
        (Cell("a tuple row"),),
        *[[Cell(f"row {n}", "text"), Cell(n)] for n in range(3000)],
    ], widths={0: 12.0}, merges=["A1:C1"])
    earlier = hashlib.sha256(repr(spec).encode("utf-8")).hexdigest()  # how earlier versions hashed a sheet
    assert spec_digest(spec) == earlier

    state = {"version": 1, "sheets": {"data_issues": {"digest": earlier, "stamp": "2026-03-01 08:00"}}}
    [out], _ = stamped([spec], datetime(2026, 3, 15, 9), state)
    assert out.rows[0][0].value == "Generated 2026-03-01 08:00"
    assert out.rows[1:] == [list(r) for r in spec.rows[1:]]


def test_a_text_column_read_with_few_distinct_values_keeps_its_values_and_types():
    raw = np.array(["Ana", None, "Bo", "Ana"] * 50 + ["", "Ana"], dtype=object)
    raw[raw == ""] = None
    out = shared_strings(raw.copy())
    assert out.tolist() == raw.tolist()
    assert [type(v) for v in out] == [type(v) for v in raw]
    anas = {id(v) for v in out if v == "Ana"}
    assert len(anas) == 1  # one object for every "Ana"

    mixed = np.array(["1", 1, 1.0, True] * 20, dtype=object)  # 1 == 1.0 == True: never merged
    assert [type(v) for v in shared_strings(mixed)] == [type(v) for v in mixed]


def test_appended_rows_are_written_as_each_value_alone_would_be_whatever_values_they_share():
    """Many appended rows share a value (the run's time stamp, a score): each still gets what its field makes of it
    (a date field's midnight time is a date, a checkbox a boolean, 1 and True and 1.0 stay apart, a time zone kept)."""
    from datetime import date, timedelta, timezone

    import pandas as pd

    from crm_sheets.store.core.plan import field_value

    tables = _tables()
    stamp = datetime(2026, 3, 15, 9, 0)
    utc, paris = timezone.utc, timezone(timedelta(hours=1))
    values = [stamp, datetime(2026, 3, 15), pd.Timestamp("2026-03-15"), pd.Timestamp("2026-03-15 10:00", tz=paris),
              pd.Timestamp("2026-03-15 09:00", tz=utc), date(2026, 3, 15), 1, True, 1.0, 0.0, -0.0, 0, False, None,
              float("nan"), "yes", "2026-03-15", 7.0]
    cs = ChangeSet()
    fields = ("created", "last_contacted", "consent", "score", "engagement", "first_name", "status")
    for n in range(3 * len(values)):
        row = {f: values[(n + k) % len(values)] for k, f in enumerate(fields)}
        cs.appends.append(RowAppend("leads", f"L-{n + 2:05d}", row))

    rows = make_plan(cs, tables).tables["leads"].appends

    by_name = {f.name: f for f in SCHEMA.tables["leads"].fields}
    for a, row in zip(cs.appends, rows):
        for name, value in a.values.items():
            want = field_value(by_name[name], value, tables)
            got = row[name]
            assert type(got) is type(want) and repr(got) == repr(want), (name, value, got, want)
