"""The Store protocol every backend implements (xlsx file, live Excel, Google Sheets), and what apply returns.

A store reads a workbook into Tables and writes a ChangeSet in one go; jobs never see anything else.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Protocol, runtime_checkable

from crm_sheets.model.changeset import ChangeSet
from crm_sheets.model.tables import Tables
from crm_sheets.store.core.layout import WorkbookLayout
from crm_sheets.store.state import StoreState

if TYPE_CHECKING:
    from crm_sheets.store.pending import Pending
    from crm_sheets.store.safety import Fingerprint


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
    """What the runner, upgrade, the outbox and the CLI use of a workbook, whatever holds it (open_store)."""

    identity: str  # "file:/abs/path/crm.xlsx", "gsheets:SPREADSHEET_ID": what its state is keyed by
    name: str  # how messages name it: "crm.xlsx", a spreadsheet's title
    state: StoreState  # where its pending change set, outbox/job states and writer lock live

    @property
    def state_dir(self) -> Path:
        """The folder of ``state``: beside a workbook file, or the remote store's own folder."""

    @property
    def fingerprint(self) -> Fingerprint | None:
        """A content hash of what the last read (or this store's last write) saw: job states are keyed by its
        ``sha256`` when the workbook carries no generation. None before a read."""

    def describe(self) -> str:
        """One line for people: which workbook this is ("crm.xlsx", "Sales CRM (Google Sheets)")."""

    def read(self) -> Tables:
        """The workbook's tables, typed; remembers what was read so ``apply`` can detect later edits."""

    def apply(self, changeset: ChangeSet, tables: Tables, *, before_replace=None, states=None) -> ApplyResult:
        """Write the change set in one go (``tables`` is what ``read`` returned, as the jobs saw it).

        Raises WorkbookBusy when someone has the workbook open (the change set is then kept as pending,
        with ``states``, the jobs' states that go with it) and WorkbookChanged when it changed since
        ``read`` (read again and re-run the jobs). ``before_replace(new_file)`` runs once the new
        version is complete and before it replaces the old one. Stores that can tell a change set that
        changes nothing also take ``rider=`` (see XlsxStore.apply).
        """

    def pending(self) -> ChangeSet | None:
        """The change set a previous run could not write, to merge into this run's; None when there is none."""

    def pending_file(self) -> Pending | None:
        """The pending change set with its ID and the jobs' states saved with it (store/pending.py), or None."""

    def lock(self) -> AbstractContextManager:
        """An exclusive writer lock on the workbook among crm-sheets runs: ``with store.lock(): ...``."""

    def open_by(self) -> str | None:
        """Who has the workbook open so that a write now would be refused (Excel, LibreOffice), or None."""

    def layout(self, tables: Tables, only: Iterable[str] | None = None) -> WorkbookLayout:
        """Where each table (or only those named) sits and which columns beside it people use: what
        ``upgrade`` needs to place new columns and tables."""
