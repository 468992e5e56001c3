"""The event value that flows from emitters (services, steps) to subscribers."""

from __future__ import annotations

import time
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
