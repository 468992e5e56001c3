"""Contract of generated module services, run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from loomwork.errors import ConflictError, NotFoundError, ValidationError
from loomwork.events import Event, EventBatch, use_event_sink
from loomwork.modules import Model, transaction

from .conftest import ListSink
from .fixtures.brand import BrandModuleService


async def seed(service: BrandModuleService, count: int = 5) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await service.create_brands(
        [{"name": f"brand-{i}", "rank": i} for i in range(count)]
    )
    return rows


async def test_create_one_returns_a_json_ready_record(service: BrandModuleService) -> None:
    brand = await service.create_brands({"name": "Acme"})
    assert brand["id"].startswith("brand_")
    assert len(brand["id"]) == len("brand_") + 26
    assert brand["name"] == "Acme"
    assert brand["external_id"] is None
    assert brand["rank"] == 0
    assert brand["deleted_at"] is None
    created = datetime.fromisoformat(brand["created_at"])
    assert created.tzinfo is not None
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)
    assert json.loads(json.dumps(brand)) == brand
    assert await service.retrieve_brand(brand["id"]) == brand


async def test_create_many_keeps_order_and_ids_sort_by_creation(
    service: BrandModuleService,
) -> None:
    rows = await seed(service)
    assert [row["name"] for row in rows] == [f"brand-{i}" for i in range(5)]
    listed = await service.list_brands()
    assert [row["id"] for row in listed] == [row["id"] for row in rows]
    assert listed == rows


async def test_create_accepts_given_id_and_timestamps(service: BrandModuleService) -> None:
    brand = await service.create_brands(
        {"id": "brand_given", "name": "Given", "created_at": "2024-01-02T03:04:05+02:00"}
    )
    assert brand["id"] == "brand_given"
    assert brand["created_at"] == "2024-01-02T01:04:05.000000+00:00"
    stored = await service.retrieve_brand("brand_given")
    assert stored["created_at"] == "2024-01-02T01:04:05.000000+00:00"


async def test_irregular_plurals_and_override(service: BrandModuleService) -> None:
    brand = await service.create_brands({"name": "Acme"})
    category = await service.create_categories({"title": "Shoes", "brand_id": brand["id"]})
    person = await service.create_folks({"name": "Ada"})
    assert category["id"].startswith("cat_")
    assert person["id"].startswith("per_")
    assert (await service.retrieve_category(category["id"]))["brand_id"] == brand["id"]
    assert [p["name"] for p in await service.list_folks()] == ["Ada"]
    assert await service.retrieve_person(person["id"]) == person
    assert not hasattr(service, "create_persons")


async def test_unique_violation_is_a_conflict(service: BrandModuleService) -> None:
    await service.create_brands({"name": "Acme"})
    with pytest.raises(ConflictError, match="Brand"):
        await service.create_brands([{"name": "Other"}, {"name": "Acme"}])
    assert [b["name"] for b in await service.list_brands()] == ["Acme"]


async def test_create_rejects_non_mappings_and_fills_a_null_id(
    service: BrandModuleService,
) -> None:
    for bad in ([5], ["name"], [None]):
        with pytest.raises(ValidationError, match="must be a mapping"):
            await service.create_brands(bad)
    brand = await service.create_brands({"id": None, "name": "no id yet"})
    assert brand["id"].startswith("brand_")


async def test_unknown_field_on_create_names_model_and_field(service: BrandModuleService) -> None:
    with pytest.raises(ValidationError, match="Brand has no field 'colour'") as caught:
        await service.create_brands({"name": "Acme", "colour": "red"})
    assert caught.value.record == "Brand"
    assert caught.value.field == "colour"


async def test_update_one_list_and_selector(service: BrandModuleService) -> None:
    a, b, c, *_ = await seed(service)
    one = await service.update_brands({"id": a["id"], "name": "renamed"})
    assert one["name"] == "renamed"
    assert one["rank"] == a["rank"]
    assert one["updated_at"] > a["updated_at"]
    assert one["created_at"] == a["created_at"]
    many = await service.update_brands(
        [{"id": c["id"], "rank": 30}, {"id": b["id"], "rank": 20, "external_id": "x-b"}]
    )
    assert [(r["id"], r["rank"]) for r in many] == [(c["id"], 30), (b["id"], 20)]
    assert (await service.retrieve_brand(b["id"]))["external_id"] == "x-b"
    matched = await service.update_brands(selector={"rank": {"$gte": 20}}, data={"rank": 7})
    assert sorted(r["id"] for r in matched) == sorted([b["id"], c["id"]])
    assert {r["rank"] for r in await service.list_brands({"id": [b["id"], c["id"]]})} == {7}


async def test_update_with_a_previous_snapshot_restores_it(service: BrandModuleService) -> None:
    (brand,) = await seed(service, 1)
    before = await service.list_brands({"id": [brand["id"]]})
    await service.update_brands([{"id": brand["id"], "name": "changed", "rank": 99}])
    restored = await service.update_brands(before)
    assert restored[0]["name"] == brand["name"]
    assert restored[0]["rank"] == brand["rank"]
    assert restored[0]["created_at"] == brand["created_at"]


async def test_update_of_missing_or_deleted_id_raises_and_rolls_back(
    service: BrandModuleService,
) -> None:
    a, b = await seed(service, 2)
    await service.soft_delete_brands(b["id"])
    for missing in ("brand_missing", b["id"]):
        with pytest.raises(NotFoundError) as caught:
            await service.update_brands([{"id": a["id"], "name": "x"}, {"id": missing, "rank": 1}])
        assert caught.value.kind == "Brand"
        assert caught.value.key == missing
    assert (await service.retrieve_brand(a["id"]))["name"] == a["name"]


async def test_update_rejects_items_without_id(service: BrandModuleService) -> None:
    with pytest.raises(ValidationError, match="'id'"):
        await service.update_brands([{"name": "no id"}])


async def test_retrieve_missing_names_model_and_id(service: BrandModuleService) -> None:
    with pytest.raises(NotFoundError, match=r"Brand 'brand_nope' not found") as caught:
        await service.retrieve_brand("brand_nope")
    assert caught.value.kind == "Brand"
    assert caught.value.key == "brand_nope"


async def test_retrieve_with_select(service: BrandModuleService) -> None:
    (brand,) = await seed(service, 1)
    assert await service.retrieve_brand(brand["id"], select=["id", "name"]) == {
        "id": brand["id"],
        "name": brand["name"],
    }


async def test_delete_one_and_many(service: BrandModuleService) -> None:
    a, b, c = await seed(service, 3)
    assert await service.delete_brands(a["id"]) == [a["id"]]
    assert sorted(await service.delete_brands([b["id"], "brand_missing"])) == [b["id"]]
    assert await service.list_brands(with_deleted=True) == [c]
    with pytest.raises(NotFoundError):
        await service.retrieve_brand(a["id"], with_deleted=True)


async def test_soft_delete_and_restore(service: BrandModuleService) -> None:
    a, b, c = await seed(service, 3)
    assert sorted(await service.soft_delete_brands([a["id"], b["id"]])) == [a["id"], b["id"]]
    assert [r["id"] for r in await service.list_brands()] == [c["id"]]
    rows, count = await service.list_and_count_brands(with_deleted=True)
    assert count == 3
    assert all(r["deleted_at"] for r in rows if r["id"] != c["id"])
    with pytest.raises(NotFoundError):
        await service.retrieve_brand(a["id"])
    assert (await service.retrieve_brand(a["id"], with_deleted=True))["deleted_at"] is not None
    assert await service.soft_delete_brands(a["id"]) == []
    assert await service.restore_brands([a["id"], c["id"]]) == [a["id"]]
    assert [r["id"] for r in await service.list_brands()] == [a["id"], c["id"]]


async def test_upsert_inserts_and_updates(service: BrandModuleService, sink: ListSink) -> None:
    (existing,) = await seed(service, 1)
    rows = await service.upsert_brands(
        [{"id": existing["id"], "name": "renamed"}, {"name": "fresh", "rank": 3}]
    )
    assert rows[0]["id"] == existing["id"]
    assert rows[0]["name"] == "renamed"
    assert rows[0]["rank"] == existing["rank"]
    assert rows[0]["created_at"] == existing["created_at"]
    assert rows[1]["name"] == "fresh"
    assert rows[1]["id"].startswith("brand_")
    assert sink.names_and_ids()[-2:] == [
        ("brand.updated", existing["id"]),
        ("brand.created", rows[1]["id"]),
    ]
    assert len(await service.list_brands()) == 2


async def test_upsert_on_a_unique_field(service: BrandModuleService) -> None:
    first = await service.upsert_brands({"name": "A", "external_id": "ext-1"}, on="external_id")
    again = await service.upsert_brands(
        [{"name": "A2", "external_id": "ext-1"}, {"name": "B", "external_id": "ext-2"}],
        on="external_id",
    )
    assert again[0]["id"] == first["id"]
    assert again[0]["name"] == "A2"
    assert again[1]["external_id"] == "ext-2"
    with pytest.raises(ValidationError, match="unique"):
        await service.upsert_brands({"name": "C", "rank": 1}, on="rank")
    with pytest.raises(ValidationError, match="external_id"):
        await service.upsert_brands({"name": "C"}, on="external_id")


async def test_events_carry_ids_and_metadata(service: BrandModuleService, sink: ListSink) -> None:
    a, b = await seed(service, 2)
    await service.update_brands({"id": a["id"], "rank": 5}, event_metadata={"source": "sync"})
    await service.soft_delete_brands(a["id"])
    await service.restore_brands(a["id"])
    await service.delete_brands([b["id"]])
    assert sink.names_and_ids() == [
        ("brand.created", a["id"]),
        ("brand.created", b["id"]),
        ("brand.updated", a["id"]),
        ("brand.deleted", a["id"]),
        ("brand.restored", a["id"]),
        ("brand.deleted", b["id"]),
    ]
    assert [e.metadata for e in sink.events] == [{}, {}, {"source": "sync"}, {}, {}, {}]
    assert len({e.id for e in sink.events}) == 6
    assert [len(batch) for batch in sink.batches] == [2, 1, 1, 1, 1]


async def test_failed_write_emits_nothing(service: BrandModuleService, sink: ListSink) -> None:
    await service.create_brands({"name": "Acme"})
    with pytest.raises(ConflictError):
        await service.create_brands({"name": "Acme"})
    assert len(sink.events) == 1


async def test_transaction_spans_calls_and_rolls_back_together(
    service: BrandModuleService, sink: ListSink
) -> None:
    class Boom(Exception):
        pass

    async def write_then_fail() -> None:
        async with service.transaction():
            brand = await service.create_brands({"name": "in-tx"})
            await service.create_categories({"title": "c", "brand_id": brand["id"]})
            assert len(await service.list_brands()) == 1
            raise Boom

    with pytest.raises(Boom):
        await write_then_fail()
    assert await service.list_brands() == []
    assert await service.list_categories() == []
    assert sink.events == []

    async with transaction(service.engine):
        brand = await service.create_brands({"name": "kept"})
        await service.update_brands({"id": brand["id"], "rank": 2})
        assert sink.events == []
    assert (await service.retrieve_brand(brand["id"]))["rank"] == 2
    assert [e.name for e in sink.events] == ["brand.created", "brand.updated"]


async def test_transaction_yields_a_connection_that_sees_the_writes(
    service: BrandModuleService,
) -> None:
    async with service.transaction() as conn:
        await service.create_brands({"name": "seen"})
        count = conn.execute(sa.text("SELECT count(*) FROM fixture_brand")).scalar_one()
    assert count == 1


async def test_hand_written_methods_use_generated_ones(service: BrandModuleService) -> None:
    await service.create_brands([{"name": "b"}, {"name": "a"}])
    assert await service.brand_names() == ["a", "b"]


async def test_datetimes_round_trip_as_utc_on_every_path(
    service: BrandModuleService, engine: sa.Engine
) -> None:
    plus_two = timezone(timedelta(hours=2))
    given = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=plus_two)
    brand = await service.create_brands({"name": "dated", "created_at": given})
    assert brand["created_at"] == "2024-01-02T01:04:05.000006+00:00"
    table = Model.metadata.tables["fixture_brand"]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(table.c.created_at)).scalar_one()
    assert stored == given
    assert stored.utcoffset() == timedelta(0)
    assert await service.list_brands({"created_at": given}) == [brand]
    assert await service.list_brands({"created_at": {"$lt": given}}) == []
    with engine.begin() as conn:
        conn.execute(
            table.insert().values(
                id="brand_core", name="core", rank=0, created_at=given, updated_at=given
            )
        )
    assert (await service.retrieve_brand("brand_core"))["created_at"] == brand["created_at"]
    ordered = await service.list_brands(order={"created_at": "asc", "name": "asc"})
    assert [row["name"] for row in ordered] == ["core", "dated"]


async def test_empty_batches_do_nothing(service: BrandModuleService, sink: ListSink) -> None:
    assert await service.create_brands([]) == []
    assert await service.update_brands([]) == []
    assert await service.upsert_brands([]) == []
    assert await service.delete_brands([]) == []
    assert await service.soft_delete_brands([]) == []
    assert await service.update_brands(selector={"name": "nobody"}, data={"rank": 1}) == []
    assert sink.events == []
    with pytest.raises(ValidationError, match="at least one field"):
        await service.list_brands(select=[])


async def test_selector_update_emits_one_event_per_matched_row(
    service: BrandModuleService, sink: ListSink
) -> None:
    rows = await seed(service, 4)
    sink.batches.clear()
    await service.update_brands(
        selector={"rank": {"$in": [1, 2]}}, data={"external_id": None}, event_metadata={"by": "t"}
    )
    assert sorted(sink.names_and_ids()) == [
        ("brand.updated", rows[1]["id"]),
        ("brand.updated", rows[2]["id"]),
    ]
    assert {tuple(e.metadata.items()) for e in sink.events} == {(("by", "t"),)}
    with pytest.raises(ValidationError, match="ids cannot be changed"):
        await service.update_brands(selector={"rank": 1}, data={"id": "brand_x"})


async def test_nested_transactions_join_the_outer_one(service: BrandModuleService) -> None:
    async with service.transaction() as outer, transaction(service.engine) as inner:
        assert inner is outer
        await service.create_brands({"name": "nested"})
    assert len(await service.list_brands()) == 1


async def test_failed_update_inside_a_shared_transaction_changes_nothing(
    service: BrandModuleService,
) -> None:
    (brand,) = await seed(service, 1)
    async with service.transaction():
        with pytest.raises(NotFoundError):
            await service.update_brands([{"id": brand["id"], "rank": 50}, {"id": "brand_x"}])
        await service.create_brands({"name": "after"})
    assert (await service.retrieve_brand(brand["id"]))["rank"] == brand["rank"]
    assert len(await service.list_brands()) == 2


async def test_events_go_to_the_current_sink_when_one_is_set(
    service: BrandModuleService, sink: ListSink
) -> None:
    class SizedSink(ListSink):
        def __len__(self) -> int:
            return len(self.events)

    staged = SizedSink()  # empty, so falsy: it must still be chosen
    with use_event_sink(staged):
        brand = await service.create_brands({"name": "in a step"})
        async with service.transaction():
            await service.update_brands({"id": brand["id"], "rank": 1})
    await service.delete_brands(brand["id"])
    assert staged.names_and_ids() == [
        ("brand.created", brand["id"]),
        ("brand.updated", brand["id"]),
    ]
    assert sink.names_and_ids() == [("brand.deleted", brand["id"])]


async def test_a_task_outliving_a_transaction_block_gets_its_own(
    service: BrandModuleService,
) -> None:
    go = asyncio.Event()

    async def later() -> dict[str, Any]:
        await go.wait()
        brand: dict[str, Any] = await service.create_brands({"name": "late"})
        return brand

    async with service.transaction():
        task = asyncio.create_task(later())
    go.set()
    brand = await task
    assert (await service.retrieve_brand(brand["id"]))["name"] == "late"


async def test_a_bulk_write_hands_its_sink_one_batch_of_alike_events(
    service: BrandModuleService,
) -> None:
    class KeepingSink:
        def __init__(self) -> None:
            self.given: list[Sequence[Event]] = []

        def emit(self, events: Sequence[Event]) -> None:
            self.given.append(events)

    kept = KeepingSink()
    with use_event_sink(kept):
        brands = await service.create_brands([{"name": f"bulk {n}"} for n in range(3)])
    (batch,) = kept.given
    assert isinstance(batch, EventBatch)
    assert batch.name == "brand.created"
    assert batch.data == [{"id": brand["id"]} for brand in brands]
    assert len(set(batch.ids)) == 3
    assert [event.id for event in batch] == batch.ids
