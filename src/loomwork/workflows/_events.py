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
from loomwork.events import Event, EventBatch, EventBus, EventChain, load_event, parts_of

if TYPE_CHECKING:
    from loomwork.container import Container

logger = logging.getLogger("loomwork.workflows")


class StepEvents:
    """The events one step invocation emitted (an event sink).

    Batches are kept as they came (a bulk write's events are built as objects only if
    someone needs them); a plain list is copied, as its emitter may reuse it.
    """

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[Sequence[Event]] = []

    def emit(self, events: Sequence[Event]) -> None:
        """Stage ``events`` with the step."""
        if events:
            kept = events if isinstance(events, EventBatch | EventChain) else list(events)
            self._parts.append(kept)

    @property
    def events(self) -> EventChain:
        """Everything emitted so far, in order."""
        return EventChain(self._parts)


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
    for part in parts_of(events):
        if isinstance(part, EventBatch):
            pairs = [[event_id, data] for event_id, data in zip(part.ids, part.data, strict=True)]
            groups.append([part.name, part.metadata, part.timestamp, pairs])
            name = None  # the next single event starts a group of its own
            continue
        for event in part:
            if event.name != name or event.timestamp != timestamp or event.metadata != metadata:
                name, metadata, timestamp = event.name, event.metadata, event.timestamp
                items = []
                groups.append([name, metadata, timestamp, items])
            items.append([event.id, event.data])
    return {"groups": groups}


def load_events(data: Any) -> Sequence[Event]:
    """Events from :func:`dump_events` output (``None`` means none), a batch per group.

    A list of single events, as checkpoints written before grouping hold, is read too.
    """
    if data is None or isinstance(data, list):
        return [load_event(item) for item in data or ()]
    batches = [
        EventBatch(
            str(name),
            [str(event_id) for event_id, _ in items],
            [event_data for _, event_data in items],
            metadata,
            float(timestamp),
        )
        for name, metadata, timestamp, items in data["groups"]
    ]
    return EventChain(batches)


def outbox_events(outbox: Any, steps: Mapping[str, Any]) -> Sequence[Event]:
    """The events an outbox entry stands for.

    An entry is either the events themselves (a list, as older runs wrote them) or
    ``{"steps": [key, ...]}``: the events in those steps' checkpoints, in that order.
    ``steps`` maps step keys to their records (with ``events_json``).
    """
    if not isinstance(outbox, dict):
        return load_events(outbox)
    parts: list[Sequence[Event]] = []
    for key in outbox["steps"]:
        record = steps.get(key)
        if record is None or record.events_json is None:
            raise LoomworkError(f"the outbox names step {key!r}, whose checkpoint holds no events")
        parts.append(load_events(json.loads(record.events_json)))
    return EventChain(parts)


async def publish(container: Container, events: Sequence[Event]) -> bool:
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
