"""The EventBus contract, run against the local bus and the Redis Streams bus."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from event_helpers import FAST_RETRY, BusFactory, Recorder

from loomwork.container import Container
from loomwork.errors import ConflictError, DefinitionError
from loomwork.events import Event, EventBatch, EventChain, LocalEventBus, RetryPolicy, Subscriber

pytestmark = pytest.mark.timeout(30)


async def test_events_reach_the_subscribers_whose_names_match(make_bus: BusFactory) -> None:
    one, many, every, other = Recorder(), Recorder(), Recorder(), Recorder()
    bus = make_bus()
    bus.subscribe(Subscriber(one, "brand.created", subscriber_id="one"))
    bus.subscribe(Subscriber(many, ["brand.created", "brand.updated"], subscriber_id="many"))
    bus.subscribe(Subscriber(every, "*", subscriber_id="every"))
    bus.subscribe(Subscriber(other, "product.created", subscriber_id="other"))
    await bus.start()
    created = Event("brand.created", {"id": "brand_1"})
    updated = Event("brand.updated", {"id": "brand_1"})
    placed = Event("order.placed", {"id": "order_1"})

    await bus.publish([created, updated, placed])
    await bus.drain()

    assert one.ids == [created.id]
    assert many.ids == [created.id, updated.id]
    assert every.ids == [created.id, updated.id, placed.id]
    assert other.events == []


async def test_event_fields_and_container_reach_the_handler_intact(
    make_bus: BusFactory,
) -> None:
    container = Container({"marker": "here"})
    recorder = Recorder()
    bus = make_bus(container)
    bus.subscribe(Subscriber(recorder, "brand.created", subscriber_id="fields"))
    await bus.start()
    sent = Event(
        "brand.created",
        {"id": "brand_1", "tags": ["a", "b"], "n": 3},
        metadata={"source": "sync:system", "nested": {"x": 1.5}},
        timestamp=1_700_000_000.123456,
    )

    await bus.publish([sent])
    await bus.drain()

    assert recorder.events == [sent]
    assert recorder.containers[0].resolve("marker") == "here"


async def test_a_raising_subscriber_affects_neither_others_nor_the_publisher(
    make_bus: BusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    broken, healthy = Recorder(fail_times=100), Recorder()
    bus = make_bus()
    bus.subscribe(Subscriber(broken, "brand.created", subscriber_id="broken", retry=FAST_RETRY))
    bus.subscribe(Subscriber(healthy, "brand.created", subscriber_id="healthy"))
    await bus.start()
    events = [Event("brand.created", {"n": n}) for n in range(3)]

    with caplog.at_level(logging.WARNING, logger="loomwork.events"):
        await bus.publish(events)
        await bus.drain()

    assert healthy.ids == [e.id for e in events]
    assert broken.events == []
    failures = [r.getMessage() for r in caplog.records if r.name == "loomwork.events"]
    assert any("broken" in text and events[0].id in text for text in failures)


async def test_a_failing_handler_is_retried_until_it_succeeds(make_bus: BusFactory) -> None:
    flaky = Recorder(fail_times=2)
    bus = make_bus()
    bus.subscribe(Subscriber(flaky, "brand.created", subscriber_id="flaky", retry=FAST_RETRY))
    await bus.start()
    event = Event("brand.created", {"id": "brand_1"})

    await bus.publish([event])
    await bus.drain()

    assert flaky.calls == 3
    assert flaky.ids == [event.id]
    assert await bus.dead_letters() == []


async def test_the_event_is_dead_lettered_after_the_last_attempt(make_bus: BusFactory) -> None:
    broken, fine = Recorder(fail_times=100, error=ValueError), Recorder()
    bus = make_bus()
    bus.subscribe(Subscriber(broken, "brand.created", subscriber_id="broken", retry=FAST_RETRY))
    bus.subscribe(Subscriber(fine, "brand.created", subscriber_id="fine"))
    await bus.start()
    event = Event("brand.created", {"id": "brand_1"}, metadata={"source": "test"})

    await bus.publish([event])
    await bus.drain()

    assert broken.calls == FAST_RETRY.max_attempts
    [letter] = await bus.dead_letters()
    assert letter.subscriber_id == "broken"
    assert letter.event == event
    assert letter.attempts == FAST_RETRY.max_attempts
    assert letter.error == f"ValueError: failure 3 on {event.id}"
    assert await bus.dead_letters("fine") == []
    assert [d.event.id for d in await bus.dead_letters("broken")] == [event.id]


async def test_a_subscriber_receives_events_in_publish_order(make_bus: BusFactory) -> None:
    recorder = Recorder()
    bus = make_bus()
    bus.subscribe(Subscriber(recorder, "*", subscriber_id="ordered"))
    await bus.start()
    events = [Event(f"thing.{n % 3}", {"n": n}) for n in range(120)]

    for start in range(0, len(events), 10):
        await bus.publish(events[start : start + 10])
    await bus.drain()

    assert recorder.ids == [e.id for e in events]


async def test_sync_handlers_run_off_the_event_loop(make_bus: BusFactory) -> None:
    seen: list[tuple[str, bool]] = []

    def handler(event: Event, container: Any) -> None:
        seen.append((event.id, threading.current_thread() is threading.main_thread()))

    bus = make_bus()
    bus.subscribe(Subscriber(handler, "brand.created"))
    await bus.start()
    event = Event("brand.created", {})

    await bus.publish([event])
    await bus.drain()

    assert seen == [(event.id, False)]


async def test_duplicate_subscriber_ids_are_rejected(make_bus: BusFactory) -> None:
    bus = make_bus()
    handler = Recorder()
    bus.subscribe(Subscriber(handler, "a.b", subscriber_id="same"))

    with pytest.raises(DefinitionError, match="'same' is already taken"):
        bus.subscribe(Subscriber(Recorder(), "c.d", subscriber_id="same"))

    async def first(event: Event, container: Any) -> None: ...

    bus.subscribe(Subscriber(first, "a.b"))
    with pytest.raises(DefinitionError, match="first"):
        bus.subscribe(Subscriber(first, "x.y"))
    ids = [s.id for s in bus.subscribers]
    assert ids[0] == "same"
    assert ids[1].endswith("test_duplicate_subscriber_ids_are_rejected.<locals>.first")


async def test_subscribing_to_a_running_bus_and_draining_a_stopped_one_are_refused(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    with pytest.raises(ConflictError, match="start"):
        await bus.drain()
    await bus.start()
    with pytest.raises(ConflictError, match="subscribe before start"):
        bus.subscribe(Subscriber(Recorder(), "a.b", subscriber_id="late"))


async def test_drain_times_out_while_a_retry_is_still_waiting(make_bus: BusFactory) -> None:
    slow_retry = RetryPolicy(max_attempts=2, initial_backoff=30, max_backoff=30)
    bus = make_bus(stop_timeout=0)
    bus.subscribe(Subscriber(Recorder(fail_times=5), "a.b", subscriber_id="slow", retry=slow_retry))
    await bus.start()

    await bus.publish([Event("a.b", {})])

    with pytest.raises(TimeoutError, match="pending"):
        await bus.drain(timeout=0.3)


async def test_a_restarted_bus_delivers_what_stop_cut_short(make_bus: BusFactory) -> None:
    calls: list[str] = []
    started = asyncio.Event()

    async def hangs_the_first_time(event: Event, container: Any) -> None:
        calls.append(event.id)
        started.set()
        if len(calls) == 1:
            await asyncio.Event().wait()

    bus = make_bus(stop_timeout=0)
    bus.subscribe(Subscriber(hangs_the_first_time, "job.run", subscriber_id="cut"))
    await bus.start()
    event = Event("job.run", {})
    await bus.publish([event])
    await asyncio.wait_for(started.wait(), 10)

    await bus.stop()
    await bus.start()
    await bus.drain()

    assert calls == [event.id, event.id]


async def test_a_subscriber_where_keeps_the_events_it_refuses_from_its_handler(
    make_bus: BusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    mine, everything = Recorder(), Recorder()

    def made_here(event: Event) -> bool:
        if event.metadata.get("source") == "broken":
            raise ValueError("cannot judge")
        return event.metadata.get("source") != "sync"

    bus = make_bus()
    bus.subscribe(Subscriber(mine, "brand.created", subscriber_id="mine", where=made_here))
    bus.subscribe(Subscriber(everything, "brand.created", subscriber_id="everything"))
    await bus.start()
    events = [
        Event("brand.created", {"n": 1}, metadata={"source": "admin"}),
        Event("brand.created", {"n": 2}, metadata={"source": "sync"}),
        Event("brand.created", {"n": 3}, metadata={"source": "broken"}),
    ]

    with caplog.at_level(logging.ERROR, logger="loomwork.events"):
        await bus.publish(events)
        await bus.drain()

    assert mine.ids == [events[0].id, events[2].id]  # a where() that raises delivers
    assert everything.ids == [event.id for event in events]
    assert any("where() failed" in record.getMessage() for record in caplog.records)
    assert await bus.dead_letters() == []


def test_where_must_be_callable() -> None:
    with pytest.raises(DefinitionError, match="where must be callable"):
        Subscriber(Recorder(), "brand.created", subscriber_id="bad", where=True)  # type: ignore[arg-type]


async def test_skip_metadata_keeps_matching_events_from_the_handler(make_bus: BusFactory) -> None:
    pushed, everything = Recorder(), Recorder()
    sync = {"source": "sync", "run": "r1"}
    bus = make_bus()
    skip = {"source": "sync"}
    bus.subscribe(Subscriber(pushed, "brand.created", subscriber_id="push", skip_metadata=skip))
    bus.subscribe(Subscriber(everything, "brand.created", subscriber_id="everything"))
    await bus.start()
    batch = EventBatch("brand.created", ["evt_1", "evt_2"], [{"n": 1}, {"n": 2}], sync, 1.0)
    admin = Event("brand.created", {"n": 3}, metadata={"source": "admin"})
    bare = Event("brand.created", {"n": 4})

    await bus.publish(EventChain([batch, [admin, bare]]))
    await bus.drain()

    assert pushed.ids == [admin.id, bare.id]
    assert everything.ids == ["evt_1", "evt_2", admin.id, bare.id]
    assert [event.data for event in everything.events[:2]] == [{"n": 1}, {"n": 2}]
    assert everything.events[0].metadata == sync


async def test_a_batch_no_subscriber_wants_builds_no_event_objects(make_bus: BusFactory) -> None:
    class CountingBatch(EventBatch):
        __slots__ = ("builds",)

        def events(self) -> list[Event]:
            self.builds = getattr(self, "builds", 0) + 1
            return super().events()

    bus = make_bus()
    skip = {"source": "sync"}
    bus.subscribe(Subscriber(Recorder(), "brand.created", subscriber_id="p", skip_metadata=skip))
    await bus.start()
    batch = CountingBatch("brand.created", ["evt_1"], [{}], {"source": "sync"}, 1.0)

    await bus.publish(batch)
    await bus.drain()

    if isinstance(bus, LocalEventBus):  # the Redis bus stores every event it is given
        assert getattr(batch, "builds", 0) == 0


def test_skip_metadata_must_be_a_mapping() -> None:
    with pytest.raises(DefinitionError, match="skip_metadata must be a mapping"):
        Subscriber(Recorder(), "brand.created", subscriber_id="bad", skip_metadata=["source"])  # type: ignore[arg-type]
