"""Fixtures: the reference brand system over real HTTP, and the example app wired by hand."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from loomwork.db import create_engine
from loomwork.modules import migrate
from reference_brand_system import RunningServer, serve_in_thread

from .project import load
from .wiring import App, WriteCounter, build_app, close_app

__all__ = ["API_KEY", "App", "WriteCounter", "brand", "build_app", "close_app", "pull", "push"]

brand = load("modules.brand")
pull = load("workflows.sync_brands_from_system")
push = load("workflows.push_brand_to_system")

API_KEY = f"sk-live-{secrets.token_hex(12)}"
DATA_TABLES = ("brand", "brand_quarantine", "brand_sync_state")


@pytest.fixture
def brand_system() -> Iterator[RunningServer]:
    """The reference brand system on a free loopback port, empty."""
    with serve_in_thread(api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="session")
def pg_migrated(pg_url: str) -> str:
    """The session PostgreSQL database with the brand module migrated."""
    migrate([brand.module], pg_url)
    return pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty brand database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.sqlite'}"
        migrate([brand.module], url)
        return url
    url: str = request.getfixturevalue("pg_migrated")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for table in DATA_TABLES:
                conn.exec_driver_sql(f"DELETE FROM {table}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
async def app(db_url: str, brand_system: RunningServer) -> AsyncIterator[App]:
    """The example app on ``db_url`` talking to ``brand_system``."""
    built = await build_app(db_url, brand_system)
    try:
        yield built
    finally:
        await close_app(built)
