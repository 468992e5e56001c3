"""``advance-sync-state``: record the page as committed (cursor, then the watermark)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loomwork.workflows import StepContext, StepResponse, create_step

from ....modules.brand.sync_state import advance
from ..._context import brand_service


async def advance_sync_state(input: dict[str, Any], ctx: StepContext) -> StepResponse[bool]:
    """Move the pass past this page; the last step, so it runs after every write committed."""
    newest = input.get("page_max_updated_at")
    moved = advance(
        brand_service(ctx).engine,
        input["sync"],
        pass_id=input["pass_id"],
        page_no=input["page_no"],
        next_cursor=input["next_cursor"],
        page_max_updated_at=datetime.fromisoformat(newest) if newest else None,
    )
    return StepResponse(moved, None)


advance_sync_state_step = create_step("advance-sync-state", advance_sync_state)
