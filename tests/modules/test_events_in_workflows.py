"""Service writes made inside a workflow step publish their events only if the run succeeds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from loomwork.container import Container
from loomwork.events import BusEventSink, Event, LocalEventBus, Subscriber
from loomwork.workflows import StepContext, StepResponse, create_step, create_workflow

from .fixtures.brand import module

received: list[Event] = []


async def record(event: Event, container: Any) -> None:
    received.append(event)


@pytest.fixture
async def container(engine: sa.Engine) -> AsyncIterator[Container]:
    received.clear()
    bus = LocalEventBus()
    bus.subscribe(Subscriber(record, "*", subscriber_id="brand-recorder"))
    await bus.start()
    # Inside a step the service stages its events with the run; elsewhere they go here.
    service = module.create_service(engine, event_sink=BusEventSink(bus))
    yield Container({"brand": service, "event_bus": bus})
    await bus.stop()


async def create(input: Any, ctx: StepContext) -> StepResponse[list[str]]:
    brands = await ctx.container.resolve("brand").create_brands(input["brands"])
    return StepResponse([b["id"] for b in brands])


async def delete(ids: Any, ctx: StepContext) -> None:
    if ids:
        await ctx.container.resolve("brand").delete_brands(ids)


async def explode(input: Any, ctx: StepContext) -> None:
    if input["fail"]:
        raise RuntimeError("later step failed")


create_step_ = create_step("events-create-brands", create, delete)
explode_step = create_step("events-maybe-fail", explode)


@create_workflow("events-in-workflow")
def workflow(input: Any) -> Any:
    created = create_step_(input)
    explode_step(input)
    return created


async def test_service_events_are_released_only_when_the_run_succeeds(
    container: Container,
) -> None:
    bus: LocalEventBus = container.resolve("event_bus")
    await workflow(container).run(
        {"brands": [{"name": "Gone"}], "fail": True}, throw_on_error=False
    )
    await bus.drain()
    assert received == []  # created then deleted by compensation: nothing was announced

    run = await workflow(container).run({"brands": [{"name": "Acme"}], "fail": False})
    await bus.drain()
    assert [event.name for event in received] == ["brand.created"]
    assert received[0].data == {"id": run.result[0]}


async def test_service_events_outside_workflows_go_straight_to_the_bus(
    container: Container,
) -> None:
    bus: LocalEventBus = container.resolve("event_bus")
    await container.resolve("brand").create_brands([{"name": "Direct"}])
    await bus.drain()
    assert [event.name for event in received] == ["brand.created"]
