"""The clock seam: the scheduler reads time and waits only through a :class:`Clock`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Where the scheduler gets the time from."""

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once :meth:`now` is at or past ``when`` (at once if it already is)."""
        ...


class SystemClock:
    """The wall clock, and :func:`asyncio.sleep` to wait."""

    max_nap = 30.0
    """Longest single wait, in seconds: the wall clock is re-read at least this often, so
    a clock step (NTP, suspend and resume) delays a tick by at most this much."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until the wall clock reaches ``when``."""
        # The condition is the wall clock itself, so there is no event to wait on instead.
        while (remaining := (when - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(remaining, self.max_nap))


class ManualClock:
    """A clock that moves only when told to: tests advance time instead of sleeping.

    :meth:`sleep_until` parks the caller until :meth:`advance` or :meth:`set` reaches its
    deadline. :meth:`wait_for_sleepers` lets a test wait until the code under test is
    parked again (for example the scheduler loop after handling a tick).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime(2026, 1, 1, tzinfo=UTC)).astimezone(UTC)
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        self._parked: asyncio.Event | None = None

    def now(self) -> datetime:
        """The clock's current instant."""
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        """Park until the clock is moved to ``when`` or later."""
        if when <= self._now:
            await asyncio.sleep(0)
            return
        entry = (when, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        if self._parked is not None:
            self._parked.set()
        try:
            await entry[1]
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def advance(self, by: timedelta | float) -> datetime:
        """Move the clock forward by ``by`` (seconds or a timedelta); returns the new now."""
        delta = by if isinstance(by, timedelta) else timedelta(seconds=by)
        return self.set(self._now + delta)

    def set(self, when: datetime) -> datetime:
        """Move the clock to ``when`` and wake every sleeper whose deadline has come.

        Raises :class:`ValueError` if ``when`` is before the current time.
        """
        when = when.astimezone(UTC)
        if when < self._now:
            raise ValueError(f"a ManualClock never goes back ({when} < {self._now})")
        self._now = when
        for entry in [entry for entry in self._sleepers if entry[0] <= when]:
            self._sleepers.remove(entry)
            if not entry[1].done():
                entry[1].set_result(None)
        return when

    @property
    def sleepers(self) -> int:
        """How many callers are parked in :meth:`sleep_until` right now."""
        return len(self._sleepers)

    @property
    def deadlines(self) -> list[datetime]:
        """When the parked callers want to wake, earliest first."""
        return sorted(when for when, _ in self._sleepers)

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Wait until at least ``count`` callers are parked in :meth:`sleep_until`."""
        while len(self._sleepers) < count:
            if self._parked is None:
                self._parked = asyncio.Event()
            self._parked.clear()
            await self._parked.wait()
