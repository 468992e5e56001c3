"""Events emitted while a run executes are staged with it and released on success.

Each step invocation gets its own :class:`StepEvents` sink (made current with
``loomwork.events.use_event_sink``), so a durable run checkpoints a step's events together
with its outcome. When the top-level run ends ``done`` its events go to the event bus;
when it compensates they are dropped. A run started inside a step (a nested workflow)
hands its events to that step instead of publishing them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loomwork.errors import LoomworkError
from loomwork.events import Event, EventBus, events_of, load_event

if TYPE_CHECKING:
    from loomwork.container import Container

logger = logging.getLogger("loomwork.workflows")


class StepEvents:
    """The events one step invocation emitted (an event sink)."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, events: Sequence[Event]) -> None:
        """Stage ``events`` with the step."""
        self.events.extend(events)


class _Discarded:
    """A sink that drops what it is given (events emitted while compensating)."""

    __slots__ = ()

    def emit(self, events: Sequence[Event]) -> None:
        """Drop ``events``."""


DISCARDED = _Discarded()


def dump_events(events: Sequence[Event]) -> dict[str, Any]:
    """JSON-ready form of ``events`` for checkpoints: ``{"groups": [...]}``.

    A bulk write emits one event per row, all alike but for id and data, so runs of
    events sharing name, metadata and timestamp are written once as
    ``[name, metadata, timestamp, [[id, data], ...]]``: a third of the size of one
    object per event, and as quick to encode.
    """
    groups: list[list[Any]] = []
    items: list[list[Any]] = []
    name, metadata, timestamp = None, None, None
    for event in events:
        if event.name != name or event.timestamp != timestamp or event.metadata != metadata:
            name, metadata, timestamp = event.name, event.metadata, event.timestamp
            items = []
            groups.append([name, metadata, timestamp, items])
        items.append([event.id, event.data])
    return {"groups": groups}


def load_events(data: Any) -> list[Event]:
    """Events from :func:`dump_events` output (``None`` means none).

    A list of single events, as checkpoints written before grouping hold, is read too.
    """
    if data is None or isinstance(data, list):
        return [load_event(item) for item in data or ()]
    events: list[Event] = []
    for name, metadata, timestamp, items in data["groups"]:
        pairs = [(str(event_id), event_data) for event_id, event_data in items]
        events += events_of(str(name), pairs, metadata, float(timestamp))
    return events


def outbox_events(outbox: Any, steps: Mapping[str, Any]) -> list[Event]:
    """The events an outbox entry stands for.

    An entry is either the events themselves (a list, as older runs wrote them) or
    ``{"steps": [key, ...]}``: the events in those steps' checkpoints, in that order.
    ``steps`` maps step keys to their records (with ``events_json``).
    """
    if not isinstance(outbox, dict):
        return load_events(outbox)
    events: list[Event] = []
    for key in outbox["steps"]:
        record = steps.get(key)
        if record is None or record.events_json is None:
            raise LoomworkError(f"the outbox names step {key!r}, whose checkpoint holds no events")
        events.extend(load_events(json.loads(record.events_json)))
    return events


async def publish(container: Container, events: list[Event]) -> bool:
    """Publish on the container's ``event_bus``; False if there is none or it failed.

    Failures are logged; the caller keeps the events (in the outbox) to try again.
    """
    if not events:
        return True
    bus: EventBus | None = container.resolve("event_bus", None)
    if bus is None:
        logger.debug("no event_bus registered: %d run events not published", len(events))
        return True
    try:
        await bus.publish(events)
    except Exception:
        logger.exception("publishing %d run events failed; kept for retry", len(events))
        return False
    return True
