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

# model.findings.Finding's fields in their order: a finding is pickled as the tuple of these (taken in C; pickling a
# slotted dataclass calls Python twice per object)
_FINDING_FIELDS = ("type", "severity", "table", "record_id", "field", "value", "message", "cell", "fix", "fixable")


class Aside:
    """Values pickled to one unnamed temporary file (gone with the process whatever happens), each put back once by
    the function `put` returns. A value that cannot be pickled (or a full disk) stays where it is: the spill is an
    optimisation only."""

    def __init__(self) -> None:
        self._file: Any = None
        self._back: list[Callable[[], None]] = []

    def _put(self, value: Any) -> int | None:
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="crm-sheets-aside-")
            f = self._file
            f.seek(0, 2)
            at = f.tell()
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            return at
        except Exception:
            return None

    def _get(self, at: int) -> Any:
        self._file.seek(at)
        return pickle.load(self._file)

    def findings_of(self, results: list[Any]) -> None:
        """Set aside the findings and effects of ``results`` (JobResults); their lists are emptied until put back."""
        fields = attrgetter(*_FINDING_FIELDS)
        at = self._put([(list(map(fields, r.findings)), r.effects) for r in results])
        if at is None:
            return
        for r in results:
            r.findings, r.effects = [], []

        def back() -> None:
            from crm_sheets.model.findings import Finding

            for r, (found, effects) in zip(results, self._get(at)):
                r.findings, r.effects = [Finding(*f) for f in found], effects

        self._back.append(back)

    def changes_of(self, report: Any) -> None:
        """Set aside a report's change set and its results' change sets and states (one pickle: the updates they
        share stay shared when put back)."""
        from crm_sheets.model.changeset import ChangeSet

        results = list(report.results)
        at = self._put((report.changes, [(r.changes, r.state) for r in results]))
        if at is None:
            return
        report.changes = ChangeSet()
        for r in results:
            r.changes, r.state = ChangeSet(), None

        def back() -> None:
            merged, parts = self._get(at)
            report.changes = merged
            for r, (changes, state) in zip(results, parts):
                r.changes, r.state = changes, state

        self._back.append(back)

    def put_back(self) -> None:
        """Everything set aside back where it was (latest first); the file is closed."""
        try:
            while self._back:
                self._back.pop()()
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __bool__(self) -> bool:
        return bool(self._back)
