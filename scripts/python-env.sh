#!/usr/bin/env bash
# Creates (once) the Python virtualenv used by the end-to-end client tests in tests/python
# and installs the pinned clients from tests/python/requirements.txt (+ constraints.txt).
#
#   scripts/python-env.sh            # prints the venv path on its last line
#   BASALT_VENV=/some/dir scripts/python-env.sh
#
# Idempotent: when the venv's stamp file holds the same requirement list, nothing is
# reinstalled. Delete the venv (or its .basalt-requirements stamp) to force a reinstall.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BASALT_VENV:-$REPO/target/python-venv}"
REQ="$REPO/tests/python/requirements.txt"
CONSTRAINTS="$REPO/tests/python/constraints.txt"
STAMP="$VENV/.basalt-requirements"

log() { echo "python-env: $*" >&2; }

PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || { log "$PYTHON not found"; exit 1; }

# What the stamp records: the interpreter version and both requirement files.
want_stamp() {
    "$PYTHON" -c 'import sys; print("python", sys.version.split()[0])'
    cat "$REQ"
    if [ -f "$CONSTRAINTS" ]; then
        echo "# constraints"
        cat "$CONSTRAINTS"
    fi
}

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && cmp -s "$STAMP" <(want_stamp); then
    log "up to date"
    echo "$VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        log "the venv module is missing; installing python3-venv"
        apt-get update
        apt-get install -y python3-venv
    fi
    log "creating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

log "installing $(grep -cvE '^\s*(#|$)' "$REQ") pinned packages"
args=(-r "$REQ")
[ -f "$CONSTRAINTS" ] && args+=(-c "$CONSTRAINTS")
"$VENV/bin/python" -m pip install --quiet "${args[@]}"

want_stamp > "$STAMP"
echo "$VENV"
