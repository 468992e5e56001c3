"""The application runtime: configuration, project loader, container and lifecycle.

::

    from loomwork.app import App

    app = App("path/to/project")          # reads path/to/project/loomwork.toml
    async with app.running("shared"):     # HTTP server + jobs + subscribers + recovery
        ...

Pieces, usable on their own: :func:`load_config` (``loomwork.toml`` plus ``LOOMWORK_*``
environment overrides), :func:`load_project` (imports ``src/modules``, ``src/workflows``,
``src/jobs``, ``src/subscribers``, ``src/api``), :func:`load_commands` (``src/commands``,
which only the CLI loads), :func:`build_container` (the services the
project resolves; keys in :data:`BUILTIN_KEYS` plus one per module) and
:func:`ensure_migrated` (the start-up migration policy).
"""

from loomwork.app._config import (
    CONFIG_FILE,
    AppConfig,
    DatabaseConfig,
    HttpConfig,
    LoggingConfig,
    ProjectConfig,
    RedisConfig,
    SchedulerConfig,
    WorkerConfig,
    WorkerMode,
    WorkflowsConfig,
    load_config,
)
from loomwork.app._container import (
    BUILTIN_KEYS,
    build_container,
    close_container,
    instance_id,
    prepare_database,
)
from loomwork.app._logging import JsonFormatter, TextFormatter, configure_logging
from loomwork.app._memory import freeze_startup_objects
from loomwork.app._migrations import apply_migrations, ensure_migrated, pending_modules
from loomwork.app._project import (
    COMMANDS_FOLDER,
    Project,
    load_commands,
    load_project,
    project_package,
)
from loomwork.app._redaction import is_secret
from loomwork.app._runtime import App

__all__ = [
    "BUILTIN_KEYS",
    "COMMANDS_FOLDER",
    "CONFIG_FILE",
    "App",
    "AppConfig",
    "DatabaseConfig",
    "HttpConfig",
    "JsonFormatter",
    "LoggingConfig",
    "Project",
    "ProjectConfig",
    "RedisConfig",
    "SchedulerConfig",
    "TextFormatter",
    "WorkerConfig",
    "WorkerMode",
    "WorkflowsConfig",
    "apply_migrations",
    "build_container",
    "close_container",
    "configure_logging",
    "ensure_migrated",
    "freeze_startup_objects",
    "instance_id",
    "is_secret",
    "load_commands",
    "load_config",
    "load_project",
    "pending_modules",
    "prepare_database",
    "project_package",
]
