"""Project-defined commands: ``src/commands/<group>.py`` adds ``loomwork <group> ...``.

A command file defines ``commands``, usually a :class:`ProjectCommands` whose functions
receive the project's container::

    # src/commands/wishlist.py  ->  loomwork wishlist count [--customer NAME]
    commands = ProjectCommands(help="Wishlist tools.")

    @commands.command()
    async def count(container: Container, customer: str | None = None) -> None:
        \"\"\"Print how many items there are.\"\"\"

``commands`` may also be a plain ``typer.Typer`` (its commands get no container). The
root ``loomwork`` command imports these files only when a command it does not know is
asked for, or when it lists commands for ``--help`` inside a project; plain
``loomwork --help`` anywhere else, and every built-in command, never touch them.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import typer
import typer.main
from typer.core import TyperGroup

from loomwork.cli._common import ProjectOption, call_with_container, errors, report, run
from loomwork.errors import DefinitionError, LoomworkError

if TYPE_CHECKING:
    # Typer ships its own copy of click; TyperGroup's methods are typed against it.
    from typer import _click as click

__all__ = ["LoomworkGroup", "ProjectCommands"]

COMMANDS_FOLDER = Path("src", "commands")
"""Where a project's command files live (as :func:`loomwork.app.load_commands` reads them)."""

F = TypeVar("F", bound=Callable[..., Any])
_PROJECT = "project"
_CONTEXT = "loomwork_context"
_PANEL = "Project commands"


class ProjectCommands:
    """A group of project commands; each one receives the container as its first argument.

    ``help`` is the group's help text (default: the first line of the file's docstring).
    Every command gets ``--project DIR`` (like the built-in commands); the project is
    opened before the command runs and closed after it, and events the command emits are
    published. Expected errors (:class:`~loomwork.errors.LoomworkError`, database and
    Redis errors) end the command with one line and a hint, as built-in commands do.
    """

    def __init__(self, help: str | None = None) -> None:
        self.typer = typer.Typer(
            help=help, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False
        )

    def command(self, name: str | None = None, *, help: str | None = None) -> Callable[[F], F]:
        """Register ``async def f(container, ...)`` (or a plain ``def``) as a command.

        ``name`` defaults to the function's name with ``_`` as ``-``; ``help`` to its
        docstring. The other parameters become options and arguments exactly as in Typer.
        Raises :class:`~loomwork.errors.DefinitionError` when the first parameter is not
        ``container`` or a parameter is called ``project``.
        """

        def register(function: F) -> F:
            self.typer.command(name, help=help)(_with_container(function))
            return function

        return register


def _with_container(function: Callable[..., Any]) -> Callable[..., None]:
    label = getattr(function, "__qualname__", repr(function))
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].name != "container":
        raise DefinitionError(
            f"project command {label}: its first parameter must be 'container' "
            "(the project's container is passed there)"
        )
    if any(parameter.name in (_PROJECT, _CONTEXT) for parameter in parameters):
        raise DefinitionError(
            f"project command {label}: 'project' is the --project option of every "
            "command; rename that parameter"
        )

    def invoke(**options: Any) -> None:
        project: Path = options.pop(_PROJECT)
        what = options.pop(_CONTEXT).command_path
        run(call_with_container(project, lambda c: function(c, **options), what))

    # Typer reads the signature: the command's own options, --project, and the context
    # (for the command's name in error messages).
    options = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=_evaluated(function, p, label))
        for p in parameters[1:]
    ]
    added = [
        inspect.Parameter(
            _PROJECT, inspect.Parameter.KEYWORD_ONLY, default=Path(), annotation=ProjectOption
        ),
        inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
    ]
    invoke.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*options, *added], return_annotation=None
    )
    invoke.__annotations__ = {p.name: p.annotation for p in [*options, *added]}
    invoke.__name__ = getattr(function, "__name__", "command")
    invoke.__doc__ = function.__doc__
    return invoke


def _evaluated(function: Callable[..., Any], parameter: inspect.Parameter, label: str) -> Any:
    # Only the options' annotations are evaluated: ``container: Container`` may name a type
    # imported under TYPE_CHECKING, as linters suggest.
    annotation = parameter.annotation
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, getattr(function, "__globals__", {}))
    except Exception as error:
        raise DefinitionError(
            f"project command {label}: the annotation of {parameter.name!r} "
            f"({annotation}) cannot be evaluated: {error!r}; import what it names at run time"
        ) from error


class LoomworkGroup(TyperGroup):
    """The root ``loomwork`` command: built-in commands, then the project's groups."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Load the project's groups first when ``args`` name a command that is not built in."""
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            try:
                self._add_project_groups(_project_folder(args[1:]), only=args[0])
            except LoomworkError as error:
                report(error)
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The built-in commands, plus the project's groups when there is a project here.

        A group that cannot be loaded is left out with a warning on stderr, so that help
        stays available while a command file is broken.
        """
        if not ctx.resilient_parsing:
            try:
                self._add_project_groups(_project_folder([]), on_error=_warn)
            except LoomworkError as error:
                _warn(error)
        return super().list_commands(ctx)

    def _add_project_groups(
        self,
        root: Path,
        only: str | None = None,
        on_error: Callable[[DefinitionError], None] | None = None,
    ) -> None:
        if not (root / COMMANDS_FOLDER).is_dir():  # no project commands: no app to import
            return
        from loomwork.app import load_commands

        for name, module in load_commands(root, only, on_error).items():
            try:
                self._add_group(name, module)
            except DefinitionError as error:
                if on_error is None:
                    raise
                on_error(error)

    def _add_group(self, name: str, module: ModuleType) -> None:
        known = self.commands.get(name)
        if known is not None and getattr(known, "rich_help_panel", None) == _PANEL:
            return
        if known is not None:
            raise DefinitionError(
                f"{module.__file__}: 'loomwork {name}' is a built-in command; rename the file"
            )
        self.add_command(_click_group(name, module), name)


def _warn(error: LoomworkError) -> None:
    errors.print(f"warning: project command not loaded: {error}", markup=False, soft_wrap=True)


def _click_group(name: str, module: ModuleType) -> TyperGroup:
    declared = getattr(module, "commands", None)
    if isinstance(declared, ProjectCommands):
        declared = declared.typer
    if not isinstance(declared, typer.Typer):
        raise DefinitionError(
            f"{module.__file__}: must define 'commands = ProjectCommands(...)' "
            f"(from loomwork.cli) or a typer.Typer, found {declared!r}"
        )
    group = typer.main.get_group(declared)
    group.name = name
    group.rich_help_panel = _PANEL
    if not group.help and module.__doc__:
        group.help = module.__doc__.strip().splitlines()[0]
    return group


def _project_folder(args: Sequence[str]) -> Path:
    """The folder ``--project``/``-p`` in ``args`` names, else LOOMWORK_PROJECT, else here."""
    for index, arg in enumerate(args):
        if arg in ("--project", "-p") and index + 1 < len(args):
            return Path(args[index + 1])
        if arg.startswith("--project="):
            return Path(arg.removeprefix("--project="))
    return Path(os.environ.get("LOOMWORK_PROJECT") or ".")
