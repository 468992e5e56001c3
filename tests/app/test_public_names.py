"""The public names of the app, HTTP and CLI packages are pinned."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import loomwork.app
import loomwork.cli
import loomwork.http
from loomwork.app import App
from loomwork.errors import ConfigurationError

from .conftest import make_project

APP = {
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
}
HTTP = {
    "ADMIN_PREFIX",
    "HTTP_METHODS",
    "RouteFile",
    "RouteHandler",
    "create_app",
    "discover_routes",
    "execution_json",
    "job_run_json",
}
CLI = {"ProjectCommands", "app", "main", "print_json", "progress"}


@pytest.mark.parametrize(
    ("module", "names"), [(loomwork.app, APP), (loomwork.http, HTTP), (loomwork.cli, CLI)]
)
def test_public_names(module: object, names: set[str]) -> None:
    exported = set(getattr(module, "__all__", ()))
    assert exported == names
    for name in exported:
        assert getattr(module, name) is not None
        assert not name.startswith("_")


async def test_an_unknown_mode_names_the_key(tmp_path: Path) -> None:
    app = App(make_project(tmp_path / "p", {}), environ={}, log_stream=io.StringIO())
    with pytest.raises(ConfigurationError) as caught:
        await app.start("everything")
    assert caught.value.key == "worker.mode"
