"""A bus process for the crash test: starts handling, says so, then hangs until killed.

Usage: python redis_consumer_proc.py <redis url> <key prefix> <consumer name>
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from loomwork.events import Event, Subscriber
from loomwork.events.redis import RedisEventBus


async def hang(event: Event, container: Any) -> None:
    print(f"handling {event.id}", flush=True)
    await asyncio.Event().wait()


async def main(url: str, prefix: str, consumer: str) -> None:
    bus = RedisEventBus(url, prefix=prefix, consumer_name=consumer, block=0.05)
    bus.subscribe(Subscriber(hang, "job.run", subscriber_id="crashy"))
    await bus.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
