#!/usr/bin/env bash
# Runs the end-to-end client tests against a real basalt (see tests/python/conftest.py).
#   tests/python/run.sh [pytest args...]      e.g. tests/python/run.sh -k cinder -x
# BASALT_BIN selects the binary (default target/debug/basalt, built if missing),
# BASALT_VENV the virtualenv (default target/python-venv). Exits with pytest's code.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$("$REPO/scripts/python-env.sh" | tail -n 1)"
cd "$REPO"
exec "$VENV/bin/python" -m pytest -q tests/python "$@"
