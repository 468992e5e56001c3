"""``create-brand-step``: create the brands the plan found new; compensation deletes them."""

from __future__ import annotations

from typing import Any

from loomwork.errors import ConflictError
from loomwork.workflows import StepContext, StepResponse, create_step

from ....modules.brand import BrandModuleService
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
    try:
        created = await service.create_brands(brands, event_metadata=SYNC_METADATA)
    except ConflictError:
        # Only a re-run meets brands it created already (the link is unique): look up
        # which, then create the rest. The first attempt wrote nothing.
        created = await _create_unlinked(service, brands)
    ids = [brand["id"] for brand in created]
    return StepResponse(ids, ids)


async def _create_unlinked(
    service: BrandModuleService, brands: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    linked = await service.list_brands(
        {"external_id": [brand["external_id"] for brand in brands]},
        select=["external_id"],
        with_deleted=True,
    )
    known = {row["external_id"] for row in linked}
    fresh = [brand for brand in brands if brand["external_id"] not in known]
    if not fresh:
        return []
    created: list[dict[str, Any]] = await service.create_brands(fresh, event_metadata=SYNC_METADATA)
    return created


async def delete_created_brands(ids: list[str] | None, ctx: StepContext) -> None:
    """Remove the brands this step created."""
    if ids:
        await brand_service(ctx).delete_brands(ids, event_metadata=SYNC_METADATA)


create_brands_step = create_step("create-brand-step", create_brands, delete_created_brands)
