"""Where a store keeps what is not in the workbook: its pending change set, its outbox and job states (SQLite),
its writer lock, the cache of its typed tables. Keyed by the store's identity ("file:/abs/crm.xlsx", "gsheets:SPREADSHEET_ID").

A workbook file keeps them beside it, under the names it always had (.crm.xlsx.crm-pending.json,
.crm.xlsx.outbox.sqlite, .crm.xlsx.crm-lock), so existing workbooks keep their state. A remote store keeps
them in a folder of its own under the user's state folder: $CRM_SHEETS_STATE_DIR, else
$XDG_STATE_HOME/crm-sheets, else the platform's usual place (~/.local/state/crm-sheets on Linux).
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_DIR_ENV = "CRM_SHEETS_STATE_DIR"


@dataclass(frozen=True)
class StoreState:
    """The state files of one store: ``dir`` / ``.<stem>.<kind>``."""

    identity: str
    dir: Path
    stem: str

    @classmethod
    def for_file(cls, path: str | os.PathLike) -> StoreState:
        """A workbook file's state, beside it."""
        p = Path(path)
        return cls(file_identity(p), p.parent, p.name)

    @classmethod
    def for_remote(cls, identity: str) -> StoreState:
        """A remote store's state, in its own folder under the user's state folder."""
        return cls(identity, user_state_dir() / safe_name(identity), "store")

    @property
    def pending(self) -> Path:
        """The change set a run could not write (JSON)."""
        return self.dir / f".{self.stem}.crm-pending.json"

    @property
    def outbox(self) -> Path:
        """The outbox and the jobs' states (SQLite)."""
        return self.dir / f".{self.stem}.outbox.sqlite"

    @property
    def forms(self) -> Path:
        """The web forms' journal of acknowledged submissions (SQLite, forms/journal.py)."""
        return self.dir / f".{self.stem}.forms.sqlite"

    @property
    def tables_cache(self) -> Path:
        """The typed tables of the last read, to read only what changed next time (store/core/cache.py;
        an optimisation only: deleting it changes no result)."""
        return self.dir / f".{self.stem}.crm-tables.cache"

    @property
    def lock(self) -> Path:
        """The file the one-writer lock is taken on."""
        return self.dir / f".{self.stem}.crm-lock"


def is_store_url(spec: Any) -> bool:
    """Whether ``spec`` names a remote store (``scheme://ID``, or ``scheme:/ID`` once it went through a Path)
    rather than a workbook file."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:/", str(spec)) is not None


def state_for(spec: str | os.PathLike) -> StoreState:
    """The state of the store ``spec`` names: beside a workbook file, or the remote store's folder for
    ``scheme://ID`` (also as a path folded it: ``scheme:/ID``), keyed by the identity its backend gives it."""
    text = str(spec)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:/", text) is None:
        return StoreState.for_file(text)
    from crm_sheets.store import open_store

    return open_store(text).state


def file_identity(path: str | os.PathLike) -> str:
    """``file:`` and the absolute path of a workbook file."""
    return "file:" + str(Path(os.path.abspath(path)))


def safe_name(identity: str) -> str:
    """A folder name for an identity: readable, filesystem-safe, and distinct for distinct identities."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", identity).strip("._")[:80] or "store"
    return f"{readable}-{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:10]}"


def user_state_dir() -> Path:
    """The folder crm-sheets keeps remote stores' state in (CRM_SHEETS_STATE_DIR overrides)."""
    given = os.environ.get(STATE_DIR_ENV, "").strip()
    if given:
        return Path(given).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "crm-sheets" / "State"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "crm-sheets"
    xdg = os.environ.get("XDG_STATE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "crm-sheets"


def state_of(spec: Any) -> StoreState:
    """The state of a store, a StoreState, a store URL (gsheets://ID) or a workbook file's path."""
    if isinstance(spec, StoreState):
        return spec
    if isinstance(spec, (str, os.PathLike)) and is_store_url(spec):  # gsheets://ID, or gsheets:/ID from a Path
        from crm_sheets.store import open_store

        return open_store(str(spec)).state
    state = getattr(spec, "state", None)
    if isinstance(state, StoreState):
        return state
    return StoreState.for_file(spec)
