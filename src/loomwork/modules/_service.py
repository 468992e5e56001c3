"""``ModuleService``: the base of module services, with data verbs generated per model."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import sqlalchemy as sa

from loomwork.errors import ConflictError
from loomwork.events import Event, EventBatch, EventChain, EventSink, current_event_sink
from loomwork.modules._ids import new_ids
from loomwork.modules._model import Model
from loomwork.modules._offload import can_leave_loop, on_worker
from loomwork.modules._table import ModelInfo
from loomwork.modules._tx import scope, transaction

T = TypeVar("T")
Change = tuple[str, str]


class ModuleService:
    """Base class of a module's main service.

    Name the models in the class statement and the service gets, for each, the verbs
    ``create_<plural>``, ``update_<plural>``, ``upsert_<plural>``, ``delete_<plural>``,
    ``soft_delete_<plural>``, ``restore_<plural>``, ``retrieve_<singular>``,
    ``list_<plural>`` and ``list_and_count_<plural>``::

        class BrandModuleService(ModuleService, models=[Brand]):
            def __init__(self, engine, *, options=None, event_sink=None):
                super().__init__(engine, options=options, event_sink=event_sink)
                self.client = BrandClient(options)

    Every call runs in one transaction (or joins the one opened by :meth:`transaction`),
    returns JSON-ready dicts, and after the commit hands ``<singular>.created|updated|
    deleted|restored`` events, one per row with ``{"id": ...}``, to the current sink
    (``loomwork.events.use_event_sink``: inside a workflow step, the step's, so they are
    staged with the run) or else to ``event_sink``. A method the subclass defines itself
    is kept; the generated one is then not installed.

    The database work of a call runs on the engine's worker thread, so the event loop
    stays free meanwhile (:meth:`_read_async` and :meth:`_write_async` for a subclass's
    own queries); calls inside a :meth:`transaction` block run inline on the loop.
    """

    models: ClassVar[tuple[type[Model], ...]] = ()

    def __init_subclass__(cls, *, models: Sequence[type[Model]] | None = None, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if models is not None:
            from loomwork.modules._verbs import install_verbs

            cls.models = tuple(models)
            install_verbs(cls, cls.models)

    def __init__(
        self, engine: sa.Engine, *, options: Any = None, event_sink: EventSink | None = None
    ) -> None:
        self._engine = engine
        self._options = options
        self._event_sink = event_sink

    @property
    def engine(self) -> sa.Engine:
        """The engine the service writes to."""
        return self._engine

    @property
    def options(self) -> Any:
        """The module options (validated by the module's options schema), if any."""
        return self._options

    @property
    def event_sink(self) -> EventSink | None:
        """Where events of committed writes go outside a workflow step (``None`` drops them)."""
        return self._event_sink

    def transaction(self) -> AbstractAsyncContextManager[sa.Connection]:
        """``async with service.transaction():`` runs the calls inside in one transaction.

        Calls to any service on the same engine join it; events are emitted after it
        commits and dropped if it rolls back.
        """
        return transaction(self._engine)

    async def _read_async(self, work: Callable[[sa.Connection], T]) -> T:
        """``work(connection)`` in a read transaction, on the engine's worker thread.

        Subclasses run their own queries this way; see :mod:`loomwork.modules._offload`
        for when the call stays on the event loop instead.
        """
        if not can_leave_loop(self._engine):
            return self._read(work)
        return await on_worker(self._engine, self._read, work)

    async def _write_async(
        self,
        info: ModelInfo,
        work: Callable[[sa.Connection], tuple[T, list[Change]]],
        event_metadata: Mapping[str, Any] | None,
    ) -> T:
        """A write (``work`` and its events) on the engine's worker thread.

        The events reach the sink from the event loop, after the commit.
        """
        sink = self._sink()
        if not can_leave_loop(self._engine):
            return self._write_to(sink, info, work, event_metadata)
        # Sinks are called from the loop, as when the write ran inline.
        held = _HeldEvents() if sink is not None else None
        try:
            result: T = await on_worker(
                self._engine, self._write_to, held, info, work, event_metadata
            )
        finally:
            # Also when the caller was cancelled: the write committed all the same.
            if sink is not None and held is not None:
                for events in held.parts:
                    sink.emit(events)
        return result

    def _read(self, work: Callable[[sa.Connection], T]) -> T:
        with scope(self._engine) as tx:
            return work(tx.connection)

    def _sink(self) -> EventSink | None:
        sink = current_event_sink()
        return self._event_sink if sink is None else sink

    def _write_to(
        self,
        sink: EventSink | None,
        info: ModelInfo,
        work: Callable[[sa.Connection], tuple[T, list[Change]]],
        event_metadata: Mapping[str, Any] | None,
    ) -> T:
        with scope(self._engine) as tx:
            try:
                result, changes = work(tx.connection)
            except sa.exc.IntegrityError as error:
                raise ConflictError(
                    f"{info.name}: the write breaks a database constraint: {error.orig}"
                ) from error
            if sink is not None:
                tx.stage(sink, _events(info, changes, event_metadata))
        return result

    if TYPE_CHECKING:
        # The verbs are generated per model at class creation; type checkers see them here.
        def __getattr__(self, name: str) -> Any: ...


def _events(
    info: ModelInfo, changes: list[Change], metadata: Mapping[str, Any] | None
) -> Sequence[Event]:
    """The events of ``changes``: one :class:`EventBatch` per run of one action.

    A bulk write's rows change alike, so its events stay two lists (ids and data) until
    someone needs them as objects.
    """
    ids = new_ids("evt", len(changes))
    now = time.time()
    batches: list[Sequence[Event]] = []
    start = 0
    for action, group in groupby(changes, key=itemgetter(0)):
        data = [{"id": record_id} for _, record_id in group]
        end = start + len(data)
        batches.append(EventBatch(f"{info.singular}.{action}", ids[start:end], data, metadata, now))
        start = end
    return batches[0] if len(batches) == 1 else EventChain(batches)


class _HeldEvents:
    """A sink that keeps what it is given as given, for the event loop to pass on."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[Sequence[Event]] = []

    def emit(self, events: Sequence[Event]) -> None:
        """Keep ``events`` (a batch stays a batch)."""
        self.parts.append(events)
