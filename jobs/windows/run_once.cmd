@echo off
rem One crm-sheets run for Windows Task Scheduler: run_once.cmd JOB...  (no job: every job).
rem Edit CRM to the folder of the workbook and of the virtual environment (.venv).
set CRM=C:\crm
cd /d "%CRM%"
"%CRM%\.venv\Scripts\python.exe" jobs\run_once.py crm.xlsx %* >> crm-schedule.log 2>&1
exit /b %ERRORLEVEL%
