"""``quarantine-records-step``: keep the page's bad records; compensation puts back the rows."""

from __future__ import annotations

from typing import Any

from loomwork.workflows import StepContext, StepResponse, create_step

from ....modules.brand.origin import SYNC_METADATA, SYNC_SOURCE
from ....modules.brand.quarantine import record_quarantine, undo_quarantine
from ....modules.brand.records import BadRecord
from ..._context import brand_service


async def quarantine_records(input: dict[str, Any], ctx: StepContext) -> StepResponse[int]:
    """Quarantine ``input["records"]``; release rows of ``input["synced"]`` record ids."""
    bad = [BadRecord(**record) for record in input["records"]]
    change = await record_quarantine(
        brand_service(ctx), SYNC_SOURCE, bad, input["synced"], event_metadata=SYNC_METADATA
    )
    return StepResponse(len(bad), change.as_dict())


async def undo_quarantine_records(change: dict[str, Any] | None, ctx: StepContext) -> None:
    """Restore the quarantine rows as they were before the step."""
    if change:
        await undo_quarantine(brand_service(ctx), change, event_metadata=SYNC_METADATA)


quarantine_records_step = create_step(
    "quarantine-records-step", quarantine_records, undo_quarantine_records
)
