"""``load-store-brands``: the store rows one page of system records may concern."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from loomwork.workflows import StepContext, StepResponse, create_step

from ....modules.brand import BrandModuleService
from ....modules.brand.records import SystemBrand
from ..._context import brand_service
from ..plan import STORE_FIELDS

RecordKey = tuple[str, str | None, str]
"""What the lookup needs of a system record: its id, its ``external_id`` and its name."""


def record_keys(records: Iterable[SystemBrand]) -> list[RecordKey]:
    """The lookup keys of validated records."""
    return [(record.id, record.external_id, record.name) for record in records]


async def find_store_rows(
    service: BrandModuleService, keys: Sequence[RecordKey]
) -> list[dict[str, Any]]:
    """Every store brand linked to, or holding the name of, one of the records.

    Links first; names only for records whose linked row does not already hold the name
    (live names are unique, so that row is the only holder). A link whose row the
    ``external_id`` lookup already found is not looked up again, so a re-sync of
    unchanged brands costs one query per page. Each lookup is one statement with the
    page's values as one parameter (:meth:`BrandModuleService.find_brands_by`).
    """
    rows: dict[str, dict[str, Any]] = {}
    ids = [record_id for record_id, _, _ in keys]
    for row in await service.find_brands_by(
        "external_id", ids, select=STORE_FIELDS, live_only=False
    ):
        rows[row["id"]] = row
    links = [link for _, link, _ in keys if link and link not in rows]
    for row in await service.find_brands_by("id", links, select=STORE_FIELDS, live_only=False):
        rows[row["id"]] = row
    held = {row["name"] for row in rows.values() if row["deleted_at"] is None}
    names = [name for _, _, name in keys if name not in held]
    for row in await service.find_brands_by("name", names, select=STORE_FIELDS, live_only=True):
        rows[row["id"]] = row
    return list(rows.values())


async def load_store_brands(page: dict[str, Any], ctx: StepContext) -> StepResponse[Any]:
    """The rows :func:`plan_sync` needs for ``page`` (the retrieve step's output)."""
    keys = [(raw["id"], raw.get("external_id"), raw["name"]) for raw in page["brands"]]
    return StepResponse(await find_store_rows(brand_service(ctx), keys), None)


load_store_brands_step = create_step("load-store-brands", load_store_brands)
