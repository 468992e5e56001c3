"""``write-back-sync-marker``: remember in the store what the system now holds."""

from __future__ import annotations

from typing import Any

from loomwork.workflows import StepContext, StepResponse, create_step

from ....modules.brand.origin import SYNC_METADATA
from ..._context import brand_service

MARKER_FIELDS = ("id", "external_id", "synced_name", "system_updated_at")


async def write_back(input: dict[str, Any], ctx: StepContext) -> StepResponse[Any]:
    """Store the system's id, the agreed name and the system's ``updated_at``.

    The write carries ``source="sync:system"`` so the push subscriber ignores its event,
    and the pull skips the system version recorded here: no echo either way.
    """
    brand, system = input["brand"], input["system"]
    service = brand_service(ctx)
    previous = await service.retrieve_brand(brand["id"], select=MARKER_FIELDS)
    updated = await service.update_brands(
        {
            "id": brand["id"],
            "external_id": system["id"],
            "synced_name": system["name"],
            "system_updated_at": system["updated_at"],
        },
        event_metadata=SYNC_METADATA,
    )
    return StepResponse(updated, previous)


async def undo_write_back(previous: dict[str, Any] | None, ctx: StepContext) -> None:
    """Restore the link fields as they were."""
    if previous:
        await brand_service(ctx).update_brands(previous, event_metadata=SYNC_METADATA)


write_back_step = create_step("write-back-sync-marker", write_back, undo_write_back)
