"""Running the pull sync: one exclusive run pages through the system, a workflow per page.

:func:`sync_brands_from_system` is what the scheduled job calls: it takes the sync's
lock (a second run meanwhile is refused with :class:`SyncAlreadyRunningError`), decides
where to start (the unfinished pass, what changed since the watermark, or everything on
a full reconciliation), then reads the pages in order, two pages' worth of list requests
read ahead (a page is ``batch_pages`` requests joined). A page the store
already holds entirely (:mod:`.settled`) is counted unchanged without a stored run, and
such pages are recorded as done together about once a second; every other page runs
``sync-brands-from-system`` with a transaction id made of the run and the page. At most
three pages are in memory at a time. A page that fails is compensated by its own run and
the error is raised; the pages before it stay committed and the next run continues
after them.

:func:`dry_run_brand_sync` reads the same pages and plans them without writing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from ulid import ULID

from loomwork.container import Container
from loomwork.workflows import WorkflowEngine

from ...modules.brand import (
    BRAND_MODULE,
    BrandModuleService,
    BrandPage,
    BrandSystemError,
    SyncAlreadyRunningError,
)
from ...modules.brand.sync_state import (
    PassStart,
    acquire_lock,
    advance,
    begin_run,
    next_pass,
    read_state,
    release_lock,
    renew_lock,
)
from .plan import StoreBrand, plan_sync
from .settled import SettledCheck
from .steps.load_store_brands import find_store_rows, record_keys
from .workflow import sync_brands_from_system_workflow

logger = logging.getLogger("brand_sync.pull")

SYNC_NAME = "system"
PROGRESS_SECONDS = 5.0
"""Seconds between two progress lines in the log on long syncs."""
RECORD_SECONDS = 1.0
"""Seconds between two records of settled pages, and between two lease renewals."""


@dataclass(slots=True)
class SyncReport:
    """What one run did, summed over its pages."""

    run_id: str
    full: bool
    resumed: bool
    pages: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    quarantined: int = 0
    settled_pages: int = 0
    """Pages whose records were all unchanged, counted without a workflow run."""

    def add_page(self, result: dict[str, Any]) -> None:
        """Count one page's workflow result."""
        self.pages += 1
        self.created += int(result["created"])
        self.updated += int(result["updated"])
        self.deleted += int(result["deleted"])
        self.unchanged += int(result["unchanged"])
        self.quarantined += int(result["quarantined"])

    def add_settled(self, page: BrandPage) -> None:
        """Count a page found settled (every record unchanged) without a workflow run."""
        self.pages += 1
        self.settled_pages += 1
        self.unchanged += len(page.listed)

    @property
    def records(self) -> int:
        """System records handled so far, whatever became of them."""
        return self.created + self.updated + self.deleted + self.unchanged + self.quarantined

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


PageHook = Callable[[SyncReport], None]
"""Called after every committed page with the run's report so far (a progress bar)."""


class ProgressLog:
    """A progress line in the log at most every ``every`` seconds, for long syncs."""

    def __init__(
        self,
        log: logging.Logger,
        every: float = PROGRESS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._every = every
        self._clock = clock
        self._began = self._last = clock()

    def page_done(self, report: SyncReport) -> None:
        """Log the totals if the last line is at least ``every`` seconds old."""
        now = self._clock()
        if now - self._last < self._every:
            return
        self._last = now
        rate = report.records / max(now - self._began, 1e-9)
        self._log.info(
            "brand sync %s: %d records in %d pages (%.0f/s): %d created, %d updated, "
            "%d deleted, %d unchanged, %d quarantined so far",
            report.run_id,
            report.records,
            report.pages,
            rate,
            report.created,
            report.updated,
            report.deleted,
            report.unchanged,
            report.quarantined,
        )


@dataclass(slots=True)
class DryRunPlan:
    """What a run would do now: counts per bucket, nothing written."""

    full: bool
    pages: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("created", "updated", "deleted", "unchanged", "quarantined"), 0
        )
    )


def brand_service_of(container: Container) -> BrandModuleService:
    """The brand module's service registered in ``container``."""
    service: BrandModuleService = container.resolve(BRAND_MODULE)
    return service


async def sync_brands_from_system(
    container: Container,
    *,
    full: bool | None = None,
    owner: str | None = None,
    on_page: PageHook | None = None,
) -> SyncReport:
    """Run the pull sync once; see the module docstring.

    ``full=True`` forces a full reconciliation, ``False`` forbids the periodic one.
    Progress goes to the container's ``logger`` every few seconds, and to ``on_page``
    after every page. Raises :class:`SyncAlreadyRunningError` when another run holds the
    lock, and the page's error (a :class:`BrandSystemError`, say) when a page fails.
    """
    service = brand_service_of(container)
    options = service.options
    run_id = f"run_{ULID()}"
    holder = owner or f"{socket.gethostname()}:{os.getpid()}:{run_id}"
    async with _holding_lock(service.engine, holder, options.lock_seconds):
        await _recover_interrupted_pages(container)
        start = begin_run(service.engine, SYNC_NAME, full=full, full_every=options.full_sync_every)
        report = SyncReport(run_id, start.full, start.resumed)
        progress = ProgressLog(container.resolve("logger", logger))
        hooks: list[PageHook] = [progress.page_done]
        if on_page is not None:
            hooks.append(on_page)
        await _run_pages(container, start, report, holder, hooks)
    return report


@asynccontextmanager
async def _holding_lock(engine: sa.Engine, holder: str, lease: float) -> AsyncIterator[None]:
    acquire_lock(engine, SYNC_NAME, holder, lease)
    # A page can take longer than the lease (a long Retry-After, say): renew in the
    # background so the lock only expires when this process is gone.
    renewer = asyncio.create_task(_renew_forever(engine, holder, lease))
    try:
        yield
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError, SyncAlreadyRunningError):
            await renewer
        release_lock(engine, SYNC_NAME, holder)


async def _renew_forever(engine: sa.Engine, holder: str, lease: float) -> None:
    while True:
        await asyncio.sleep(lease / 3)
        renew_lock(engine, SYNC_NAME, holder, lease)


async def _run_pages(
    container: Container,
    start: PassStart,
    report: SyncReport,
    holder: str,
    hooks: list[PageHook],
) -> None:
    service = brand_service_of(container)
    settled = _SettledPages(service.engine, start.pass_id)
    lease = _LeaseKeeper(service.engine, holder, service.options.lock_seconds)
    client = service.client
    cursor, page_no = start.cursor, start.page_no
    await client.read_ahead(cursor=cursor, updated_since=_first_since(start, cursor))
    is_settled = SettledCheck(service)
    await is_settled.refresh()
    while True:
        since = _first_since(start, cursor)
        page = await _fetch(service, cursor, since)
        if isinstance(page, BrandPage) and await is_settled(page):
            settled.add(page_no, page)
            report.add_settled(page)
            cursor = page.next_cursor
        else:
            # The page's stored run retrieves this very page (or meets the same error).
            client.hold(page, cursor=cursor, updated_since=since)
            settled.record()
            result = await _run_page(container, start, report, page_no, cursor=cursor, since=since)
            await is_settled.page_ran(int(result["quarantined"]))
            report.add_page(result)
            cursor = result["next_cursor"]
        for hook in hooks:
            hook(report)
        lease.keep()
        if cursor is None:
            settled.record()
            return
        if settled.due():
            settled.record()
        page_no += 1


def _first_since(start: PassStart, cursor: str | None) -> datetime | None:
    # Only a pass's first page starts from the watermark; cursors carry on from it.
    return start.updated_since if cursor is None else None


async def _fetch(
    service: BrandModuleService, cursor: str | None, since: datetime | None
) -> BrandPage | BrandSystemError:
    try:
        return await service.client.fetch_page(cursor=cursor, updated_since=since)
    except BrandSystemError as error:
        return error


async def _run_page(
    container: Container,
    start: PassStart,
    report: SyncReport,
    page_no: int,
    *,
    cursor: str | None,
    since: datetime | None,
) -> dict[str, Any]:
    page_input = {
        "sync": SYNC_NAME,
        "pass_id": start.pass_id,
        "page_no": page_no,
        "cursor": cursor,
        "updated_since": since.isoformat() if since is not None else None,
    }
    run = await sync_brands_from_system_workflow(container).run(
        input=page_input, transaction_id=page_transaction_id(report.run_id, page_no, cursor)
    )
    result: dict[str, Any] = run.result
    return result


class _SettledPages:
    """Settled pages not yet recorded as done: recorded together, about once a second.

    Nothing is written for them in between; after a crash the pages since the last
    record are read again, which costs reads only.
    """

    def __init__(self, engine: sa.Engine, pass_id: str) -> None:
        self._engine = engine
        self._pass_id = pass_id
        self._first: int | None = None
        self._last = 0
        self._next_cursor: str | None = None
        self._newest: str | None = None
        self._since = 0.0

    def add(self, page_no: int, page: BrandPage) -> None:
        """Count ``page`` (number ``page_no``) as settled."""
        if self._first is None:
            self._first, self._since = page_no, time.monotonic()
        self._last, self._next_cursor = page_no, page.next_cursor
        stamps = [stamp for stamp in (self._newest, page.max_updated_at) if stamp]
        self._newest = max(stamps, default=None)

    def due(self) -> bool:
        """True once the oldest unrecorded page is a second old."""
        return self._first is not None and time.monotonic() - self._since >= RECORD_SECONDS

    def record(self) -> None:
        """Record the settled pages as done (the pass's end too, if the last was its last)."""
        if self._first is None:
            return
        advance(
            self._engine,
            SYNC_NAME,
            pass_id=self._pass_id,
            page_no=self._last,
            next_cursor=self._next_cursor,
            page_max_updated_at=datetime.fromisoformat(self._newest) if self._newest else None,
            first_page_no=self._first,
        )
        self._first = None
        self._newest = None


class _LeaseKeeper:
    """Renews the sync's lock between pages, at most once a second."""

    def __init__(self, engine: sa.Engine, holder: str, lease: float) -> None:
        self._engine = engine
        self._holder = holder
        self._lease = lease
        self._renewed = time.monotonic()

    def keep(self) -> None:
        """Renew the lease if the last renewal is a second old (raises if it was lost)."""
        now = time.monotonic()
        if now - self._renewed >= RECORD_SECONDS:
            renew_lock(self._engine, SYNC_NAME, self._holder, self._lease)
            self._renewed = now


def page_transaction_id(run_id: str, page_no: int, cursor: str | None) -> str:
    """The page run's transaction id: the sync run, the page number and its cursor."""
    digest = hashlib.sha256((cursor or "start").encode()).hexdigest()[:16]
    return f"brand-sync:{run_id}:p{page_no}:{digest}"


async def _recover_interrupted_pages(container: Container) -> None:
    # A page run whose process died still holds the batch it was writing: finish or
    # compensate it before planning from the recorded progress.
    engine: WorkflowEngine | None = container.resolve("workflow_engine", None)
    if engine is not None:
        log: logging.Logger = container.resolve("logger", logger)
        for run in await engine.recover():
            log.info("recovered page run %s: %s", run.transaction.id, run.state.value)


async def dry_run_brand_sync(container: Container, *, full: bool | None = None) -> DryRunPlan:
    """Plan the next run page by page and count the outcome; writes nothing at all.

    Pages are planned independently against the store as it is, so a name taken by a
    brand that an earlier page would create is not noticed (the real run quarantines it).
    """
    service = brand_service_of(container)
    state = read_state(service.engine, SYNC_NAME)
    start = next_pass(state, full=full, full_every=service.options.full_sync_every)
    plan = DryRunPlan(start.full)
    async for page in service.client.iter_pages(
        cursor=start.cursor, updated_since=start.updated_since
    ):
        rows = await find_store_rows(service, record_keys(page.records))
        page_plan = plan_sync(page.records, [StoreBrand.from_record(r) for r in rows], page.bad)
        plan.pages += 1
        for key, value in page_plan.counts().items():
            plan.counts[key] += value
    return plan
