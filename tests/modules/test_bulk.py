"""Bulk writes are a handful of statements, not one per row."""

from __future__ import annotations

from .conftest import StatementLog
from .fixtures.brand import BrandModuleService

ROWS = 20_000
BATCH = 4_000


async def test_bulk_create_update_upsert_use_few_statements(
    service: BrandModuleService, statement_log: StatementLog
) -> None:
    created = await service.create_brands([{"name": f"b{i}", "rank": i} for i in range(ROWS)])
    assert len(created) == ROWS
    assert len({row["id"] for row in created}) == ROWS
    # One executemany per 10k rows, or (SQLite) one statement per 250 rows.
    assert 1 <= len(statement_log.statements) <= ROWS // 200
    assert all(s.lstrip().upper().startswith("INSERT") for s in statement_log.statements)

    statement_log.reset()
    ids = [row["id"] for row in created]
    listed = await service.list_brands({"id": ids[::2]}, select=["id"])
    assert [row["id"] for row in listed] == ids[::2]
    assert len(statement_log.statements) == 1

    statement_log.reset()
    updated = await service.update_brands([{"id": i, "rank": -1} for i in ids[:BATCH]])
    assert {row["rank"] for row in updated} == {-1}
    assert len(statement_log.statements) <= 3

    statement_log.reset()
    upserted = await service.upsert_brands(
        [{"id": i, "name": f"u{n}"} for n, i in enumerate(ids[-BATCH:])]
        + [{"name": f"new{i}"} for i in range(BATCH)]
    )
    assert len(upserted) == 2 * BATCH
    assert upserted[0]["name"] == "u0"
    assert upserted[0]["id"] == ids[-BATCH]
    assert len(statement_log.statements) <= 4

    statement_log.reset()
    assert len(await service.soft_delete_brands(ids)) == ROWS
    assert len(await service.delete_brands(ids)) == ROWS
    assert len(statement_log.statements) == 2
    assert len(await service.list_brands()) == BATCH
