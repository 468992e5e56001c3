"""Bus fixtures: every contract test runs on the local bus and on real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from event_helpers import BusFactory, delete_prefix

from loomwork.events import EventBus, LocalEventBus
from loomwork.events.redis import RedisEventBus


@pytest.fixture
async def redis_keys(redis_url: str, unique_prefix: str) -> AsyncIterator[str]:
    """The test's key prefix; its keys are deleted afterwards."""
    yield unique_prefix
    await delete_prefix(redis_url, unique_prefix)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client for inspecting streams directly."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def make_bus(
    request: pytest.FixtureRequest, redis_url: str, unique_prefix: str
) -> AsyncIterator[BusFactory]:
    """Builds buses of the parametrised kind; stops them and cleans Redis afterwards."""
    kind: str = request.param
    buses: list[EventBus] = []

    def make(container: Any = None, **options: Any) -> EventBus:
        if kind == "local":
            bus: EventBus = LocalEventBus(container, **options)
        else:
            options.setdefault("block", 0.05)
            options.setdefault("claim_idle", 2.0)
            bus = RedisEventBus(redis_url, container, prefix=unique_prefix, **options)
        buses.append(bus)
        return bus

    yield make
    await asyncio.gather(*(bus.stop() for bus in buses))
    if kind == "redis":
        await delete_prefix(redis_url, unique_prefix)
