"""Parts of a run's report that the rest of the run does not need, set aside in a temporary file while the write
and the confirming pass run, and put back before the report is returned (runner.py, settled.py); on a large run also
check's first look while the jobs after it run, and the change lists while its second look runs. At 100k leads a
first run's findings (~170,000), change sets (~300,000 updates and appends) and job states are some 300 MB that
would otherwise sit under the write's and the confirming pass's own working sets.
"""
from __future__ import annotations

import pickle
import tempfile
from dataclasses import replace
from itertools import islice
from operator import attrgetter, itemgetter
from typing import Any, Callable

from crm_sheets.heap import collector_paused

# A run whose findings, updates and appends number fewer than this keeps them in memory: the file costs CPU to
# write and read back (a first run at 30k sample leads, ~230,000 of them: ~4 s of its ~36 s, for a peak of 509 MB
# instead of 627 MB; at 100k, 1147 MB instead of 1572 MB), and a small run's peak is far from any limit (10k leads,
# ~77,000 of them: ~350 MB).
WORTH_IT = 150_000

# model.findings.Finding's fields in their order: a finding is pickled as the tuple of these (taken in C; pickling a
# slotted dataclass calls Python twice per object)
_FINDING_FIELDS = ("type", "severity", "table", "record_id", "field", "value", "message", "cell", "fix", "fixable")


def _reducers() -> dict:
    """Cells and cell updates pickled as their class and fields: a slotted dataclass's own pickling calls Python
    twice per object (at 30k leads the Data Issues sheet's cells and the updates took 2.5 s to pickle and load back,
    1.0 s this way)."""
    import copyreg

    from crm_sheets.model.changeset import AuditEntry, CellUpdate, RowAppend, RowArchive
    from crm_sheets.model.sheets import Cell

    table = copyreg.dispatch_table.copy()
    table[Cell] = lambda c: (Cell, (c.value, c.style, c.link, c.currency, c.formula))
    table[CellUpdate] = lambda u: (CellUpdate, (u.table, u.record_id, u.field, u.value, u.before, u.reason))
    # appended rows, archived rows and the jobs' audit entries alike: their own pickling goes through
    # dataclasses.fields per object (at 30k sample leads ~130,000 of them, ~0.8 s of the 1.5 s spill of the changes)
    table[RowAppend] = lambda a: (RowAppend, (a.table, a.record_id, a.values))
    table[RowArchive] = lambda a: (RowArchive, (a.table, a.record_id, a.archive, a.info))
    table[AuditEntry] = lambda e: (AuditEntry, (e.job, e.table, e.record_id, e.field, e.before, e.after, e.reason))
    return table


def worth_it(results: list[Any], changes: Any = None, share: int = 1) -> bool:
    """Whether results (and their change set) are large enough to set aside: WORTH_IT findings, updates and appends,
    or a ``share``-th of it (the confirming pass sets aside one job's findings at a time: share=3)."""
    n = sum(len(r.findings) + len(r.changes.updates) + len(r.changes.appends) for r in results)
    if changes is not None:
        n = max(n, sum(len(r.findings) for r in results) + len(changes.updates) + len(changes.appends))
    return n * share >= WORTH_IT


class Aside:
    """Parts of results and reports pickled to one unnamed temporary file (gone with the process whatever happens)
    and put back where they were by put_back. A part that cannot be pickled (or a full disk) stays where it is: the
    spill is an optimisation only."""

    def __init__(self) -> None:
        self._file: Any = None
        self._back: list[Callable[[], None]] = []
        self._waiting: set[int] = set()  # where change sets put back but not yet read start in the file

    # The garbage collector is paused while pickling and loading (collector_paused): the ten thousands of tuples
    # made would start full collections over the run's millions of live objects (none of which are cycles made here)

    def findings_of(self, results: list[Any]) -> None:
        """Set aside the findings and effects of ``results`` (JobResults); their lists are emptied until put back.
        Put back, the findings stay the tuples they were pickled as until a caller reads them (finding_rows gives
        the tuples: the record and --json take them as they are)."""
        fields = attrgetter(*_FINDING_FIELDS)

        def parts():  # the findings' tuples made and pickled a chunk at a time, a memo each (see _dump_changes)
            yield [(len(r.findings), r.effects) for r in results]
            for r in results:
                for i in range(0, len(r.findings), CHUNK):
                    yield list(map(fields, r.findings[i:i + CHUNK]))

        with collector_paused():
            at = self._dump_parts(parts())
        if at is None:
            return
        for r in results:
            r.findings, r.effects = [], []

        def load() -> list[tuple[list, Any]]:
            with collector_paused():
                f = self._file
                f.seek(at)
                out = []
                for n, effects in pickle.load(f):
                    found: list = []
                    while len(found) < n:
                        found += pickle.load(f)
                    out.append((found, effects))
                return out

        def back() -> None:
            for r, (found, effects) in zip(results, load()):  # tuples of str: quick to load
                r.effects = effects
                r.__dict__["_finding_rows"] = found
                r.later(("findings",), _findings_from(r))

        self._back.append(back)

    def changes_of(self, report: Any) -> None:
        """Set aside a report's change set and its results' change sets and states (one pickle: the updates they
        share stay shared when put back). Put back, they stay in the file until a caller reads one (the run's
        --json and record need only their counts, kept aside: changes_summary); then all come back at once."""
        from crm_sheets.model.changeset import ChangeSet

        results = list(report.results)
        counts = [report.changes.summary()] + [r.changes.summary() for r in results]
        with collector_paused():
            at = self._dump_changes([r.changes for r in results] + [report.changes], [r.state for r in results])
        if at is None:
            return
        report.changes = ChangeSet()
        for r in results:
            r.changes, r.state = ChangeSet(), None
        owners = [report, *results]

        def load() -> None:
            with collector_paused():
                *sets, states = self._load_changes(at)
            merged, parts = sets[-1], list(zip(sets[:-1], states))
            report.__dict__["changes"] = merged
            for r, (changes, state) in zip(results, parts):
                r.__dict__["changes"], r.__dict__["state"] = changes, state
            for obj in owners:  # whichever part is read first, every part came back
                pending = obj.__dict__.get("_later") or {}
                for name in ("changes", "state"):
                    if pending.get(name) is load:
                        del pending[name]
            self._waiting.discard(at)
            self._close_if_done()

        def back() -> None:
            self._waiting.add(at)
            report.__dict__["_changes_summary"] = counts[0]
            report.later(("changes",), load)
            for r, c in zip(results, counts[1:]):
                r.__dict__["_changes_summary"] = c
                r.later(("changes", "state"), load)

        self._back.append(back)

    def _dump_changes(self, sets: list[Any], states: list[Any]) -> int | None:
        """Change sets and states as a run of pickles (``_load_changes`` gives them back): first what they are made
        of but their long lists (updates, appends, archives, restores, audit entries, the rows of owned sheets), then
        those lists CHUNK items at a time, then the states, part by part. Each pickle has a memo of its own, so the
        pickler never holds more than a chunk's worth: one pickle of it all kept every update's and cell's
        fields (a tuple each, made by _reducers) alive until its end (at 100k sample leads ~200 MB). A list of a
        change set made of others' lists (a report's merged change set: its results' lists one after another) is
        written as where it lies in them: read back, the changes they share are shared again."""
        pieces: list[list] = []  # the lists written, in order
        starts: dict[tuple[str, int], int] = {}  # (list's name, id of its first item) -> its piece
        specs: dict[int, int] = {}  # id of an owned sheet's spec -> its index in ``shapes``
        shapes: list[Any] = []  # each sheet's spec without its rows, and the piece of its rows
        made = []
        for cs in sets:
            lay: dict[str, list] = {}
            for name in _LISTS:
                lay[name] = _segments(getattr(cs, name), name, pieces, starts)
            at_specs = []
            for spec in cs.sheets:
                if id(spec) not in specs:
                    specs[id(spec)] = len(shapes)
                    pieces.append(spec.rows)
                    shapes.append((replace(spec, rows=[]), len(pieces) - 1))
                at_specs.append(specs[id(spec)])
            made.append((replace(cs, **{name: [] for name in _LISTS}, sheets=[]), lay, at_specs))
        head = (made, shapes, [len(p) for p in pieces], [_state_shape(s) for s in states])

        def parts():
            yield head
            for p in pieces:
                for i in range(0, len(p), CHUNK):
                    yield p[i:i + CHUNK]
            for s in states:
                yield from _state_parts(s)

        return self._dump_parts(parts())

    def look_of(self, result: Any) -> Callable[[], None] | None:
        """Set aside check's findings and the rows of its sheets (its first look, while the jobs after it run) until
        the function returned puts them back (the findings as tuples until a caller reads them, as findings_of puts
        them back); a second look replaces them (the function is then never called). None when nothing was set aside.
        At 100k leads ~170,000 findings and a Data Issues sheet of as many rows."""
        fields = attrgetter(*_FINDING_FIELDS)
        found = result.findings
        specs = [spec for spec in result.changes.sheets if spec.rows]

        def parts():
            yield len(found), [len(spec.rows) for spec in specs]
            for i in range(0, len(found), CHUNK):
                yield list(map(fields, found[i:i + CHUNK]))
            for spec in specs:
                for i in range(0, len(spec.rows), CHUNK):
                    yield spec.rows[i:i + CHUNK]

        with collector_paused():
            at = self._dump_parts(parts())
        if at is None:
            return None
        result.findings = []
        for spec in specs:
            spec.rows = []  # (the merged change set holds the same specs)
        del found

        def back() -> None:
            with collector_paused():
                f = self._file
                f.seek(at)
                n, sizes = pickle.load(f)
                rows: list = []
                while len(rows) < n:
                    rows += pickle.load(f)
                # as findings_of puts findings back: tuples until a caller reads them (the record and --json take the
                # tuples as they are; at 100k leads making ~170,000 Finding objects cost ~0.2 s of the look's 0.5 s)
                result.__dict__["_finding_rows"] = rows
                result.later(("findings",), _findings_from(result))
                del rows
                for spec, size in zip(specs, sizes):
                    got: list = []
                    while len(got) < size:
                        got += pickle.load(f)
                    spec.rows = got
            self._close_if_done()

        return back

    def lists_of(self, sets: list[Any], tables: Any) -> Callable[[], None] | None:
        """Set aside the long lists of change sets (updates, appends, archives, restores, audit entries; their sheets
        stay) for a while; the lists are emptied until the function returned is called, which puts them back. None
        when nothing was set aside. For check's second look, which never reads them (at 100k leads ~460,000 updates
        and ~240,000 appended rows under its working set).

        Put back, the changes the sets share are shared again (one list written once, _segments), and so are the
        texts they share with ``tables``: a record ID, an update's value or an appended row's value equal to the text
        its table holds in that cell is that very text again (_share_texts). Without that, every text the jobs wrote
        into the tables came back as a copy of its own (at 100k leads the phases after the look held ~50-90 MB
        more than with the lists kept in memory)."""
        pieces: list[list] = []
        starts: dict[tuple[str, int], int] = {}
        lays = [{name: _segments(getattr(cs, name), name, pieces, starts) for name in _LISTS} for cs in sets]

        def parts():
            yield [len(p) for p in pieces]
            for p in pieces:
                for i in range(0, len(p), CHUNK):
                    yield p[i:i + CHUNK]

        with collector_paused():
            at = self._dump_parts(parts())
        if at is None:
            return None
        del pieces
        for cs in sets:
            for name in _LISTS:
                setattr(cs, name, [])

        def back() -> None:
            with collector_paused():
                f = self._file
                f.seek(at)
                loaded = []
                for size in pickle.load(f):
                    items: list = []
                    while len(items) < size:
                        items += pickle.load(f)
                    loaded.append(items)
                _share_texts(tables, loaded)
            if not self._back:  # (else put_back closes it once the rest is back)
                self._close_if_done()
            for cs, lay in zip(sets, lays):
                for name, segments in lay.items():
                    setattr(cs, name, _joined(segments, loaded))

        return back

    def _dump_parts(self, parts: Any) -> int | None:
        """Pickle each of ``parts`` into the file, a memo each; where the first starts, or None when one failed."""
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="crm-sheets-aside-")
            f = self._file
            f.seek(0, 2)
            at = f.tell()
            pickler = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)
            pickler.dispatch_table = _reducers()
            for part in parts:
                pickler.dump(part)
                pickler.clear_memo()
            return at
        except Exception:
            return None

    def _load_changes(self, at: int) -> list[Any]:
        """The change sets and states ``_dump_changes`` wrote at ``at``: [change set, ..., [state, ...]]."""
        f = self._file
        f.seek(at)
        made, shapes, sizes, state_shapes = pickle.load(f)
        pieces = []
        for size in sizes:
            items: list = []
            while len(items) < size:
                items += pickle.load(f)
            pieces.append(items)
        sheets = [replace(spec, rows=pieces[k]) for spec, k in shapes]
        out = []
        for cs, lay, at_specs in made:
            for name, segments in lay.items():
                setattr(cs, name, _joined(segments, pieces))
            cs.sheets = [sheets[k] for k in at_specs]
            out.append(cs)
        out.append([_state_from(shape, f) for shape in state_shapes])
        return out

    def put_back(self) -> None:
        """Everything set aside back where it was (latest first). The file is closed, unless change sets wait in it
        for a caller to read them (then it closes when they are read, or with the process)."""
        try:
            while self._back:
                self._back.pop()()
        finally:
            self._close_if_done()

    def _close_if_done(self) -> None:
        if self._file is not None and not self._waiting:
            self._file.close()
            self._file = None

    def __bool__(self) -> bool:
        return bool(self._back)


# A change set's lists of changes that run to 100,000s at 100k leads (``_dump_changes``); its sheets' rows too
_LISTS = ("updates", "appends", "archives", "restores", "audit")
CHUNK = 20_000  # items pickled together (one memo): ~4 MB of fields held at most


def _segments(items: list, name: str, pieces: list[list], starts: dict[tuple[str, int], int]) -> list[tuple]:
    """Where the list ``items`` lies: ("own", piece) for a list written as it is (then known by its first item),
    or runs of pieces already written, ("in", piece, stop), with "own" pieces for what lies in none of them."""
    if not items:
        return []
    k = starts.get((name, id(items[0])))
    if k is not None and pieces[k] is items:
        return [("in", k, len(items))]
    out: list[tuple] = []
    own: list = []
    i, n = 0, len(items)
    while i < n:
        k = starts.get((name, id(items[i])))
        if k is not None:
            piece, j = pieces[k], 0
            while j < len(piece) and i + j < n and items[i + j] is piece[j]:
                j += 1
            if j:
                if own:
                    out.append(("own", len(pieces)))
                    pieces.append(own)
                    own = []
                out.append(("in", k, j))
                i += j
                continue
        own.append(items[i])
        i += 1
    if own:
        out.append(("own", len(pieces)))
        pieces.append(own)
    if len(out) == 1 and out[0][0] == "own":  # the list as it is: others may be made of it
        starts.setdefault((name, id(items[0])), out[0][1])
        pieces[out[0][1]] = items
    return out


def _joined(segments: list[tuple], pieces: list[list]) -> list:
    if len(segments) == 1:
        seg = segments[0]
        if seg[0] == "own" or seg[2] == len(pieces[seg[1]]):
            return pieces[seg[1]] if seg[0] == "own" else list(pieces[seg[1]])
    out: list = []
    for seg in segments:
        out += pieces[seg[1]] if seg[0] == "own" else pieces[seg[1]][:seg[2]]
    return out


def _state_shape(state: Any) -> Any:
    """How a job's state is written: a plain dict key by key, a long plain dict or list under it (check's row
    memory: a key per record) CHUNK entries at a time; anything else whole."""
    if type(state) is not dict:
        return None
    return [(key, len(v) if type(v) in (dict, list) and len(v) > CHUNK else None, type(v) is dict)
            for key, v in state.items()]


def _state_parts(state: Any):
    shape = _state_shape(state)
    if shape is None:
        yield state
        return
    for key, n, is_dict in shape:
        value = state[key]
        if n is None:
            yield value
            continue
        if not is_dict:
            for i in range(0, n, CHUNK):
                yield value[i:i + CHUNK]
            continue
        items = iter(value.items())  # a chunk of the dict's entries at a time, never a list of them all
        for _ in range(0, n, CHUNK):
            yield list(islice(items, CHUNK))


def _state_from(shape: Any, f: Any) -> Any:
    if shape is None:
        return pickle.load(f)
    state = {}
    for key, n, is_dict in shape:
        if n is None:
            state[key] = pickle.load(f)
            continue
        if is_dict:
            entries: dict = {}
            while len(entries) < n:
                entries.update(pickle.load(f))
            state[key] = entries
            continue
        items: list = []
        while len(items) < n:
            items += pickle.load(f)
        state[key] = items
    return state


def _share_texts(tables: Any, pieces: list[list]) -> None:
    """Changes loaded back from the file (updates, appended rows, archived rows, audit entries) made to hold the
    tables' own text objects where they hold equal texts: a record ID is the one of its table's index, an update's
    value (an audit entry's value after) and an appended row's values the texts in its cells. Only texts, and only
    equal ones of the same type: what the changes say is unchanged, they just stop holding copies. Set on the loaded
    objects as made (frozen dataclasses: object.__setattr__)."""
    from crm_sheets.model.changeset import AuditEntry, CellUpdate, RowAppend

    by_table: dict[str, list] = {}
    for piece in pieces:
        for x in piece:
            name = getattr(x, "table", None)
            if type(name) is str and type(getattr(x, "record_id", None)) is str:
                by_table.setdefault(name, []).append(x)
    setattr_ = object.__setattr__
    for name, xs in by_table.items():
        t = tables.tables.get(name) if hasattr(tables, "tables") else None
        if t is None or not getattr(t, "loaded", True):
            continue  # (a table not read, the lazy Audit Log: reading it is not worth a copy)
        df = t.df
        if df.index.dtype != object or not df.index.is_unique:
            continue
        ids = df.index.to_numpy()
        where = df.index.get_indexer(_object_index([x.record_id for x in xs]))
        columns: dict[str, Any] = {}

        def column(field: Any) -> Any:
            if field not in columns:
                columns[field] = df[field].to_numpy() if field in df.columns and df[field].dtype == object else None
            return columns[field]

        for x, p in zip(xs, where.tolist()):
            if p < 0:
                continue
            rid = ids[p]
            if rid is not x.record_id and rid == x.record_id:
                setattr_(x, "record_id", rid)
            kind = type(x)
            if kind is CellUpdate or kind is AuditEntry:
                value = x.value if kind is CellUpdate else x.after
                if type(value) is str:
                    col = column(x.field)
                    if col is not None:
                        cell = col[p]
                        if type(cell) is str and cell is not value and cell == value:
                            setattr_(x, "value" if kind is CellUpdate else "after", cell)
            elif kind is RowAppend and type(x.values) is dict:
                values = x.values
                for k, v in values.items():
                    if type(v) is str:
                        col = column(k)
                        if col is not None:
                            cell = col[p]
                            if type(cell) is str and cell is not v and cell == v:
                                values[k] = cell


def _object_index(values: list) -> Any:
    import pandas as pd

    return pd.Index(values, dtype=object)


def _findings_from(result: Any) -> Callable[[], None]:
    """What makes ``result``'s findings, put back as tuples, Finding objects when a caller first reads them."""
    def load() -> None:
        from crm_sheets.model.findings import Finding

        rows = result.__dict__.pop("_finding_rows", None) or []
        with collector_paused():
            result.__dict__["findings"] = [Finding(*f) for f in rows]

    return load


def finding_rows(result: Any) -> list[tuple]:
    """A JobResult's findings as tuples of their fields (model.findings.Finding's order): those put back from the
    file as they are, else taken from the Finding objects (in C)."""
    if _waits(result, "findings"):
        return result.__dict__["_finding_rows"]
    return list(map(attrgetter(*_FINDING_FIELDS), result.findings))


def finding_field(result: Any, name: str) -> list[Any]:
    """One field of a JobResult's findings, in their order (from the tuples put back from the file, or the objects),
    without making a tuple per finding: what counts and the first error need."""
    if _waits(result, "findings"):
        return list(map(itemgetter(_FINDING_FIELDS.index(name)), result.__dict__["_finding_rows"]))
    return list(map(attrgetter(name), result.findings))


def changes_summary(owner: Any) -> dict[str, int]:
    """The counts of a report's or result's change set (ChangeSet.summary), without loading one that waits in the
    file."""
    if _waits(owner, "changes"):
        return dict(owner.__dict__["_changes_summary"])
    return owner.changes.summary()


def _waits(owner: Any, name: str) -> bool:
    return name in (getattr(owner, "__dict__", {}).get("_later") or ())
