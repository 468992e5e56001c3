"""``delete-brand-step``: soft-delete brands deleted in the system; compensation restores."""

from __future__ import annotations

from loomwork.workflows import StepContext, StepResponse, create_step

from ....modules.brand.origin import SYNC_METADATA
from ..._context import brand_service


async def soft_delete_brands(ids: list[str], ctx: StepContext) -> StepResponse[list[str]]:
    """Mark the brands deleted; returns the ids that were live until now."""
    if not ids:
        return StepResponse([], [])
    changed = await brand_service(ctx).soft_delete_brands(ids, event_metadata=SYNC_METADATA)
    return StepResponse(changed)


async def restore_deleted_brands(ids: list[str] | None, ctx: StepContext) -> None:
    """Bring back the brands this step deleted."""
    if ids:
        await brand_service(ctx).restore_brands(ids, event_metadata=SYNC_METADATA)


delete_brands_step = create_step("delete-brand-step", soft_delete_brands, restore_deleted_brands)
