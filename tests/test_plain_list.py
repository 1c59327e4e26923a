"""A plain lead list someone already has (one 'Leads' sheet, their own headers, no crm-sheets metadata)
becomes a CRM: it is recognised, `upgrade` adds the missing sheets, and `run` works on it, keeping
the person's own columns."""
import openpyxl
import pytest
from click.testing import CliRunner

from crm_sheets.cli import cli
from crm_sheets.store import read_workbook


@pytest.mark.slow
def test_a_plain_lead_list_is_recognised_upgraded_and_run(tmp_path):
    path = tmp_path / "leads.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws.append(["First Name", "Last Name", "E-mail", "Phone", "Company", "Country", "Status", "Notes for me"])
    ws.append(["Ana", "Lopez", "ana@acme.fr", "+33 6 12 34 56 78", "Acme SAS", "France", "qualified", "call back"])
    ws.append(["Bob", "Martin", "bob@globex.com", "+1 415 555 0100", "Globex", "USA", "New", None])
    wb.save(path)

    tables = read_workbook(path)
    assert tables.schema.name == "sales" and any("recognised" in n for n in tables.notes)
    assert list(tables["leads"].df["email"]) == ["ana@acme.fr", "bob@globex.com"]
    assert tables["leads"].extra_columns == ("Notes for me",)

    runner = CliRunner()
    assert runner.invoke(cli, ["upgrade", str(path)]).exit_code == 0
    result = runner.invoke(cli, ["run", str(path), "--now", "2026-11-02T09:00"])
    assert result.exit_code == 0, result.output
    after = read_workbook(path)
    assert {"Data Issues", "Dashboard", "Audit Log"} <= set(openpyxl.load_workbook(path, read_only=True).sheetnames)
    leads = after["leads"]
    assert list(leads.df["last_name"]) == ["Lopez", "Martin"] and leads.df["score"].notna().all()
    assert openpyxl.load_workbook(path)["Leads"]["H2"].value == "call back", "the person's own column is kept"
