"""Helpers shared by the end-to-end tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import time

import pytest

# Create, extend and delete finish within a second normally; this is the give-up point.
VOLUME_TIMEOUT = 30
GiB = 1 << 30


def wait_until(probe, what: str, timeout: float = VOLUME_TIMEOUT, interval: float = 0.2):
    """Calls `probe()` until it returns something truthy, and returns that; fails the test
    with `what` and the last value seen after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; last: {value!r}")
        time.sleep(interval)


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of a prettytable (`| a | b |`), header row included."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            rows.append([cell.strip() for cell in line[1:-1].split("|")])
    return rows


def table(text: str) -> list[dict[str, str]]:
    """A prettytable as a list of {column: cell}."""
    rows = table_rows(text)
    if not rows:
        return []
    header, *body = rows
    return [dict(zip(header, row)) for row in body]


def properties(text: str) -> dict[str, str]:
    """A cinderclient `Property | Value` table as a dict (values are the printed strings)."""
    rows = table_rows(text)
    assert rows and len(rows[0]) == 2, text
    return {row[0]: row[1] for row in rows[1:]}
