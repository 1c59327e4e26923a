"""Plain data shared by jobs and stores: schema, tables, change sets, findings, effects. No I/O here."""
from crm_sheets.model.changeset import AuditEntry, CellUpdate, ChangeSet, OptionAdd, RowAppend, RowArchive, RowRestore
from crm_sheets.model.effects import Effect
from crm_sheets.model.findings import Finding
from crm_sheets.model.result import JobResult
from crm_sheets.model.schema import Field, ListSchema, Schema, TableSchema, load_schema
from crm_sheets.model.sheets import Cell, ChartSeries, ChartSpec, SheetSpec
from crm_sheets.model.tables import Table, Tables

__all__ = [
    "AuditEntry", "Cell", "CellUpdate", "ChangeSet", "OptionAdd", "ChartSeries", "ChartSpec", "Effect", "Field",
    "Finding", "JobResult", "ListSchema", "RowAppend", "RowArchive", "RowRestore", "Schema", "SheetSpec",
    "Table", "TableSchema", "Tables", "load_schema",
]
