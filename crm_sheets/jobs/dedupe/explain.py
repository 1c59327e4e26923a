"""The words of a match: what each field's weight says ('name: nearly the same', 'email: other address at the
same company'), put together as a MatchPair's reasons.
"""
from __future__ import annotations

import numpy as np

from crm_sheets.jobs.dedupe.matchpair import MatchPair


# What two email addresses are to each other (score_people's email_kind): said as it is, so that two
# mailboxes of one person never read as 'the same email'.
EMAIL_KINDS = {
    1: "email: same", 2: "email: same mailbox, written differently (dots or a +tag)",
    3: "email: same shared address (a team's, not a person's)", 4: "email: same mailbox name at another domain",
    5: "email: one typo apart at the same domain", 6: "email: other address at the same company",
    7: "email: different", 8: "email: two mailboxes in the person's name (private and work)",
}
_PEOPLE_WORDS = {
    "name": {3.0: "name: same", 2.0: "name: nearly the same", 1.5: "name: same last name", 1.0: "name: similar",
             0.5: "name: partly the same", -4.0: "name: different"},
    "email": {6.0: "email: same", 0.5: "email: same shared address", 2.0: "email: same mailbox, other domain",
              1.5: "email: nearly the same", -2.5: "email: other address at the same company", -0.5: "email: different"},
    "phone": {2.0: "phone: same", -0.5: "phone: different"},
    "company": {2.5: "company: same", 1.5: "company: similar", -1.5: "company: different"},
    "domain": {1.0: "domain: same", -0.5: "domain: different"},
}
_COMPANY_WORDS = {
    "company": {4.0: "company: same", 2.0: "company: similar", 0.5: "company: a bit similar",
                -3.0: "company: different", -4.0: "company: different"},
    "domain": {3.0: "domain: same", -2.0: "domain: different"},
    "phone": {2.0: "phone: same", -0.5: "phone: different"},
}


def _reasons(v: dict[str, np.ndarray], k: int, evidence: frozenset[str]) -> tuple[str, ...]:
    words = _PEOPLE_WORDS if "name" in v else _COMPANY_WORDS
    out = []
    for name in ("email", "name", "phone", "company", "domain"):
        if name not in v:
            continue
        word = words[name].get(float(v[name][k]))
        if name == "email" and "email_kind" in v:
            word = EMAIL_KINDS.get(int(v["email_kind"][k]))
        if name == "phone" and "mobile" in v and v["mobile"][k]:
            word = "phone: same personal number (a mobile, or no one else's)"
        if name == "name" and "trunc" in v and v["trunc"][k] and float(v[name][k]) in (2.0, 1.0):
            word = ("name: same last name" if float(v[name][k]) == 2.0 else "name: last name nearly the same") + \
                ", first name cut short or an initial"
        elif name == "name" and "short_last" in v and v["short_last"][k] and float(v[name][k]) in (2.0, 1.0):
            word = ("name: same first name" if float(v[name][k]) == 2.0 else "name: first name nearly the same") + \
                ", last name cut short (an initial, or one of two names)"
        if word:
            if name == "name" and v.get("swapped") is not None and v["swapped"][k]:
                word += " (first and last swapped)"
            if name not in evidence and not (name == "company" and words is _COMPANY_WORDS):
                word += " (not counted)"
            out.append(word)
    if "city" in v:
        w = float(v["city"][k])
        if w > 0:
            out.append("city: same")
        elif w < 0:
            out.append("place: different")
    return tuple(out)


_READ = ("email", "name", "phone", "company", "domain", "email_kind", "mobile", "trunc", "short_last", "swapped", "city")


def match_pairs(ra, rb, i, j, scores, v, floor, evidence) -> list[MatchPair]:
    keep = np.flatnonzero(scores >= floor)
    if not len(keep):
        return []
    ta, tb = ra["table"].to_numpy(object), rb["table"].to_numpy(object)
    ida, idb = ra["rid"].to_numpy(object), rb["rid"].to_numpy(object)
    # the words of a pair depend only on its weights (_READ): said once per distinct set of weights (thousands of
    # leads at one account, or pairs of the same kind, read alike)
    weights = np.column_stack([np.asarray(v[name][keep], dtype=np.float64) for name in _READ if name in v])
    _, first, inverse = np.unique(weights, axis=0, return_index=True, return_inverse=True)
    said = [_reasons(v, keep[f], evidence) for f in first]
    inverse = inverse.ravel()
    a, b = i[keep], j[keep]
    sc = scores[keep].astype(np.float64)
    return [MatchPair(ta[x], ida[x], tb[y], idb[y], round(s, 4), said[w])
            for x, y, s, w in zip(a.tolist(), b.tolist(), sc.tolist(), inverse.tolist())]
