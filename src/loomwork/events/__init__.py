"""Events: the event value, the bus port and its implementations, subscribers.

The Redis bus is imported by path: ``from loomwork.events.redis import RedisEventBus``.
"""

from loomwork.events._batch import EventBatch, EventChain, parts_of
from loomwork.events._codec import dump_event, load_event
from loomwork.events._event import Event, events_of, new_event_id
from loomwork.events._loading import load_subscribers
from loomwork.events._port import DeadLetter, EventBus
from loomwork.events._staging import (
    BusEventSink,
    EventSink,
    StagedEvents,
    current_event_sink,
    reset_event_sink,
    set_event_sink,
    use_event_sink,
)
from loomwork.events._subscriber import Handler, RetryPolicy, Subscriber
from loomwork.events.local import LocalEventBus

__all__ = [
    "BusEventSink",
    "DeadLetter",
    "Event",
    "EventBatch",
    "EventBus",
    "EventChain",
    "EventSink",
    "Handler",
    "LocalEventBus",
    "RetryPolicy",
    "StagedEvents",
    "Subscriber",
    "current_event_sink",
    "dump_event",
    "events_of",
    "load_event",
    "load_subscribers",
    "new_event_id",
    "parts_of",
    "reset_event_sink",
    "set_event_sink",
    "use_event_sink",
]
