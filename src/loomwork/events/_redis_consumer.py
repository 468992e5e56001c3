"""One subscriber's consumer on the Redis bus: read, handle, ack, retry, reclaim, bury."""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError, ResponseError

from loomwork.events._codec import dump_event, load_event
from loomwork.events._delivery import attempt, describe, log_dead_letter, log_failure
from loomwork.events._event import Event
from loomwork.events._subscriber import Subscriber

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

logger = logging.getLogger("loomwork.events")

_REDIS_RETRY = 1.0

# Reads what is waiting without blocking and returns it as one JSON string: parsing one
# reply in C instead of five small ones per entry in the client roughly doubles
# throughput. When nothing waits, the consumer blocks in a plain XREADGROUP instead.
READ_SCRIPT = """
local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
                         'STREAMS', KEYS[1], '>')
if not reply then
  return '[]'
end
return cjson.encode(reply[1][2])
"""

Entry = tuple[str, Mapping[Any, Any] | None, int]
"""(stream entry id, raw fields, attempt number of this delivery)."""


def text(value: Any) -> str:
    """A Redis reply item as ``str``, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def stream_id(value: str) -> tuple[int, int]:
    """A stream entry id (``"<ms>-<seq>"``) as a sortable tuple."""
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """What every consumer of one :class:`RedisEventBus` shares."""

    client: Redis
    read_script: AsyncScript
    stream: str
    dead_stream: str
    dead_maxlen: int | None
    consumer: str
    batch_size: int
    block: float
    claim_idle_ms: int
    claim_interval: float
    group_start: str


class StreamConsumer:
    """Reads the bus stream through the consumer group named after one subscriber.

    A failed entry stays in this consumer's pending list while it waits for its backoff,
    then is claimed again (which bumps Redis's delivery count, the attempt number). A
    consumer that dies leaves its entries pending; peers claim them once they have been
    idle for ``claim_idle``, and a restart under the same consumer name takes its own
    pending entries back at once.
    """

    def __init__(self, config: StreamConfig, subscriber: Subscriber, container: Any) -> None:
        self.config = config
        self.subscriber = subscriber
        self.container = container
        self.task: asyncio.Task[None] | None = None
        self.busy = False
        self.stopping = False
        self._retries: list[tuple[float, str, int, int]] = []
        self._waiting: set[str] = set()

    def start(self) -> None:
        """Run the consumer loop in a task."""
        self.stopping = False
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"loomwork.events.redis:{self.subscriber.id}"
        )

    async def _run(self) -> None:
        next_claim: float | None = None
        regroup = False
        while not self.stopping:
            try:
                if regroup:
                    await self.ensure_group()
                    regroup = False
                if next_claim is None:
                    await self._reclaim(own=True)
                    next_claim = time.monotonic() + self.config.claim_interval
                next_claim = await self._step(next_claim)
            except RedisError as error:
                # A lost connection or a deleted stream must not end the subscriber.
                logger.warning(
                    "subscriber %s: Redis call failed (%r); retrying in %gs",
                    self.subscriber.id,
                    error,
                    _REDIS_RETRY,
                )
                regroup = regroup or "NOGROUP" in str(error)
                await asyncio.sleep(_REDIS_RETRY)

    async def _step(self, next_claim: float) -> float:
        """One round: reclaim idle entries when due, run due retries, read and handle."""
        if time.monotonic() >= next_claim:
            await self._reclaim(own=False)
            next_claim = time.monotonic() + self.config.claim_interval
        await self._retry_due()
        entries = await self._read(self._wait_until(next_claim))
        await self._handle([(entry_id, fields, 1) for entry_id, fields in entries])
        return next_claim

    async def ensure_group(self) -> None:
        """Create the subscriber's consumer group (and the stream) unless it exists."""
        cfg = self.config
        try:
            await cfg.client.xgroup_create(
                cfg.stream, self.subscriber.id, id=cfg.group_start, mkstream=True
            )
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def _wait_until(self, next_claim: float) -> float:
        wake = min(next_claim, self._retries[0][0]) if self._retries else next_claim
        return max(0.001, min(self.config.block, wake - time.monotonic()))

    async def _read(self, block: float) -> list[tuple[str, Mapping[Any, Any] | None]]:
        cfg = self.config
        packed = await cfg.read_script(
            keys=[cfg.stream], args=[self.subscriber.id, cfg.consumer, cfg.batch_size]
        )
        if entries := json.loads(packed):
            return [(entry_id, {name: body}) for entry_id, (name, body) in entries]
        reply: Any = await cfg.client.xreadgroup(
            self.subscriber.id,
            cfg.consumer,
            {cfg.stream: ">"},
            count=cfg.batch_size,
            block=max(1, int(block * 1000)),
        )
        if not reply:
            return []
        streams = reply.values() if isinstance(reply, dict) else (item[1] for item in reply)
        return [(text(entry_id), fields) for entries in streams for entry_id, fields in entries]

    async def _reclaim(self, *, own: bool) -> None:
        """Claim pending entries: this consumer's own (after a restart) or idle ones."""
        cfg = self.config
        idle = 0 if own else cfg.claim_idle_ms
        low = "-"
        while not self.stopping:
            rows: Any = await cfg.client.xpending_range(
                cfg.stream,
                self.subscriber.id,
                min=low,
                max="+",
                count=cfg.batch_size,
                consumername=cfg.consumer if own else None,
                idle=idle or None,
            )
            if not rows:
                return
            low = "(" + text(rows[-1]["message_id"])
            counts = {text(r["message_id"]): int(r["times_delivered"]) for r in rows}
            for entry_id in self._waiting.intersection(counts):
                del counts[entry_id]
            if counts:
                await self._claim_and_handle(counts, idle)

    async def _claim_and_handle(self, counts: dict[str, int], idle_ms: int) -> None:
        cfg = self.config
        claimed: Any = await cfg.client.xclaim(
            cfg.stream, self.subscriber.id, cfg.consumer, idle_ms, list(counts)
        )
        batch = [(text(i), fields, counts[text(i)] + 1) for i, fields in claimed]
        await self._handle(batch)

    async def _retry_due(self) -> None:
        while self._retries and self._retries[0][0] <= time.monotonic() and not self.stopping:
            _, entry_id, attempt_no, idle_ms = heapq.heappop(self._retries)
            self._waiting.discard(entry_id)
            cfg = self.config
            # The idle floor keeps this from stealing an entry a peer claimed meanwhile.
            claimed: Any = await cfg.client.xclaim(
                cfg.stream, self.subscriber.id, cfg.consumer, idle_ms, [entry_id]
            )
            await self._handle([(text(i), fields, attempt_no) for i, fields in claimed])

    async def _handle(self, batch: Iterable[Entry]) -> None:
        acks: list[str] = []
        self.busy = True
        try:
            for entry_id, fields, attempt_no in batch:
                if self.stopping:
                    break
                if await self._handle_one(entry_id, fields, attempt_no):
                    acks.append(entry_id)
        finally:
            self.busy = False
            if acks:
                await self.config.client.xack(self.config.stream, self.subscriber.id, *acks)

    async def _handle_one(
        self, entry_id: str, fields: Mapping[Any, Any] | None, attempt_no: int
    ) -> bool:
        """Deliver one entry; True when it should be acknowledged with the batch."""
        event = self._decode(entry_id, fields)
        if event is None or not self.subscriber.wants(event):
            return True
        retry = self.subscriber.retry
        if attempt_no > retry.max_attempts:
            note = (
                f"delivered {attempt_no - 1} times without an acknowledgement; the consumer "
                "probably died or was stopped while handling it"
            )
            await self._bury(entry_id, event, attempt_no - 1, note)
            return False
        error = await attempt(self.subscriber, event, self.container)
        if error is None:
            return True
        if attempt_no >= retry.max_attempts:
            await self._bury(entry_id, event, attempt_no, error)
            return False
        delay = retry.backoff(attempt_no)
        log_failure(self.subscriber, event, attempt_no, error, delay)
        due = (time.monotonic() + delay, entry_id, attempt_no + 1, int(delay * 1000))
        heapq.heappush(self._retries, due)
        self._waiting.add(entry_id)
        return False

    def _decode(self, entry_id: str, fields: Mapping[Any, Any] | None) -> Event | None:
        """The entry's event if this subscriber wants it; None for others and for junk."""
        if not fields:
            logger.error("stream entry %s is gone (trimmed before it was handled)", entry_id)
            return None
        name, body = next(iter(fields.items()))
        if not self.subscriber.matches(text(name)):
            return None
        try:
            return load_event(json.loads(body))
        except (KeyError, ValueError, TypeError, AttributeError):
            logger.exception("stream entry %s is not a loomwork event; acknowledged", entry_id)
            return None

    async def _bury(
        self, entry_id: str, event: Event, attempts: int, error: Exception | str
    ) -> None:
        log_dead_letter(self.subscriber, event.id, attempts, error)
        cfg = self.config
        record: dict[Any, Any] = {
            "subscriber": self.subscriber.id,
            "entry": entry_id,
            "attempts": str(attempts),
            "error": error if isinstance(error, str) else describe(error),
            "failed_at": repr(time.time()),
            "event": json.dumps(dump_event(event)),
        }
        async with cfg.client.pipeline(transaction=True) as pipe:
            pipe.xadd(cfg.dead_stream, record, maxlen=cfg.dead_maxlen, approximate=True)
            pipe.xack(cfg.stream, self.subscriber.id, entry_id)
            await pipe.execute()

    async def retire(self) -> None:
        """Leave the group when nothing is pending for this consumer (keeps XINFO tidy)."""
        cfg = self.config
        try:
            rows = await cfg.client.xpending_range(
                cfg.stream, self.subscriber.id, "-", "+", 1, consumername=cfg.consumer
            )
            if not rows:
                await cfg.client.xgroup_delconsumer(cfg.stream, self.subscriber.id, cfg.consumer)
        except ResponseError:
            logger.debug("consumer group %s is gone; nothing to retire", self.subscriber.id)
