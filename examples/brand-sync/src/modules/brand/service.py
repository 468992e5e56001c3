"""The brand module's main service: generated data verbs plus the brand system client."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from loomwork.modules import EventSink, ModuleService

from .client import BrandSystemClient, RetryPolicy
from .models import Brand, QuarantinedRecord, SyncState
from .options import BrandModuleOptions


class BrandModuleService(ModuleService, models=[Brand, QuarantinedRecord, SyncState]):
    """``create_brands``, ``list_brands``, ... and ``client``, the brand system's client."""

    def __init__(
        self, engine: sa.Engine, *, options: Any = None, event_sink: EventSink | None = None
    ) -> None:
        settings = options if isinstance(options, BrandModuleOptions) else BrandModuleOptions()
        super().__init__(engine, options=settings, event_sink=event_sink)
        self.client = build_client(settings)

    async def aclose(self) -> None:
        """Release the client's connections."""
        await self.client.aclose()


def build_client(options: BrandModuleOptions) -> BrandSystemClient:
    """A client configured by the module options."""
    return BrandSystemClient(
        options.base_url,
        options.api_key.get_secret_value(),
        page_size=options.page_size,
        timeout=options.timeout,
        retry=RetryPolicy(
            max_attempts=options.max_attempts,
            backoff_base=options.backoff_base,
            backoff_cap=options.backoff_cap,
            max_retry_after=options.max_retry_after,
        ),
    )
