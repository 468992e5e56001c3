"""Subscriber: push store-side brand changes to the brand system.

Events caused by the sync itself (``metadata["source"] == "sync:system"``: the pull's
writes and the push's own write-backs) are skipped by the subscriber's
``skip_metadata``, so nothing bounces back, and a large pull's events are skipped a
whole batch at a time, without one event object each.
"""

from __future__ import annotations

import logging
from typing import Any

from loomwork.events import Event

from ..modules.brand.origin import SYNC_METADATA, caused_by_sync
from ..workflows.push_brand_to_system import push_brand_to_system_workflow

logger = logging.getLogger("brand_sync.push")


def made_in_the_store(event: Event) -> bool:
    """True unless the sync itself made the change (what ``skip_metadata`` skips)."""
    return not caused_by_sync(event.metadata)


config = {
    "event": ["brand.created", "brand.updated", "brand.deleted"],
    "subscriber_id": "brand-push-to-system",
    "skip_metadata": dict(SYNC_METADATA),
}


async def handler(event: Event, container: Any) -> None:
    """Run ``push-brand-to-system`` for the brand, once per event id."""
    if not made_in_the_store(event):  # called directly, not through a bus
        return
    run = await push_brand_to_system_workflow(container).run(
        input={"id": event.data["id"]}, transaction_id=f"push:{event.id}"
    )
    logger.info("pushed %s for %s: %s", event.name, event.data["id"], run.result["op"])
