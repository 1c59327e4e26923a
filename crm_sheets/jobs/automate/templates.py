"""Merge fields and templates: Jinja2 in a sandbox, text and HTML parts, and the unsubscribe line.

Templates are typed by people in the workbook, so they render in Jinja2's SandboxedEnvironment (no
attribute tricks reach Python) and a broken template is a 'bad-rule' finding, never a crash. Merge
fields show what people see in the sheet: option labels in the workbook language, dates as ISO.
"""
from __future__ import annotations

import html
import re
import weakref
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Mapping
from urllib.parse import quote

import pandas as pd
from markupsafe import escape
from jinja2 import TemplateError, Undefined, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from crm_sheets.model import Tables
from crm_sheets.model.fieldtypes import field_type

UNSUBSCRIBE = {
    "en": "You receive this email because you are in touch with us. To stop receiving these emails, reply with \"unsubscribe\" or write to {address}.",
    "fr": "Vous recevez cet e-mail car vous êtes en contact avec nous. Pour ne plus recevoir ces e-mails, répondez « désinscription » ou écrivez à {address}.",
}
_UNSUB_WORD = {"en": "unsubscribe", "fr": "désinscription"}


class TemplateProblem(Exception):
    """A template that does not compile or render; the message says what Jinja2 found."""


@lru_cache(maxsize=2)
def _env(autoescape: bool) -> SandboxedEnvironment:
    # Undefined renders as '' so a merge field missing on one record does not stop the others.
    return SandboxedEnvironment(autoescape=autoescape, undefined=Undefined, keep_trailing_newline=False)


@lru_cache(maxsize=512)
def _compiled(source: str, autoescape: bool):
    try:
        return _env(autoescape).from_string(source)
    except TemplateError as exc:
        raise TemplateProblem(f"the template does not read ({exc})") from None


def check_template(source: str) -> None:
    """Raise TemplateProblem when ``source`` is not a valid template (before any record is rendered)."""
    _compiled(source, False)


def render(source: str, fields: Mapping[str, Any], *, html_escape: bool = False) -> str:
    pieces = _plain(source)
    if pieces is not None:  # text and {{ name }} only: what Jinja2 renders, without a context per record
        out = []
        for name, data in pieces:
            if name is None:
                out.append(data)
            elif name in fields:
                v = fields[name]
                out.append(escape(v) if html_escape else str(v))
        return "".join(out).strip()
    try:
        return _compiled(source, html_escape).render(**fields).strip()
    except TemplateError as exc:
        raise TemplateProblem(f"the template fails on this record ({exc})") from None


_JINJA_NAMES = frozenset({"self", "loop", "caller", "varargs", "kwargs", "super"})  # names Jinja2 may give a meaning


@lru_cache(maxsize=512)
def _plain(source: str) -> tuple[tuple[str | None, str], ...] | None:
    """A template of text and bare ``{{ name }}`` only, as (None, text) and (name, "") pieces in order; None for any
    other template (filters, tests, blocks, attributes, Jinja2's globals), which Jinja2 renders. Rendering such a
    template is a join: Jinja2 writes text as it is and a name as ``str(value)`` (``escape(value)`` with
    autoescape), an undefined name as nothing. A first run at 30k leads renders ~24,000 subjects, bodies and task
    titles; a Jinja2 context per render was half of that."""
    env = _env(False)
    try:
        tree = env.parse(source)
    except TemplateError:
        return None
    pieces: list[tuple[str | None, str]] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                pieces.append((None, child.data))
            elif type(child) is nodes.Name and child.ctx == "load" and child.name not in env.globals \
                    and child.name not in _JINJA_NAMES:
                pieces.append((child.name, ""))
            else:
                return None
    return tuple(pieces)


def display(tables: Tables, table: str, field: str, value: Any) -> Any:
    """A cell's value as a person reads it in the sheet: labels, ISO dates, 12,400 for money."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    t = tables.get(table)
    f, ftype = _field_of(t.schema, field) if t is not None else (None, None)
    if isinstance(value, (pd.Timestamp, datetime, date)):
        ts = pd.Timestamp(value)
        day = ftype is None or (ftype.temporal and not ftype.with_time)
        return ts.date().isoformat() if (day or ts == ts.normalize()) else ts.strftime("%Y-%m-%d %H:%M")
    if ftype is not None and ftype.options and f.list:
        labels = _labels(tables.list(f.list), tables.lang or "en")
        if ftype.multiple:
            return ", ".join(labels.get(k.strip(), k.strip()) for k in str(value).split(",") if k.strip())
        return labels.get(str(value), str(value))
    if ftype is not None and ftype.numeric and isinstance(value, (int, float)):
        return ftype.to_text(value, tables.lang or "en")  # 12,400 / 12 400 / 25 % / 4/5
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_FIELDS: dict[int, tuple[Any, int, dict[str, tuple[Any, Any]]]] = {}


def _field_of(schema: Any, name: str) -> tuple[Any, Any]:
    """(field, its type) of a table's column, (None, None) for a column the schema does not know; looked up once per
    schema and column (display runs per merge field: ~30,000 times in a first run at 30k leads)."""
    hit = _FIELDS.get(id(schema))
    if hit is None or hit[0] is not schema or hit[1] != len(schema.fields):  # (a field added: looked up again)
        if len(_FIELDS) > 64:
            _FIELDS.clear()
        hit = _FIELDS[id(schema)] = (schema, len(schema.fields), {})
    found = hit[2].get(name)
    if found is None:
        f = schema.field(name) if schema.has_field(name) else None
        found = hit[2][name] = (f, field_type(f.type) if f is not None else None)
    return found


_LABELS: dict[tuple[int, str], tuple[Any, dict[str, str]]] = {}


def _labels(lst: Any, lang: str) -> dict[str, str]:
    """Option key -> label of a list, built once per list and language (display runs per cell)."""
    hit = _LABELS.get((id(lst), lang))
    if hit is None or hit[0] is not lst:
        if len(_LABELS) > 256:
            _LABELS.clear()
        hit = _LABELS[(id(lst), lang)] = (lst, {o.key: o.label(lang) for o in lst.options})
    return hit[1]


@lru_cache(maxsize=512)
def _names_in(source: str) -> frozenset[str]:
    try:
        return frozenset(meta.find_undeclared_variables(_env(False).parse(source)))
    except TemplateError:
        return frozenset()


def names_used(*sources: str) -> frozenset[str]:
    """The merge fields these templates name: a rule run on 30,000 records renders only those."""
    return frozenset().union(*(_names_in(s) for s in sources if s))


class Cells:
    """One record's cells, each read when asked (the value ``df.loc[rid][name]`` gives), without building a
    Series: emails, tasks and sequences read a handful of cells of thousands of records, and a row lookup (or
    ``df.at``, which builds the column's Series first) took a quarter of automate's first run at 30k sample leads.
    A cell is read from its column's array (column_arrays), as ``df.iat`` reads it."""

    __slots__ = ("df", "pos", "row", "at", "arrays")

    def __init__(self, df: pd.DataFrame, rid: str) -> None:
        pos = df.index.get_loc(rid)  # KeyError when missing, as .loc
        self.df, self.pos = df, pos
        self.row = None if isinstance(pos, int) else df.loc[rid]  # an ID given twice: as before
        self.at, self.arrays = column_positions(df), column_arrays(df)

    def __getitem__(self, name: str) -> Any:
        if self.row is not None:
            return self.row[name]
        at = self.at.get(name)
        if at is not None:  # df.iat[pos, at] without the indexer's checks of its key (two positions): what iat does
            values = self.arrays[at]
            if values is None:
                values = self.arrays[at] = self.df._get_column_array(at)
            return _unbox(values[self.pos], values)
        return self.df.iat[self.pos, self.df.columns.get_loc(name)]

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self.at or name in self.df.columns else default


def _unbox_of() -> Any:
    """What ``df.iat`` does to a value read from a column's array: pandas 3 may make a NumPy scalar a Python one
    (its future.python_scalars option; a datetime64 a Timestamp), pandas 2 gives it as the array does."""
    try:
        from pandas.core.dtypes.cast import maybe_unbox_numpy_scalar
        import inspect

        if "object_with_dtype" in inspect.signature(maybe_unbox_numpy_scalar).parameters:
            return lambda value, values: maybe_unbox_numpy_scalar(value, object_with_dtype=values)
    except (ImportError, ValueError, TypeError):  # pragma: no cover - pandas 2
        pass
    return lambda value, values: value


_unbox = _unbox_of()
_ARRAYS: dict[int, tuple[Any, Any, Any, list]] = {}  # id -> (weak reference to the frame, its manager, blocks, arrays)


def column_arrays(df: pd.DataFrame) -> list:
    """The arrays a frame's columns are stored in, by position, each taken when first asked (None until then);
    made again when the frame's blocks change. A write that copies a column (copy-on-write), changes its dtype or
    adds one gives the manager new blocks; a write in place lands in the very array kept here."""
    mgr = df._mgr
    blocks = mgr.blocks
    key = id(df)
    hit = _ARRAYS.get(key)
    if hit is None or hit[0]() is not df or hit[1] is not mgr or hit[2] is not blocks:
        if len(_ARRAYS) > 32:
            _ARRAYS.clear()

        def gone(ref: Any, key: int = key) -> None:  # the arrays kept go with the frame, not after it
            if (_ARRAYS.get(key) or (None,))[0] is ref:
                del _ARRAYS[key]

        hit = _ARRAYS[key] = (weakref.ref(df, gone), mgr, blocks, [None] * len(df.columns))
    return hit[3]


_COLUMNS: dict[int, tuple[Any, pd.Index, dict[str, int]]] = {}  # id -> (weak reference to the frame, ...)


def column_positions(df: pd.DataFrame) -> dict[str, int]:
    """Column name -> position of a frame's unique column names, built once per frame and set of columns: asking
    a frame's text Index (``name in df.columns``, ``get_loc``) for every cell of 7,000 emails and tasks cost more
    than reading the cells (a column added makes a new Index, so the positions are made again)."""
    hit = _COLUMNS.get(id(df))
    if hit is None or hit[0]() is not df or hit[1] is not df.columns:
        if len(_COLUMNS) > 32:
            _COLUMNS.clear()
        names = df.columns.tolist()
        at: dict[str, int] = {}
        for k, name in enumerate(names):
            at[name] = -1 if name in at else k
        # weakly: the positions must not keep a run's frames alive after it
        hit = _COLUMNS[id(df)] = (weakref.ref(df), df.columns, {n: k for n, k in at.items() if k >= 0})  # a name twice: as before
    return hit[2]


def cell(df: pd.DataFrame, rid: str, name: str) -> Any:
    """``df.at[rid, name]`` by position (see Cells)."""
    return Cells(df, rid)[name]


def merge_fields(tables: Tables, table: str, record_id: str, extra: Mapping[str, Any] | None = None,
                 names: frozenset[str] | None = None) -> dict[str, Any]:
    """Every field of the record (as shown), its id, and owner_email / owner_first_name from Team.

    With ``names`` (see names_used) only those fields and the owner are computed."""
    t = tables[table]
    fields: dict[str, Any] = {"id": record_id}
    if names is None:
        row = t.df.loc[record_id]
        for name in t.df.columns:
            fields[name] = display(tables, table, name, row[name])
    else:
        row = Cells(t.df, record_id)  # the named cells only (.loc with a list of columns copies whole columns first)
        for name in row.at if len(row.at) == len(t.df.columns) else t.df.columns:  # (in the frame's order)
            if name in names or name == "owner":
                fields[name] = display(tables, table, name, row[name])
    owner = str(fields.get("owner") or "")
    person = team_member(tables, owner)
    fields["owner_email"] = person.get("email", "") if person else ""
    fields["owner_first_name"] = owner.split(" ")[0] if owner else ""
    if extra:
        fields.update(extra)
    return fields


def team_member(tables: Tables, name: str) -> dict[str, Any] | None:
    """The Team row of a person named in a user field (case and accents ignored)."""
    team = tables.get("team")
    if team is None or not name or "name" not in team.df.columns:
        return None
    from crm_sheets.model.normalize import fold

    return _team_index(team.df).get(fold(name))


_TEAM_INDEX: dict[int, tuple[pd.DataFrame, dict[str, dict[str, Any]]]] = {}


def _team_index(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Folded name -> Team row, built once per frame: every email and task looks up an owner, and a
    scan of Team per record was a third of a first run. Automate never edits Team, so it stays valid."""
    from crm_sheets.model.normalize import fold

    hit = _TEAM_INDEX.get(id(df))
    if hit is None or hit[0] is not df:
        if len(_TEAM_INDEX) > 8:
            _TEAM_INDEX.clear()
        index: dict[str, dict[str, Any]] = {}
        for rid, row in zip(df.index, df.to_dict("records")):
            if isinstance(row.get("name"), str):
                index.setdefault(fold(row["name"]), {"id": rid, **row})
        hit = _TEAM_INDEX[id(df)] = (df, index)
    return hit[1]


def address_of(sender: str) -> str:
    m = re.search(r"<([^>]+)>", sender or "")
    return (m.group(1) if m else (sender or "")).strip()


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str
    unsubscribe: str  # mailto: link, also sent as the List-Unsubscribe header


def compose(subject_src: str, body_src: str, fields: Mapping[str, Any], *, sender: str, lang: str = "en",
            unsubscribe: bool = True, appendix_text: str = "", appendix_html: str = "") -> Email:
    """Render an email's subject, text and HTML parts; marketing mail ends with a visible unsubscribe line."""
    subject = " ".join(render(subject_src, fields).split())
    text = render(body_src, fields)
    body_html = _paragraphs(render(body_src, fields, html_escape=True))
    if appendix_text:
        text += "\n\n" + appendix_text
        body_html += appendix_html
    link = ""
    if unsubscribe:
        link, tail_text, tail_html = _unsubscribe_line(sender, lang)
        text += tail_text
        body_html += tail_html
    return Email(subject, text, f"<html><body>\n{body_html}</body></html>\n", link)


@lru_cache(maxsize=64)
def _unsubscribe_line(sender: str, lang: str) -> tuple[str, str, str]:
    """(the mailto: link, the line's text part, its HTML paragraph) of marketing mail from ``sender``: the same for
    every email a run sends (a first run at 30k leads sends ~7,000), so made once per sender and language."""
    address = address_of(sender) or "the sender"
    word = _UNSUB_WORD.get(lang, _UNSUB_WORD["en"])
    link = f"mailto:{address}?subject={quote(word)}" if "@" in address else ""
    line = UNSUBSCRIBE.get(lang, UNSUBSCRIBE["en"]).format(address=address)
    shown = f'<a href="{html.escape(link)}">{html.escape(address)}</a>' if link else html.escape(address)
    paragraph = html.escape(line).replace(html.escape(address), shown)
    paragraph = '<p style="color:#777;font-size:12px">' + paragraph + "</p>"
    return link, "\n\n-- \n" + line, paragraph


def _paragraphs(rendered: str) -> str:
    """Blank lines become paragraphs and single newlines line breaks (the body is typed in a cell)."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", rendered.replace("\r\n", "\n")) if b.strip()]
    return "".join(f"<p>{b.replace(chr(10), '<br>' + chr(10))}</p>\n" for b in blocks)
