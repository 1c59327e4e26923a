"""Small literal data sets and workbook readers shared by the builder tests."""
from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
NOW = datetime(2026, 3, 2, 9, 30)


def sales_data() -> dict[str, pd.DataFrame]:
    """A few records of the sales template in the jobs' view: IDs as index, keys in dropdowns."""
    team = pd.DataFrame(
        {"name": ["Camille Martin", "Noah Johnson"], "email": ["camille@example.com", "noah@example.com"],
         "role": ["manager", "sales_rep"], "capacity": pd.array([40, 25], dtype="Int64"),
         "away": pd.array([False, True], dtype="boolean")},
        index=pd.Index(["TM-00001", "TM-00002"], name="id"),
    )
    accounts = pd.DataFrame(
        {"name": ["Acme SA", "Globex Ltd"], "type": ["customer", "prospect"], "industry": ["software", "retail"],
         "annual_revenue": [1_250_000.0, np.nan], "country": ["France", "United Kingdom"], "owner": ["Camille Martin", None]},
        index=pd.Index(["A-00001", "A-00007"], name="id"),
    )
    leads = pd.DataFrame(
        {
            "first_name": ["Ana", "Bob", "=HYPERLINK(\"http://evil\")", "Dana"],
            "last_name": ["Lopez", "Stone", "Injected", "Li"],
            "email": ["ana@example.com", "bob@", "x@example.com", "dana@example.org"],
            "status": ["qualified", "new", "Qualifed", "contacted"],
            "source": ["referral", "web_form", None, "event"],
            "owner": ["Camille Martin", "Noah Johnson", None, "Camille Martin"],
            "opted_out": pd.array([False, True, None, False], dtype="boolean"),
            "created": pd.to_datetime(["2026-01-05", "2026-02-11", None, "2026-02-20"]),
            "score": pd.array([85, 20, None, 50], dtype="Int64"),
            "tags": ["vip, newsletter", None, "vip, unknown", None],
        },
        index=pd.Index(["L-00001", "L-00002", "L-00003", "L-00009"], name="id"),
    )
    deals = pd.DataFrame(
        {"name": ["Acme renewal", "Globex pilot"], "account": ["A-00001", "A-00007"], "stage": ["Proposal", "Closed won"],
         "amount": [12000.0, 3500.5], "currency": ["EUR", "USD"], "probability": [0.5, 1.0],
         "close_date": pd.to_datetime(["2025-12-01", "2026-01-15"]), "owner": ["Camille Martin", "Noah Johnson"]},
        index=pd.Index(["D-00001", "D-00002"], name="id"),
    )
    tasks = pd.DataFrame(
        {"title": ["Call Ana", "Send proposal"], "due": pd.to_datetime(["2026-02-01", "2026-04-01"]),
         "status": ["open", "done"], "owner": ["Camille Martin", "Noah Johnson"], "related": ["L-00001", "D-00001"]},
        index=pd.Index(["T-00001", "T-00002"], name="id"),
    )
    activities = pd.DataFrame(
        {"date": pd.to_datetime(["2026-02-27 10:15", "not a date"], errors="coerce"), "type": ["call", "email"],
         "subject": ["Intro call", "Follow-up"], "lead": ["L-00001", "L-00002"]},
        index=pd.Index(["AC-00001", "AC-00002"], name="id"),
    ).astype({"date": object})
    activities.loc["AC-00002", "date"] = "next tuesday"  # bad data planted as text
    return {"team": team, "accounts": accounts, "leads": leads, "deals": deals, "tasks": tasks, "activities": activities}


def sheet_xml(path: Path, sheet_name: str) -> ET.Element:
    """The worksheet XML of a sheet, found by its name through workbook.xml and its relationships."""
    with zipfile.ZipFile(path) as z:
        wb = ET.fromstring(z.read("xl/workbook.xml"))
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        rid = next(s.get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id")
                   for s in wb.find("m:sheets", NS) if s.get("name") == sheet_name)
        target = next(r.get("Target") for r in rels if r.get("Id") == rid)
        return ET.fromstring(z.read("xl/" + target.lstrip("/").removeprefix("xl/")))


def defined_names(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as z:
        wb = ET.fromstring(z.read("xl/workbook.xml"))
    names = wb.find("m:definedNames", NS)
    return {} if names is None else {n.get("name"): n.text for n in names}


def validations(sheet: ET.Element) -> list[ET.Element]:
    dvs = sheet.find("m:dataValidations", NS)
    return [] if dvs is None else list(dvs)


def cell(sheet: ET.Element, ref: str) -> ET.Element | None:
    return sheet.find(f".//m:c[@r='{ref}']", NS)
