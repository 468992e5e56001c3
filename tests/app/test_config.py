"""Configuration: file parsing, environment overrides, errors naming the key, redaction."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from loomwork.app import JsonFormatter, TextFormatter, WorkerMode, load_config
from loomwork.errors import ConfigurationError

FULL = """
[project]
name = "acme"

[database]
url = "postgresql+psycopg://shop:hunter2@db.internal/shop"

[redis]
url = "redis://127.0.0.1:6379/3"

[http]
host = "0.0.0.0"
port = 8123
admin_token = "${ADMIN_TOKEN}"

[worker]
mode = "worker"
grace_period = 12.5

[logging]
level = "debug"
json = true

[modules.brand]
base_url = "${BRAND_URL:-http://localhost:9000}"
api_key = "${BRAND_API_KEY}"
retries = 3
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "loomwork.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={})
    assert config.database.url == f"sqlite:///{tmp_path / '.loomwork' / 'app.sqlite'}"
    assert config.auto_migrate is True
    assert config.worker.mode is WorkerMode.SHARED
    assert (config.http.host, config.http.port, config.http.admin_token) == (
        "127.0.0.1",
        9000,
        None,
    )
    assert config.redis.url is None
    assert config.name == tmp_path.name


def test_file_values_and_interpolation(tmp_path: Path) -> None:
    env = {"ADMIN_TOKEN": "tok-123", "BRAND_API_KEY": "k-456"}
    config = load_config(write(tmp_path, FULL), environ=env)
    assert config.name == "acme"
    assert config.database.url.startswith("postgresql+psycopg://shop:hunter2@")
    assert config.auto_migrate is False
    assert config.redis.url == "redis://127.0.0.1:6379/3"
    assert (config.http.host, config.http.port, config.http.admin_token) == (
        "0.0.0.0",
        8123,
        "tok-123",
    )
    assert (config.worker.mode, config.worker.grace_period) == (WorkerMode.WORKER, 12.5)
    assert (config.logging.level, config.logging.json) == ("DEBUG", True)
    assert config.modules["brand"] == {
        "base_url": "http://localhost:9000",
        "api_key": "k-456",
        "retries": 3,
    }


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {
        "ADMIN_TOKEN": "t",
        "BRAND_API_KEY": "k",
        "BRAND_URL": "https://brands.example",
        "LOOMWORK_DATABASE_URL": "sqlite:///data/other.sqlite",
        "LOOMWORK_REDIS_URL": "",
        "LOOMWORK_HTTP_PORT": "9999",
        "LOOMWORK_WORKER_MODE": "SERVER",
        "LOOMWORK_LOGGING_JSON": "no",
        "LOOMWORK_HTTP_ADMIN_TOKEN": "from-env",
    }
    config = load_config(write(tmp_path, FULL), environ=env)
    # A relative SQLite path is relative to the project, not to the working directory.
    assert config.database.url == f"sqlite:///{tmp_path / 'data' / 'other.sqlite'}"
    assert config.redis.url is None
    assert config.http.port == 9999
    assert config.worker.mode is WorkerMode.SERVER
    assert config.logging.json is False
    assert config.http.admin_token == "from-env"
    assert config.modules["brand"]["base_url"] == "https://brands.example"


@pytest.mark.parametrize(
    ("text", "env", "key", "words"),
    [
        ("[http]\nprot = 1\n", {}, "http.prot", "did you mean 'port'"),
        ("[http]\nport = 70000\n", {}, "http.port", "between 1 and 65535"),
        ("[http]\nport = 'abc'\n", {}, "http.port", "must be a number"),
        ("", {"LOOMWORK_HTTP_PORT": "eighty"}, "http.port", "must be a number"),
        ("[worker]\nmode = 'both'\n", {}, "worker.mode", "shared, server, worker"),
        ("[database]\nurl = 'mysql://x@y/z'\n", {}, "database.url", "sqlite or postgresql"),
        ("[database]\nurl = 'not a url'\n", {}, "database.url", "not a database URL"),
        ("[logging]\njson = 'maybe'\n", {}, "logging.json", "true or false"),
        ("[logging]\nlevel = 'LOUD'\n", {}, "logging.level", "not a logging level"),
        ("[redis]\nurl = 'http://x'\n", {}, "redis.url", "redis://"),
        ("[cache]\nsize = 1\n", {}, "cache", "unknown section"),
        ("[modules.brand]\napi_key = '${NOPE}'\n", {}, "modules.brand.api_key", "NOPE is not set"),
        ("[modules]\nbrand = 3\n", {}, "modules.brand", "table of module options"),
        ("[worker]\ngrace_period = -1\n", {}, "worker.grace_period", "negative"),
    ],
)
def test_errors_name_the_key(
    tmp_path: Path, text: str, env: dict[str, str], key: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config(write(tmp_path, text), environ=env)
    assert caught.value.key == key
    assert words in str(caught.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not valid TOML") as caught:
        load_config(write(tmp_path, "[http\n"), environ={})
    assert caught.value.key.endswith("loomwork.toml")


def test_redacted_view_masks_secrets(tmp_path: Path) -> None:
    env = {"ADMIN_TOKEN": "tok-secret-1", "BRAND_API_KEY": "key-secret-2"}
    config = load_config(write(tmp_path, FULL), environ=env)
    view = config.redacted()
    text = json.dumps(view)
    for secret in ("tok-secret-1", "key-secret-2", "hunter2"):
        assert secret not in text
    assert view["http"]["admin_token"] == "***"
    assert view["modules"]["brand"]["api_key"] == "***"
    assert view["modules"]["brand"]["base_url"] == "http://localhost:9000"
    assert view["database"]["url"] == "postgresql+psycopg://shop:***@db.internal/shop"
    assert view["worker"]["mode"] == "worker"


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_log_formatters_mask_secret_extras(formatter: logging.Formatter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("loomwork.test.formatters")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling %s", "vendor", extra={"api_key": "abc123", "job": "sync"})
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert "abc123" not in line
    assert "calling vendor" in line
    assert "sync" in line
    if isinstance(formatter, JsonFormatter):
        data = json.loads(line)
        assert (data["level"], data["job"], data["api_key"]) == ("WARNING", "sync", "***")
