"""Measuring what a dataset read allocates, for the tests that bound it."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable


def peak_of(read: Callable[[], object]) -> tuple[BaseException | None, int]:
    """What ``read()`` raised (None for nothing), and the peak of Python's allocations while it ran."""
    tracemalloc.start()
    try:
        try:
            read()
        except Exception as exc:  # noqa: BLE001 - the caller checks it
            return exc, tracemalloc.get_traced_memory()[1]
        return None, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
