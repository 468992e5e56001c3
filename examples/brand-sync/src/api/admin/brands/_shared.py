"""What the brand admin routes share: paging and body checks, and the brand's JSON."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from loomwork.container import Container
from loomwork.errors import ValidationError

from ....modules.brand import BRAND_MODULE, BrandModuleService
from ....modules.brand.models import MAX_NAME_LENGTH
from ....modules.brand.records import CONTROL_CHARACTERS, has_control_character

MAX_LIMIT = 200
BRAND_FIELDS = (
    "id",
    "name",
    "external_id",
    "synced_name",
    "system_updated_at",
    "created_at",
    "updated_at",
)


def brand_service(container: Container) -> BrandModuleService:
    """The brand module's service."""
    service: BrandModuleService = container.resolve(BRAND_MODULE)
    return service


def page_params(request: Request, default_limit: int = 50) -> tuple[int, int]:
    """``(offset, limit)`` from the query string, checked."""
    offset = _int(request, "offset", 0)
    limit = _int(request, "limit", default_limit)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return offset, limit


async def brand_body(request: Request) -> dict[str, Any]:
    """``{"name": ...}`` from the request body, checked."""
    try:
        body = await request.json()
    except ValueError:
        raise ValidationError("the body must be JSON", record="brand", field="body") from None
    name = body.get("name") if isinstance(body, dict) else None
    if (
        not isinstance(name, str)
        or not name.strip()
        or len(name) > MAX_NAME_LENGTH
        or has_control_character(name)
    ):
        raise ValidationError(
            f"name must be a non-blank string of at most {MAX_NAME_LENGTH} characters"
            f" without {CONTROL_CHARACTERS}",
            record="brand",
            field="name",
        )
    return {"name": name}


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be an integer", field=name) from None
    if value < 0:
        raise ValidationError(f"{name} must not be negative", field=name)
    return value
