"""The application lifecycle: start a project in a worker mode, stop it gracefully.

Start-up, in order: configure logging, import the project, check (or apply) migrations,
build the container, then by mode:

* ``worker`` and ``shared``: workflow recovery and polling (runs whose owner died are
  resumed), the event bus's subscribers, the scheduler;
* ``server`` and ``shared``: the HTTP server. A ``server`` process publishes events but
  consumes them only on the in-process bus (which has no other consumer).

When everything runs, what start-up made is frozen out of the garbage collector's way
(:func:`freeze_startup_objects`) and one ``ready`` line is logged. Shutdown (:meth:`App.stop`, or
SIGTERM/SIGINT under :meth:`App.run`): stop taking new work (no new ticks, no new
connections), let in-flight job runs and requests finish for up to ``worker.grace_period``
seconds, then close the engine, the bus and the database. A second signal exits at once
with status 1; interrupted workflow runs are resumed by another instance (or the next
start) once their lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from loomwork.app._config import AppConfig, WorkerMode, load_config
from loomwork.app._container import build_container, close_container, prepare_database
from loomwork.app._logging import configure_logging
from loomwork.app._memory import freeze_startup_objects
from loomwork.app._migrations import ensure_migrated
from loomwork.app._project import Project, load_project
from loomwork.container import Container
from loomwork.errors import ConfigurationError, ConflictError
from loomwork.events import EventBus
from loomwork.scheduler import Scheduler
from loomwork.workflows import WorkflowEngine

if TYPE_CHECKING:
    import uvicorn

__all__ = ["App"]

logger = logging.getLogger("loomwork.app")
FORCED_EXIT_STATUS = 1


class App:
    """One running instance of a project (``loomwork start`` drives it).

    ``config`` defaults to :func:`load_config` on ``root`` (reading ``environ``, default
    ``os.environ``). Logs go to ``log_stream`` (default: stderr).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        config: AppConfig | None = None,
        environ: Mapping[str, str] | None = None,
        log_stream: TextIO | None = None,
    ) -> None:
        self.config = config or load_config(root, environ)
        self._log_stream = log_stream
        self.project: Project | None = None
        self.container: Container | None = None
        self.mode: WorkerMode | None = None
        self._server: uvicorn.Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    @property
    def http_url(self) -> str | None:
        """``http://host:port`` while the HTTP server runs."""
        if self._server is None:
            return None
        return f"http://{self.config.http.host}:{self.config.http.port}"

    async def open(self) -> Container:
        """Import the project, check migrations and build the container; start nothing."""
        if self.container is not None:
            return self.container
        began = time.perf_counter()
        project_logger = configure_logging(self.config.logging, self.config.name, self._log_stream)
        logger.debug("configuration: %s", self.config.redacted())
        self.project = load_project(self.config.root)
        prepare_database(self.config.database.url)
        migrated = await asyncio.to_thread(ensure_migrated, self.project.modules, self.config)
        if migrated:
            logger.info("applied migrations of module(s) %s", ", ".join(migrated))
        self.container = build_container(self.project, self.config)
        project_logger.debug("container built in %.3fs", time.perf_counter() - began)
        return self.container

    async def start(self, mode: WorkerMode | str | None = None) -> None:
        """Open the project and start what ``mode`` (default ``worker.mode``) runs."""
        if self.mode is not None:
            raise ConflictError("the app is already started; call stop() first")
        self.mode = _mode(mode) if mode is not None else self.config.worker.mode
        container = await self.open()
        project = self.project
        assert project is not None
        engine: WorkflowEngine = container.resolve("workflow_engine")
        bus: EventBus = container.resolve("event_bus")
        if self.mode.runs_work:
            await engine.start_polling()
        if self.mode.runs_work or self.config.redis.url is None:
            await bus.start()
        if self.mode.runs_work:
            scheduler: Scheduler = container.resolve("scheduler")
            await scheduler.start()
        if self.mode.serves_http:
            await self._start_http(container)
        freeze_startup_objects()
        logger.info(
            "%s ready (mode=%s, http=%s, modules=%d, workflows=%d, jobs=%d, subscribers=%d)",
            self.config.name,
            self.mode.value,
            self.http_url or "off",
            len(project.modules),
            len(project.workflows),
            len(project.jobs),
            len(project.subscribers),
            extra={"pid": os.getpid()},
        )

    async def _start_http(self, container: Container) -> None:
        import uvicorn

        from loomwork.http import create_app

        http = self.config.http
        asgi = create_app(container)
        listener = _bind(http.host, http.port)
        config = uvicorn.Config(
            asgi,
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=max(1, int(self.config.worker.grace_period)),
        )
        self._server = _quiet_server(config)
        self._server_task = asyncio.create_task(self._server.serve(sockets=[listener]))
        # uvicorn reports readiness only through this flag.
        while not self._server.started and not self._server_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if self._server_task.done():
            await self._server_task
            raise ConfigurationError("http.port", "the HTTP server did not start")

    async def stop(self) -> None:
        """Stop taking work, let in-flight work finish (grace period), release everything."""
        if self.container is None:
            self.mode = None
            return
        grace = self.config.worker.grace_period
        began = time.monotonic()
        scheduler: Scheduler = self.container.resolve("scheduler")
        waits = [scheduler.stop(grace)] if scheduler.running else []
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            waits.append(_wait_task(self._server_task))
        await asyncio.gather(*waits)
        left = max(0.0, grace - (time.monotonic() - began))
        await _let_runs_finish(self.container.resolve("workflow_engine"), left)
        await close_container(self.container)
        self._server = self._server_task = None
        self.container = None
        self.mode = None
        logger.info("%s stopped", self.config.name)

    @contextlib.asynccontextmanager
    async def running(self, mode: WorkerMode | str | None = None) -> AsyncIterator[App]:
        """``async with app.running("worker"):`` starts the app and stops it on exit."""
        try:
            await self.start(mode)
            yield self
        finally:
            await self.stop()

    def request_stop(self) -> None:
        """Ask :meth:`run` to shut down (what SIGTERM does)."""
        self._stopped.set()

    async def run(self, mode: WorkerMode | str | None = None) -> int:
        """Start, wait for SIGTERM/SIGINT (or :meth:`request_stop`), stop; returns 0."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            async with self.running(mode):
                await self._stopped.wait()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
        return 0

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stopped.is_set():
            logger.warning("second %s: exiting at once", sig.name)
            logging.shutdown()
            os._exit(FORCED_EXIT_STATUS)
        logger.info(
            "%s received: finishing in-flight work (up to %gs); send it again to exit at once",
            sig.name,
            self.config.worker.grace_period,
        )
        self._stopped.set()


def _quiet_server(config: uvicorn.Config) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn without its own signal handling: :class:`App` owns the signals."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


def _mode(value: WorkerMode | str) -> WorkerMode:
    try:
        return WorkerMode(value)
    except ValueError:
        allowed = ", ".join(mode.value for mode in WorkerMode)
        raise ConfigurationError(
            "worker.mode", f"must be one of {allowed}, not {value!r}"
        ) from None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise ConfigurationError(
            "http.port", f"cannot listen on {host}:{port}: {error.strerror}"
        ) from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


async def _let_runs_finish(engine: WorkflowEngine, grace: float) -> None:
    # Runs resumed by the engine's poll loop are awaited by nothing else: stop claiming
    # new ones and give those the grace period.
    await engine.stop_polling(grace)
    if engine.runs.active:
        logger.warning(
            "%d workflow run(s) still going after the grace period; they resume elsewhere "
            "once their lease runs out",
            len(engine.runs.active),
        )


async def _wait_task(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task
