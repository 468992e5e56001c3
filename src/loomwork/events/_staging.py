"""Where emitters put events: a sink. Staged for a workflow run, or straight to the bus.

Data services call ``sink.emit(events)`` (a plain method) after their transaction commits.
Inside a workflow run the sink is the run's :class:`StagedEvents`, released to the bus
only when the top-level run succeeds; outside, a :class:`BusEventSink` publishes at once.
:func:`use_event_sink` / :func:`current_event_sink` let the caller choose the sink for a
block of code without passing it through every call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Protocol, runtime_checkable

from loomwork.errors import ConflictError
from loomwork.events._event import Event
from loomwork.events._port import EventBus

logger = logging.getLogger("loomwork.events")


@runtime_checkable
class EventSink(Protocol):
    """Anything that accepts emitted events; ``emit`` must not block or raise for delivery."""

    def emit(self, events: Sequence[Event]) -> None:
        """Take ``events`` (in order) for publishing now or later."""


class StagedEvents:
    """Collects the events of one workflow run until the run's outcome is known."""

    __slots__ = ("_events",)

    def __init__(self, events: Sequence[Event] = ()) -> None:
        self._events: list[Event] = list(events)

    def emit(self, events: Sequence[Event]) -> None:
        """Stage ``events`` after those already staged."""
        self._events.extend(events)

    @property
    def events(self) -> list[Event]:
        """A copy of what is staged, in emit order."""
        return list(self._events)

    def release(self) -> list[Event]:
        """Return everything staged, for publishing, and empty the buffer."""
        released, self._events = self._events, []
        return released

    def discard(self) -> None:
        """Drop everything staged (the run failed or compensated)."""
        self._events = []

    def __len__(self) -> int:
        return len(self._events)

    def __bool__(self) -> bool:
        # A sink with nothing staged yet is still a sink: ``current_event_sink() or
        # fallback`` must not skip it.
        return True


class BusEventSink:
    """Publishes emitted events on ``bus`` from sync code.

    ``emit`` schedules the publish as a task on the event loop: the running one, or, when
    called from a worker thread (a sync handler), the loop the sink was created or first
    used in. :meth:`flush` waits for the publishes scheduled so far (call it before
    shutdown). A failed publish is logged with the event ids, never raised to the emitter.
    """

    __slots__ = ("_bus", "_loop", "_tasks")

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._tasks: set[asyncio.Task[None]] = set()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def emit(self, events: Sequence[Event]) -> None:
        """Schedule publishing ``events`` (in order, after earlier emits)."""
        if not events:
            return
        batch = list(events)
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None:
                raise ConflictError(
                    "BusEventSink.emit was called outside any event loop before the sink "
                    "was used inside one; create the sink in the application's loop"
                ) from None
            self._loop.call_soon_threadsafe(self._schedule, batch)
            return
        self._schedule(batch)

    def _schedule(self, events: list[Event]) -> None:
        task = asyncio.get_running_loop().create_task(self._publish(events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, events: list[Event]) -> None:
        try:
            await self._bus.publish(events)
        except Exception:
            logger.exception("publishing events %s failed", ", ".join(e.id for e in events))

    async def flush(self) -> None:
        """Wait until every publish scheduled so far has finished."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.gather(*pending)


_current_sink: ContextVar[EventSink | None] = ContextVar("loomwork_event_sink", default=None)


def set_event_sink(sink: EventSink | None) -> Token[EventSink | None]:
    """Make ``sink`` current until :func:`reset_event_sink`.

    A cheaper :func:`use_event_sink` for hot paths.
    """
    return _current_sink.set(sink)


def reset_event_sink(token: Token[EventSink | None]) -> None:
    """Undo the :func:`set_event_sink` that returned ``token``."""
    _current_sink.reset(token)


def current_event_sink() -> EventSink | None:
    """The sink chosen by the innermost :func:`use_event_sink`, if any."""
    return _current_sink.get()


@contextmanager
def use_event_sink(sink: EventSink) -> Iterator[EventSink]:
    """Make ``sink`` the current sink for the block (and tasks started inside it)."""
    token = _current_sink.set(sink)
    try:
        yield sink
    finally:
        _current_sink.reset(token)
