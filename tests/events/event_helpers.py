"""Shared test helpers for the event tests (imported by name: tests/events is on the path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from loomwork.events import Event, EventBus, RetryPolicy

FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.005, max_backoff=0.02)

BusFactory = Callable[..., EventBus]


class Recorder:
    """A handler that keeps what it received, optionally failing the first calls."""

    def __init__(self, fail_times: int = 0, error: type[Exception] = RuntimeError) -> None:
        self.events: list[Event] = []
        self.containers: list[Any] = []
        self.calls = 0
        self.fail_times = fail_times
        self.error = error

    async def __call__(self, event: Event, container: Any) -> None:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise self.error(f"failure {self.calls} on {event.id}")
        self.events.append(event)
        self.containers.append(container)

    @property
    def ids(self) -> list[str]:
        return [event.id for event in self.events]


async def delete_prefix(redis_url: str, prefix: str) -> None:
    """Remove every key a test created under its prefix."""
    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
