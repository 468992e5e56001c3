"""The pure core of the pull sync: what one page of system records means for the store.

:func:`plan_sync` compares a page of brand-system records with the store rows they may
concern and sorts every record into exactly one bucket: create, update, delete (soft),
unchanged or quarantined. It does no I/O, so it is tested with tables and Hypothesis.

Rules, in order, for a system record ``s``:

1. **Link.** The store row whose ``external_id`` is ``s.id``; failing that, the row
   whose id is ``s.external_id`` (a brand the push created in the system whose
   ``external_id`` was never written back: the link is repaired, not duplicated). An
   ``s.external_id`` naming no store row quarantines ``s`` (field ``external_id``).
2. **Seen already.** ``s.updated_at`` not after the row's ``system_updated_at`` (the
   system version the two sides last agreed on, written by the pull and by the push):
   unchanged. This is also how the echo of our own pushes is ignored.
3. **Deletes.** A deleted system brand soft-deletes its live store row; a store row
   deleted locally stays deleted (pushing the delete is the other direction's job).
4. **Conflicts: last writer wins by timestamp.** The store row has a local edit when its
   ``name`` differs from ``synced_name`` (the last agreed name). If it has one and its
   ``updated_at`` is later than ``s.updated_at``, the store's version wins (unchanged
   here; the push carries it out). Otherwise the system's version wins. The timestamps
   come from two clocks, so the rule assumes they are roughly in step (NTP).
5. **No useless writes.** Same name (and an intact link): unchanged, nothing written.
6. **Names stay unique among live brands.** A create or rename to a name held by another
   live store brand, or claimed earlier in the page, is quarantined (field ``name``).
   The page's writes run deletes, then updates, then creates, so a freed name may be
   taken by a later write, except a rename taking a name another rename frees (their
   order inside one statement is not defined): that record is quarantined and retried
   by the next full reconciliation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...modules.brand.records import BadRecord, SystemBrand, bad_record
from ...modules.brand.records import to_iso as _iso

STORE_FIELDS = (
    "id",
    "name",
    "external_id",
    "synced_name",
    "system_updated_at",
    "updated_at",
    "deleted_at",
)


@dataclass(frozen=True, slots=True)
class StoreBrand:
    """The fields of a store brand that the plan looks at."""

    id: str
    name: str
    external_id: str | None
    synced_name: str | None
    system_updated_at: datetime | None
    updated_at: datetime
    deleted_at: datetime | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StoreBrand:
        """From a record as the brand service returns it (ISO-8601 text timestamps)."""
        return cls(
            id=record["id"],
            name=record["name"],
            external_id=record["external_id"],
            synced_name=record["synced_name"],
            system_updated_at=_when(record["system_updated_at"]),
            updated_at=_required(record["updated_at"]),
            deleted_at=_when(record["deleted_at"]),
        )

    @property
    def deleted(self) -> bool:
        """True when the brand is soft-deleted in the store."""
        return self.deleted_at is not None

    @property
    def edited_locally(self) -> bool:
        """True when the name changed in the store since the two sides last agreed."""
        return self.synced_name is not None and self.name != self.synced_name


@dataclass(slots=True)
class SyncPlan:
    """What to do with one page: the writes, the untouched ids and the rejects.

    ``to_create`` and ``to_update`` hold the data for ``create_brands``/``update_brands``;
    ``to_delete`` store ids to soft-delete; ``unchanged`` and ``synced`` system ids
    (``synced``: every record the page covers without quarantine).
    """

    to_create: list[dict[str, Any]] = field(default_factory=list)
    to_update: list[dict[str, Any]] = field(default_factory=list)
    to_delete: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    quarantined: list[BadRecord] = field(default_factory=list)
    synced: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many records fall in each bucket."""
        return {
            "created": len(self.to_create),
            "updated": len(self.to_update),
            "deleted": len(self.to_delete),
            "unchanged": len(self.unchanged),
            "quarantined": len(self.quarantined),
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for workflow steps."""
        return {
            "to_create": self.to_create,
            "to_update": self.to_update,
            "to_delete": self.to_delete,
            "unchanged": self.unchanged,
            "quarantined": [record.as_dict() for record in self.quarantined],
            "synced": self.synced,
        }


class _Names:
    """Which live store brand holds each name, as the plan's writes would leave it."""

    def __init__(self, rows: Iterable[StoreBrand]) -> None:
        self._holder = {row.name: row.id for row in rows if not row.deleted}
        self._renamed_away: set[str] = set()

    def free_for(self, name: str, brand_id: str | None) -> bool:
        holder = self._holder.get(name)
        if holder is not None:
            return holder == brand_id
        # Creates run after every update of the page, so a name another brand was renamed
        # away from is free for them; for another rename it depends on row order.
        return brand_id is None or name not in self._renamed_away

    def release(self, name: str, *, by_rename: bool) -> None:
        self._holder.pop(name, None)
        if by_rename:
            self._renamed_away.add(name)

    def claim(self, name: str, brand_id: str) -> None:
        self._holder[name] = brand_id


class _Planner:
    def __init__(self, rows: Sequence[StoreBrand]) -> None:
        self.by_external = {row.external_id: row for row in rows if row.external_id}
        self.by_id = {row.id: row for row in rows}
        self.names = _Names(rows)
        self.plan = SyncPlan()

    def link(self, record: SystemBrand) -> tuple[StoreBrand | None, bool]:
        row = self.by_external.get(record.id)
        if row is not None or record.external_id is None:
            return row, False
        return self.by_id.get(record.external_id), True

    def quarantine(self, record: SystemBrand, field_name: str, reason: str) -> None:
        self.plan.quarantined.append(bad_record(record, field_name, reason))

    def unchanged(self, record: SystemBrand) -> None:
        self.plan.unchanged.append(record.id)
        self.plan.synced.append(record.id)

    def delete(self, record: SystemBrand, row: StoreBrand) -> None:
        self.plan.to_delete.append(row.id)
        self.plan.synced.append(record.id)
        self.names.release(row.name, by_rename=False)

    def decide(self, record: SystemBrand) -> None:
        row, relink = self.link(record)
        if row is None:
            self._unlinked(record)
        elif relink and row.external_id is not None:
            self.quarantine(
                record,
                "external_id",
                f"store brand {row.id} is already linked to system brand {row.external_id}",
            )
        elif row.deleted:
            self.unchanged(record)
        elif record.deleted:
            self._deleted_in_system(record, row)
        else:
            self._changed(record, row, relink)

    def _unlinked(self, record: SystemBrand) -> None:
        if record.deleted:
            self.unchanged(record)
        elif record.external_id is not None:
            self.quarantine(
                record,
                "external_id",
                f"external_id {record.external_id!r} points at no brand in the store",
            )
        elif not self.names.free_for(record.name, None):
            self._name_taken(record)
        else:
            self.names.claim(record.name, record.id)
            self.plan.to_create.append(
                {
                    "name": record.name,
                    "external_id": record.id,
                    "synced_name": record.name,
                    "system_updated_at": _iso(record.updated_at),
                }
            )
            self.plan.synced.append(record.id)

    def _deleted_in_system(self, record: SystemBrand, row: StoreBrand) -> None:
        if _seen(record, row) or (row.edited_locally and row.updated_at > record.updated_at):
            self.unchanged(record)
        else:
            self.delete(record, row)

    def _changed(self, record: SystemBrand, row: StoreBrand, relink: bool) -> None:
        if not relink and _seen(record, row):
            self.unchanged(record)
            return
        if record.name == row.name:
            if relink:
                self._update(record, row, relink)
            else:
                self.unchanged(record)
            return
        if row.edited_locally and row.updated_at > record.updated_at:
            self.unchanged(record)
        elif not self.names.free_for(record.name, row.id):
            self._name_taken(record)
        else:
            self.names.release(row.name, by_rename=True)
            self.names.claim(record.name, row.id)
            self._update(record, row, relink)

    def _update(self, record: SystemBrand, row: StoreBrand, relink: bool) -> None:
        change: dict[str, Any] = {
            "id": row.id,
            "name": record.name,
            "synced_name": record.name,
            "system_updated_at": _iso(record.updated_at),
        }
        if relink:
            change["external_id"] = record.id
        self.plan.to_update.append(change)
        self.plan.synced.append(record.id)

    def _name_taken(self, record: SystemBrand) -> None:
        self.quarantine(
            record, "name", f"name {record.name!r} is already used by another brand in the store"
        )


def plan_sync(
    system_page: Sequence[SystemBrand],
    store_rows: Sequence[StoreBrand],
    invalid: Sequence[BadRecord] = (),
) -> SyncPlan:
    """Decide, without I/O, how one page of system records changes the store.

    ``store_rows`` must hold every store brand (deleted ones included) whose
    ``external_id`` is a page record's id, whose id is a page record's ``external_id``,
    and every live brand holding a page record's name. ``invalid`` records (rejected by
    validation) are quarantined as they are. See the module docstring for the rules.
    """
    planner = _Planner(store_rows)
    planner.plan.quarantined.extend(invalid)
    latest: dict[str, SystemBrand] = {}
    for record in system_page:
        known = latest.get(record.id)
        if known is None or record.updated_at >= known.updated_at:
            latest[record.id] = record
    records = sorted(latest.values(), key=lambda r: (not r.deleted, r.updated_at, r.id))
    for record in records:
        planner.decide(record)
    return planner.plan


def split_seen(
    page: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """Set apart the raw page records the store has already seen, without parsing them.

    A record is seen when the store row linked to it by ``external_id`` holds a system
    version at least as new (rule 2): :func:`plan_sync` would call it unchanged whatever
    else the page holds. Both sides write UTC with microseconds at a fixed width, so the
    texts compare like the instants; a record in any other shape is left to the plan.
    Returns the records still to plan and the ids of the seen ones.
    """
    versions = {
        row["external_id"]: utc_key(row["system_updated_at"]) for row in rows if row["external_id"]
    }
    if not versions:  # nothing linked (a first sync): nothing seen
        return list(page), []
    fresh: list[Mapping[str, Any]] = []
    seen: list[str] = []
    for raw in page:
        known = versions.get(raw["id"])
        version = utc_key(raw["updated_at"])
        if known is not None and version is not None and version <= known:
            seen.append(raw["id"])
        else:
            fresh.append(raw)
    # An id listed twice, once seen and once newer, is the plan's alone.
    planned = {raw["id"] for raw in fresh}
    return fresh, [record_id for record_id in dict.fromkeys(seen) if record_id not in planned]


def split_new(
    page: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[dict[str, Any]]]:
    """Set apart the raw page records that can only be created, and their creates.

    A live record without ``external_id`` that no store row is linked to (rule 1), whose
    name no live store row holds and no other page record carries (rule 6), is created
    by :func:`plan_sync` whatever else the page holds: a first sync is mostly such
    records, and they need neither parsing nor planning one by one. Returns the records
    still to plan and the ``to_create`` items of the others.
    """
    linked = {row["external_id"] for row in rows if row["external_id"]}
    held = {row["name"] for row in rows if row["deleted_at"] is None}
    taken_ids = linked | _repeated([raw["id"] for raw in page])
    taken_names = held | _repeated([raw["name"] for raw in page])
    rest: list[Mapping[str, Any]] = []
    creates: list[dict[str, Any]] = []
    for raw in page:
        name, stamp, record_id = raw["name"], raw["updated_at"], raw["id"]
        # utc_key's test, inlined: this loop runs once per record of a first sync.
        if (
            isinstance(stamp, str)
            and (
                (len(stamp) == 27 and stamp[26] == "Z")
                or (len(stamp) == 32 and stamp[26:] == "+00:00")
            )
            and raw.get("external_id") is None
            and raw.get("deleted_at") is None
            and record_id not in taken_ids
            and name not in taken_names
        ):
            creates.append(
                {
                    "name": name,
                    "external_id": record_id,
                    "synced_name": name,
                    "system_updated_at": stamp[:26] + "+00:00",
                }
            )
        else:
            rest.append(raw)
    return rest, creates


def _repeated(values: list[Any]) -> set[Any]:
    """The values that occur more than once (usually none: one set says so)."""
    if len(set(values)) == len(values):
        return set()
    return {value for value, count in Counter(values).items() if count > 1}


def rows_concerning(
    records: Sequence[SystemBrand], rows: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The store rows :func:`plan_sync` needs for ``records``, out of a larger set."""
    ids = {record.id for record in records}
    links = {record.external_id for record in records if record.external_id}
    names = {record.name for record in records}
    return [
        row
        for row in rows
        if row["external_id"] in ids or row["id"] in links or row["name"] in names
    ]


def utc_key(stamp: Any) -> str | None:
    """``"2026-11-26T15:30:00.123456"`` for that instant written with ``Z`` or ``+00:00``.

    ``None`` for anything else (another width or offset, not text): such stamps are
    compared as parsed datetimes instead.
    """
    if isinstance(stamp, str) and (
        (len(stamp) == 27 and stamp.endswith("Z"))
        or (len(stamp) == 32 and stamp.endswith("+00:00"))
    ):
        return stamp[:26]
    return None


def _seen(record: SystemBrand, row: StoreBrand) -> bool:
    return row.system_updated_at is not None and record.updated_at <= row.system_updated_at


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _required(value: Any) -> datetime:
    moment = _when(value)
    if moment is None:
        raise ValueError("a store brand needs updated_at")
    return moment


__all__ = [
    "STORE_FIELDS",
    "StoreBrand",
    "SyncPlan",
    "plan_sync",
    "rows_concerning",
    "split_new",
    "split_seen",
    "utc_key",
]
