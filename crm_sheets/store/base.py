"""The Store protocol every backend implements (xlsx file, live Excel, Google Sheets), and what apply returns.

A store reads a workbook into Tables and writes a ChangeSet in one go; jobs never see anything else.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.tables import Tables


class NothingToWrite(Exception):
    """A change set leaves every part of the workbook as it is: there is no new file to write (the store
    says so with ``ApplyResult.written`` False; nothing is replaced and no backup is made)."""


@dataclass(frozen=True)
class ApplyResult:
    """What ``Store.apply`` did."""

    written: bool  # the workbook now holds the change set
    backup: str | None = None  # the copy of the workbook as it was before, when one was kept
    pending: bool = False  # a pending change set is still on disk (to be applied on the next run)
    message: str = ""  # one line for people: what was written where, or what is left to do


@runtime_checkable
class Store(Protocol):
    def read(self) -> Tables:
        """The workbook's tables, typed; remembers what was read so ``apply`` can detect later edits."""

    def apply(self, changeset: ChangeSet, tables: Tables, *, before_replace=None, states=None) -> ApplyResult:
        """Write the change set in one go (``tables`` is what ``read`` returned, as the jobs saw it).

        Raises WorkbookBusy when someone has the workbook open (the change set is then kept as pending,
        with ``states``, the jobs' states that go with it) and WorkbookChanged when it changed since
        ``read`` (read again and re-run the jobs). ``before_replace(new_file)`` runs once the new
        version is complete and before it replaces the old one.
        """

    def pending(self) -> ChangeSet | None:
        """The change set a previous run could not write, to merge into this run's; None when there is none."""

    def lock(self) -> AbstractContextManager:
        """An exclusive writer lock on the workbook among crm-sheets runs: ``with store.lock(): ...``."""
