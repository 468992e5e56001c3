"""``loomwork exec scripts/sync_dry_run.py``: what the next brand sync would do; no writes."""

from __future__ import annotations

import importlib
import json
import os
from types import ModuleType
from typing import Any


def project_module(container: Any, name: str) -> ModuleType:
    """Import ``<project package>.<name>`` from the project ``loomwork exec`` loaded."""
    package: str = container.resolve("project").package
    return importlib.import_module(f"{package}.{name}")


async def main(container: Any) -> None:
    """Print the plan's counts as JSON (``BRAND_SYNC_FULL=1`` plans a full reconciliation)."""
    sync = project_module(container, "workflows.sync_brands_from_system")
    full = True if os.environ.get("BRAND_SYNC_FULL") == "1" else None
    plan = await sync.dry_run_brand_sync(container, full=full)
    print(json.dumps({"full": plan.full, "pages": plan.pages, **plan.counts}))
