"""What both buses do around one handler call: isolate it, log its failure, stop workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from loomwork.events._event import Event
from loomwork.events._subscriber import Subscriber

logger = logging.getLogger("loomwork.events")


def describe(error: BaseException) -> str:
    """``"<ExceptionType>: <message>"``, the form kept in dead letters."""
    return f"{type(error).__name__}: {error}"


async def attempt(subscriber: Subscriber, event: Event, container: Any) -> Exception | None:
    """Run the handler once; return its exception instead of raising it."""
    try:
        await subscriber.invoke(event, container)
    except Exception as error:
        return error
    return None


def log_failure(
    subscriber: Subscriber, event: Event, attempt_no: int, error: BaseException, retry_in: float
) -> None:
    """Log a failed attempt that will be retried after ``retry_in`` seconds."""
    logger.warning(
        "subscriber %s failed on event %s (%s), attempt %d of %d; retrying in %.3gs",
        subscriber.id,
        event.id,
        event.name,
        attempt_no,
        subscriber.retry.max_attempts,
        retry_in,
        exc_info=error,
    )


def log_dead_letter(
    subscriber: Subscriber, event_id: str, attempts: int, error: Exception | str
) -> None:
    """Log that ``subscriber`` gave up on an event (with the last traceback, if any)."""
    logger.error(
        "subscriber %s gave up on event %s after %d attempts, dead-lettered: %s",
        subscriber.id,
        event_id,
        attempts,
        error if isinstance(error, str) else describe(error),
        exc_info=None if isinstance(error, str) else error,
    )


class Worker(Protocol):
    """A per-subscriber loop that can be stopped between two events."""

    task: asyncio.Task[None] | None
    busy: bool
    stopping: bool


async def stop_workers(workers: Sequence[Worker], grace: float) -> None:
    """Ask ``workers`` to stop; idle ones are cancelled at once, busy ones get ``grace``."""
    tasks: list[asyncio.Task[None]] = []
    for worker in workers:
        worker.stopping = True
        if worker.task is None:
            continue
        tasks.append(worker.task)
        if not worker.busy:
            worker.task.cancel()
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=grace)
    for task in late:
        task.cancel()
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(result, Exception):
            logger.error("event worker crashed", exc_info=result)
    for worker in workers:
        worker.task = None
