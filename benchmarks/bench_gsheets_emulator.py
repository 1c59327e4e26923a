"""What the Sheets API emulator itself costs, so the Google Sheets store's benchmarks can tell its time from
the emulator's: writing N rows of 20 cells with updateCells (split into batchUpdates under the API's 10 MiB
body limit), reading them back with one values.batchGet (UNFORMATTED_VALUE, SERIAL_NUMBER), one
spreadsheets.get with a fields mask, and a 1-cell batchUpdate on the full sheet (the copy a batch works on).
The emulator runs in this process; times are wall seconds as the gspread client sees them. Run:
    python benchmarks/bench_gsheets_emulator.py [--sizes 10000 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

from crm_sheets.gsheets_emulator import create_spreadsheet, emulator_client, running_emulator

LIMIT = 10_485_760


def cell(i: int, c: int) -> dict:
    if c == 0:
        return {"userEnteredValue": {"stringValue": f"L-{i:06d}"}}
    if c == 5:
        return {"userEnteredValue": {"numberValue": 45000 + i % 1000},
                "userEnteredFormat": {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}}}
    if c == 6:
        return {"userEnteredValue": {"numberValue": i * 1.5}}
    return {"userEnteredValue": {"stringValue": f"value {i} {c}"}}


def batches(sheet_id: int, n: int):
    """updateCells requests for rows 1..n, grouped into bodies under the request-size limit."""
    body, size, start = [], 0, 1
    chunk = 2000
    for first in range(0, n, chunk):
        rows = [{"values": [cell(i, c) for c in range(20)]} for i in range(first, min(n, first + chunk))]
        request = {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": start + first}, "rows": rows,
                                   "fields": "userEnteredValue,userEnteredFormat.numberFormat"}}
        length = len(json.dumps(request))
        if body and size + length > LIMIT * 0.9:
            yield body
            body, size = [], 0
        body.append(request)
        size += length
    if body:
        yield body


def measure(n: int) -> dict:
    out: dict = {"rows": n}
    with running_emulator(quota_per_minute=0) as emulator:
        gc = emulator_client(emulator.url)
        sh = create_spreadsheet(gc, "bench", sheets=["Leads"])
        ws = sh.sheet1
        sh.batch_update({"requests": [{"updateSheetProperties": {
            "properties": {"sheetId": ws.id, "gridProperties": {"rowCount": n + 1, "columnCount": 20}},
            "fields": "gridProperties(rowCount,columnCount)"}}]})
        t = time.perf_counter()
        calls = 0
        for requests in batches(ws.id, n):
            sh.batch_update({"requests": requests})
            calls += 1
        out["write s"], out["write calls"] = time.perf_counter() - t, calls
        out["MB sent"] = sum(e["bytesIn"] for e in emulator._log) / 1e6
        t = time.perf_counter()
        got = sh.values_batch_get(["Leads!A1:T"], params={"valueRenderOption": "UNFORMATTED_VALUE",
                                                          "dateTimeRenderOption": "SERIAL_NUMBER"})
        out["batchGet s"] = time.perf_counter() - t
        assert len(got["valueRanges"][0]["values"]) == n + 1  # the empty header row, then the leads
        t = time.perf_counter()
        sh.fetch_sheet_metadata(params={"fields": "sheets(properties,protectedRanges,developerMetadata)"})
        out["get s"] = time.perf_counter() - t
        t = time.perf_counter()
        sh.batch_update({"requests": [{"updateCells": {"start": {"sheetId": ws.id, "rowIndex": 1}, "fields": "userEnteredValue",
                                                       "rows": [{"values": [{"userEnteredValue": {"stringValue": "x"}}]}]}}]})
        out["1-cell batch s"] = time.perf_counter() - t
    out["peak RSS MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    rows = [measure(n) for n in args.sizes]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---:|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
