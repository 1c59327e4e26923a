"""Parts of a run's report that the rest of the run does not need, set aside in a temporary file while the write
and the confirming pass run, and put back before the report is returned (runner.py, settled.py). At 100k leads a
first run's findings (~170,000), change sets (~300,000 updates and appends) and job states are some 300 MB that
would otherwise sit under the write's and the confirming pass's own working sets.
"""
from __future__ import annotations

import pickle
import tempfile
from operator import attrgetter
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

    def _put(self, value: Any) -> int | None:
        # The garbage collector is paused while pickling and loading: the ten thousands of tuples made would start
        # full collections over the run's millions of live objects (none of which are cycles made here)
        with collector_paused():
            return self._dump(value)

    def _dump(self, value: Any) -> int | None:
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="crm-sheets-aside-")
            f = self._file
            f.seek(0, 2)
            at = f.tell()
            pickler = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)
            pickler.dispatch_table = _reducers()
            pickler.dump(value)
            return at
        except Exception:
            return None

    def _get(self, at: int) -> Any:
        with collector_paused():
            self._file.seek(at)
            return pickle.load(self._file)

    def findings_of(self, results: list[Any]) -> None:
        """Set aside the findings and effects of ``results`` (JobResults); their lists are emptied until put back.
        Put back, the findings stay the tuples they were pickled as until a caller reads them (finding_rows gives
        the tuples: the record and --json take them as they are)."""
        fields = attrgetter(*_FINDING_FIELDS)
        with collector_paused():
            at = self._put([(list(map(fields, r.findings)), r.effects) for r in results])
        if at is None:
            return
        for r in results:
            r.findings, r.effects = [], []

        def back() -> None:
            for r, (found, effects) in zip(results, self._get(at)):  # tuples of str: quick to load
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
        at = self._put((report.changes, [(r.changes, r.state) for r in results]))
        if at is None:
            return
        report.changes = ChangeSet()
        for r in results:
            r.changes, r.state = ChangeSet(), None
        owners = [report, *results]

        def load() -> None:
            merged, parts = self._get(at)
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


def changes_summary(owner: Any) -> dict[str, int]:
    """The counts of a report's or result's change set (ChangeSet.summary), without loading one that waits in the
    file."""
    if _waits(owner, "changes"):
        return dict(owner.__dict__["_changes_summary"])
    return owner.changes.summary()


def _waits(owner: Any, name: str) -> bool:
    return name in (getattr(owner, "__dict__", {}).get("_later") or ())
