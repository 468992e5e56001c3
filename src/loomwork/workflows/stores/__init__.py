"""Execution stores: the port and its implementations.

The SQLAlchemy store is imported by path (``loomwork.workflows.stores.sqlalchemy``) so that
its drivers stay optional for users of the memory store.
"""

from loomwork.workflows.stores._port import ExecutionStore
from loomwork.workflows.stores.memory import MemoryStore

__all__ = ["ExecutionStore", "MemoryStore"]
