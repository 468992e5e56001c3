"""``/admin/brand-sync``: the pull sync's state, and a manual run (or dry run)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from loomwork.container import Container

from ....modules.brand.sync_state import read_state
from ....workflows.sync_brands_from_system import (
    SYNC_NAME,
    dry_run_brand_sync,
    sync_brands_from_system,
)
from ..brands._shared import brand_service

STATE_FIELDS = ("watermark", "resume_cursor", "runs", "last_full_at", "lock_owner", "lock_until")


async def GET(request: Request, container: Container) -> dict[str, Any]:  # noqa: N802 (route convention)
    """Where the sync stands: watermark, unfinished pass, runs, last full run, lock."""
    state = read_state(brand_service(container).engine, SYNC_NAME) or {}
    return {"sync": {field: _json(state.get(field)) for field in STATE_FIELDS}}


async def POST(request: Request, container: Container) -> dict[str, Any]:  # noqa: N802 (route convention)
    """Run the sync now (``?full=true``), or plan it only (``?dry_run=true``).

    A run while another one holds the lock answers 409 with the reason.
    """
    full = True if request.query_params.get("full") == "true" else None
    if request.query_params.get("dry_run") == "true":
        plan = await dry_run_brand_sync(container, full=full)
        return {"dry_run": True, "full": plan.full, "pages": plan.pages, **plan.counts}
    report = await sync_brands_from_system(container, full=full)
    return {"dry_run": False, **report.as_dict()}


def _json(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
