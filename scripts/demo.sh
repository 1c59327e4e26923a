#!/usr/bin/env bash
# One command for a newcomer: set up .venv, build a sample workbook in ./demo and run every job on it.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
cd "$ROOT"
crm-sheets demo "${1:-demo}"
