"""Pausing the cyclic garbage collector while a bulk call builds many small objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BULK_OBJECTS = 1_000


@contextmanager
def paused_gc(count: int) -> Iterator[None]:
    """Suspend cyclic collection while ``count`` (if large) acyclic objects are built.

    Each collection pass scans every tracked object, and allocating 100k records triggers
    passes over an ever larger heap: about a third of a bulk create's time. Records,
    parameter tuples and events cannot form reference cycles, so nothing is lost by
    deferring; reference counting still frees them, and the collector's previous state
    is restored afterwards.
    """
    if count < BULK_OBJECTS or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
