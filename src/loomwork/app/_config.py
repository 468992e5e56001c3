"""The project's configuration: ``loomwork.toml`` plus environment overrides.

::

    [project]
    name = "shop"                      # logger name; default: the folder name

    [database]
    url = "sqlite:///.loomwork/app.sqlite"   # default; relative SQLite paths are project-relative
    auto_migrate = true                # default: true on SQLite, false elsewhere

    [redis]
    url = "redis://127.0.0.1:6379/0"   # optional: when set, the Redis event bus is used
    prefix = "loomwork:"

    [http]
    host = "127.0.0.1"
    port = 9000
    admin_token = "${SHOP_ADMIN_TOKEN}"

    [worker]
    mode = "shared"                    # shared | server | worker
    grace_period = 30                  # seconds in-flight work may take after SIGTERM

    [workflows]
    lease = 30                         # seconds before another instance may resume a run
    poll_interval = 1.0

    [scheduler]
    lease = 30
    misfire_grace = 5
    run_retention = 604800             # seconds a finished job run is kept ("" keeps all)

    [logging]
    level = "INFO"
    json = false

    [modules.brand]                    # options of the module with key "brand"
    api_key = "${BRAND_API_KEY}"

Strings may use ``${VAR}`` (an unset variable is an error) or ``${VAR:-default}``. Every
scalar setting can be overridden by ``LOOMWORK_<SECTION>_<KEY>``: ``LOOMWORK_DATABASE_URL``,
``LOOMWORK_REDIS_URL``, ``LOOMWORK_HTTP_PORT``, ``LOOMWORK_WORKER_MODE``, ... A bad value
raises :class:`~loomwork.errors.ConfigurationError` naming the key.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from loomwork.app._redaction import mask
from loomwork.errors import ConfigurationError

__all__ = [
    "CONFIG_FILE",
    "AppConfig",
    "DatabaseConfig",
    "HttpConfig",
    "LoggingConfig",
    "ProjectConfig",
    "RedisConfig",
    "SchedulerConfig",
    "WorkerConfig",
    "WorkerMode",
    "WorkflowsConfig",
    "load_config",
]

CONFIG_FILE = "loomwork.toml"
ENV_PREFIX = "LOOMWORK_"
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class WorkerMode(StrEnum):
    """What one process does: serve HTTP, run background work, or both."""

    SHARED = "shared"
    SERVER = "server"
    WORKER = "worker"

    @property
    def serves_http(self) -> bool:
        """True when the process runs the HTTP server."""
        return self is not WorkerMode.WORKER

    @property
    def runs_work(self) -> bool:
        """True when the process runs jobs, subscribers and workflow recovery."""
        return self is not WorkerMode.SERVER


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """``[project]``: the project's name (used for the logger)."""

    name: str = ""


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """``[database]``: where modules, workflow runs and job runs are stored."""

    url: str = ""
    auto_migrate: bool | None = None

    @property
    def is_sqlite(self) -> bool:
        """True for a SQLite URL."""
        return self.url.startswith("sqlite")


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """``[redis]``: the event bus; the in-process bus is used while ``url`` is unset."""

    url: str | None = None
    prefix: str = "loomwork:"


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """``[http]``: the admin API server."""

    host: str = "127.0.0.1"
    port: int = 9000
    admin_token: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """``[worker]``: the process role and its shutdown grace period (seconds)."""

    mode: WorkerMode = WorkerMode.SHARED
    grace_period: float = 30.0


@dataclass(frozen=True, slots=True)
class WorkflowsConfig:
    """``[workflows]``: run leases and the recovery poll interval (seconds)."""

    lease: float = 30.0
    poll_interval: float = 1.0


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """``[scheduler]``: run leases, tick lateness and run-record retention (seconds).

    ``run_retention`` is how long a finished job run's record is kept; ``None`` keeps
    every record.
    """

    lease: float = 30.0
    misfire_grace: float = 5.0
    run_retention: float | None = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """``[logging]``: level name and one-JSON-object-per-line output."""

    level: str = "INFO"
    json: bool = False


@dataclass(frozen=True, slots=True)
class AppConfig:
    """The whole configuration of one project; build it with :func:`load_config`."""

    root: Path
    project: ProjectConfig = ProjectConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    http: HttpConfig = HttpConfig()
    worker: WorkerConfig = WorkerConfig()
    workflows: WorkflowsConfig = WorkflowsConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    logging: LoggingConfig = LoggingConfig()
    modules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The project name: ``[project] name`` or the folder name."""
        return self.project.name or self.root.name

    @property
    def auto_migrate(self) -> bool:
        """Whether start-up applies pending migrations (default: on SQLite only)."""
        if self.database.auto_migrate is None:
            return self.database.is_sqlite
        return self.database.auto_migrate

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data with secrets masked: safe to log or print."""
        data: dict[str, Any] = {"root": str(self.root)}
        for section in _SECTIONS:
            data[section] = {
                f.name: getattr(getattr(self, section), f.name) for f in _fields(section)
            }
        data["modules"] = {key: dict(value) for key, value in self.modules.items()}
        masked: dict[str, Any] = mask(data)
        return masked


_SECTIONS: dict[str, type[Any]] = {
    "project": ProjectConfig,
    "database": DatabaseConfig,
    "redis": RedisConfig,
    "http": HttpConfig,
    "worker": WorkerConfig,
    "workflows": WorkflowsConfig,
    "scheduler": SchedulerConfig,
    "logging": LoggingConfig,
}


def _fields(section: str) -> tuple[Any, ...]:
    return fields(_SECTIONS[section])


def load_config(root: str | Path, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Read ``<root>/loomwork.toml`` (optional), interpolate, apply ``LOOMWORK_*`` overrides.

    Raises :class:`ConfigurationError` naming the key for an unknown section or key, a value
    of the wrong type, an unset ``${VAR}`` or an unsupported database URL.
    """
    folder = Path(root).resolve()
    env = os.environ if environ is None else environ
    raw = _read_file(folder / CONFIG_FILE)
    raw = _interpolate(raw, env, "")
    sections = _parse_sections(raw)
    _apply_env(sections, env)
    config = AppConfig(
        root=folder,
        modules=_parse_modules(raw.get("modules", {})),
        **{name: _build(name, values) for name, values in sections.items()},
    )
    return _finish(config)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(str(path), f"is not valid TOML: {error}") from None


def _interpolate(value: Any, env: Mapping[str, str], key: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, env, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env, key) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is not None:
            return found
        if default is not None:
            return default
        raise ConfigurationError(key, f"environment variable {name} is not set")

    return _INTERPOLATION.sub(substitute, value)


def _parse_sections(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    for name, values in raw.items():
        if name == "modules":
            continue
        if name not in _SECTIONS:
            raise ConfigurationError(
                name, f"unknown section{_suggest(name, [*_SECTIONS, 'modules'])}"
            )
        if not isinstance(values, dict):
            raise ConfigurationError(name, "must be a table ([" + name + "])")
        known = [f.name for f in _fields(name)]
        for key, value in values.items():
            if key not in known:
                raise ConfigurationError(f"{name}.{key}", f"unknown setting{_suggest(key, known)}")
            sections[name][key] = value
    return sections


def _apply_env(sections: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    for name in _SECTIONS:
        for spec in _fields(name):
            variable = f"{ENV_PREFIX}{name}_{spec.name}".upper()
            if variable in env:
                sections[name][spec.name] = env[variable]


def _build(section: str, values: Mapping[str, Any]) -> Any:
    cls = _SECTIONS[section]
    hints = typing.get_type_hints(cls)
    converted = {
        key: _convert(f"{section}.{key}", value, hints[key]) for key, value in values.items()
    }
    return cls(**converted)


def _convert(key: str, value: Any, hint: Any) -> Any:
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UnionType) else ()
    if options:
        if value is None or value == "":
            return None
        hint = next(option for option in options if option is not type(None))
    if hint is bool:
        return _to_bool(key, value)
    if hint in (int, float):
        return _to_number(key, value, hint)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        try:
            return hint(str(value).lower())
        except ValueError:
            allowed = ", ".join(member.value for member in hint)
            raise ConfigurationError(key, f"must be one of {allowed}, not {value!r}") from None
    if not isinstance(value, str):
        raise ConfigurationError(key, f"must be text, not {type(value).__name__}")
    return value


_UnionType = type(int | None)


def _to_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(key, f"must be true or false, not {value!r}")


def _to_number(key: str, value: Any, kind: type[Any]) -> Any:
    if isinstance(value, bool):
        raise ConfigurationError(key, f"must be a number, not {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigurationError(key, f"must be a number, not {value!r}") from None
    if number < 0:
        raise ConfigurationError(key, f"must not be negative, got {value!r}")
    return number


def _parse_modules(raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise ConfigurationError("modules", "must be a table of [modules.<key>] tables")
    modules: dict[str, dict[str, Any]] = {}
    for key, options in raw.items():
        if not isinstance(options, dict):
            raise ConfigurationError(f"modules.{key}", "must be a table of module options")
        modules[key] = dict(options)
    return modules


def _finish(config: AppConfig) -> AppConfig:
    url = config.database.url or f"sqlite:///{config.root / '.loomwork' / 'app.sqlite'}"
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigurationError("database.url", f"is not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError("database.url", f"must be sqlite or postgresql, not {backend}")
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            url = parsed.set(database=str(config.root / path)).render_as_string(False)
    if not 0 < config.http.port < 65536:
        raise ConfigurationError(
            "http.port", f"must be between 1 and 65535, not {config.http.port}"
        )
    level = config.logging.level.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigurationError("logging.level", f"is not a logging level: {level!r}")
    if config.redis.url is not None and not config.redis.url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigurationError("redis.url", f"must start with redis://, not {config.redis.url!r}")
    return replace(
        config,
        database=replace(config.database, url=url),
        logging=replace(config.logging, level=level),
    )


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (known: {', '.join(known)})"
