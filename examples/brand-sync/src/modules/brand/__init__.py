"""The brand module: brands, their link to the brand system, and the system's client.

Resolve the service from the container by ``BRAND_MODULE``::

    service: BrandModuleService = container.resolve(BRAND_MODULE)
    await service.create_brands([{"name": "Acme"}])
    async for page in service.client.iter_pages():
        ...
"""

from __future__ import annotations

from pathlib import Path

from loomwork.modules import Module

from .client import BrandPage, BrandSystemClient, RetryPolicy
from .errors import BrandSystemError, BrandSystemNotFound, SyncAlreadyRunningError
from .models import Brand, QuarantinedRecord, SyncState
from .options import BrandModuleOptions
from .origin import SYNC_METADATA, SYNC_SOURCE, caused_by_sync
from .records import BadRecord, SystemBrand
from .service import BrandModuleService

__all__ = [
    "BRAND_MODULE",
    "SYNC_METADATA",
    "SYNC_SOURCE",
    "BadRecord",
    "Brand",
    "BrandModuleOptions",
    "BrandModuleService",
    "BrandPage",
    "BrandSystemClient",
    "BrandSystemError",
    "BrandSystemNotFound",
    "QuarantinedRecord",
    "RetryPolicy",
    "SyncAlreadyRunningError",
    "SyncState",
    "SystemBrand",
    "caused_by_sync",
    "module",
]

BRAND_MODULE = "brand"

module = Module(
    BRAND_MODULE,
    BrandModuleService,
    options=BrandModuleOptions,
    migrations=Path(__file__).parent / "migrations",
)
