"""``create-brand-step``: create the brands the plan found new; compensation deletes them."""

from __future__ import annotations

from typing import Any

from loomwork.workflows import StepContext, StepResponse, create_step

from ....modules.brand.origin import SYNC_METADATA
from ..._context import brand_service


async def create_brands(input: dict[str, Any], ctx: StepContext) -> StepResponse[list[str]]:
    """Create ``input["brands"]``; ones already linked (a re-run after a crash) are skipped.

    The output is the new brands' ids: a page's full records would only make its
    checkpoint larger.
    """
    brands: list[dict[str, Any]] = input["brands"]
    if not brands:
        return StepResponse([], [])
    service = brand_service(ctx)
    linked = await service.list_brands(
        {"external_id": [brand["external_id"] for brand in brands]},
        select=["external_id"],
        with_deleted=True,
    )
    known = {row["external_id"] for row in linked}
    fresh = [brand for brand in brands if brand["external_id"] not in known]
    created: list[dict[str, Any]] = (
        await service.create_brands(fresh, event_metadata=SYNC_METADATA) if fresh else []
    )
    ids = [brand["id"] for brand in created]
    return StepResponse(ids, ids)


async def delete_created_brands(ids: list[str] | None, ctx: StepContext) -> None:
    """Remove the brands this step created."""
    if ids:
        await brand_service(ctx).delete_brands(ids, event_metadata=SYNC_METADATA)


create_brands_step = create_step("create-brand-step", create_brands, delete_created_brands)
