"""Helpers the pull-sync steps share."""

from __future__ import annotations

from typing import Any

from loomwork.workflows import StepContext

from ....modules.brand import BRAND_MODULE, BrandModuleService

SYNC_SOURCE = "sync:system"
"""``metadata["source"]`` of events caused by the sync; the push subscriber ignores them."""

SYNC_METADATA: dict[str, Any] = {"source": SYNC_SOURCE}


def brand_service(ctx: StepContext) -> BrandModuleService:
    """The brand module's service from the step's container."""
    service: BrandModuleService = ctx.container.resolve(BRAND_MODULE)
    return service
