"""The event-bus port: how emitters reach subscribers.

Implementations: :mod:`loomwork.events.local` (the reference, in-process) and
:mod:`loomwork.events.redis` (Redis Streams, imported by path so the driver stays
optional). Both must pass ``tests/events/test_bus_contract.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, Self

from loomwork.events._event import Event
from loomwork.events._subscriber import Subscriber, SubscriberRegistry


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a subscriber gave up on after its last attempt.

    ``error`` is ``"<ExceptionType>: <message>"`` of the last failure (or a note that the
    consuming process died while handling it); ``failed_at`` is POSIX seconds.
    """

    subscriber_id: str
    event: Event
    attempts: int
    error: str
    failed_at: float


class EventBus(ABC):
    """Delivers published events to the subscribers whose names match.

    Implementers must:

    - hand every matching subscriber each published event, with ``id``, ``name``,
      ``data``, ``metadata`` and ``timestamp`` intact, and the bus's ``container`` as the
      handler's second argument;
    - run each subscriber in isolation: a handler that raises never reaches the publisher
      and never stops delivery to other subscribers; the failure is logged on the
      ``loomwork.events`` logger with the event id and subscriber id;
    - retry a failed handler per its :class:`RetryPolicy` and, after the last attempt,
      add a :class:`DeadLetter` (subscriber id, event, attempts, error) to the record
      that :meth:`dead_letters` reads;
    - deliver a subscriber's events in publish order when nothing fails (a retried event
      may arrive after later ones);
    - reject a second subscriber with an id already subscribed (``DefinitionError``).

    Delivery is at least once: handlers dedupe on ``event.id`` where a repeat would hurt.
    """

    container: Any
    """Passed to every handler; may be replaced before :meth:`start`."""

    def __init__(self, container: Any = None) -> None:
        self.container = container
        self._registry = SubscriberRegistry()

    @property
    def subscribers(self) -> list[Subscriber]:
        """The subscribers, in subscription order."""
        return list(self._registry)

    @abstractmethod
    def subscribe(self, subscriber: Subscriber) -> None:
        """Add ``subscriber``; subscribers are added before :meth:`start`.

        Must raise ``DefinitionError`` when a subscriber with the same id is subscribed,
        and ``ConflictError`` when the bus is running (stop, subscribe, start again).
        """

    @abstractmethod
    async def publish(self, events: Sequence[Event]) -> None:
        """Hand ``events`` to the bus, in order; returns before handlers run.

        Must not raise because of a subscriber. May raise ``ValidationError`` when an
        event cannot be carried (e.g. data that is not JSON-ready on a remote bus).
        """

    @abstractmethod
    async def start(self) -> None:
        """Begin delivering to subscribers.

        Returns once every event published from then on is sure to reach every
        subscriber. Publishing does not need a started bus.
        """

    @abstractmethod
    async def stop(self) -> None:
        """Stop delivering; running handlers get the bus's stop timeout to finish.

        Handlers still running after it are cancelled. Undelivered events stay queued
        (durably on a remote bus) for the next start.
        """

    @abstractmethod
    async def drain(self, timeout: timedelta | float = 10.0) -> None:  # noqa: ASYNC109
        """Return once earlier events are handled or dead-lettered, retries included.

        Covers every event published before the call, for this bus's subscribers.

        Must raise ``TimeoutError`` after ``timeout`` seconds, and ``ConflictError`` if
        the bus is not started. Meant for tests and batch jobs.
        """

    @abstractmethod
    async def dead_letters(self, subscriber_id: str | None = None) -> list[DeadLetter]:
        """Dead-lettered events, oldest first, optionally for one subscriber only."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
