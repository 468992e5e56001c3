"""The brand module's main service: generated data verbs plus the brand system client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
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

    async def count_held_versions(self, versions: Mapping[str, str]) -> int:
        """How many of ``versions`` the store holds, deleted brands included.

        A version is held when the brand linked to that system id records that very
        system stamp. ``versions`` maps system ids to their ``updated_at`` as
        fixed-width UTC text with ``+00:00``. The pairs travel as one JSON parameter and
        only the count comes back, so checking a page of a thousand unchanged records
        costs under a millisecond.
        """
        if not versions:
            return 0
        return self._read(lambda conn: _count_held(conn, versions))

    async def aclose(self) -> None:
        """Release the client's connections."""
        await self.client.aclose()


_TABLE = Brand.__tablename__
# The hot read of a re-sync, as fixed text on the driver's cursor: SQLAlchemy's
# expanding IN would compile a thousand parameters per page.
_SQLITE_COUNT_HELD = (
    f"SELECT COUNT(*) FROM json_each(?) AS v JOIN {_TABLE} AS b"
    " ON b.external_id = v.key AND b.system_updated_at = v.value"
)
_COUNT_HELD = (
    f"SELECT COUNT(*) FROM json_each_text(%s::json) AS v JOIN {_TABLE} AS b"
    " ON b.external_id = v.key AND b.system_updated_at = v.value::timestamptz"
)


def _count_held(conn: sa.Connection, versions: Mapping[str, str]) -> int:
    params = (orjson.dumps(versions).decode(),)
    cursor = conn.connection.cursor()
    try:
        if conn.dialect.name == "sqlite":
            cursor.execute(_SQLITE_COUNT_HELD, params)
        else:
            # Never a server-side prepared statement: its generic plan, made while the
            # table was small (a first sync), would scan the whole table ever after.
            psycopg_cursor: Any = cursor  # ``prepare`` is psycopg's own keyword
            psycopg_cursor.execute(_COUNT_HELD, params, prepare=False)
        (count,) = cursor.fetchone() or (0,)
        return int(count)
    finally:
        cursor.close()


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
