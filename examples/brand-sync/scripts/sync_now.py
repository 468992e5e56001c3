"""``loomwork exec scripts/sync_now.py``: run the brand sync once, now (refused if running)."""

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
    """Print the run's report as JSON (``BRAND_SYNC_FULL=1`` forces a full reconciliation)."""
    sync = project_module(container, "workflows.sync_brands_from_system")
    full = True if os.environ.get("BRAND_SYNC_FULL") == "1" else None
    report = await sync.sync_brands_from_system(container, full=full)
    print(json.dumps(report.as_dict()))
