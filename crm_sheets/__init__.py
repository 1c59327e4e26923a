"""crm-sheets: a spreadsheet-native CRM. A typed workbook is the database and the UI; jobs keep it healthy.

    from crm_sheets import new_workbook, open_workbook, check, dedupe, automate, report, run

One function per command, on a workbook path (crm_sheets/api.py); loaded on first use, so that
`import crm_sheets` (and the command line's start) stays quick.
"""
__version__ = "0.1.0"

__all__ = ["automate", "check", "dedupe", "demo", "new_workbook", "open_workbook", "report", "run", "unmerge"]


def __getattr__(name: str):
    if name in __all__:
        from crm_sheets import api

        return getattr(api, name)
    raise AttributeError(f"module 'crm_sheets' has no attribute {name!r}")
