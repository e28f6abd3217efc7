#!/usr/bin/env bash
# Creates (once) the Python virtualenvs used by the end-to-end client tests in tests/python:
#
#   BASALT_VENV          (default target/python-venv): the main clients, pinned in
#                        tests/python/requirements.txt (+ constraints.txt)
#   BASALT_VENV_CINDER7  (default target/python-venv-cinder7): python-cinderclient 7.4.1, the
#                        newest release that still speaks block-storage v2; it cannot share a
#                        venv with cinderclient 9. Pinned in tests/python/requirements-cinder7.txt
#                        (+ constraints-cinder7.txt)
#
#   scripts/python-env.sh            # prints the main venv path on its last line
#   BASALT_VENV=/some/dir BASALT_VENV_CINDER7=/other/dir scripts/python-env.sh
#
# Idempotent: when a venv's stamp file holds the same requirement lists, nothing is
# reinstalled there. Delete a venv (or its .basalt-requirements stamp) to force a reinstall.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BASALT_VENV:-$REPO/target/python-venv}"
VENV_CINDER7="${BASALT_VENV_CINDER7:-$REPO/target/python-venv-cinder7}"
REQS="$REPO/tests/python"

log() { echo "python-env: $*" >&2; }

PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || { log "$PYTHON not found"; exit 1; }

# What a stamp records: the interpreter version and both requirement files.
want_stamp() { # REQ CONSTRAINTS
    "$PYTHON" -c 'import sys; print("python", sys.version.split()[0])'
    cat "$1"
    if [ -f "$2" ]; then
        echo "# constraints"
        cat "$2"
    fi
}

ensure_venv() { # VENV REQ CONSTRAINTS
    local venv="$1" req="$2" constraints="$3"
    local stamp="$venv/.basalt-requirements"

    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] \
        && cmp -s "$stamp" <(want_stamp "$req" "$constraints"); then
        log "$venv is up to date"
        return 0
    fi

    if [ ! -x "$venv/bin/python" ]; then
        if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            log "the venv module is missing; installing python3-venv"
            apt-get update
            apt-get install -y python3-venv
        fi
        log "creating $venv"
        rm -rf "$venv"
        "$PYTHON" -m venv "$venv"
    fi

    log "installing $(grep -cvE '^\s*(#|$)' "$req") pinned packages into $venv"
    local args=(-r "$req")
    [ -f "$constraints" ] && args+=(-c "$constraints")
    "$venv/bin/python" -m pip install --quiet "${args[@]}"

    want_stamp "$req" "$constraints" > "$stamp"
}

ensure_venv "$VENV_CINDER7" "$REQS/requirements-cinder7.txt" "$REQS/constraints-cinder7.txt"
ensure_venv "$VENV" "$REQS/requirements.txt" "$REQS/constraints.txt"
echo "$VENV"
