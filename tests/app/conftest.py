"""Fixtures for the app, HTTP and CLI tests: one scaffolded project per session."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from loomwork.cli import app as cli_app

PROJECT_NAME = "shop"
_LOGGERS = ("loomwork", "uvicorn", "uvicorn.access", PROJECT_NAME)


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made by ``loomwork new`` (imported once per session: models are global)."""
    target = tmp_path_factory.mktemp("projects") / PROJECT_NAME
    result = CliRunner().invoke(cli_app, ["new", str(target)])
    assert result.exit_code == 0, result.output
    return target


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """Environment overrides giving the test its own SQLite database."""
    return {
        "LOOMWORK_DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
        "LOOMWORK_ADMIN_TOKEN": "test-token",
    }


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo the logging set-up an App does, so other tests' caplog keeps working."""
    saved = {
        name: (list(lg.handlers), lg.level, lg.propagate)
        for name in _LOGGERS
        if (lg := logging.getLogger(name))
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def make_project(root: Path, files: dict[str, str], toml: str = "") -> Path:
    """Write a small project (no models) with ``files`` below ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    (root / "loomwork.toml").write_text(toml, encoding="utf-8")
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def redis_prefix(redis_url: str, unique_prefix: str) -> Iterator[str]:
    """A Redis key prefix for one test; its keys are deleted afterwards."""
    yield unique_prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{unique_prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
