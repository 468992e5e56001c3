"""The memory store passes the execution-store contract."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from store_contract import StoreContract

from loomwork.workflows.stores import ExecutionStore, MemoryStore


class TestMemoryStore(StoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[ExecutionStore]:
        store = MemoryStore()
        yield store
        await store.close()
