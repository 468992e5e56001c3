"""Parsing a job's config: every key, and errors that name the job, the file and the field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from loomwork.errors import DefinitionError
from loomwork.scheduler import (
    CatchUpPolicy,
    CronSchedule,
    IntervalSchedule,
    JobConfigError,
    OverlapPolicy,
    parse_job_config,
)

from .helpers import at


def test_the_seed_config_parses_with_defaults() -> None:
    config = parse_job_config({"name": "sync-brands-from-system", "schedule": "* * * * *"})
    assert config.name == "sync-brands-from-system"
    assert config.schedule == CronSchedule("* * * * *")
    assert config.number_of_executions is None
    assert config.overlap is OverlapPolicy.SKIP
    assert config.catch_up is CatchUpPolicy.COALESCE


def test_every_key() -> None:
    config = parse_job_config(
        {
            "name": "report",
            "schedule": "0 30 9 * * mon-fri",
            "number_of_executions": 3,
            "timezone": "Europe/Berlin",
            "overlap": "allow",
            "catch_up": "skip",
        }
    )
    assert config.schedule == CronSchedule("0 30 9 * * mon-fri", ZoneInfo("Europe/Berlin"))
    assert config.number_of_executions == 3
    assert config.overlap is OverlapPolicy.ALLOW
    assert config.catch_up is CatchUpPolicy.SKIP


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("every 30s", IntervalSchedule(timedelta(seconds=30))),
        ("every 250ms", IntervalSchedule(timedelta(milliseconds=250))),
        ("every 5 minutes", IntervalSchedule(timedelta(minutes=5))),
        ("every 2h", IntervalSchedule(timedelta(hours=2))),
        ("every 1 day", IntervalSchedule(timedelta(days=1))),
        ({"interval": 45}, IntervalSchedule(timedelta(seconds=45))),
        (timedelta(seconds=3), IntervalSchedule(timedelta(seconds=3))),
        (
            {"interval": 60, "start": "2026-01-01T00:00:07+00:00"},
            IntervalSchedule(timedelta(minutes=1), at("2026-01-01 00:00:07")),
        ),
    ],
)
def test_interval_forms(schedule: object, expected: IntervalSchedule) -> None:
    assert parse_job_config({"name": "j", "schedule": schedule}).schedule == expected


def test_a_naive_interval_start_is_read_in_the_config_time_zone() -> None:
    config = parse_job_config(
        {
            "name": "j",
            "schedule": {"interval": 60, "start": "2026-07-01T12:00:00"},
            "timezone": "Europe/Berlin",
        }
    )
    assert config.schedule == IntervalSchedule(timedelta(minutes=1), at("2026-07-01 10:00"))


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"schedule": "* * * * *"}, "name", "required"),
        ({"name": "", "schedule": "* * * * *"}, "name", "required"),
        ({"name": "j"}, "schedule", "required"),
        ({"name": "j", "schedule": "* * * *"}, "schedule", "4 fields"),
        ({"name": "j", "schedule": "61 * * * *"}, "schedule", "not valid"),
        ({"name": "j", "schedule": "0 0 30 2 *"}, "schedule", "never fires"),
        ({"name": "j", "schedule": 30}, "schedule", "cron string"),
        ({"name": "j", "schedule": "every 3 fortnights"}, "schedule", "unknown unit"),
        ({"name": "j", "schedule": {"interval": 0}}, "schedule", "at least 1 millisecond"),
        ({"name": "j", "schedule": {"interval": "5"}}, "schedule", "number of seconds"),
        ({"name": "j", "schedule": {"every": 5}}, "schedule", "unknown interval keys"),
        ({"name": "j", "schedule": "* * * * *", "timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"name": "j", "schedule": "* * * * *", "overlap": "queue"}, "overlap", "'skip', 'allow'"),
        ({"name": "j", "schedule": "* * * * *", "catch_up": True}, "catch_up", "'coalesce'"),
        (
            {"name": "j", "schedule": "* * * * *", "number_of_executions": 0},
            "number_of_executions",
            "positive",
        ),
        (
            {"name": "j", "schedule": "* * * * *", "number_of_executions": True},
            "number_of_executions",
            "positive",
        ),
        (
            {"name": "j", "schedule": "* * * * *", "numberOfExecutions": 2},
            "numberOfExecutions",
            "did you mean 'number_of_executions'",
        ),
    ],
)
def test_errors_name_the_job_file_and_field(config: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(JobConfigError) as caught:
        parse_job_config(config, source="src/jobs/report.py")
    error = caught.value
    assert isinstance(error, DefinitionError)
    assert error.field == field
    assert error.source == "src/jobs/report.py"
    message = str(error)
    assert f"field {field!r}" in message
    assert "src/jobs/report.py" in message
    assert words in message
    if config.get("name"):
        assert error.job == config["name"]
        assert repr(config["name"]) in message


def test_a_config_that_is_not_a_dict() -> None:
    with pytest.raises(JobConfigError, match="must be a dict"):
        parse_job_config(["name", "j"])  # type: ignore[arg-type]
