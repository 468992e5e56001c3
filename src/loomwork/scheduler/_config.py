"""A job's ``config``: parsed and checked once, then a frozen :class:`JobConfig`.

Keys of the ``config`` mapping (as in ``src/jobs/*.py``)::

    name                   required, non-empty text (at most 200 characters)
    schedule               required: "*/5 * * * *" (5 fields), "0 */5 * * * *" (6 fields,
                           seconds first), "@daily", "every 30s" / "every 5m" / "every 2h",
                           {"interval": 30} or {"interval": 30, "start": "2026-01-01T00:00"},
                           a timedelta, or a CronSchedule / IntervalSchedule
    number_of_executions   optional positive int: the job stops after that many runs
    timezone               optional IANA name for cron schedules ("Europe/Berlin"); also
                           reads a naive interval "start"; default "UTC"
    overlap                "skip" (default): a tick while a run still goes is recorded
                           skipped_overlap; "allow": runs may overlap
    catch_up               "coalesce" (default): ticks missed during downtime become one
                           catch-up run; "skip": they are dropped
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loomwork.scheduler._errors import JobConfigError
from loomwork.scheduler._schedule import EPOCH, CronSchedule, IntervalSchedule, Schedule

__all__ = ["CatchUpPolicy", "JobConfig", "OverlapPolicy", "parse_job_config"]

MAX_NAME_LENGTH = 200
_KEYS = ("name", "schedule", "number_of_executions", "timezone", "overlap", "catch_up")
_UNITS = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_E = TypeVar("_E", bound=StrEnum)
_EVERY = re.compile(r"every\s+(\d+(?:\.\d+)?)\s*([a-z]+)", re.IGNORECASE)


class OverlapPolicy(StrEnum):
    """What a tick does while an earlier run of the same job still goes."""

    SKIP = "skip"
    ALLOW = "allow"


class CatchUpPolicy(StrEnum):
    """What happens to ticks that passed while no scheduler could run them."""

    COALESCE = "coalesce"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class JobConfig:
    """A checked job configuration; build one with :func:`parse_job_config`."""

    name: str
    schedule: Schedule
    number_of_executions: int | None = None
    overlap: OverlapPolicy = OverlapPolicy.SKIP
    catch_up: CatchUpPolicy = CatchUpPolicy.COALESCE


class _Problem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_job_config(config: Mapping[str, Any], *, source: str | None = None) -> JobConfig:
    """Check a job's ``config`` mapping and return it as a :class:`JobConfig`.

    Raises :class:`JobConfigError` (a :class:`~loomwork.errors.DefinitionError`) naming
    the job, the file (``source``, when known) and the field at fault.
    """
    name = config.get("name") if isinstance(config, Mapping) else None
    try:
        return _parse(config)
    except _Problem as problem:
        where = f" in {source}" if source else ""
        job = name if isinstance(name, str) and name else None
        label = f"scheduled job {job!r}" if job else "scheduled job"
        raise JobConfigError(
            f"{label}{where}: field {problem.field!r} {problem}",
            job=job,
            source=source,
            field=problem.field,
        ) from problem.__cause__


def _parse(config: Mapping[str, Any]) -> JobConfig:
    if not isinstance(config, Mapping):
        raise _Problem("config", f"must be a dict, not {type(config).__name__}")
    for key in config:
        if key not in _KEYS:
            close = difflib.get_close_matches(_snake(str(key)), _KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {_KEYS}"
            raise _Problem(str(key), f"is not a job config key{hint}")
    zone = _timezone(config.get("timezone", "UTC"))
    return JobConfig(
        name=_name(config.get("name")),
        schedule=_schedule(config.get("schedule"), zone),
        number_of_executions=_limit(config.get("number_of_executions")),
        overlap=_choice(OverlapPolicy, "overlap", config.get("overlap", OverlapPolicy.SKIP)),
        catch_up=_choice(CatchUpPolicy, "catch_up", config.get("catch_up", CatchUpPolicy.COALESCE)),
    )


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Problem("name", "is required: a non-empty string such as 'sync-brands'")
    if len(value) > MAX_NAME_LENGTH:
        raise _Problem("name", f"is longer than {MAX_NAME_LENGTH} characters")
    return value


def _timezone(value: object) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str):
        raise _Problem("timezone", "must be an IANA time zone name such as 'Europe/Berlin'")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _Problem(
            "timezone", f"{value!r} is not a known IANA time zone (e.g. 'Europe/Berlin')"
        ) from exc


def _schedule(value: object, zone: ZoneInfo) -> Schedule:
    try:
        if isinstance(value, CronSchedule | IntervalSchedule):
            return value
        if isinstance(value, timedelta):
            return IntervalSchedule(value)
        if isinstance(value, Mapping):
            return _interval_mapping(value, zone)
        if isinstance(value, str):
            every = _EVERY.fullmatch(value.strip())
            if every is not None:
                return IntervalSchedule(_every(every))
            return CronSchedule(value, zone)
    except ValueError as exc:
        raise _Problem("schedule", str(exc)) from exc
    raise _Problem(
        "schedule",
        "is required: a cron string ('*/5 * * * *'), 'every 30s', {'interval': 30} "
        f"or a timedelta, not {value!r}",
    )


def _every(match: re.Match[str]) -> timedelta:
    raw = match.group(2).lower()
    unit = _UNITS.get(raw, _UNITS.get(raw.removesuffix("s")))
    if unit is None:
        raise ValueError(f"unknown unit {match.group(2)!r}; use ms, s, m, h or d")
    return timedelta(seconds=float(match.group(1)) * unit)


def _interval_mapping(value: Mapping[str, Any], zone: ZoneInfo) -> IntervalSchedule:
    unknown = set(value) - {"interval", "start"}
    if unknown:
        raise ValueError(f"unknown interval keys {sorted(unknown)}; use 'interval', 'start'")
    seconds = value.get("interval")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | timedelta):
        raise _Problem("schedule", "{'interval': ...} must be a number of seconds or a timedelta")
    every = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
    return IntervalSchedule(every, _anchor(value.get("start"), zone))


def _anchor(value: object, zone: ZoneInfo) -> datetime:
    if value is None:
        return EPOCH
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"interval start {value!r} is not an ISO 8601 date-time") from exc
    if not isinstance(value, datetime):
        raise _Problem("schedule", "interval start must be an ISO 8601 string or a datetime")
    aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
    return aware.astimezone(UTC)


def _limit(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Problem("number_of_executions", f"must be a positive integer, not {value!r}")
    return value


def _choice(kind: type[_E], field: str, value: object) -> _E:
    if isinstance(value, str) and value in kind._value2member_map_:
        return kind(value)
    options = ", ".join(repr(member.value) for member in kind)
    raise _Problem(field, f"must be one of {options}, not {value!r}")


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
