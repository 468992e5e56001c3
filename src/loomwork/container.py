"""The dependency container that steps, jobs and subscribers resolve services from."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar, overload

from loomwork.errors import NotFoundError

T = TypeVar("T")

_UNSET: Any = object()


class Container:
    """Maps keys (``"brand"``, ``"logger"``, ``"workflow_engine"``, ...) to services.

    A registration is either a value or a factory called once, on first resolve, with the
    container itself. Resolving an unknown key raises :class:`NotFoundError` naming the key
    and listing what is registered.
    """

    __slots__ = ("_factories", "_values")

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = dict(values or {})
        self._factories: dict[str, Callable[[Container], Any]] = {}

    def register(self, key: str, value: Any) -> None:
        """Register ``value`` under ``key``, replacing any earlier registration."""
        self._factories.pop(key, None)
        self._values[key] = value

    def register_factory(self, key: str, factory: Callable[[Container], Any]) -> None:
        """Register a factory that builds the service on first :meth:`resolve`."""
        self._values.pop(key, None)
        self._factories[key] = factory

    @overload
    def resolve(self, key: str) -> Any: ...
    @overload
    def resolve(self, key: str, default: T) -> Any | T: ...

    def resolve(self, key: str, default: Any = _UNSET) -> Any:
        """Return the service registered under ``key``."""
        try:
            return self._values[key]
        except KeyError:
            pass
        factory = self._factories.pop(key, None)
        if factory is not None:
            value = self._values[key] = factory(self)
            return value
        if default is not _UNSET:
            return default
        known = ", ".join(sorted(self.keys())) or "nothing"
        raise NotFoundError("container registration", key, f"registered: {known}")

    def __contains__(self, key: object) -> bool:
        return key in self._values or key in self._factories

    def keys(self) -> Iterator[str]:
        """Every registered key, built or not."""
        yield from self._values
        yield from self._factories
