"""``load-store-brands``: the store rows one page of system records may concern."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loomwork.workflows import StepContext, StepResponse, create_step

from ....modules.brand import BrandModuleService
from ....modules.brand.records import SystemBrand, load_brand
from ..._context import brand_service
from ..plan import STORE_FIELDS, store_row_filters


async def find_store_rows(
    service: BrandModuleService, records: Sequence[SystemBrand]
) -> list[dict[str, Any]]:
    """Every store brand linked to, or holding the name of, one of ``records``."""
    rows: dict[str, dict[str, Any]] = {}
    if not records:
        return []
    for filters in store_row_filters(records):
        with_deleted = "name" not in filters
        found = await service.list_brands(filters, select=STORE_FIELDS, with_deleted=with_deleted)
        for row in found:
            rows[row["id"]] = row
    return list(rows.values())


async def load_store_brands(page: dict[str, Any], ctx: StepContext) -> StepResponse[Any]:
    """The rows :func:`plan_sync` needs for ``page`` (the retrieve step's output)."""
    records = [load_brand(raw) for raw in page["brands"]]
    return StepResponse(await find_store_rows(brand_service(ctx), records))


load_store_brands_step = create_step("load-store-brands", load_store_brands)
