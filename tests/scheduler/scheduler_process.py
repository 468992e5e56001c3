"""One scheduler instance in its own process, for the exactly-once test.

Usage: python scheduler_process.py DATABASE_URL LOG_FILE INSTANCE_ID

Runs two jobs on the real clock until SIGTERM, then stops gracefully:

* ``short``: every second, returns at once;
* ``long``: every second, takes 1.5 s, so every other tick should be skipped as an overlap.

Each handler call appends one line ``job fire_time start end instance`` to LOG_FILE with a
single O_APPEND write, so lines from several processes never interleave.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable

from loomwork.container import Container
from loomwork.scheduler import Scheduler, SystemClock, current_run
from loomwork.scheduler.stores.sqlalchemy import SqlAlchemyScheduleStore


def recorder(log: str, instance: str, seconds: float) -> Callable[[Container], Awaitable[None]]:
    async def handler(container: Container) -> None:
        started = time.time()
        run = current_run()
        await asyncio.sleep(seconds)
        fire = run.fire_time.timestamp()
        line = f"{run.job} {fire:.6f} {started:.6f} {time.time():.6f} {instance}\n"
        descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)

    return handler


async def main(url: str, log: str, instance: str) -> None:
    store = SqlAlchemyScheduleStore(url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    scheduler = Scheduler(store, SystemClock(), Container(), instance, lease=5, stop_grace=10)
    scheduler.add_job(recorder(log, instance, 0.0), {"name": "short", "schedule": "every 1s"})
    scheduler.add_job(recorder(log, instance, 1.5), {"name": "long", "schedule": "* * * * * *"})
    await scheduler.start()
    print("ready", flush=True)
    await stop.wait()
    await scheduler.stop()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
