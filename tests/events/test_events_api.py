"""The public names of loomwork.events are pinned: changing them is a decision."""

from __future__ import annotations

from datetime import timedelta

import pytest

import loomwork.events
from loomwork.errors import DefinitionError
from loomwork.events import RetryPolicy, Subscriber


def test_public_names() -> None:
    assert sorted(loomwork.events.__all__) == [
        "BusEventSink",
        "DeadLetter",
        "Event",
        "EventBatch",
        "EventBus",
        "EventChain",
        "EventSink",
        "Handler",
        "LocalEventBus",
        "RetryPolicy",
        "StagedEvents",
        "Subscriber",
        "current_event_sink",
        "dump_event",
        "events_of",
        "load_event",
        "load_subscribers",
        "new_event_id",
        "parts_of",
        "reset_event_sink",
        "set_event_sink",
        "use_event_sink",
    ]


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (RetryPolicy(), [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]),
        (RetryPolicy(initial_backoff=timedelta(seconds=1), max_backoff=3), [1, 2, 3, 3]),
        (RetryPolicy(initial_backoff=0.1, multiplier=1), [0.1, 0.1, 0.1]),
    ],
)
def test_backoff_grows_exponentially_up_to_the_cap(
    policy: RetryPolicy, delays: list[float]
) -> None:
    assert [policy.backoff(n) for n in range(1, len(delays) + 1)] == pytest.approx(delays)


@pytest.mark.parametrize(
    "options",
    [{"max_attempts": 0}, {"max_attempts": True}, {"initial_backoff": -1}, {"multiplier": 0.5}],
)
def test_invalid_retry_policies_are_rejected(options: dict[str, object]) -> None:
    with pytest.raises(DefinitionError):
        RetryPolicy(**options)  # type: ignore[arg-type]


async def handler(event: object, container: object) -> None: ...


def test_subscriber_defaults_and_validation() -> None:
    subscriber = Subscriber(handler, "brand.created", max_attempts=2)

    assert subscriber.id == f"{__name__}.handler"
    assert subscriber.retry.max_attempts == 2
    assert subscriber.is_async
    with pytest.raises(DefinitionError, match="non-empty"):
        Subscriber(handler, ["brand.created", ""])
    with pytest.raises(DefinitionError, match="at least one"):
        Subscriber(handler, [])
