"""``/admin/brands/{id}``: read, rename or delete one brand."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from loomwork.container import Container

from .._shared import BRAND_FIELDS, brand_body, brand_service


async def GET(request: Request, container: Container) -> dict[str, Any]:  # noqa: N802 (route convention)
    """The brand (404 when there is no live brand with this id)."""
    brand = await brand_service(container).retrieve_brand(
        request.path_params["id"], select=BRAND_FIELDS
    )
    return {"brand": brand}


async def POST(request: Request, container: Container) -> dict[str, Any]:  # noqa: N802 (route convention)
    """Rename the brand from ``{"name"}``."""
    changes = {"id": request.path_params["id"], **(await brand_body(request))}
    brand = await brand_service(container).update_brands(changes)
    return {"brand": brand}


async def DELETE(request: Request, container: Container) -> dict[str, Any]:  # noqa: N802 (route convention)
    """Soft-delete the brand (the push subscriber deletes it in the system)."""
    brand_id = request.path_params["id"]
    service = brand_service(container)
    await service.retrieve_brand(brand_id, select=["id"])
    await service.soft_delete_brands([brand_id])
    return {"id": brand_id, "object": "brand", "deleted": True}
