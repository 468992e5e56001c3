"""A process that runs (or recovers) a durable workflow, for the crash tests.

    python crash_worker.py run|recover DB_URL WORKDIR

Every step and compensation body appends a line to WORKDIR/journal before doing anything.
While the file WORKDIR/armed names a body (e.g. ``invoke s3``), that body hangs after
writing its line, so the test can SIGKILL the process in the middle of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from loomwork.workflows import (
    StepContext,
    StepResponse,
    WorkflowEngine,
    WorkflowResponse,
    create_step,
    create_workflow,
)
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore

WORKDIR = Path(sys.argv[3])
LEASE_SECONDS = 1.0


def body(what: str) -> None:
    with (WORKDIR / "journal").open("a") as journal:
        journal.write(what + "\n")
        journal.flush()
        os.fsync(journal.fileno())
    armed = WORKDIR / "armed"
    if armed.exists() and armed.read_text().strip() == what:
        time.sleep(3600)  # blocks the whole process, like a stuck step: the test kills it


def make_step(name: str) -> Any:
    def invoke(input: Any, ctx: StepContext) -> StepResponse[Any]:
        body(f"invoke {name}")
        if name == "s4" and input.get("fail"):
            StepResponse.permanent_failure("s4 refuses")
        return StepResponse({"step": name, "n": input["n"] + 1}, name)

    def compensate(data: Any, ctx: StepContext) -> None:
        body(f"compensate {name}")

    return create_step(name, invoke, compensate)


s1, s2, s3, s4 = (make_step(f"s{i}") for i in range(1, 5))


@create_workflow("crash-test", store=True)
def crash_test(input: Any) -> WorkflowResponse:
    a = s1(input)
    b = s2({"n": a["n"], "fail": input["fail"]})
    c = s3({"n": b["n"], "fail": input["fail"]})
    d = s4({"n": c["n"], "fail": input["fail"]})
    return WorkflowResponse({"last": d, "total": d["n"]})


async def main(mode: str, url: str) -> None:
    store = SqlAlchemyStore(url)
    engine = WorkflowEngine(store, owner=f"{mode}-{os.getpid()}", lease_seconds=LEASE_SECONDS)
    if mode == "run":
        fail = (WORKDIR / "fail").exists()
        await engine.run(
            crash_test, {"n": 0, "fail": fail}, transaction_id="crash-1", throw_on_error=False
        )
    else:
        deadline = time.monotonic() + 30
        # Polls until the dead owner's lease expires and this process can claim the run.
        while time.monotonic() < deadline and not await engine.recover():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    run = await engine.get_execution("crash-test", "crash-1")
    print(json.dumps({"state": run.state.value, "result": run.result}))
    await engine.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
