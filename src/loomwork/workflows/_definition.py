"""The recorded graph of a workflow: stages of step uses, conditions, hooks, the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loomwork.errors import DefinitionError, NotFoundError
from loomwork.workflows._refs import Resolver, Scope
from loomwork.workflows._step import (
    Compensate,
    Invoke,
    StepDefinition,
    StepOptions,
    check_name,
    is_coroutine_function,
)

if TYPE_CHECKING:
    from loomwork.container import Container
    from loomwork.workflows._engine import WorkflowEngine
    from loomwork.workflows._result import WorkflowRun


@dataclass(frozen=True, slots=True)
class Condition:
    """A ``when`` condition guarding the steps composed inside its ``then``."""

    name: str
    input: Resolver
    predicate: Callable[[Any], Any]

    def holds(self, scope: Scope) -> bool:
        """Evaluate once per execution (cached in the scope)."""
        key = id(self)
        try:
            return bool(scope.cache[key])
        except KeyError:
            value = scope.cache[key] = bool(self.predicate(self.input(scope)))
            return value


class StepNode:
    """One use of a step inside one workflow."""

    __slots__ = (
        "compensate",
        "compensate_is_async",
        "conditions",
        "input",
        "invoke",
        "invoke_is_async",
        "key",
        "options",
        "step",
        "workflow",
    )

    def __init__(
        self,
        workflow: str,
        step: StepDefinition[Any, Any],
        input: Resolver,
        conditions: tuple[Condition, ...],
    ) -> None:
        self.workflow = workflow
        self.step = step
        self.key = step.name
        self.options: StepOptions = step.options
        self.input = input
        self.conditions = conditions
        self.invoke: Invoke = step.invoke
        self.invoke_is_async = is_coroutine_function(step.invoke)
        self.compensate: Compensate | None = step.compensate_fn
        self.compensate_is_async = self.compensate is not None and is_coroutine_function(
            self.compensate
        )

    def configure(self, name: str | None, options: dict[str, Any]) -> None:
        """Apply ``.config(name=..., **options)`` from the composer."""
        if name is not None:
            check_name("step", name)
            self.key = name
        if options:
            self.options = self.options.merged(self.key, options)

    def fingerprint(self) -> tuple[Any, ...]:
        """What makes two definitions of this node the same graph."""
        return (self.key, _qualname(self.invoke), _qualname(self.compensate), self.options)

    def __repr__(self) -> str:
        return f"<step use {self.key!r} in {self.workflow!r}>"


def _qualname(fn: Any) -> str | None:
    if fn is None:
        return None
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


@dataclass(frozen=True, slots=True)
class WorkflowOptions:
    """Options of ``create_workflow``: durability, retention, idempotency, overall timeout."""

    store: bool = False
    retention_time: float | None = None
    idempotent: bool = False
    timeout: float | None = None


class Hook:
    """An extension point declared by ``create_hook``; one handler may be registered."""

    __slots__ = ("compensate", "handler", "name", "workflow")

    def __init__(self, workflow: str, name: str) -> None:
        self.workflow = workflow
        self.name = name
        self.handler: Invoke | None = None
        self.compensate: Compensate | None = None

    def __call__(self, handler: Invoke, compensate: Compensate | None = None) -> Invoke:
        """Register the handler (and its compensation); a second registration is an error."""
        if self.handler is not None:
            raise DefinitionError(
                f"workflow {self.workflow!r} hook {self.name!r} already has a handler; "
                "a hook takes exactly one handler: combine the logic into one function"
            )
        self.handler = handler
        self.compensate = compensate
        return handler


class Hooks:
    """``workflow.hooks.<name>(handler)``: the hooks a workflow declares, by name."""

    def __init__(self, hooks: dict[str, Hook]) -> None:
        self._hooks = hooks

    def __getattr__(self, name: str) -> Hook:
        try:
            return self._hooks[name]
        except KeyError:
            known = ", ".join(sorted(self._hooks)) or "none"
            raise AttributeError(f"no hook {name!r}; this workflow declares: {known}") from None

    def __iter__(self) -> Any:
        return iter(self._hooks.values())


class WorkflowDefinition:
    """A composed workflow: call it with a container to run it, or use ``.run(...)``."""

    def __init__(
        self,
        name: str,
        stages: list[tuple[StepNode, ...]],
        result: Resolver,
        hooks: dict[str, Hook],
        options: WorkflowOptions,
    ) -> None:
        self.name = name
        self.stages = stages
        self.nodes = {node.key: node for stage in stages for node in stage}
        self.result = result
        self.hooks = Hooks(hooks)
        self.options = options
        self.durable = (
            options.store
            or options.idempotent
            or options.retention_time is not None
            or any(node.options.suspends for node in self.nodes.values())
        )

    def fingerprint(self) -> tuple[Any, ...]:
        """The graph's identity: nodes in order with their functions and options."""
        return (
            self.options,
            tuple(tuple(node.fingerprint() for node in stage) for stage in self.stages),
        )

    def __call__(self, container: Container | None = None) -> BoundWorkflow:
        return BoundWorkflow(self, container)

    async def run(
        self,
        input: Any = None,
        *,
        container: Container | None = None,
        transaction_id: str | None = None,
        context: dict[str, Any] | None = None,
        throw_on_error: bool = True,
    ) -> WorkflowRun:
        """Run once; see :meth:`WorkflowEngine.run` for the arguments and the result."""
        return await BoundWorkflow(self, container).run(
            input,
            transaction_id=transaction_id,
            context=context,
            throw_on_error=throw_on_error,
        )

    def run_as_step(self, input: Any = None) -> Any:
        """Use this workflow as one step of the workflow being composed."""
        from loomwork.workflows._nested import child_step

        return child_step(self)(input)

    def __repr__(self) -> str:
        return f"<workflow {self.name!r}>"


class BoundWorkflow:
    """A workflow bound to a container: ``await wf(container).run(input=...)``."""

    __slots__ = ("container", "definition")

    def __init__(self, definition: WorkflowDefinition, container: Container | None) -> None:
        self.definition = definition
        self.container = container

    async def run(
        self,
        input: Any = None,
        *,
        transaction_id: str | None = None,
        context: dict[str, Any] | None = None,
        throw_on_error: bool = True,
    ) -> WorkflowRun:
        """Run the workflow with the container's engine (see :meth:`WorkflowEngine.run`)."""
        from loomwork.workflows._engine import engine_for

        return await engine_for(self.container).run(
            self.definition,
            input,
            transaction_id=transaction_id,
            context=context,
            throw_on_error=throw_on_error,
        )

    @property
    def engine(self) -> WorkflowEngine:
        """The engine that runs workflows for this container."""
        from loomwork.workflows._engine import engine_for

        return engine_for(self.container)


_REGISTRY: dict[str, WorkflowDefinition] = {}


def register(definition: WorkflowDefinition) -> WorkflowDefinition:
    """Add a definition to the registry that recovery resolves workflow names with.

    Registering the same graph again (a reloaded module) replaces it; a different graph
    under a taken name is a definition error.
    """
    existing = _REGISTRY.get(definition.name)
    if existing is not None and existing.fingerprint() != definition.fingerprint():
        raise DefinitionError(
            f"workflow {definition.name!r} is already registered with a different graph; "
            "give the new workflow another name"
        )
    _REGISTRY[definition.name] = definition
    return definition


def get_workflow(name: str) -> WorkflowDefinition:
    """The registered workflow called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFoundError(
            "workflow", name, "import the module that defines it before running or recovering"
        ) from None


def registered_workflows() -> list[str]:
    """Names of every registered workflow, sorted."""
    return sorted(_REGISTRY)
