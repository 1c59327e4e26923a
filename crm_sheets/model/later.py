"""Fields put back later: an object (JobResult, RunReport) whose large, rarely read parts wait in a file
(crm_sheets/spill.py) has them loaded on first use, so a run that only prints or records them never rebuilds them.
"""
from __future__ import annotations

from typing import Any, Callable


class Later:
    """A mixin for a (non-slotted) dataclass: ``later(names, load)`` removes the attributes ``names``; the first read
    of any of them calls ``load()``, which sets them all. A copy or a pickle of the object loads them first."""

    def later(self, names: tuple[str, ...], load: Callable[[], None]) -> None:
        pending = self.__dict__.setdefault("_later", {})
        for name in names:
            self.__dict__.pop(name, None)
            pending[name] = load

    def waiting(self, name: str) -> bool:
        """Whether attribute ``name`` is still in the file (not yet loaded)."""
        return name in (self.__dict__.get("_later") or ())

    def __getattr__(self, name: str) -> Any:
        pending = self.__dict__.get("_later")
        load = pending.get(name) if pending else None
        if load is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        load()  # sets the attributes (a load that fails leaves them waiting: the next read tries again)
        for key in [k for k, v in pending.items() if v is load]:
            del pending[key]
        return self.__dict__[name]

    def __getstate__(self) -> dict[str, Any]:
        for name in list(self.__dict__.get("_later") or ()):
            getattr(self, name)
        state = dict(self.__dict__)
        state.pop("_later", None)
        return state
