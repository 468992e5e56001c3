"""Pages the store already holds: found before any stored run is started for them.

On a re-sync most pages hold nothing new. A page whose every record the store holds at
that very system version (rule 2 of :mod:`.plan`), with no quarantine rows to release,
would plan to nothing; the sync counts it unchanged without running (and storing) the
page's workflow, and without validating its records: a version the store holds was
valid when it was applied, and the system never changes a version in place. A page
this check is not sure of goes to the workflow, which decides record by record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...modules.brand import SYNC_SOURCE, BrandModuleService, BrandPage
from ...modules.brand.quarantine import holds_any, quarantine_key


class SettledCheck:
    """Tells settled pages apart; :meth:`refresh` after anything may have quarantined."""

    def __init__(self, service: BrandModuleService) -> None:
        self._service = service
        self._quarantine_empty = False

    async def refresh(self) -> None:
        """Look again whether the sync holds any quarantined record."""
        self._quarantine_empty = not await holds_any(self._service, SYNC_SOURCE)

    async def page_ran(self, quarantined: int) -> None:
        """Note a page's run: only one that quarantined records can fill an empty quarantine."""
        if quarantined or not self._quarantine_empty:
            await self.refresh()

    async def __call__(self, page: BrandPage) -> bool:
        """True when ``page`` would change nothing in the store; reads only."""
        if not page.listed:
            return True
        # The newest record first: on a first sync, or wherever the system changed
        # lately, it alone tells the page is not settled, for a one-row lookup.
        newest = _versions(page.listed[-1:])
        if newest is None or await self._service.count_held_versions(newest) != 1:
            return False
        versions = _versions(page.listed)
        if versions is None:
            return False
        if await self._service.count_held_versions(versions) != len(versions):
            return False
        return self._quarantine_empty or not await self._any_quarantined(list(versions))

    async def _any_quarantined(self, ids: list[str]) -> bool:
        keys = [quarantine_key(SYNC_SOURCE, record_id) for record_id in ids]
        found = await self._service.list_quarantined_records({"key": keys}, select=["id"], take=1)
        return bool(found)


async def page_is_settled(service: BrandModuleService, page: BrandPage) -> bool:
    """One-off :class:`SettledCheck` of ``page``."""
    check = SettledCheck(service)
    await check.refresh()
    return await check(page)


def _versions(listed: Sequence[Any]) -> dict[str, str] | None:
    """The page's ``{system id: updated_at}``, or ``None`` when it is not in the usual shape.

    Usual: dicts with distinct text ids and text stamps, none holding a NUL (SQLite's
    JSON reader cuts text there), checked in bulk. Whether a stamp names the version the
    store holds is the count query's to tell, by exact text: an odd or impossible stamp
    never counts as held, and anything else is the plan's to judge.
    """
    try:
        sent = {record["id"]: record["updated_at"] for record in listed}
        texts = "".join(sent) + "".join(sent.values())
    except (TypeError, KeyError):
        return None
    return sent if len(sent) == len(listed) and "\0" not in texts else None
