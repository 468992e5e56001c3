"""Subscribers: a handler, the event names it listens to, its id and its retry policy."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from loomwork.errors import DefinitionError
from loomwork.events._event import Event

Handler = Callable[[Event, Any], Awaitable[None] | None]
"""``async def handler(event, container) -> None`` (or a plain ``def``, run in a thread).

The second argument is the container given to the bus (``None`` when it has none).
"""

ALL_EVENTS = "*"

logger = logging.getLogger("loomwork.events")

Where = Callable[[Event], bool]
"""A subscriber's cheap, synchronous test of each event it would receive."""


def seconds(value: timedelta | float) -> float:
    """A duration given as ``timedelta`` or seconds, in seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a subscriber is retried on one event, and how long to wait in between.

    Attempt ``n`` (1-based) that fails waits ``initial_backoff * multiplier ** (n - 1)``
    seconds, capped at ``max_backoff``, before attempt ``n + 1``. After ``max_attempts``
    failed attempts the event is dead-lettered for that subscriber.
    """

    max_attempts: int = 5
    initial_backoff: timedelta | float = 0.5
    max_backoff: timedelta | float = 30.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise DefinitionError(f"max_attempts must be an int, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise DefinitionError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if seconds(self.initial_backoff) < 0 or seconds(self.max_backoff) < 0:
            raise DefinitionError("retry backoffs must not be negative")
        if self.multiplier < 1:
            raise DefinitionError(f"retry multiplier must be at least 1, got {self.multiplier}")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delay = seconds(self.initial_backoff) * self.multiplier ** max(attempt - 1, 0)
        return min(delay, seconds(self.max_backoff))


def _event_names(events: str | Sequence[str]) -> tuple[str, ...]:
    names = (events,) if isinstance(events, str) else tuple(events)
    if not names:
        raise DefinitionError("a subscriber needs at least one event name (or '*')")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(f"event names must be non-empty strings, got {name!r}")
    return names


def _is_async(handler: Callable[..., Any]) -> bool:
    call = getattr(handler, "__call__", None)  # noqa: B004 - async __call__ of an instance
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def _check_signature(handler: Callable[..., Any], subscriber_id: str) -> None:
    if not callable(handler):
        raise DefinitionError(f"subscriber {subscriber_id!r}: handler {handler!r} is not callable")
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # builtins without a signature: trust the caller
        return
    try:
        signature.bind(None, None)
    except TypeError:
        raise DefinitionError(
            f"subscriber {subscriber_id!r}: handler must accept (event, container), "
            f"its signature is {signature}"
        ) from None


def default_subscriber_id(handler: Callable[..., Any]) -> str:
    """``<module>.<qualname>`` of the handler: stable across restarts and processes."""
    module = getattr(handler, "__module__", None) or "unknown"
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{name}"


class Subscriber:
    """A handler bound to event names (one, a list, or ``"*"`` for all) under a stable id.

    The id names the subscriber's consumer group on the Redis bus and its entries in the
    dead-letter record, so it must not change between deployments; it defaults to the
    handler's ``module.qualname``. ``max_attempts`` is a shortcut for
    ``RetryPolicy(max_attempts=...)``.

    ``where`` narrows the events by content: an event it answers ``False`` for is never
    handed to the handler (nor retried, nor dead-lettered). The local bus applies it as
    events are published, so events a subscriber would only ignore cost no delivery;
    the Redis bus applies it before the handler. It must be quick and side-effect free;
    if it raises, the event is delivered.

    ``skip_metadata`` narrows by metadata alone: an event whose ``metadata`` holds every
    one of these key/value pairs is not handed over either (say
    ``{"source": "sync:system"}`` for the changes a sync made itself). The local bus
    checks it once for a whole :class:`~loomwork.events.EventBatch`, so a bulk write's
    events that a subscriber skips cost it nothing per event.
    """

    __slots__ = (
        "events",
        "handler",
        "id",
        "is_async",
        "retry",
        "skip_metadata",
        "where",
        "wildcard",
    )

    def __init__(
        self,
        handler: Handler,
        events: str | Sequence[str],
        *,
        subscriber_id: str | None = None,
        retry: RetryPolicy | None = None,
        max_attempts: int | None = None,
        where: Where | None = None,
        skip_metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.id = default_subscriber_id(handler) if subscriber_id is None else subscriber_id
        if not isinstance(self.id, str) or not self.id.strip():
            raise DefinitionError(f"subscriber id must be a non-empty string, got {self.id!r}")
        _check_signature(handler, self.id)
        self.handler = handler
        self.events = _event_names(events)
        self.wildcard = ALL_EVENTS in self.events
        policy = retry or RetryPolicy()
        if max_attempts is not None:
            policy = RetryPolicy(
                max_attempts, policy.initial_backoff, policy.max_backoff, policy.multiplier
            )
        self.retry = policy
        self.is_async = _is_async(handler)
        if where is not None and not callable(where):
            raise DefinitionError(f"subscriber {self.id!r}: where must be callable, got {where!r}")
        self.where = where
        if skip_metadata is not None and not isinstance(skip_metadata, Mapping):
            raise DefinitionError(
                f"subscriber {self.id!r}: skip_metadata must be a mapping, got {skip_metadata!r}"
            )
        self.skip_metadata = dict(skip_metadata or {})

    def matches(self, name: str) -> bool:
        """Whether events called ``name`` are delivered to this subscriber."""
        return self.wildcard or name in self.events

    def wants_metadata(self, metadata: Mapping[str, Any]) -> bool:
        """Whether events with ``metadata`` pass ``skip_metadata``."""
        skip = self.skip_metadata
        if not skip or not isinstance(metadata, Mapping):
            return True
        return any(key not in metadata or metadata[key] != value for key, value in skip.items())

    def wants(self, event: Event) -> bool:
        """Whether ``event`` (already matched by name) passes ``skip_metadata`` and ``where``."""
        if not self.wants_metadata(event.metadata):
            return False
        if self.where is None:
            return True
        try:
            return bool(self.where(event))
        except Exception:
            logger.exception(
                "subscriber %s: where() failed on event %s; delivering", self.id, event.id
            )
            return True

    async def invoke(self, event: Event, container: Any) -> None:
        """Run the handler once; sync handlers run in a worker thread."""
        if self.is_async:
            result = self.handler(event, container)
            if result is not None:
                await result
        else:
            await asyncio.to_thread(self.handler, event, container)

    def __repr__(self) -> str:
        return f"Subscriber(id={self.id!r}, events={list(self.events)!r})"


class SubscriberRegistry:
    """The subscribers of one bus, keyed by id; rejects duplicates."""

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        self._by_id: dict[str, Subscriber] = {}

    def add(self, subscriber: Subscriber) -> None:
        """Register ``subscriber``; a second subscriber with the same id is refused."""
        if not isinstance(subscriber, Subscriber):
            raise DefinitionError(f"expected a Subscriber, got {subscriber!r}")
        existing = self._by_id.get(subscriber.id)
        if existing is not None:
            raise DefinitionError(
                f"subscriber id {subscriber.id!r} is already taken by {existing!r}; "
                "give one of them another subscriber_id"
            )
        self._by_id[subscriber.id] = subscriber

    def matching(self, name: str) -> list[Subscriber]:
        """Subscribers that receive events called ``name``, in subscription order."""
        return [s for s in self._by_id.values() if s.matches(name)]

    def __iter__(self) -> Iterator[Subscriber]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)
