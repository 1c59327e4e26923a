#!/usr/bin/env bash
# One command to run the tests: set up .venv, install the real components the tests use, run pytest.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
bash "$ROOT/scripts/system-deps.sh"
cd "$ROOT"
python -m pytest -q "$@"
