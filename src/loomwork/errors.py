"""The loomwork exception tree.

Every error the framework raises derives from :class:`LoomworkError`::

    LoomworkError
    ├── DefinitionError            a workflow, step, hook or module is declared wrongly
    ├── ConfigurationError         a setting is missing or invalid (names the key)
    ├── NotFoundError              a record, run, step or registration does not exist
    ├── ConflictError              the operation clashes with current state
    │   └── WorkflowAlreadyRunningError
    ├── ValidationError            input data is invalid (names the record and field)
    ├── CheckpointError            a step output cannot be stored as JSON
    ├── StepTimeoutError           a step or workflow exceeded its timeout
    ├── PermanentStepFailure       a step gave up on purpose; never retried
    └── RunCancelledError          a run was cancelled through the engine

``retryable`` says whether trying the same operation again can help.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LoomworkError(Exception):
    """Root of every error raised by loomwork."""

    retryable: ClassVar[bool] = False


class DefinitionError(LoomworkError):
    """A workflow, step, hook or module is declared wrongly; fix the code."""


class ConfigurationError(LoomworkError):
    """A configuration value is missing or invalid."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"configuration {key!r}: {message}")
        self.key = key


class NotFoundError(LoomworkError):
    """Something looked up by name or id does not exist."""

    def __init__(self, kind: str, key: str, hint: str = "") -> None:
        text = f"{kind} {key!r} not found"
        super().__init__(f"{text}; {hint}" if hint else text)
        self.kind = kind
        self.key = key


class ConflictError(LoomworkError):
    """The operation clashes with the current state of a record or run."""


class WorkflowAlreadyRunningError(ConflictError):
    """A run with this transaction id is still going; a second start is refused."""

    retryable = True

    def __init__(self, workflow: str, transaction_id: str) -> None:
        super().__init__(
            f"workflow {workflow!r} run {transaction_id!r} is still running; "
            "wait for it to finish or use another transaction_id"
        )
        self.workflow = workflow
        self.transaction_id = transaction_id


class ValidationError(LoomworkError):
    """Input data is invalid; the message names the record and the field."""

    def __init__(self, message: str, *, record: str | None = None, field: str | None = None):
        super().__init__(message)
        self.record = record
        self.field = field


class CheckpointError(LoomworkError):
    """A value cannot be serialised to JSON for a durable checkpoint."""

    def __init__(self, workflow: str, step: str, what: str, type_name: str) -> None:
        super().__init__(
            f"workflow {workflow!r} step {step!r}: {what} of type {type_name!r} is not "
            "JSON-serialisable, so it cannot be checkpointed; return plain dicts, lists, "
            "strings, numbers, booleans or None"
        )
        self.workflow = workflow
        self.step = step
        self.type_name = type_name


class StepTimeoutError(LoomworkError):
    """A step or a whole workflow ran longer than its ``timeout``."""

    retryable = True

    def __init__(self, what: str, timeout: float) -> None:
        super().__init__(f"{what} timed out after {timeout:g}s")
        self.timeout = timeout


class PermanentStepFailure(LoomworkError):
    """A step failed on purpose (``StepResponse.permanent_failure``); never retried."""

    def __init__(self, message: str, compensate_input: Any = None) -> None:
        super().__init__(message)
        self.compensate_input = compensate_input


class RunCancelledError(LoomworkError):
    """The run was cancelled through the engine and compensated."""
