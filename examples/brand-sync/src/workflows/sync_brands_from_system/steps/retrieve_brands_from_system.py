"""``retrieve-brands-from-system``: fetch one page of brands from the brand system."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loomwork.workflows import StepContext, StepResponse, create_step

from ..._context import brand_service


async def retrieve_brands_from_system(
    input: dict[str, Any], ctx: StepContext
) -> StepResponse[dict[str, Any]]:
    """The page at ``input["cursor"]`` (or from ``input["updated_since"]``), deleted included.

    The output is checkpointed, so a resumed run plans from the very page it fetched.
    The sync reads pages ahead of its runs; such a page is taken from the client.
    """
    since = input.get("updated_since")
    client = brand_service(ctx).client
    page = await client.fetch_page(
        cursor=input.get("cursor"),
        updated_since=datetime.fromisoformat(since) if since else None,
        include_deleted=True,
    )
    # No compensation, so no compensation input: the page is checkpointed once.
    return StepResponse(
        {
            "brands": page.raw,
            "bad": [record.as_dict() for record in page.bad],
            "cursor": page.cursor,
            "next_cursor": page.next_cursor,
            "max_updated_at": page.max_updated_at,
        },
        None,
    )


retrieve_brands_from_system_step = create_step(
    "retrieve-brands-from-system", retrieve_brands_from_system
)
