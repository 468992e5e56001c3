"""What the steps of both sync workflows take from their context."""

from __future__ import annotations

from loomwork.workflows import StepContext

from ..modules.brand import BRAND_MODULE, BrandModuleService


def brand_service(ctx: StepContext) -> BrandModuleService:
    """The brand module's service from the step's container."""
    service: BrandModuleService = ctx.container.resolve(BRAND_MODULE)
    return service
