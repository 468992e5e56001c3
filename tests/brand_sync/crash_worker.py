"""A process that runs the pull sync and dies in the middle of a page, like a SIGKILL.

``python -m brand_sync.crash_worker <db_url> <base_url> <api_key> <table_prefix> <page>``
(from ``tests/``). It exits with status 9 right after the store committed the brands of
page ``<page>`` (0-based) and before the workflow checkpointed that step, so the step's
writes are in the database but its run does not know it. Leases are short, so another
process can take over at once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from .wiring import build_app

CRASH_EXIT = 9


class DieAfterBrandCommit:
    """Kills the process once page ``page``'s brand insert has committed.

    The insert arms it; the connection going back to the pool (which happens right after
    the commit, before the workflow checkpoints the step) pulls the trigger.
    """

    def __init__(self, page: int) -> None:
        self.inserts_left = page + 1
        self.armed = False

    def statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO BRAND "):
            self.inserts_left -= 1
            self.armed = self.inserts_left == 0

    def checkin(self, *_args: Any) -> None:
        if self.armed:
            os._exit(CRASH_EXIT)


async def main(db_url: str, base_url: str, api_key: str, prefix: str, page: int) -> None:
    """Run the sync until the crash."""
    system = SimpleNamespace(base_url=base_url, api_key=api_key)
    app = await build_app(db_url, system, table_prefix=prefix, lease_seconds=0.5, lock_seconds=0.5)
    trigger = DieAfterBrandCommit(page)
    sa.event.listen(app.engine, "before_cursor_execute", trigger.statement)
    sa.event.listen(app.engine.pool, "checkin", trigger.checkin)
    from .conftest import pull

    await pull.sync_brands_from_system(app.container)
    sys.exit("the sync finished without reaching the crash point")


if __name__ == "__main__":
    db, url, key, table_prefix, crash_page = sys.argv[1:6]
    asyncio.run(main(db, url, key, table_prefix, int(crash_page)))
