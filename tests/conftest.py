"""Shared fixtures: real PostgreSQL and Redis servers, isolated per test session."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

PG_URL_ENV = "LOOMWORK_TEST_PG_URL"
REDIS_URL_ENV = "LOOMWORK_TEST_REDIS_URL"


@contextmanager
def scratch_database(base_url: str | sa.URL, prefix: str) -> Iterator[str]:
    """Create an empty database on the server of ``base_url``; drop it afterwards."""
    base = sa.make_url(base_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards.

    The server named by LOOMWORK_TEST_PG_URL must answer: PostgreSQL tests never skip.
    """
    base = os.environ.get(PG_URL_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with scratch_database(base, "lw_test") as url:
        yield url


@pytest.fixture
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """One more empty database on the test server, for a single test; dropped afterwards."""
    with scratch_database(pg_url, "lw_fresh") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server for tests (LOOMWORK_TEST_REDIS_URL); tests never skip without it."""
    return os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1:6379/0")


@pytest.fixture
def unique_prefix() -> str:
    """A key prefix no other test (or concurrent test session) uses."""
    return f"lwtest:{secrets.token_hex(4)}:"
