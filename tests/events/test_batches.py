"""Event batches and chains: sequences of events that build the objects only when asked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loomwork.events import Event, EventBatch, EventChain, parts_of


def batch(count: int = 3, name: str = "brand.created") -> EventBatch:
    ids = [f"evt_{n}" for n in range(count)]
    return EventBatch(name, ids, [{"id": f"brand_{n}"} for n in range(count)], {"by": "sync"}, 5.0)


def test_a_batch_reads_as_the_events_it_stands_for() -> None:
    events = batch()
    assert len(events) == 3
    assert events[1] == Event("brand.created", {"id": "brand_1"}, {"by": "sync"}, "evt_1", 5.0)
    assert events[-1].id == "evt_2"
    assert [event.id for event in events[:2]] == ["evt_0", "evt_1"]
    assert events == [events[0], events[1], events[2]]
    assert list(events) == events[:]


def test_a_batch_builds_its_events_once_each_with_its_own_metadata() -> None:
    events = batch()
    first, again = list(events), list(events)
    assert all(a is b for a, b in zip(first, again, strict=True))
    first[0].metadata["by"] = "someone else"
    assert events[1].metadata == {"by": "sync"}
    assert events.metadata == {"by": "sync"}


def test_a_batch_needs_one_id_per_data_item() -> None:
    with pytest.raises(ValueError, match="one id per data item"):
        EventBatch("brand.created", ["evt_1"], [], None, 1.0)


def test_a_chain_strings_parts_together_and_flattens_chains() -> None:
    one, two = batch(2), batch(1, "brand.updated")
    single = Event("brand.deleted", {"id": "brand_9"})
    chain = EventChain([one, EventChain([[single], two]), []])
    assert parts_of(chain) == [one, [single], two]
    assert len(chain) == 4
    assert [event.name for event in chain] == [
        "brand.created",
        "brand.created",
        "brand.deleted",
        "brand.updated",
    ]
    assert chain[2] is single
    assert chain == [*one, single, *two]
    assert chain != [*one, single]
    assert parts_of([]) == []
    assert parts_of(one) == [one]


@given(st.lists(st.integers(min_value=0, max_value=4), max_size=5))
def test_a_chain_equals_the_list_of_its_parts_events(sizes: list[int]) -> None:
    parts = [batch(size, f"e{index}") for index, size in enumerate(sizes)]
    chain = EventChain(parts)
    assert chain == [event for part in parts for event in part]
    assert len(chain) == sum(sizes)
