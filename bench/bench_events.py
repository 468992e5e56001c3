"""Event-bus throughput: publish -> handle, events per second.

    .venv/bin/python bench/bench_events.py [--redis-url redis://127.0.0.1:6379/0]

Measures the local bus and the Redis Streams bus (one subscriber, one consumer, a trivial
async handler). Events are built before the clock starts; the clock runs from the first
publish until ``drain()`` returns, i.e. until every event has been handled and, on Redis,
acknowledged. Writes bench/results/events.json and bench/EVENTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from loomwork.events import Event, EventBus, LocalEventBus, Subscriber
from loomwork.events.redis import RedisEventBus

HERE = Path(__file__).parent
REPEATS = 3
LOCAL_EVENTS = 200_000
REDIS_EVENTS = 50_000
TARGETS = {"local": 50_000, "redis": 10_000}


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, event: Event, container: Any) -> None:
        self.count += 1


def make_events(n: int) -> list[Event]:
    return [Event("brand.created", {"id": f"brand_{i}"}) for i in range(n)]


async def timed_run(
    bus: EventBus, events: list[Event], batch: int, counter: Counter, prefill: bool
) -> float:
    """Seconds from the first publish until every event is handled."""
    if prefill:
        await publish_all(bus, events, batch)
    start = time.perf_counter()
    async with bus:
        if not prefill:
            await publish_all(bus, events, batch)
        await bus.drain(timeout=300)
        elapsed = time.perf_counter() - start
    assert counter.count == len(events), (counter.count, len(events))
    return elapsed


async def publish_all(bus: EventBus, events: list[Event], batch: int) -> None:
    for i in range(0, len(events), batch):
        await bus.publish(events[i : i + batch])


async def repeat(run: Callable[[], Awaitable[float]], n_events: int) -> dict[str, Any]:
    rates = [n_events / await run() for _ in range(REPEATS)]
    return {
        "events": n_events,
        "runs_events_per_s": [round(r) for r in rates],
        "median_events_per_s": round(statistics.median(rates)),
    }


async def bench_local(batch: int) -> dict[str, Any]:
    events = make_events(LOCAL_EVENTS)

    async def run() -> float:
        counter = Counter()
        bus = LocalEventBus()
        bus.subscribe(Subscriber(counter, "brand.created", subscriber_id="bench"))
        return await timed_run(bus, events, batch, counter, prefill=False)

    return {"bus": "local", "publish_batch": batch, **await repeat(run, len(events))}


async def bench_redis(url: str, batch: int, prefill: bool) -> dict[str, Any]:
    events = make_events(REDIS_EVENTS)

    async def run() -> float:
        prefix = f"lwbench:{secrets.token_hex(4)}:"
        counter = Counter()
        bus = RedisEventBus(url, prefix=prefix, maxlen=None, batch_size=500, block=0.05)
        bus.subscribe(Subscriber(counter, "brand.created", subscriber_id="bench"))
        try:
            if prefill:  # the group must exist before the events so that it sees them
                await bus.start()
                await bus.stop()
                bus = RedisEventBus(url, prefix=prefix, maxlen=None, batch_size=500, block=0.05)
                bus.subscribe(Subscriber(counter, "brand.created", subscriber_id="bench"))
            return await timed_run(bus, events, batch, counter, prefill)
        finally:
            await drop_prefix(url, prefix)

    mode = "consume a prefilled stream" if prefill else "publish and consume concurrently"
    return {
        "bus": "redis",
        "mode": mode,
        "publish_batch": batch,
        **await repeat(run, len(events)),
    }


async def drop_prefix(url: str, prefix: str) -> None:
    client = aioredis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def redis_version(url: str) -> str:
    client = aioredis.from_url(url)
    try:
        return str((await client.info("server"))["redis_version"])
    finally:
        await client.aclose()


async def main(url: str) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    results = [
        await bench_local(batch=100),
        await bench_local(batch=1),
        await bench_redis(url, batch=100, prefill=False),
        await bench_redis(url, batch=100, prefill=True),
    ]
    return {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "redis": await redis_version(url),
            "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
        },
        "targets_events_per_s": TARGETS,
        "results": results,
    }


def write_report(report: dict[str, Any]) -> None:
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "events.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = []
    for r in report["results"]:
        mode = r.get("mode", "publish, then handle")
        target = TARGETS[r["bus"]]
        verdict = "meets" if r["median_events_per_s"] >= target else "MISSES"
        rows.append(
            f"| {r['bus']} | {mode} | {r['publish_batch']} | {r['events']:,} | "
            f"{r['median_events_per_s']:,} | {target:,} ({verdict}) |"
        )
    machine = report["machine"]
    load = machine["load_average_1min_before_after"]
    text = f"""# Event bus benchmarks

Reproduce: `.venv/bin/python bench/bench_events.py` (needs Redis at
`LOOMWORK_TEST_REDIS_URL`, default `redis://127.0.0.1:6379/0`; writes
`bench/results/events.json` and this file).

One subscriber with a trivial async handler. Events are built before the clock starts;
the clock runs from the first `publish` until `drain()` returns, so every event has been
handled (and, on Redis, acknowledged). The local bus's `publish` never waits, so its rows
publish everything and then handle it. Redis: one consumer in the same process as the
publisher; a `publish` call appends its batch with one script call (per 500 events); the
consumer takes up to 500 waiting entries per script call and blocks in `XREADGROUP` when
none wait; one `XACK` per batch. Median of {REPEATS} runs.

Machine: {machine["cpus"]} CPUs, Python {machine["python"]}, Redis {machine["redis"]},
{machine["platform"]}; 1-minute load average before/after the run:
{load[0]:.2f} / {load[1]:.2f} (other work on the machine slows every row alike).

| bus | mode | events per publish call | events | events/s (median) | target |
|---|---|---:|---:|---:|---|
{chr(10).join(rows)}
"""
    (HERE / "EVENTS.md").write_text(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("LOOMWORK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    report = asyncio.run(main(parser.parse_args().redis_url))
    write_report(report)
    print(json.dumps(report["results"], indent=2))
