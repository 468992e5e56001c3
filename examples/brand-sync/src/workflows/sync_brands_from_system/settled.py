"""Pages the store already holds: found before any stored run is started for them.

On a re-sync most pages hold nothing new. A page whose records the store has all seen
(rule 2 of :mod:`.plan`: the linked row holds a system version at least as new), with no
bad records and no quarantine rows to release, would plan to nothing; the sync counts
it unchanged without running (and storing) the page's workflow.
"""

from __future__ import annotations

from ...modules.brand import SYNC_SOURCE, BrandModuleService, BrandPage
from ...modules.brand.quarantine import holds_any, quarantine_key
from .plan import split_seen

_VERSION_FIELDS = ["external_id", "system_updated_at"]


async def page_is_settled(service: BrandModuleService, page: BrandPage) -> bool:
    """True when ``page`` would change nothing in the store; reads only."""
    if page.bad:
        return False
    if not page.raw:
        return True
    # A first sync's pages are all new: its last record tells so with a one-row lookup.
    if not await _all_seen(service, page.raw[-1:]) or not await _all_seen(service, page.raw):
        return False
    return not await _any_quarantined(service, [raw["id"] for raw in page.raw])


async def _all_seen(service: BrandModuleService, raw: list[dict[str, object]]) -> bool:
    ids = [record["id"] for record in raw]
    rows = await service.list_brands(
        {"external_id": ids}, select=_VERSION_FIELDS, with_deleted=True
    )
    fresh, _seen = split_seen(raw, rows)
    return not fresh


async def _any_quarantined(service: BrandModuleService, ids: list[object]) -> bool:
    if not await holds_any(service, SYNC_SOURCE):
        return False
    keys = [quarantine_key(SYNC_SOURCE, str(record_id)) for record_id in ids]
    return bool(await service.list_quarantined_records({"key": keys}, select=["id"], take=1))
