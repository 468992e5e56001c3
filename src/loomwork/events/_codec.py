"""Events as JSON-ready dicts: for remote buses and for outboxes that store staged events."""

from __future__ import annotations

from typing import Any

from loomwork.errors import ValidationError
from loomwork.events._event import Event

_FIELDS = ("name", "data", "metadata", "id", "timestamp")


def dump_event(event: Event) -> dict[str, Any]:
    """``{"name", "data", "metadata", "id", "timestamp"}``; :func:`load_event` reverses it."""
    return {
        "name": event.name,
        "data": event.data,
        "metadata": event.metadata,
        "id": event.id,
        "timestamp": event.timestamp,
    }


def load_event(record: dict[str, Any]) -> Event:
    """Rebuild an :class:`Event` from :func:`dump_event` output (e.g. after a JSON trip)."""
    missing = [key for key in _FIELDS if key not in record]
    if missing:
        raise ValidationError(
            f"event record lacks {', '.join(missing)}: {record!r}", record="event"
        )
    return Event(
        name=str(record["name"]),
        data=record["data"],
        metadata=dict(record["metadata"]),
        id=str(record["id"]),
        timestamp=float(record["timestamp"]),
    )
