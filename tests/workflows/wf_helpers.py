"""Small tools shared by the workflow tests."""

from __future__ import annotations

import itertools
from typing import Any

_names = itertools.count()


def unique(prefix: str) -> str:
    """A workflow or step name no other test uses (the workflow registry is global)."""
    return f"{prefix}-{next(_names)}"


class FakeClock:
    """A clock the test moves by hand (POSIX seconds)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Journal:
    """Records what step and compensation bodies did, in order."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []

    def add(self, what: str, value: Any = None) -> None:
        self.entries.append((what, value))

    def names(self) -> list[str]:
        return [what for what, _ in self.entries]
