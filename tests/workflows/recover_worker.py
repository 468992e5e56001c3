"""One of several processes that recover orphaned runs from one store, for the tests.

    python recover_worker.py DB_URL TABLE_PREFIX JOURNAL

Loops on ``recover()`` until it has found nothing to claim for a while, appending
``<transaction id> <pid>`` to JOURNAL each time the second step of a run executes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from loomwork.workflows import (
    StepContext,
    WorkflowEngine,
    WorkflowResponse,
    create_step,
    create_workflow,
)
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore

JOURNAL = sys.argv[3] if __name__ == "__main__" else os.devnull


def first(input: Any, ctx: StepContext) -> int:
    return int(input)


async def second(input: Any, ctx: StepContext) -> int:
    with open(JOURNAL, "a") as journal:  # noqa: ASYNC230 - a tiny append in a test worker
        journal.write(f"{ctx.transaction_id} {os.getpid()}\n")
    await asyncio.sleep(0.01)  # widen the window in which another process could interfere
    return int(input) * 2


first_step = create_step("orphan-first", first)
second_step = create_step("orphan-second", second)


@create_workflow("orphaned", store=True)
def orphaned(input: Any) -> WorkflowResponse:
    return WorkflowResponse(second_step(first_step(input)))


async def main(url: str, table_prefix: str) -> None:
    store = SqlAlchemyStore(url, table_prefix=table_prefix)
    engine = WorkflowEngine(store, owner=f"worker-{os.getpid()}", lease_seconds=30)
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 2.0:
        if await engine.recover(limit=5):
            idle_since = time.monotonic()
        else:
            await asyncio.sleep(0.05)
    await engine.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
