"""``/admin/brand-sync/quarantine``: records the sync could not apply, newest first."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from loomwork.container import Container

from .....modules.brand.quarantine import list_quarantined
from ...brands._shared import brand_service, page_params


async def GET(request: Request, container: Container) -> dict[str, Any]:  # noqa: N802 (route convention)
    """``{"records", "count", "offset", "limit"}`` with record id, field and reason."""
    offset, limit = page_params(request)
    records, count = await list_quarantined(brand_service(container), skip=offset, take=limit)
    return {"records": records, "count": count, "offset": offset, "limit": limit}
