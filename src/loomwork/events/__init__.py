"""Events: the event value, the bus port and its implementations, subscribers."""

from loomwork.events._event import Event, new_event_id

__all__ = ["Event", "new_event_id"]
