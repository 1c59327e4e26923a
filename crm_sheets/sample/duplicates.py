"""Planted duplicates: copies of a person with the variations people really type, and look-alikes.

Rows under construction are a dict of column -> numpy array (``Rows``); hidden columns start with '_'
(the phone's numbering plan and digits, the company's base name and legal suffix) so a copy can write
the same number in another format or drop the legal suffix. `frame()` ignores hidden columns.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from crm_sheets.model.normalize import clean_spaces, title_case_name
from crm_sheets.sample import identities, pools

Rows = dict[str, np.ndarray]
_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"
_ORDER = ("nickname", "swap", "typo", "alias", "email_case", "no_email", "phone", "suffix", "company_case", "caps", "spaces")


def take(rows: Rows, idx: np.ndarray) -> Rows:
    return {k: (np.asarray(v, dtype=object) if isinstance(v, list) else v)[idx] for k, v in rows.items()}


def concat(*parts: Rows) -> Rows:
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def typo(rng: np.random.Generator, word: str) -> str:
    """One edit (swap, deletion, doubling or a near key) after the first letter: Smith -> Smtih."""
    letters = [i for i in range(1, len(word)) if word[i].isalpha() and word[i].islower()]
    if len(letters) < 2:
        return word + word[-1]
    kind = int(rng.integers(4))
    i = letters[int(rng.integers(len(letters) - 1))]
    if kind == 0 and word[i + 1 : i + 2].isalpha() and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1 and len(word) > 4:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    j = _KEYBOARD.find(word[i])
    near = _KEYBOARD[(j + 1) % len(_KEYBOARD)] if j >= 0 else "e"
    return word[:i] + near + word[i + 1 :]


def email_alias(rng: np.random.Generator, email: str) -> str:
    """The same mailbox written another way: Gmail dots, a +tag, or capitals."""
    local, _, domain = email.partition("@")
    r = rng.random()
    if domain == "gmail.com" and r < 0.5:
        return (local.replace(".", "") if "." in local else f"{local[:1]}.{local[1:]}") + "@gmail.com"
    if r < 0.75:
        return f"{local}+{['crm', 'news', 'work', 'events'][int(rng.integers(4))]}@{domain}"
    return f"{local[:1].upper()}{local[1:]}@{domain.upper()}" if r < 0.9 else email.upper()


def vary(rng: np.random.Generator, row: dict[str, Any], default_region: str) -> tuple[dict[str, Any], list[tuple]]:
    """A copy of ``row`` with one to three variations; returns it and the errors the variations plant.

    An error is (field, kind, raw, fix): ALL-CAPS names, stray spaces and addresses in capitals are also
    data problems that check reports, so the truth lists them.
    """
    row = dict(row)
    errors: list[tuple] = []
    options = ["typo", "swap"]
    if row.get("first_name") in pools.NICKNAMES:
        options += ["nickname", "nickname"]
    if row.get("email"):
        options += ["alias", "no_email", "email_case"]
    if row.get("_nsn") is not None:
        options += ["phone", "phone"]
    if row.get("_company_base"):
        options += ["suffix", "suffix", "company_case"]
    options += ["spaces", "caps"]
    picks = rng.choice(len(options), size=int(rng.integers(1, 4)), replace=False)
    chosen = {options[int(i)] for i in picks}
    if "caps" in chosen:
        chosen.discard("spaces")
    # Name changes first, then the problems people type on top of them (caps, spaces) last.
    for kind in [k for k in _ORDER if k in chosen]:
        first, last = row.get("first_name") or "", row.get("last_name") or ""
        if kind == "typo":
            field = "last_name" if (rng.random() < 0.6 or not first) else "first_name"
            row[field] = typo(rng, row[field])
        elif kind == "swap" and first:
            row["first_name"], row["last_name"] = last, first
        elif kind == "nickname":
            row["first_name"] = pools.NICKNAMES[first]
        elif kind == "alias" and row.get("email"):
            row["email"] = email_alias(rng, row["email"])
        elif kind == "email_case" and row.get("email"):
            row["email"] = row["email"].upper()
        elif kind == "no_email":
            row["email"] = None
        elif kind == "phone":
            allowed = [s for s in (*identities.INTERNATIONAL_STYLES, *identities.NATIONAL_STYLES)
                       if s != row["_style"] and (s in identities.INTERNATIONAL_STYLES
                                                  or identities.national_ok(identities.PLANS[row["_plan"]].country, default_region))]
            style = allowed[int(rng.integers(len(allowed)))]
            row["phone"] = identities.format_number(row["_plan"], row["_nsn"], style)
            row["_style"] = style
        elif kind == "suffix" and row.get("company"):
            base, suffix = row["_company_base"], row["_company_suffix"]
            row["company"] = base if row["company"] != base else f"{base} {suffix}"
        elif kind == "company_case" and row.get("company"):
            row["company"] = row["company"].upper() if rng.random() < 0.5 else row["company"].lower()
        elif kind == "spaces" and last:
            raw = f" {last}  " if rng.random() < 0.5 else f"{last} "
            row["last_name"] = raw
            errors.append(("last_name", "extra-spaces", raw, clean_spaces(raw)))
        elif kind == "caps" and last and title_case_name(last.upper()) == last:
            row["last_name"] = last.upper()
            errors.append(("last_name", "caps-name", last.upper(), last))
    email = row.get("email")
    if email and email != email.lower():  # an alias or a copy typed in capitals: check tidies it up
        errors.append(("email", "email-format", email, email.lower()))
    # An edit can undo a planted problem (a typo after caps): keep only those still in the cell.
    errors = [e for e in errors if row.get(e[0]) == e[2]]
    return row, errors


def copies(rng: np.random.Generator, rows: Rows, src: np.ndarray, default_region: str) -> tuple[Rows, list[list[tuple]]]:
    """One varied copy of each source row (same columns), and the errors each copy plants."""
    out = take(rows, src)
    keys = list(out)
    errs: list[list[tuple]] = []
    for i in range(len(src)):
        row, e = vary(rng, {k: out[k][i] for k in keys}, default_region)
        for k in keys:
            out[k][i] = row[k]
        errs.append(e)
    return out, errs


def shared_phone_pairs(groups: list[tuple[str, str, str, int]], cap: int = 5) -> set[tuple[str, str, str, str]]:
    """Pairs of different people sharing a number: (table, id, phone key, cluster) -> distinct pairs.

    Colleagues share a switchboard; members of one duplicate cluster are the same person and are
    skipped. Only the first ``cap`` people of a number are paired, to keep the truth small.
    """
    from crm_sheets.sample.truth import pair

    by_key: dict[str, list[tuple[str, str, int]]] = {}
    for table, rid, key, cluster in groups:
        members = by_key.setdefault(key, [])
        if len(members) < cap:
            members.append((table, rid, cluster))
    out = set()
    for members in by_key.values():
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                a, b = members[i], members[j]
                if a[2] < 0 or b[2] < 0 or a[2] != b[2]:
                    out.add(pair(a[0], a[1], b[0], b[1]))
    return out
