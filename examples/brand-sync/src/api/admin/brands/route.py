"""``/admin/brands``: list brands, create one (the push subscriber sends it to the system)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from loomwork.container import Container

from ._shared import BRAND_FIELDS, brand_body, brand_service, page_params


async def GET(request: Request, container: Container) -> dict[str, Any]:  # noqa: N802 (route convention)
    """Live brands by name: ``{"brands", "count", "offset", "limit"}`` (``?q=`` filters)."""
    offset, limit = page_params(request)
    search = request.query_params.get("q")
    filters = {"name": {"$ilike": f"%{search}%"}} if search else None
    brands, count = await brand_service(container).list_and_count_brands(
        filters, skip=offset, take=limit, order={"name": "asc"}, select=BRAND_FIELDS
    )
    return {"brands": brands, "count": count, "offset": offset, "limit": limit}


async def POST(request: Request, container: Container) -> JSONResponse:  # noqa: N802 (route convention)
    """Create a brand from ``{"name"}``; answers 201 with ``{"brand"}``."""
    created = await brand_service(container).create_brands(await brand_body(request))
    return JSONResponse({"brand": created}, status_code=201)
