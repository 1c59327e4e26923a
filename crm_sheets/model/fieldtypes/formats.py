"""Number formats that several field types share: money by currency, booleans by language, date patterns.

The xlsx builder, ``upgrade`` and the store's styles show the same formats, so they live beside the types.
"""
from __future__ import annotations

# Booleans: Excel shows TRUE/FALSE (VRAI/FAUX) whatever the format; LibreOffice shows 1/0 unless told.
BOOLEAN_FORMATS = {"en": '"TRUE";"TRUE";"FALSE"', "fr": '"VRAI";"VRAI";"FAUX"'}
# Currencies people recognise by their symbol; any other is shown by its ISO code.
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
NO_DECIMALS = {"JPY"}
SHEETS_DATE_PATTERN = "yyyy-mm-dd"
SHEETS_DATETIME_PATTERN = "yyyy-mm-dd hh:mm"


def money_format(currency: str | None, lang: str = "en") -> str:
    """'"$"#,##0.00' for USD in English, '#,##0.00 "€"' for EUR in French, '#,##0.00 "CHF"' for a code."""
    code = (currency or "").strip().upper()
    digits = "#,##0" if code in NO_DECIMALS else "#,##0.00"
    if not code:
        return digits
    symbol = SYMBOLS.get(code)
    if symbol and lang == "en":
        return f'"{symbol}"{digits}'
    return f'{digits} "{symbol or code}"'
