"""Staged events for workflow runs, and sinks that publish straight to a bus."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from event_helpers import Recorder

from loomwork.errors import ConflictError
from loomwork.events import (
    BusEventSink,
    Event,
    EventSink,
    LocalEventBus,
    StagedEvents,
    Subscriber,
    current_event_sink,
    dump_event,
    load_event,
    use_event_sink,
)


def test_release_returns_staged_events_in_emit_order_and_empties_the_buffer() -> None:
    staged = StagedEvents()
    first, second, third = (Event("brand.created", {"n": n}) for n in range(3))

    staged.emit([first])
    staged.emit([second, third])

    assert len(staged) == 3
    assert StagedEvents()  # empty but truthy, so `current_event_sink() or x` keeps it
    assert staged.release() == [first, second, third]
    assert staged.release() == []
    assert len(staged) == 0


def test_discard_drops_everything_staged() -> None:
    staged = StagedEvents([Event("brand.created", {})])
    staged.emit([Event("brand.updated", {})])

    staged.discard()

    assert staged.events == []
    assert staged.release() == []


def test_staged_events_survive_a_json_round_trip_for_an_outbox() -> None:
    event = Event("brand.created", {"id": "brand_1"}, metadata={"source": "sync"})

    assert load_event(dump_event(event)) == event


def test_the_sinks_satisfy_the_sink_protocol() -> None:
    assert isinstance(StagedEvents(), EventSink)
    assert isinstance(BusEventSink(LocalEventBus()), EventSink)


async def test_bus_sink_publishes_from_sync_code() -> None:
    recorder = Recorder()
    bus = LocalEventBus()
    bus.subscribe(Subscriber(recorder, "brand.created", subscriber_id="r"))
    sink = BusEventSink(bus)
    events = [Event("brand.created", {"n": n}) for n in range(2)]

    async with bus:
        sink.emit(events)  # a plain call, as a service makes after its commit
        sink.emit([])
        await sink.flush()
        await bus.drain()

    assert recorder.events == events


async def test_bus_sink_publishes_from_a_sync_handler_in_a_worker_thread() -> None:
    recorder = Recorder()
    bus = LocalEventBus()
    sink = BusEventSink(bus)
    follow_up = Event("brand.synced", {"id": "brand_1"})

    def on_created(event: Event, container: Any) -> None:
        sink.emit([follow_up])  # runs in a thread: no event loop here

    bus.subscribe(Subscriber(on_created, "brand.created", subscriber_id="sync"))
    bus.subscribe(Subscriber(recorder, "brand.synced", subscriber_id="r"))
    async with bus:
        await bus.publish([Event("brand.created", {"id": "brand_1"})])
        await bus.drain()
        await sink.flush()
        await bus.drain()

    assert recorder.events == [follow_up]


def test_bus_sink_outside_any_loop_says_how_to_fix_it() -> None:
    sink = BusEventSink(LocalEventBus())

    with pytest.raises(ConflictError, match="create the sink in the application's loop"):
        sink.emit([Event("brand.created", {})])


async def test_a_failing_publish_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(LocalEventBus):
        async def publish(self, events: Sequence[Event]) -> None:
            raise ConnectionError("bus down")

    sink = BusEventSink(Broken())
    event = Event("brand.created", {})

    sink.emit([event])
    await sink.flush()

    assert any(event.id in r.getMessage() for r in caplog.records)


async def test_use_event_sink_scopes_the_current_sink_to_its_block_and_tasks() -> None:
    staged = StagedEvents()
    seen_in_task: list[EventSink | None] = []

    async def look() -> None:
        seen_in_task.append(current_event_sink())

    assert current_event_sink() is None
    with use_event_sink(staged) as sink:
        assert current_event_sink() is staged is sink
        await asyncio.create_task(look())
    assert current_event_sink() is None
    assert seen_in_task == [staged]
