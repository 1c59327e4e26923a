"""Failures of a run (as opposed to problems found in the data, which are Findings).

Every error says where, what was found and what to do; the CLI prints it as one line and exits
with the error's ``exit_code``.
"""
from __future__ import annotations


class CrmSheetsError(Exception):
    """Base of every error crm-sheets raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}; {hint}")


class SchemaError(CrmSheetsError):
    """A schema file, a Fields row or a rule sheet cannot be understood."""


class NotAWorkbook(CrmSheetsError):
    """The file is missing, is not an .xlsx workbook, or is not a crm-sheets workbook."""


class UnsafeWorkbook(NotAWorkbook):
    """The file looks hostile (zip bomb, XML entities, oversized part) and is refused unread."""


class DamagedWorkbook(NotAWorkbook):
    """A part of the package cannot be read: a broken zip member, XML no spreadsheet program writes,
    or a sheet whose cells are spread too far to be read. The message names the file and the part."""


class WorkbookBusy(CrmSheetsError):
    """Someone has the workbook open, or another crm-sheets run holds its lock."""

    exit_code = 3


class WorkbookChanged(CrmSheetsError):
    """The workbook changed on disk between our read and our write."""

    exit_code = 3


class UsageError(CrmSheetsError):
    """The command was asked for something that does not exist (template, language, record)."""


class SheetsAuthMissing(CrmSheetsError):
    """No Google credentials were found (environment variable or gspread's standard files)."""


class SpreadsheetNotFound(NotAWorkbook):
    """A Google spreadsheet does not exist, or is not shared with the account crm-sheets signs in as."""


class SheetsUnavailable(WorkbookBusy):
    """The Google Sheets API kept failing (5xx, dropped connections) after every retry; nothing was written."""


class QuotaExhausted(SheetsUnavailable):
    """The Google Sheets API kept refusing requests for quota (429) after every retry; nothing was written."""
