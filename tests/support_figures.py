"""The durability figures printed at the end of a run: inputs tried, 5xx, losses, duplicates.

Tests fill them through `response()`, `command()`, `lost()`, `half_written()` and
`duplicates()`; tests/conftest.py prints them in its pytest_terminal_summary hook.
"""
from __future__ import annotations

from collections import Counter

FIGURES: Counter[str] = Counter()

LABELS = {
    "hostile_inputs": "hostile inputs tried",
    "server_errors": "server errors (5xx, must be 0)",
    "signatures_lost": "signatures lost (must be 0)",
    "duplicate_emails": "duplicate emails sent (must be 0)",
    "half_written": "half-written or lost records (must be 0)",
    "tracebacks": "commands that ended in a traceback (must be 0)",
    "outage_503": "503 answers during a planned database outage (expected)",
}


def response(status: int, hostile: bool = True) -> int:
    """Count one answer to a stranger's input; returns the status so calls can be inlined."""
    if hostile:
        FIGURES["hostile_inputs"] += 1
    if status >= 500:
        FIGURES["server_errors"] += 1
    return status


def lost(count: int) -> None:
    FIGURES["signatures_lost"] += count


def duplicates(count: int) -> None:
    FIGURES["duplicate_emails"] += count


def half_written(count: int) -> None:
    """A refused input that changed something, or an accepted one that was not kept whole."""
    FIGURES["half_written"] += count


def command(traceback: bool, hostile: bool = True) -> None:
    """Count one run of a `campaign` command with a stranger's arguments or files."""
    if hostile:
        FIGURES["hostile_inputs"] += 1
    if traceback:
        FIGURES["tracebacks"] += 1


def outage(count: int) -> None:
    FIGURES["outage_503"] += count


def summary_lines() -> list[str]:
    return [f"{label}: {FIGURES[key]}" for key, label in LABELS.items()]
