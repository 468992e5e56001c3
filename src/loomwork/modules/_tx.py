"""One database transaction per service call, or one shared by several calls.

The active transaction of each engine lives in a context variable, so service calls made
inside ``async with transaction(engine):`` (or ``service.transaction()``) join it instead
of opening their own. Events produced by writes are buffered on the transaction and handed
to their sinks only after it commits; a rollback drops them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar

import sqlalchemy as sa

from loomwork.events import Event, EventSink


class Transaction:
    """A connection inside ``BEGIN`` plus the events waiting for its commit."""

    __slots__ = ("_pending", "connection", "open")

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.open = True
        self._pending: list[tuple[EventSink, Sequence[Event]]] = []

    def stage(self, sink: EventSink | None, events: Sequence[Event]) -> None:
        """Hold ``events`` for ``sink`` until the transaction commits."""
        if sink is not None and events:
            self._pending.append((sink, events))

    def publish(self) -> None:
        """Hand the staged events to their sinks (the owner calls this after commit)."""
        for sink, events in self._pending:
            sink.emit(events)
        self._pending.clear()


_active: ContextVar[dict[sa.Engine, Transaction] | None] = ContextVar(
    "loomwork_modules_transactions", default=None
)


def current_transaction(engine: sa.Engine) -> Transaction | None:
    """The transaction this context has open on ``engine``, if any."""
    tx = (_active.get() or {}).get(engine)
    # A task started inside a transaction block inherits the context and may outlive it.
    return tx if tx is not None and tx.open else None


@contextmanager
def scope(engine: sa.Engine) -> Iterator[Transaction]:
    """Join the open transaction on ``engine`` or run a new one around the block."""
    joined = current_transaction(engine)
    if joined is not None:
        yield joined
        return
    with engine.connect() as connection:
        tx = Transaction(connection)
        token = _active.set({**(_active.get() or {}), engine: tx})
        try:
            with connection.begin():
                yield tx
        finally:
            tx.open = False
            _active.reset(token)
    tx.publish()


@asynccontextmanager
async def transaction(engine: sa.Engine) -> AsyncIterator[sa.Connection]:
    """Run every service call on ``engine`` inside the block in one transaction.

    Commits when the block ends, rolls back (and drops the staged events) if it raises.
    Nested blocks join the outer transaction. The calls inside run inline on the event
    loop (a call outside any block runs on the engine's worker thread), so keep the block
    to database calls: awaiting slow I/O here holds the transaction (and, on SQLite, the
    database write lock) open.
    """
    with scope(engine) as tx:
        yield tx.connection
