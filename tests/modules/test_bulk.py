"""Bulk writes are a handful of statements, not one per row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from .fixtures.brand import BrandModuleService

ROWS = 20_000
BATCH = 4_000


class StatementCounter:
    """Counts statements sent to the driver (an executemany counts once)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "PRAGMA")):
            self.statements.append(statement)

    def reset(self) -> None:
        self.statements.clear()

    def remove(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)


@pytest.fixture
def counter(engine: sa.Engine) -> Iterator[StatementCounter]:
    counting = StatementCounter(engine)
    yield counting
    counting.remove()


async def test_bulk_create_update_upsert_use_few_statements(
    service: BrandModuleService, counter: StatementCounter
) -> None:
    created = await service.create_brands([{"name": f"b{i}", "rank": i} for i in range(ROWS)])
    assert len(created) == ROWS
    assert len({row["id"] for row in created}) == ROWS
    # One executemany per 10k rows, or (SQLite) one statement per 250 rows.
    assert 1 <= len(counter.statements) <= ROWS // 200
    assert all(s.lstrip().upper().startswith("INSERT") for s in counter.statements)

    counter.reset()
    ids = [row["id"] for row in created]
    listed = await service.list_brands({"id": ids[::2]}, select=["id"])
    assert [row["id"] for row in listed] == ids[::2]
    assert len(counter.statements) == 1

    counter.reset()
    updated = await service.update_brands([{"id": i, "rank": -1} for i in ids[:BATCH]])
    assert {row["rank"] for row in updated} == {-1}
    assert len(counter.statements) <= 3

    counter.reset()
    upserted = await service.upsert_brands(
        [{"id": i, "name": f"u{n}"} for n, i in enumerate(ids[-BATCH:])]
        + [{"name": f"new{i}"} for i in range(BATCH)]
    )
    assert len(upserted) == 2 * BATCH
    assert upserted[0]["name"] == "u0"
    assert upserted[0]["id"] == ids[-BATCH]
    assert len(counter.statements) <= 4

    counter.reset()
    assert len(await service.soft_delete_brands(ids)) == ROWS
    assert len(await service.delete_brands(ids)) == ROWS
    assert len(counter.statements) == 2
    assert len(await service.list_brands()) == BATCH
