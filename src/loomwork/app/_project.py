"""The project loader: finds a project's modules, workflows, jobs, subscribers and routes.

A project folder::

    loomwork.toml
    src/
      modules/<name>/__init__.py     exposes ``module = Module(...)``
      workflows/**.py                 every file is imported, so ``create_workflow`` registers
      jobs/*.py                       scheduled jobs (see :mod:`loomwork.scheduler`)
      subscribers/*.py                event subscribers (see :mod:`loomwork.events`)
      api/**/route.py                 admin and store routes (see :mod:`loomwork.http`)
      commands/<group>.py             ``loomwork <group> ...`` commands (see :mod:`loomwork.cli`)

``src`` is imported as a package with a name unique to the project folder
(``_loomwork_project_<hash>``), so project files import each other with relative imports
(``from ...modules.brand import BRAND_MODULE``) and two projects never share modules.
Loading the same folder twice in one process reuses the modules imported the first time.
:func:`load_project` leaves ``src/commands`` alone; only the CLI imports it, through
:func:`load_commands`, and only when a project command is asked for.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from loomwork.errors import DefinitionError
from loomwork.events import Subscriber, load_subscribers
from loomwork.http import RouteFile, discover_routes
from loomwork.modules import Module
from loomwork.scheduler import ScheduledJob, load_jobs
from loomwork.workflows import WorkflowDefinition

__all__ = ["COMMANDS_FOLDER", "Project", "load_commands", "load_project", "project_package"]

COMMANDS_FOLDER = "src/commands"


@dataclass(frozen=True, slots=True)
class Project:
    """What a project folder declares, imported and checked."""

    root: Path
    package: str
    modules: tuple[Module, ...]
    workflows: tuple[str, ...]
    jobs: tuple[ScheduledJob, ...]
    subscribers: tuple[Subscriber, ...]
    routes: tuple[RouteFile, ...]

    def module(self, key: str) -> Module:
        """The module registered under ``key``."""
        for module in self.modules:
            if module.key == key:
                return module
        known = ", ".join(m.key for m in self.modules) or "none"
        raise DefinitionError(f"the project has no module {key!r} (modules: {known})")


def project_package(root: Path) -> str:
    """The package name ``<root>/src`` is imported under."""
    digest = hashlib.sha1(str(root.resolve()).encode(), usedforsecurity=False).hexdigest()
    return f"_loomwork_project_{digest[:12]}"


def load_project(root: str | Path) -> Project:
    """Import the project at ``root`` and return what it declares.

    Raises :class:`DefinitionError` (or the scheduler's ``JobConfigError``) naming the file
    for anything declared wrongly.
    """
    folder = Path(root).resolve()
    src = folder / "src"
    if not src.is_dir():
        raise DefinitionError(
            f"{folder} is not a loomwork project: it has no src/ folder "
            "(create one with 'loomwork new <dir>')"
        )
    package = project_package(folder)
    _install_package(package, src)
    modules = _load_modules(src / "modules", f"{package}.modules")
    workflows = _load_workflows(src / "workflows", f"{package}.workflows")
    jobs_folder = src / "jobs"
    jobs = load_jobs(jobs_folder, package=f"{package}.jobs") if jobs_folder.is_dir() else []
    subscribers = _load_subscribers(src / "subscribers", f"{package}.subscribers")
    routes = discover_routes(src / "api", f"{package}.api")
    return Project(
        root=folder,
        package=package,
        modules=tuple(modules),
        workflows=tuple(workflows),
        jobs=tuple(jobs),
        subscribers=tuple(subscribers),
        routes=tuple(routes),
    )


def load_commands(
    root: str | Path,
    group: str | None = None,
    on_error: Callable[[DefinitionError], None] | None = None,
) -> dict[str, ModuleType]:
    """Import ``<root>/src/commands/*.py`` (nothing else) and return them by group name.

    The group name is the file name with ``_`` turned into ``-``: ``brand_sync.py`` is
    ``loomwork brand-sync``. Files starting with ``_`` are helpers, not groups. With
    ``group``, only that group's file is imported (none when it does not exist). A folder
    without ``src/commands`` has no groups. Raises :class:`DefinitionError` naming the file
    when one cannot be imported, or with ``on_error`` passes it there and goes on.
    """
    folder = Path(root).resolve()
    commands = folder / COMMANDS_FOLDER
    if not commands.is_dir():
        return {}
    package = project_package(folder)
    _install_package(package, folder / "src")
    found: dict[str, ModuleType] = {}
    for path in sorted(commands.glob("*.py")):
        if path.name.startswith("_") or group not in (None, path.stem.replace("_", "-")):
            continue
        try:
            _check_identifier(path, path.stem)
            found[path.stem.replace("_", "-")] = _import(f"{package}.commands.{path.stem}", path)
        except DefinitionError as error:
            if on_error is None:
                raise
            on_error(error)
    return found


def _install_package(package: str, src: Path) -> None:
    if package in sys.modules:
        return
    init = src / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(
            package, init, submodule_search_locations=[str(src)]
        )
    else:
        spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
        spec.submodule_search_locations = [str(src)]
    if spec is None:
        raise DefinitionError(f"{src}: cannot be imported as a package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    if spec.loader is not None:
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[package]
            raise DefinitionError(f"{init}: importing it failed: {error!r}") from error


def _import(name: str, where: Path) -> ModuleType:
    try:
        return importlib.import_module(name)
    except DefinitionError as error:
        raise DefinitionError(f"{where}: {error}") from error
    except Exception as error:
        raise DefinitionError(f"{where}: importing it failed: {error!r}") from error


def _load_modules(folder: Path, package: str) -> list[Module]:
    if not folder.is_dir():
        return []
    found: dict[str, tuple[Module, Path]] = {}
    for child in sorted(folder.iterdir()):
        if not child.is_dir() or child.name.startswith(("_", ".")):
            continue
        if not (child / "__init__.py").is_file():
            continue
        _check_identifier(child)
        imported = _import(f"{package}.{child.name}", child)
        declared = getattr(imported, "module", None)
        if not isinstance(declared, Module):
            raise DefinitionError(
                f"{child / '__init__.py'}: must define 'module = Module(...)', found {declared!r}"
            )
        if declared.key in found:
            raise DefinitionError(
                f"{child}: module key {declared.key!r} is also used by {found[declared.key][1]}"
            )
        found[declared.key] = (declared, child)
    return [module for module, _ in found.values()]


def _load_workflows(folder: Path, package: str) -> list[str]:
    if not folder.is_dir():
        return []
    names: dict[str, None] = {}
    for path in sorted(folder.rglob("*.py")):
        relative = path.relative_to(folder).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        if any(part.startswith((".", "_")) and part != "__init__" for part in parts):
            continue
        for part in parts:
            _check_identifier(path, part)
        imported = _import(".".join([package, *parts]), path)
        for value in vars(imported).values():
            if isinstance(value, WorkflowDefinition):
                names[value.name] = None
    return sorted(names)


def _load_subscribers(folder: Path, package: str) -> list[Subscriber]:
    if not folder.is_dir():
        return []
    for path in folder.glob("*.py"):
        if not path.name.startswith("_"):
            _check_identifier(path, path.stem)
    # Loaded as part of the project package, so subscriber files can use relative imports.
    subscribers = load_subscribers(package)
    project_prefix = package.rpartition(".")[0] + "."
    seen: set[str] = set()
    for subscriber in subscribers:
        # Ids name Redis consumer groups, so they must not depend on where the project is:
        # the default id becomes ``subscribers.<file stem>``.
        subscriber.id = subscriber.id.removeprefix(project_prefix)
        if subscriber.id in seen:
            raise DefinitionError(
                f"{folder}: subscriber id {subscriber.id!r} is used twice; set a different "
                "config['subscriber_id']"
            )
        seen.add(subscriber.id)
    return subscribers


def _check_identifier(path: Path, name: str | None = None) -> None:
    part = path.name if name is None else name
    if not part.isidentifier():
        raise DefinitionError(
            f"{path}: {part!r} is not a valid Python name; use underscores instead of '-'"
        )
