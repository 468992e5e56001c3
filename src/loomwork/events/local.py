"""The in-process event bus: the default, and the reference the Redis bus is tested against.

Each subscriber gets its own asyncio task reading a queue, so a slow or failing handler
delays only its own subscriber. Nothing survives the process: call :meth:`drain` before
:meth:`stop` when queued events matter.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from typing_extensions import override

from loomwork.errors import ConflictError
from loomwork.events._batch import EventBatch, parts_of
from loomwork.events._delivery import (
    attempt,
    describe,
    log_dead_letter,
    log_failure,
    stop_workers,
)
from loomwork.events._event import Event
from loomwork.events._port import DeadLetter, EventBus
from loomwork.events._subscriber import Subscriber, seconds


def _running_error(subscriber: Subscriber) -> ConflictError:
    return ConflictError(
        f"cannot subscribe {subscriber.id!r} to a running event bus; subscribe before start()"
    )


class _LocalWorker:
    """Delivers one subscriber's queue, one event at a time."""

    __slots__ = ("bus", "busy", "queue", "stopping", "subscriber", "task", "wake")

    def __init__(self, bus: LocalEventBus, subscriber: Subscriber) -> None:
        self.bus = bus
        self.subscriber = subscriber
        self.queue: deque[tuple[Event, int]] = deque()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.busy = False
        self.stopping = False

    def push(self, event: Event, attempt_no: int) -> None:
        self.queue.append((event, attempt_no))
        self.wake.set()

    def start(self) -> None:
        self.stopping = False
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"loomwork.events:{self.subscriber.id}"
        )

    async def _run(self) -> None:
        queue = self.queue
        while not self.stopping:
            if not queue:
                self.wake.clear()
                await self.wake.wait()
                continue
            item = queue.popleft()
            self.busy = True
            try:
                await self.bus._deliver(self, *item)
            except asyncio.CancelledError:
                queue.appendleft(item)  # cancelled mid-handler by stop(): keep it for restart
                raise
            finally:
                self.busy = False


class LocalEventBus(EventBus):
    """In-process bus; ``LocalEventBus(container)``.

    ``stop_timeout`` is how long :meth:`stop` lets running handlers finish. Dead letters are
    kept in memory and returned by :meth:`dead_letters`.
    """

    def __init__(self, container: Any = None, *, stop_timeout: timedelta | float = 5.0) -> None:
        super().__init__(container)
        self._stop_timeout = seconds(stop_timeout)
        self._workers: list[_LocalWorker] = []
        self._routes: dict[str, list[_LocalWorker]] = {}
        self._dead: list[DeadLetter] = []
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._running = False

    @override
    def subscribe(self, subscriber: Subscriber) -> None:
        if self._running:
            raise _running_error(subscriber)
        self._registry.add(subscriber)
        self._workers.append(_LocalWorker(self, subscriber))
        self._routes.clear()

    def _route(self, name: str) -> list[_LocalWorker]:
        workers = self._routes.get(name)
        if workers is None:
            workers = [w for w in self._workers if w.subscriber.matches(name)]
            self._routes[name] = workers
        return workers

    @override
    async def publish(self, events: Sequence[Event]) -> None:
        for part in parts_of(events):
            if isinstance(part, EventBatch):
                self._publish_batch(part)
                continue
            for event in part:
                for worker in self._route(event.name):
                    if worker.subscriber.wants(event):
                        self._push(worker, event)
        if self._pending:
            self._idle.clear()

    def _publish_batch(self, batch: EventBatch) -> None:
        # Alike events: routed once, and skipped by metadata once, before any is built.
        for worker in self._route(batch.name):
            if worker.subscriber.wants_metadata(batch.metadata):
                for event in batch:
                    if worker.subscriber.wants(event):
                        self._push(worker, event)

    def _push(self, worker: _LocalWorker, event: Event) -> None:
        self._pending += 1
        worker.push(event, 1)

    @override
    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        for worker in self._workers:
            worker.start()

    @override
    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        await stop_workers(self._workers, self._stop_timeout)

    @override
    async def drain(self, timeout: timedelta | float = 10.0) -> None:
        if not self._running:
            raise ConflictError("the event bus is not started; call start() before drain()")
        try:
            await asyncio.wait_for(self._idle.wait(), seconds(timeout))
        except TimeoutError:
            raise TimeoutError(
                f"{self._pending} deliveries still pending after {seconds(timeout):g}s"
            ) from None

    @override
    async def dead_letters(self, subscriber_id: str | None = None) -> list[DeadLetter]:
        return [d for d in self._dead if subscriber_id in (None, d.subscriber_id)]

    async def _deliver(self, worker: _LocalWorker, event: Event, attempt_no: int) -> None:
        subscriber = worker.subscriber
        error = await attempt(subscriber, event, self.container)
        if error is not None:
            if attempt_no < subscriber.retry.max_attempts:
                delay = subscriber.retry.backoff(attempt_no)
                log_failure(subscriber, event, attempt_no, error, delay)
                asyncio.get_running_loop().call_later(delay, worker.push, event, attempt_no + 1)
                return
            log_dead_letter(subscriber, event.id, attempt_no, error)
            self._dead.append(
                DeadLetter(subscriber.id, event, attempt_no, describe(error), time.time())
            )
        self._pending -= 1
        if not self._pending:
            self._idle.set()
