"""The durability figures printed at the end of a run: inputs tried, 5xx, losses, duplicates.

Tests fill them through `response()`, `lost()` and `duplicates()`; tests/conftest.py prints them
in its pytest_terminal_summary hook.
"""
from __future__ import annotations

from collections import Counter

FIGURES: Counter[str] = Counter()

LABELS = {
    "hostile_inputs": "hostile inputs tried",
    "server_errors": "server errors (5xx, must be 0)",
    "signatures_lost": "signatures lost (must be 0)",
    "duplicate_emails": "duplicate emails sent (must be 0)",
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


def outage(count: int) -> None:
    FIGURES["outage_503"] += count


def summary_lines() -> list[str]:
    return [f"{label}: {FIGURES[key]}" for key, label in LABELS.items()]
