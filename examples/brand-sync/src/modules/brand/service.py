"""The brand module's main service: generated data verbs plus the brand system client."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
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

    async def versions_of(self, system_ids: Sequence[str]) -> dict[str, str]:
        """The system version each linked brand holds: system id -> ``updated_at`` as UTC text.

        A lean read for comparing a page with the store (deleted brands included):
        two columns, no records built, the stamp as fixed-width text with ``+00:00``.
        """
        if not system_ids:
            return {}
        return self._read(lambda conn: _read_versions(conn, system_ids))

    async def aclose(self) -> None:
        """Release the client's connections."""
        await self.client.aclose()


_BRANDS = Brand.__table__
_IDS: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)
# SQLite holds the stamp as that very text: read it as text, not parsed to a datetime.
_VERSIONS_AS_TEXT = sa.select(
    _BRANDS.c.external_id, sa.type_coerce(_BRANDS.c.system_updated_at, sa.String)
).where(_BRANDS.c.external_id.in_(_IDS))
_VERSIONS = sa.select(_BRANDS.c.external_id, _BRANDS.c.system_updated_at).where(
    _BRANDS.c.external_id.in_(_IDS)
)


def _read_versions(conn: sa.Connection, system_ids: Sequence[str]) -> dict[str, str]:
    if conn.dialect.name == "sqlite":
        rows = conn.execute(_VERSIONS_AS_TEXT, {"ids": list(system_ids)}).all()
        return {system_id: stamp for system_id, stamp in rows if stamp is not None}
    rows = conn.execute(_VERSIONS, {"ids": list(system_ids)}).all()
    return {
        system_id: stamp.astimezone(UTC).isoformat(timespec="microseconds")
        for system_id, stamp in rows
        if stamp is not None
    }


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
