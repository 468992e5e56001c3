"""Timestamps: one fixed-width ISO-8601 text form, and a clock that never repeats."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_ONE_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    """The current time in UTC (the default time source)."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Render ``moment`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC.

    The width is fixed, so the text sorts like the instants it names; the store relies on
    that to compare timestamps as strings.
    """
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(timespec="microseconds") + "Z"


def epoch_microseconds(moment: datetime) -> int:
    """Microseconds from 1970-01-01T00:00:00Z to ``moment``."""
    return (moment - _EPOCH) // _ONE_MICROSECOND


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a value without an offset is taken as UTC.

    Raises ``ValueError`` when ``text`` is not ISO-8601.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"timestamp {text!r} is out of range") from exc


class MonotonicClock:
    """Hands out strictly increasing UTC timestamps, even if the time source repeats.

    Every write in the store takes its ``updated_at`` from here, so a row that changes
    always moves past every row already written; keyset pagination depends on it.
    """

    def __init__(self, now: Callable[[], datetime] = utc_now) -> None:
        self._now = now
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def advance_past(self, text: str | None) -> None:
        """Never hand out a timestamp at or before ``text`` (e.g. the newest stored row)."""
        if text is None:
            return
        moment = parse_timestamp(text)
        with self._lock:
            if self._last is None or moment > self._last:
                self._last = moment

    def next(self) -> str:
        """The next timestamp: now, or one microsecond after the previous one if later."""
        return format_timestamp(self.reserve(1))

    def reserve(self, count: int) -> datetime:
        """Reserve ``count`` consecutive microseconds and return the first of them.

        A bulk insert uses one per row, so that no two rows ever share an ``updated_at``.
        """
        with self._lock:
            moment = self._now().astimezone(UTC)
            if self._last is not None and moment <= self._last:
                moment = self._last + _ONE_MICROSECOND
            self._last = moment + _ONE_MICROSECOND * (count - 1)
            return moment
