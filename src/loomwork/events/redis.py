"""The Redis Streams event bus: durable, shared by processes, at least once.

Import it by path (``from loomwork.events.redis import RedisEventBus``) so that the Redis
driver is only needed where this bus is used.

Layout under ``prefix`` (default ``"loomwork:"``):

- ``<prefix>events``: one stream for every event name. Each entry has one field: the
  event name, holding the event as JSON (one pair keeps replies small). One stream rather
  than one per name because ``"*"`` subscribers and names that appear later then need no
  stream discovery, and a published batch is appended to one key by one script call
  (``XADD ... MAXLEN ~`` per event, in order). Each subscriber
  reads the whole stream and acknowledges the names it does not want in the same
  ``XACK`` as the ones it handled.
- One consumer group per subscriber, named by the subscriber id; every bus process
  running that subscriber is a consumer in the group, so each event is handled by one of
  them. A new group starts at ``group_start`` (``"$"``: events published from then on).
- ``<prefix>events:dead``: the dead-letter stream (subscriber id, entry id, attempts,
  error, failure time, event).

``maxlen`` trims the event stream approximately (``XADD MAXLEN ~``); it must stay well
above how far the slowest subscriber can lag, or trimmed entries are lost to it. Keep the
retry ``max_backoff`` below ``claim_idle``, and handlers shorter than ``claim_idle``:
an entry idle that long is taken over by another consumer of the group.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from typing_extensions import override

from loomwork.errors import ConflictError, ValidationError
from loomwork.events._codec import dump_event, load_event
from loomwork.events._delivery import stop_workers
from loomwork.events._event import Event
from loomwork.events._port import DeadLetter, EventBus
from loomwork.events._redis_consumer import (
    READ_SCRIPT,
    StreamConfig,
    StreamConsumer,
    stream_id,
    text,
)
from loomwork.events._subscriber import Subscriber, seconds

_T = TypeVar("_T")

_DRAIN_POLL = 0.005

# One script call appends a chunk: the client packs two arguments per event and parses
# one reply per chunk, instead of a whole XADD command and reply per event (about five
# times less client CPU). Chunks bound how long one call holds the server.
_APPEND_CHUNK = 500
_APPEND = """
local maxlen = ARGV[1]
for i = 2, #ARGV, 2 do
  if maxlen == '' then
    redis.call('XADD', KEYS[1], '*', ARGV[i], ARGV[i + 1])
  else
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', ARGV[i], ARGV[i + 1])
  end
end
return (#ARGV - 1) / 2
"""


def _default_consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class RedisEventBus(EventBus):
    """Event bus on Redis Streams.

    ``redis`` is a URL (the bus owns and closes that client) or a ``redis.asyncio.Redis``
    (the caller closes it). ``consumer_name`` must be unique among live processes; reuse
    it across restarts of one process to take its pending entries back immediately.
    ``batch_size`` is the most entries read (and acknowledged) at once; ``block`` the
    longest wait per read. ``claim_idle``: how long an entry stays unacknowledged before
    another consumer takes it over (checked every ``claim_interval``, default half of
    it). ``maxlen`` / ``dead_letter_maxlen``: approximate stream caps (``None``: none).
    ``stop_timeout``: how long :meth:`stop` lets running handlers finish.
    ``group_start``: where a subscriber's new group starts (``"$"`` or ``"0"``).
    """

    def __init__(
        self,
        redis: aioredis.Redis | str,
        container: Any = None,
        *,
        prefix: str = "loomwork:",
        maxlen: int | None = 100_000,
        dead_letter_maxlen: int | None = 10_000,
        consumer_name: str | None = None,
        batch_size: int = 500,
        block: timedelta | float = 1.0,
        claim_idle: timedelta | float = 60.0,
        claim_interval: timedelta | float | None = None,
        stop_timeout: timedelta | float = 5.0,
        group_start: str = "$",
    ) -> None:
        super().__init__(container)
        self._owns_client = isinstance(redis, str)
        self._client = aioredis.from_url(redis) if isinstance(redis, str) else redis
        self._stream = f"{prefix}events"
        self._maxlen = maxlen
        self._append_script = self._client.register_script(_APPEND)
        idle = seconds(claim_idle)
        self._config = StreamConfig(
            client=self._client,
            read_script=self._client.register_script(READ_SCRIPT),
            stream=self._stream,
            dead_stream=f"{prefix}events:dead",
            dead_maxlen=dead_letter_maxlen,
            consumer=consumer_name or _default_consumer_name(),
            batch_size=batch_size,
            block=seconds(block),
            claim_idle_ms=int(idle * 1000),
            claim_interval=seconds(claim_interval) if claim_interval is not None else idle / 2,
            group_start=group_start,
        )
        self._stop_timeout = seconds(stop_timeout)
        self._consumers: list[StreamConsumer] = []
        self._running = False

    @property
    def consumer_name(self) -> str:
        """The consumer name of this bus in every subscriber's group."""
        return self._config.consumer

    @override
    def subscribe(self, subscriber: Subscriber) -> None:
        if self._running:
            raise ConflictError(
                f"cannot subscribe {subscriber.id!r} to a running event bus; "
                "subscribe before start()"
            )
        self._registry.add(subscriber)

    @override
    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        entries = [self._entry(event) for event in events]
        # After a dropped connection, entries the first try added are appended again:
        # delivery is at least once.
        await self._with_reconnect(lambda: self._append(entries))

    async def _append(self, entries: list[tuple[str, str]]) -> None:
        maxlen = "" if self._maxlen is None else str(self._maxlen)
        for start in range(0, len(entries), _APPEND_CHUNK):
            args = [maxlen]
            for name, body in entries[start : start + _APPEND_CHUNK]:
                args += (name, body)
            await self._append_script(keys=[self._stream], args=args)

    @staticmethod
    def _entry(event: Event) -> tuple[str, str]:
        try:
            body = json.dumps(dump_event(event), separators=(",", ":"))
        except (TypeError, ValueError) as error:
            raise ValidationError(
                f"event {event.name!r} ({event.id}) cannot be published to Redis: its data "
                f"or metadata is not JSON-ready ({error}); emit ids and plain values",
                record=event.name,
            ) from error
        return event.name, body

    @override
    async def start(self) -> None:
        if self._running:
            return
        consumers = [StreamConsumer(self._config, s, self.container) for s in self._registry]
        for consumer in consumers:
            await consumer.ensure_group()
        self._running = True
        self._consumers = consumers
        for consumer in consumers:
            consumer.start()

    @override
    async def stop(self) -> None:
        if self._running:
            self._running = False
            await stop_workers(self._consumers, self._stop_timeout)
            for consumer in self._consumers:
                await consumer.retire()
            self._consumers.clear()
        if self._owns_client:
            await self._client.aclose()

    @override
    async def drain(self, timeout: timedelta | float = 10.0) -> None:
        if not self._running:
            raise ConflictError("the event bus is not started; call start() before drain()")
        deadline = time.monotonic() + seconds(timeout)
        target = await self._with_reconnect(self._last_entry_id)
        while True:
            behind = await self._with_reconnect(lambda: self._groups_behind(target))
            if not behind:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"subscribers {', '.join(sorted(behind))} still have events pending "
                    f"after {seconds(timeout):g}s"
                )
            await asyncio.sleep(_DRAIN_POLL)

    @staticmethod
    async def _with_reconnect(call: Callable[[], Awaitable[_T]]) -> _T:
        try:
            return await call()
        except RedisConnectionError:  # a pooled connection the server dropped: once more
            return await call()

    async def _last_entry_id(self) -> tuple[int, int] | None:
        try:
            info = await self._client.xinfo_stream(self._stream)
        except ResponseError:  # no stream yet: nothing was ever published
            return None
        return stream_id(text(info["last-generated-id"]))

    async def _groups_behind(self, target: tuple[int, int] | None) -> set[str]:
        wanted = {subscriber.id for subscriber in self._registry}
        if target is None:
            return set()
        caught_up = set()
        for group in await self._client.xinfo_groups(self._stream):
            values = {text(key): value for key, value in group.items()}
            name = text(values["name"])
            delivered = stream_id(text(values["last-delivered-id"]))
            if int(values["pending"]) == 0 and delivered >= target:
                caught_up.add(name)
        return wanted - caught_up

    @override
    async def dead_letters(self, subscriber_id: str | None = None) -> list[DeadLetter]:
        letters = []
        entries: Any = await self._client.xrange(self._config.dead_stream)
        for _, raw in entries:
            fields = {text(key): text(value) for key, value in raw.items()}
            if subscriber_id not in (None, fields["subscriber"]):
                continue
            letters.append(
                DeadLetter(
                    subscriber_id=fields["subscriber"],
                    event=load_event(json.loads(fields["event"])),
                    attempts=int(fields["attempts"]),
                    error=fields["error"],
                    failed_at=float(fields["failed_at"]),
                )
            )
        return letters
