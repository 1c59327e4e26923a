from crm_sheets.quick import main

main()
