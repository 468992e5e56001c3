"""Pages the store already holds are counted without a stored run, and nothing is missed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import App, brand, pull
from .helpers import rename_in_system, seed, system_brands

settled = __import__(pull.__name__ + ".settled", fromlist=["page_is_settled"])
state_of = brand.sync_state.read_state


async def page_runs(app: App) -> int:
    runs = await app.workflows.list_executions(pull.WORKFLOW_NAME, limit=1000)
    return len(runs)


async def test_a_full_resync_of_unchanged_pages_stores_no_page_runs(app: App) -> None:
    seed(app.system, 45)
    await pull.sync_brands_from_system(app.container)
    before = await page_runs(app)

    report = await pull.sync_brands_from_system(app.container, full=True)

    assert (report.pages, report.settled_pages, report.unchanged) == (3, 3, 45)
    assert await page_runs(app) == before
    state = state_of(app.engine, pull.SYNC_NAME)
    assert state is not None
    assert (state["pass_id"], state["resume_cursor"], state["pages_done"]) == (None, None, 0)
    assert state["last_full_at"] is not None


async def test_a_changed_page_after_settled_ones_runs_and_the_pass_closes(app: App) -> None:
    seed(app.system, 45)
    await pull.sync_brands_from_system(app.container)
    before = await page_runs(app)
    target = system_brands(app.system)[7]
    rename_in_system(app.system, target["id"], "Renamed after the first sync")

    report = await pull.sync_brands_from_system(app.container, full=True)

    # The rename moved the record to the end of the (updated_at, id) order: pages 1-2
    # are settled, the last one holds the change and runs as a stored workflow.
    assert (report.pages, report.settled_pages, report.updated, report.unchanged) == (3, 2, 1, 44)
    assert await page_runs(app) == before + 1
    names = {row["external_id"]: row["name"] for row in await app.store_brands()}
    assert names[target["id"]] == "Renamed after the first sync"
    state = state_of(app.engine, pull.SYNC_NAME)
    assert state is not None
    assert (state["pass_id"], state["pages_done"]) == (None, 0)


async def test_a_page_is_settled_only_when_every_record_is_seen_and_none_quarantined(
    app: App,
) -> None:
    seed(app.system, 5)
    client = app.service.client
    page = await client.fetch_page()
    assert not await settled.page_is_settled(app.service, page)

    await pull.sync_brands_from_system(app.container)
    page = await client.fetch_page()
    assert await settled.page_is_settled(app.service, page)

    await app.service.create_quarantined_records([quarantine_row(page.raw[2])])
    assert not await settled.page_is_settled(app.service, page)


async def test_a_stamp_counts_only_as_the_exact_text_of_the_held_instant(app: App) -> None:
    seed(app.system, 5)
    await pull.sync_brands_from_system(app.container)
    listed = (await app.service.client.fetch_page()).listed
    assert all(len(record["updated_at"]) == 27 for record in listed)
    assert all(record["updated_at"].endswith("Z") for record in listed)
    newest = listed[-1]
    held = newest["updated_at"]
    forms = {
        held: 1,
        held[:26] + "+00:00": 1,
        held[:26] + "+01:00": 0,
        held[:25] + "Z": 0,  # five fraction digits: the same instant, not the same text
        held + "0": 0,
        held[:26] + "Zjunk": 0,
        held.replace("T", " "): 0,
        "2026-02-30T10:00:00.000000Z": 0,  # impossible, and never an error
        "x" * 26 + "Z": 0,
        "": 0,
    }
    for stamp, count in forms.items():
        assert await app.service.count_held_versions({newest["id"]: stamp}) == count, stamp


async def test_odd_or_impossible_stamps_leave_a_page_unsettled(app: App) -> None:
    seed(app.system, 5)
    await pull.sync_brands_from_system(app.container)
    listed = (await app.service.client.fetch_page()).listed
    offset_form = [{**r, "updated_at": r["updated_at"][:26] + "+00:00"} for r in listed]
    impossible = [*listed[:-1], {**listed[-1], "updated_at": "2026-02-30T10:00:00.000000Z"}]
    nul_cut = [*listed[:-1], {**listed[-1], "updated_at": listed[-1]["updated_at"] + "\0!"}]

    assert await settled.page_is_settled(app.service, brand.BrandPage(offset_form, None, None))
    assert not await settled.page_is_settled(app.service, brand.BrandPage(impossible, None, None))
    assert not await settled.page_is_settled(app.service, brand.BrandPage(nul_cut, None, None))
    # The stamp of the newest record alone is checked first; the rest in bulk.
    first_impossible = [{**listed[0], "updated_at": "2026-02-30T10:00:00.000000Z"}, *listed[1:]]
    assert not await settled.page_is_settled(
        app.service, brand.BrandPage(first_impossible, None, None)
    )


async def test_an_empty_page_is_settled_and_a_page_with_bad_records_is_not(app: App) -> None:
    empty = brand.BrandPage([], None, None)
    spoiled = brand.BrandPage([{"id": "brd_000000000001", "name": ""}], None, None)
    not_records = brand.BrandPage([["brd_000000000001"]], None, None)

    assert await settled.page_is_settled(app.service, empty)
    assert not await settled.page_is_settled(app.service, spoiled)
    assert not await settled.page_is_settled(app.service, not_records)
    assert [bad.field for bad in spoiled.bad] == ["name"]


def quarantine_row(raw: dict[str, Any]) -> dict[str, Any]:
    now = raw["updated_at"]
    return {
        "key": brand.quarantine.quarantine_key(brand.SYNC_SOURCE, raw["id"]),
        "source": brand.SYNC_SOURCE,
        "record_id": raw["id"],
        "field": "name",
        "reason": "held back by a test",
        "payload": "{}",
        "first_seen_at": now,
        "last_seen_at": now,
    }


async def test_a_settled_page_is_not_validated(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(app.system, 5)
    await pull.sync_brands_from_system(app.container)
    validated: list[int] = []
    real = brand.client.split_valid
    monkeypatch.setattr(
        brand.client, "split_valid", lambda raw: validated.append(len(raw)) or real(raw)
    )

    page = await app.service.client.fetch_page()

    assert await settled.page_is_settled(app.service, page)
    assert validated == []
    assert len(page.raw) == 5  # validated on first use
    assert validated == [5]


async def test_pages_recorded_together_move_the_pass_only_from_where_it_stands(app: App) -> None:
    state = brand.sync_state
    start = state.begin_run(app.engine, "together", full=True, full_every=0)
    stamp = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def record(first: int, last: int, cursor: str | None) -> bool:
        return bool(
            state.advance(
                app.engine,
                "together",
                pass_id=start.pass_id,
                page_no=last,
                next_cursor=cursor,
                page_max_updated_at=stamp,
                first_page_no=first,
            )
        )

    assert record(0, 4, "after-4")
    assert not record(0, 4, "after-4")  # recorded already: nothing moves
    assert not record(3, 7, "after-7")  # pages 5-6 are missing: refused
    assert record(5, 7, None)  # the last page closes the pass
    row = state.read_state(app.engine, "together")
    assert row is not None
    assert (row["pass_id"], row["pages_done"], row["resume_cursor"]) == (None, 0, None)
    assert row["watermark"] == stamp


async def test_finished_page_runs_are_kept_for_a_day(app: App) -> None:
    seed(app.system, 5)
    await pull.sync_brands_from_system(app.container)

    (info,) = await app.workflows.list_executions(pull.WORKFLOW_NAME, limit=10)
    record = await app.store.load_run(info.workflow, info.id)

    assert record is not None
    assert record.finished_at is not None
    assert record.expires_at == pytest.approx(record.finished_at + 24 * 3600)


Listing = tuple[list[Any], list[Any]]


def later(stamp: str) -> str:
    moment = datetime.fromisoformat(stamp) + timedelta(microseconds=1)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def replace_at(values: list[Any], index: int, value: Any) -> list[Any]:
    return [*values[:index], value, *values[index + 1 :]]


# How a listing may differ from the versions the store holds, and the check's answer.
CHANGES: dict[str, tuple[Callable[[list[Any], list[Any]], Listing], bool]] = {
    "as listed": (lambda ids, stamps: (ids, stamps), True),
    "stamps ending +00:00": (
        lambda ids, stamps: (ids, [stamp.replace("Z", "+00:00") for stamp in stamps]),
        True,
    ),
    "one stamp a microsecond later": (
        lambda ids, stamps: (ids, replace_at(stamps, 2, later(stamps[2]))),
        False,
    ),
    "one stamp with five fraction digits": (
        lambda ids, stamps: (ids, replace_at(stamps, 2, stamps[2][:25] + "Z")),
        False,
    ),
    "one stamp impossible": (
        lambda ids, stamps: (ids, replace_at(stamps, 4, "2026-02-30T10:00:00.000000Z")),
        False,
    ),
    "one stamp with Z twice": (
        lambda ids, stamps: (ids, replace_at(stamps, 3, stamps[3] + "Z")),
        False,
    ),
    "one stamp not text": (lambda ids, stamps: (ids, replace_at(stamps, 1, 5)), False),
    "a NUL after the last stamp": (
        lambda ids, stamps: (ids, replace_at(stamps, 4, stamps[4] + "\0")),
        False,
    ),
    "an unknown id": (lambda ids, stamps: (replace_at(ids, 2, "brd_unknown"), stamps), False),
    "an id not text": (lambda ids, stamps: (replace_at(ids, 0, 17), stamps), False),
    "a NUL in an id": (lambda ids, stamps: (replace_at(ids, 1, ids[1] + "\0"), stamps), False),
    "two ids swapped": (
        lambda ids, stamps: ([ids[1], ids[0], *ids[2:]], stamps),
        False,
    ),
    # Held, every one: what the system lists around them is no matter.
    "one record left out": (
        lambda ids, stamps: ([*ids[:2], *ids[3:]], [*stamps[:2], *stamps[3:]]),
        True,
    ),
    "records in another order": (lambda ids, stamps: (ids[::-1], stamps[::-1]), True),
    "only the first record": (lambda ids, stamps: (ids[:1], stamps[:1]), True),
    "one record twice": (
        lambda ids, stamps: ([*ids, ids[-1]], [*stamps, stamps[-1]]),
        False,
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_page_is_settled_only_when_every_listed_version_is_held(
    app: App, change: str
) -> None:
    seed(app.system, 5)
    await pull.sync_brands_from_system(app.container)
    listed = (await app.service.client.fetch_page()).listed
    make, expected = CHANGES[change]
    ids, stamps = make([r["id"] for r in listed], [r["updated_at"] for r in listed])
    changed = [{"id": i, "updated_at": stamp} for i, stamp in zip(ids, stamps, strict=True)]
    page = brand.BrandPage(changed, None, None)

    assert await settled.page_is_settled(app.service, page) is expected


json_texts = st.text(alphabet=st.sampled_from('Z":,{}\\az\0'), max_size=6)


@given(st.dictionaries(json_texts, json_texts, max_size=5))
def test_the_stored_form_changes_only_a_final_z_of_each_value(versions: dict[str, str]) -> None:
    stored = json.loads(brand.service._stored_form(orjson.dumps(versions)))

    assert stored == {
        key: value[:-1] + "+00:00" if value.endswith("Z") else value
        for key, value in versions.items()
    }
