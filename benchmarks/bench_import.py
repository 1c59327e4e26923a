"""Benchmark of `crm-sheets import`: a Salesforce Lead export of N rows (the 35 columns of a Data Export,
two custom fields) into a new sales workbook, then the same file again (every row found by its external
ID, nothing written). Times the whole call (read the CSV, map, plan, write through the store). Run from the
repo root:
    python benchmarks/bench_import.py [--sizes 10000 100000]
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HEADERS = ["Id", "IsDeleted", "MasterRecordId", "LastName", "FirstName", "Salutation", "Name", "Title", "Company",
           "Street", "City", "State", "PostalCode", "Country", "Phone", "MobilePhone", "Email", "Website",
           "Description", "LeadSource", "Status", "Industry", "Rating", "AnnualRevenue", "NumberOfEmployees",
           "OwnerId", "HasOptedOutOfEmail", "IsConverted", "ConvertedDate", "ConvertedAccountId", "ConvertedContactId",
           "CreatedDate", "LastModifiedDate", "Region__c", "Product_Interest__c"]
FIRST = ["Anna", "Ben", "Chloé", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas"]
LAST = ["Martin", "Smith", "Müller", "Garcia", "Rossi", "Dubois", "Nguyen", "Kowalski", "Silva", "Jensen"]


def lead_file(path: Path, n: int) -> None:
    rng = random.Random(7)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS)
        for i in range(n):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = f"Company {i // 3}"
            w.writerow([f"00Q5g{i:013d}", 0, "", last, first, "", f"{first} {last}", "Buyer", company, "", "Paris", "",
                        "", "France", f"+33 1 {i % 100:02d} {i // 100 % 100:02d} 00 00", "", f"{first}.{last}.{i}@example.com".lower(),
                        f"company{i // 3}.example.com", "", rng.choice(["Web", "Online Form", "Trade Show", "Partner Referral"]),
                        rng.choice(["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"]), "Software",
                        "Warm", "", rng.randint(1, 5000), "0055g00000XyZ12AAB", rng.choice(["true", "false"]), "false",
                        "", "", "", "2024-03-05T14:22:10.000+0000", "2024-03-06T10:00:00.000+0000", "EMEA", "GC5000"])


def main() -> None:
    from crm_sheets.imports import import_files
    from crm_sheets.workbook import new_workbook

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000])
    args = parser.parse_args()
    now = datetime(2024, 8, 1, 9, 0)
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "Lead.csv"
            lead_file(src, n)
            book = new_workbook(Path(d) / "crm.xlsx")
            t0 = time.perf_counter()
            first = import_files(book, [src], now=now, time_zone="Europe/Paris")
            t1 = time.perf_counter()
            again = import_files(book, [src], now=now, time_zone="Europe/Paris")
            t2 = time.perf_counter()
            print(f"{n} leads: first import {t1 - t0:.1f} s ({first.counts['leads'].created} created), "
                  f"second {t2 - t1:.1f} s ({again.counts['leads'].unchanged} unchanged, written: {again.written})")


if __name__ == "__main__":
    main()
