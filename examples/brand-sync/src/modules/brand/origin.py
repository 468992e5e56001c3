"""The mark the brand sync puts on its own writes, so neither direction echoes the other."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SYNC_SOURCE = "sync:system"
"""``event.metadata["source"]`` of every write the sync makes (pull writes, push write-backs)."""

SYNC_METADATA: Mapping[str, Any] = {"source": SYNC_SOURCE}
"""Pass as ``event_metadata=`` to the brand service's write verbs."""


def caused_by_sync(metadata: Mapping[str, Any]) -> bool:
    """True for events of writes the sync made itself."""
    return metadata.get("source") == SYNC_SOURCE
