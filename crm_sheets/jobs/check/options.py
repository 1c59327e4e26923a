"""Dropdowns and tags: values that are not options of their list (or of a rule sheet's column, for a deal's
stage). A value that differs from an option only in case, accents or spaces is fixed to the option, and
so is a rare typo that can only mean one option (one edit away, not another word); a value the team uses
(in more rows than a slip would, or any value of a workbook crm-sheets did not make) is their vocabulary:
added to the workbook's list and noted once, never rewritten. Otherwise the closest option is suggested.
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd

from crm_sheets.jobs.check.common import Collector, not_in, quote, text_codes, text_values, texts_not_in
from crm_sheets.model import Table
from crm_sheets.model.normalize import fold, is_currency
from crm_sheets.model.schema import Field, ListSchema
from crm_sheets.model.values import fold_option

_TAG_SPLIT = re.compile(r"\s*[,;\n]\s*")
# A value in more rows than this is used on purpose: a slip of the keyboard is not repeated.
TYPO_MAX_ROWS = 2
# Prefixes that make another word: "Disqualified" is not a typo of "Qualified", nor "Inactive" of "Active".
_WORD_PREFIXES = ("dis", "un", "non", "in", "im", "il", "ir", "de", "re", "mis", "anti", "pre", "not", "no", "a")
_MIN_TYPO_LENGTH = 4  # one edit of a short word is another word (Hot/Hit, Won/Wan)
VOCABULARY = "option-added"  # the finding type of a value added to a list (a note: not listed in Data Issues)


def other_word(a: str, b: str) -> bool:
    """Whether two folded spellings are different words that look alike: one is the other with a negating
    prefix (dis-, un-, non-, in-...), or they differ in a digit (Tier 1 / Tier 2)."""
    x, y = re.sub(r"[^a-z0-9]", "", a), re.sub(r"[^a-z0-9]", "", b)
    if re.sub(r"\D", "", x) != re.sub(r"\D", "", y):
        return True
    short, long_ = sorted((x, y), key=len)
    return any(long_ == p + short for p in _WORD_PREFIXES)


def _a_word(value: str) -> bool:
    """Whether a value can be a list entry: not a number, a dash or a placeholder a formula shows."""
    text = str(value).strip()
    return not re.fullmatch(r"[\d\s.,:;%+\-–—/#?!()]*|#?n/?a", text, flags=re.I)


def closest(value: str, choices: dict[str, str], cutoff: float = 75) -> str | None:
    """The choice whose folded spelling is nearest to ``value`` (choices: folded text -> canonical),
    never a different word that only looks alike (Qualified for Disqualified)."""
    if not choices:
        return None
    from rapidfuzz import fuzz, process

    v = fold(value)
    others = _other_words(v, choices)
    for text, _score, _i in process.extract(v, list(choices), scorer=fuzz.ratio, score_cutoff=cutoff, limit=5):
        if choices[text] not in others:
            return choices[text]
    return None


def _other_words(v: str, choices: dict[str, str]) -> set[str]:
    """The options one of whose spellings (any language) is another word than ``v`` that looks alike."""
    return {key for text, key in choices.items() if other_word(v, text)}


def sure_match(value: str, choices: dict[str, str]) -> str | None:
    """The option a typo can only mean: exactly one option one edit away (a letter missing, extra, wrong or
    two letters swapped), which is not another word (dis-, un-, non- ... make another word)."""
    from rapidfuzz.distance import DamerauLevenshtein

    v = fold(value)
    if len(v) < _MIN_TYPO_LENGTH:
        return None
    found = {key for text, key in choices.items()
             if len(text) >= _MIN_TYPO_LENGTH and DamerauLevenshtein.distance(v, text, score_cutoff=1) <= 1}
    found -= _other_words(v, choices)
    return found.pop() if len(found) == 1 else None


def list_choices(lst: ListSchema) -> tuple[dict[str, str], dict[str, str]]:
    """(exact lookup: folded key/label -> key, fuzzy choices: folded key/label -> key)."""
    exact: dict[str, str] = {}
    fuzzy: dict[str, str] = {}
    for o in lst.options:
        for text in (o.key, *o.labels.values()):
            exact.setdefault(fold_option(text), o.key)
            fuzzy.setdefault(fold(text), o.key)
    return exact, fuzzy


def option_label(out: Collector, lst: ListSchema, key: Any) -> str:
    for o in lst.options:
        if o.key == key:
            return o.label(out.ctx.lang)
    return str(key)


def check_dropdown(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    if f.options_from:
        return check_options_from(out, table, f, col)
    texts = text_codes(col)
    if not len(texts[0]):
        return
    if f.list:
        lst = out.ctx.tables.list(f.list)
    elif f.constraints.enum:
        lst = ListSchema(f.name, dict(f.title), tuple(_plain_option(v) for v in f.constraints.enum))
    else:
        return
    bad = not_in(*texts, set(lst.keys()))
    if not len(bad):
        return
    exact, fuzzy = list_choices(lst)
    title = lst.label(out.ctx.lang)
    uses = bad.map(fold_option).value_counts().to_dict()
    adopted = getattr(out.ctx.tables, "adopted", False)  # a workbook we did not make: its values are its own
    guesses: dict[str, str | None] = {}
    added: set[str] = set()
    for rid, value in zip(bad.index, bad):
        key = exact.get(fold_option(value))
        if key is not None:
            label = option_label(out, lst, key)
            out.add("option-spelling", "warning", table, rid, f.name, value, f"{quote(value)} is spelt differently from the option {quote(label)}", f'check --fix writes "{label}"', fix=key, fixable=not f.owned_by_job)
            continue
        if lst.name == "currency" and is_currency(value):
            out.add("currency-not-in-list", "warning", table, rid, f.name, value, f"{quote(value)} is a currency missing from the {title} list", f"add {value.strip().upper()} to the {title} column of the Lists sheet")
            continue
        folded = fold_option(value)
        if value not in guesses:
            guesses[value] = (sure_match(value, fuzzy), closest(value, fuzzy))
        sure, guess = guesses[value]
        rows = uses.get(folded, 0)
        if sure is not None and rows <= TYPO_MAX_ROWS and not f.owned_by_job:
            out.add("unknown-option", "warning", table, rid, f.name, value, f"{quote(value)} is not in the {title} list, and can only mean {quote(option_label(out, lst, sure))}", f'check --fix writes "{option_label(out, lst, sure)}"', fix=sure, fixable=True)
            continue
        if (rows > TYPO_MAX_ROWS or adopted) and f.list and lst.name != "currency" and not f.owned_by_job and _a_word(value):
            if folded not in added:  # the team's own value: their list gets it, noted once
                added.add(folded)
                label = value.strip()
                out.add(VOCABULARY, "info", table, None, f.name, label,
                        f"{quote(label)} is used in {rows} row{'s' if rows != 1 else ''} and was not in the {title} list",
                        f"added to the {title} list; rename it in those rows if it is not one of your values")
            continue
        what = f"{quote(value)} is not in the {title} list"
        some = ", ".join(lst.labels(out.ctx.lang)[:6]) + (", ..." if len(lst.options) > 6 else "")
        todo = f'choose "{option_label(out, lst, guess)}"' if guess else f"choose a value of the list ({some})"
        kind = "invalid-currency" if lst.name == "currency" else "unknown-option"
        out.add(kind, "error", table, rid, f.name, value, what, todo + " or add it to the Lists sheet", fix=guess)


def _casefolded(value: str) -> str:
    return " ".join(value.split()).casefold()


def _plain_option(value: str):
    from crm_sheets.model.schema import Option

    return Option(key=value, labels={"en": value})


def check_options_from(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """A deal's stage must be a Stage of the Stages sheet, spelt as there."""
    src_table, _, src_field = f.options_from.partition(".")
    rows = out.ctx.rule_rows(src_table)
    if rows is None or src_field not in rows.columns:
        return
    options = [str(v).strip() for v in text_values(rows[src_field])]
    bad = texts_not_in(col, set(options))
    if not len(bad):
        return
    exact = {fold_option(o): o for o in options}
    fuzzy = {fold(o): o for o in options}
    guesses: dict[str, str | None] = {}
    src = out.ctx.tables.get(src_table)
    sheet = src.sheet if src is not None and src.sheet else out.ctx.tables.schema.tables[src_table].sheet_name(out.ctx.lang)
    uses = bad.map(fold_option).value_counts().to_dict()
    adopted = getattr(out.ctx.tables, "adopted", False)
    added: set[str] = set()
    for rid, value in zip(bad.index, bad):
        spelt = exact.get(fold_option(value))
        if spelt is not None and adopted and _casefolded(value) != _casefolded(spelt):
            continue  # "🟢 Closed Won" in a team's workbook: their way of writing Closed won (reports read it so), never rewritten
        if spelt is not None:
            out.add("option-spelling", "warning", table, rid, f.name, value, f"{quote(value)} is spelt differently from {quote(spelt)} in {sheet}", f'check --fix writes "{spelt}"', fix=spelt, fixable=True)
            continue
        if value not in guesses:
            guesses[value] = (sure_match(value, fuzzy), closest(value, fuzzy))
        sure, guess = guesses[value]
        what = f"{quote(value)} is not a {f.header(out.ctx.lang)} of the {sheet} sheet"
        folded = fold_option(value)
        rows = uses.get(folded, 0)
        if sure is not None and rows <= TYPO_MAX_ROWS:
            out.add("unknown-option", "warning", table, rid, f.name, value, what + f", and can only mean {quote(sure)}", f'check --fix writes "{sure}"', fix=sure, fixable=True)
            continue
        if (rows > TYPO_MAX_ROWS or adopted) and _a_word(value):
            if folded not in added:  # the team's own stage: a row of the Stages sheet, its probability theirs to fill
                added.add(folded)
                label = value.strip()
                todo = (f"added to {sheet} with its probability left blank: fill it in" if src is not None
                        else f"add it to a {sheet} sheet with its probability")
                out.add(VOCABULARY, "info", table, None, f.name, label,
                        f"{quote(label)} is used in {rows} row{'s' if rows != 1 else ''} and was not a {f.header(out.ctx.lang)} of {sheet}", todo)
            continue
        todo = f'choose "{guess}"' if guess else f"choose one of {', '.join(options[:8])}"
        out.add("unknown-option", "error", table, rid, f.name, value, what, todo + f" or add it to {sheet}", fix=guess)


def check_tags(out: Collector, table: Table, f: Field, col: pd.Series) -> None:
    """Tags are list keys joined with ", "; unknown ones are reported, misspelt known ones fixed."""
    if not f.list:
        return
    s = text_values(col)
    if not len(s):
        return
    lst = out.ctx.tables.list(f.list)
    exact, fuzzy = list_choices(lst)
    title = lst.label(out.ctx.lang)
    # tags the team uses (in more rows than a slip, or any in a workbook we did not make) join their list
    used: dict[str, list] = {}
    for value, n in s.value_counts().items():
        for p in dict.fromkeys(p for p in _TAG_SPLIT.split(value.strip()) if p):
            if exact.get(fold_option(p)) is None:
                used.setdefault(fold_option(p), [p, 0])[1] += n
    adopted = getattr(out.ctx.tables, "adopted", False)
    for folded, (label, n) in used.items():
        if (n > TYPO_MAX_ROWS or adopted) and _a_word(label) and not f.owned_by_job:
            exact[folded] = label = label.strip()
            out.add(VOCABULARY, "info", table, None, f.name, label,
                    f"{quote(label)} is used in {n} row{'s' if n != 1 else ''} and was not in the {title} list",
                    f"added to the {title} list; rename it in those rows if it is not one of your tags")
    verdicts = {}
    for value in s.unique():  # tags repeat: decide once per distinct cell text
        parts = [p for p in _TAG_SPLIT.split(value.strip()) if p]
        keys = [exact.get(fold_option(p)) for p in parts]
        unknown = [p for p, k in zip(parts, keys) if k is None]
        canonical = ", ".join(dict.fromkeys(k for k in keys if k))
        if unknown:
            guesses = [closest(u, fuzzy) for u in unknown]
            hint = "; ".join(f'"{u}" -> "{option_label(out, lst, g)}"' for u, g in zip(unknown, guesses) if g)
            names = ", ".join(f'"{u}"' for u in unknown)
            todo = (f"correct {hint}" if hint else f"use tags of the {title} list") + " or add them to the Lists sheet"
            verdicts[value] = ("unknown-tag", f"{names} {'is' if len(unknown) == 1 else 'are'} not in the {title} list", todo, None)
        elif canonical != value:
            shown = ", ".join(option_label(out, lst, k) for k in canonical.split(", "))
            verdicts[value] = ("tag-spelling", f"{quote(value)} is not written as the list's tags", f'check --fix writes "{shown}"', canonical)
    for rid, value in zip(s.index, s):
        verdict = verdicts.get(value)
        if verdict is None:
            continue
        kind, what, todo, fixed = verdict
        if kind == "unknown-tag":
            out.add(kind, "error", table, rid, f.name, value, what, todo)
        else:
            out.add(kind, "info", table, rid, f.name, value, what, todo, fix=fixed, fixable=not f.owned_by_job)
