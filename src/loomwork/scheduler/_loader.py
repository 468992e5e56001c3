"""Loading jobs from a folder of job files (``src/jobs/*.py``).

A job file defines its handler and a ``config`` dict::

    async def handler(container):          # or a plain def (run in a thread)
        ...

    config = {"name": "sync-brands-from-system", "schedule": "* * * * *"}

The handler is the module's function named ``handler``; without one, the module's only
public function (defined in the file itself, not imported, name not starting with ``_``).
Files whose name starts with ``_`` are helpers and are not loaded.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from loomwork.container import Container
from loomwork.scheduler._config import JobConfig, parse_job_config
from loomwork.scheduler._errors import JobConfigError
from loomwork.scheduler._execution import Handler

__all__ = ["ScheduledJob", "load_jobs"]


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A job read from a file: its handler, its checked config, and where it came from."""

    handler: Handler
    config: JobConfig
    source: Path

    @property
    def name(self) -> str:
        """The job's name (``config["name"]``)."""
        return self.config.name


def load_jobs(folder: str | Path, *, package: str | None = None) -> list[ScheduledJob]:
    """Import every ``*.py`` job file in ``folder`` (sorted by name) and check it.

    With ``package`` (the folder's dotted module path, importable from ``sys.path``) files
    are imported as ``<package>.<file>``, so they may use relative imports; without it they
    are loaded by path under a private module name. Raises :class:`JobConfigError` naming
    the file and field for a file that fails to import, has no usable handler, or has an
    invalid ``config``, and for a job name used by two files.
    """
    root = Path(folder)
    if not root.is_dir():
        raise JobConfigError(
            f"jobs folder {str(root)!r} does not exist", job=None, source=str(root), field="folder"
        )
    jobs: dict[str, ScheduledJob] = {}
    for path in sorted(root.glob("*.py")):
        if path.name.startswith("_"):
            continue
        job = _load_file(path, package)
        earlier = jobs.get(job.name)
        if earlier is not None:
            raise JobConfigError(
                f"scheduled job {job.name!r} is defined twice: in {earlier.source} and in "
                f"{path}; give each job its own name",
                job=job.name,
                source=str(path),
                field="name",
            )
        jobs[job.name] = job
    return list(jobs.values())


def _load_file(path: Path, package: str | None) -> ScheduledJob:
    module = _import(path, package)
    config = getattr(module, "config", None)
    if config is None:
        raise _error(path, "config", "is missing: define config = {'name': ..., 'schedule': ...}")
    if not isinstance(config, Mapping):
        raise _error(path, "config", f"must be a dict, not {type(config).__name__}")
    parsed = parse_job_config(config, source=str(path))
    return ScheduledJob(_handler(module, path, parsed.name), parsed, path)


def _import(path: Path, package: str | None) -> ModuleType:
    try:
        if package is not None:
            return importlib.import_module(f"{package}.{path.stem}")
        return _import_by_path(path)
    except Exception as exc:
        raise _error(path, "file", f"failed to import: {type(exc).__name__}: {exc}") from exc


def _import_by_path(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path.resolve()).encode(), usedforsecurity=False).hexdigest()
    name = f"_loomwork_jobs_{digest[:12]}.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _handler(module: ModuleType, path: Path, name: str) -> Handler:
    candidate = getattr(module, "handler", None)
    if candidate is None:
        public = [
            value
            for key, value in vars(module).items()
            if not key.startswith("_")
            and inspect.isfunction(value)
            and value.__module__ == module.__name__
        ]
        if len(public) != 1:
            found = ", ".join(function.__name__ for function in public) or "none"
            raise _error(
                path,
                "handler",
                "is ambiguous: define a function named 'handler(container)', or keep exactly "
                f"one public function in the file (found: {found})",
                name,
            )
        candidate = public[0]
    if not callable(candidate):
        raise _error(path, "handler", "must be a function taking the container", name)
    try:
        inspect.signature(candidate).bind(Container())
    except (TypeError, ValueError):
        raise _error(
            path, "handler", "must accept exactly one argument, the container", name
        ) from None
    handler: Handler = candidate
    return handler


def _error(path: Path, field: str, message: str, job: str | None = None) -> JobConfigError:
    label = f"scheduled job {job!r} in {path}" if job else f"job file {path}"
    return JobConfigError(f"{label}: {field!r} {message}", job=job, source=str(path), field=field)
