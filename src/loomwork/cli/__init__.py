"""The ``loomwork`` command.

::

    loomwork new <dir>                               scaffold a working project
    loomwork start [--mode server|worker|shared] [--project DIR] [--port N]
    loomwork db migrate | db generate <module> [-m MESSAGE]
    loomwork exec <script.py>                        run async def main(container)
    loomwork jobs list | run <name> | runs [--job NAME]
    loomwork workflows list | runs | show <workflow> <transaction>
                       | retry <idempotency_key> | cancel <workflow> <transaction>

    loomwork <group> <command>                       the project's own commands

Every project command takes ``--project DIR`` (default: the current folder, or
``LOOMWORK_PROJECT``); listing commands take ``--json``. Expected errors print one line
and a hint on stderr and exit with status 1. :func:`progress` gives commands a progress bar.

A project adds commands with ``src/commands/<group>.py`` files defining
``commands = ProjectCommands(...)``; see :class:`ProjectCommands`. They are imported
only when asked for (or listed by ``--help`` inside the project).
"""

from __future__ import annotations

import typer

from loomwork.cli._common import print_json, progress
from loomwork.cli._groups import LoomworkGroup, ProjectCommands
from loomwork.cli._jobs import jobs_app
from loomwork.cli._project_cmds import db_app, exec_script, new, start
from loomwork.cli._workflows import workflows_app

__all__ = ["ProjectCommands", "app", "main", "print_json", "progress"]

app = typer.Typer(
    name="loomwork",
    cls=LoomworkGroup,
    help="Run and manage a loomwork project.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("start")(start)
app.command("new")(new)
app.command("exec")(exec_script)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
app.add_typer(workflows_app, name="workflows")


def main() -> None:
    """Entry point of the ``loomwork`` console script."""
    app()
