"""``loomwork exec scripts/quarantine.py``: the records the sync could not apply."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


def project_module(container: Any, name: str) -> ModuleType:
    """Import ``<project package>.<name>`` from the project ``loomwork exec`` loaded."""
    package: str = container.resolve("project").package
    return importlib.import_module(f"{package}.{name}")


async def main(container: Any) -> None:
    """Print one line per quarantined record: id, field, reason, last seen."""
    quarantine = project_module(container, "modules.brand.quarantine")
    service = container.resolve("brand")
    rows, count = await quarantine.list_quarantined(service, take=None)
    for row in rows:
        print(f"{row['record_id']}\t{row['field']}\t{row['reason']}\t{row['last_seen_at']}")
    print(f"{count} quarantined record(s)")
