#!/usr/bin/env bash
# Installs the real components the tests drive: LibreOffice (headless Calc, with Python macros and UNO), poppler (PDF -> PNG) and
# Chromium (the web-form tests drive it headless through Playwright, never with a downloaded browser).
set -euo pipefail
need=()
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-calc-nogui fonts-liberation2)  # Liberation: metric-compatible with Arial/Calibri
# python3-uno: the tests press the LibreOffice macro through UNO from the system Python; the script provider
# lets LibreOffice run Python macros at all (My Macros > crm_sheets).
/usr/bin/python3 -c "import uno" >/dev/null 2>&1 || need+=(python3-uno)
[ -e /usr/lib/libreoffice/program/pythonscript.py ] || need+=(libreoffice-script-provider-python)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "Installing ${need[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
