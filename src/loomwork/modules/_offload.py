"""Service calls off the event loop: each engine's database work on its own worker thread.

A call's statements and commit run on a worker thread, so the event loop keeps serving
(HTTP answers, other tasks, timers) while the database works; the drivers release the GIL
while a statement runs. One thread per engine runs the calls in the order they were made,
as running them inline on the loop did.

Calls stay on the loop when they join a transaction opened by ``transaction()`` (its
connection belongs to the caller's block) and when the engine's pool ties connections to
threads (SQLite in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from loomwork.modules._tx import current_transaction

T = TypeVar("T")

_workers: weakref.WeakKeyDictionary[sa.Engine, ThreadPoolExecutor] = weakref.WeakKeyDictionary()
_workers_lock = threading.Lock()


def can_leave_loop(engine: sa.Engine) -> bool:
    """True when a call on ``engine`` may run on the engine's worker thread."""
    if isinstance(engine.pool, SingletonThreadPool | StaticPool):
        return False
    return current_transaction(engine) is None


async def on_worker(engine: sa.Engine, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` on ``engine``'s worker thread, in a copy of the caller's context.

    A cancelled caller still waits for the work to end (it cannot be stopped between a
    statement and its commit), then sees the cancellation: the same outcome as a call
    that ran inline and was cancelled at its next ``await``.
    """
    context = contextvars.copy_context()
    future = asyncio.get_running_loop().run_in_executor(
        _worker(engine), partial(context.run, work, *args)
    )
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: the caller only learns of the cancellation
        raise


def _worker(engine: sa.Engine) -> ThreadPoolExecutor:
    with _workers_lock:
        worker = _workers.get(engine)
        if worker is None:
            worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loomwork-db")
            _workers[engine] = worker
            weakref.finalize(engine, worker.shutdown, wait=False)
        return worker
