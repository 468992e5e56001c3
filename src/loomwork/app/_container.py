"""Building the container a project's steps, jobs, subscribers and routes resolve from.

Keys (:data:`BUILTIN_KEYS`)::

    logger            logging.Logger named after the project
    config            the AppConfig
    project           the loaded Project
    db_engine         SQLAlchemy engine on [database] url (shared by every store and service)
    event_bus         LocalEventBus, or RedisEventBus when [redis] url is set
    event_sink        BusEventSink on that bus (module services emit through it)
    workflow_engine   WorkflowEngine on a SqlAlchemyStore in the same database
    scheduler         Scheduler on a SqlAlchemyScheduleStore, with the project's jobs
    <module key>      each module's service, built with its [modules.<key>] options
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from pathlib import Path

import sqlalchemy as sa

from loomwork.app._config import AppConfig
from loomwork.app._project import Project
from loomwork.container import Container
from loomwork.db import create_engine
from loomwork.errors import ConfigurationError, DefinitionError
from loomwork.events import BusEventSink, EventBus, LocalEventBus
from loomwork.scheduler import Scheduler
from loomwork.scheduler.stores.sqlalchemy import SqlAlchemyScheduleStore
from loomwork.workflows import WorkflowEngine
from loomwork.workflows.stores.sqlalchemy import SqlAlchemyStore

__all__ = [
    "BUILTIN_KEYS",
    "build_container",
    "close_container",
    "instance_id",
    "prepare_database",
]

BUILTIN_KEYS = (
    "logger",
    "config",
    "project",
    "db_engine",
    "event_bus",
    "event_sink",
    "workflow_engine",
    "scheduler",
)


def instance_id() -> str:
    """An id for this process, written on the workflow runs and job runs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def prepare_database(url: str) -> None:
    """Create the folder of a SQLite database file if it is missing."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)


def build_container(project: Project, config: AppConfig, *, owner: str | None = None) -> Container:
    """Create every service of the project; nothing is started (see :class:`App`).

    Raises :class:`ConfigurationError` for options of an unknown module or invalid module
    options, and :class:`DefinitionError` for a module key that clashes with a built-in one.
    """
    _check_module_keys(project, config)
    owner = owner or instance_id()
    container = Container()
    container.register("logger", logging.getLogger(config.name))
    container.register("config", config)
    container.register("project", project)
    prepare_database(config.database.url)
    engine = create_engine(config.database.url)
    container.register("db_engine", engine)
    bus = _event_bus(config, container)
    container.register("event_bus", bus)
    sink = BusEventSink(bus)
    container.register("event_sink", sink)
    for module in project.modules:
        options = config.modules.get(module.key)
        service = module.create_service(engine, options=options, event_sink=sink)
        container.register(module.key, service)
    WorkflowEngine(
        SqlAlchemyStore(engine),
        container=container,
        owner=owner,
        lease_seconds=config.workflows.lease,
        poll_interval=config.workflows.poll_interval,
    )
    container.register("scheduler", _scheduler(project, config, container, engine, owner))
    for subscriber in project.subscribers:
        bus.subscribe(subscriber)
    return container


def _check_module_keys(project: Project, config: AppConfig) -> None:
    keys = {module.key for module in project.modules}
    for module in project.modules:
        if module.key in BUILTIN_KEYS:
            raise DefinitionError(
                f"module key {module.key!r} is reserved by the container; rename the module"
            )
    for key in config.modules:
        if key not in keys:
            known = ", ".join(sorted(keys)) or "none"
            raise ConfigurationError(f"modules.{key}", f"no module has this key (modules: {known})")


def _event_bus(config: AppConfig, container: Container) -> EventBus:
    if config.redis.url is None:
        return LocalEventBus(container, stop_timeout=config.worker.grace_period)
    from loomwork.events.redis import RedisEventBus

    return RedisEventBus(
        config.redis.url,
        container,
        prefix=config.redis.prefix,
        stop_timeout=config.worker.grace_period,
    )


def _scheduler(
    project: Project, config: AppConfig, container: Container, engine: sa.Engine, owner: str
) -> Scheduler:
    scheduler = Scheduler(
        SqlAlchemyScheduleStore(engine),
        container=container,
        instance_id=owner,
        lease=config.scheduler.lease,
        misfire_grace=config.scheduler.misfire_grace,
        stop_grace=config.worker.grace_period,
        run_retention=config.scheduler.run_retention,
    )
    for job in project.jobs:
        scheduler.add_job(job.handler, job.config)
    return scheduler


async def close_container(container: Container) -> None:
    """Stop and release everything :func:`build_container` created, in dependency order."""
    scheduler: Scheduler = container.resolve("scheduler")
    if scheduler.running:
        await scheduler.stop()
    engine: WorkflowEngine = container.resolve("workflow_engine")
    await engine.close()
    bus: EventBus = container.resolve("event_bus")
    sink: BusEventSink = container.resolve("event_sink")
    await sink.flush()
    await bus.stop()
    await scheduler.store.close()
    await engine.store.close()
    db: sa.Engine = container.resolve("db_engine")
    db.dispose()
