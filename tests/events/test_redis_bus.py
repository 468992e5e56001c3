"""Redis-only behaviour: crashes, restarts, claims, trimming and the wire format."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from event_helpers import FAST_RETRY, Recorder

from loomwork.errors import ValidationError
from loomwork.events import Event, RetryPolicy, Subscriber
from loomwork.events.redis import RedisEventBus

pytestmark = [pytest.mark.redis, pytest.mark.timeout(30)]

PROC = Path(__file__).with_name("redis_consumer_proc.py")


async def _line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), 20)
    return raw.decode().strip()


@pytest.mark.slow
async def test_an_event_whose_consumer_is_killed_mid_handler_goes_to_another(
    redis_url: str, redis_keys: str, redis_client: aioredis.Redis
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROC),
        redis_url,
        redis_keys,
        "doomed",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert await _line(proc) == "ready"
        publisher = RedisEventBus(redis_url, prefix=redis_keys)
        event = Event("job.run", {"id": "job_1"})
        await publisher.publish([event])
        await publisher.stop()
        assert await _line(proc) == f"handling {event.id}"
    finally:
        proc.kill()
        await proc.communicate()
    [pending] = await redis_client.xpending_range(f"{redis_keys}events", "crashy", "-", "+", 10)
    assert pending["consumer"] == "doomed"

    survivor = Recorder()
    bus = RedisEventBus(
        redis_url, prefix=redis_keys, consumer_name="survivor", claim_idle=0.2, block=0.05
    )
    bus.subscribe(Subscriber(survivor, "job.run", subscriber_id="crashy"))
    async with bus:
        await bus.drain()

    assert survivor.events == [event]
    assert await redis_client.xpending_range(f"{redis_keys}events", "crashy", "-", "+", 10) == []


async def test_a_restarted_bus_finishes_what_its_previous_run_left_pending(
    redis_url: str, redis_keys: str
) -> None:
    started = asyncio.Event()

    async def interrupted(event: Event, container: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    first = RedisEventBus(redis_url, prefix=redis_keys, consumer_name="worker-1", stop_timeout=0)
    first.subscribe(Subscriber(interrupted, "job.run", subscriber_id="jobs"))
    await first.start()
    cut_short = Event("job.run", {"n": 1})
    await first.publish([cut_short])
    await asyncio.wait_for(started.wait(), 10)
    await first.stop()

    second_run = Recorder()
    second = RedisEventBus(redis_url, prefix=redis_keys, consumer_name="worker-1", block=0.05)
    second.subscribe(Subscriber(second_run, "job.run", subscriber_id="jobs"))
    while_down = Event("job.run", {"n": 2})
    await second.publish([while_down])
    async with second:
        await second.drain()

    assert second_run.ids == [cut_short.id, while_down.id]


async def test_an_entry_delivered_too_often_without_an_ack_is_dead_lettered(
    redis_url: str, redis_keys: str, redis_client: aioredis.Redis
) -> None:
    stream = f"{redis_keys}events"
    await redis_client.xgroup_create(stream, "poisoned", id="$", mkstream=True)
    poison = Event("job.run", {"id": "job_9"})
    publisher = RedisEventBus(redis_url, prefix=redis_keys)
    await publisher.publish([poison])
    await publisher.stop()
    # Three consumers take the entry in turn and die without acking it.
    await redis_client.xreadgroup("poisoned", "ghost-1", {stream: ">"}, count=1)
    [row] = await redis_client.xpending_range(stream, "poisoned", "-", "+", 10)
    for ghost in ("ghost-2", "ghost-3"):
        await redis_client.xclaim(stream, "poisoned", ghost, 0, [row["message_id"]])

    recorder = Recorder()
    bus = RedisEventBus(redis_url, prefix=redis_keys, claim_idle=0.05, block=0.05)
    bus.subscribe(Subscriber(recorder, "job.run", subscriber_id="poisoned", retry=FAST_RETRY))
    async with bus:
        await bus.drain()
        [letter] = await bus.dead_letters("poisoned")

    assert recorder.calls == 0
    assert letter.event == poison
    assert letter.attempts == FAST_RETRY.max_attempts
    assert "without an acknowledgement" in letter.error


async def test_the_stream_is_trimmed_to_about_maxlen(
    redis_url: str, redis_keys: str, redis_client: aioredis.Redis
) -> None:
    bus = RedisEventBus(redis_url, prefix=redis_keys, maxlen=100)
    events = [Event("tick", {"n": n}) for n in range(2000)]

    await bus.publish(events)
    await bus.stop()

    length = await redis_client.xlen(f"{redis_keys}events")
    assert 100 <= length < 1000


async def test_data_that_is_not_json_ready_is_refused_at_publish(
    redis_url: str, redis_keys: str
) -> None:
    bus = RedisEventBus(redis_url, prefix=redis_keys)
    try:
        with pytest.raises(ValidationError, match=r"brand\.created.*not JSON-ready"):
            await bus.publish([Event("brand.created", {"when": object()})])
    finally:
        await bus.stop()


async def test_a_stopped_consumer_with_nothing_pending_leaves_its_groups(
    redis_url: str, redis_keys: str, redis_client: aioredis.Redis
) -> None:
    recorder = Recorder()
    bus = RedisEventBus(redis_url, prefix=redis_keys, consumer_name="tidy", block=0.05)
    bus.subscribe(Subscriber(recorder, "*", subscriber_id="tidy-sub"))
    async with bus:
        await bus.publish([Event("a.b", {})])
        await bus.drain()
        consumers = await redis_client.xinfo_consumers(f"{redis_keys}events", "tidy-sub")
        assert [c["name"] for c in consumers] == ["tidy"]

    assert await redis_client.xinfo_consumers(f"{redis_keys}events", "tidy-sub") == []
    assert len(recorder.events) == 1


async def test_a_retry_waits_its_backoff_then_runs_on_the_same_entry(
    redis_url: str, redis_keys: str, redis_client: aioredis.Redis
) -> None:
    flaky = Recorder(fail_times=1)
    bus = RedisEventBus(redis_url, prefix=redis_keys, block=0.05)
    retry = RetryPolicy(max_attempts=2, initial_backoff=0.05)
    bus.subscribe(Subscriber(flaky, "job.run", subscriber_id="flaky", retry=retry))
    event = Event("job.run", {})
    async with bus:
        await bus.publish([event])
        await bus.drain()

    assert flaky.calls == 2
    assert flaky.ids == [event.id]
    assert await redis_client.xlen(f"{redis_keys}events") == 1


async def test_the_consumer_survives_a_dropped_connection(
    redis_url: str, redis_keys: str, redis_client: aioredis.Redis
) -> None:
    name = f"lwtest-{redis_keys.split(':')[1]}"
    own_client = aioredis.from_url(redis_url, client_name=name)
    recorder = Recorder()
    bus = RedisEventBus(own_client, prefix=redis_keys, block=0.05)
    bus.subscribe(Subscriber(recorder, "job.run", subscriber_id="sturdy"))
    before, after = Event("job.run", {"n": 1}), Event("job.run", {"n": 2})
    try:
        async with bus:
            await bus.publish([before])
            await bus.drain()
            killed = await _kill_clients_named(redis_client, name)
            assert killed >= 1
            await bus.publish([after])
            await bus.drain()
    finally:
        await own_client.aclose()

    assert recorder.ids == [before.id, after.id]


async def _kill_clients_named(client: aioredis.Redis, name: str) -> int:
    killed = 0
    for info in await client.client_list():
        if info.get("name") == name:
            await client.client_kill_filter(_id=info["id"])
            killed += 1
    return killed


async def test_the_consumer_recreates_its_group_when_the_stream_is_deleted(
    redis_url: str, redis_keys: str, redis_client: aioredis.Redis
) -> None:
    recorder = Recorder()
    bus = RedisEventBus(redis_url, prefix=redis_keys, block=0.05)
    bus.subscribe(Subscriber(recorder, "job.run", subscriber_id="phoenix"))
    stream = f"{redis_keys}events"
    async with bus:
        await redis_client.delete(stream)
        for _ in range(100):  # the consumer notices within its block time plus 1s
            if "phoenix" in {g["name"] for g in await _groups(redis_client, stream)}:
                break
            await asyncio.sleep(0.05)
        event = Event("job.run", {})
        await bus.publish([event])
        await bus.drain()

    assert recorder.ids == [event.id]


async def _groups(client: aioredis.Redis, stream: str) -> list[dict[str, Any]]:
    if not await client.exists(stream):
        return []
    return list(await client.xinfo_groups(stream))


async def test_entries_that_are_not_events_are_acknowledged_and_skipped(
    redis_url: str, redis_keys: str, redis_client: aioredis.Redis
) -> None:
    recorder = Recorder()
    bus = RedisEventBus(redis_url, prefix=redis_keys, block=0.05)
    bus.subscribe(Subscriber(recorder, "*", subscriber_id="everything"))
    good = Event("job.run", {})
    async with bus:
        await redis_client.xadd(f"{redis_keys}events", {"job.run": "{not json"})
        await bus.publish([good])
        await bus.drain()

    assert recorder.ids == [good.id]
