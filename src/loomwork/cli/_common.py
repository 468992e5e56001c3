"""Shared pieces of the commands: the project option, error reporting, output, progress.

The command modules import the framework's heavy parts (SQLAlchemy, Redis, the app)
where a command runs, not at import, so ``loomwork --help`` and ``loomwork new`` start
without them.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from loomwork.container import Container
from loomwork.errors import (
    ConfigurationError,
    ConflictError,
    DefinitionError,
    LoomworkError,
    NotFoundError,
    ValidationError,
)

if TYPE_CHECKING:
    from loomwork.app import App
    from loomwork.events import EventBus

__all__ = [
    "JsonOption",
    "ProjectOption",
    "attempt",
    "call_with_container",
    "console",
    "fail",
    "open_project",
    "print_json",
    "progress",
    "run",
    "table",
]

T = TypeVar("T")

console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False)

ProjectOption = Annotated[
    Path,
    typer.Option(
        "--project",
        "-p",
        envvar="LOOMWORK_PROJECT",
        help="The project folder (holds loomwork.toml and src/).",
        show_default="the current folder",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@functools.cache
def _hints() -> list[tuple[type[BaseException], str]]:
    import sqlalchemy as sa
    from redis.exceptions import RedisError

    return [
        (
            ConfigurationError,
            "fix that key in loomwork.toml or its LOOMWORK_* environment variable",
        ),
        (DefinitionError, "fix the file named above; `loomwork new <dir>` shows a working layout"),
        (NotFoundError, "check the name; the `list` commands show what exists"),
        (ValidationError, "correct the input named above"),
        (ConflictError, "the record is busy or already in that state; check it and try again"),
        (sa.exc.OperationalError, "is the database running and [database] url right?"),
        (RedisError, "is Redis running and [redis] url right?"),
        (OSError, "check the path and permissions"),
    ]


@functools.cache
def expected_errors() -> tuple[type[BaseException], ...]:
    """The errors a command reports in one line (with a hint) instead of a traceback."""
    import sqlalchemy as sa
    from redis.exceptions import RedisError

    return (LoomworkError, sa.exc.OperationalError, RedisError, OSError)


def fail(message: str, hint: str | None = None, code: int = 1) -> NoReturn:
    """Print ``error: message`` (and a hint) on stderr and exit with ``code``."""
    errors.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    if hint:
        errors.print(f"[yellow]hint:[/] {escape(hint)}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _one_line(error: BaseException) -> str:
    import sqlalchemy as sa  # only on the error path

    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    if isinstance(error, sa.exc.DBAPIError):
        first = str(error.orig).strip().splitlines()[0] if error.orig else first
    return first


def report(error: BaseException) -> NoReturn:
    """Turn an expected error into a one-line message plus hint and a non-zero exit."""
    hint = next((text for kind, text in _hints() if isinstance(error, kind)), None)
    fail(_one_line(error), hint)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine``; expected errors end the command with a message, not a traceback."""
    try:
        return asyncio.run(coroutine)
    except Exception as error:
        if isinstance(error, expected_errors()):
            report(error)
        raise


def attempt(work: Callable[[], T]) -> T:
    """Call ``work``; expected errors end the command with a message, not a traceback."""
    try:
        return work()
    except Exception as error:
        if isinstance(error, expected_errors()):
            report(error)
        raise


@asynccontextmanager
async def open_project(project: Path) -> AsyncIterator[tuple[App, Container]]:
    """The project's app and container, opened (nothing started) and closed afterwards."""
    from loomwork.app import App, close_container, freeze_startup_objects

    app = App(project)
    container = await app.open()
    freeze_startup_objects()
    try:
        yield app, container
    finally:
        await close_container(container)


async def call_with_container(project: Path, work: Callable[[Container], Any], what: str) -> None:
    """Call ``work(container)`` (awaiting it when it is async) with the project open.

    Events it emits are published; on the in-process bus (no ``[redis] url``) their
    subscribers run before this returns, since no worker would get them afterwards. An
    unexpected exception ends the command with one line naming ``what`` raised it.
    """
    async with open_project(project) as (app, container):
        bus: EventBus = container.resolve("event_bus")
        local = app.config.redis.url is None
        if local:
            await bus.start()
        try:
            result = work(container)
            if inspect.isawaitable(result):
                await result
        except Exception as error:
            if isinstance(error, (*expected_errors(), typer.Exit, typer.Abort, typer.BadParameter)):
                raise
            fail(f"{type(error).__name__}: {error}", f"{what} raised it; see its code")
        await container.resolve("event_sink").flush()
        if local:
            await bus.drain()


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (no colours, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a Rich table; ``None`` cells print as ``-``."""
    from rich.table import Table

    output = Table(title=title, title_justify="left")
    for column in columns:
        output.add_column(column)
    for row in rows:
        output.add_row(*(Text("-" if cell is None else str(cell)) for cell in row))
    console.print(output)


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar for long work; yields ``advance(n)``.

    ::

        with progress("Syncing brands", total=len(pages)) as advance:
            for page in pages:
                ...
                advance(1)
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=errors, transient=False) as bar:
        task = bar.add_task(description, total=total)

        def advance(count: int = 1) -> None:
            bar.advance(task, count)

        yield advance
