"""Lead scoring: every matching Scoring Rules row adds its points; the grade comes from Settings bands.

Writes the owned columns score, grade and score_reason ("why": the rules that fired, with their
points) — only where they change, so a second run changes nothing. Vectorised: 100,000 leads score
in well under a second.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crm_sheets.jobs.automate.context import Run
from crm_sheets.jobs.automate.rules import BadRule, compile_condition, is_active, rule_rows, text
from crm_sheets.model.changeset import CellUpdate
from crm_sheets.model.values import parse_number

TABLE = "leads"


def grade_for(score: int, bands: tuple[float, float, float]) -> str:
    a, b, c = bands
    return "A" if score >= a else "B" if score >= b else "C" if score >= c else "D"


def _bands(run: Run) -> tuple[float, float, float]:
    out = []
    for key, default in (("grade_a", 70), ("grade_b", 45), ("grade_c", 20)):
        v = run.tables.setting(key, default)
        n = v if isinstance(v, (int, float)) and not isinstance(v, bool) else parse_number(str(v))
        out.append(float(default if n is None else n))
    return out[0], out[1], out[2]


def score_leads(run: Run) -> None:
    rules_table = run.tables.get("scoring_rules")
    leads = run.tables.get(TABLE)
    if rules_table is None or leads is None:
        return
    df = leads.df
    total = np.zeros(len(df), dtype=np.int64)
    reasons = np.full(len(df), "", dtype=object)  # "; rule (+n)" per lead, built a rule at a time
    for rid, row in rule_rows(rules_table):
        if not is_active(row):
            continue
        try:
            cond = compile_condition(run.tables, leads.schema, text(row.get("field")), row.get("operator"), row.get("value"))
            points = parse_number(text(row.get("points")))
            if points is None or not float(points).is_integer():
                raise BadRule("points", text(row.get("points")) or None, "the rule has no whole number of points", "write the points it adds, e.g. 10 or -20")
        except BadRule as exc:
            run.bad("scoring_rules", rid, exc)
            continue
        mask = cond.mask(df, run.now)
        total[mask] += int(points)
        name = text(row.get("rule")) or cond.label
        reasons[mask] += f"; {name} ({int(points):+d})"
        run.count("scoring_rules")
    a, b, c = _bands(run)
    new = {
        "score": pd.Series(total, index=df.index, dtype="Int64"),
        "grade": pd.Series(np.select([total >= a, total >= b, total >= c], ["A", "B", "C"], "D").astype(object), index=df.index, dtype=object),
        "score_reason": pd.Series([r[2:] or None for r in reasons], index=df.index, dtype=object),
    }
    changed = 0
    ids = df.index.to_numpy(dtype=object)  # an Index looked up per changed cell cost a third of scoring
    for name, values in new.items():
        if name not in leads.schema.field_names:
            continue
        old = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)
        before, after = old.to_numpy(dtype=object), values.to_numpy(dtype=object)
        at = np.flatnonzero(~_same(old, values))
        # Derived columns: recomputed every run and explained by score_reason, so not audited cell by cell. Made from
        # lists (object arrays' .tolist() gives their objects as they are): ~85,000 updates on a first run at 30k.
        run.changes.updates.extend([CellUpdate(TABLE, rid, name, a, b, "lead scoring")
                                    for rid, a, b in zip(ids[at].tolist(), after[at].tolist(), before[at].tolist())])
        changed += len(at)
        df[name] = values
    run.count("scored_leads", len(df))
    run.count("score_cells_changed", changed)


def _same(old: pd.Series, new: pd.Series) -> np.ndarray:
    """Cells whose text is the same (10.0 and 10 are), compared once per distinct value."""
    return _shown(old) == _shown(new)


def _shown(col: pd.Series) -> np.ndarray:
    codes, uniques = pd.factorize(col.astype(object), use_na_sentinel=True)
    texts = np.array(["" if v is None else str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in uniques] + [""], dtype=object)
    return texts[codes]  # code -1 (empty) picks the trailing ""
