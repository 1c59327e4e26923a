"""crm-sheets: a spreadsheet-native CRM. A typed workbook is the database and the UI; jobs keep it healthy."""
__version__ = "0.1.0"
