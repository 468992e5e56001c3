"""``prepare-push``: decide from the brand's current state what the system needs."""

from __future__ import annotations

from typing import Any

from loomwork.errors import NotFoundError
from loomwork.workflows import StepContext, StepResponse, create_step

from ..._context import brand_service

PUSH_FIELDS = ("id", "name", "external_id", "synced_name", "system_updated_at", "deleted_at")


def push_operation(brand: dict[str, Any] | None) -> str:
    """``create``, ``update``, ``delete`` or ``none`` for a brand as it is now (pure).

    Deciding from the current state rather than the event makes the push safe against
    repeated and reordered events: a brand already in step with the system needs nothing.
    """
    if brand is None:
        return "none"
    linked = brand["external_id"] is not None
    if brand["deleted_at"] is not None:
        return "delete" if linked else "none"
    if not linked:
        return "create"
    return "update" if brand["name"] != brand["synced_name"] else "none"


async def prepare_push(input: dict[str, Any], ctx: StepContext) -> StepResponse[dict[str, Any]]:
    """Read the brand (deleted ones too) and name the operation."""
    try:
        brand: dict[str, Any] | None = await brand_service(ctx).retrieve_brand(
            input["id"], select=PUSH_FIELDS, with_deleted=True
        )
    except NotFoundError:
        brand = None
    return StepResponse({"op": push_operation(brand), "brand": brand})


prepare_push_step = create_step("prepare-push", prepare_push)
