"""Tables parsed when something first asks for their cells: the log tables (the Audit Log), which jobs only append
to. Owns LazyTable (a Table whose cells are read on first use) and which table kinds the read leaves lazy (the
read itself, and what parses such a table later, are crm_sheets.store.core.read's).

An edited run after a whole-package save (Excel, LibreOffice) finds no sheet in the table cache by its bytes, so
every sheet read is parsed; the Audit Log, the largest sheet of a workbook that has run for a while, is read by no
job (check skips log tables, the record of a settled run leaves them out), so it is parsed only when something
does ask: a write appending to it, a job that looks. Then it is exactly the table an eager read gives.
"""
from __future__ import annotations

from typing import Any, Callable

from crm_sheets.errors import SchemaError
from crm_sheets.model.tables import Table

# Table kinds left lazy by the read: jobs only append to them (their rows are never read to decide anything).
LAZY_KINDS = frozenset({"log"})

# The Table fields known only from the sheet's cells (schema and sheet are known without parsing).
_CELL_FIELDS = ("df", "rows", "columns", "invalid", "typed_text", "extra_columns", "header_row", "assigned_ids", "next_id")


class _Once:
    """A loader called at most once; copies of a lazy table share it, so the sheet is parsed once for all."""

    __slots__ = ("fn", "table", "error")

    def __init__(self, fn: Callable[[], Table]):
        self.fn: Callable[[], Table] | None = fn
        self.table: Table | None = None
        self.error: BaseException | None = None  # why the read failed (the workbook changed): said again if asked

    def __call__(self) -> Table:
        if self.table is None:
            if self.error is not None:
                raise self.error
            try:
                self.table = self.fn()  # type: ignore[misc]
            except BaseException as exc:
                self.error = exc
                raise
            self.fn = None
        return self.table


def _cell_field(name: str) -> property:
    def get(self: Any) -> Any:
        d = self.__dict__
        if name not in d:
            self._load()
        return d[name]

    def put(self: Any, value: Any) -> None:
        d = self.__dict__
        if name not in d and d.get("_loader") is not None:
            self._load()  # a field set before the others are read: the others come from the sheet first
        d[name] = value

    return property(get, put)


class LazyTable(Table):
    """A Table whose sheet is parsed on first use of any of its cells' fields (df, rows, columns, ...); ``schema``,
    ``sheet`` and ``name`` are known without parsing. Loaded, it holds exactly what the eager read would have
    made. Built like a Table (dataclasses.replace, copy) it is an ordinary, loaded table."""

    def __init__(self, *args: Any, loader: Callable[[], Table] | None = None, **kw: Any):
        if loader is None:
            super().__init__(*args, **kw)
            return
        self.__dict__["_loader"] = loader if isinstance(loader, _Once) else _Once(loader)
        self.__dict__["schema"] = kw["schema"]
        self.__dict__["sheet"] = kw["sheet"]
        if not kw["schema"].id_prefix:  # a table without IDs: the read never assigns any (read._build_table)
            self.__dict__["assigned_ids"], self.__dict__["next_id"] = (), 1

    @property
    def loaded(self) -> bool:
        return self.__dict__.get("_loader") is None

    def _load(self) -> None:
        loader = self.__dict__.get("_loader")
        if loader is None:
            return
        table = loader()
        d = self.__dict__
        for name in _CELL_FIELDS:
            if name not in d:
                d[name] = getattr(table, name)
        d.pop("_loader", None)

    def __getstate__(self) -> dict[str, Any]:  # pickled (the cache, a worker) only as a whole table
        self._load()
        return dict(self.__dict__)

    def __copy__(self) -> LazyTable:
        new = LazyTable.__new__(LazyTable)
        new.__dict__.update(self.__dict__)  # an unloaded copy shares the loader: one parse for both
        return new


for _name in _CELL_FIELDS:
    setattr(LazyTable, _name, _cell_field(_name))
del _name


def is_unread(table: Any) -> bool:
    """Whether ``table`` is a lazy table whose sheet has not been parsed (nothing of its cells is known yet)."""
    return isinstance(table, LazyTable) and not table.loaded


def repoint(table: Any, reopen: Callable[[], Any]) -> bool:
    """Make an unread lazy table open its workbook with ``reopen`` when first asked (a write that left its sheet as
    it was points it at the file it made: store/xlsx/store.py). False, and nothing changed, when the table is read
    or its loader does not open a workbook through a ``reopen`` of its own (store/core/read.py ``_loader``)."""
    load = _reopening(table)
    if load is None:
        return False
    load.reopen = reopen
    return True


def can_repoint(table: Any) -> bool:
    """Whether ``repoint`` would take ``table``."""
    return _reopening(table) is not None


def _reopening(table: Any) -> Any:
    """The loader of an unread lazy table when it opens its workbook through a ``reopen`` of its own; else None."""
    once = table.__dict__.get("_loader") if is_unread(table) else None
    load = getattr(once, "fn", None)
    return load if hasattr(load, "reopen") else None


def lazily(table: Table, make: Callable[[Table], Table]) -> Table:
    """``make(table)`` (a copy, a derived table): now, or for an unread lazy table, a lazy table that is
    ``make(table)`` when something first asks for its cells (the sheet is then read once for both)."""
    if not is_unread(table):
        return make(table)
    return LazyTable(schema=table.schema, sheet=table.sheet, loader=lambda: make(table))


class HeaderRowMissing(SchemaError):
    """A lazy table's sheet, parsed at last, has no header row: the eager read would have left the table out of
    the Tables with ``note``; ``read_or_leave_out`` does the same then."""

    def __init__(self, message: str, *, note: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.note = note


def read_or_leave_out(tables: Any, name: str) -> bool:
    """Parse the table ``name`` of ``tables`` now if it is an unread lazy table; a sheet without a header row is
    then taken out of ``tables`` with the eager read's note, as the eager read leaves it (a run that writes
    gives the same workbook whether the table was read early or late). True while the table is there."""
    table = tables.tables.get(name)
    if table is None:
        return False
    if is_unread(table):
        try:
            table.df
        except HeaderRowMissing as exc:
            del tables.tables[name]
            tables.notes.append(exc.note)
            return False
    return True
