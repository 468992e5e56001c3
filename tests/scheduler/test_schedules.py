"""Pure schedule maths: cron tables, seconds, intervals, time zones and DST, properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from loomwork.scheduler import CronSchedule, IntervalSchedule, latest_fire_time, next_fire_time

from .helpers import at, cron_matches

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/5 * * * *", "2026-01-01 12:03", "2026-01-01 12:05"),
        ("*/5 * * * *", "2026-01-01 12:05", "2026-01-01 12:10"),  # strictly after
        ("*/5 * * * *", "2026-01-01 12:04:59.999999", "2026-01-01 12:05"),
        ("0 9 * * mon-fri", "2026-01-02 10:00", "2026-01-05 09:00"),  # Friday -> Monday
        ("0 12 * * sun", "2026-01-01 00:00", "2026-01-04 12:00"),
        ("0 0 1 jan,jul *", "2026-02-01 00:00", "2026-07-01 00:00"),
        ("15,45 8-10 * * *", "2026-01-01 10:45", "2026-01-02 08:15"),
        ("0 8-18/4 * * *", "2026-01-01 12:00", "2026-01-01 16:00"),
        ("0 0 29 2 *", "2026-01-01 00:00", "2028-02-29 00:00"),
        ("0 0 13 * 5", "2026-01-01 00:00", "2026-01-02 00:00"),  # day 13 OR Friday
        ("0 0 */2 * 1", "2026-01-01 00:00", "2026-01-05 00:00"),  # odd day AND Monday
        ("* * * * 0-0", "2000-01-01 00:00", "2000-01-02 00:00"),  # one-value range
        ("@hourly", "2026-01-01 12:00", "2026-01-01 13:00"),
        ("@daily", "2026-01-01 12:00", "2026-01-02 00:00"),
        ("*/10 * * * * *", "2026-01-01 12:00:05", "2026-01-01 12:00:10"),
        ("30 0 * * * *", "2026-01-01 12:00:30", "2026-01-01 13:00:30"),
        ("0 30 9 * * 1-5", "2026-01-02 09:30", "2026-01-05 09:30"),
        ("5,10 * * * * *", "2026-01-01 12:00:10", "2026-01-01 12:01:05"),
    ],
)
def test_cron_table(expression: str, after: str, expected: str) -> None:
    assert next_fire_time(CronSchedule(expression), at(after)) == at(expected)


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        (IntervalSchedule(timedelta(seconds=30)), "2026-01-01 12:00:10", "2026-01-01 12:00:30"),
        (IntervalSchedule(timedelta(seconds=30)), "2026-01-01 12:00:30", "2026-01-01 12:01:00"),
        (
            IntervalSchedule(timedelta(milliseconds=250)),
            "2026-01-01 12:00:00.3",
            "2026-01-01 12:00:00.5",
        ),
        (
            IntervalSchedule(timedelta(minutes=1), at("2026-01-01 00:00:07")),
            "2026-01-01 12:00:00",
            "2026-01-01 12:00:07",
        ),
        (IntervalSchedule(timedelta(hours=7)), "1970-01-01 06:00", "1970-01-01 07:00"),
    ],
)
def test_interval_table(schedule: IntervalSchedule, after: str, expected: str) -> None:
    assert next_fire_time(schedule, at(after)) == at(expected)


def test_results_are_utc_and_naive_input_is_refused() -> None:
    result = next_fire_time(CronSchedule("0 9 * * *", BERLIN), at("2026-01-01 00:00"))
    assert result.tzinfo is UTC
    assert result == at("2026-01-01 08:00")  # 09:00 CET
    with pytest.raises(ValueError, match="naive"):
        next_fire_time(CronSchedule("* * * * *"), datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("* * * *", "4 fields"),
        ("* * * * * * *", "7 fields"),
        ("61 * * * *", "not valid"),
        ("* * * * blurday", "not valid"),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_invalid_cron_expressions(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        CronSchedule(expression)


def _chain(schedule: CronSchedule, start: datetime, count: int) -> list[str]:
    moments, current = [], start
    for _ in range(count):
        current = next_fire_time(schedule, current)
        moments.append(current.astimezone(BERLIN).strftime("%d %H:%M %Z"))
    return moments


def test_dst_spring_fixed_hour_tick_in_the_gap_fires_once_shifted_by_the_gap() -> None:
    # 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 does not exist that day.
    daily = CronSchedule("30 2 * * *", BERLIN)
    assert _chain(daily, at("2026-03-27 00:00"), 4) == [
        "27 02:30 CET",
        "28 02:30 CET",
        "29 03:30 CEST",
        "30 02:30 CEST",
    ]
    every_20 = CronSchedule("*/20 2 * * *", BERLIN)
    assert _chain(every_20, at("2026-03-28 23:00"), 4) == [
        "29 03:00 CEST",
        "29 03:20 CEST",
        "29 03:40 CEST",
        "30 02:00 CEST",
    ]


def test_dst_spring_wildcard_hour_follows_the_wall_clock() -> None:
    every_30 = CronSchedule("*/30 * * * *", BERLIN)
    assert _chain(every_30, at("2026-03-28 23:20"), 5) == [
        "29 00:30 CET",
        "29 01:00 CET",
        "29 01:30 CET",
        "29 03:00 CEST",
        "29 03:30 CEST",
    ]


def test_dst_autumn_fixed_hour_runs_once_on_the_first_pass() -> None:
    # 2026-10-25 03:00 CEST goes back to 02:00 CET: 02:00-02:59 happens twice.
    daily = CronSchedule("30 2 * * *", BERLIN)
    assert _chain(daily, at("2026-10-23 00:00"), 4) == [
        "23 02:30 CEST",
        "24 02:30 CEST",
        "25 02:30 CEST",
        "26 02:30 CET",
    ]


def test_dst_autumn_wildcard_hour_runs_in_both_passes() -> None:
    every_30 = CronSchedule("*/30 * * * *", BERLIN)
    assert _chain(every_30, at("2026-10-24 23:20"), 6) == [
        "25 01:30 CEST",
        "25 02:00 CEST",
        "25 02:30 CEST",
        "25 02:00 CET",
        "25 02:30 CET",
        "25 03:00 CET",
    ]
    # From inside the first pass, the next tick is still on the first pass.
    assert next_fire_time(every_30, at("2026-10-25 00:10")) == at("2026-10-25 00:30")


def _fires(expression: str, zone: ZoneInfo, moment: datetime) -> bool:
    """The DST rules, written from the instant's side (independent of the code under test)."""
    local = moment.astimezone(zone)
    wall = local.replace(tzinfo=None)
    if expression.split()[1].startswith("*"):
        return cron_matches(expression, wall)
    if local.fold == 0 and cron_matches(expression, wall):
        return True
    offset_before = (moment - timedelta(hours=2)).astimezone(zone).utcoffset()
    assert offset_before is not None
    shifted = (moment + offset_before).replace(tzinfo=None)
    exists = shifted.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return exists != shifted and cron_matches(expression, shifted)


@pytest.mark.parametrize(
    "expression", ["*/20 2 * * *", "5,45 2,3 * * *", "*/15 * * * *", "10 1,2 * * *"]
)
@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Europe/Berlin", "2026-03-28 22:00"),
        ("Europe/Berlin", "2026-10-24 22:00"),
        ("America/New_York", "2026-03-08 05:00"),
        ("Australia/Lord_Howe", "2026-04-04 14:00"),
    ],
)
def test_dst_against_minute_by_minute_reference(expression: str, zone: str, day: str) -> None:
    tz, start = ZoneInfo(zone), at(day)
    end = start + timedelta(hours=6)
    expected, minute = [], start + timedelta(minutes=1)
    while minute <= end:
        if _fires(expression, tz, minute):
            expected.append(minute)
        minute += timedelta(minutes=1)
    schedule, got, current = CronSchedule(expression, tz), [], start
    while (current := next_fire_time(schedule, current)) <= end:
        got.append(current)
    assert got == expected


def test_latest_fire_time_finds_the_last_tick_of_a_long_span() -> None:
    yearly = CronSchedule("0 0 1 1 *")
    assert latest_fire_time(yearly, at("2020-06-01 00:00"), at("2026-06-01 00:00")) == at(
        "2026-01-01 00:00"
    )
    every_7s = IntervalSchedule(timedelta(seconds=7))
    last = latest_fire_time(every_7s, at("2020-01-01 00:00"), at("2026-06-01 00:00"))
    assert last is not None
    assert last <= at("2026-06-01 00:00") < next_fire_time(every_7s, last)
    assert latest_fire_time(yearly, at("2026-01-01 00:00"), at("2026-12-31 23:59")) is None


# -- properties -------------------------------------------------------------------------------


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    ranged = st.tuples(number, number).map(lambda pair: f"{min(pair)}-{max(pair)}")
    step = st.integers(1, max(1, (high - low) // 2))
    return st.one_of(
        st.just("*"),
        number.map(str),
        ranged,
        st.tuples(ranged, step).map(lambda pair: f"{pair[0]}/{pair[1]}"),
        step.map(lambda value: f"*/{value}"),
        st.lists(number, min_size=2, max_size=4, unique=True).map(
            lambda values: ",".join(map(str, sorted(values)))
        ),
    )


_FIVE = st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6))
cron_expressions = st.one_of(
    _FIVE.map(" ".join),
    st.tuples(_field(0, 59), _FIVE).map(lambda pair: " ".join((pair[0], *pair[1]))),
)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(expression=cron_expressions, now=instants)
def test_property_next_fire_time_is_after_now_matches_and_skips_nothing(
    expression: str, now: datetime
) -> None:
    schedule = CronSchedule(expression)
    fire = next_fire_time(schedule, now)
    assert fire > now
    naive = fire.replace(tzinfo=None)
    assert cron_matches(expression, naive)
    # No matching instant lies between now and the result (croniter reads "5-5" as "*",
    # so the oracle gets the normalized expression).
    previous = croniter(
        schedule.normalized,
        naive,
        ret_type=datetime,
        day_or=schedule.days_or,
        second_at_beginning=schedule.has_seconds,
    ).get_prev(datetime)
    assert previous <= now.replace(tzinfo=None)


@settings(max_examples=150, deadline=None)
@given(expression=_FIVE.map(" ".join), now=instants)
def test_property_in_a_dst_zone_the_fire_time_matches_its_wall_time_or_a_shifted_one(
    expression: str, now: datetime
) -> None:
    schedule = CronSchedule(expression, BERLIN)
    fire = next_fire_time(schedule, now)
    assert fire > now
    assert _fires(expression, BERLIN, fire)


@settings(max_examples=200, deadline=None)
@given(
    every=st.integers(1, 10**10).map(lambda us: timedelta(microseconds=us * 1000)),
    anchor=instants,
    now=instants,
)
def test_property_interval_ticks_lie_on_the_anchor_grid(
    every: timedelta, anchor: datetime, now: datetime
) -> None:
    schedule = IntervalSchedule(every, anchor)
    fire = next_fire_time(schedule, now)
    assert now < fire <= now + every
    assert (fire - anchor) % every == timedelta(0)
