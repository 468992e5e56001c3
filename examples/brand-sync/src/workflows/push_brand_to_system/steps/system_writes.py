"""Steps that write to the brand system, each with the compensation that undoes it."""

from __future__ import annotations

from typing import Any

from loomwork.workflows import StepContext, StepResponse, create_step

from ....modules.brand.records import dump_brand
from ..._context import brand_service


async def create_in_system(brand: dict[str, Any], ctx: StepContext) -> StepResponse[Any]:
    """Create the brand in the system, with the store's id as its ``external_id``.

    The system refuses a second live brand with the same ``external_id``, so a retried
    create cannot make a duplicate; the pull links the one that exists.
    """
    created = await brand_service(ctx).client.create_brand(brand["name"], brand["id"])
    return StepResponse(dump_brand(created), created.id)


async def delete_created_in_system(system_id: str | None, ctx: StepContext) -> None:
    """Remove the brand the step created in the system."""
    if system_id:
        await brand_service(ctx).client.delete_brand(system_id)


async def update_in_system(brand: dict[str, Any], ctx: StepContext) -> StepResponse[Any]:
    """Send the store's name to the system."""
    client = brand_service(ctx).client
    updated = await client.update_brand(brand["external_id"], {"name": brand["name"]})
    previous = {"system_id": brand["external_id"], "name": brand["synced_name"]}
    return StepResponse(dump_brand(updated), previous)


async def restore_in_system(previous: dict[str, Any] | None, ctx: StepContext) -> None:
    """Put the system's previous name back."""
    if previous and previous["name"] is not None:
        client = brand_service(ctx).client
        await client.update_brand(previous["system_id"], {"name": previous["name"]})


async def delete_in_system(brand: dict[str, Any], ctx: StepContext) -> StepResponse[str]:
    """Delete the brand in the system. The system cannot undelete, so this runs last."""
    await brand_service(ctx).client.delete_brand(brand["external_id"])
    return StepResponse(brand["external_id"])


create_in_system_step = create_step(
    "create-brand-in-system", create_in_system, delete_created_in_system
)
update_in_system_step = create_step("update-brand-in-system", update_in_system, restore_in_system)
delete_in_system_step = create_step("delete-brand-in-system", delete_in_system)
