"""Schedules: when a job fires. Pure values and functions; no clock, no I/O.

Two kinds:

* :class:`CronSchedule`: a cron expression with 5 fields (minute first) or 6 fields (second
  first), read on the wall clock of an IANA time zone (UTC unless given).
* :class:`IntervalSchedule`: every N seconds of elapsed time, counted from a fixed anchor
  (the Unix epoch unless given), so every instance computes the same fire times.

Daylight-saving time, for cron schedules in zones that change their clocks:

* **Hour field starting with** ``*`` (``*``, ``*/2``): the schedule follows the wall clock as
  it is. Ticks whose wall time is skipped in spring do not happen; ticks in the repeated
  autumn hour happen in both passes. A job "every 15 minutes" keeps firing every 15 minutes
  of real time across both transitions.
* **Fixed hours** (``30 2 * * *``): the job means "once at that time of day". A tick whose
  wall time is skipped in spring is read with the offset in force before the jump, so it
  fires the length of the gap later (Europe/Berlin: 02:30 fires at 03:30 CEST). A tick in
  the repeated autumn hour fires once, on the first pass (02:30 CEST, not 02:30 CET).

All returned instants are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterError

__all__ = [
    "CronSchedule",
    "IntervalSchedule",
    "Schedule",
    "latest_fire_time",
    "next_fire_time",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UTC_ZONE = ZoneInfo("UTC")
_ONE_US = timedelta(microseconds=1)
_ONE_SECOND = timedelta(seconds=1)
_LONGEST_JUMP = timedelta(hours=3)
_ONE_VALUE_RANGE = re.compile(r"^(\w+)-\1(?:/\d+)?$", re.IGNORECASE)
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A cron expression on a time zone's wall clock.

    ``expression`` has 5 fields (``minute hour day-of-month month day-of-week``) or 6 with
    seconds first (``second minute hour ...``); names (``mon-fri``, ``jan``), ranges, steps,
    lists and the ``@daily``-style aliases are accepted. Day-of-month and day-of-week are
    OR-ed when both are restricted, as in cron. Daylight-saving transitions follow the
    module's rules: an hour field starting with ``*`` follows the wall clock; fixed hours
    fire once a day (a skipped time fires the length of the gap later, a repeated time on
    its first pass). Raises :class:`ValueError` for an expression that is malformed or
    never fires.
    """

    expression: str
    timezone: ZoneInfo = _UTC_ZONE
    _fields: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = " ".join(self.expression.split())
        fields = tuple(
            _single_value_ranges(part) for part in _ALIASES.get(text.lower(), text).split(" ")
        )
        if len(fields) not in (5, 6):
            raise ValueError(
                f"cron expression {self.expression!r} has {len(fields)} fields; use 5 "
                "(minute hour day month weekday) or 6 (second minute hour day month weekday)"
            )
        object.__setattr__(self, "_fields", fields)
        if not croniter.is_valid(" ".join(fields), second_at_beginning=self.has_seconds):
            raise ValueError(f"cron expression {self.expression!r} is not valid")
        try:
            next_fire_time(self, datetime(2000, 1, 1, tzinfo=UTC))
        except CroniterError as exc:
            raise ValueError(f"cron expression {self.expression!r} never fires") from exc

    @property
    def has_seconds(self) -> bool:
        """True for a 6-field expression (its first field is the second)."""
        return len(self._fields) == 6

    @property
    def follows_wall_clock(self) -> bool:
        """True when the hour field starts with ``*``: see the module's DST rules."""
        return self._fields[2 if self.has_seconds else 1].startswith("*")

    @property
    def days_or(self) -> bool:
        """True when a day must match day-of-month OR day-of-week (both restricted).

        As in cron: when either field starts with ``*`` (``*``, ``*/2``) both must match.
        """
        day, weekday = self._fields[-3], self._fields[-1]
        return not (day.startswith("*") or weekday.startswith("*"))

    @property
    def normalized(self) -> str:
        """The expression with aliases expanded and single spaces."""
        return " ".join(self._fields)


@dataclass(frozen=True, slots=True)
class IntervalSchedule:
    """Fires every ``every`` of elapsed time at ``anchor + k * every`` (microsecond grid).

    ``anchor`` must be timezone-aware; raises :class:`ValueError` for a non-positive or
    sub-millisecond interval.
    """

    every: timedelta
    anchor: datetime = EPOCH

    def __post_init__(self) -> None:
        if self.every < timedelta(milliseconds=1):
            raise ValueError(f"interval {self.every} must be at least 1 millisecond")
        if self.anchor.tzinfo is None:
            raise ValueError("interval anchor must be timezone-aware")


Schedule = CronSchedule | IntervalSchedule
"""Any schedule :func:`next_fire_time` understands."""


def next_fire_time(schedule: Schedule, after: datetime) -> datetime:
    """The first fire time of ``schedule`` strictly after ``after`` (aware), in UTC."""
    after = _as_utc(after)
    if isinstance(schedule, IntervalSchedule):
        step = _micros(schedule.every)
        ticks = _micros(after - schedule.anchor) // step + 1
        return (schedule.anchor + timedelta(microseconds=ticks * step)).astimezone(UTC)
    return _next_cron(schedule, after)


def latest_fire_time(schedule: Schedule, after: datetime, until: datetime) -> datetime | None:
    """The last fire time in ``(after, until]``, or ``None`` when there is none.

    Costs a few dozen :func:`next_fire_time` calls however long the span (a bisection), so
    a catch-up after months of downtime stays cheap.
    """
    after, until = _as_utc(after), _as_utc(until)
    first = next_fire_time(schedule, after)
    if first > until:
        return None
    if next_fire_time(schedule, first) > until:
        return first
    # next_fire_time is monotone in its argument: it is <= until exactly for arguments
    # before the answer, so bisect for the last such argument.
    low, high = first, until
    while high - low > _ONE_US:
        middle = low + timedelta(microseconds=_micros(high - low) // 2)
        if next_fire_time(schedule, middle) <= until:
            low = middle
        else:
            high = middle
    return next_fire_time(schedule, low)


def _next_cron(schedule: CronSchedule, after: datetime) -> datetime:
    zone = schedule.timezone
    start = _first_wall(schedule, after)
    walls = croniter(
        schedule.normalized,
        start - _ONE_SECOND,
        ret_type=datetime,
        day_or=schedule.days_or,
        second_at_beginning=schedule.has_seconds,
    )
    best: datetime | None = None
    limit = datetime.max
    while True:
        wall: datetime = walls.get_next(datetime)
        for instant in _instants(wall, zone, follow=schedule.follows_wall_clock):
            if instant > after and (best is None or instant < best):
                best = instant
                limit = _search_limit(best, after, zone)
        if best is not None and wall >= limit:
            return best


def _single_value_ranges(field: str) -> str:
    # croniter reads a range of one value ("5-5") as "*"; say the value itself instead.
    return ",".join(_ONE_VALUE_RANGE.sub(r"\1", part) for part in field.split(","))


def _first_wall(schedule: CronSchedule, after: datetime) -> datetime:
    """A wall time early enough that no tick after ``after`` has a wall time before it."""
    zone = schedule.timezone
    local = after.astimezone(zone)
    wall = local.replace(tzinfo=None, fold=0, microsecond=0)
    if schedule.follows_wall_clock:
        # On the first pass of a repeated hour, the second pass re-uses earlier wall
        # times: look from where the repetition starts.
        return wall - _repeat_length(wall, zone) if local.fold == 0 else wall
    # Shortly after a spring jump, the skipped wall times still to fire (each shifted by
    # the jump) lie before `after`'s own wall time.
    jump = _offset(local) - _offset((after - _LONGEST_JUMP).astimezone(zone))
    if jump > timedelta(0) and _offset((after - jump).astimezone(zone)) < _offset(local):
        return wall - jump
    return wall


def _instants(wall: datetime, zone: ZoneInfo, *, follow: bool) -> tuple[datetime, ...]:
    """The instants a matching wall time stands for, under the module's DST rules."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    offset_first, offset_second = _offset(first), _offset(second)
    if offset_first == offset_second:
        return (first.astimezone(UTC),)
    if offset_first < offset_second:  # spring gap: fold=0 reads it with the earlier offset
        return () if follow else (first.astimezone(UTC),)
    if follow:
        return (first.astimezone(UTC), second.astimezone(UTC))
    return (first.astimezone(UTC),)


def _search_limit(best: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The wall time from which no cron candidate can map to an instant before ``best``.

    A candidate's instant is its wall time minus an offset in force near that instant, so
    once the wall time passes ``best`` plus the largest such offset nothing can beat it.
    """
    near = max(after, best - timedelta(days=1))
    largest = max(_offset(moment.astimezone(zone)) for moment in (after, near, best))
    return (best + largest).replace(tzinfo=None)


def _repeat_length(wall: datetime, zone: ZoneInfo) -> timedelta:
    first = _offset(wall.replace(tzinfo=zone, fold=0))
    second = _offset(wall.replace(tzinfo=zone, fold=1))
    return max(first - second, timedelta(0))


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    return offset if offset is not None else timedelta(0)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment.isoformat()} is naive; pass a timezone-aware one")
    return moment.astimezone(UTC)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
