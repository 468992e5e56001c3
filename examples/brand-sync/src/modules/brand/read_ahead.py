"""Pages fetched before they are asked for: a chain that follows the cursors.

Keyset pages come one after another: page n+1's cursor is only known once page n is
decoded. A page read ahead therefore starts the next one as soon as it is decoded, up
to ``depth`` pages beyond the one the caller holds, so the brand system prepares pages
back to back while the caller works on the current one. Every start waits until the
request is on the wire, because the caller's database writes do not give the event
loop back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Generic, Protocol, TypeVar

PageKey = tuple[str | None, str | None, bool, int]
"""``(cursor, updated_since, include_deleted, limit)`` of a list request."""


class _Paged(Protocol):
    @property
    def next_cursor(self) -> str | None: ...


Page = TypeVar("Page", bound=_Paged)

_request_sent: ContextVar[asyncio.Event | None] = ContextVar("request_sent", default=None)
_BODY_SENT = frozenset({"http11.send_request_body.complete", "http2.send_request_body.complete"})


async def trace_request(event: str, _info: Mapping[str, Any]) -> None:
    """Httpcore's ``trace`` hook: tells a page read ahead that its request is out."""
    if event in _BODY_SENT and (sent := _request_sent.get()) is not None:
        sent.set()


class ReadAhead(Generic[Page]):
    """The chain of pages read ahead of a caller, at most ``depth`` long."""

    def __init__(self, fetch: Callable[[PageKey], Awaitable[Page]], depth: int = 2) -> None:
        self._fetch = fetch
        self._depth = depth
        self._tasks: dict[PageKey, asyncio.Future[Page]] = {}
        self._sent: dict[PageKey, asyncio.Event] = {}
        self._taken: asyncio.Future[Page] | None = None

    async def start(self, key: PageKey) -> None:
        """Read ``key`` ahead (dropping a chain that does not hold it); wait till it is sent."""
        if key not in self._tasks:
            self.drop()
            self._launch(key)
        await self._on_the_wire()

    def take(self, key: PageKey) -> asyncio.Future[Page] | None:
        """The page read ahead for ``key``, if any; the chain moves on past it."""
        task = self._tasks.pop(key, None)
        self._sent.pop(key, None)
        if task is not None:
            self._taken = task
            self._extend(key, task)
        return task

    async def settle(self) -> None:
        """Wait until the chain's newest request is on the wire."""
        await self._on_the_wire()

    def drop(self) -> list[asyncio.Future[Page]]:
        """Forget the chain; returns its pages (cancelled when still being fetched)."""
        dropped, self._tasks, self._sent = list(self._tasks.values()), {}, {}
        self._taken = None
        for task in dropped:
            discard(task)
        return dropped

    def _launch(self, key: PageKey) -> None:
        sent = asyncio.Event()
        task = asyncio.ensure_future(self._run(key, sent))
        task.add_done_callback(lambda done: self._chain(key, done))
        self._tasks[key] = task
        self._sent[key] = sent

    async def _run(self, key: PageKey, sent: asyncio.Event) -> Page:
        _request_sent.set(sent)  # the task's own context: only its requests signal
        try:
            return await self._fetch(key)
        finally:
            sent.set()

    def _chain(self, key: PageKey, task: asyncio.Future[Page]) -> None:
        # A page done: the chain continues from it if it is the newest, or if the caller
        # took it while it was still being fetched and nothing follows it yet.
        if self._tasks.get(key) is task or (not self._tasks and self._taken is task):
            self._extend(key, task)

    def _extend(self, key: PageKey, task: asyncio.Future[Page]) -> None:
        # Continue after the newest page of the chain (or after ``task``, if it was the last).
        if self._tasks:
            key, task = next(reversed(self._tasks.items()))
        if len(self._tasks) >= self._depth or not task.done() or task.cancelled():
            return
        if task.exception() is not None:
            return
        following = task.result().next_cursor
        if following is not None:
            self._launch((following, None, key[2], key[3]))

    async def _on_the_wire(self) -> None:
        if not self._tasks:
            return
        key, newest = next(reversed(self._tasks.items()))
        sent = self._sent.get(key)
        if newest.done() or sent is None or sent.is_set():
            return
        waiter = asyncio.ensure_future(sent.wait())
        either: set[asyncio.Future[Any]] = {newest, waiter}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()


def discard(task: asyncio.Future[Any]) -> None:
    """Cancel a fetch still running; retrieve a finished one's error (no "never retrieved")."""
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


__all__ = ["PageKey", "ReadAhead", "discard", "trace_request"]
