#!/usr/bin/env bash
# One command to run the tests: set up .venv, install the real components the tests use, run pytest.
# Tests run in parallel, one worker per core (pytest-xdist): most slow tests wait on LibreOffice, servers and
# other processes, so two workers overlap well even on two cores. Arguments go to pytest; `-n 0` runs serially.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
bash "$ROOT/scripts/system-deps.sh"
cd "$ROOT"
python -m pytest -q -n auto --dist worksteal "$@"
