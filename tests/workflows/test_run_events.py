"""Events emitted inside a run are released only when the top-level run succeeds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wf_helpers import unique

from loomwork.container import Container
from loomwork.db import create_engine
from loomwork.errors import LoomworkError
from loomwork.events import Event, LocalEventBus, Subscriber, dump_event, events_of
from loomwork.workflows import (
    MemoryStore,
    RunState,
    StepContext,
    WorkflowEngine,
    WorkflowResponse,
    create_step,
    create_workflow,
)
from loomwork.workflows._codec import decode
from loomwork.workflows._events import dump_events, load_events, outbox_events
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore


class Received:
    """A subscriber that records every event it is handed."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event, container: Any) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [event.name for event in self.events]


@pytest.fixture
def received() -> Received:
    return Received()


@pytest.fixture
async def bus(received: Received) -> AsyncIterator[LocalEventBus]:
    bus = LocalEventBus()
    bus.subscribe(Subscriber(received, "*", subscriber_id=unique("recorder")))
    await bus.start()
    yield bus
    await bus.stop()


def emitting(name: str, event: str, fail: bool = False) -> Any:
    async def invoke(input: Any, ctx: StepContext) -> str:
        ctx.emit_event(event, {"step": name})
        if fail:
            raise RuntimeError(f"{name} failed")
        return name

    async def compensate(data: Any, ctx: StepContext) -> None:
        ctx.emit_event(f"{event}.undone", {"step": name})

    return create_step(unique(name), invoke, compensate)


async def test_events_are_published_after_the_run_succeeds(
    bus: LocalEventBus, received: Received
) -> None:
    first, second = emitting("a", "brand.created"), emitting("b", "brand.updated")

    @create_workflow(unique("emits"))
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse([first(input), second(input)])

    await workflow(Container({"event_bus": bus})).run()
    await bus.drain()
    assert received.names() == ["brand.created", "brand.updated"]
    assert received.events[0].data == {"step": "a"}


async def test_events_of_a_compensated_run_are_dropped(
    bus: LocalEventBus, received: Received
) -> None:
    first, failing = emitting("a", "brand.created"), emitting("b", "x", fail=True)

    @create_workflow(unique("drops"))
    def workflow(input: Any) -> None:
        first(input)
        failing(input)

    run = await workflow(Container({"event_bus": bus})).run(throw_on_error=False)
    await bus.drain()
    assert run.state is RunState.REVERTED
    assert received.events == []  # nor the events emitted while compensating


async def test_a_nested_run_releases_its_events_with_the_parent(
    bus: LocalEventBus, received: Received
) -> None:
    child_step = emitting("child", "child.event")

    @create_workflow(unique("child-wf"))
    def child(input: Any) -> WorkflowResponse:
        return WorkflowResponse(child_step(input))

    parent_step = emitting("parent", "parent.event")
    failing = emitting("late", "late.event", fail=True)

    @create_workflow(unique("parent-ok"))
    def parent(input: Any) -> None:
        child.run_as_step(input=input)
        parent_step(input)

    @create_workflow(unique("parent-fails"))
    def failing_parent(input: Any) -> None:
        child.run_as_step(input=input)
        failing(input)

    container = Container({"event_bus": bus})
    await failing_parent(container).run(throw_on_error=False)
    await bus.drain()
    assert received.events == []  # the child succeeded, but its parent did not

    await parent(container).run()
    await bus.drain()
    assert received.names() == ["child.event", "parent.event"]


class FlakyBus(LocalEventBus):
    """A bus whose publish fails until it is told to work (a broker outage)."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False

    async def publish(self, events: Any) -> None:
        if not self.up:
            raise ConnectionError("broker unreachable")
        await super().publish(events)


async def test_durable_run_events_survive_a_failed_publish_in_the_outbox() -> None:
    bus = FlakyBus()
    received = Received()
    bus.subscribe(Subscriber(received, "*", subscriber_id=unique("outbox")))
    await bus.start()
    engine = WorkflowEngine(MemoryStore(), container=Container({"event_bus": bus}))
    step = emitting("stored", "brand.created")
    name = unique("outboxed")

    @create_workflow(name, store=True)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse(step(input))

    run = await engine.run(workflow, transaction_id="o1")
    assert run.state is RunState.DONE
    assert await engine.publish_outbox() == 0  # still down: kept
    bus.up = True
    assert await engine.publish_outbox() == 1
    assert await engine.publish_outbox() == 0  # published once
    await bus.drain()
    assert received.names() == ["brand.created"]
    await bus.stop()
    await engine.close()


async def test_the_outbox_of_a_stored_run_names_the_steps_holding_its_events(
    tmp_path: Any,
) -> None:
    bus = FlakyBus()
    received = Received()
    bus.subscribe(Subscriber(received, "*", subscriber_id=unique("outbox-sql")))
    await bus.start()
    store = SqlAlchemyStore(create_engine(f"sqlite:///{tmp_path / 'runs.sqlite'}"))
    engine = WorkflowEngine(store, container=Container({"event_bus": bus}))
    first, second = emitting("one", "brand.created"), emitting("two", "brand.updated")
    name = unique("outboxed-sql")

    @create_workflow(name, store=True)
    def workflow(input: Any) -> WorkflowResponse:
        return WorkflowResponse([first(input), second(input)])

    await engine.run(workflow, transaction_id="o1")
    (pending,) = await store.list_outbox(10)
    bus.up = True
    published = await engine.publish_outbox()

    # The events were written once, with their steps; the outbox only points at them.
    assert decode(pending.outbox_json) == {"steps": [first.name, second.name]}
    assert published == 1
    await bus.drain()
    assert received.names() == ["brand.created", "brand.updated"]
    assert await store.list_outbox(10) == []
    await bus.stop()
    await engine.close()
    await store.close()


def test_an_outbox_entry_holding_the_events_themselves_still_reads() -> None:
    entry = [dump_event(Event("brand.created", {"id": "b1"}))]

    (event,) = outbox_events(entry, {})

    assert (event.name, event.data) == ("brand.created", {"id": "b1"})
    with pytest.raises(LoomworkError, match="step 'gone'"):
        outbox_events({"steps": ["gone"]}, {})


event_values = st.builds(
    Event,
    name=st.sampled_from(["brand.created", "brand.updated"]),
    data=st.dictionaries(st.text(max_size=3), st.integers() | st.text(max_size=3), max_size=2),
    metadata=st.sampled_from([{}, {"source": "sync:system"}, {"source": "admin"}]),
    id=st.text(min_size=1, max_size=8),
    timestamp=st.sampled_from([1.0, 1.5, 1e9]),
)


@given(st.lists(event_values, max_size=12))
def test_checkpointed_events_read_back_equal_and_in_order(events: list[Event]) -> None:
    dumped = dump_events(events)

    assert load_events(json.loads(json.dumps(dumped))) == events
    # Events alike but for id and data share one group.
    keys = [(event.name, event.metadata, event.timestamp) for event in events]
    runs = sum(1 for i, key in enumerate(keys) if i == 0 or key != keys[i - 1])
    assert len(dumped["groups"]) == runs


def test_checkpoints_holding_one_object_per_event_still_read() -> None:
    older = [dump_event(Event("brand.created", {"id": "b1"}, {"source": "s"}, "evt_1", 2.0))]

    assert load_events(older) == [
        Event("brand.created", {"id": "b1"}, {"source": "s"}, "evt_1", 2.0)
    ]
    assert load_events(None) == []


def test_events_of_builds_what_the_constructor_builds_each_with_its_own_metadata() -> None:
    metadata = {"source": "sync:system"}
    made = events_of(
        "brand.created", [("evt_1", {"id": "b1"}), ("evt_2", {"id": "b2"})], metadata, 3.0
    )

    assert made == [
        Event("brand.created", {"id": "b1"}, {"source": "sync:system"}, "evt_1", 3.0),
        Event("brand.created", {"id": "b2"}, {"source": "sync:system"}, "evt_2", 3.0),
    ]
    made[0].metadata["seen"] = True
    assert made[1].metadata == metadata == {"source": "sync:system"}
    with pytest.raises(AttributeError):
        made[0].name = "other"  # type: ignore[misc]
