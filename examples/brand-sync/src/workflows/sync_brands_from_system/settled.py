"""Pages the store already holds: found before any stored run is started for them.

On a re-sync most pages hold nothing new. A page whose records the store has all seen
(rule 2 of :mod:`.plan`: the linked row holds that very system version), with no bad
records and no quarantine rows to release, would plan to nothing; the sync counts it
unchanged without running (and storing) the page's workflow. A page this check is not
sure of goes to the workflow, which decides record by record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...modules.brand import SYNC_SOURCE, BrandModuleService, BrandPage
from ...modules.brand.quarantine import holds_any, quarantine_key
from .plan import utc_key


async def page_is_settled(service: BrandModuleService, page: BrandPage) -> bool:
    """True when ``page`` would change nothing in the store; reads only."""
    if page.bad:
        return False
    if not page.raw:
        return True
    versions = _versions(page.raw)
    if versions is None:
        return False
    held = await service.versions_of(list(versions))
    if any(held.get(system_id) != stamp for system_id, stamp in versions.items()):
        return False
    return not await _any_quarantined(service, list(versions))


def _versions(raw: Sequence[dict[str, Any]]) -> dict[str, str] | None:
    # The store keeps the system's stamp as fixed-width UTC text with "+00:00".
    versions: dict[str, str] = {}
    for record in raw:
        stamp = utc_key(record["updated_at"])
        if stamp is None or record["id"] in versions:
            return None
        versions[record["id"]] = stamp + "+00:00"
    return versions


async def _any_quarantined(service: BrandModuleService, ids: list[str]) -> bool:
    if not await holds_any(service, SYNC_SOURCE):
        return False
    keys = [quarantine_key(SYNC_SOURCE, record_id) for record_id in ids]
    return bool(await service.list_quarantined_records({"key": keys}, select=["id"], take=1))
