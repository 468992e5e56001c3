"""Fixtures: the reference brand system on a free loopback port, and clients for it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reference_brand_system import FaultConfig, RunningServer, serve_in_thread


@pytest.fixture(scope="session")
def shared_server() -> Iterator[RunningServer]:
    """One service for the session; starting one per test would dominate the run time."""
    with serve_in_thread(api_key="secret-key") as running:
        yield running


@pytest.fixture
def server(shared_server: RunningServer) -> RunningServer:
    """The shared service, emptied and with every fault off."""
    shared_server.store.reset()
    shared_server.faults.configure(FaultConfig())
    return shared_server


@pytest.fixture(scope="session")
def shared_client(shared_server: RunningServer) -> Iterator[httpx.Client]:
    """One client for the session: each new httpx client loads the TLS trust store (~50 ms)."""
    with httpx.Client(
        base_url=shared_server.base_url, headers=shared_server.headers, timeout=10
    ) as http:
        yield http


@pytest.fixture
def client(server: RunningServer, shared_client: httpx.Client) -> httpx.Client:
    """An authenticated client for ``server``."""
    return shared_client
