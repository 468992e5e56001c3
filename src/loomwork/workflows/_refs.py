"""References: placeholders for values that exist only when a workflow executes.

A composer runs once, at definition time, and sees references instead of data. Each
reference compiles to a resolver, a function of the run's :class:`Scope`, so execution
resolves inputs without walking the composition again and without copying payloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loomwork.workflows._definition import StepNode

Resolver = Callable[["Scope"], Any]


class Scope:
    """The values of one execution: workflow input, step outputs, cached transforms."""

    __slots__ = ("cache", "input", "outputs")

    def __init__(self, input: Any, outputs: dict[str, Any]) -> None:
        self.input = input
        self.outputs = outputs
        self.cache: dict[int, Any] = {}


class Ref:
    """A value known at execution time; ``ref["key"]`` and ``ref.attr`` derive new refs."""

    __slots__ = ("_resolve",)

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve

    def __getitem__(self, key: Any) -> Ref:
        parent = self._resolve
        return Ref(lambda scope: _item(parent(scope), key))

    def __getattr__(self, name: str) -> Ref:
        if name.startswith("__"):
            raise AttributeError(name)
        parent = self._resolve
        return Ref(lambda scope: _attr(parent(scope), name))

    def __iter__(self) -> Any:
        raise TypeError(
            "a workflow reference has no value while the workflow is being composed; "
            "use transform(...) to work with the data at execution time"
        )

    def __bool__(self) -> bool:
        raise TypeError(
            "a workflow reference cannot be tested while composing; use when(...).then(...)"
        )


class StepRef(Ref):
    """The output of one step use; ``.config(name=..., **options)`` re-configures the use."""

    __slots__ = ("_node",)

    def __init__(self, node: StepNode) -> None:
        super().__init__(lambda scope: scope.outputs.get(node.key))
        self._node = node

    def config(self, name: str | None = None, **options: Any) -> StepRef:
        """Rename this use of the step and/or override its options; returns the same ref."""
        self._node.configure(name, options)
        return self


def _item(value: Any, key: Any) -> Any:
    return None if value is None else value[key]


def _attr(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return value[name]
    return getattr(value, name)


def compile_value(value: Any) -> Resolver:
    """Compile a tree of literals and refs into one resolver.

    Literals are shared, not copied; dicts and lists holding refs are rebuilt per run.
    """
    if isinstance(value, Ref):
        return value._resolve
    if isinstance(value, dict):
        items = [(key, compile_value(item)) for key, item in value.items()]
        if all(_is_constant(resolve) for _, resolve in items):
            return _constant(value)
        return lambda scope: {key: resolve(scope) for key, resolve in items}
    if isinstance(value, list | tuple):
        parts = [compile_value(item) for item in value]
        if all(_is_constant(resolve) for resolve in parts):
            return _constant(value)
        kind = type(value)
        return lambda scope: kind(resolve(scope) for resolve in parts)
    return _constant(value)


def _constant(value: Any) -> Resolver:
    def resolve(_scope: Scope) -> Any:
        return value

    resolve.constant = True  # type: ignore[attr-defined]
    return resolve


def _is_constant(resolve: Resolver) -> bool:
    return getattr(resolve, "constant", False)


def transform(values: Any, fn: Callable[[Any], Any], *more: Callable[[Any], Any]) -> Ref:
    """Compute a value at execution time: ``fn(values)``, then each of ``more`` in turn.

    Not a step and never checkpointed: it runs again after a resume, so it must be pure.
    Within one execution its result is computed once and shared by every use.
    """
    resolve_values = compile_value(values)
    chain = (fn, *more)

    def resolve(scope: Scope) -> Any:
        key = id(chain)
        try:
            return scope.cache[key]
        except KeyError:
            result = resolve_values(scope)
            for function in chain:
                result = function(result)
            scope.cache[key] = result
            return result

    return Ref(resolve)
