"""The event value that flows from emitters (services, steps) to subscribers."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ulid import ULID


def new_event_id() -> str:
    """A sortable unique event id (``evt_<ULID>``) that handlers can dedupe on."""
    return f"evt_{ULID()}"


@dataclass(frozen=True, slots=True)
class Event:
    """A named fact with JSON-ready ``data`` (e.g. ``{"id": "brand_01..."}``).

    ``metadata`` carries context such as the source (``"sync:system"``) that lets a
    subscriber ignore changes it caused itself.
    """

    name: str
    data: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_event_id)
    timestamp: float = field(default_factory=time.time)


_new = object.__new__
# The slots' own setters: a frozen dataclass's __init__ goes through object.__setattr__
# once per field, which makes it about twice as slow as setting the slots directly.
_set_name, _set_data, _set_metadata, _set_id, _set_timestamp = (
    Event.__dict__[slot].__set__ for slot in ("name", "data", "metadata", "id", "timestamp")
)


def events_of(
    name: str,
    items: Iterable[tuple[str, Any]],
    metadata: Mapping[str, Any] | None,
    timestamp: float,
) -> list[Event]:
    """One :class:`Event` per ``(id, data)`` pair, all named ``name`` and stamped ``timestamp``.

    Each gets its own copy of ``metadata``. The same events as calling :class:`Event`
    for each pair, at half the cost: a bulk write emits one per row.
    """
    base = dict(metadata or {})
    events: list[Event] = []
    append = events.append
    for event_id, data in items:
        event = _new(Event)
        _set_name(event, name)
        _set_data(event, data)
        _set_metadata(event, base.copy())
        _set_id(event, event_id)
        _set_timestamp(event, timestamp)
        append(event)
    return events
