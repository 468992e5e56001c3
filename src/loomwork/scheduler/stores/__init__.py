"""Schedule stores: the port and its implementations.

The SQLAlchemy store is imported by path (``loomwork.scheduler.stores.sqlalchemy``) so that
its drivers stay optional for users of the memory store.
"""

from loomwork.scheduler.stores._port import ScheduleStore
from loomwork.scheduler.stores.memory import MemoryScheduleStore

__all__ = ["MemoryScheduleStore", "ScheduleStore"]
