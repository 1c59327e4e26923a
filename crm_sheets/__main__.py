from crm_sheets.cli import cli

cli()
