"""Tables of the brand module: brands, quarantined system records and the sync state."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from loomwork.modules import Model

MAX_NAME_LENGTH = 255


class Brand(Model):
    """A brand of the store, linked to its copy in the brand system.

    ``external_id`` is the brand system's id. ``synced_name`` and ``system_updated_at``
    remember the version both sides last agreed on: the sync compares against them to
    tell a local edit from a remote one and to skip versions it has already seen
    (including the echo of its own pushes).
    """

    __tablename__ = "brand"
    __id_prefix__ = "brand"
    __table_args__ = (
        sa.Index(
            "uq_brand_live_name",
            "name",
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        ),
    )

    name: Mapped[str] = mapped_column(sa.String(MAX_NAME_LENGTH))
    external_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True, default=None)
    synced_name: Mapped[str | None] = mapped_column(sa.String(MAX_NAME_LENGTH), default=None)
    system_updated_at: Mapped[datetime | None] = mapped_column(default=None)


class QuarantinedRecord(Model):
    """A record from another system that could not be synced, kept for an operator.

    One row per ``(source, record_id)`` (``key``); seeing the record again updates
    ``last_seen_at``, the field and the reason. The row is removed once the record syncs.
    """

    __tablename__ = "brand_quarantine"
    __id_prefix__ = "bquar"
    __singular__ = "quarantined_record"
    __plural__ = "quarantined_records"

    key: Mapped[str] = mapped_column(sa.String(600), unique=True)
    source: Mapped[str] = mapped_column(sa.String(100))
    record_id: Mapped[str] = mapped_column(sa.String(255))
    field: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[str] = mapped_column(sa.Text)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class SyncState(Model):
    """Progress and lock of one sync (``name``), a single row per sync.

    ``watermark`` is the newest system ``updated_at`` covered by a finished pass;
    ``resume_cursor`` is where an unfinished pass continues; ``lock_owner`` and
    ``lock_until`` make runs exclusive (a lease, so a crashed owner's lock expires).
    """

    __tablename__ = "brand_sync_state"
    __id_prefix__ = "bsync"
    __singular__ = "sync_state"
    __plural__ = "sync_states"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    watermark: Mapped[datetime | None] = mapped_column(default=None)
    pass_id: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    pass_full: Mapped[bool] = mapped_column(default=False)
    pass_max_updated_at: Mapped[datetime | None] = mapped_column(default=None)
    resume_cursor: Mapped[str | None] = mapped_column(sa.Text, default=None)
    pages_done: Mapped[int] = mapped_column(default=0)
    runs: Mapped[int] = mapped_column(default=0)
    last_full_at: Mapped[datetime | None] = mapped_column(default=None)
    lock_owner: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    lock_until: Mapped[datetime | None] = mapped_column(default=None)
