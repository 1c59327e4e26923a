"""The results' --json text (run_report.results_json_chunks, made a field at a time for all findings) is the text
json.dumps gives the findings' dicts (Finding.as_dict), whatever the values: the run's --json and its record print it."""
import json
import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd

from crm_sheets.model.findings import Finding
from crm_sheets.model.result import JobResult
from crm_sheets.run_report import RunReport, _finding_texts, results_json_chunks

_ODD = [
    None, True, False, 0, 1, -7, 2**70, 0.0, -0.0, 1.5, 1.0, math.nan, math.inf, -math.inf, "", "plain", 'a "quoted"\\ \n',
    "accents éß and 日本 and \u2028", Decimal("1.0"), Decimal("1.00"), np.float64(2.5), np.int64(3), np.bool_(True),
    date(2026, 3, 16), datetime(2026, 3, 16), datetime(2026, 3, 16, 0, 0, fold=1), pd.Timestamp("2026-03-16"),
    pd.Timestamp("2026-03-16 10:00", tz="UTC"), pd.Timestamp("2026-03-16 11:00", tz="Europe/Paris"),
    datetime(2026, 3, 16, 10, tzinfo=timezone.utc), datetime(2026, 3, 16, 12, tzinfo=timezone(timedelta(hours=2))),
    pd.NaT, {"a": 1}, [1, 2], ("t",), b"bytes", object.__new__(type("Odd", (), {"__str__": lambda self: "odd"})),
]


def _expected(results):
    return '"results": ' + json.dumps(RunReport(path="x", jobs=[r.job for r in results], results=results).as_dict()["results"],
                                       default=str)


def _finding(n, value, fix=None, fixable=False):
    return Finding(type="t" if n % 2 else "u", severity=("error", "warning")[n % 2], table="leads", record_id=f"L-{n}" if n % 3 else None,
                   field="f", value=value, message=f"message {n} {value!r}", cell=f"Leads!A{n}" if n % 5 else None, fix=fix,
                   fixable=fixable)


def test_results_text_is_the_dicts_json_for_every_kind_of_value():
    found = [_finding(n, v, fix=_ODD[-n % len(_ODD)], fixable=bool(n % 2)) for n, v in enumerate(_ODD * 3)]
    results = [JobResult(job="check", findings=found, stats={"n": 1}), JobResult(job="dedupe")]
    assert "".join(results_json_chunks(results)) == _expected(results)


def test_columns_of_one_kind_give_the_dicts_json():
    # the shortcuts: only texts, only None, only truth values, dates without a zone, mixed kinds keyed by value
    for values in (["a", "b"] * 5, [None] * 4, [True, False, True], [pd.Timestamp("2026-03-16")] * 3 + [pd.Timestamp("2026-01-01")],
                   [date(2026, 1, 1), date(2026, 1, 1)], ["x", None, 3, 3.5, True, pd.Timestamp("2026-03-16")],
                   [1, True, 1.0, "1"], [0.0, -0.0, 0], [pd.Timestamp("2026-03-16 10:00", tz="UTC"),
                                                          pd.Timestamp("2026-03-16 11:00", tz="Europe/Paris")]):
        found = [_finding(n, v, fix=v) for n, v in enumerate(values)]
        results = [JobResult(job="check", findings=found)]
        assert "".join(results_json_chunks(results)) == _expected(results), values
        rows = [(f.type, f.severity, f.table, f.record_id, f.field, f.value, f.message, f.cell, f.fix, f.fixable) for f in found]
        assert _finding_texts(rows, True) == _finding_texts(found, False)


def test_many_findings_are_encoded_in_pieces_as_one_text():
    found = [_finding(n, pd.Timestamp("2026-03-16") + pd.Timedelta(days=n % 40) if n % 7 else f"v{n}") for n in range(45_001)]
    results = [JobResult(job="check", findings=found), JobResult(job="report", findings=found[:3])]
    assert "".join(results_json_chunks(results)) == _expected(results)


def test_values_met_again_as_the_same_objects_give_the_dicts_json():
    # as check's memory gives them back: one object per distinct date, repeated over many findings, among texts,
    # zeros of both signs, dates of two zones and values JSON has no text for
    day, paris, zero, minus = pd.Timestamp("2026-03-16"), pd.Timestamp("2026-03-16 11:00", tz="Europe/Paris"), 0.0, -0.0
    shared = [day, "text", day, None, zero, minus, paris, day, {"a": 1}, zero, minus, paris, "text", math.nan]
    found = [_finding(n, v, fix=shared[-n % len(shared)]) for n, v in enumerate(shared * 4)]
    results = [JobResult(job="check", findings=found)]
    assert "".join(results_json_chunks(results)) == _expected(results)
