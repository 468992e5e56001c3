"""The sync's progress and lock, one ``brand_sync_state`` row per sync name.

Exclusivity is a lease on the row: a run takes the lock with one conditional ``UPDATE``
(free, or expired), renews it after every page and clears it at the end. A run that
crashed leaves the lock until its lease expires; nothing else needs cleaning.

Progress: a *pass* reads the system from a start point (everything, or what changed
since the watermark) to the last page. After each committed page ``resume_cursor``
moves on, so a failed or crashed run's successor continues the same pass from the last
committed page; when a pass ends, ``watermark`` becomes the newest ``updated_at`` it saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from ulid import ULID

from loomwork.modules import utcnow

from .errors import SyncAlreadyRunningError
from .models import SyncState

STATE: sa.Table = SyncState.__table__  # type: ignore[assignment]
ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class PassStart:
    """Where a run starts reading: a pass id, the page number, cursor or ``updated_since``."""

    pass_id: str
    page_no: int
    cursor: str | None
    updated_since: datetime | None
    full: bool
    resumed: bool


def acquire_lock(engine: sa.Engine, name: str, owner: str, lease: float) -> None:
    """Take the lock of sync ``name`` for ``owner``, or raise :class:`SyncAlreadyRunningError`."""
    now = utcnow()
    with engine.begin() as conn:
        _ensure_row(conn, name)
        taken = conn.execute(
            STATE.update()
            .where(
                STATE.c.name == name,
                sa.or_(STATE.c.lock_owner.is_(None), STATE.c.lock_until < now),
            )
            .values(lock_owner=owner, lock_until=now + timedelta(seconds=lease))
        ).rowcount
        if taken == 1:
            return
        holder = conn.execute(
            sa.select(STATE.c.lock_owner, STATE.c.lock_until).where(STATE.c.name == name)
        ).one()
    raise SyncAlreadyRunningError(name, holder.lock_owner, holder.lock_until)


def renew_lock(engine: sa.Engine, name: str, owner: str, lease: float) -> None:
    """Extend ``owner``'s lease; raises if another run took the lock meanwhile."""
    with engine.begin() as conn:
        renewed = conn.execute(
            STATE.update()
            .where(STATE.c.name == name, STATE.c.lock_owner == owner)
            .values(lock_until=utcnow() + timedelta(seconds=lease))
        ).rowcount
    if renewed != 1:
        raise SyncAlreadyRunningError(name, "another run (this run's lease expired)", None)


def release_lock(engine: sa.Engine, name: str, owner: str) -> None:
    """Give the lock back (only if ``owner`` still holds it)."""
    with engine.begin() as conn:
        conn.execute(
            STATE.update()
            .where(STATE.c.name == name, STATE.c.lock_owner == owner)
            .values(lock_owner=None, lock_until=None)
        )


def read_state(engine: sa.Engine, name: str) -> dict[str, Any] | None:
    """The state row of sync ``name`` as a dict, or ``None`` before the first run."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(STATE).where(STATE.c.name == name)).mappings().first()
    return dict(row) if row is not None else None


def next_pass(state: dict[str, Any] | None, *, full: bool | None, full_every: int) -> PassStart:
    """Where the next run reads from (pure): the unfinished pass, or a new one.

    A new pass is full (``updated_since`` unset) when asked, when there is no watermark
    yet, or on every ``full_every``-th run; otherwise it starts just after the watermark.
    The brand system stamps each write with a strictly increasing ``updated_at``, so
    nothing newer than the watermark can share its timestamp.
    """
    state = state or {}
    runs = int(state.get("runs") or 0) + 1
    if state.get("resume_cursor") and state.get("pass_id") and not full:
        return PassStart(
            state["pass_id"],
            int(state["pages_done"]),
            state["resume_cursor"],
            None,
            bool(state.get("pass_full")),
            resumed=True,
        )
    watermark: datetime | None = state.get("watermark")
    by_count = full_every > 0 and runs % full_every == 0
    is_full = bool(full) or watermark is None or (full is None and by_count)
    since = None if is_full or watermark is None else watermark + ONE_MICROSECOND
    return PassStart(f"pass_{ULID()}", 0, None, since, is_full, resumed=False)


def begin_run(engine: sa.Engine, name: str, *, full: bool | None, full_every: int) -> PassStart:
    """Count a run and record the pass it starts or continues (call holding the lock)."""
    with engine.begin() as conn:
        _ensure_row(conn, name)
        state = conn.execute(sa.select(STATE).where(STATE.c.name == name)).mappings().one()
        start = next_pass(dict(state), full=full, full_every=full_every)
        values: dict[str, Any] = {"runs": STATE.c.runs + 1}
        if not start.resumed:
            values |= {
                "pass_id": start.pass_id,
                "pass_full": start.full,
                "pass_max_updated_at": None,
                "resume_cursor": None,
                "pages_done": 0,
            }
        conn.execute(STATE.update().where(STATE.c.name == name).values(values))
    return start


def advance(
    engine: sa.Engine,
    name: str,
    *,
    pass_id: str,
    page_no: int,
    next_cursor: str | None,
    page_max_updated_at: datetime | None,
    first_page_no: int | None = None,
) -> bool:
    """Record pages ``first_page_no`` (default ``page_no``) to ``page_no`` as committed.

    Returns ``False`` if they are already recorded. The last page (``next_cursor`` is
    ``None``) closes the pass: the watermark moves to the newest ``updated_at`` it saw.
    """
    first = page_no if first_page_no is None else first_page_no
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(STATE.c.pass_max_updated_at, STATE.c.pass_full, STATE.c.watermark).where(
                STATE.c.name == name, STATE.c.pass_id == pass_id, STATE.c.pages_done == first
            )
        ).first()
        if row is None:
            return False
        newest = _latest(row.pass_max_updated_at, page_max_updated_at)
        values: dict[str, Any] = {
            "pages_done": page_no + 1,
            "resume_cursor": next_cursor,
            "pass_max_updated_at": newest,
        }
        if next_cursor is None:
            values |= {"pass_id": None, "resume_cursor": None, "pages_done": 0}
            values["watermark"] = _latest(row.watermark, newest)
            if row.pass_full:
                values["last_full_at"] = utcnow()
        conn.execute(
            STATE.update()
            .where(STATE.c.name == name, STATE.c.pass_id == pass_id, STATE.c.pages_done == first)
            .values(values)
        )
    return True


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    known = [moment for moment in (first, second) if moment is not None]
    return max(known) if known else None


def _ensure_row(conn: sa.Connection, name: str) -> None:
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(STATE).values(name=name).on_conflict_do_nothing(index_elements=[STATE.c.name])
    )
