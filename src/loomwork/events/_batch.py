"""Events in bulk: a bulk write's events kept as lists until an event object is needed.

A write of four thousand rows emits four thousand events that differ only in id and
data. :class:`EventBatch` holds them as two lists under one name, metadata and
timestamp, and builds the :class:`Event` objects on first use, once. Those who only
store, count or skip them (a workflow's checkpoint, a subscriber refusing them by
metadata) never pay for the objects. :class:`EventChain` strings several sequences
together without copying, and :func:`parts_of` gives the parts back to the code that
handles batches whole; everyone else just sees a sequence of events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

from loomwork.events._event import Event, events_of


class _EventSequence(Sequence[Event]):
    """Events read from a list built on first need (:meth:`events`).

    Equal to any sequence holding equal events in the same order (a list, say).
    """

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]  # mutable caches: compared, never hashed

    def events(self) -> list[Event]:
        """The events as a list of objects (built on the first call, then kept)."""
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        return self.events()[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))


class EventBatch(_EventSequence):
    """Events named ``name`` with ``metadata`` and ``timestamp``, one per id and data.

    ``ids[i]`` and ``data[i]`` are event ``i``'s id and data. The events, each with its
    own copy of ``metadata``, are built on first access and kept, so every reader sees
    the same objects.
    """

    __slots__ = ("_built", "data", "ids", "metadata", "name", "timestamp")

    def __init__(
        self,
        name: str,
        ids: list[str],
        data: list[Any],
        metadata: Mapping[str, Any] | None,
        timestamp: float,
    ) -> None:
        if len(ids) != len(data):
            raise ValueError(
                f"an event batch needs one id per data item: {len(ids)} != {len(data)}"
            )
        self.name = name
        self.ids = ids
        self.data = data
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.timestamp = timestamp
        self._built: list[Event] | None = None

    def events(self) -> list[Event]:
        """The events as objects, each with its own copy of ``metadata``."""
        if self._built is None:
            self._built = events_of(
                self.name, zip(self.ids, self.data, strict=True), self.metadata, self.timestamp
            )
        return self._built

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())

    def __repr__(self) -> str:
        return f"EventBatch({self.name!r}, {len(self)} events)"


class EventChain(_EventSequence):
    """The events of several sequences, in order, without copying them."""

    __slots__ = ("_flat", "parts")

    def __init__(self, parts: Sequence[Sequence[Event]] = ()) -> None:
        self.parts: list[Sequence[Event]] = [p for part in parts for p in parts_of(part)]
        self._flat: list[Event] | None = None

    def events(self) -> list[Event]:
        """Every part's events in one list."""
        if self._flat is None:
            self._flat = [event for part in self.parts for event in part]
        return self._flat

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def __iter__(self) -> Iterator[Event]:
        for part in self.parts:
            yield from part

    def __repr__(self) -> str:
        return f"EventChain({len(self.parts)} parts, {len(self)} events)"


def parts_of(events: Sequence[Event]) -> list[Sequence[Event]]:
    """``events`` as the parts it is made of: a chain's parts, else ``events`` itself."""
    if isinstance(events, EventChain):
        return events.parts
    return [events] if events else []
