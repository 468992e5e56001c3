"""``update-brand-step``: apply the system's changes; compensation restores the old values."""

from __future__ import annotations

from typing import Any

from loomwork.workflows import StepContext, StepResponse, create_step

from ....modules.brand.origin import SYNC_METADATA
from ..._context import brand_service

RESTORED_FIELDS = ("id", "name", "external_id", "synced_name", "system_updated_at")


async def update_brands(input: dict[str, Any], ctx: StepContext) -> StepResponse[list[str]]:
    """Update ``input["brands"]`` (each ``{"id", ...}``) after reading what they were.

    The output is the updated ids; the compensation input the previous values.
    """
    brands: list[dict[str, Any]] = input["brands"]
    if not brands:
        return StepResponse([], [])
    service = brand_service(ctx)
    previous = await service.list_brands(
        {"id": [brand["id"] for brand in brands]}, select=RESTORED_FIELDS
    )
    updated = await service.update_brands(brands, event_metadata=SYNC_METADATA)
    return StepResponse([brand["id"] for brand in updated], previous)


async def restore_brands(previous: list[dict[str, Any]] | None, ctx: StepContext) -> None:
    """Put back the values the brands had before the step."""
    if previous:
        await brand_service(ctx).update_brands(previous, event_metadata=SYNC_METADATA)


update_brands_step = create_step("update-brand-step", update_brands, restore_brands)
