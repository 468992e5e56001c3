"""Commands about the project as a whole: start, new, exec, db generate|migrate."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape

from loomwork.cli._common import (
    ProjectOption,
    attempt,
    call_with_container,
    console,
    progress,
    run,
)
from loomwork.cli._scaffold import scaffold
from loomwork.errors import DefinitionError

__all__ = ["MODES", "db_app", "exec_script", "new", "start"]

Mode = Literal["server", "worker", "shared"]
MODES: tuple[Mode, ...] = ("server", "worker", "shared")
"""The values of :class:`loomwork.app.WorkerMode`, spelled out so ``--help`` needs no app."""

db_app = typer.Typer(help="Database migrations of the project's modules.", no_args_is_help=True)


def start(
    project: ProjectOption = Path(),
    mode: Annotated[
        Mode | None,
        typer.Option(help="server: HTTP only; worker: jobs, subscribers, recovery; shared: both."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (overrides http.port).")] = None,
) -> None:
    """Start the project: HTTP server and/or background workers until SIGTERM/SIGINT."""
    from loomwork.app import App

    environ = dict(os.environ)
    if port is not None:
        environ["LOOMWORK_HTTP_PORT"] = str(port)
    app = App(project, environ=environ)
    code = run(app.run(mode))
    raise typer.Exit(code)


def new(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
    name: Annotated[str | None, typer.Option(help="Project name (default: folder name).")] = None,
) -> None:
    """Create a working project: a module, a workflow, a job, a subscriber and routes."""
    written = attempt(lambda: scaffold(directory, name))
    console.print(f"Created [bold]{escape(str(directory))}[/] ({len(written)} files).")
    console.print(f"Next: [cyan]cd {escape(str(directory))} && loomwork start[/]")


@db_app.command("migrate")
def db_migrate(project: ProjectOption = Path()) -> None:
    """Apply every module's pending migrations (a progress bar counts the modules)."""
    from loomwork.app import (
        apply_migrations,
        load_config,
        load_project,
        pending_modules,
        prepare_database,
    )

    async def migrate() -> list[str]:
        config = load_config(project)
        loaded = load_project(config.root)
        prepare_database(config.database.url)
        url = config.database.url
        pending = await asyncio.to_thread(pending_modules, loaded.modules, url)
        if not pending:
            return []
        with progress("Migrating modules", total=len(pending)) as advance:
            return await asyncio.to_thread(
                apply_migrations, loaded.modules, url, lambda _key: advance(1)
            )

    migrated = run(migrate())
    if migrated:
        console.print(f"Migrated module(s): {', '.join(migrated)}.")
    else:
        console.print("Every module is up to date.")


@db_app.command("generate")
def db_generate(
    module: Annotated[str, typer.Argument(help="The module key, e.g. brand.")],
    project: ProjectOption = Path(),
    message: Annotated[str, typer.Option("--message", "-m", help="Revision message.")] = "changes",
) -> None:
    """Write a migration for the difference between a module's models and the database."""
    from loomwork.app import apply_migrations, load_config, load_project, prepare_database
    from loomwork.modules import generate_migration

    async def generate() -> Path | None:
        config = load_config(project)
        loaded = load_project(config.root)
        target = loaded.module(module)
        prepare_database(config.database.url)
        apply_migrations([target], config.database.url)
        return generate_migration(target, config.database.url, message)

    path = run(generate())
    if path is None:
        console.print(f"Module {module!r}: models match the database; nothing to generate.")
    else:
        console.print(f"Wrote {escape(str(path))}")


def exec_script(
    script: Annotated[
        Path, typer.Argument(help="A Python file defining async def main(container).")
    ],
    project: ProjectOption = Path(),
) -> None:
    """Run a script's 'async def main(container)' with the project's container."""
    main = attempt(lambda: _script_main(script))
    run(call_with_container(project, main, f"{script}: main()"))


def _script_main(script: Path) -> Any:
    path = script.resolve()
    if not path.is_file():
        raise DefinitionError(f"script {script} does not exist")
    spec = importlib.util.spec_from_file_location(f"_loomwork_script_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"{script} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise DefinitionError(f"{script}: importing it failed: {error!r}") from error
    main = getattr(module, "main", None)
    if not inspect.iscoroutinefunction(main):
        raise DefinitionError(f"{script}: define 'async def main(container)'")
    return main
