"""``loomwork exec scripts/sync_now.py``: run the brand sync once, now (refused if running).

On a terminal a progress bar counts the records as pages commit; the report is printed
as JSON on stdout either way.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


def project_module(container: Any, name: str) -> ModuleType:
    """Import ``<project package>.<name>`` from the project ``loomwork exec`` loaded."""
    package: str = container.resolve("project").package
    return importlib.import_module(f"{package}.{name}")


@contextmanager
def progress_bar() -> Iterator[Callable[[Any], None] | None]:
    """A page hook drawing a progress bar on stderr when it is a terminal, else ``None``.

    The system does not say how many brands it holds, so the bar counts up with the
    rate instead of filling towards a total.
    """
    if not sys.stderr.isatty():
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("brand sync"),
        TextColumn("{task.completed:,.0f} records · {task.fields[pages]} pages"),
        TextColumn("{task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
    )
    began = time.monotonic()
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("sync", total=None, pages=0, rate=0.0)

        def on_page(report: Any) -> None:
            rate = report.records / max(time.monotonic() - began, 1e-9)
            bar.update(task, completed=report.records, pages=report.pages, rate=rate)

        yield on_page


async def main(container: Any) -> None:
    """Print the run's report as JSON (``BRAND_SYNC_FULL=1`` forces a full reconciliation)."""
    sync = project_module(container, "workflows.sync_brands_from_system")
    full = True if os.environ.get("BRAND_SYNC_FULL") == "1" else None
    with progress_bar() as on_page:
        report = await sync.sync_brands_from_system(container, full=full, on_page=on_page)
    print(json.dumps(report.as_dict()))
