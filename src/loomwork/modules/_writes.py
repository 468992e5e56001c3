"""Write verbs on a connection already in a transaction.

Each returns the JSON-ready records it wrote (or the ids it touched) and the changes to
announce as events, as ``(action, id)`` pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from loomwork.errors import DefinitionError, NotFoundError, ValidationError
from loomwork.modules._filters import Filters, in_list, where_clauses
from loomwork.modules._model import utcnow
from loomwork.modules._reads import Record, records_by_id
from loomwork.modules._rows import build_rows, execute_many, insert_rows
from loomwork.modules._table import MANAGED_ON_UPDATE, ModelInfo

Change = tuple[str, str]


def create_records(
    info: ModelInfo, conn: sa.Connection, items: Sequence[Any]
) -> tuple[list[Record], list[Change]]:
    """Insert ``items`` in bulk (see :func:`insert_rows`)."""
    rows = build_rows(info, conn.dialect, items, utcnow())
    insert_rows(conn, info, rows.params())
    return rows.records, [("created", record["id"]) for record in rows.records]


def update_records(
    info: ModelInfo, conn: sa.Connection, items: Sequence[Any]
) -> tuple[list[Record], list[Change]]:
    """Update rows by the ``id`` in each item; one executemany per distinct set of fields."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for item in items:
        _check_update_item(info, item)
        fields = tuple(sorted(key for key in item if key not in MANAGED_ON_UPDATE))
        groups.setdefault(fields, []).append(item)
    ids = [item["id"] for item in items]
    _require_live(info, conn, ids)
    now = utcnow()
    table = info.table
    for fields, group in groups.items():
        statement = (
            table.update()
            .where(table.c.id == sa.bindparam("w_id"), table.c.deleted_at.is_(None))
            .values({key: sa.bindparam(f"v_{key}") for key in (*fields, "updated_at")})
        )
        params = [
            {
                "w_id": item["id"],
                "v_updated_at": now,
                **{f"v_{key}": info.parse(key, item[key]) for key in fields},
            }
            for item in group
        ]
        conn.execute(statement, params)
    return _read_back(info, conn, ids), [("updated", record_id) for record_id in dict.fromkeys(ids)]


def update_matching(
    info: ModelInfo, conn: sa.Connection, selector: Filters, data: Any
) -> tuple[list[Record], list[Change]]:
    """Apply ``data`` to every live row matching ``selector``."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"{info.name} update data must be a mapping", record=info.name)
    info.check_fields(data)
    if "id" in data:
        raise ValidationError(f"{info.name} ids cannot be changed", record=info.name, field="id")
    table = info.table
    clauses = where_clauses(info, selector, conn.dialect.name)
    ids = list(
        conn.execute(sa.select(table.c.id).where(*clauses, table.c.deleted_at.is_(None))).scalars()
    )
    if ids:
        values = {
            key: info.parse(key, value)
            for key, value in data.items()
            if key not in MANAGED_ON_UPDATE
        }
        conn.execute(
            table.update()
            .where(in_list(table.c.id, ids, conn.dialect.name))
            .values({**values, "updated_at": utcnow()})
        )
    return _read_back(info, conn, ids), [("updated", record_id) for record_id in ids]


def delete_records(
    info: ModelInfo, conn: sa.Connection, ids: list[str]
) -> tuple[list[str], list[Change]]:
    """Delete rows for good; returns the ids that existed."""
    table = info.table
    statement = (
        table.delete().where(in_list(table.c.id, ids, conn.dialect.name)).returning(table.c.id)
    )
    deleted = list(conn.execute(statement).scalars())
    return deleted, [("deleted", record_id) for record_id in deleted]


def set_deleted(
    info: ModelInfo, conn: sa.Connection, ids: list[str], *, deleted: bool
) -> tuple[list[str], list[Change]]:
    """Soft-delete (``deleted=True``) or restore rows; returns the ids that changed."""
    table = info.table
    statement = (
        table.update()
        .where(
            in_list(table.c.id, ids, conn.dialect.name),
            table.c.deleted_at.is_(None) if deleted else table.c.deleted_at.is_not(None),
        )
        .values(deleted_at=utcnow() if deleted else None)
        .returning(table.c.id)
    )
    changed = list(conn.execute(statement).scalars())
    action = "deleted" if deleted else "restored"
    return changed, [(action, record_id) for record_id in changed]


def upsert_records(
    info: ModelInfo, conn: sa.Connection, items: Sequence[Any], on: str
) -> tuple[list[Record], list[Change]]:
    """Insert items, or update the row with the same ``on`` value (INSERT ... ON CONFLICT)."""
    key_column = _conflict_column(info, on)
    rows = build_rows(info, conn.dialect, items, utcnow())
    keys = [record[on] for record in rows.records]
    if any(key is None for key in keys):
        raise ValidationError(
            f"{info.name} upsert on {on!r} needs {on!r} in every item", record=info.name, field=on
        )
    known = sa.select(key_column).where(in_list(key_column, keys, conn.dialect.name))
    existing = set(conn.execute(known).scalars())
    groups: dict[tuple[str, ...], list[Record]] = {}
    for item, param in zip(items, rows.params(), strict=True):
        fields = tuple(sorted(key for key in item if key not in MANAGED_ON_UPDATE and key != on))
        groups.setdefault(fields, []).append(param)
    for fields, params in groups.items():
        statement = _upsert_statement(conn, info, key_column, fields)
        execute_many(conn, info, f"upsert:{on}:{','.join(fields)}", statement, params)
    by_key = records_by_id(info, conn, keys, column=on)
    records = [by_key[key] for key in keys]
    changes = [
        ("updated" if key in existing else "created", record["id"])
        for key, record in zip(keys, records, strict=True)
    ]
    return records, changes


def _upsert_statement(
    conn: sa.Connection, info: ModelInfo, key_column: sa.Column[Any], fields: Sequence[str]
) -> sa.Insert:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert(info.table)
    elif dialect == "sqlite":
        insert = sqlite.insert(info.table)
    else:
        raise DefinitionError(f"upsert is implemented for SQLite and PostgreSQL, not {dialect}")
    updates = {key: insert.excluded[key] for key in (*fields, "updated_at")}
    statement: sa.Insert = insert.on_conflict_do_update(index_elements=[key_column], set_=updates)
    return statement


def _conflict_column(info: ModelInfo, on: str) -> sa.Column[Any]:
    column = info.column(on)
    unique_alone = any(
        isinstance(constraint, sa.UniqueConstraint | sa.PrimaryKeyConstraint)
        and list(constraint.columns) == [column]
        for constraint in info.table.constraints
    ) or any(index.unique and list(index.columns) == [column] for index in info.table.indexes)
    if not (unique_alone or column.unique):
        raise ValidationError(
            f"{info.name} upsert on {on!r} needs a unique constraint on that field alone",
            record=info.name,
            field=on,
        )
    return column


def _check_update_item(info: ModelInfo, item: Any) -> None:
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        raise ValidationError(
            f"{info.name} update items need a string 'id' (or pass selector= and data=)",
            record=info.name,
            field="id",
        )
    info.check_fields(item)


def _require_live(info: ModelInfo, conn: sa.Connection, ids: Sequence[str]) -> None:
    # Checked before writing, so a failed call changes nothing even in a shared transaction.
    table = info.table
    statement = sa.select(table.c.id).where(
        in_list(table.c.id, list(ids), conn.dialect.name), table.c.deleted_at.is_(None)
    )
    live = set(conn.execute(statement).scalars())
    for record_id in ids:
        if record_id not in live:
            raise NotFoundError(info.name, record_id, f"no live {info.singular} has this id")


def _read_back(info: ModelInfo, conn: sa.Connection, ids: Sequence[str]) -> list[Record]:
    found = records_by_id(info, conn, ids)
    return [found[record_id] for record_id in ids]
