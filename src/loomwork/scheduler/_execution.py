"""Running one claimed tick: call the handler, keep its lease alive, record the outcome."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from loomwork.container import Container
from loomwork.scheduler._clock import Clock
from loomwork.scheduler._records import JobRun, RunOutcome
from loomwork.scheduler.stores._port import ScheduleStore

__all__ = ["Handler", "RunContext", "current_run", "execute"]

Handler = Callable[[Container], Any]
"""A job handler: ``async def handler(container)`` or a plain ``def`` (run in a thread)."""

logger = logging.getLogger("loomwork.scheduler")

CANCELLED_ERROR = "cancelled: the scheduler stopped before the run finished"
MAX_ERROR_LENGTH = 4000
_FINISH_ATTEMPTS = 5
_current: ContextVar[JobRun] = ContextVar("loomwork_scheduler_current_run")


def current_run() -> JobRun:
    """The record of the tick being handled (job, fire time, instance, ...).

    Call it from inside a job handler, sync or async. Raises :class:`LookupError` anywhere
    else.
    """
    try:
        return _current.get()
    except LookupError:
        raise LookupError(
            "current_run() is only available inside a scheduled job handler"
        ) from None


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a run needs from its scheduler."""

    store: ScheduleStore
    clock: Clock
    container: Container
    instance_id: str
    lease: timedelta


async def execute(context: RunContext, handler: Handler, run: JobRun) -> JobRun:
    """Run ``handler`` for the claimed ``run`` and record how it ended; never raises its error.

    Cancelled runs are recorded ``failed`` (:data:`CANCELLED_ERROR`) and the cancellation is
    re-raised. A sync handler goes on in its thread after a cancellation: Python cannot
    interrupt it.
    """
    _current.set(run)
    heartbeat = asyncio.create_task(_heartbeat(context, run), name=f"heartbeat {run.job}")
    try:
        error = await _call(context, handler, run)
    except asyncio.CancelledError:
        await _stop(heartbeat)
        await _finish(context, run, CANCELLED_ERROR)
        raise
    await _stop(heartbeat)
    return await _finish(context, run, error)


async def _call(context: RunContext, handler: Handler, run: JobRun) -> str | None:
    try:
        if inspect.iscoroutinefunction(handler):
            await handler(context.container)
        else:
            result = await asyncio.to_thread(handler, context.container)
            if inspect.isawaitable(result):
                await result
    except Exception as exc:
        logger.exception("job %r (tick %s) failed", run.job, run.fire_time.isoformat())
        return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
    return None


async def _finish(context: RunContext, run: JobRun, error: str | None) -> JobRun:
    outcome = RunOutcome.FAILED if error is not None else RunOutcome.SUCCEEDED
    finished_at = context.clock.now()
    for attempt in range(1, _FINISH_ATTEMPTS + 1):
        try:
            await context.store.finish(
                run.job, run.fire_time, outcome=outcome, finished_at=finished_at, error=error
            )
        except Exception:
            # The record stays `running`; its lease runs out and a later claim marks it
            # abandoned, so giving up here loses the outcome, not the schedule.
            logger.warning(
                "job %r: could not record the outcome (attempt %d of %d)",
                run.job,
                attempt,
                _FINISH_ATTEMPTS,
                exc_info=True,
            )
            await context.clock.sleep_until(context.clock.now() + timedelta(seconds=attempt))
        else:
            break
    return replace(run, outcome=outcome, finished_at=finished_at, error=error, lease_until=None)


async def _heartbeat(context: RunContext, run: JobRun) -> None:
    while True:
        await context.clock.sleep_until(context.clock.now() + context.lease / 3)
        try:
            renewed = await context.store.renew_lease(
                run.job,
                run.fire_time,
                instance_id=context.instance_id,
                lease_until=context.clock.now() + context.lease,
            )
        except Exception:
            logger.warning("job %r: lease renewal failed", run.job, exc_info=True)
            continue
        if not renewed:
            logger.warning(
                "job %r: the run's lease was lost (marked abandoned); it goes on and its "
                "outcome will still be recorded",
                run.job,
            )


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
