"""The quarantine of records another system sent that could not be synced.

Rows are keyed by ``<source>:<record id>``: a record seen again updates its row (field,
reason, payload, ``last_seen_at``); a record that later syncs has its row removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loomwork.modules import utcnow

from .records import BadRecord
from .service import BrandModuleService

QUARANTINE_FIELDS = (
    "id",
    "key",
    "source",
    "record_id",
    "field",
    "reason",
    "payload",
    "first_seen_at",
    "last_seen_at",
)


@dataclass(frozen=True, slots=True)
class QuarantineChange:
    """What :func:`record_quarantine` did, so that it can be undone."""

    created_ids: list[str]
    previous: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (a step's compensation input)."""
        return {"created_ids": self.created_ids, "previous": self.previous}


def quarantine_key(source: str, record_id: str) -> str:
    """The row key of one record of one source."""
    return f"{source}:{record_id}"


async def record_quarantine(
    service: BrandModuleService,
    source: str,
    bad: Sequence[BadRecord],
    resolved_ids: Sequence[str],
    *,
    event_metadata: Mapping[str, Any] | None = None,
) -> QuarantineChange:
    """Quarantine ``bad`` records and release the rows of records that now synced."""
    new_keys = {quarantine_key(source, record.record_id): record for record in bad}
    if not new_keys and not await holds_any(service, source):
        return QuarantineChange([], [])
    resolved = [quarantine_key(source, record_id) for record_id in resolved_ids]
    touched = [*new_keys, *resolved]
    if not touched:
        return QuarantineChange([], [])
    previous = await service.list_quarantined_records({"key": touched}, select=QUARANTINE_FIELDS)
    by_key = {row["key"]: row for row in previous}
    now = utcnow()
    updates = [
        {"id": by_key[key]["id"], **_fields(record), "last_seen_at": now}
        for key, record in new_keys.items()
        if key in by_key
    ]
    creates = [
        {"key": key, "source": source, **_fields(record), "first_seen_at": now, "last_seen_at": now}
        for key, record in new_keys.items()
        if key not in by_key
    ]
    gone = [by_key[key]["id"] for key in resolved if key in by_key and key not in new_keys]
    async with service.transaction():
        if updates:
            await service.update_quarantined_records(updates, event_metadata=event_metadata)
        created = (
            await service.create_quarantined_records(creates, event_metadata=event_metadata)
            if creates
            else []
        )
        if gone:
            await service.delete_quarantined_records(gone, event_metadata=event_metadata)
    return QuarantineChange([row["id"] for row in created], previous)


async def undo_quarantine(
    service: BrandModuleService,
    change: dict[str, Any],
    *,
    event_metadata: Mapping[str, Any] | None = None,
) -> None:
    """Undo a :func:`record_quarantine` from its :meth:`QuarantineChange.as_dict`."""
    previous: list[dict[str, Any]] = change["previous"]
    async with service.transaction():
        if change["created_ids"]:
            await service.delete_quarantined_records(
                change["created_ids"], event_metadata=event_metadata
            )
        if previous:
            await service.delete_quarantined_records(
                [row["id"] for row in previous], event_metadata=event_metadata
            )
            await service.create_quarantined_records(previous, event_metadata=event_metadata)


async def list_quarantined(
    service: BrandModuleService, *, skip: int = 0, take: int | None = 50
) -> tuple[list[dict[str, Any]], int]:
    """Quarantined records, most recently seen first, and how many there are."""
    rows, count = await service.list_and_count_quarantined_records(
        skip=skip, take=take, order={"last_seen_at": "desc"}, select=QUARANTINE_FIELDS
    )
    return rows, count


async def holds_any(service: BrandModuleService, source: str) -> bool:
    """True when any record of ``source`` is quarantined: one indexed probe.

    The common page has nothing to release, and this saves it a lookup of every id.
    """
    rows = await service.list_quarantined_records({"source": source}, select=["id"], take=1)
    return bool(rows)


def _fields(record: BadRecord) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "field": record.field,
        "reason": record.reason,
        "payload": record.payload,
    }


__all__ = [
    "QUARANTINE_FIELDS",
    "QuarantineChange",
    "list_quarantined",
    "quarantine_key",
    "record_quarantine",
    "undo_quarantine",
]
