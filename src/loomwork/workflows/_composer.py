"""Composition: ``create_workflow`` runs the composer once and records its graph.

The composer being run is held in a ``ContextVar``, so composing is safe across threads and
tasks, and a step called anywhere else fails with a clear definition error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, overload

from loomwork.errors import DefinitionError
from loomwork.workflows._definition import (
    Condition,
    Hook,
    StepNode,
    WorkflowDefinition,
    WorkflowOptions,
    register,
)
from loomwork.workflows._refs import Ref, StepRef, compile_value
from loomwork.workflows._step import (
    StepContext,
    StepDefinition,
    StepOptions,
    StepResponse,
    check_name,
)

T = TypeVar("T")
Composer = Callable[[Ref], Any]

_current: ContextVar[_Composition | None] = ContextVar("loomwork_composition", default=None)


class WorkflowResponse:
    """What a composer returns: the workflow's ``result`` and the ``hooks`` it exposes.

    ``result`` may mix refs and literals in dicts and lists; it is resolved when the run ends.
    """

    __slots__ = ("hooks", "result")

    def __init__(self, result: Any = None, hooks: list[Hook] | None = None) -> None:
        self.result = result
        self.hooks = list(hooks or [])


class _Composition:
    """The graph being recorded while one composer runs."""

    def __init__(self, workflow: str) -> None:
        self.workflow = workflow
        self.stages: list[list[StepNode]] = []
        self.conditions: list[Condition] = []
        self.hooks: dict[str, Hook] = {}
        self.when_count = 0

    def add_step(self, step: StepDefinition[Any, Any], input: Any) -> StepRef:
        node = StepNode(self.workflow, step, compile_value(input), tuple(self.conditions))
        self.stages.append([node])
        return StepRef(node)

    def parallelize(self, refs: tuple[Any, ...]) -> None:
        nodes = [_node_of(self.workflow, ref) for ref in refs]
        positions = sorted({self._stage_of(node) for node in nodes})
        if positions != list(range(len(self.stages) - len(positions), len(self.stages))):
            raise DefinitionError(
                f"workflow {self.workflow!r}: parallelize() takes the steps called in its "
                "own arguments, e.g. parallelize(step_a(x), step_b(y))"
            )
        merged = [node for position in positions for node in self.stages[position]]
        del self.stages[positions[0] :]
        self.stages.append(merged)

    def _stage_of(self, node: StepNode) -> int:
        for position, stage in enumerate(self.stages):
            if node in stage:
                return position
        raise DefinitionError(f"workflow {self.workflow!r}: {node!r} is not in this workflow")

    def finish(self, response: Any, options: WorkflowOptions) -> WorkflowDefinition:
        seen: set[str] = set()
        for stage in self.stages:
            for node in stage:
                if node.key in seen:
                    raise DefinitionError(
                        f"workflow {self.workflow!r} uses step {node.key!r} twice; give the "
                        f"second use its own name: {node.step.name.replace('-', '_')}(...)"
                        f'.config(name="{node.key}-2")'
                    )
                seen.add(node.key)
        result = response.result if isinstance(response, WorkflowResponse) else response
        stages = [tuple(stage) for stage in self.stages]
        return WorkflowDefinition(self.workflow, stages, compile_value(result), self.hooks, options)


def _node_of(workflow: str, ref: Any) -> StepNode:
    if not isinstance(ref, StepRef):
        raise DefinitionError(
            f"workflow {workflow!r}: parallelize() takes step outputs, got {ref!r}"
        )
    return ref._node


def current_composer(what: str) -> _Composition:
    """The composition in progress; ``what`` names the caller for the error message."""
    composition = _current.get()
    if composition is None:
        raise DefinitionError(
            f"{what} was called outside a workflow composer; call it inside the function "
            "given to create_workflow (steps record themselves there and run later)"
        )
    return composition


@contextmanager
def _composing(name: str) -> Iterator[_Composition]:
    composition = _Composition(name)
    token = _current.set(composition)
    try:
        yield composition
    finally:
        _current.reset(token)


@overload
def create_workflow(
    name: str, composer: None = None, **options: Any
) -> Callable[[Composer], WorkflowDefinition]: ...
@overload
def create_workflow(name: str, composer: Composer, **options: Any) -> WorkflowDefinition: ...


def create_workflow(name: str, composer: Composer | None = None, **options: Any) -> Any:
    """Compose and register a workflow.

    ``create_workflow("name", composer, store=True)`` or, as a decorator,
    ``@create_workflow("name", idempotent=True)``. The composer runs once, now, and
    receives a reference to the run's input. Options: ``store``, ``retention_time``
    (seconds), ``idempotent``, ``timeout`` (seconds).
    """
    check_name("workflow", name)
    try:
        workflow_options = WorkflowOptions(**options)
    except TypeError:
        raise DefinitionError(
            f"workflow {name!r}: unknown option(s) {sorted(options)}; known: store, "
            "retention_time, idempotent, timeout"
        ) from None

    def build(fn: Composer) -> WorkflowDefinition:
        if inspect.iscoroutinefunction(fn):
            raise DefinitionError(
                f"workflow {name!r}: the composer must be a plain def (it records steps "
                "once; the steps themselves may be async)"
            )
        with _composing(name) as composition:
            response = fn(Ref(lambda scope: scope.input))
            definition = composition.finish(response, workflow_options)
        return register(definition)

    return build if composer is None else build(composer)


class _When:
    def __init__(self, name: str | None, input: Any, predicate: Callable[[Any], Any]) -> None:
        self.name = name
        self.input = input
        self.predicate = predicate

    def then(self, fn: Callable[[], T]) -> T:
        """Compose ``fn``'s steps so that they are skipped unless the condition holds."""
        composition = current_composer("when(...).then")
        composition.when_count += 1
        name = self.name or f"when-{composition.when_count}"
        condition = Condition(name, compile_value(self.input), self.predicate)
        composition.conditions.append(condition)
        try:
            return fn()
        finally:
            composition.conditions.pop()


@overload
def when(input: Any, predicate: Callable[[Any], Any], /) -> _When: ...
@overload
def when(name: str, input: Any, predicate: Callable[[Any], Any], /) -> _When: ...


def when(*args: Any) -> _When:
    """Guard steps with a condition: ``when(input, predicate).then(fn)``.

    Steps composed in ``fn`` run only if ``predicate(input)`` is true at execution time;
    otherwise they are ``skipped`` with output ``None``. ``when(name, input, predicate)``
    names the condition (default ``when-<n>`` in order, so names are stable everywhere).
    """
    if len(args) == 2:
        return _When(None, args[0], args[1])
    if len(args) == 3:
        return _When(args[0], args[1], args[2])
    raise DefinitionError("when() takes (input, predicate) or (name, input, predicate)")


def parallelize(*refs: StepRef) -> tuple[StepRef, ...]:
    """Run the given step uses concurrently; the next step waits for all of them."""
    current_composer("parallelize").parallelize(refs)
    return refs


def create_hook(name: str, input: Any = None) -> Hook:
    """Declare an extension point; ``workflow.hooks.<name>(handler)`` fills it later.

    Runs as a step named ``name`` (skipped while no handler is registered).
    """
    composition = current_composer(f"create_hook({name!r})")
    if name in composition.hooks:
        raise DefinitionError(f"workflow {composition.workflow!r} declares hook {name!r} twice")
    hook = Hook(composition.workflow, name)
    composition.hooks[name] = hook
    composition.add_step(_hook_step(hook), input)
    return hook


def _hook_step(hook: Hook) -> StepDefinition[Any, Any]:
    async def invoke(input: Any, ctx: StepContext) -> Any:
        if hook.handler is None:
            return StepResponse.skip()
        result = hook.handler(input, ctx)
        return await result if inspect.isawaitable(result) else result

    async def compensate(data: Any, ctx: StepContext) -> None:
        if hook.compensate is not None:
            result = hook.compensate(data, ctx)
            if inspect.isawaitable(result):
                await result

    return StepDefinition(hook.name, invoke, compensate, StepOptions())
