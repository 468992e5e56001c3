"""Steps: the unit of work a workflow runs, with its optional compensation."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NoReturn, TypeVar

from loomwork.errors import DefinitionError, PermanentStepFailure
from loomwork.events import Event, EventSink

if TYPE_CHECKING:
    from loomwork.container import Container
    from loomwork.workflows._engine import WorkflowEngine
    from loomwork.workflows._refs import StepRef

InT = TypeVar("InT")
OutT = TypeVar("OutT")

Invoke = Callable[[Any, "StepContext"], Any]
Compensate = Callable[[Any, "StepContext"], Awaitable[None] | None]


class StepResponse(Generic[OutT]):
    """What a step returns: its ``output`` and what its compensation will receive.

    ``compensate_input`` defaults to ``output``. Returning a plain value from a step is the
    same as ``StepResponse(value)``.
    """

    __slots__ = ("compensate_input", "output")
    SKIPPED: ClassVar[StepResponse[Any]]

    def __init__(self, output: OutT = None, compensate_input: Any = ...) -> None:  # type: ignore[assignment]
        self.output = output
        self.compensate_input = output if compensate_input is ... else compensate_input

    @staticmethod
    def permanent_failure(message: str, compensate_input: Any = None) -> NoReturn:
        """Fail the step now, without retries; its own compensation gets ``compensate_input``.

        Raises, so ``return StepResponse.permanent_failure(...)`` and a bare call both work.
        """
        raise PermanentStepFailure(message, compensate_input)

    @staticmethod
    def skip() -> StepResponse[Any]:
        """Mark the step ``skipped``: it has no output and is never compensated."""
        return StepResponse.SKIPPED


StepResponse.SKIPPED = StepResponse(None, None)


@dataclass(frozen=True, slots=True)
class StepOptions:
    """How one use of a step runs. See the workflow contract in the docs for each one.

    ``skip_on_permanent_failure`` may name the step at which the run resumes.
    """

    max_retries: int = 0
    retry_interval: float = 0.0
    timeout: float | None = None
    is_async: bool = False
    background_execution: bool = False
    compensate_async: bool = False
    continue_on_permanent_failure: bool = False
    skip_on_permanent_failure: bool | str = False
    no_wait: bool = False
    save_response: bool = True

    def merged(self, step_name: str, overrides: dict[str, Any]) -> StepOptions:
        """A copy with ``overrides`` applied; unknown names are a definition error."""
        unknown = set(overrides) - _OPTION_NAMES
        if unknown:
            raise DefinitionError(
                f"step {step_name!r}: unknown option(s) {sorted(unknown)}; "
                f"known options are {sorted(_OPTION_NAMES)}"
            )
        merged = replace(self, **overrides)
        if merged.max_retries < 0 or merged.retry_interval < 0:
            raise DefinitionError(f"step {step_name!r}: retries and intervals must be >= 0")
        return merged

    @property
    def suspends(self) -> bool:
        """True when a run using this step may pause and so must be stored."""
        return (
            self.is_async
            or self.background_execution
            or self.compensate_async
            or (self.retry_interval > 0 and self.max_retries > 0)
        )


_OPTION_NAMES = frozenset(f.name for f in fields(StepOptions))


class StepContext:
    """What a step (and its compensation) receives besides its input."""

    __slots__ = (
        "attempt",
        "container",
        "context",
        "engine",
        "events",
        "step",
        "transaction_id",
        "workflow",
    )

    def __init__(  # noqa: PLR0917 - built on every step; positional is measurably faster
        self,
        container: Container,
        engine: WorkflowEngine,
        workflow: str,
        transaction_id: str,
        step: str,
        attempt: int,
        context: dict[str, Any],
        events: EventSink,
    ) -> None:
        self.container = container
        self.engine = engine
        self.workflow = workflow
        self.transaction_id = transaction_id
        self.step = step
        self.attempt = attempt
        self.context = context
        self.events = events

    def emit_event(self, name: str, data: Any, metadata: dict[str, Any] | None = None) -> None:
        """Emit an event; it is published only if the whole run succeeds."""
        self.events.emit([Event(name, data, metadata or {})])

    def idempotency_key(self, action: str = "invoke") -> str:
        """The key that ``set_step_success``/``set_step_failure`` take for this step."""
        return f"{self.workflow}:{self.transaction_id}:{self.step}:{action}"


class StepDefinition(Generic[InT, OutT]):
    """A step created by :func:`create_step`; call it inside a workflow composer."""

    __slots__ = ("compensate_fn", "invoke", "name", "options")

    def __init__(
        self, name: str, invoke: Invoke, compensate: Compensate | None, options: StepOptions
    ) -> None:
        check_name("step", name)
        self.name = name
        self.invoke = invoke
        self.compensate_fn = compensate
        self.options = options

    def compensate(self, fn: Compensate) -> Compensate:
        """Decorator form: ``@my_step.compensate`` sets the compensation function."""
        if self.compensate_fn is not None:
            raise DefinitionError(f"step {self.name!r} already has a compensation function")
        self.compensate_fn = fn
        return fn

    def __call__(self, input: Any = None) -> StepRef:
        """Record a use of this step in the workflow being composed; returns its output ref."""
        from loomwork.workflows._composer import current_composer

        composer = current_composer(f"step {self.name!r}")
        return composer.add_step(self, input)

    def __repr__(self) -> str:
        return f"<step {self.name!r}>"


def create_step(
    name: str,
    invoke: Invoke | None = None,
    compensate: Compensate | None = None,
    **options: Any,
) -> Any:
    """Create a step from an invoke function (``def`` or ``async def``).

    ``create_step("name", invoke, compensate, max_retries=2)`` returns the step; with no
    ``invoke`` it is a decorator: ``@create_step("name")`` over the invoke function, then
    ``@that_step.compensate`` over the compensation function.
    """
    step_options = StepOptions().merged(name, options)
    if invoke is None:

        def decorate(fn: Invoke) -> StepDefinition[Any, Any]:
            return StepDefinition(name, _checked(name, fn), compensate, step_options)

        return decorate
    return StepDefinition(name, _checked(name, invoke), compensate, step_options)


def _checked(name: str, fn: Invoke) -> Invoke:
    if not callable(fn):
        raise DefinitionError(f"step {name!r}: invoke must be a function, got {fn!r}")
    return fn


def is_coroutine_function(fn: Callable[..., Any]) -> bool:
    """True for ``async def`` functions (and callables whose ``__call__`` is one)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - looking for an async __call__
    )


def check_name(kind: str, name: str) -> None:
    """Names are non-empty and free of ``:``, which separates idempotency-key parts."""
    if not isinstance(name, str) or not name or ":" in name:
        raise DefinitionError(f"{kind} name {name!r} must be a non-empty string without ':'")
