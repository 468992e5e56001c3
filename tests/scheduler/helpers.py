"""Shared helpers of the scheduler tests: instants, an independent cron matcher, a flaky store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from loomwork.scheduler.stores import MemoryScheduleStore

_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def at(text: str) -> datetime:
    """An aware UTC instant from 'YYYY-MM-DD HH:MM[:SS[.ffffff]]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _values(field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            first, last = base.split("-")
            start, stop = int(first), int(last)
        else:
            start = int(base)
            stop = high if step_text else start
        values.update(range(start, stop + 1, step))
    return values


def cron_matches(expression: str, wall: datetime) -> bool:
    """Whether a naive wall time matches a numeric cron expression (5 or 6 fields).

    Written from the cron manual, independently of the code under test: day-of-month and
    day-of-week are OR-ed when both are restricted, and weekday 7 is Sunday.
    """
    fields = expression.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    sets = [_values(field, low, high) for field, (low, high) in zip(fields, _RANGES, strict=True)]
    second, minute, hour, day, month, weekday = sets
    weekdays = {value % 7 for value in weekday}
    cron_weekday = (wall.weekday() + 1) % 7
    day_ok = wall.day in day
    weekday_ok = cron_weekday in weekdays
    if fields[3].startswith("*") or fields[5].startswith("*"):
        both = day_ok and weekday_ok
    else:
        both = day_ok or weekday_ok
    return (
        wall.second in second
        and wall.minute in minute
        and wall.hour in hour
        and wall.month in month
        and both
    )


class FlakyStore(MemoryScheduleStore):
    """A memory store whose next ``failures`` calls raise, like a database that is down."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.raised = 0

    def _maybe_fail(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            self.raised += 1
            raise ConnectionError("database unreachable (simulated)")

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        flaky: Callable[[], None] = super().__getattribute__("_maybe_fail")

        async def call(*args: Any, **kwargs: Any) -> Any:
            flaky()
            return await attribute(*args, **kwargs)

        return call


async def until(condition: Callable[[], bool]) -> None:
    """Yield to other tasks until ``condition()`` holds (the test timeout bounds it)."""
    # The condition is other tasks' state, with no event to wait on: yielding is the wait.
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0)
